import { spawnSync } from "node:child_process";
import { connect } from "node:net";
import { beforeAll, describe, expect, inject, it } from "vitest";

// The IceProd REST client (rest_tools) sends `Authorization: Bearer <token>` and JSON bodies;
// pilots post stdout/stderr/stdlog of a task, the website reads the latest log per name.
const base = () => inject("baseUrl");
const admin = () => ({ Authorization: `Bearer ${inject("adminToken")}` });

async function api(
  path: string,
  init: { method?: string; token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = {
    ...(init.token ? { Authorization: `Bearer ${init.token}` } : admin()),
    ...init.headers,
  };
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers["Content-Type"] = "application/json";
  }
  return fetch(`${base()}${path}`, { method: init.method ?? "GET", headers, body, duplex: "half" } as RequestInit);
}
async function json(path: string, init: Parameters<typeof api>[1] = {}) {
  const res = await api(path, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, res };
}

let pilot: string;
let website: string;

beforeAll(async () => {
  const mint = async (user: string, role: string, groups: string[] = []) =>
    (await json("/auth/tokens", { method: "POST", json: { user, role, groups } })).body.token as string;
  pilot = await mint("pilot", "system");
  website = await mint("web", "user", ["simprod"]);
  const access = await json("/auth/datasets/d1234", {
    method: "PUT",
    json: { read_groups: ["simprod"], write_groups: ["simprod"], read_users: [], write_users: [] },
  });
  expect(access.status).toBe(200);
});

describe("IceProd logs over real HTTP", () => {
  it("a pilot posts a task's logs, the website reads the latest per name", async () => {
    const posted: string[] = [];
    for (const name of ["stdout", "stderr", "stdlog", "stdout"]) {
      const r = await json("/logs", {
        method: "POST",
        token: pilot,
        json: { name, data: `${name} text\n`, dataset_id: "d1234", task_id: "t5678" },
      });
      expect(r.status).toBe(201);
      expect(r.body.result).toMatch(/^[0-9a-f]{32}$/);
      posted.push(r.body.result);
    }
    const latest = await json("/datasets/d1234/tasks/t5678/logs?group=true&order=desc&keys=log_id|name|data", {
      token: website,
    });
    expect(latest.status).toBe(200);
    expect(latest.body).toEqual({
      logs: [
        { log_id: posted[3], name: "stdout", data: "stdout text\n" },
        { log_id: posted[2], name: "stdlog", data: "stdlog text\n" },
        { log_id: posted[1], name: "stderr", data: "stderr text\n" },
      ],
    });
    expect(latest.res.headers.get("server-timing")).toMatch(/rows_read=\d+/);
    const search = await json("/logs?dataset_id=d1234&name=stdout&keys=data", { token: pilot });
    expect(Object.keys(search.body)).toEqual([posted[0], posted[3]]);
    expect(await json("/logs", { token: "wrong" })).toMatchObject({
      status: 403,
      body: { code: 403, error: "authentication failed" },
    });
  });

  it("uploads a raw body with and without Content-Length and reads it back with Range", async () => {
    const text = `${"x".repeat(3 * 1024 * 1024)}end\n`;
    const known = await json("/logs/raw?name=stdout&dataset_id=d1234&task_id=raw1", {
      method: "POST",
      token: pilot,
      body: text,
      headers: { "Content-Type": "text/plain" },
    });
    expect(known.status).toBe(201);
    // A body of unknown length goes chunked (R2 multipart on the server).
    const bytes = new TextEncoder().encode(`${"y".repeat(9 * 1024 * 1024)}tail\n`);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < bytes.byteLength; at += 1 << 20) c.enqueue(bytes.subarray(at, at + (1 << 20)));
        c.close();
      },
    });
    const unknown = await json("/datasets/d1234/logs/raw?name=stderr&task_id=raw1", {
      method: "POST",
      token: website,
      body: chunked,
    });
    expect(unknown.status).toBe(201);

    const back = await api(`/logs/${known.body.result}/data`, { token: pilot });
    expect(await back.text()).toBe(text);
    const tail = await api(`/datasets/d1234/logs/${unknown.body.result}/data`, {
      token: website,
      headers: { Range: "bytes=-5" },
    });
    expect(tail.status).toBe(206);
    expect(await tail.text()).toBe("tail\n");
    const doc = await json(`/logs/${unknown.body.result}`, { token: pilot });
    expect(doc.body.data.length).toBe(bytes.byteLength);
  });

  it("stores nothing when a chunked upload is cut off", async () => {
    const url = new URL(base());
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `POST /logs/raw?name=cutoff HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${pilot}\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        const chunk = "z".repeat(1 << 20);
        for (let i = 0; i < 12; i++) socket.write(`${(chunk.length).toString(16)}\r\n${chunk}\r\n`);
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 500);
      });
      socket.on("error", reject);
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await json("/logs?name=cutoff&keys=name", { token: pilot })).toMatchObject({ status: 200, body: {} });
  });

  it("deletes a dataset's logs streaming NDJSON progress to a caller that asks for it", async () => {
    const res = await api("/datasets/d1234/logs", {
      method: "DELETE",
      token: website,
      headers: { Accept: "application/x-ndjson" },
    });
    expect(res.status).toBe(200);
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ status: "deleting", percent_complete: 100, total: 6 });
    expect(lines.at(-1)).toEqual({ status: "complete", percent_complete: 100 });
    expect((await json("/datasets/d1234/tasks/t5678/logs", { token: website })).status).toBe(404);
  });

  it("serves IceProd's RestClient, dataset delete included, as one JSON document per call", async () => {
    const access = await json("/auth/datasets/d9999", {
      method: "PUT",
      json: { read_groups: ["simprod"], write_groups: ["simprod"], read_users: [], write_users: [] },
    });
    expect(access.status).toBe(200);
    // Debian's python3 with python3-requests, the HTTP library rest_tools builds on.
    const r = spawnSync("/usr/bin/python3", ["test/e2e/rest_tools_replay.py", base(), website, "d9999"], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.posted).toHaveLength(2);
    for (const p of out.posted) expect(p.result).toMatch(/^[0-9a-f]{32}$/);
    expect(out.logs.logs.map((l: { name: string }) => l.name).sort()).toEqual(["stderr", "stdout"]);
    expect(out.logs.logs.find((l: { name: string }) => l.name === "stdout").data).toBe(
      "stdout \u001b[31mtext\u001b[0m\n",
    );
    expect(out.deleted).toEqual({ status: "complete", percent_complete: 100 });
    expect(out.after).toBe(404);
  });
});

describe("a pilot's token over real HTTP", () => {
  it("reads an empty log's body with any Range as 416 bytes */0", async () => {
    const empty = await json("/logs", { method: "POST", token: pilot, json: { data: "", name: "stdlog" } });
    expect(empty.status).toBe(201);
    const res = await api(`/logs/${empty.body.result}/data`, { token: pilot, headers: { Range: "bytes=-5" } });
    expect(res.status).toBe(416);
    expect(res.headers.get("content-range")).toBe("bytes */0");
    expect(await res.json()).toEqual({ code: 416, error: "range not satisfiable" });
  });

  it("reaches nothing but the logs: 403 from every other family, in its dialect", async () => {
    const refused: Array<[string, unknown]> = [
      ["/api/v1/sessions/count", { message: "authorization failed" }],
      ["/v2/samples", { error: { code: 403, title: "Forbidden", message: "authorization failed" } }],
      ["/v2/d1234/sessions", { title: "Access Forbidden", description: "You are not allowed to access this resource" }],
      ["/api/daemon/status", { code: 1006, msg: "permission denied: authorization failed" }],
      ["/dashboard/api/daemons", { message: "authorization failed" }],
      ["/auth/whoami", { message: "authorization failed" }],
    ];
    for (const [path, body] of refused) {
      const res = await json(path, { token: pilot });
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 403, body });
    }
  });
});
