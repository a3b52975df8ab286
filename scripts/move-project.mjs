#!/usr/bin/env node
// Moves a project's telemetry and monitor rows to another shard (docs/deploy.md, "Shards:
// adding one, moving a project"), calling POST /admin/shards/moves until the move is done
// and printing each step. Resumable: after a crash (its own or the Worker's) run it again
// with the same arguments and it goes on from the saved step.
//   node scripts/move-project.mjs <project> <shard> [--url URL] [--token TOKEN]
// OPSHUB_URL (default http://127.0.0.1:8787) and ADMIN_TOKEN (default: from .dev.vars).
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: process.env.OPSHUB_URL ?? "http://127.0.0.1:8787" },
    token: { type: "string" },
  },
});
const [project, to] = positionals;
if (!project || !to) {
  console.error("usage: node scripts/move-project.mjs <project> <shard> [--url URL] [--token TOKEN]");
  process.exit(2);
}
const devVars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
const token = values.token ?? process.env.ADMIN_TOKEN ?? devVars.match(/^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/m)?.[1];
if (!token) {
  console.error("No admin token: pass --token, set ADMIN_TOKEN or run `npm start` once to create .dev.vars");
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** How long the cleanup waits after the switch (two map lifetimes, src/db/shards.ts): polled, not hammered. */
const CLEANUP_POLL_MS = 10_000;

let last = "";
for (let failures = 0; ; ) {
  let res;
  try {
    res = await fetch(new URL("/admin/shards/moves", values.url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ project, to }),
    });
  } catch (e) {
    // The network or the Worker went away: the move's state is saved, so call again.
    if (++failures > 10) throw e;
    console.error(`call failed (${e.message}): retrying`);
    await sleep(2000 * failures);
    continue;
  }
  const text = await res.text();
  // 409 "another call is running it" (a crashed call's lease, up to a minute): wait it out.
  if (res.status === 409 && /Another call/.test(text)) {
    console.error("another call holds the move: waiting");
    await sleep(5000);
    continue;
  }
  if (res.status >= 500 && ++failures <= 10) {
    console.error(`${res.status} ${text}: retrying`);
    await sleep(2000 * failures);
    continue;
  }
  if (!res.ok) {
    console.error(`POST /admin/shards/moves: ${res.status} ${text}`);
    process.exit(1);
  }
  failures = 0;
  const state = JSON.parse(text);
  const c = state.cursor ?? {};
  const line = `${state.step}: table ${c.table ?? "-"}, copied ${c.copied ?? 0}, synced ${c.synced ?? 0}, deleted ${c.deleted ?? 0}${c.frozenMs === undefined ? "" : `, frozen ${c.frozenMs} ms (${c.frozenRows ?? 0} rows)`}`;
  const idle = line === last;
  if (!idle) console.log(`${project} ${state.source} → ${state.target} ${line}`);
  last = line;
  if (state.step === "done") break;
  // Nothing done: the cleanup waits for the map caches to expire.
  if (idle && state.step === "cleanup") await sleep(CLEANUP_POLL_MS);
}
