import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { d1Bindings } from "../../scripts/migrate.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    adminToken: string;
    /** The dev server's local state (`--persist-to`), for `wrangler d1 execute --local`. */
    stateDir: string;
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });

export interface DevServer {
  baseUrl: string;
  adminToken: string;
  stateDir: string;
  stop(): void;
}

/**
 * Starts `wrangler dev` on a free port with its own fresh local state, as `npm start` does,
 * with `--test-scheduled` so a test can fire the Cron Trigger (`GET /__scheduled?cron=…`).
 * `vars` override wrangler.toml's (the global server uses MONITOR_PAGE_SIZE 500; a test
 * file that needs other values starts its own server with this).
 */
export async function startDevServer(vars: Record<string, string> = {}): Promise<DevServer> {
  const state = mkdtempSync(path.join(tmpdir(), "opshub-e2e-"));
  const adminToken = `e2e-admin-${Date.now()}`;
  // Every D1 database of wrangler.toml: the main DB and the shards.
  for (const binding of d1Bindings()) {
    const migrate = spawnSync(
      "npx",
      ["wrangler", "d1", "migrations", "apply", binding, "--local", "--persist-to", state],
      { encoding: "utf8", env: { ...process.env, CI: "true" } },
    );
    if (migrate.status !== 0) throw new Error(`migrations of ${binding} failed:\n${migrate.stdout}\n${migrate.stderr}`);
  }
  const port = await freePort();
  const varArgs = Object.entries({ MONITOR_PAGE_SIZE: "500", ...vars }).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const dev = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state,
      "--var",
      `ADMIN_TOKEN:${adminToken}`,
      ...varArgs,
      "--test-scheduled",
      "--show-interactive-dev-session=false",
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true" }, detached: true },
  );
  const stop = () => {
    if (dev.pid) {
      try {
        process.kill(-dev.pid, "SIGTERM");
      } catch {}
    }
    rmSync(state, { recursive: true, force: true });
  };
  let output = "";
  dev.stdout?.on("data", (d) => (output += d));
  dev.stderr?.on("data", (d) => (output += d));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${baseUrl}/health`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline || dev.exitCode !== null) {
      stop();
      throw new Error(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { baseUrl, adminToken, stateDir: state, stop };
}

let server: DevServer | undefined;

/** The server every e2e file shares (`inject("baseUrl")`). */
export async function setup(project: TestProject) {
  server = await startDevServer();
  project.provide("baseUrl", server.baseUrl);
  project.provide("adminToken", server.adminToken);
  project.provide("stateDir", server.stateDir);
}

export async function teardown() {
  server?.stop();
}
