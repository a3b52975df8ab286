import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { readLogPost } from "../src/logs/json-post";
import { call, callJson } from "./helpers/http";
import { bucketKeys, logRow, logsCallers } from "./helpers/logs";

/** A sink that keeps `data` as the body store would get it: whole, or written piece by piece. */
function textSink(counts = { discarded: 0, aborted: 0 }) {
  return {
    open: () => {
      const pieces: Uint8Array[] = [];
      return {
        write: async (bytes: Uint8Array) => void pieces.push(bytes),
        close: async () => new TextDecoder().decode(await new Blob(pieces).arrayBuffer()),
        abort: async () => void counts.aborted++,
      };
    },
    discard: async () => void counts.discarded++,
  };
}

/** Chunks of `bytes` cut at `cuts`, as a request body. */
function chunked(bytes: Uint8Array, cuts: number[] = []) {
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  const chunks = bounds.slice(1).map((end, i) => bytes.slice(bounds[i], end));
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

/** Reads `bytes` split into chunks at `cuts`, collecting `data` as the body store would get it. */
async function parse(bytes: Uint8Array, cuts: number[] = [], opts: { maxBytes?: number } = {}) {
  const counts = { discarded: 0, aborted: 0 };
  const post = await readLogPost(chunked(bytes, cuts), {
    maxBytes: opts.maxBytes ?? 1 << 30,
    tooLarge: () => new Error("too large") as never,
    sink: textSink(counts),
  });
  return {
    fields: post.fields,
    data: post.data === undefined ? undefined : post.data === null ? null : post.data.stored,
    ...counts,
  };
}
/** Every byte its own chunk (each token split wherever it can be); a long text in chunks of 1,000 bytes. */
const everyByte = (bytes: Uint8Array) =>
  Array.from({ length: bytes.length }, (_, i) => i).filter((i) => bytes.length <= 4096 || i % 1000 === 0);

/** What a post reads as: its document, or its error's status and reason. */
async function outcome(bytes: Uint8Array, cuts: number[] = []) {
  try {
    const { fields, data } = await parse(bytes, cuts);
    return { fields: Object.entries(fields), data };
  } catch (err) {
    return { status: (err as { status?: number }).status, error: (err as Error).message };
  }
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
    const bytewise = await parse(bytes, everyByte(bytes));
    expect(bytewise).toEqual(whole);
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
      [`{"data":"x","f":"${"y".repeat(70_000)}"}`, /fields other than data total over 65536/],
    ];
    for (const [text, reason] of cases) {
      for (const cuts of [[], everyByte(enc(text))]) {
        const err = await parse(enc(text), cuts).then(
          () => null,
          (e: Error) => e,
        );
        expect(err?.message, `${text.slice(0, 40)} in ${cuts.length + 1} chunk(s)`).toMatch(reason);
        expect((err as { status?: number } | null)?.status, text.slice(0, 40)).toBe(400);
      }
    }
  });

  it("gives back what the store kept when the document goes bad after data", async () => {
    // `data` is complete in the first chunk; the bad field arrives in the next one.
    const { discarded } = await parse(enc('{"data":"kept","n":"ok"}'), [15]);
    expect(discarded).toBe(0);
    const counts = { discarded: 0, aborted: 0 };
    const parts = ['{"data":"kept"', ',"n":1}'].map(enc);
    const twoChunks = new ReadableStream<Uint8Array>({
      pull: (c) => (parts.length ? c.enqueue(parts.shift()!) : c.close()),
    });
    const err = await readLogPost(twoChunks, {
      maxBytes: 1 << 20,
      tooLarge: () => new Error("too large") as never,
      sink: textSink(counts),
    }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/n field must be a string/);
    expect(counts).toEqual({ discarded: 1, aborted: 0 });
    // Bad while data is still being written: the writer is aborted, nothing was stored.
    const cut = { discarded: 0, aborted: 0 };
    const inData = await readLogPost(chunked(enc('{"data":"half \\q"}'), [12]), {
      maxBytes: 1 << 20,
      tooLarge: () => new Error("too large") as never,
      sink: textSink(cut),
    }).catch((e: Error) => e);
    expect((inData as Error).message).toMatch(/Malformed JSON/);
    expect(cut).toEqual({ discarded: 0, aborted: 1 });
  });
});

describe("a post in one chunk answers what it answers a byte at a time", () => {
  it("for repeated keys, data spelled with escapes, nulls, odd keys, surrogates, BOM and field totals", async () => {
    const over = "y".repeat(40_000);
    const cases = [
      '{"d\\u0061ta":"x","data":"y"}',
      '{"data":"x","\\u0064ata":"y"}',
      '{"\\u0064\\u0061\\u0074\\u0061":"escaped key"}',
      '{"data":"x","f":"a","f":"b","g":null,"g":"c"}',
      '{"data":"say \\"data\\"","k":"data","data2":"z"}',
      '{"Data":"not data","data":"x"}',
      `{"data":"x","f":"${over}","f":"${over}"}`,
      `{"data":"x","f":"${over}","g":"${over.slice(0, 25_000)}"}`,
      `{"data":"x","f":"${over}","g":"${over.slice(0, 25_600)}"}`,
      '{"data":"lone \\ud800 high, \\udc00 low, pair \\ud83d\\ude80"}',
      '\ufeff{"data":"after a BOM"}',
      '  \n{"data":"spaces"}\t ',
      '{"2":"b","1":"a","data":"numeric keys come first","__proto__":"p","constructor":"c"}',
      '{"data":null}',
      '{"data":"x","n":null}',
      "{}",
      "null",
      '{"data":"x","n":1}',
      '{"data":"x","o":{"deep":["x"]}}',
      "[]",
      "",
      '{"data":"ctl\u0001"}',
      '{"data":"x"} ',
      '{"data":"x"}{}',
    ];
    for (const text of cases) {
      const bytes = enc(text);
      const whole = await outcome(bytes);
      expect(whole, text.slice(0, 60)).toEqual(await outcome(bytes, everyByte(bytes)));
    }
    // The two totals just under and just over the fields limit of 65,536 characters.
    expect(await outcome(enc(cases[7]))).toMatchObject({ data: "x" });
    expect(await outcome(enc(cases[8]))).toMatchObject({ status: 400, error: expect.stringMatching(/over 65536/) });
    expect(await outcome(enc(cases[0]))).toMatchObject({ status: 400, error: "data field given twice" });
    expect(await outcome(enc(cases[3]))).toMatchObject({
      fields: [
        ["f", "b"],
        ["g", "c"],
      ],
    });
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
    const tail = await call(`/logs/${id}/data`, {
      token: system,
      headers: { Range: `bytes=-${unescapedLine.length * 2}` },
    });
    expect(await tail.text()).toBe(unescapedLine.repeat(2));
    const head = await call(`/logs/${id}/data`, { token: system, headers: { Range: "bytes=0-22" } });
    expect(await head.text()).toBe(unescapedLine);
    expect((await callJson(`/logs/${id}`, { method: "DELETE", token: system })).status).toBe(200);
  }, 60_000);
});
