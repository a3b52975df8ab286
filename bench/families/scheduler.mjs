// Scheduler sessions and jobs (/v2/{project}/sessions|jobs, docs/api/scheduler.md): sessions
// are created one by one (each one is a Durable Object writing through to D1; the API
// has no bulk route); a few of them get a job so start/end actions can be driven.
import { inBatches } from "../lib/seed.mjs";

const P = "/v2/bench";
const sessionBody = (i) => ({
  description: `${i % 3 === 0 ? "consistent snapshot" : "nightly backup"} ${i}`,
  hold_off: 30,
  schedule: {
    schedule_interval: "1 days",
    schedule_start_date: "2026-01-01T02:00:00",
    status: i % 4 === 0 ? "scheduled" : "",
  },
});
const jobBody = (id) => ({
  job_id: id,
  client_id: `host-${id}`,
  description: "fs backup of /etc",
  job_actions: [{ freezer_action: { action: "backup", mode: "fs", path_to_backup: "/etc" }, max_retries: 3 }],
  job_schedule: { status: "scheduled" },
});

const sessions = []; // ids in creation order
const withJobs = []; // { session, job }
const JOINED = 20;

export default {
  name: "scheduler",
  title: "Scheduler sessions (`/v2/{project}/sessions`)",
  unit: "sessions",
  notes: ["This API pages by `limit` and `offset` only (no links), so a deep page is an offset."],
  sizes: { quick: [50, 200], full: [200, 1000, 3000] },

  async seed(ctx, from, to) {
    const { api } = ctx;
    await inBatches(from, to, 1, 8, async (i) => {
      sessions[i] = (await api.must({ method: "POST", path: `${P}/sessions/`, body: sessionBody(i) })).json.session_id;
    });
    // The first sessions each get one job, for the actions.
    await inBatches(withJobs.length, Math.min(JOINED, to), 1, 4, async (i) => {
      const job = `bench-job-${Date.now().toString(36)}-${i}`;
      await api.must({ method: "POST", path: `${P}/jobs/`, body: jobBody(job) });
      await api.must({ method: "PUT", path: `${P}/sessions/${sessions[i]}/jobs/${job}` });
      withJobs[i] = { session: sessions[i], job };
    });
  },

  probes(_ctx) {
    const deepOffset = () => Math.max(0, sessions.length - 10);
    let k = 0;
    return [
      { group: "first page", label: "GET /sessions/?limit=10", req: { path: `${P}/sessions/?limit=10` } },
      {
        group: "deep page, by number",
        label: "GET /sessions/?limit=10&offset=<size-10>",
        resolve: async () => ({ path: `${P}/sessions/?limit=10&offset=${deepOffset()}` }),
      },
      {
        group: "filter",
        label: 'GET /sessions/ search {"match":[{"status":"scheduled"}]} limit 10',
        req: {
          path: `${P}/sessions/?limit=10&search=${encodeURIComponent(JSON.stringify({ match: [{ status: "scheduled" }] }))}`,
        },
      },
      {
        group: "filter",
        label: 'GET /sessions/ search {"match":[{"_all":"snapshot"}]} limit 10',
        req: {
          path: `${P}/sessions/?limit=10&search=${encodeURIComponent(JSON.stringify({ match: [{ _all: "snapshot" }] }))}`,
        },
      },
      { group: "filter", label: "GET /sessions/<id>", req: { path: `${P}/sessions/${sessions[0]}` } },
      { group: "filter", label: "GET /jobs/?limit=10", req: { path: `${P}/jobs/?limit=10` } },
      {
        group: "write",
        label: "POST /sessions/",
        req: (i) => ({ method: "POST", path: `${P}/sessions/`, body: sessionBody(i) }),
      },
      {
        group: "write",
        label: "PATCH /sessions/<id>",
        req: (i) => ({
          method: "PATCH",
          path: `${P}/sessions/${sessions[1]}`,
          body: { description: `patched ${i}-${k++}` },
        }),
      },
      {
        group: "write",
        label: "POST /sessions/<id>/action start",
        req: () => {
          const w = withJobs[k++ % withJobs.length];
          return {
            method: "POST",
            path: `${P}/sessions/${w.session}/action`,
            body: { start: { job_id: w.job, current_tag: "0" } },
          };
        },
      },
    ];
  },

  routes(_ctx) {
    return [
      { label: "GET /v2/<p>/sessions/?limit=10", kind: "read", make: () => ({ path: `${P}/sessions/?limit=10` }) },
      {
        label: "GET /v2/<p>/sessions/<id>",
        kind: "read",
        make: (i) => ({ path: `${P}/sessions/${sessions[i % sessions.length]}` }),
      },
      {
        label: "POST /v2/<p>/sessions/",
        kind: "write",
        make: (i) => ({ method: "POST", path: `${P}/sessions/`, body: sessionBody(i) }),
      },
      {
        label: `POST /v2/<p>/sessions/<id>/action start (${JOINED} sessions)`,
        kind: "write",
        make: (i) => {
          const w = withJobs[i % withJobs.length];
          return {
            method: "POST",
            path: `${P}/sessions/${w.session}/action`,
            body: { start: { job_id: w.job, current_tag: "0" } },
          };
        },
      },
    ];
  },
};
