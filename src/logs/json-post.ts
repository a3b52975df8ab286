/**
 * A JSON log post read as it arrives. A posted log is one flat object of strings, and
 * its `data` may be tens of MiB: parsing the whole text with JSON.parse would hold the
 * raw bytes, the text and the parsed string at once. Here the request is decoded and
 * parsed chunk by chunk; `data` is unescaped straight into the body store (inline when
 * small, else R2), and only the other fields (at most FIELDS_MAX_BYTES) are kept. Memory
 * holds one request chunk and the store's buffer, never a copy of the whole body.
 */
import { ApiError, errors } from "../http/errors";
import { FIELDS_MAX_BYTES } from "./schemas";

/** Where `data` went, as the body store reports it. */
export interface DataSink<T> {
  /** Called once, when `data`'s string starts: consume `text` (UTF-8) until it ends. */
  start(text: ReadableStream<Uint8Array>): Promise<T>;
  /** Undo a stored body when the post fails after `data` was complete. */
  discard(stored: T): Promise<void>;
}

export interface ReadPost<T> {
  /** Every field but `data`: strings, or null for a field sent as null. */
  fields: Record<string, string | null>;
  /** Absent when the post had no `data`; null when it was sent as null. */
  data?: { stored: T } | null;
}

const bad = (reason: string) => new ApiError("validation", reason, { status: 400 });
const malformed = () => errors.malformedJson();

type Event = { kind: "data-start" } | { kind: "data"; text: string } | { kind: "data-end" };

const enum S {
  Top,
  KeyOrEnd,
  Key,
  Colon,
  Value,
  Str,
  Escape,
  Unicode,
  Null,
  AfterValue,
  End,
}

/** A JS string holding JSON text's specials: end of string, escape, or a raw control character. */
const SPECIAL = /["\\\u0000-\u001f]/g;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/**
 * The parser proper: fed text in any split, it keeps the other fields and hands `data`
 * back as events, in order. Iterative, so no input can make it recurse.
 */
class FlatObjectParser {
  state = S.Top;
  fields: Record<string, string | null> = {};
  sawData: "no" | "string" | "null" = "no";
  private afterComma = false;
  private key = "";
  private buf: string[] = [];
  private into: "key" | "field" | "data" = "key";
  private hex = "";
  private literal = 0;
  private fieldChars = 0;
  /** `data` unescaped in this feed so far: handed on as one event per feed, not per escape. */
  private dataBuf: string[] = [];

  feed(text: string, events: Event[]) {
    this.scan(text, events);
    this.flushData(events);
  }

  private flushData(events: Event[]) {
    if (this.dataBuf.length) events.push({ kind: "data", text: this.dataBuf.join("") });
    this.dataBuf = [];
  }

  /** The end of `data` text held back from the last feed: a `\\` or `\\uXX` cut by the chunk. */
  private carry = "";

  private scan(text: string, events: Event[]) {
    let i = 0;
    let n = text.length;
    while (i < n) {
      // `data`'s text (nearly all of a big post): unescaped a chunk at a time by JSON.parse itself.
      if (this.state === S.Str && this.into === "data") {
        const src = this.carry + text.slice(i);
        this.carry = "";
        let q = src.indexOf('"');
        while (q >= 0 && backslashesBefore(src, q) % 2 === 1) q = src.indexOf('"', q + 1);
        let seg = q >= 0 ? src.slice(0, q) : src;
        if (q < 0) {
          const cut = partialEscape(seg);
          this.carry = seg.slice(cut);
          seg = seg.slice(0, cut);
        }
        if (seg) {
          try {
            this.dataBuf.push(JSON.parse(`"${seg}"`) as string);
          } catch {
            throw malformed();
          }
        }
        if (q < 0) return;
        text = src;
        n = src.length;
        i = q + 1;
        this.endString(events);
        continue;
      }
      switch (this.state) {
        case S.Top:
        case S.KeyOrEnd:
        case S.Colon:
        case S.Value:
        case S.AfterValue:
        case S.End: {
          const ch = text[i];
          if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
            i++;
            continue;
          }
          i++;
          this.structural(ch, events);
          continue;
        }
        case S.Str: {
          SPECIAL.lastIndex = i;
          const m = SPECIAL.exec(text);
          const stop = m ? m.index : n;
          if (stop > i) this.take(text.slice(i, stop), events);
          if (!m) {
            i = n;
            continue;
          }
          i = stop + 1;
          if (m[0] === '"') this.endString(events);
          else if (m[0] === "\\") this.state = S.Escape;
          else throw malformed();
          continue;
        }
        case S.Escape: {
          const ch = text[i++];
          if (ch === "u") {
            this.hex = "";
            this.state = S.Unicode;
          } else if (ch in ESCAPES) {
            this.take(ESCAPES[ch], events);
            this.state = S.Str;
          } else throw malformed();
          continue;
        }
        case S.Unicode: {
          const ch = text[i++];
          if (!/[0-9a-fA-F]/.test(ch)) throw malformed();
          this.hex += ch;
          if (this.hex.length === 4) {
            this.take(String.fromCharCode(parseInt(this.hex, 16)), events);
            this.state = S.Str;
          }
          continue;
        }
        case S.Null: {
          if (text[i++] !== "null"[this.literal++]) throw malformed();
          if (this.literal === 4) this.endValue(null);
          continue;
        }
      }
    }
  }

  private structural(ch: string, events: Event[]) {
    switch (this.state) {
      case S.Top:
        if (ch === "{") return void (this.state = S.KeyOrEnd);
        if ('["-0123456789tfn'.includes(ch)) throw bad("body must be a JSON object");
        throw malformed();
      case S.KeyOrEnd:
        if (ch === '"') {
          this.into = "key";
          this.buf = [];
          this.state = S.Str;
          return;
        }
        if (ch === "}" && !this.afterComma) return void (this.state = S.End);
        throw malformed();
      case S.Colon:
        if (ch === ":") return void (this.state = S.Value);
        throw malformed();
      case S.Value:
        if (ch === '"') {
          this.buf = [];
          this.into = this.key === "data" ? "data" : "field";
          if (this.into === "data") {
            if (this.sawData !== "no") throw bad("data field given twice");
            this.sawData = "string";
            events.push({ kind: "data-start" });
          }
          this.state = S.Str;
          return;
        }
        if (ch === "n") {
          this.literal = 1;
          this.state = S.Null;
          return;
        }
        if ("{[-0123456789tf".includes(ch)) throw bad(`${this.key} field must be a string`);
        throw malformed();
      case S.AfterValue:
        if (ch === ",") {
          this.afterComma = true;
          return void (this.state = S.KeyOrEnd);
        }
        if (ch === "}") return void (this.state = S.End);
        throw malformed();
      case S.End:
        throw malformed();
    }
  }

  private take(s: string, events: Event[]) {
    if (this.into === "data") {
      this.dataBuf.push(s);
      return;
    }
    // Keys and other fields live in the D1 row: bounded while they arrive.
    this.fieldChars += s.length;
    if (this.fieldChars > FIELDS_MAX_BYTES) throw bad(`fields other than data total over ${FIELDS_MAX_BYTES} characters`);
    this.buf.push(s);
  }

  private endString(events: Event[]) {
    const text = this.buf.join("");
    this.buf = [];
    if (this.into === "key") {
      this.key = text;
      this.afterComma = false;
      this.state = S.Colon;
    } else if (this.into === "data") {
      this.flushData(events);
      events.push({ kind: "data-end" });
      this.state = S.AfterValue;
    } else this.endValue(text);
  }

  private endValue(value: string | null) {
    if (this.key === "data") {
      if (this.sawData !== "no") throw bad("data field given twice");
      this.sawData = "null";
    } else this.fields[this.key] = value;
    this.state = S.AfterValue;
  }
}

function backslashesBefore(s: string, at: number): number {
  let k = 0;
  while (at - k - 1 >= 0 && s.charCodeAt(at - k - 1) === 0x5c) k++;
  return k;
}

/** Where an escape cut off by the end of `seg` starts (`seg.length` when none is). */
function partialEscape(seg: string): number {
  const trailing = backslashesBefore(seg, seg.length);
  if (trailing % 2 === 1) return seg.length - 1;
  const u = seg.lastIndexOf("\\u");
  if (u >= 0 && seg.length - u < 6 && backslashesBefore(seg, u) % 2 === 0) return u;
  return seg.length;
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

/**
 * Reads a posted log from `body`, at most `maxBytes` of it (`tooLarge` past that).
 * `data` goes to `sink` as it is parsed; if the post turns out bad after that, what the
 * sink stored is discarded, so a failed post leaves nothing behind.
 */
export async function readLogPost<T>(
  body: ReadableStream<Uint8Array> | null,
  opts: { maxBytes: number; tooLarge: () => ApiError; sink: DataSink<T> },
): Promise<ReadPost<T>> {
  const parser = new FlatObjectParser();
  const decoder = new TextDecoder();
  let data: { writer: WritableStreamDefaultWriter<Uint8Array>; stored: Promise<T>; pieces: Utf8Pieces } | null = null;
  let stored: { value: T } | null = null;
  const events: Event[] = [];
  let size = 0;
  let seen = false;

  const play = async () => {
    for (const e of events) {
      if (e.kind === "data-start") {
        const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
        const storing = opts.sink.start(readable);
        // Awaited at the end of `data` (or on failure); a store that fails early must not go unhandled meanwhile.
        storing.catch(() => {});
        data = { writer: writable.getWriter(), stored: storing, pieces: new Utf8Pieces() };
      } else if (e.kind === "data") {
        const bytes = data!.pieces.encode(e.text);
        if (bytes) await data!.writer.write(bytes);
      } else {
        const rest = data!.pieces.flush();
        if (rest) await data!.writer.write(rest);
        await data!.writer.close();
        stored = { value: await data!.stored };
        data = null;
      }
    }
    events.length = 0;
  };

  const reader = body?.getReader();
  try {
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > opts.maxBytes) throw opts.tooLarge();
        const text = decoder.decode(value, { stream: true });
        if (text.trim() !== "") seen = true;
        parser.feed(text, events);
        await play();
      }
    }
    const tail = decoder.decode();
    if (tail.trim() !== "") seen = true;
    parser.feed(tail, events);
    await play();
    if (!seen) throw bad("body must be a JSON object");
    if (parser.state !== S.End) throw malformed();
  } catch (err) {
    await reader?.cancel().catch(() => {});
    const open = data as { writer: WritableStreamDefaultWriter<Uint8Array>; stored: Promise<T> } | null;
    if (open) {
      // The store sees its stream fail and cleans up after itself (an R2 multipart upload is aborted).
      await open.writer.abort(err).catch(() => {});
      await open.stored.catch(() => {});
    }
    if (stored) await opts.sink.discard((stored as { value: T }).value).catch(() => {});
    throw err;
  }
  const fields = parser.fields;
  if (parser.sawData === "no") {
    if (stored) await opts.sink.discard((stored as { value: T }).value).catch(() => {});
    return { fields };
  }
  return { fields, data: parser.sawData === "null" ? null : { stored: (stored as unknown as { value: T }).value } };
}
