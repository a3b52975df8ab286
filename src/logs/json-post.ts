/**
 * A JSON log post read as it arrives. A posted log is one flat object of strings, and
 * its `data` may be tens of MiB: parsing the whole text with JSON.parse would hold the
 * raw bytes, the text and the parsed string at once. So a post is read whole only while
 * it is small (at most `wholeMax` bytes, LOG_INLINE_MAX: the common pilot post of a few
 * KB), and then parsed by one JSON.parse. A larger one is decoded and parsed chunk by
 * chunk: `data` is unescaped straight into the body store, and only the other fields
 * (at most FIELDS_MAX_BYTES) are kept; memory holds one request chunk and the store's
 * buffer, never a copy of the whole body. Both ways give the same answer for every input
 * (a small post that is anything but a plain flat object goes through the parser too).
 */
import { concat } from "../http/body";
import { ApiError, errors } from "../http/errors";
import { FIELDS_MAX_BYTES } from "./schemas";

/** Where `data` goes: the body store. */
export interface DataSink<T> {
  /** A small post: `data` whole, as JSON.parse gave it. */
  whole(text: string): Promise<T>;
  /** A large post: called once, when `data`'s string starts; its UTF-8 follows piece by piece. */
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
const malformed = () => errors.malformedJson();

type Event = { kind: "data-start" } | { kind: "data"; text: string } | { kind: "data-end" };

enum S {
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
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON (RFC 8259 §7) forbids raw U+0000–U+001F inside strings, so the scanner must stop on them to reject them
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
        if (ch === "{") {
          this.state = S.KeyOrEnd;
          return;
        }
        if ('["-0123456789tfn'.includes(ch)) throw bad("body must be a JSON object");
        throw malformed();
      case S.KeyOrEnd:
        if (ch === '"') {
          this.into = "key";
          this.buf = [];
          this.state = S.Str;
          return;
        }
        if (ch === "}" && !this.afterComma) {
          this.state = S.End;
          return;
        }
        throw malformed();
      case S.Colon:
        if (ch === ":") {
          this.state = S.Value;
          return;
        }
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
          this.state = S.KeyOrEnd;
          return;
        }
        if (ch === "}") {
          this.state = S.End;
          return;
        }
        throw malformed();
      case S.End:
        throw malformed();
    }
  }

  private take(s: string, _events: Event[]) {
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

/** Counts keys that may spell `data` (each letter plain or as a \\u escape), up to two. */
const DATA_KEY = /"(?:d|\\u0064)(?:a|\\u0061)(?:t|\\u0074)(?:a|\\u0061)"/g;
function dataKeys(text: string): number {
  DATA_KEY.lastIndex = 0;
  let n = 0;
  while (n < 2 && DATA_KEY.exec(text)) n++;
  return n;
}

/**
 * A small post parsed by one JSON.parse, when it is the plain case: an object whose
 * values are strings or null, `data` a string. Anything else is null, and the parser
 * reads it instead, so errors (which field, which reason) are the parser's. JSON.parse
 * lets a repeated key win silently, where the parser refuses a second `data` and counts
 * every field towards FIELDS_MAX_BYTES: so a text that may repeat `data` (an upper bound
 * on its keys that spell it) or whose non-`data` text could reach that limit goes to
 * the parser too.
 */
function parseWhole(text: string): { fields: Record<string, string | null>; data: string } | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return null;
  const fields: Record<string, string | null> = {};
  let data: unknown;
  for (const [key, value] of Object.entries(doc)) {
    if (key === "data") data = value;
    else if (value === null || typeof value === "string") fields[key] = value;
    else return null;
  }
  if (typeof data !== "string") return null;
  // Unescaped fields are never longer than their JSON text, which is all but data's.
  if (text.length - data.length > FIELDS_MAX_BYTES) return null;
  if (dataKeys(text) > 1) return null;
  return { fields, data };
}

/**
 * Reads a posted log from `body`, at most `maxBytes` of it (`tooLarge` past that).
 * A post of at most `wholeMax` bytes is read whole and parsed at once; a larger one is
 * parsed as it arrives, `data` going to `sink` as it is unescaped. If the post turns out
 * bad after that, what the sink stored is discarded, so a failed post leaves nothing behind.
 */
export async function readLogPost<T>(
  body: ReadableStream<Uint8Array> | null,
  opts: { maxBytes: number; wholeMax: number; tooLarge: () => ApiError; sink: DataSink<T> },
): Promise<ReadPost<T>> {
  const reader = body?.getReader();
  const held: Uint8Array[] = [];
  let size = 0;
  let parsing: StreamedPost<T> | null = null;
  try {
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > opts.maxBytes) throw opts.tooLarge();
        if (!parsing) {
          if (size <= opts.wholeMax) {
            held.push(value);
            continue;
          }
          // Too big to read whole: parse what came so far, then the rest as it arrives.
          parsing = new StreamedPost(opts.sink);
          for (const chunk of held.splice(0)) await parsing.feed(chunk);
        }
        await parsing.feed(value);
      }
    }
    if (!parsing) {
      const bytes = concat(held, size);
      const plain = parseWhole(new TextDecoder().decode(bytes));
      if (plain) return { fields: plain.fields, data: { stored: await opts.sink.whole(plain.data) } };
      parsing = new StreamedPost(opts.sink);
      await parsing.feed(bytes);
    }
    return await parsing.finish();
  } catch (err) {
    await reader?.cancel().catch(() => {});
    await parsing?.abandon();
    throw err;
  }
}

/** A post parsed as it arrives, `data` written to the sink as the parser hands it back. */
class StreamedPost<T> {
  private parser = new FlatObjectParser();
  private decoder = new TextDecoder();
  private events: Event[] = [];
  private writer: DataWriter<T> | null = null;
  private pieces = new Utf8Pieces();
  private stored: { value: T } | null = null;
  private seen = false;

  constructor(private sink: DataSink<T>) {}

  async feed(bytes: Uint8Array) {
    this.text(this.decoder.decode(bytes, { stream: true }));
    await this.play();
  }

  private text(text: string) {
    if (!this.seen && text.trim() !== "") this.seen = true;
    this.parser.feed(text, this.events);
  }

  private async play() {
    for (const e of this.events) {
      if (e.kind === "data-start") {
        this.writer = this.sink.open();
      } else if (e.kind === "data") {
        const bytes = this.pieces.encode(e.text);
        if (bytes) await this.writer!.write(bytes);
      } else {
        const rest = this.pieces.flush();
        if (rest) await this.writer!.write(rest);
        const writer = this.writer!;
        this.writer = null;
        try {
          this.stored = { value: await writer.close() };
        } catch (err) {
          await writer.abort();
          throw err;
        }
      }
    }
    this.events.length = 0;
  }

  async finish(): Promise<ReadPost<T>> {
    this.text(this.decoder.decode());
    await this.play();
    if (!this.seen) throw bad("body must be a JSON object");
    if (this.parser.state !== S.End) throw malformed();
    const fields = this.parser.fields;
    if (this.parser.sawData === "no") {
      await this.abandon();
      return { fields };
    }
    return { fields, data: this.parser.sawData === "null" ? null : { stored: this.stored!.value } };
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
}
