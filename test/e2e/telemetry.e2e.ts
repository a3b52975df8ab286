import { beforeAll, expect, inject, it } from "vitest";

const base = () => inject("baseUrl");
const headers = () => ({ "X-Auth-Token": inject("adminToken"), "Content-Type": "application/json" });

/**
 * ceilometerclient's `options.build_url`: every condition contributes to each of the
 * four names (unset ones as ""), the names sorted, urlencoded with doseq (quote_plus:
 * spaces as `+`, `+` and `:` escaped), extra params appended after.
 */
function buildUrl(
  path: string,
  q: Array<{ field: string; op?: string; value: string; type?: string }>,
  params: string[] = [],
) {
  const query = new URLSearchParams();
  for (const name of ["field", "op", "type", "value"] as const)
    for (const c of q) query.append(`q.${name}`, c[name] ?? "");
  return `${path}?${query.toString()}${params.map((p) => `&${p}`).join("")}`;
}

const project = `e2e-${Date.now()}`;
const T0 = Date.parse("2015-11-14T02:00:00Z");
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString().replace(".000Z", "+00:00");

beforeAll(async () => {
  // An agent posts 30 CPU samples, one a minute, over three VMs.
  const samples = Array.from({ length: 30 }, (_, i) => ({
    meter: "cpu_util",
    type: "gauge",
    unit: "%",
    volume: i,
    resource_id: `vm-${i % 3}`,
    resource_name: `web server ${i % 3}`,
    project_id: project,
    user_id: "ops",
    source: "openstack",
    namespace: "nova",
    timestamp: at(i),
    metadata: { flavor: "m1.small" },
  }));
  const res = await fetch(`${base()}/v2/samples`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(samples),
  });
  expect(res.status).toBe(201);
  expect(await res.json()).toHaveLength(30);
});

it("answers the seed's sample query as Ceilometer's client builds it", async () => {
  // `ceilometer sample-list -m cpu_util -q "project_id=...;timestamp>=02:10+01:00 (01:10Z);timestamp<=..." -l 5`
  const url = buildUrl(
    "/v2/samples",
    [
      { field: "meter", op: "eq", value: "cpu_util" },
      { field: "project_id", op: "eq", value: project },
      { field: "timestamp", op: "ge", value: "2015-11-14T03:10:00+01:00", type: "datetime" },
      { field: "timestamp", op: "le", value: at(24) },
      { field: "resource_name", op: "eq", value: "web server 1" },
    ],
    ["limit=2"],
  );
  expect(url).toContain("q.value=2015-11-14T03%3A10%3A00%2B01%3A00");
  expect(url).toContain("q.value=web+server+1");
  const res = await fetch(`${base()}${url}`, { headers: headers() });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Array<Record<string, unknown>>;
  // vm-1 samples between minutes 10 and 24: 10, 13, 16, 19, 22 → newest first, 2 a page.
  expect(body.map((s) => s.volume)).toEqual([22, 19]);
  expect(body[0]).toMatchObject({
    meter: "cpu_util",
    resource_id: "vm-1",
    resource_name: "web server 1",
    project_id: project,
    timestamp: at(22),
    type: "gauge",
    unit: "%",
    namespace: "nova",
    metadata: { flavor: "m1.small" },
    display_name: "",
  });
  expect(res.headers.get("Total")).toBe("5");
  expect(res.headers.get("Per-Page")).toBe("2");
  expect(res.headers.get("Server-Timing")).toMatch(/rows_read=\d+/);

  // The next links are absolute, keep every q argument and carry a cursor.
  const seen = body.map((s) => s.volume);
  let link = /<([^>]+)>; rel="next"/.exec(res.headers.get("Link") ?? "")?.[1];
  while (link) {
    expect(link.startsWith(base())).toBe(true);
    expect(new URL(link).searchParams.getAll("q.field")).toEqual([
      "meter",
      "project_id",
      "timestamp",
      "timestamp",
      "resource_name",
    ]);
    expect(new URL(link).searchParams.get("cursor")).toBeTruthy();
    const page = await fetch(link, { headers: headers() });
    seen.push(...((await page.json()) as Array<{ volume: number }>).map((s) => s.volume));
    link = /<([^>]+)>; rel="next"/.exec(page.headers.get("Link") ?? "")?.[1];
  }
  expect(seen).toEqual([22, 19, 16, 13, 10]);
});

it("answers a bad query in Ceilometer's error body", async () => {
  const res = await fetch(`${base()}${buildUrl("/v2/samples", [{ field: "timestamp", op: "eq", value: at(0) }])}`, {
    headers: headers(),
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({
    error: { code: 400, message: "Unimplemented operator 'eq' for specified field.", title: "Bad Request" },
  });
  const anonymous = await fetch(`${base()}/v2/samples`);
  expect(anonymous.status).toBe(401);
  expect(await anonymous.json()).toEqual({
    error: { code: 401, message: "The request you have made requires authentication.", title: "Unauthorized" },
  });
});

it("answers statistics as `ceilometer statistics -m cpu_util -p 600 -g resource_id` asks", async () => {
  const url = buildUrl(
    "/v2/meters/cpu_util/statistics",
    [{ field: "project_id", op: "eq", value: project }],
    ["period=600", "groupby=resource_id"],
  );
  const res = await fetch(`${base()}${url}`, { headers: headers() });
  expect(res.status).toBe(200);
  const stats = (await res.json()) as Array<Record<string, any>>;
  // Three 10-minute buckets × three VMs.
  expect(stats).toHaveLength(9);
  const first = stats.find((s) => s.groupby.resource_id === "vm-0" && s.period_start === at(0));
  expect(first).toMatchObject({
    count: 4,
    min: 0,
    max: 9,
    sum: 18,
    avg: 4.5,
    period: 600,
    period_end: at(10),
    unit: "%",
  });
});
