// Starts the Worker under a real `wrangler dev` with fresh local state, as test/e2e/server.ts
// does, but from a bundle built once at start: wrangler dev watches its sources, and a file
// saved mid-run (someone else editing src/) would restart the Worker under the load.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { d1Bindings } from "../../scripts/migrate.mjs";

const quietEnv = () => ({ ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" });

function wrangler(args, opts = {}) {
  const r = spawnSync("npx", ["wrangler", ...args], {
    encoding: "utf8",
    env: quietEnv(),
    maxBuffer: 64 << 20,
    ...opts,
  });
  if (r.status !== 0) throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A free loopback port: `preferred` if it is free, else whatever the OS gives. */
export function freePort(preferred = 0) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(freePort(0)));
    srv.listen(preferred, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The workerd processes under `pid` (wrangler runs two: its proxy and the Worker itself). */
function workerdPids(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push({ pid: Number(entry), comm });
    } catch {}
  }
  const found = [];
  const walk = (p) => {
    for (const c of children.get(p) ?? []) {
      if (c.comm === "workerd") found.push(c.pid);
      walk(c.pid);
    }
  };
  walk(pid);
  return found;
}

/** wrangler's proxy listens on our port; the other workerd runs the Worker with its local bindings. */
function roleOf(pid, port) {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes(`entry=127.0.0.1:${port}`) ? "proxy" : "Worker";
  } catch {
    return "?";
  }
}

function rssKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Builds the Worker, applies the migrations to a fresh state directory (every D1 database) and starts
 * `wrangler dev` on loopback. Returns { baseUrl, adminToken, rss(), stop() }.
 */
export async function startService({ root, port: preferred = 8795, log = () => {}, logLevel = "warn", vars = {} }) {
  const work = path.join(root, "bench", ".work");
  mkdirSync(work, { recursive: true });
  const build = mkdtempSync(path.join(work, "build-"));
  const state = mkdtempSync(path.join(tmpdir(), "opshub-bench-"));
  log(`building the Worker into ${path.relative(root, build)}`);
  // Another helper may be mid-edit: a failed build is retried a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      wrangler(["deploy", "--dry-run", "--outdir", build], { cwd: root });
      break;
    } catch (e) {
      if (attempt >= 5) throw e;
      log(`build failed (attempt ${attempt}), retrying in 10 s`);
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
  log(`applying migrations to ${state}`);
  // Every D1 database of wrangler.toml: the main DB and the shards.
  for (const binding of d1Bindings())
    wrangler(["d1", "migrations", "apply", binding, "--local", "--persist-to", state], { cwd: root });

  const port = await freePort(preferred);
  const adminToken = `bench-admin-${Date.now()}`;
  const args = [
    "wrangler",
    "dev",
    path.join(build, "index.js"),
    "--config",
    path.join(root, "wrangler.toml"),
    "--no-bundle",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    state,
    "--var",
    `ADMIN_TOKEN:${adminToken}`,
    // `vars` override wrangler.toml's (bench/families/shards.mjs runs one service with SHARDS=DB).
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    "--show-interactive-dev-session=false",
    "--log-level",
    logLevel,
    // GET /__scheduled fires the Cron Trigger (bench/families/telemetry-scale.mjs).
    "--test-scheduled",
  ];
  const dev = spawn("npx", args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...quietEnv(), ADMIN_TOKEN: adminToken },
    detached: true,
  });
  let output = "";
  const keep = (d) => {
    output += d;
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  dev.stdout.on("data", keep);
  dev.stderr.on("data", keep);
  const baseUrl = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolve) => dev.once("exit", resolve));
  /** Ends this wrangler dev (its whole process group, which we started) and removes its state. */
  const stop = async () => {
    try {
      process.kill(-dev.pid, "SIGTERM");
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    rmSync(state, { recursive: true, force: true });
    rmSync(build, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline || dev.exitCode !== null) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  log(`wrangler dev ready on ${baseUrl}`);
  return {
    baseUrl,
    adminToken,
    state,
    /** Resident memory of each workerd process of this wrangler dev, KiB. */
    rss: () => workerdPids(dev.pid).map((pid) => ({ pid, kib: rssKiB(pid), role: roleOf(pid, port) })),
    output: () => output,
    /** Bytes the local R2 simulator holds on disk (its blobs and metadata). */
    r2Bytes: () => dirBytes(path.join(state, "v3", "r2")),
    stop,
  };
}

/**
 * Samples the workerd processes' RSS every `everyMs` while `work` runs: { result, before, peak } (KiB, summed and per
 * process).
 */
export async function watchMemory(service, work, everyMs = 50) {
  const sum = (xs) => xs.reduce((a, x) => a + x.kib, 0);
  const before = service.rss();
  const peakOf = new Map(before.map((x) => [x.pid, x.kib]));
  let peakSum = sum(before);
  const timer = setInterval(() => {
    const now = service.rss();
    peakSum = Math.max(peakSum, sum(now));
    for (const x of now) peakOf.set(x.pid, Math.max(peakOf.get(x.pid) ?? 0, x.kib));
  }, everyMs);
  try {
    const result = await work();
    return {
      result,
      beforeKiB: sum(before),
      peakKiB: peakSum,
      perProcess: before.map((x) => ({ pid: x.pid, role: x.role, beforeKiB: x.kib, peakKiB: peakOf.get(x.pid) })),
    };
  } finally {
    clearInterval(timer);
  }
}

function dirBytes(dir) {
  let total = 0;
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else {
      try {
        total += statSync(p).size;
      } catch {}
    }
  }
  return total;
}
