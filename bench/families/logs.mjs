// Task logs (/logs, /datasets/..., docs/api/logs.md): small logs posted one by one (the API
// has no bulk route), then bodies of 1 MB and 100 MB through R2 with the Worker's memory
// watched from outside (RSS of the workerd processes).
import { createHash } from "node:crypto";
import http from "node:http";
import { inBatches } from "../lib/seed.mjs";
import { watchMemory } from "../lib/server.mjs";

const NAMES = ["stdout", "stderr", "stdlog"];
const log = (n) => ({
  name: NAMES[n % 3],
  dataset_id: `d${n % 10}`,
  task_id: `t${Math.floor(n / 3) % 500}`,
  data: `${new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString()} task ${n}: processing event block ${n % 977}\n`.repeat(
    3,
  ),
});

/** A deterministic log text of `bytes` bytes, made of 1 MiB chunks. */
function* logText(bytes) {
  const line = '2026/01/01 12:00:00 pilot: event processed, "ok" \\ tab\tdone\n';
  const chunk = Buffer.from(line.repeat(Math.ceil((1 << 20) / line.length)).slice(0, 1 << 20));
  for (let left = bytes; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
}

const sha = () => createHash("sha256");

/** Streams `bytes` of log text as the raw body with a Content-Length (node:http, so nothing is buffered whole). */
function upload(baseUrl, token, path, bytes, { chunked = false } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, baseUrl);
    const hash = sha();
    const t0 = performance.now();
    const headers = {
      authorization: `Bearer ${token}`,
      "content-type": "text/plain",
      ...(chunked ? {} : { "content-length": bytes }),
    };
    const req = http.request(url, { method: "POST", headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () =>
        resolve({ status: res.statusCode, text, ms: performance.now() - t0, bytes, sha: hash.digest("hex") }),
      );
    });
    req.on("error", reject);
    const chunks = logText(bytes);
    const pump = () => {
      for (;;) {
        const { value, done } = chunks.next();
        if (done) return req.end();
        hash.update(value);
        if (!req.write(value)) return req.once("drain", pump);
      }
    };
    pump();
  });
}

/** Reads a response as a stream, counting bytes and hashing them (never holding the whole body). */
async function download(baseUrl, token, path, headers = {}) {
  const t0 = performance.now();
  const res = await fetch(new URL(path, baseUrl), { headers: { authorization: `Bearer ${token}`, ...headers } });
  const hash = sha();
  let bytes = 0;
  let head = "";
  for await (const chunk of res.body) {
    bytes += chunk.length;
    hash.update(chunk);
    if (head.length < 200) head += Buffer.from(chunk.subarray(0, 200)).toString();
  }
  return {
    status: res.status,
    bytes,
    ms: performance.now() - t0,
    sha: hash.digest("hex"),
    head: head.slice(0, 120),
    serverTiming: res.headers.get("server-timing"),
  };
}

const mb = (b) => (b / (1 << 20)).toFixed(1);
let posted = 0;

export default {
  name: "logs",
  notes: ["This API has no pages: `GET /logs` takes `limit`, the task route `num`; both stream their JSON."],
  title: "Task logs (`/logs`, `/datasets/...`)",
  unit: "logs",
  sizes: { quick: [300, 1500], full: [1000, 5000, 10_000] },

  async seed(ctx, from, to) {
    await inBatches(from, to, 1, 8, (n) => ctx.api.must({ method: "POST", path: "/logs", body: log(n) }));
  },

  probes(ctx) {
    const { api } = ctx;
    let oneId;
    const anId = async () =>
      (oneId ??= Object.keys((await api.must({ path: "/logs?dataset_id=d3&task_id=t7&limit=1&keys=name" })).json)[0]);
    return [
      {
        group: "first page",
        label: "GET /logs?limit=100&keys=name|timestamp",
        req: { path: "/logs?limit=100&keys=name|timestamp" },
      },
      { group: "filter", label: "GET /logs?name=stderr&limit=10", req: { path: "/logs?name=stderr&limit=10" } },
      { group: "filter", label: "GET /logs?dataset_id=d3&task_id=t7", req: { path: "/logs?dataset_id=d3&task_id=t7" } },
      {
        group: "filter",
        label: "GET /logs?from=..&to=.. (newest 10 s)",
        resolve: async () => ({
          path: `/logs?from=${new Date(Date.now() - 10_000).toISOString().slice(0, 19)}&keys=name`,
        }),
      },
      { group: "filter", label: "GET /datasets/d3/tasks/t7/logs", req: { path: "/datasets/d3/tasks/t7/logs" } },
      {
        group: "filter",
        label: "GET /datasets/d3/tasks/t7/logs?group=true",
        req: { path: "/datasets/d3/tasks/t7/logs?group=true" },
      },
      { group: "filter", label: "GET /logs/<id>", resolve: async () => ({ path: `/logs/${await anId()}` }) },
      { group: "write", label: "POST /logs", req: () => ({ method: "POST", path: "/logs", body: log(posted++) }) },
      {
        group: "write",
        label: "POST /datasets/d3/logs",
        req: () => ({ method: "POST", path: "/datasets/d3/logs", body: { ...log(posted++), dataset_id: undefined } }),
      },
    ];
  },

  routes(ctx) {
    let id;
    const prepare = async () =>
      (id ??= Object.keys((await ctx.api.must({ path: "/logs?dataset_id=d3&task_id=t7&limit=1&keys=name" })).json)[0]);
    return [
      { label: "GET /logs/<id>", kind: "read", prepare, make: () => ({ path: `/logs/${id}` }) },
      {
        label: "GET /logs?dataset_id=d3&task_id=t7",
        kind: "read",
        make: () => ({ path: "/logs?dataset_id=d3&task_id=t7" }),
      },
      {
        label: "GET /datasets/d3/tasks/t7/logs?group=true",
        kind: "read",
        make: () => ({ path: "/datasets/d3/tasks/t7/logs?group=true" }),
      },
      { label: "POST /logs", kind: "write", make: () => ({ method: "POST", path: "/logs", body: log(posted++) }) },
    ];
  },

  /** Bodies of 1 MB and 100 MB: R2 round trips, bytes and hashes checked, workerd RSS watched. */
  async extra(ctx) {
    const { service, api } = ctx;
    // A middle size shows whether the memory moves with the body (it would if a body were held whole).
    const big = ctx.bigMiB ?? (ctx.quick ? 20 : 100);
    const sizes = [1, ...(big > 10 ? [10] : []), big].map((m) => m << 20);
    const rows = [];
    const notes = [];
    const row = (size, op, r, mem, check) =>
      rows.push([
        `${mb(size)} MiB`,
        op,
        String(r.status),
        (r.ms / 1000).toFixed(2),
        mb(r.bytes ?? 0),
        r.ms ? ((r.bytes ?? 0) / (1 << 20) / (r.ms / 1000)).toFixed(0) : "—",
        `${(mem.beforeKiB / 1024).toFixed(0)} → ${(mem.peakKiB / 1024).toFixed(0)} (+${((mem.peakKiB - mem.beforeKiB) / 1024).toFixed(0)})`,
        mem.perProcess.map((p) => `${p.role} +${((p.peakKiB - p.beforeKiB) / 1024).toFixed(0)}`).join(", "),
        check,
      ]);
    for (const size of sizes) {
      ctx.log(`logs: ${mb(size)} MiB body`);
      const r2Before = service.r2Bytes();
      const up = await watchMemory(service, () =>
        upload(service.baseUrl, service.adminToken, `/logs/raw?name=stdout&dataset_id=big&task_id=t${size}`, size),
      );
      let id;
      try {
        id = JSON.parse(up.result.text || "{}").result;
      } catch {}
      const r2Grew = service.r2Bytes() - r2Before;
      row(
        size,
        "POST /logs/raw (streamed upload)",
        up.result,
        up,
        id ? `${up.result.status}; local R2 store +${mb(r2Grew)} MiB` : `no id: ${up.result.text.slice(0, 80)}`,
      );
      if (!id) continue;
      const r2BeforeChunked = service.r2Bytes();
      const chunked = await watchMemory(service, () =>
        upload(service.baseUrl, service.adminToken, `/logs/raw?name=stdout&dataset_id=big&task_id=c${size}`, size, {
          chunked: true,
        }),
      );
      let chunkedId;
      try {
        chunkedId = JSON.parse(chunked.result.text || "{}").result;
      } catch {}
      const chunkedGrew = service.r2Bytes() - r2BeforeChunked;
      row(
        size,
        "POST /logs/raw chunked (no Content-Length: R2 multipart)",
        chunked.result,
        chunked,
        chunkedId
          ? `${chunked.result.status}; local R2 store +${mb(chunkedGrew)} MiB`
          : `no id: ${chunked.result.text.slice(0, 80)}`,
      );
      if (chunkedId) await api.send({ method: "DELETE", path: `/logs/${chunkedId}` });
      const data = await watchMemory(service, () => download(service.baseUrl, service.adminToken, `/logs/${id}/data`));
      row(
        size,
        "GET /logs/<id>/data (text/plain)",
        data.result,
        data,
        data.result.sha === up.result.sha ? "same bytes (sha256)" : "DIFFERENT bytes",
      );
      const ranged = await download(service.baseUrl, service.adminToken, `/logs/${id}/data`, {
        range: "bytes=1000-1999",
      });
      rows.push([
        `${mb(size)} MiB`,
        "GET /logs/<id>/data, Range: bytes=1000-1999",
        String(ranged.status),
        (ranged.ms / 1000).toFixed(3),
        `${ranged.bytes} B`,
        "—",
        "—",
        "—",
        ranged.bytes === 1000 ? "1000 bytes" : `${ranged.bytes} bytes`,
      ]);
      const doc = await watchMemory(service, () => download(service.baseUrl, service.adminToken, `/logs/${id}`));
      row(
        size,
        "GET /logs/<id> (JSON, body escaped as it streams)",
        doc.result,
        doc,
        doc.result.bytes > size ? "JSON larger than body (escapes)" : `${doc.result.bytes} bytes`,
      );
      if (size <= 32 << 20) {
        // A JSON post is capped (LOG_JSON_MAX, 32 MiB), though it is parsed as it arrives.
        const text = Buffer.concat([...logText(size)]).toString();
        const t0 = performance.now();
        const r2BeforeJson = service.r2Bytes();
        const posted = await watchMemory(service, () =>
          api.send({ method: "POST", path: "/logs", body: { name: "stdout", data: text } }),
        );
        const check =
          posted.result.status === 201
            ? `201; local R2 store +${mb(service.r2Bytes() - r2BeforeJson)} MiB`
            : posted.result.text.slice(0, 80);
        row(
          size,
          "POST /logs (JSON body)",
          { ...posted.result, bytes: text.length, ms: performance.now() - t0 },
          posted,
          check,
        );
      }
      const r2BeforeDelete = service.r2Bytes();
      const del = await watchMemory(service, () => api.send({ method: "DELETE", path: `/logs/${id}` }));
      const gone = await api.send({ path: `/logs/${id}/data` });
      const freed = r2BeforeDelete - service.r2Bytes();
      row(
        size,
        "DELETE /logs/<id>",
        { ...del.result, bytes: 0 },
        del,
        `then GET → ${gone.status}; local R2 store −${mb(freed)} MiB`,
      );
    }
    notes.push(
      "Bodies above `LOG_INLINE_MAX` (64 KiB) live in R2: the check column shows the local R2 store (`--persist-to …/v3/r2`) growing by the body on upload and shrinking on delete. " +
        "A JSON post over `LOG_INLINE_MAX` is parsed as it arrives (never held whole) but is capped at `LOG_JSON_MAX` (32 MiB), so the 100 MiB body goes only through the raw upload.",
      "RSS is the resident memory of the two `wrangler dev` workerd processes, sampled every 50 ms from /proc: `proxy` (wrangler's proxy on the bench's port) and `Worker` " +
        "(the Worker's isolate together with miniflare's local D1, R2 and Durable Object simulators, which run in the same process, so the Worker's own heap cannot be told apart from outside). " +
        "RSS also keeps garbage that V8 has not collected yet. A body held whole in the Worker would add at least its size on every request; compare the rise across body sizes and across repeated requests. Production Workers have 128 MB.",
    );
    return [
      {
        title: "Log bodies through R2 (Worker memory)",
        headers: [
          "body",
          "request",
          "status",
          "seconds",
          "MiB moved",
          "MiB/s",
          "workerd RSS MiB, all processes: before → peak (+Δ)",
          "Δ per process",
          "check",
        ],
        rows,
        notes,
      },
    ];
  },
};
