#!/usr/bin/env node
// `npm start`: apply local D1 migrations (main DB and shards), make sure .dev.vars holds an ADMIN_TOKEN,
// then run `wrangler dev` on 127.0.0.1. Honours PORT; extra arguments go to wrangler dev
// (`npm start -- --port 9000`).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { migrateAll } from "./migrate.mjs";

let vars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
let token = vars.match(/^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/m)?.[1];
if (!token) {
  token = `ohk_${randomBytes(20).toString("hex")}`;
  vars = `${vars}${vars && !vars.endsWith("\n") ? "\n" : ""}ADMIN_TOKEN="${token}"\n`;
  writeFileSync(".dev.vars", vars, { mode: 0o600 });
  console.log("Wrote a new ADMIN_TOKEN to .dev.vars");
}

// The main DB and both local shards (wrangler.toml): the fan-out path runs every day.
const migrate = migrateAll(["--local"]);
if (migrate.status !== 0) process.exit(migrate.status);

const extra = process.argv.slice(2);
const portArg = extra.findIndex((a) => a === "--port" || a.startsWith("--port="));
const port = portArg >= 0 ? (extra[portArg].split("=")[1] ?? extra[portArg + 1]) : (process.env.PORT ?? "8787");
// Locally, alarm hooks may be on this machine (docs/api/alarms.md): production leaves this off.
const args = [
  "dev",
  "--ip",
  "127.0.0.1",
  "--var",
  "ALARM_ALLOW_PRIVATE_TARGETS:true",
  ...(portArg >= 0 ? [] : ["--port", port]),
  ...extra,
];

console.log(`\nOpsHub on http://127.0.0.1:${port}  (docs: /docs)\nADMIN_TOKEN=${token}\n`);
const dev = spawn("npx", ["wrangler", ...args], { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));
