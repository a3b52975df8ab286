/**
 * Log bodies: where they live (inline in D1 or in R2 under a key derived from the log
 * id), how a raw upload reaches R2 without being held in memory, and how a JSON
 * answer embeds an R2 body without reading it whole.
 */
import { ApiError } from "../http/errors";
import { errorSummary } from "../http/observe";
import { parseInteger } from "../http/paging";

export const bodyKey = (logId: string) => `logs/${logId}`;

/** D1 refuses rows over 2 MB, so an inline body stays well under that whatever the var says. */
const INLINE_CEILING = 1_000_000;
/** R2 wants every multipart part but the last to have one size of at least 5 MiB. */
const PART_BYTES = 8 * 1024 * 1024;

export function bodyLimits(env: Env) {
  const inline = parseInteger(env.LOG_INLINE_MAX) ?? 65536;
  const json = parseInteger(env.LOG_JSON_MAX) ?? 32 * 1024 * 1024;
  return { inlineMax: Math.max(0, Math.min(inline, INLINE_CEILING)), jsonMax: json };
}

/** Where a stored body went: kept as text for the D1 row, or written to R2. */
export type StoredBody = { inline: string; bytes: number } | { inline: null; bytes: number };

function utf8Length(text: string) {
  return new TextEncoder().encode(text).byteLength;
}

const badUpload = (why: string) => new ApiError("other", `raw upload failed: ${why}`, { status: 400 });

/**
 * A raw upload, streamed: with a Content-Length straight into one R2 put through a
 * FixedLengthStream; without one, through R2 multipart in fixed-size parts. Bodies up
 * to `inlineMax` bytes stay inline. On failure nothing is left in R2.
 */
export async function storeUpload(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  inlineMax: number,
): Promise<StoredBody> {
  if (!body) return { inline: "", bytes: 0 };
  if (declaredLength !== null && declaredLength > inlineMax) {
    const { readable, writable } = new FixedLengthStream(declaredLength);
    const piped = body.pipeTo(writable);
    try {
      await Promise.all([bucket.put(key, readable, { httpMetadata: { contentType: "text/plain; charset=utf-8" } }), piped]);
    } catch (err) {
      await piped.catch(() => {});
      await bucket.delete(key).catch(() => {});
      console.warn(JSON.stringify({ rawUpload: key, error: errorSummary(err) }));
      throw badUpload(`the body did not match its Content-Length of ${declaredLength} bytes`);
    }
    return { inline: null, bytes: declaredLength };
  }

  const reader = body.getReader();
  // First read up to inlineMax + 1 bytes: a short body never touches R2.
  const head = new ByteBuffer(inlineMax + 1);
  let chunk: Uint8Array | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      // Invalid UTF-8 becomes U+FFFD, so the size is that of the text as stored.
      const text = new TextDecoder().decode(head.bytes());
      return { inline: text, bytes: utf8Length(text) };
    }
    const rest = head.take(value);
    if (rest) {
      chunk = rest;
      break;
    }
  }
  const upload = await bucket.createMultipartUpload(key, { httpMetadata: { contentType: "text/plain; charset=utf-8" } });
  try {
    const parts: R2UploadedPart[] = [];
    let part = new ByteBuffer(PART_BYTES);
    let total = 0;
    const push = async (bytes: Uint8Array) => {
      total += bytes.byteLength;
      let rest: Uint8Array | null = bytes;
      while (rest) {
        rest = part.take(rest);
        if (rest) {
          parts.push(await upload.uploadPart(parts.length + 1, part.bytes()));
          part = new ByteBuffer(PART_BYTES);
        }
      }
    };
    await push(head.bytes());
    await push(chunk);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await push(value);
    }
    if (part.size > 0 || parts.length === 0) parts.push(await upload.uploadPart(parts.length + 1, part.bytes()));
    await upload.complete(parts);
    return { inline: null, bytes: total };
  } catch (err) {
    await upload.abort().catch(() => {});
    await reader.cancel().catch(() => {});
    console.warn(JSON.stringify({ rawUpload: key, error: errorSummary(err) }));
    throw badUpload("the body broke off before its end");
  }
}

/**
 * A fixed-capacity byte buffer: `take` copies what fits; once the buffer is full it
 * hands back the overflow (possibly empty), else null.
 */
class ByteBuffer {
  private buf: Uint8Array;
  size = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }
  take(bytes: Uint8Array): Uint8Array | null {
    const room = this.buf.byteLength - this.size;
    if (bytes.byteLength < room) {
      this.buf.set(bytes, this.size);
      this.size += bytes.byteLength;
      return null;
    }
    this.buf.set(bytes.subarray(0, room), this.size);
    this.size += room;
    return bytes.subarray(room);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }
}

/** The body of an R2-held log (already opened) as a JSON string literal, escaped chunk by chunk. */
export async function* jsonStringFromR2(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  yield '"';
  // The decoder holds back a split UTF-8 sequence, so each chunk escapes on its own.
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value) yield JSON.stringify(value).slice(1, -1);
  }
  yield '"';
}

/** Pulls text from a generator as the client reads it, so memory holds one chunk at a time. */
export function textStream(parts: AsyncGenerator<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await parts.next();
      if (done) controller.close();
      else if (value) controller.enqueue(encoder.encode(value));
    },
    async cancel() {
      await parts.return(undefined);
    },
  });
}

/**
 * One byte range of a `Range` header (`bytes=a-b`, `a-`, `-n`); null when absent,
 * malformed or multi-range (answered whole, as RFC 9110 allows); "unsatisfiable" when
 * it starts past the end.
 */
export function parseRange(header: string | undefined, size: number): { offset: number; length: number } | null | "unsatisfiable" {
  const m = header?.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return "unsatisfiable";
  if (end < start) return null;
  return { offset: start, length: end - start + 1 };
}
