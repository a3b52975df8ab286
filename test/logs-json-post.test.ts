import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readLogPost } from "../src/logs/json-post";
import { call, callJson } from "./helpers/http";
import { bucketKeys, logRow, logsCallers } from "./helpers/logs";

/** Reads `bytes` split into chunks at `cuts`, collecting `data` as the body store would get it. */
async function parse(bytes: Uint8Array, cuts: number[] = [], maxBytes = 1 << 30) {
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  const chunks = bounds.slice(1).map((end, i) => bytes.slice(bounds[i], end));
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
  let discarded = 0;
  const post = await readLogPost(body, {
    maxBytes,
    tooLarge: () => new Error("too large") as never,
    sink: {
      start: async (text) => new TextDecoder().decode(await new Response(text).arrayBuffer()),
      discard: async () => void discarded++,
    },
  });
  return { fields: post.fields, data: post.data === undefined ? undefined : post.data === null ? null : post.data.stored, discarded };
}

const enc = (s: string) => new TextEncoder().encode(s);

// Everything JSON escapes, a surrogate pair written raw and as two \u escapes, 2-, 3- and 4-byte UTF-8.
const data = 'a "quoted" \\ back/slash\ttab\u0001\u001f é € 🚀 \n end';
const doc = `{ "name" : "stdout", "data": ${JSON.stringify(data).replace("🚀", "\\ud83d\\ude80")}, "task_id":"t1" , "site": null, "x\\"y": "\\u00e9" }`;

describe("a JSON log post parsed as it arrives", () => {
  it("reads the same document as JSON.parse at every split point, one byte at a time too", async () => {
    const bytes = enc(doc);
    const expected = JSON.parse(doc);
    const whole = await parse(bytes);
    expect(whole.data).toBe(expected.data);
    expect(whole.fields).toEqual({ name: "stdout", task_id: "t1", site: null, 'x"y': "é" });
    for (let cut = 1; cut < bytes.length; cut++) {
      const split = await parse(bytes, [cut]);
      expect(split.data, `cut at ${cut}`).toBe(expected.data);
      expect(split.fields, `cut at ${cut}`).toEqual(whole.fields);
    }
    const bytewise = await parse(bytes, Array.from({ length: bytes.length }, (_, i) => i));
    expect(bytewise.data).toBe(expected.data);
  });

  it("refuses what JSON.parse refuses, and non-objects, non-strings and duplicate data, with 400s", async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"data":"x"', /Malformed JSON/],
      ['{"data":"x"}}', /Malformed JSON/],
      ['{"data":"x",}', /Malformed JSON/],
      ['{"data":"a\nb"}', /Malformed JSON/],
      ['{"data":"\\x"}', /Malformed JSON/],
      ['{"data":"\\u12g4"}', /Malformed JSON/],
      ['{data:"x"}', /Malformed JSON/],
      ['{"data":nul}', /Malformed JSON/],
      ["", /body must be a JSON object/],
      ['["x"]', /body must be a JSON object/],
      ['"x"', /body must be a JSON object/],
      ['{"data":"x","n":1}', /n field must be a string/],
      ['{"data":"x","o":{"a":"b"}}', /o field must be a string/],
      ['{"data":"x","data":"y"}', /data field given twice/],
      ['{"data":"x","f":"' + "y".repeat(70_000) + '"}', /fields other than data total over 65536/],
    ];
    for (const [text, reason] of cases) {
      const err = await parse(enc(text)).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message, text.slice(0, 40)).toMatch(reason);
      expect((err as { status?: number } | null)?.status, text.slice(0, 40)).toBe(400);
    }
  });

  it("gives back what the store kept when the document goes bad after data", async () => {
    // `data` is complete in the first chunk; the bad field arrives in the next one.
    const { discarded } = await parse(enc('{"data":"kept","n":"ok"}'), [15]);
    expect(discarded).toBe(0);
    let discards = 0;
    const parts = ['{"data":"kept"', ',"n":1}'].map(enc);
    const twoChunks = new ReadableStream<Uint8Array>({ pull: (c) => (parts.length ? c.enqueue(parts.shift()!) : c.close()) });
    const err = await readLogPost(twoChunks, {
      maxBytes: 1 << 20,
      tooLarge: () => new Error("too large") as never,
      sink: { start: async (t) => (await new Response(t).text()).length, discard: async () => void discards++ },
    }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/n field must be a string/);
    expect(discards).toBe(1);
  });
});

describe("POST /logs with a 32 MiB data field", () => {
  let system: string;
  beforeAll(async () => {
    system = (await logsCallers()).system;
  });

  it("streams it into R2 without holding the body and reads it back byte for byte", async () => {
    const MiB = 1024 * 1024;
    // 32 MiB less the envelope: JSON text with an escape in every line, so nothing can be taken over unescaped.
    const line = 'job 1234 step \\"x\\" done\\n';
    const envelope = ['{"name":"stdout","task_id":"huge","data":"', '"}'];
    const lines = Math.floor((32 * MiB - envelope[0].length - envelope[1].length) / line.length);
    let sent = 0;
    const perChunk = Math.floor(MiB / line.length);
    const chunk = enc(line.repeat(perChunk));
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent === 0) c.enqueue(enc(envelope[0]));
        if (sent >= lines) {
          c.enqueue(enc(envelope[1]));
          return c.close();
        }
        const n = Math.min(perChunk, lines - sent);
        c.enqueue(n === perChunk ? chunk : enc(line.repeat(n)));
        sent += n;
      },
    });
    const keysBefore = new Set(await bucketKeys());
    const res = await callJson("/logs", { method: "POST", body, token: system });
    expect(res.status).toBe(201);
    const id = res.body.result;
    const unescapedLine = 'job 1234 step "x" done\n';
    const size = lines * unescapedLine.length;
    expect(await logRow(id)).toMatchObject({ in_r2: 1, data: null, body_bytes: size });
    expect((await env.LOG_BODIES.head(`logs/${id}`))!.size).toBe(size);
    expect((await bucketKeys()).filter((k) => !keysBefore.has(k))).toEqual([`logs/${id}`]);
    const tail = await call(`/logs/${id}/data`, { token: system, headers: { Range: `bytes=-${unescapedLine.length * 2}` } });
    expect(await tail.text()).toBe(unescapedLine.repeat(2));
    const head = await call(`/logs/${id}/data`, { token: system, headers: { Range: "bytes=0-22" } });
    expect(await head.text()).toBe(unescapedLine);
    expect((await callJson(`/logs/${id}`, { method: "DELETE", token: system })).status).toBe(200);
  }, 60_000);
});
