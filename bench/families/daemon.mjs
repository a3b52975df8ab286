// Daemon registry and heartbeat (/daemon, /heartbeat, docs/api/daemon.md): N users, each with
// a token and a daemon id; every daemon beats once with its entrypoint (and, for one in
// five, abnormal tags), then the load beats them all round-robin with nothing changed,
// which must write nothing to D1, and once with the tags flipping on every beat.
import { inBatches } from "../lib/seed.mjs";

const daemons = []; // { user, token, id, tags }
const tagsOf = (i) =>
  i % 5 === 0 ? [`rep${i % 20}/item${i % 10}:v1`, `rep${i % 20}/item${i % 10}:v${2 + (i % 7)}`] : [];
const beat = (d, tags = d.tags, log = []) => ({
  method: "POST",
  path: "/heartbeat",
  noAuth: true, // a beat is authenticated by its daemon id alone
  body: {
    daemonid: d.id,
    entrypoint: [`http://10.0.${d.i % 250}.${d.i % 200}:35800`],
    log,
    role: 0,
    abnormaltags: tags,
  },
});

export default {
  name: "daemon",
  title: "Daemon registry and heartbeat (`/daemon`, `/heartbeat`)",
  unit: "daemons",
  sizes: { quick: [20, 100], full: [100, 500, 1000] },

  async seed(ctx, from, to) {
    const { api } = ctx;
    const runId = Date.now().toString(36);
    await inBatches(from, to, 1, 8, async (i) => {
      const user = `bench-${runId}-${i}`;
      const minted = await api.must({
        method: "POST",
        path: "/auth/tokens",
        body: { user, role: "user", projects: [], groups: [] },
      });
      const token = minted.json.token;
      const id = (await api.must({ path: "/daemon/id", headers: { authorization: `Token ${token}` } })).json.daemonid;
      const d = { i, user, token, id, tags: tagsOf(i) };
      await api.must(beat(d, d.tags, [`2026/01/01 12:00:00 daemon ${i} started`]));
      daemons[i] = d;
    });
  },

  probes(_ctx) {
    const d = daemons[5];
    const as = (req) => ({ ...req, headers: { authorization: `Token ${d.token}` } });
    let flip = 0;
    return [
      {
        group: "filter",
        label: "GET /daemon/tags/status?repname=rep5&itemname=item5 (public)",
        req: { path: "/daemon/tags/status?repname=rep5&itemname=item5" },
      },
      {
        group: "filter",
        label: "GET /daemon/tags/status?...&tagname=v1",
        req: { path: "/daemon/tags/status?repname=rep5&itemname=item5&tagname=v1" },
      },
      { group: "filter", label: "GET /heartbeat/status/<user> (public)", req: { path: `/heartbeat/status/${d.user}` } },
      { group: "filter", label: "GET /daemon/status (the user's token)", req: as({ path: "/daemon/status" }) },
      { group: "filter", label: "GET /daemon/ep/<user> (admin)", req: { path: `/daemon/ep/${d.user}` } },
      { group: "filter", label: "GET /daemon/log/0", req: as({ path: "/daemon/log/0" }) },
      { group: "filter", label: "GET /daemon/id (existing)", req: as({ path: "/daemon/id" }) },
      { group: "write", label: "POST /heartbeat, nothing changed", req: () => beat(d), flat: true },
      {
        group: "write",
        label: "POST /heartbeat, abnormal tags changed",
        req: () => beat(d, flip++ % 2 ? d.tags : [...d.tags, "rep5/item5:flip"]),
      },
    ];
  },

  routes(ctx) {
    const n = () => daemons.length;
    const settle = () => inBatches(0, daemons.length, 1, 8, (i) => ctx.api.must(beat(daemons[i])));
    return [
      {
        label: `POST /heartbeat, ${daemons.length} daemons round-robin, nothing changed`,
        kind: "write",
        // Daemons seeded minutes ago are offline by now (DAEMON_OFFLINE_AFTER): one beat each
        // brings them back online first, so the run measures beats that change nothing.
        prepare: settle,
        make: (i) => beat(daemons[i % n()]),
      },
      {
        label: `POST /heartbeat, ${daemons.length} daemons, abnormal tags flip every beat`,
        kind: "write",
        make: (i) => {
          const d = daemons[i % n()];
          return beat(d, Math.floor(i / n()) % 2 ? d.tags : [...d.tags, `rep${d.i % 20}/item${d.i % 10}:flip`]);
        },
      },
      {
        label: "POST /heartbeat with 2 log lines, nothing else changed",
        kind: "write",
        prepare: settle,
        make: (i) =>
          beat(daemons[i % n()], undefined, [
            `2026/01/01 12:00:0${i % 10} line ${i}`,
            `2026/01/01 12:00:0${i % 10} line ${i}b`,
          ]),
      },
      {
        label: "GET /heartbeat/status/<user>",
        kind: "read",
        make: (i) => ({ path: `/heartbeat/status/${daemons[i % n()].user}` }),
      },
      {
        label: "GET /daemon/status (user token)",
        kind: "read",
        make: (i) => ({ path: "/daemon/status", headers: { authorization: `Token ${daemons[i % n()].token}` } }),
      },
      {
        label: "GET /daemon/tags/status?repname&itemname",
        kind: "read",
        make: (i) => ({ path: `/daemon/tags/status?repname=rep${i % 20}&itemname=item${i % 10}` }),
      },
    ];
  },

  /** Beats per second for many daemons and the D1 writes they caused, from the load runs above. */
  async extra(_ctx, entry) {
    const beats = entry.routes.filter((r) => r.label.startsWith("POST /heartbeat"));
    const base = entry.health?.length ? entry.health.reduce((a, b) => a + b.rps, 0) / entry.health.length : NaN;
    return [
      {
        title: "Heartbeats: beats per second and D1 writes per beat",
        headers: [
          "beats",
          "daemons",
          "beats/s",
          "× /health",
          "beats sent",
          "D1 rows written in all",
          "D1 rows written per beat",
          "D1 rows read per beat",
        ],
        rows: beats.map((r) =>
          r.error
            ? [r.label, String(daemons.length), `error: ${r.error}`, "", "", "", "", ""]
            : [
                r.label.replace(/^POST \/heartbeat,? ?/, "").replace(/^with /, "with ") || "beat",
                String(daemons.length),
                r.rps.toFixed(0),
                `${(r.rps / base).toFixed(2)}×`,
                String(r.d1Totals?.responses ?? r.total),
                String(r.d1Totals?.totalWritten ?? "—"),
                (r.d1Totals?.written ?? r.written).toFixed(3),
                (r.d1Totals?.read ?? r.read).toFixed(3),
              ],
        ),
        notes: [
          "Each beat is one Durable Object call (the user's `DaemonPresence`); D1 is written only when the daemon's entrypoints, abnormal tags or online status change " +
            "(a daemon that was offline for `DAEMON_OFFLINE_AFTER` seconds writes its status on its next beat; every daemon beats once with its usual state before the first and the last run). " +
            "Counts are summed from the `Server-Timing` header of every response of the run (the object returns the D1 meta of what it wrote).",
        ],
      },
    ];
  },
};
