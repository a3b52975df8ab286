/**
 * A JSON log post read as it arrives. A posted log is one flat object of strings, and
 * its `data` may be tens of MiB (LOG_JSON_MAX, 32 MiB): JSON.parse would hold the raw
 * bytes, the text and the parsed string at once, in a 128 MB isolate. So the body is
 * tokenized chunk by chunk by stream-json's tokenizer (`jsonParser` of
 * stream-json/core/parser.js: a plain function of text to tokens, no Node streams),
 * which hands every string back in pieces (`stringChunk`); `data`'s pieces go straight
 * to the body store, and only the other fields (at most FIELDS_MAX_BYTES) are kept.
 * Memory holds one request chunk, its tokens and the store's buffer, never a copy of
 * the whole body. One path for every size: a small post is just a post of one chunk.
 *
 * Why this library: of the maintained streaming parsers, json-stream-es also hands a
 * string back in pieces but scans a character at a time through a web stream (~13 s
 * for 32 MiB, measured in Node), and @streamparser/json builds each string whole before
 * its token (32 MiB held, then copied). stream-json tokenized the same 32 MiB in ~1 s.
 * Its price is CPU on escape-heavy text (a token per escape and per 256 characters):
 * ~1.5 s for 20 MiB of typical log lines in Node, several times a dedicated scanner;
 * the memory bound, the need here, holds. `npm run bench -- --only logs` measures it.
 *
 * On its tokens this file keeps the flat-object policy: the body is one object, every
 * value a string or null, `data` at most once, keys and other values within the field
 * budget. A syntax error anywhere in a chunk is "Malformed JSON" (the tokenizer throws
 * before handing that chunk's tokens back), so a chunk that breaks both the policy and
 * the syntax is answered with the syntax error.
 */
import { getManyValues, isMany, type Many, none } from "stream-chain/defs.js";
import { jsonParser, type Token } from "stream-json/core/parser.js";
import { JSON_MAX_DEPTH } from "../http/body";
import { ApiError, errors } from "../http/errors";
import { FIELDS_MAX_BYTES } from "./schemas";

/** Where `data` goes: the body store. */
export interface DataSink<T> {
  /** Called once, when `data`'s string starts; its UTF-8 follows piece by piece. */
  open(): DataWriter<T>;
  /** Undo a stored body when the post fails after `data` was complete. */
  discard(stored: T): Promise<void>;
}

export interface DataWriter<T> {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<T>;
  /** The post failed while `data` was being written: keep nothing. */
  abort(): Promise<void>;
}

export interface ReadPost<T> {
  /** Every field but `data`: strings, or null for a field sent as null. */
  fields: Record<string, string | null>;
  /** Absent when the post had no `data`; null when it was sent as null. */
  data?: { stored: T } | null;
}

const bad = (reason: string) => new ApiError("validation", reason, { status: 400 });

/** The tokenizer's own errors, in the house's words: too deep, or not JSON. */
function tokenizerError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RangeError && /maxDepth/.test(err.message))
    return bad(`JSON document nests deeper than ${JSON_MAX_DEPTH} levels`);
  return errors.malformedJson();
}

/**
 * Reads a posted log from `body`, at most `maxBytes` of it (`tooLarge` past that),
 * `data` going to `sink` as it is unescaped. If the post turns out bad after that, what
 * the sink stored is discarded, so a failed post leaves nothing behind.
 */
export async function readLogPost<T>(
  body: ReadableStream<Uint8Array> | null,
  opts: { maxBytes: number; tooLarge: () => ApiError; sink: DataSink<T> },
): Promise<ReadPost<T>> {
  const reader = body?.getReader();
  const post = new FlatPost(opts.sink);
  let size = 0;
  try {
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > opts.maxBytes) throw opts.tooLarge();
        await post.feed(value);
      }
    }
    return await post.finish();
  } catch (err) {
    await reader?.cancel().catch(() => {});
    await post.abandon();
    throw err;
  }
}

const tokensOf = (out: Many<Token> | typeof none): Token[] => (isMany(out) ? getManyValues(out) : []);

/** Where the next token lands: the key being read, a field's string, `data`'s string. */
type Into = "key" | "field" | "data";

/** One post: stream-json's tokens turned into the fields and the `data` written to the sink. */
class FlatPost<T> {
  // Strings, keys and numbers come as pieces (packValues false): no value is held whole by the tokenizer.
  private tokenize = jsonParser({ packValues: false, maxDepth: JSON_MAX_DEPTH });
  private decoder = new TextDecoder();
  private pieces = new Utf8Pieces();
  /** Objects and arrays open: 1 inside the post's object. */
  private depth = 0;
  private ended = false;
  private seen = false;
  private into: Into | null = null;
  private key = "";
  private text: string[] = [];
  private fieldChars = 0;
  private fields = new Map<string, string | null>();
  private sawData: "no" | "string" | "null" = "no";
  private writer: DataWriter<T> | null = null;
  private stored: { value: T } | null = null;

  constructor(private sink: DataSink<T>) {}

  async feed(bytes: Uint8Array) {
    await this.tokens(this.decoder.decode(bytes, { stream: true }));
  }

  async finish(): Promise<ReadPost<T>> {
    await this.tokens(this.decoder.decode(), true);
    if (!this.seen) throw bad("body must be a JSON object");
    if (!this.ended) throw errors.malformedJson();
    const fields = Object.fromEntries(this.fields);
    if (this.sawData === "no") {
      await this.abandon();
      return { fields };
    }
    return { fields, data: this.sawData === "null" ? null : { stored: this.stored!.value } };
  }

  /** The post failed (or has no `data`): the store keeps nothing of it. */
  async abandon() {
    const writer = this.writer;
    this.writer = null;
    if (writer) await writer.abort().catch(() => {});
    const stored = this.stored;
    this.stored = null;
    if (stored) await this.sink.discard(stored.value).catch(() => {});
  }

  private async tokens(text: string, last = false) {
    if (!this.seen && text.trim() !== "") this.seen = true;
    if (!this.seen) return;
    const batches: Token[][] = [];
    try {
      if (text !== "") batches.push(tokensOf(this.tokenize(text)));
      // `none` ends the text (its type lists only strings).
      if (last) batches.push(tokensOf(this.tokenize(none as unknown as string)));
    } catch (err) {
      throw tokenizerError(err);
    }
    // Tokens are taken synchronously (a chunk holds thousands); only the end of `data` waits for the store.
    for (const batch of batches) for (const token of batch) if (this.token(token)) await this.closeData();
    // `data`'s text of this chunk goes on to the store as one write.
    if (this.into === "data") await this.writeData();
  }

  /** Takes one token; true when it ended `data`'s string (the caller closes the writer). */
  private token(t: Token): boolean {
    switch (t.name) {
      case "stringChunk":
        if (this.into === "data") this.text.push(t.value);
        else this.field(t.value);
        return false;
      case "startKey":
        this.into = "key";
        return false;
      case "endKey":
        this.key = this.take();
        this.into = null;
        return false;
      case "startString":
        if (this.depth === 0) throw bad("body must be a JSON object");
        if (this.key !== "data") {
          this.into = "field";
          return false;
        }
        this.once("string");
        this.writer = this.sink.open();
        this.into = "data";
        return false;
      case "endString":
        if (this.into === "data") return true;
        this.fields.set(this.key, this.take());
        this.into = null;
        return false;
      case "nullValue":
        if (this.depth === 0) throw bad("body must be a JSON object");
        if (this.key === "data") this.once("null");
        else this.fields.set(this.key, null);
        return false;
      case "startObject":
        if (this.depth++ === 0) return false;
        throw bad(`${this.key} field must be a string`);
      case "endObject":
        this.depth--;
        this.ended = true;
        return false;
      default:
        // Arrays, numbers, true and false: never a log's field, nor a post's body.
        throw bad(this.depth === 0 ? "body must be a JSON object" : `${this.key} field must be a string`);
    }
  }

  /** Keys and other fields live in the D1 row: bounded while they arrive. */
  private field(piece: string) {
    this.fieldChars += piece.length;
    if (this.fieldChars > FIELDS_MAX_BYTES)
      throw bad(`fields other than data total over ${FIELDS_MAX_BYTES} characters`);
    this.text.push(piece);
  }

  private take() {
    const s = this.text.join("");
    this.text = [];
    return s;
  }

  private once(as: "string" | "null") {
    if (this.sawData !== "no") throw bad("data field given twice");
    this.sawData = as;
  }

  private async writeData() {
    const bytes = this.pieces.encode(this.take());
    if (bytes) await this.writer!.write(bytes);
  }

  private async closeData() {
    await this.writeData();
    const rest = this.pieces.flush();
    if (rest) await this.writer!.write(rest);
    const writer = this.writer!;
    this.writer = null;
    this.into = null;
    try {
      this.stored = { value: await writer.close() };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }
}

/** Encodes unescaped text to UTF-8, holding back a high surrogate whose pair is still to come. */
class Utf8Pieces {
  private pending = "";
  private encoder = new TextEncoder();
  encode(s: string): Uint8Array | null {
    let text = this.pending + s;
    this.pending = "";
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.pending = text.slice(-1);
      text = text.slice(0, -1);
    }
    return text ? this.encoder.encode(text) : null;
  }
  flush(): Uint8Array | null {
    const rest = this.pending;
    this.pending = "";
    return rest ? this.encoder.encode(rest) : null;
  }
}
