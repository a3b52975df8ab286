import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, callJson } from "./helpers/http";
import { bucketKeys, expectGone, grantDataset, logRow, logsCallers, postLog, readLines } from "./helpers/logs";

const MiB = 1024 * 1024;
let t: Awaited<ReturnType<typeof logsCallers>>;

beforeAll(async () => {
  t = await logsCallers();
  await grantDataset("bodies");
});

/** `n` characters of log text with everything JSON must escape, and 2- and 4-byte UTF-8. */
function logText(n: number): string {
  const unit = 'step 42 "quoted" back\\slash\ttab\u0001ctl é 🚀 done\n';
  let text = unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  // Never end on half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(text)) text = `${text.slice(0, -1)}x`;
  return text;
}
const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;

/** Deterministic 1 MiB chunks of log lines (chunk i starts with its number), generated as read. */
function chunkAt(i: number, size: number): Uint8Array {
  const line = new TextEncoder().encode(`chunk ${String(i).padStart(8, "0")} ${"x".repeat(48)}\n`);
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += line.byteLength)
    out.set(line.subarray(0, Math.min(line.byteLength, size - at)), at);
  return out;
}
function generated(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(MiB, total - sent);
      controller.enqueue(chunkAt(i++, n));
      sent += n;
    },
  });
}
/** `total` bytes of "x", a MiB at a time: valid inside a JSON string. */
function xs(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MiB).fill(0x78);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      controller.enqueue(chunk.subarray(0, Math.min(MiB, total - sent)));
      sent += MiB;
    },
  });
}
/** `head`, then everything `rest` yields. */
function concatStreams(head: Uint8Array, rest: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = rest.getReader();
  let first = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (first) {
        first = false;
        return controller.enqueue(head);
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
}
/** SHA-256 and size of a stream, reading it a chunk at a time. */
async function digestOf(stream: ReadableStream<Uint8Array>): Promise<{ bytes: number; sha256: string }> {
  const digest = new crypto.DigestStream("SHA-256");
  let bytes = 0;
  await stream
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          bytes += chunk.byteLength;
          c.enqueue(chunk);
        },
      }),
    )
    .pipeTo(digest);
  const sha256 = [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { bytes, sha256 };
}

describe("where a body lives (LOG_INLINE_MAX = 65536 UTF-8 bytes) is invisible to clients", () => {
  it("keeps 65,536 bytes inline and puts 65,537 in R2, both read back the same", async () => {
    const atLimit = "é".repeat(32_768); // 65,536 bytes of UTF-8, 32,768 characters
    const over = `${atLimit}a`;
    const inlineId = await postLog({ data: atLimit, name: "edge" }, { token: t.system });
    const r2Id = await postLog({ data: over, name: "edge" }, { token: t.system });
    expect(await logRow(inlineId)).toMatchObject({ in_r2: 0, body_bytes: 65_536, data: atLimit });
    expect(await logRow(r2Id)).toMatchObject({ in_r2: 1, body_bytes: 65_537, data: null });
    expect(await env.LOG_BODIES.head(`logs/${inlineId}`)).toBeNull();
    expect((await env.LOG_BODIES.head(`logs/${r2Id}`))!.size).toBe(65_537);
    expect((await callJson(`/logs/${inlineId}`, { token: t.system })).body.data).toBe(atLimit);
    expect((await callJson(`/logs/${r2Id}`, { token: t.system })).body.data).toBe(over);
  });

  it("stores a post read whole (at most 65,536 bytes) as it stores the same post streamed (just over)", async () => {
    const fields = { name: "stdout", task_id: "edge", site: "héré", none: null };
    // A document of exactly `size` UTF-8 bytes: escapes, \u escapes, 2- and 4-byte UTF-8 in data.
    const docOf = (size: number) => {
      const base = JSON.stringify({ ...fields, data: "" }).replace(
        '"data":""',
        '"data":"\\u00e9 \\ud83d\\ude80 \\" \\\\ \\t é 🚀 \\u001b[1m ',
      );
      const text = `${base}${"l".repeat(size - utf8(base) - 2)}"}`;
      expect(utf8(text)).toBe(size);
      return text;
    };
    /** The row and the answer of a post, without what the server makes anew for each. */
    const stored = async (body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) => {
      const res = await callJson("/datasets/bodies/logs", { method: "POST", body, headers, token: t.writer });
      expect(res.status).toBe(201);
      const id = res.body.result as string;
      const row = (await env.DB.prepare("SELECT * FROM logs WHERE log_id = ?")
        .bind(id)
        .first<Record<string, unknown>>())!;
      const { seq: _s, log_id: _l, ts_us: _u, timestamp: _t, ...kept } = row;
      const {
        log_id: _i,
        timestamp: _ts,
        ...doc
      } = (await callJson(`/datasets/bodies/logs/${id}`, { token: t.reader })).body;
      return { kept, doc };
    };
    const inPieces = (text: string, size: number) => {
      const bytes = new TextEncoder().encode(text);
      let at = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= bytes.length) return c.close();
          const start = at;
          at += size;
          c.enqueue(bytes.slice(start, at));
        },
      });
    };
    for (const size of [65_535, 65_536]) {
      const text = docOf(size);
      const whole = await stored(text, { "content-length": String(size) });
      expect(whole.kept).toMatchObject({
        in_r2: 0,
        dataset_id: "bodies",
        name: "stdout",
        task_id: "edge",
        extra: '{"site":"héré"}',
      });
      expect(whole.doc.data).toBe(JSON.parse(text).data);
      // The same bytes without a length, in 1,000-byte and in 1-byte chunks: still read whole.
      expect(await stored(inPieces(text, 1000))).toEqual(whole);
      // One space more or two (65,537 and 65,538 bytes): parsed as it arrives.
      for (const pad of [65_537 - size, 65_538 - size]) {
        expect(await stored(`${text}${" ".repeat(pad)}`), `${size} + ${pad}`).toEqual(whole);
        expect(await stored(inPieces(`${" ".repeat(pad)}${text}`, 7)), `${pad} + ${size} in pieces`).toEqual(whole);
      }
    }
  });

  for (const size of [2_000_000, 200_000]) {
    it(`round-trips a ${size.toLocaleString("en")}-character body through R2 on every read path`, async () => {
      const text = logText(size);
      const id = await postLog(
        { data: text, name: "stdout", task_id: `big${size}` },
        { token: t.writer, dataset: "bodies" },
      );
      expect(await logRow(id)).toMatchObject({ in_r2: 1, data: null, body_bytes: utf8(text) });
      expect((await env.LOG_BODIES.head(`logs/${id}`))!.size).toBe(utf8(text));

      const one = await callJson(`/logs/${id}`, { token: t.system });
      expect(one.body.data).toBe(text);
      expect(one.body.data.length).toBe(size);
      expect((await callJson(`/datasets/bodies/logs/${id}`, { token: t.reader })).body.data).toBe(text);
      const task = await callJson(`/datasets/bodies/tasks/big${size}/logs`, { token: t.reader });
      expect(task.body.logs).toHaveLength(1);
      expect(task.body.logs[0].data).toBe(text);
      const search = await callJson(`/logs?task_id=big${size}`, { token: t.system });
      expect(search.body[id].data).toBe(text);
      // Without data in keys the body is not part of the answer.
      expect((await callJson(`/logs?task_id=big${size}&keys=name`, { token: t.system })).body).toEqual({
        [id]: { log_id: id, name: "stdout" },
      });
      const raw = await call(`/logs/${id}/data`, { token: t.system });
      expect(raw.headers.get("content-type")).toContain("text/plain");
      expect(new TextDecoder().decode(await raw.arrayBuffer())).toBe(text);
    });
  }

  it("honours Range on /data, inline and in R2, and answers 416 past the end", async () => {
    const text = logText(100_000);
    const bytes = new TextEncoder().encode(text);
    for (const data of [text, "short inline body"]) {
      const id = await postLog({ data }, { token: t.system });
      const b = new TextEncoder().encode(data);
      const mid = await call(`/logs/${id}/data`, { token: t.system, headers: { Range: "bytes=5-14" } });
      expect(mid.status).toBe(206);
      expect(mid.headers.get("content-range")).toBe(`bytes 5-14/${b.byteLength}`);
      expect(new Uint8Array(await mid.arrayBuffer())).toEqual(b.subarray(5, 15));
      const tail = await call(`/logs/${id}/data`, { token: t.system, headers: { Range: "bytes=-4" } });
      expect(new Uint8Array(await tail.arrayBuffer())).toEqual(b.subarray(b.byteLength - 4));
      const past = await call(`/logs/${id}/data`, { token: t.system, headers: { Range: `bytes=${b.byteLength}-` } });
      expect(past.status).toBe(416);
      expect(past.headers.get("content-range")).toBe(`bytes */${b.byteLength}`);
      await past.arrayBuffer();
    }
    expect(bytes.byteLength).toBeGreaterThan(100_000);
  });
});

describe("JSON posts over LOG_JSON_MAX (32 MiB)", () => {
  it("answers 413 naming the raw route, with or without Content-Length, and stores nothing", async () => {
    const before = (await env.DB.prepare("SELECT count(*) AS n FROM logs").first<{ n: number }>())!.n;
    const keysBefore = new Set(await bucketKeys());
    const big = JSON.stringify({ data: "x".repeat(32 * MiB + 10) });
    const declared = await callJson("/logs", { method: "POST", body: big, token: t.system });
    expect(declared.status).toBe(413);
    expect(declared.body).toEqual({ code: 413, error: expect.stringContaining("POST /logs/raw") });
    // A JSON document of unknown length, counted as it arrives.
    const opening = new TextEncoder().encode('{"name":"stdout","data":"');
    const chunked = await callJson("/datasets/bodies/logs", {
      method: "POST",
      body: concatStreams(opening, xs(33 * MiB)),
      token: t.writer,
    });
    expect(chunked.status).toBe(413);
    expect(chunked.body.error).toContain("POST /datasets/bodies/logs/raw");
    expect((await env.DB.prepare("SELECT count(*) AS n FROM logs").first<{ n: number }>())!.n).toBe(before);
    // The chunked one had streamed 32 MiB of data into an R2 upload by then: it was aborted.
    expect((await bucketKeys()).filter((k) => !keysBefore.has(k))).toEqual([]);
  }, 60_000);
});

describe("raw uploads stream to R2", () => {
  it("takes 100 MiB with Content-Length, stores every byte and streams it back", async () => {
    const total = 100 * MiB;
    const sent = await digestOf(generated(total));
    const res = await callJson("/logs/raw?name=stdout&dataset_id=huge&task_id=t1", {
      method: "POST",
      body: generated(total),
      headers: { "content-length": String(total) },
      token: t.system,
    });
    expect(res.status).toBe(201);
    const id = res.body.result as string;
    expect((await env.LOG_BODIES.head(`logs/${id}`))!.size).toBe(total);
    expect(await logRow(id)).toMatchObject({ in_r2: 1, body_bytes: total, data: null });

    const back = await call(`/logs/${id}/data`, { token: t.system });
    expect(back.headers.get("content-length")).toBe(String(total));
    expect(await digestOf(back.body!)).toEqual(sent);
    // A range deep inside: chunk 73 starts at 73 MiB.
    const range = await call(`/logs/${id}/data`, {
      token: t.system,
      headers: { Range: `bytes=${73 * MiB}-${73 * MiB + 13}` },
    });
    expect(new TextDecoder().decode(await range.arrayBuffer())).toBe("chunk 00000073");

    // The JSON answer streams the 100 MiB body too: count it as it comes, without parsing it whole.
    const doc = await call(`/logs/${id}`, { token: t.system });
    expect(doc.status).toBe(200);
    const docSize = await digestOf(doc.body!);
    expect(docSize.bytes).toBeGreaterThan(total + 100); // the body, escaped newlines (\n is two bytes), and the fields
    expect(docSize.bytes).toBeLessThan(total * 1.1);

    expect(await callJson(`/logs/${id}`, { method: "DELETE", token: t.system })).toMatchObject({
      status: 200,
      body: {},
    });
    await expectGone([id]);
  }, 300_000);

  it("takes a body of unknown length through R2 multipart and answers it in JSON", async () => {
    const total = 20 * MiB + 12_345; // parts of 8, 8 and 4+ MiB
    const sent = await digestOf(generated(total));
    const res = await callJson("/datasets/bodies/logs/raw?name=stderr&task_id=multi", {
      method: "POST",
      body: generated(total),
      token: t.writer,
    });
    expect(res.status).toBe(201);
    const id = res.body.result as string;
    expect((await env.LOG_BODIES.head(`logs/${id}`))!.size).toBe(total);
    expect(await digestOf((await call(`/datasets/bodies/logs/${id}/data`, { token: t.reader })).body!)).toEqual(sent);
    const task = await callJson("/datasets/bodies/tasks/multi/logs", { token: t.reader });
    expect(task.body.logs[0]).toMatchObject({ log_id: id, name: "stderr", dataset_id: "bodies", task_id: "multi" });
    expect(task.body.logs[0].data.length).toBe(total);
    expect(task.body.logs[0].data.slice(8 * MiB, 8 * MiB + 14)).toBe("chunk 00000008");

    expect(await callJson("/datasets/bodies/tasks/multi/logs", { method: "DELETE", token: t.writer })).toMatchObject({
      status: 200,
      body: {},
    });
    await expectGone([id]);
  }, 120_000);

  it("keeps a small raw body inline and defaults the name only on /logs/raw", async () => {
    const small = await callJson("/logs/raw?task_id=s", { method: "POST", body: generated(1000), token: t.system });
    expect(small.status).toBe(201);
    expect(await logRow(small.body.result)).toMatchObject({ in_r2: 0, body_bytes: 1000 });
    expect((await callJson(`/logs/${small.body.result}`, { token: t.system })).body).toMatchObject({
      name: "log",
      task_id: "s",
    });
    const ds = await callJson("/datasets/bodies/logs/raw?dataset_id=other", {
      method: "POST",
      body: "plain text log\n",
      token: t.writer,
    });
    const doc = await callJson(`/datasets/bodies/logs/${ds.body.result}`, { token: t.reader });
    expect(doc.body).toEqual({
      log_id: ds.body.result,
      dataset_id: "bodies",
      data: "plain text log\n",
      timestamp: expect.any(String),
    });
    // Bytes that are not UTF-8 are stored as U+FFFD, and /data agrees with the JSON answer.
    const odd = await callJson("/logs/raw", {
      method: "POST",
      body: new Uint8Array([0x68, 0xff, 0x69]),
      token: t.system,
    });
    expect((await callJson(`/logs/${odd.body.result}`, { token: t.system })).body.data).toBe("h\uFFFDi");
    const oddData = await call(`/logs/${odd.body.result}/data`, { token: t.system });
    expect(oddData.headers.get("content-length")).toBe("5");
    expect(await oddData.text()).toBe("h\uFFFDi");
  });

  it("leaves neither a row nor a body when an upload ends before its Content-Length", async () => {
    // (A chunked upload cut off mid-way is checked over real HTTP in test/e2e/logs.e2e.ts:
    // in-process request bodies report a client-side stream error as a plain end.)
    const before = new Set(await bucketKeys());
    const rowsBefore = (await env.DB.prepare("SELECT count(*) AS n FROM logs").first<{ n: number }>())!.n;
    const short = await callJson("/logs/raw?name=broken", {
      method: "POST",
      body: generated(3 * MiB),
      headers: { "content-length": String(4 * MiB) },
      token: t.system,
    });
    expect(short.status).toBe(400);
    expect(short.body).toEqual({ code: 400, error: expect.stringContaining("raw upload failed") });
    expect((await bucketKeys()).filter((k) => !before.has(k))).toEqual([]);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM logs").first<{ n: number }>())!.n).toBe(rowsBefore);
  }, 60_000);
});

describe("every delete path removes the bodies (orphan check on the bucket)", () => {
  it("DELETE /datasets/{d}/logs removes R2 bodies with the rows", async () => {
    await grantDataset("orphans");
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push(await postLog({ data: logText(70_000 + i), task_id: `o${i}` }, { token: t.writer, dataset: "orphans" }));
    ids.push(await postLog({ data: "inline" }, { token: t.writer, dataset: "orphans" }));
    for (const id of ids.slice(0, 3)) expect(await env.LOG_BODIES.head(`logs/${id}`)).not.toBeNull();
    const lines = await readLines(
      await call("/datasets/orphans/logs", {
        method: "DELETE",
        token: t.writer,
        headers: { Accept: "application/x-ndjson" },
      }),
    );
    expect(lines).toEqual([
      { status: "deleting", percent_complete: 100, total: 4 },
      { status: "complete", percent_complete: 100 },
    ]);
    await expectGone(ids);
  });
});

describe("Range edge cases on /data, as RFC 9110 reads them", () => {
  const get = (path: string, headers: Record<string, string>) => call(path, { token: t.system, headers });

  it("answers any range of an empty body 416 with Content-Range bytes */0, and the body itself 200", async () => {
    const id = await postLog({ data: "" }, { token: t.system });
    for (const range of ["bytes=-5", "bytes=0-", "bytes=0-0", "bytes=-0"]) {
      const res = await get(`/logs/${id}/data`, { Range: range });
      expect({
        range,
        status: res.status,
        contentRange: res.headers.get("content-range"),
        body: await res.json(),
      }).toEqual({
        range,
        status: 416,
        contentRange: "bytes */0",
        body: { code: 416, error: "range not satisfiable" },
      });
    }
    const whole = await get(`/logs/${id}/data`, {});
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-range")).toBeNull();
    expect(await whole.text()).toBe("");
    // The dataset route serves the same body the same way.
    const dsId = await postLog({ data: "" }, { token: t.writer, dataset: "bodies" });
    const ds = await call(`/datasets/bodies/logs/${dsId}/data`, { token: t.reader, headers: { Range: "bytes=-5" } });
    expect(ds.status).toBe(416);
    expect(ds.headers.get("content-range")).toBe("bytes */0");
    await ds.arrayBuffer();
  });

  it("ignores an invalid or multiple range (200, whole body) and reads the unit in any case", async () => {
    const data = "0123456789";
    const id = await postLog({ data }, { token: t.system });
    const cases: Array<[string, number, string, string | null]> = [
      ["bytes=9-3", 200, data, null], // last before first: not a range
      ["bytes=15-3", 200, data, null], // the same past the end: still not a range, so not a 416
      ["bytes=0-1,4-5", 200, data, null], // several ranges: answered whole
      ["items=0-1", 200, data, null], // another unit
      ["bytes=a-b", 200, data, null],
      ["Bytes=2-3", 206, "23", "bytes 2-3/10"], // range units are case-insensitive
      ["bytes=7-99999999999999999999999", 206, "789", "bytes 7-9/10"],
      ["bytes=-99999999999999999999999", 206, data, "bytes 0-9/10"],
      ["bytes=99999999999999999999999-", 416, "", "bytes */10"],
    ];
    for (const [range, status, body, contentRange] of cases) {
      const res = await get(`/logs/${id}/data`, { Range: range });
      const text = await res.text();
      expect({ range, status: res.status, contentRange: res.headers.get("content-range") }).toEqual({
        range,
        status,
        contentRange,
      });
      if (status !== 416) expect(text, range).toBe(body);
    }
  });

  it("keeps a Range under If-Range only when it names the body's ETag", async () => {
    const id = await postLog({ data: "0123456789" }, { token: t.system });
    const plain = await get(`/logs/${id}/data`, {});
    const etag = plain.headers.get("etag");
    expect(etag).toBe(`"${id}"`);
    await plain.arrayBuffer();
    const same = await get(`/logs/${id}/data`, { Range: "bytes=0-3", "If-Range": etag! });
    expect([same.status, await same.text()]).toEqual([206, "0123"]);
    for (const other of ['"someone-else"', `W/${etag}`, "Mon, 07 Dec 2026 10:00:00 GMT"]) {
      const res = await get(`/logs/${id}/data`, { Range: "bytes=0-3", "If-Range": other });
      expect([other, res.status, res.headers.get("content-range"), await res.text()]).toEqual([
        other,
        200,
        null,
        "0123456789",
      ]);
    }
  });
});
