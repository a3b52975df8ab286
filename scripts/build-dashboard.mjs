#!/usr/bin/env node
// Builds the dashboard's browser bundle: typechecks src/dashboard/ui (DOM types, its own
// tsconfig), then bundles main.ts with uPlot → public/dashboard/assets/app.js and app.css.
// wrangler runs it before `dev` and `deploy` ([build] in wrangler.toml), so the
// generated files exist whenever the assets are served. It also copies the API reference
// UI (`/docs`) from the @scalar/api-reference package, pinned by the lock file, into
// public/docs/assets/, so the page loads nothing from a CDN.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "src/dashboard/ui"], {
  stdio: "inherit",
});
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

// The standalone browser bundle (one self-contained script) of the pinned version.
// (The package exports no path to it, so it is read from node_modules of the project root.)
const referenceDir = path.join("node_modules", "@scalar", "api-reference");
mkdirSync("public/docs/assets", { recursive: true });
copyFileSync(path.join(referenceDir, "dist/browser/standalone.js"), "public/docs/assets/api-reference.js");
