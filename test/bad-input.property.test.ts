// Bad input, drawn at random for every route of /openapi.json: odd ids in the path, query
// arguments repeated many times, bodies nested deep, huge, of the wrong type or out of range,
// sent through the whole app with tokens of every kind. Two properties: no answer is a 5xx,
// and another project's data (seeded first, read back through the API) never changes.
// Seeded, so a run replays exactly: a failure prints its seed, fast-check path and the request;
// pass `{ seed, path }` to fc.assert to replay that case alone, or change SEED to explore.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, call, callJson, mintToken } from "./helpers/http";
import { act, addJob, createJob, createSession } from "./helpers/scheduler";

const SEED = 20261123;
/** Requests per family group; six groups make a run of a few thousand requests. */
const RUNS = 350;

interface Route {
  method: string;
  path: string; // /v2/{project_id}/sessions/{session_id}
}

interface Drawn {
  method: string;
  path: string;
  query: Array<[string, string]>;
  body?: string;
  contentType?: string;
  token: keyof Tokens;
  xAuth: boolean;
}

type Tokens = { admin: string; system: string; attacker: string; prefix: string; none: null; forged: string };

/** The victim: projects `pa/q` (its name starts with the attacker's `pa`) and `victim`, a dataset, and their ids. */
const VICTIM_PROJECTS = ["pa/q", "victim"];
const VICTIM_DATASET = "victim_ds";
const victimIds: string[] = [];
let tokens: Tokens;
let routes: Route[];

async function seedVictim() {
  for (const project of VICTIM_PROJECTS) {
    const p = encodeURIComponent(project);
    const s = await createSession(p, { description: `${project}'s nightly`, hold_off: 600 });
    const j = await createJob(p, { job_id: `${project.replace("/", "-")}-job`, description: "db dump" });
    await addJob(p, s, j);
    expect((await act(p, s, { start: { job_id: j, current_tag: 0 } })).status).toBe(202);
    victimIds.push(s, j, `q/${s}`, `q%2F${s}`);
  }
  const samples = VICTIM_PROJECTS.map((project, i) => ({
    counter_name: "cpu_util",
    counter_type: "gauge",
    counter_unit: "%",
    counter_volume: 40 + i,
    resource_id: `vm-${i}`,
    project_id: project,
    timestamp: "2026-11-20T10:00:00",
  }));
  const posted = await callJson("/v2/meters/cpu_util", { method: "POST", json: samples });
  expect(posted.status).toBe(201);
  for (const s of posted.body as Array<{ id?: string; message_id?: string }>)
    victimIds.push(String(s.id ?? s.message_id));
  const access = await callJson(`/auth/datasets/${VICTIM_DATASET}`, {
    method: "PUT",
    json: { read_groups: ["victims"], write_groups: ["victims"], read_users: [], write_users: [] },
  });
  expect(access.status).toBe(200);
  const log = await callJson(`/datasets/${VICTIM_DATASET}/logs`, {
    method: "POST",
    json: { data: "victim's log", name: "stdout", task_id: "t1" },
  });
  expect(log.status).toBe(201);
  victimIds.push(log.body.result, VICTIM_DATASET, "t1");
  await seedVictimMonitor();
}

/** The victim projects' test runs (docs/api/monitor.md, "Projects"), posted by the admin into each project by path. */
const victimMonitor = (project: string) => `/projects/${encodeURIComponent(project)}/api/v1`;
async function seedVictimMonitor() {
  for (const [i, project] of VICTIM_PROJECTS.entries()) {
    const h = `7e57${i}`.padEnd(32, "0");
    const ctx = `c7${i}`.padEnd(32, "0");
    const base = victimMonitor(project);
    const context = {
      h: ctx,
      cpu_count: 4,
      cpu_frequency: 2000,
      cpu_type: "x",
      ram_total: 8000,
      machine_node: "n",
      machine_type: "x86_64",
      machine_arch: "64bit",
      system_info: "Linux",
      python_info: "3.11",
    };
    expect((await callJson(`${base}/contexts/`, { method: "POST", json: context })).status).toBe(201);
    const session = {
      session_h: h,
      run_date: "2026-11-20T10:00:00",
      scm_ref: "abc",
      description: { pipeline_branch: "main", pipeline_build_no: "1" },
    };
    expect((await callJson(`${base}/sessions/`, { method: "POST", json: session })).status).toBe(201);
    const metric = {
      session_h: h,
      context_h: ctx,
      item_start_time: "2026-11-20T10:00:01",
      item_path: "t",
      item: "test_victim",
      item_variant: "test_victim",
      item_fs_loc: "t.py",
      kind: "function",
      component: "",
      total_time: 1,
      user_time: 1,
      kernel_time: 0,
      cpu_usage: 0.5,
      mem_usage: 10,
    };
    expect((await callJson(`${base}/metrics/`, { method: "POST", json: metric })).status).toBe(201);
    victimIds.push(h, ctx);
  }
}

/** The victim's data as the admin reads it through the API. */
async function victimSnapshot() {
  const reads: string[] = [];
  for (const project of VICTIM_PROJECTS) {
    const p = encodeURIComponent(project);
    reads.push(`/v2/${p}/sessions/?limit=1000`, `/v2/${p}/jobs/?limit=1000`);
    reads.push(`/v2/samples?q.field=project_id&q.op=eq&q.value=${p}`);
  }
  reads.push(`/datasets/${VICTIM_DATASET}/tasks/t1/logs`);
  for (const project of VICTIM_PROJECTS) {
    for (const path of [
      "/sessions/",
      "/contexts/",
      "/metrics/",
      "/components/",
      "/pipelines/",
      "/pipelines/main/builds",
    ]) {
      reads.push(`${victimMonitor(project)}${path}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const path of reads) {
    const res = await callJson(path);
    out[path] = { status: res.status, body: res.body };
  }
  return out;
}

// ─── Arbitraries ────────────────────────────────────────────────────────────

const oddText = fc.oneof(
  fc.constantFrom(
    "/",
    "%2F",
    "%",
    "%00",
    "\u0000",
    "..",
    "../..",
    "%2E%2E",
    "a%2Fb",
    "%252F",
    "é",
    "💥",
    " ",
    "'",
    '"',
    "\\",
    "?x=1",
    "#",
    ";",
    "-1",
    "0",
    "1e999",
    "NaN",
    "null",
    "[]",
    "{}",
  ),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.integer({ min: 1, max: 9000 }).map((n) => "x".repeat(n)),
  fc.constantFrom("atk", "pa", "given", "backup-1", "5d41402abc4b2a76b9719d911017c592"),
);

/** A path parameter: raw (the URL parser keeps or escapes it) or percent-encoded. */
const segment = (pool: fc.Arbitrary<string>) =>
  fc.tuple(pool, fc.boolean()).map(([v, raw]) => (raw ? v : encodeURIComponent(v)));

const numberText = fc.oneof(
  fc.constantFrom(
    "1e999",
    "-1e999",
    "18446744073709551616",
    "-0",
    "0.0000001",
    "1e-400",
    "9007199254740993",
    "2147483648",
  ),
  fc.double().map((d) => (Number.isFinite(d) ? String(d) : "1e999")),
  fc.integer().map(String),
);

/** Values that go where a document field is expected: wrong types, out of range, huge, nested. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  oddText,
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER * 4, -1, 1.5, Number.MAX_VALUE, -Number.MAX_VALUE, true, null, [], {}),
  fc.integer({ min: 1, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => i)),
  fc.integer({ min: 1, max: 3000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
);

function nested(depth: number, object: boolean): string {
  return object ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}` : `${"[".repeat(depth)}${"]".repeat(depth)}`;
}

/** Bodies a real client of each family sends, to be bent: the route's own family first. */
const templates: Array<[RegExp, Array<Record<string, unknown> | unknown[]>]> = [
  [
    /\/sessions\/\{session_id\}\/action/,
    [{ start: { job_id: "j", current_tag: "0" } }, { end: { job_id: "j", current_tag: 0, result: "success" } }],
  ],
  [
    /^\/v2\/\{project_id\}\/sessions/,
    [
      {
        schedule: { schedule_interval: "1 days", status: "scheduled" },
        description: "x",
        hold_off: 30,
        session_tag: 2,
      },
    ],
  ],
  [/\/event$/, [{ start: null }, { abort: null }]],
  [
    /^\/v2\/\{project_id\}\/jobs/,
    [
      {
        job_id: "j1",
        client_id: "c",
        description: "d",
        job_actions: [{ freezer_action: { action: "backup", mode: "fs" }, max_retries: 3 }],
        job_schedule: { status: "scheduled" },
      },
    ],
  ],
  [/^\/v2\/\{project_id\}/, [{ match: [{ _all: "x" }, { client_id: "c" }], match_not: [{ status: "completed" }] }]],
  [
    /^\/v2\/(samples|meters)/,
    [
      [
        {
          counter_name: "cpu",
          counter_type: "gauge",
          counter_unit: "%",
          counter_volume: 1,
          resource_id: "r",
          project_id: "atk",
          timestamp: "2026-11-20T10:00:00",
          resource_metadata: { a: 1 },
        },
      ],
    ],
  ],
  [/^\/(logs|datasets)/, [{ data: "log line", name: "stdout", dataset_id: "atk_ds", task_id: "t" }]],
  [
    /^\/(daemon|heartbeat)/,
    [
      {
        daemonid: "d",
        entrypoint: ["http://10.0.0.1:35800"],
        log: ["l"],
        role: 0,
        abnormal: [{ repname: "r", itemname: "i", tag: "t" }],
      },
    ],
  ],
  [
    /^\/api\/v1\/sessions/,
    [
      {
        session_h: "5d41402abc4b2a76b9719d911017c592",
        run_date: "2026-11-23T10:15:02",
        scm_ref: "x",
        description: { a: "b" },
      },
    ],
  ],
  [
    /^\/api\/v1\/contexts/,
    [
      {
        h: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        cpu_count: 8,
        cpu_frequency: 2712.0,
        cpu_type: "",
        cpu_vendor: "v",
        ram_total: 1,
        machine_node: "n",
        machine_type: "t",
        machine_arch: "64bit",
        system_info: "s",
        python_info: "p",
      },
    ],
  ],
  [
    /^\/api\/v1\/metrics/,
    [
      {
        session_h: "5d41402abc4b2a76b9719d911017c592",
        context_h: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        item_start_time: "2026-11-23T10:15:03.000001",
        item_path: "p",
        item: "i",
        item_variant: "v",
        item_fs_loc: "f",
        kind: "function",
        component: "",
        total_time: 0.1,
        user_time: 0.1,
        kernel_time: 0.1,
        cpu_usage: 0.9,
        mem_usage: 1,
      },
    ],
  ],
  [/^\/auth\/tokens/, [{ user: "u", role: "user", projects: ["atk"], groups: [] }]],
  [/^\/auth\/datasets/, [{ read_groups: ["g"], write_groups: ["g"], read_users: [], write_users: [] }]],
  [/^\/v3/, [{ auth: { identity: { methods: ["token"], token: { id: "t" } }, scope: { project: { id: "atk" } } } }]],
];
const allTemplates = templates.flatMap(([, t]) => t);
const templatesFor = (path: string) => templates.find(([test]) => test.test(path))?.[1] ?? allTemplates;

/** A template with one field (at any depth) replaced by an odd value, or left whole. */
const bentTemplate = (own: Array<Record<string, unknown> | unknown[]>) =>
  fc
    .tuple(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...own) },
        { weight: 1, arbitrary: fc.constantFrom(...allTemplates) },
      ),
      fc.nat(),
      oddValue,
      fc.nat({ max: 9 }),
    )
    .map(([template, pick, value, how]) => {
      const copy = structuredClone(template) as Record<string, unknown>;
      if (how === 0) return JSON.stringify(copy);
      const holders: Array<Record<string, unknown>> = [];
      const walk = (v: unknown) => {
        if (v && typeof v === "object") {
          holders.push(v as Record<string, unknown>);
          for (const child of Object.values(v)) walk(child);
        }
      };
      walk(copy);
      const holder = holders[pick % holders.length];
      const keys = Object.keys(holder);
      if (keys.length) holder[keys[pick % keys.length]] = value;
      return JSON.stringify(how === 1 ? [copy] : copy);
    });

const bodyFor = (path: string): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: bentTemplate(templatesFor(path)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 20, max: 1500 }), fc.boolean()).map(([d, o]) => nested(d, o)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...templatesFor(path)), fc.integer({ min: 20, max: 1500 }))
        .map(([t, d]) => JSON.stringify(t).replace(/"[a-z_]+":/, (k) => `${k}${nested(d, false)},"_":`)),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1000, max: 30000 })
        .map((n) => JSON.stringify(Array.from({ length: n }, (_, i) => i))),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "{",
        "[1,",
        "nul",
        "\u0000",
        "{}",
        "[]",
        '""',
        "0",
        "true",
        '{"":""}',
        '{"__proto__":{"x":1}}',
        '{"constructor":{"prototype":{}}}',
      ),
    },
    { weight: 1, arbitrary: numberText },
    { weight: 1, arbitrary: oddText.map((s) => JSON.stringify(s)) },
  );

const queryKeys = fc.constantFrom(
  "limit",
  "offset",
  "search",
  "page",
  "size",
  "per_page",
  "range",
  "period",
  "groupby",
  "aggregate.func",
  "aggregate.param",
  "q.field",
  "q.op",
  "q.value",
  "q.type",
  "with_flags",
  "restrict_flags",
  "method",
  "dataset_id",
  "task_id",
  "name",
  "keys",
  "meter",
  "project_id",
  "resource_id",
  "start",
  "end",
  "repname",
  "itemname",
  "tagname",
  "sort",
  "order",
  "group",
  "x",
);

const queryValue = fc.oneof(
  oddText,
  numberText,
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.integer({ min: 20, max: 1500 }).map((d) => nested(d, false)),
  fc.constantFrom(
    JSON.stringify({ match: [{ _all: JSON.stringify([{ a: JSON.parse(nested(40, false)) }]) }] }),
    JSON.stringify({ match: [{ _all: Array.from({ length: 40 }, (_, i) => ({ [`k${i}`]: i })) }] }),
  ),
);

const query: fc.Arbitrary<Array<[string, string]>> = fc.oneof(
  fc.array(fc.tuple(queryKeys, queryValue), { maxLength: 6 }),
  // One argument repeated many times.
  fc
    .tuple(queryKeys, queryValue, fc.integer({ min: 2, max: 300 }))
    .map(([k, v, n]) => Array.from({ length: n }, () => [k, v] as [string, string])),
);

/** Ids for a path parameter: the victim's only reach tokens that may not touch it. */
function paramPool(name: string, privileged: boolean): fc.Arbitrary<string> {
  const victims = privileged ? [] : [fc.constantFrom(...victimIds, ...VICTIM_PROJECTS)];
  if (name === "project_id")
    return segment(fc.oneof({ weight: 3, arbitrary: fc.constantFrom("atk", "pa", "atk/q") }, oddText, ...victims));
  if (name === "dataset_id" || name === "dataset")
    return segment(fc.oneof(fc.constantFrom("atk_ds", "pa"), oddText, ...victims));
  if (name === "id") return segment(oddText); // token records: never a real one
  return segment(fc.oneof(oddText, ...victims));
}

function drawFor(family: (r: Route) => boolean): fc.Arbitrary<Drawn> {
  const mine = routes.filter(family);
  return fc
    .tuple(
      fc.constantFrom(...mine),
      fc.constantFrom<keyof Tokens>("admin", "admin", "system", "attacker", "attacker", "prefix", "none", "forged"),
      fc.boolean(),
    )
    .chain(([route, token, xAuth]) => {
      const privileged = token === "admin" || token === "system";
      const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      return fc.record({
        method: fc.oneof(
          { weight: 9, arbitrary: fc.constant(route.method) },
          { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE") },
        ),
        path: fc.tuple(...names.map((n) => paramPool(n, privileged))).map((values) => {
          let i = 0;
          return route.path.replace(/\{(\w+)\}/g, () => values[i++]);
        }),
        query: privileged ? query.map((q) => q.filter(([, v]) => !VICTIM_PROJECTS.some((p) => v.includes(p)))) : query,
        body: privileged
          ? bodyFor(route.path).map((b) => (b && VICTIM_PROJECTS.some((p) => b.includes(p)) ? undefined : b))
          : bodyFor(route.path),
        contentType: fc.constantFrom(
          undefined,
          "application/json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "application/json; charset=latin1",
        ),
        token: fc.constant(token),
        xAuth: fc.constant(xAuth),
      });
    });
}

async function send(d: Drawn): Promise<Response> {
  const search = d.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  const headers: Record<string, string> = {};
  if (d.contentType) headers["content-type"] = d.contentType;
  const secret = tokens[d.token];
  if (secret && d.xAuth) headers["x-auth-token"] = secret;
  const method = d.method;
  const withBody = method !== "GET" && method !== "HEAD" && d.body !== undefined;
  // Redirects are answers too (the dashboard's page is a static asset the test Worker does not serve).
  return call(`${d.path}${search ? `?${search}` : ""}`, {
    method,
    headers,
    body: withBody ? d.body : undefined,
    token: d.xAuth ? null : secret,
    redirect: "manual",
  });
}

const show = (d: Drawn) =>
  `${d.method} ${d.path.slice(0, 300)}${
    d.query.length
      ? ` ?${d.query
          .slice(0, 3)
          .map(([k, v]) => `${k}=${v.slice(0, 80)}`)
          .join("&")}${d.query.length > 3 ? `&…(${d.query.length})` : ""}`
      : ""
  } token=${d.token} body=${(d.body ?? "").slice(0, 200)}`;

async function noServerErrors(name: string, family: (r: Route) => boolean, seedOffset: number) {
  const failures: string[] = [];
  await fc
    .assert(
      fc.asyncProperty(drawFor(family), async (d) => {
        const res = await send(d);
        const text = await res.text();
        if (res.status >= 500) failures.push(`${res.status} ${show(d)} → ${text.slice(0, 200)}`);
        return res.status < 500;
      }),
      { seed: SEED + seedOffset, numRuns: RUNS, endOnFailure: true },
    )
    .catch((e: Error) => {
      throw new Error(`${name}: ${failures[0] ?? ""}\n${e.message.slice(0, 3000)}`);
    });
}

const family = (prefix: RegExp) => (r: Route) => prefix.test(r.path);

describe("bad input, drawn for every route of /openapi.json", () => {
  let before: Record<string, unknown>;

  beforeAll(async () => {
    tokens = {
      admin: ADMIN_TOKEN,
      system: (await mintToken({ user: "pilot", role: "system", groups: ["outsiders"] })).token,
      attacker: (await mintToken({ user: "mallory", role: "user", projects: ["atk", "atk/q"], groups: ["outsiders"] }))
        .token,
      prefix: (await mintToken({ user: "eve", role: "user", projects: ["pa"], groups: ["outsiders"] })).token,
      none: null,
      forged: "not-a-token",
    };
    const doc = await callJson("/openapi.json", { token: null });
    routes = Object.entries<Record<string, unknown>>(doc.body.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })),
    );
    expect(routes.length).toBeGreaterThan(90);
    // The monitor also answers under /projects/<project>/api/v1 (not listed twice in /openapi.json).
    routes.push(
      ...routes
        .filter((r) => r.path.startsWith("/api/v1/"))
        .map((r) => ({ ...r, path: `/projects/{project_id}${r.path}` })),
    );
    await seedVictim();
    before = await victimSnapshot();
  });

  const groups: Array<[string, (r: Route) => boolean]> = [
    ["scheduler sessions", family(/^\/v2\/\{project_id\}\/sessions/)],
    ["scheduler jobs and Keystone shim", family(/^\/(v2\/\{project_id\}\/jobs|v3)/)],
    ["auth and the app's own routes", (r) => /^\/(auth|dashboard|$)/.test(r.path) || r.path === "/"],
    ["monitor", family(/^\/(projects\/\{project_id\}\/)?api\/v1/)],
    ["telemetry", family(/^\/v2\/(samples|meters)/)],
    ["daemon and logs", family(/^\/(daemon|heartbeat|logs|datasets)/)],
    ["telemetry alarms", family(/^\/v2\/(query\/)?alarms/)],
  ];
  groups.forEach(([name, test], i) => {
    it(`${name}: never answers 5xx, and leaves another project's data as it was`, { timeout: 120_000 }, async () => {
      await noServerErrors(name, test, i);
      expect(await victimSnapshot()).toEqual(before);
    });
  });
});

// ─── Role × route ──────────────────────────────────────────────────────────
// A `system` token (a job pilot's, on a worker node) may use the task-logs routes under
// /logs and nothing else (docs/api/auth.md, Roles): every other route of /openapi.json that
// takes a token answers it 403, in the dialect of the family that was called, whichever
// header carries it and whatever the path holds.

/** The 403 body each family words; a family not listed here is held to the status alone. */
function forbiddenBodyOf(path: string): unknown {
  if (path.startsWith("/api/v1")) return { message: "authorization failed" };
  if (/^\/v2\/(samples|meters)/.test(path))
    return { error: { code: 403, title: "Forbidden", message: "authorization failed" } };
  if (/^\/v2\/[^/]+\/(sessions|jobs)/.test(path))
    return { title: "Access Forbidden", description: "You are not allowed to access this resource" };
  if (/^\/(api\/)?(daemon|heartbeat)/.test(path)) return { code: 1006, msg: "permission denied: authorization failed" };
  if (path.startsWith("/datasets")) return { code: 403, error: "authorization failed" };
  if (/^\/(auth|dashboard)/.test(path)) return { message: "authorization failed" };
  return undefined;
}

/** How the token travels: the four forms of docs/api/auth.md. */
const tokenForms = fc.constantFrom<(t: string) => Record<string, string>>(
  (t) => ({ Authorization: `Bearer ${t}` }),
  (t) => ({ Authorization: `Token ${t}` }),
  (t) => ({ "X-Auth-Token": t }),
  (t) => ({ Authorization: `Basic ${btoa(`pilot:${t}`)}` }),
);

/** Path values a system token might aim at: its own "project", plain ids, odd text. */
const roleParam = fc.oneof(
  fc.constantFrom("sysproj", "t1", "0", "abc123", "x"),
  fc.stringMatching(/^[a-z0-9_]{1,12}$/),
);

describe("role × route: a system token reaches only the task-logs routes", () => {
  let system: string;
  let guarded: Route[];

  beforeAll(async () => {
    system = (await mintToken({ user: "pilot-roles", role: "system", projects: ["sysproj"], groups: ["g1"] })).token;
    const doc = await callJson("/openapi.json", { token: null });
    guarded = Object.entries<Record<string, { security?: unknown[] }>>(doc.body.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        // Public routes (`security: []`) and the Keystone shim, which takes its token in the body (tested in
        // test/auth.test.ts).
        .filter(([, op]) => !(Array.isArray(op.security) && op.security.length === 0) && !path.startsWith("/v3"))
        .map(([m]) => ({ method: m.toUpperCase(), path })),
    );
    // The daemon routes are also served under /api, where DataHub's daemon and web UI call them.
    guarded.push(...guarded.filter((r) => r.path.startsWith("/daemon")).map((r) => ({ ...r, path: `/api${r.path}` })));
    expect(guarded.length).toBeGreaterThan(90);
  });

  it("answers 403 in the family's dialect off /logs, and never 401 or 403 on /logs", { timeout: 120_000 }, async () => {
    for (const route of guarded) {
      const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      await fc.assert(
        fc.asyncProperty(
          fc.array(roleParam, { minLength: names.length, maxLength: names.length }),
          tokenForms,
          async (values, form) => {
            let i = 0;
            const path = route.path.replace(/\{(\w+)\}/g, () => values[i++]);
            const withBody = route.method !== "GET" && route.method !== "DELETE";
            const res = await call(path, {
              method: route.method,
              token: null,
              headers: { ...form(system), ...(withBody ? { "content-type": "application/json" } : {}) },
              body: withBody ? "{}" : undefined,
              redirect: "manual",
            });
            const text = await res.text();
            const shown = `${route.method} ${path} → ${res.status} ${text.slice(0, 200)}`;
            if (path.startsWith("/logs")) {
              expect([401, 403], shown).not.toContain(res.status);
              expect(res.status, shown).toBeLessThan(500);
              return;
            }
            expect(res.status, shown).toBe(403);
            const body = forbiddenBodyOf(path);
            if (body !== undefined) expect(JSON.parse(text), shown).toEqual(body);
          },
        ),
        { seed: SEED, numRuns: 3 },
      );
    }
  });
});

// ─── Negative and huge page numbers ────────────────────────────────────────
// Every GET route of /openapi.json, with every paging argument any family reads set to a
// negative, zero, huge or malformed number (and the daemon log's path index likewise):
// never a 5xx. Where this file's owners hold the route (scheduler, daemon, logs), the
// answer is exact: a negative number is a 400 in the family's dialect, a huge one is a
// 400 or a page no longer than the family's cap — never a read without bound.
// The monitor and telemetry routes are held to "no 5xx" here only: their own bounds on
// negative and huge pages are being written beside this on their branches and will be
// asserted here once merged.

const PAGING_ARGS = ["page", "limit", "offset", "size", "num", "range", "per_page", "skip"];
const extremeNumber = fc.constantFrom(
  "-1",
  "-999999999",
  "-0",
  "0",
  "1",
  "999999999",
  "2147483648",
  "9007199254740993",
  "99999999999999999999",
  "1e300",
  "1.5",
  "-1e3",
  "",
  "9".repeat(400),
);

/** Routes whose paging this file's owners check exactly: the arguments each reads, and where its page is. */
const pagedRoutes: Array<{ path: RegExp; args: string[]; list: (body: any) => unknown[] | null; cap: number }> = [
  { path: /^\/v2\/[^/]+\/sessions$/, args: ["limit", "offset"], list: (b) => b.sessions, cap: 1000 },
  { path: /^\/v2\/[^/]+\/jobs$/, args: ["limit", "offset"], list: (b) => b.jobs, cap: 1000 },
  { path: /^\/daemon\/tags\/status$/, args: ["page", "size"], list: (b) => b.results ?? [], cap: 100 },
  { path: /^\/daemon\/log\/[^/]+$/, args: ["range", "index"], list: (b) => b.log, cap: 1000 },
  { path: /^\/logs$/, args: ["limit"], list: (b) => Object.keys(b), cap: Number.POSITIVE_INFINITY },
  {
    path: /^\/datasets\/[^/]+\/tasks\/[^/]+\/logs$/,
    args: ["num"],
    list: (b) => b.logs,
    cap: Number.POSITIVE_INFINITY,
  },
];

/** A whole number below zero, as the families parse them (`-0` is zero). */
const isNegative = (v: string) => /^-\d{1,15}$/.test(v) && Number(v) < 0;

describe("negative and huge page numbers on every paged route", () => {
  let gets: string[];

  beforeAll(async () => {
    const doc = await callJson("/openapi.json", { token: null });
    gets = Object.entries<Record<string, unknown>>(doc.body.paths)
      .filter(([, ops]) => "get" in ops)
      .map(([path]) => path);
    // Something to page through in each family this file checks exactly.
    const s = await createSession("pgproj", { description: "paged" });
    const j = await createJob("pgproj", { job_id: "pg-job" });
    await addJob("pgproj", s, j);
    const posted = await callJson("/datasets/pgds/logs", {
      method: "POST",
      json: { data: "paged", name: "stdout", task_id: "t1" },
    });
    expect(posted.status).toBe(201);
  });

  /** Fills a route's path with ids that exist where the seed made them. */
  const filled = (path: string, index: string) =>
    path.replace(
      /\{(\w+)\}/g,
      (_, name: string) =>
        ({
          project_id: "pgproj",
          dataset_id: "pgds",
          dataset: "pgds",
          task_id: "t1",
          index: encodeURIComponent(index || "0"),
        })[name] ?? "pg1",
    );

  it("never answers 5xx, and the scheduler, daemon and logs answer negative pages 400 and huge ones within their cap", {
    timeout: 120_000,
  }, async () => {
    const failures: string[] = [];
    await fc
      .assert(
        fc.asyncProperty(
          fc.constantFrom(...gets),
          fc.constantFrom(...PAGING_ARGS, "index"),
          extremeNumber,
          async (route, arg, value) => {
            const base = filled(route, arg === "index" ? value : "0");
            const extra = route === "/daemon/tags/status" ? "repname=pgrepo&itemname=item&" : "";
            const query = arg === "index" ? extra : `${extra}${arg}=${encodeURIComponent(value)}`;
            const res = await call(`${base}${query ? `?${query}` : ""}`, { redirect: "manual" });
            const text = await res.text();
            const shown = `GET ${base}?${query} → ${res.status} ${text.slice(0, 200)}`;
            if (res.status >= 500) failures.push(shown);
            expect(res.status, shown).toBeLessThan(500);
            const paged = pagedRoutes.find((p) => p.path.test(base));
            if (!paged?.args.includes(arg)) return;
            if (isNegative(value)) {
              expect(res.status, shown).toBe(400);
              expect(Object.keys(JSON.parse(text)).length, shown).toBeGreaterThan(0);
              return;
            }
            expect([200, 400, 404], shown).toContain(res.status);
            if (res.status === 200)
              expect(paged.list(JSON.parse(text))?.length ?? 0, shown).toBeLessThanOrEqual(paged.cap);
          },
        ),
        { seed: SEED + 100, numRuns: 600 },
      )
      .catch((e: Error) => {
        throw new Error(`${failures[0] ?? ""}\n${e.message.slice(0, 3000)}`);
      });
  });

  it("answers every paging argument of the scheduler, daemon and logs routes exactly, for each extreme value", {
    timeout: 120_000,
  }, async () => {
    const values = ["-1", "-999999999", "0", "999999999", "9007199254740993", "1e300", "9".repeat(400)];
    const cases: Array<[string, string]> = [
      ["/v2/pgproj/sessions", "limit"],
      ["/v2/pgproj/sessions", "offset"],
      ["/v2/pgproj/jobs", "limit"],
      ["/v2/pgproj/jobs", "offset"],
      ["/daemon/tags/status?repname=pgrepo&itemname=item", "page"],
      ["/daemon/tags/status?repname=pgrepo&itemname=item", "size"],
      ["/daemon/log/0", "range"],
      ["/logs?dataset_id=pgds", "limit"],
      ["/datasets/pgds/tasks/t1/logs", "num"],
    ];
    for (const [path, arg] of cases) {
      for (const value of values) {
        const res = await call(`${path}${path.includes("?") ? "&" : "?"}${arg}=${encodeURIComponent(value)}`);
        const text = await res.text();
        const shown = `${path} ${arg}=${value.slice(0, 20)} → ${res.status} ${text.slice(0, 200)}`;
        if (isNegative(value)) expect(res.status, shown).toBe(400);
        else expect([200, 400, 404], shown).toContain(res.status);
      }
    }
    // The daemon log's index is a path segment: the same rules.
    for (const value of values) {
      const res = await call(`/daemon/log/${encodeURIComponent(value)}`);
      const shown = `/daemon/log/${value.slice(0, 20)} → ${res.status}`;
      await res.arrayBuffer();
      if (isNegative(value)) expect(res.status, shown).toBe(400);
      else expect([200, 400, 404], shown).toContain(res.status);
    }
  });
});

// ─── Telemetry: metadata conditions up to the cap, huge pages (docs/api/telemetry.md, Limits) ───

describe("telemetry routes with metadata conditions up to the cap and huge page numbers", () => {
  const routesOf = (meter: string) => [
    "/v2/samples",
    `/v2/meters/${meter}`,
    `/v2/meters/${meter}/statistics`,
    "/v2/meters",
  ];
  let cursor = "";
  let userToken = "";
  beforeAll(async () => {
    const samples = Array.from({ length: 30 }, (_, i) => ({
      meter: "prop.md",
      type: "gauge",
      volume: i,
      resource_id: `prop-vm-${i % 2}`,
      project_id: "prop-md",
      timestamp: `2026-11-20T10:${String(i).padStart(2, "0")}:00`,
      metadata: Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`k${k}`, k % 2 ? `v${i % 3}` : i % 3])),
    }));
    expect((await callJson("/v2/samples", { method: "POST", json: samples })).status).toBe(201);
    const first = await call("/v2/samples?q.field=meter&q.op=eq&q.value=prop.md&limit=5");
    cursor =
      new URL(/<([^>]+)>; rel="next"/.exec(first.headers.get("Link") ?? "")![1]).searchParams.get("cursor") ?? "";
    userToken = (await mintToken({ user: "prop-md-user", role: "user", projects: ["prop-md", "other"] })).token;
  });

  const condition = fc.record({
    key: fc.oneof(
      fc.constantFrom("k0", "k1", "k2", "k3", "k7", "flavor.name", "tags[0]"),
      fc.string({ maxLength: 12 }),
    ),
    value: fc.oneof(fc.constantFrom("0", "1", "v1", "'2'", "True", "1.5"), fc.string({ maxLength: 12 })),
    type: fc.constantFrom("", "", "string", "integer", "float", "boolean"),
    prefix: fc.constantFrom("metadata.", "resource_metadata."),
  });
  const request = fc.record({
    route: fc.nat(3),
    conditions: fc.array(condition, { minLength: 1, maxLength: 32 }),
    page: fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: 1, max: 2_000_000_000 }),
      fc.constantFrom(1, 2, 10_001, 999_999_999),
    ),
    limit: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 5000 })),
    withCursor: fc.boolean(),
    period: fc.oneof(fc.constant(undefined), fc.constantFrom("1", "60", "3600", "5400")),
    groupby: fc.boolean(),
    user: fc.boolean(),
  });

  it("never answer 5xx", { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const p = new URLSearchParams();
        const conds = r.conditions.slice(0, r.route === 0 ? 32 : 31);
        if (r.route === 0) conds.length = Math.min(conds.length, 31);
        const all = r.route === 0 ? [{ field: "meter", value: "prop.md", type: "" }] : [];
        all.push(...conds.map((c) => ({ field: `${c.prefix}${c.key || "k0"}`, value: c.value || "0", type: c.type })));
        for (const name of ["field", "op", "type", "value"] as const)
          for (const c of all) p.append(`q.${name}`, name === "op" ? "eq" : c[name as "field" | "type" | "value"]);
        if (r.page !== undefined) p.set("page", String(r.page));
        if (r.limit !== undefined) p.set("limit", String(r.limit));
        if (r.withCursor && cursor) p.set("cursor", cursor);
        if (r.route === 2 && r.period) p.set("period", r.period);
        if (r.route === 2 && r.groupby) p.set("groupby", "resource_id");
        const path = `${routesOf("prop.md")[r.route]}?${p}`;
        const res = await call(path, { token: r.user ? userToken : ADMIN_TOKEN });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`${res.status} ${path}: ${text.slice(0, 200)}`);
      }),
      { seed: SEED, numRuns: 120 },
    );
  });
});
