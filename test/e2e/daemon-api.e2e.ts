import { request } from "node:http";
import { gunzipSync } from "node:zlib";
import { describe, expect, inject, it } from "vitest";
import { tokenFor } from "./tokens";

// The real DataHub daemon (v2.1.0) over HTTP against `wrangler dev`: it is pointed here
// by DATAHUB_SERVER=<base> and always adds `/api`, so it beats `POST <base>/api/heartbeat`
// every 5 s. Its Go client sends no Content-Type and no Authorization, and reads only
// `code` from the answer. These requests are built byte for byte the way it builds them.
const base = () => inject("baseUrl");

/** encoding/json's output: JSON.stringify plus Go's HTML-safe escapes. */
const goJson = (v: unknown) =>
  JSON.stringify(v)
    .replaceAll("<", "\\u003c")
    .replaceAll(">", "\\u003e")
    .replaceAll("&", "\\u0026")
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");

/** A request with exactly the headers Go's net/http client sends, and nothing else. */
function goRequest(
  method: "GET" | "POST",
  path: string,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const url = new URL(path, base());
  const bytes = body === undefined ? undefined : Buffer.from(body, "utf8");
  const headers: Record<string, string> = { "User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip" };
  if (bytes) headers["Content-Length"] = String(bytes.byteLength);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, setHost: true },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        // Go's transport asked for gzip itself, so it also undoes it before the daemon reads the body.
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const text = (res.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (bytes) req.write(bytes);
    req.end();
  });
}

/** What the daemon does with an answer: `code` 0 is "available", anything else (or no code) is not. */
function daemonReads(text: string): number | undefined {
  return (JSON.parse(text) as { code?: number }).code;
}

// Lines as its logger queues them: `log.Print([]interface{}{line})` after a timestamp,
// the level in ANSI colours, the whole in brackets, ending in a newline.
const queuedLines = [
  "2026/12/01 21:29:09 [\u001b[31m[ERROR] \u001b[0mdaemon.HeartBeat() heartbeat.go:97 Post http://hub/api/heartbeat: dial tcp: connection refused]\n",
  '2026/12/01 21:29:19 [\u001b[33m[WARN] \u001b[0mdaemon.checkHealth() tag <rep/item:2015> & "file" missing]\n',
];

describe("the DataHub daemon's own traffic at /api", () => {
  it("beats, is online with its entrypoint, and its log lines come back as sent", async () => {
    const user = `e2e-daemon-${Date.now()}`;
    const token = await tokenFor(user);
    // The daemon is started with the user's token and asks for its id once, under /api too.
    const idRes = await fetch(`${base()}/api/daemon/id`, { headers: { Authorization: `Token ${token}` } });
    expect(idRes.status).toBe(200);
    const { daemonid } = (await idRes.json()) as { daemonid: string };
    const clientrypoint = "127.0.0.1:35600?daemonauth=0123456789abcdef0123456789abcdef";

    // First beat: no log yet, entrypoint as it found it, role 0 (a puller), and clientrypoint.
    const first = await goRequest(
      "POST",
      "/api/heartbeat",
      goJson({ daemonid, entrypoint: ["http://127.0.0.1:35800"], role: 0, clientrypoint }),
    );
    expect(first.status).toBe(200);
    expect(daemonReads(first.text)).toBe(0);
    expect(JSON.parse(first.text)).toEqual({ code: 0, msg: "OK", data: {} });

    // A later beat with the lines it queued meanwhile.
    const second = await goRequest(
      "POST",
      "/api/heartbeat",
      goJson({ daemonid, entrypoint: ["http://127.0.0.1:35800"], log: queuedLines, role: 0, clientrypoint }),
    );
    expect(daemonReads(second.text)).toBe(0);

    // Its status page forwards to <server>/api/heartbeat/status/<user>.
    const status = await goRequest("GET", `/api/heartbeat/status/${user}`);
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text)).toEqual({ status: "online" });
    const ep = await fetch(`${base()}/api/daemon/ep/${user}`, { headers: { Authorization: `Token ${token}` } });
    expect(await ep.json()).toEqual({ entrypoint: ["http://127.0.0.1:35800"] });
    const log = await fetch(`${base()}/api/daemon/log/0?range=1`, { headers: { Authorization: `Token ${token}` } });
    expect(await log.json()).toEqual({ log: [queuedLines[1], queuedLines[0]] });
  });

  it("publishes abnormal tags as role 1 and clears them by leaving them out", async () => {
    const user = `e2e-publisher-${Date.now()}`;
    const token = await tokenFor(user);
    const { daemonid } = (await (
      await fetch(`${base()}/api/daemon/id`, { headers: { Authorization: `Token ${token}` } })
    ).json()) as {
      daemonid: string;
    };
    const tag = `${user}/weather:2015`;
    const tagged = await goRequest(
      "POST",
      "/api/heartbeat",
      goJson({ daemonid, entrypoint: ["http://127.0.0.1:35800"], role: 1, abnormaltags: [tag] }),
    );
    expect(daemonReads(tagged.text)).toBe(0);
    const q = `/api/daemon/tags/status?repname=${user}&itemname=weather`;
    expect(await (await fetch(`${base()}${q}`)).json()).toEqual({ status: "ABNORMAL", total: 1, results: [tag] });
    await goRequest("POST", "/api/heartbeat", goJson({ daemonid, entrypoint: ["http://127.0.0.1:35800"], role: 1 }));
    expect(await (await fetch(`${base()}${q}&tagname=2015`)).json()).toEqual({
      status: "NORMAL",
      total: 0,
      results: null,
    });
  });

  it("tells a daemon with an unknown id that it is not registered, and never answers /api without a code", async () => {
    const unknown = await goRequest(
      "POST",
      "/api/heartbeat",
      goJson({ daemonid: "ffffffffffffffffffffffffffffffffffffffff", entrypoint: ["http://127.0.0.1:35800"], role: 0 }),
    );
    expect(unknown.status).toBe(403);
    expect(JSON.parse(unknown.text)).toEqual({ code: 6002, msg: "user not registered yet" });
    // A daemon started without --token beats with no id: the original answer, 6201.
    const empty = await goRequest("POST", "/api/heartbeat", goJson({ daemonid: "", entrypoint: null, role: 0 }));
    expect(daemonReads(empty.text)).toBe(6201);
    // Routes OpsHub does not serve (the daemon's notifications poll) still carry a code.
    const miss = await goRequest("GET", "/api/notifications?forclient=1&type=item_event&status=0");
    expect(miss.status).toBe(404);
    expect(JSON.parse(miss.text)).toEqual({ code: 1009, msg: "not found" });
    // A daemon misconfigured with `/api` in DATAHUB_SERVER beats /api/api/heartbeat: refused with a code, not
    // "available".
    const doubled = await goRequest(
      "POST",
      "/api/api/heartbeat",
      goJson({ daemonid: "ffffffffffffffffffffffffffffffffffffffff", entrypoint: null, role: 0 }),
    );
    expect(daemonReads(doubled.text)).toBe(1009);
  });
});
