#!/usr/bin/env node
// Applies migrations/ to every D1 database of wrangler.toml — the main DB and each shard
// (docs/deploy.md, "Shards"): they all carry the whole schema. Arguments go to
// `wrangler d1 migrations apply` (`--local`, `--remote`, `--persist-to DIR`).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The `binding` of each `[[d1_databases]]` table of wrangler.toml, in order. */
export function d1Bindings(toml = readFileSync(new URL("../wrangler.toml", import.meta.url), "utf8")) {
  const out = [];
  for (const table of toml.split(/^\[/m).slice(1)) {
    if (!table.startsWith("[d1_databases]]")) continue;
    const m = table.match(/^binding\s*=\s*"([^"]+)"/m);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Applies the migrations to each binding; the first failure's status, else 0. */
export function migrateAll(args, opts = {}) {
  for (const binding of d1Bindings()) {
    const r = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", binding, ...args], {
      stdio: "inherit",
      ...opts,
      env: { ...process.env, CI: "true", ...(opts.env ?? {}) },
    });
    if (r.status !== 0) return { status: r.status ?? 1, binding, stdout: r.stdout, stderr: r.stderr };
  }
  return { status: 0 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(migrateAll(process.argv.slice(2)).status);
