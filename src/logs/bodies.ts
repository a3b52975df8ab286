/**
 * Log bodies: where they live (inline in D1 or in R2 under a key derived from the log
 * id), how a raw upload reaches R2 without being held in memory, and how a JSON
 * answer embeds an R2 body without reading it whole.
 */
import { concat } from "../http/body";
import { ApiError } from "../http/errors";
import { errorSummary } from "../http/observe";
import { parseInteger } from "../http/query";

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

/** Runs once, before anything is written to R2 (a dataset post checks its access there). */
export type BeforeR2 = () => Promise<void>;

/**
 * A raw upload, streamed: with a Content-Length over `inlineMax` straight into one R2
 * put through a FixedLengthStream; otherwise through a BodyWriter (in memory up to
 * `inlineMax`, then R2 multipart). On failure nothing is left in R2.
 */
export async function storeUpload(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  declaredLength: number | null,
  inlineMax: number,
  beforeR2?: BeforeR2,
): Promise<StoredBody> {
  if (!body) return { inline: "", bytes: 0 };
  if (declaredLength !== null && declaredLength > inlineMax) {
    if (beforeR2) {
      try {
        await beforeR2();
      } catch (err) {
        await body.cancel().catch(() => {});
        throw err;
      }
    }
    const { readable, writable } = new FixedLengthStream(declaredLength);
    const piped = body.pipeTo(writable);
    try {
      await Promise.all([bucket.put(key, readable, { httpMetadata: { contentType: TEXT } }), piped]);
    } catch (err) {
      await piped.catch(() => {});
      await bucket.delete(key).catch(() => {});
      console.warn(JSON.stringify({ rawUpload: key, error: errorSummary(err) }));
      throw badUpload(`the body did not match its Content-Length of ${declaredLength} bytes`);
    }
    return { inline: null, bytes: declaredLength };
  }

  const reader = body.getReader();
  const writer = new BodyWriter(bucket, key, inlineMax, beforeR2);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
    }
    return await writer.close();
  } catch (err) {
    await writer.abort();
    await reader.cancel().catch(() => {});
    // A refusal from `beforeR2` is the answer; anything else is the upload breaking off.
    if (err instanceof ApiError) throw err;
    console.warn(JSON.stringify({ rawUpload: key, error: errorSummary(err) }));
    throw badUpload("the body broke off before its end");
  }
}

const TEXT = "text/plain; charset=utf-8";

/**
 * A body written a piece at a time: held in memory while it is at most `inlineMax`
 * bytes (most logs: no R2 call at all), then, once it passes that, through an R2
 * multipart upload in PART_BYTES parts. Memory holds at most max(inlineMax, PART_BYTES).
 */
export class BodyWriter {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private upload: R2MultipartUpload | null = null;
  private parts: R2UploadedPart[] = [];
  private part = new ByteBuffer(0);
  private total = 0;

  constructor(
    private bucket: R2Bucket,
    private key: string,
    private inlineMax: number,
    private beforeR2?: BeforeR2,
  ) {}

  async write(bytes: Uint8Array) {
    this.total += bytes.byteLength;
    if (!this.upload) {
      if (this.heldBytes + bytes.byteLength <= this.inlineMax) {
        this.held.push(bytes);
        this.heldBytes += bytes.byteLength;
        return;
      }
      await this.beforeR2?.();
      this.upload = await this.bucket.createMultipartUpload(this.key, { httpMetadata: { contentType: TEXT } });
      this.part = new ByteBuffer(PART_BYTES);
      const held = this.held;
      this.held = [];
      for (const piece of held) await this.push(piece);
    }
    await this.push(bytes);
  }

  private async push(bytes: Uint8Array) {
    let rest: Uint8Array | null = bytes;
    while (rest) {
      rest = this.part.take(rest);
      if (rest) {
        this.parts.push(await this.upload!.uploadPart(this.parts.length + 1, this.part.bytes()));
        this.part = new ByteBuffer(PART_BYTES);
      }
    }
  }

  async close(): Promise<StoredBody> {
    if (!this.upload) {
      // Invalid UTF-8 becomes U+FFFD, so the size is that of the text as stored.
      const text = new TextDecoder().decode(concat(this.held, this.heldBytes));
      return { inline: text, bytes: utf8Length(text) };
    }
    if (this.part.size > 0 || this.parts.length === 0)
      this.parts.push(await this.upload.uploadPart(this.parts.length + 1, this.part.bytes()));
    await this.upload.complete(this.parts);
    return { inline: null, bytes: this.total };
  }

  /** Gives up: an upload begun is aborted, so R2 keeps nothing. */
  async abort() {
    this.held = [];
    await this.upload?.abort().catch(() => {});
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
 * One byte range of a `Range` header, read as RFC 9110 (section 14) reads it: `bytes=a-b`,
 * `a-` or `-n`, the unit in any case. Null means "answer the whole body with 200": no
 * header, one that is not a valid range (`b` < `a`, another unit, garbage), or several
 * ranges (a server may ignore a Range). "unsatisfiable" (416, with a Content-Range of
 * `bytes *` over the size): `a` at or past the end, a zero-length suffix (`-0`), or any
 * range of an empty body — a range of zero bytes cannot be written in a Content-Range.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { offset: number; length: number } | null | "unsatisfiable" {
  const m = header?.trim().match(/^bytes=(\d*)-(\d*)$/i);
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(m[1]);
  // Validity before satisfiability: `bytes=9-3` is no range at all, whatever the size.
  if (m[2] !== "" && Number(m[2]) < start) return null;
  if (start >= size) return "unsatisfiable";
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { offset: start, length: end - start + 1 };
}
