import { spawnSync } from "node:child_process";
import { expect, inject, it } from "vitest";
import { d1Bindings } from "../../scripts/migrate.mjs";

// The storage tiers against a real `wrangler dev --test-scheduled` (server.ts): samples
// older than the hot window, moved to R2 by the Cron Trigger, answer as they did from D1.

const base = () => inject("baseUrl");
const headers = () => ({ "X-Auth-Token": inject("adminToken"), "Content-Type": "application/json" });
const project = `tiers-${Date.now()}`;
const meter = "e2e.tiers";
const H = 3_600_000;
// Whole hours, 20 days back: past the default 7-day hot window.
const T0 = Math.floor((Date.now() - 20 * 24 * H) / H) * H;
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");

function q(...conds: Array<[string, string, string]>) {
  const p = new URLSearchParams();
  for (const name of ["field", "op", "value"] as const)
    for (const c of conds) p.append(`q.${name}`, c[{ field: 0, op: 1, value: 2 }[name]]);
  return p.toString();
}

/** Samples of this project still in D1 (whichever shard holds it), read from the dev server's local state. */
function hotRows(): number {
  return d1Bindings().reduce((n, binding) => n + hotRowsIn(binding), 0);
}

function hotRowsIn(binding: string): number {
  const r = spawnSync(
    "npx",
    [
      "wrangler",
      "d1",
      "execute",
      binding,
      "--local",
      "--persist-to",
      inject("stateDir"),
      "--json",
      "--command",
      `select coalesce(sum(c.n), 0) as n from telemetry_chunks c join telemetry_series s on s.id = c.series_id where s.project_id = '${project}'`,
    ],
    { encoding: "utf8", env: { ...process.env, CI: "true" } },
  );
  if (r.status !== 0) throw new Error(`d1 execute failed: ${r.stderr}`);
  return JSON.parse(r.stdout)[0].results[0].n;
}

async function get(path: string) {
  const res = await fetch(`${base()}${path}`, { headers: headers() });
  expect(res.status, path).toBe(200);
  return { res, body: (await res.json()) as any[] };
}

/** Every sample, following `next` links (the cursor), and the first page's Total. */
async function everySample(query: string) {
  const rows: unknown[] = [];
  let url: string | undefined = `/v2/samples?${query}&limit=70`;
  let total: string | null = null;
  while (url) {
    const { res, body } = await get(url);
    total ??= res.headers.get("Total");
    rows.push(...body);
    url = /<([^>]+)>; rel="next"/.exec(res.headers.get("Link") ?? "")?.[1]?.replace(base(), "");
  }
  return { rows, total };
}

const range = q(["project_id", "eq", project], ["timestamp", "ge", iso(T0)], ["timestamp", "lt", iso(T0 + 72 * H)]);
const snapshot = async () => ({
  all: await everySample(q(["project_id", "eq", project])),
  vm1: await everySample(
    q(["project_id", "eq", project], ["resource_id", "eq", "vm-1"], ["timestamp", "ge", iso(T0 + 10 * H)]),
  ),
  flavor: await everySample(q(["project_id", "eq", project], ["metadata.flavor.name", "eq", "m1.large"])),
  hourly: (await get(`/v2/meters/${meter}/statistics?period=3600&groupby=resource_id&aggregate.func=stddev&${range}`))
    .body,
  whole: (await get(`/v2/meters/${meter}/statistics?${q(["project_id", "eq", project])}`)).body,
  unaligned: (
    await get(
      `/v2/meters/${meter}/statistics?period=5400&${q(["project_id", "eq", project], ["timestamp", "gt", iso(T0 + 1234)])}`,
    )
  ).body,
});

it("answers old samples the same after the Cron Trigger moved them to R2", async () => {
  // Three days of samples, 20 days old, plus a few from the last hour (they stay hot).
  const old = Array.from({ length: 900 }, (_, i) => ({
    meter,
    type: "gauge",
    unit: "ms",
    volume: ((i * 37) % 256) / 4,
    resource_id: `vm-${i % 3}`,
    project_id: project,
    timestamp: iso(T0 + Math.floor((i * 72 * H) / 900) + (i % 7) * 1000),
    metadata: { flavor: { name: i % 4 ? "m1.small" : "m1.large" } },
  }));
  const recent = Array.from({ length: 5 }, (_, i) => ({ ...old[i], timestamp: iso(Date.now() - (i + 1) * 60_000) }));
  const posted = await fetch(`${base()}/v2/samples`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify([...old, ...recent]),
  });
  expect(posted.status).toBe(201);
  const before = await snapshot();
  expect(before.all.rows).toHaveLength(905);
  expect(before.flavor.rows).toHaveLength(225 + 2);
  expect(before.hourly.reduce((n, s) => n + s.count, 0)).toBe(900);
  expect(hotRows()).toBe(905);

  // The Cron Trigger, as Cloudflare fires it, until nothing old is left in D1.
  for (let run = 0; run < 10 && hotRows() > 5; run++) {
    const res = await fetch(`${base()}/__scheduled?cron=${encodeURIComponent("*/10 * * * *")}`);
    expect(res.status).toBe(200);
  }
  expect(hotRows()).toBe(5);
  expect(await snapshot()).toEqual(before);
});
