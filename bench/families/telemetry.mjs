// Telemetry samples (/v2/samples, docs/api/telemetry.md): samples of 5 meters on 50 resources
// in 2 projects, 10 s apart, posted 1000 at a time.
import { inBatches } from "../lib/seed.mjs";

const METERS = [
  ["cpu_util", "gauge", "%"],
  ["memory.usage", "gauge", "MB"],
  ["network.outgoing.bytes", "cumulative", "B"],
  ["disk.read.bytes", "cumulative", "B"],
  ["vcpus", "gauge", "vcpu"],
];
const T0 = Date.UTC(2026, 0, 1);

function envSizes() {
  const raw = process.env.TELEMETRY_BENCH_SIZES;
  if (!raw) return null;
  const list = raw
    .split(",")
    .map(Number)
    .filter((n) => n > 0);
  return { quick: list, full: list };
}
const iso = (ms) => new Date(ms).toISOString().replace("Z", "+00:00");

function sample(n, t = T0 + n * 10_000) {
  const [meter, type, unit] = METERS[n % METERS.length];
  const r = Math.floor(n / METERS.length) % 50; // every resource has every meter
  return {
    meter,
    type,
    unit,
    volume: (n % 1000) / 10,
    resource_id: `vm-${r}`,
    resource_name: `instance-${r}`,
    display_name: `instance-${r}`,
    project_id: `p${n % 2}`,
    user_id: `u${r % 7}`,
    namespace: "nova",
    source: "openstack",
    timestamp: iso(t),
    metadata: { flavor: "m1.small", host: `compute-${r % 4}` },
  };
}

/** `<url>; rel="next", ...` → { next: url, ... } */
function links(headers) {
  const out = {};
  for (const m of (headers.get("link") ?? "").matchAll(/<([^>]+)>;\s*rel="(\w+)"/g)) out[m[2]] = m[1];
  return out;
}

const q = (field, value, op = "eq") => `q.field=${field}&q.op=${op}&q.value=${encodeURIComponent(value)}`;
let posted = 0;
/** Samples seeded so far: deep page numbers come from it (Total stops counting at 1000). */
let seeded = 0;

/**
 * A deep page that is full: the one before the last of `matches` rows, or the deepest a
 * page number may reach, by its number
 * (`page=N`) and by the `rel="next"` link (with its cursor) of the page before it.
 */
async function deepPages(api, query, matches) {
  // A page number skips at most 10,000 rows (docs/api/telemetry.md): page 101 of 100 is the deepest.
  const deep = Math.min(101, Math.max(1, Math.floor(matches / 100) - 1));
  const at = (page) => `${api.baseUrl}/v2/samples?${query}&page=${page}`;
  if (deep < 2) return { byNumber: { path: at(deep) }, byLink: { path: at(deep) } };
  const before = await api.must({ path: at(deep - 1) });
  const next = links(before.headers).next;
  if (!next) throw new Error(`page ${deep - 1} has no rel="next" link`);
  return { byNumber: { path: at(deep) }, byLink: { path: next } };
}

export default {
  name: "telemetry",
  title: "Telemetry samples (`/v2/samples`)",
  unit: "samples",
  // TELEMETRY_BENCH_SIZES=1000,100000 overrides both lists (e.g. --quick runs at 100k).
  sizes: envSizes() ?? { quick: [1000, 5000], full: [1000, 10_000, 100_000, 1_000_000] },

  async seed(ctx, from, to) {
    seeded = to;
    await inBatches(from, to, 1000, 2, (start, end) =>
      ctx.api.must({
        method: "POST",
        path: "/v2/samples",
        body: Array.from({ length: end - start }, (_, k) => sample(start + k)),
      }),
    );
  },

  probes(ctx) {
    const { api } = ctx;
    const byMeter = q("meter", "cpu_util");
    const window = `${q("timestamp", iso(T0 + 3_600_000), "ge")}&${q("timestamp", iso(T0 + 7_200_000), "le")}`;
    const deep = (query, matches) => {
      let found;
      const find = async () => (found ??= await deepPages(api, query, matches()));
      return { number: async () => (await find()).byNumber, link: async () => (await find()).byLink };
    };
    const all = deep("per_page=100", () => seeded);
    const meter = deep(`${byMeter}&per_page=100`, () => seeded / METERS.length);
    return [
      {
        group: "count",
        label: "GET /v2/samples page 1 (Total counted up to 1000)",
        req: { path: "/v2/samples?per_page=100" },
        flat: true,
      },
      {
        group: "count",
        label: "GET /v2/samples?q project_id=p0 page 1 (Total)",
        req: { path: `/v2/samples?${q("project_id", "p0")}&per_page=100` },
        flat: true,
      },
      {
        group: "first page",
        label: "GET /v2/samples?q meter=cpu_util page 1 (Total)",
        req: { path: `/v2/samples?${byMeter}&per_page=100` },
        flat: true,
      },
      {
        group: "first page",
        label: "GET /v2/samples?q meter & resource_id page 1 (Total)",
        req: { path: `/v2/samples?${byMeter}&${q("resource_id", "vm-5")}` },
        flat: true,
      },
      {
        group: "metadata",
        label: "GET /v2/samples?q metadata.host=compute-1 (a quarter of all samples)",
        req: { path: `/v2/samples?${q("metadata.host", "compute-1")}` },
        flat: true,
      },
      {
        group: "metadata",
        label: "GET /v2/samples?q metadata.host & meter (a twentieth)",
        req: { path: `/v2/samples?${q("metadata.host", "compute-1")}&${q("meter", "cpu_util")}` },
        flat: true,
      },
      {
        group: "metadata",
        label: "GET /v2/samples?q metadata.host & resource_id",
        req: { path: `/v2/samples?${q("metadata.host", "compute-1")}&${q("resource_id", "vm-5")}` },
      },
      {
        group: "metadata",
        label: "GET /v2/meters/cpu_util/statistics?q metadata.flavor (1 h window)",
        req: { path: `/v2/meters/cpu_util/statistics?${q("metadata.flavor", "m1.small")}&${window}` },
        flat: true,
      },
      { group: "deep page, by number", label: "GET /v2/samples page <last-1> (page=N)", resolve: all.number },
      {
        group: "deep page, by link",
        label: "GET /v2/samples page <last-1> (rel=next cursor of page <last-2>)",
        resolve: all.link,
        flat: true,
      },
      { group: "deep page, by number", label: "GET /v2/samples?q meter page <last-1> (page=N)", resolve: meter.number },
      {
        group: "deep page, by link",
        label: "GET /v2/samples?q meter page <last-1> (rel=next cursor)",
        resolve: meter.link,
        flat: true,
      },
      {
        group: "filter",
        label: "GET /v2/samples?q resource_id=vm-7",
        req: { path: `/v2/samples?${q("resource_id", "vm-7")}` },
      },
      { group: "filter", label: "GET /v2/samples?q timestamp ge/le (1 h)", req: { path: `/v2/samples?${window}` } },
      { group: "filter", label: "GET /v2/meters", req: { path: "/v2/meters" } },
      { group: "filter", label: "GET /v2/meters?unique=True", req: { path: "/v2/meters?unique=True" } },
      {
        group: "filter",
        label: "GET /v2/meters/cpu_util/statistics?period=3600",
        req: { path: "/v2/meters/cpu_util/statistics?period=3600" },
      },
      {
        group: "filter",
        label: "GET /v2/meters/cpu_util/statistics (1 h window, groupby resource)",
        req: { path: `/v2/meters/cpu_util/statistics?groupby=resource_id&${window}` },
      },
      {
        group: "write",
        label: "POST /v2/samples (one)",
        req: () => ({ method: "POST", path: "/v2/samples", body: [sample(posted, Date.now() + posted++)] }),
      },
      {
        group: "write",
        label: "POST /v2/samples (array of 1000)",
        samples: 1,
        req: () => {
          const t = Date.now() + posted;
          posted += 1000;
          return {
            method: "POST",
            path: "/v2/samples",
            body: Array.from({ length: 1000 }, (_, k) => sample(k, t + k)),
          };
        },
      },
    ];
  },

  routes(ctx) {
    let deepLink = null;
    let someId = null;
    const prepare = async () => (deepLink ??= (await deepPages(ctx.api, "per_page=100", seeded)).byLink.path);
    const prepareId = async () =>
      (someId ??= (await ctx.api.must({ path: `/v2/samples?${q("resource_id", "vm-3")}&limit=1` })).json[0].id);
    return [
      { label: "GET /v2/samples (page 1)", kind: "read", make: () => ({ path: "/v2/samples" }) },
      {
        label: "GET /v2/samples?q meter & resource_id",
        kind: "read",
        make: () => ({ path: `/v2/samples?${q("meter", "cpu_util")}&${q("resource_id", "vm-5")}` }),
      },
      {
        label: "GET /v2/samples deep page by rel=next cursor",
        kind: "read",
        prepare,
        make: () => ({ path: deepLink }),
      },
      {
        label: "GET /v2/samples/<id>",
        kind: "read",
        prepare: prepareId,
        make: () => ({ path: `/v2/samples/${someId}` }),
      },
      {
        label: "GET /v2/samples?q metadata.host",
        kind: "read",
        make: () => ({ path: `/v2/samples?${q("metadata.host", "compute-1")}` }),
      },
      { label: "GET /v2/meters", kind: "read", make: () => ({ path: "/v2/meters" }) },
      {
        label: "GET /v2/meters/cpu_util/statistics?period=3600 (1 h window)",
        kind: "read",
        make: () => ({
          path: `/v2/meters/cpu_util/statistics?period=3600&${q("timestamp", iso(T0), "ge")}&${q("timestamp", iso(T0 + 3_600_000), "le")}`,
        }),
      },
      {
        label: "POST /v2/samples (one sample)",
        kind: "write",
        make: () => ({ method: "POST", path: "/v2/samples", body: [sample(posted, Date.now() + posted++)] }),
      },
    ];
  },
};
