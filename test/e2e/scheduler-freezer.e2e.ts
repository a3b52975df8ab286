import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";

/**
 * The real client, unchanged: Debian's python3-freezerclient 5.0 (`freezer`), logging in
 * through the Keystone shim with an OpsHub token, against a real `wrangler dev`.
 * CI installs it (`.ci/run`); locally: `apt-get install -y python3-freezerclient`.
 */
const base = inject("baseUrl");
const project = `freezer-e2e-${Date.now().toString(36)}`;
const dir = mkdtempSync(path.join(tmpdir(), "freezer-e2e-"));
let token = "";

function freezerEnv(overrides: Record<string, string> = {}) {
  return {
    ...process.env,
    OS_AUTH_URL: `${base}/v3`,
    OS_TOKEN: token,
    OS_PROJECT_ID: project,
    OS_BACKUP_URL: base,
    OS_BACKUP_API_VERSION: "2",
    ...overrides,
  };
}

/** Runs `freezer <args>`; returns its exit code and everything it printed. */
function freezer(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("freezer", args, { env: freezerEnv(env), encoding: "utf8", timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

/** A command that must succeed; its output is shown when it does not. */
function ok(args: string[], env: Record<string, string> = {}) {
  const r = freezer(args, env);
  expect(r.code, `freezer ${args.join(" ")}\n${r.out}`).toBe(0);
  return r;
}

const json = <T = any>(args: string[]): T => JSON.parse(ok([...args, "-f", "json"]).stdout);

/** The interpreter the `freezer` command runs on (its shebang), which has freezerclient. */
function freezerPython(): string {
  const where = spawnSync("sh", ["-c", "command -v freezer"], { encoding: "utf8" }).stdout.trim();
  const shebang = readFileSync(where, "utf8").split("\n")[0];
  return /^#!\s*(\S+)/.exec(shebang)?.[1] ?? "python3";
}

function file(name: string, content: unknown) {
  const p = path.join(dir, name);
  writeFileSync(p, JSON.stringify(content));
  return p;
}

beforeAll(async () => {
  const which = spawnSync("freezer", ["--version"], { encoding: "utf8" });
  if (which.error || which.status !== 0) {
    throw new Error(
      "The `freezer` command (Debian's python3-freezerclient) is not installed, so the scheduler's real-client check cannot run.\n" +
        "Install it with: apt-get update && apt-get install -y python3-freezerclient",
    );
  }
  // A user token bound to the project, as an operator would hand out.
  const res = await fetch(`${base}/auth/tokens`, {
    method: "POST",
    headers: { "X-Auth-Token": inject("adminToken"), "content-type": "application/json" },
    body: JSON.stringify({ user: "backup-operator", role: "user", projects: [project] }),
  });
  expect(res.status).toBe(201);
  token = ((await res.json()) as { token: string }).token;
});

describe("freezer CLI against OpsHub", () => {
  let sessionId = "";
  let otherId = "";
  const jobId = "nightly-fs";

  it("session-create / session-list / --search / session-show", () => {
    const created = ok([
      "session-create",
      "--file",
      file("s.json", {
        description: "consistent snapshot",
        hold_off: 120,
        schedule: { schedule_interval: "1 days", schedule_start_date: "2026-01-01T02:00:00" },
      }),
    ]);
    sessionId = /Session ([0-9a-f]{32}) created/.exec(created.out)?.[1] ?? "";
    expect(sessionId, created.out).toMatch(/^[0-9a-f]{32}$/);
    otherId = /Session ([0-9a-f]{32}) created/.exec(
      ok(["session-create", "--file", file("o.json", { description: "weekly archive", schedule: {} })]).out,
    )![1];

    const table = ok(["session-list"]).stdout;
    expect(table).toContain(sessionId);
    expect(table).toContain("consistent snapshot");
    expect(table).toContain(otherId);

    const found = json(["session-list", "--search", "snapshot"]);
    expect(found).toEqual([
      { "Session ID": sessionId, Description: "consistent snapshot", Status: "active", Result: "", "# Jobs": 0 },
    ]);

    const shown = json(["session-show", sessionId]);
    expect(shown).toMatchObject({
      "Session ID": sessionId,
      "Session tag": 0,
      Description: "consistent snapshot",
      Status: "active",
      "Hold off": 120,
      "Last start": -1,
      "Time start": -1,
      "Time end": -1,
      "Project id": project,
      "User id": "backup-operator",
    });
    expect(shown.Schedule).toContain("'schedule_interval': '1 days'");
  });

  it("session-update", () => {
    ok(["session-update", sessionId, file("u.json", { description: "consistent snapshot v2" })]);
    expect(json(["session-show", sessionId]).Description).toBe("consistent snapshot v2");
  });

  it("job-create / job-list (--client, --search) / job-show", () => {
    const created = ok([
      "job-create",
      "--client",
      "db-node-1",
      "--file",
      file("j.json", {
        job_id: jobId,
        description: "fs backup of /etc",
        job_actions: [{ freezer_action: { action: "backup", mode: "fs", path_to_backup: "/etc" }, max_retries: 3 }],
        job_schedule: { status: "scheduled" },
      }),
    ]);
    expect(created.out).toContain(`Job ${jobId} created`);

    const all = json(["job-list"]);
    expect(all).toContainEqual({
      "Job ID": jobId,
      Description: "fs backup of /etc",
      "# Actions": 1,
      Result: "",
      Status: "scheduled",
      Event: "",
      "Session ID": "",
    });
    expect(json(["job-list", "--client", "db-node-1"]).map((j: any) => j["Job ID"])).toEqual([jobId]);
    // With nothing to list, the client prints one empty row.
    expect(json(["job-list", "--client", "nobody"]).map((j: any) => j["Job ID"])).toEqual([""]);
    expect(json(["job-list", "--search", "/etc"]).map((j: any) => j["Job ID"])).toEqual([jobId]);

    const shown = json(["job-show", jobId]);
    expect(shown).toMatchObject({
      "Job ID": jobId,
      "Client ID": "db-node-1",
      "User ID": "backup-operator",
      Description: "fs backup of /etc",
      Status: "scheduled",
    });
    expect(shown.Actions).toContain("'path_to_backup': '/etc'");
  });

  it("session-add-job, session-start and the library's end call", () => {
    ok(["session-add-job", "--session-id", sessionId, "--job-id", jobId]);
    const job = json(["job-show", jobId]);
    expect(job["Session ID"]).toBe(sessionId);
    expect(job.Interval).toBe("1 days");
    expect(json(["session-list", "--search", "v2"])[0]["# Jobs"]).toBe(1);

    ok(["session-start", "--session-id", sessionId, "--job-id", jobId, "--job-tag", "0"]);
    let shown = json(["session-show", sessionId]);
    expect(shown).toMatchObject({ "Session tag": 1, Status: "running" });
    expect(shown.Jobs).toContain("'status': 'running'");

    // A tag above the session's is refused with Freezer's error text.
    const high = freezer(["session-start", "--session-id", sessionId, "--job-id", jobId, "--job-tag", "7"]);
    expect(high.code).not.toBe(0);
    expect(high.out).toContain("requested tag value too high. Session Tag: 1 Job Tag: 7");

    // No CLI command ends a session: freezer-scheduler calls the library, as here.
    const script = [
      "import json, os, sys",
      "from freezerclient.v2 import client",
      "c = client.Client(token=os.environ['OS_TOKEN'], auth_url=os.environ['OS_AUTH_URL'], endpoint=os.environ['OS_BACKUP_URL'], project_id=os.environ['OS_PROJECT_ID'])",
      "print(json.dumps(c.sessions.end_session(sys.argv[1], sys.argv[2], 1, 'success')))",
    ].join("\n");
    const r = spawnSync(freezerPython(), ["-c", script, sessionId, jobId], {
      env: freezerEnv(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ result: "success", session_tag: 1 });
    shown = json(["session-show", sessionId]);
    expect(shown).toMatchObject({ Status: "completed", Result: "success" });
    expect(shown["Time end"]).toBeGreaterThan(0);
  });

  it("session-remove-job stops the job", () => {
    ok(["session-remove-job", "--session-id", sessionId, "--job-id", jobId]);
    expect(json(["session-show", sessionId]).Jobs).toBe("{}");
    expect(json(["job-show", jobId])).toMatchObject({ "Session ID": "", Event: "stop" });
  });

  it("session-delete, then the session is gone", () => {
    ok(["session-delete", otherId]);
    ok(["session-delete", sessionId]);
    const gone = freezer(["session-show", sessionId]);
    expect(gone.code).not.toBe(0);
    expect(gone.out).toContain("Session not found");
    expect(ok(["session-list"]).stdout).not.toContain(sessionId);
  });

  it("prints the API's error description, and refuses another project at login", () => {
    const bad = freezer(["session-create", "--file", file("bad.json", { description: "no schedule" })]);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain("[*] Error 400: 'schedule' is a required property");

    const elsewhere = freezer(["session-list"], { OS_PROJECT_ID: `${project}-not-mine` });
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.out).toMatch(/401|Unauthorized/);
  });
});
