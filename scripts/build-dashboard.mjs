#!/usr/bin/env node
// Builds the dashboard's browser bundle: typechecks src/dashboard/ui (DOM types, its own
// tsconfig), then bundles main.ts with uPlot → public/dashboard/assets/app.js and app.css.
// wrangler runs it before `dev` and `deploy` ([build] in wrangler.toml), so the
// generated files exist whenever the assets are served.
import { spawnSync } from "node:child_process";
import { build } from "esbuild";

const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "src/dashboard/ui"], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

await build({
  entryPoints: { app: "src/dashboard/ui/main.ts" },
  outdir: "public/dashboard/assets",
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  logLevel: "warning",
});
