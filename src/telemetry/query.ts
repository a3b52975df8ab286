/**
 * Ceilometer v2's query language, as a pure module: `q.field`, `q.op`, `q.value`,
 * `q.type` repeated and matched by position (the n-th of each form one condition),
 * plus the paging arguments. Every refusal is a 400 worded as Ceilometer words it.
 */
import { ApiError } from "../http/errors";
import { parseInteger } from "../http/query";

export const STRING_FIELDS = [
  "project_id",
  "resource_id",
  "resource_name",
  "meter",
  "namespace",
  "user_id",
  "source",
  "message_id",
] as const;
export type StringField = (typeof STRING_FIELDS)[number];

export type QueryField = StringField | "timestamp" | "search_offset";
/** The order Ceilometer's own message lists them in (timestamp after project_id), then the fields this service adds. */
const SAMPLE_FIELDS: readonly QueryField[] = [
  STRING_FIELDS[0],
  "timestamp",
  ...STRING_FIELDS.slice(1),
  "search_offset",
];

const SUPPORTED_TYPES = ["integer", "float", "boolean", "string", "datetime"] as const;
const TIMESTAMP_OPS = ["ge", "gt", "le", "lt"];

/**
 * Most `q.*` conditions one request may carry: each becomes a bound parameter or two,
 * and D1 binds at most 100 per statement (docs/api/telemetry.md).
 */
export const MAX_CONDITIONS = 32;

/** A timestamp bound in microseconds since the epoch (UTC). */
export interface Bound {
  us: number;
  inclusive: boolean;
}

/**
 * A metadata value as the side table stores it: `s` strings, `n` numbers, `b` booleans
 * (1 or 0). Ceilometer keeps the three in separate tables, so `1` never matches `true`.
 */
export type MetadataKind = "s" | "n" | "b";
export interface MetadataCondition {
  /** The flattened key: `flavor.name`, `tags[0]`. */
  key: string;
  kind: MetadataKind;
  value: string | number;
}

export interface SampleQuery {
  /** Equality conditions, ANDed; one per field (the last one given wins). */
  equals: Array<{ field: StringField; value: string }>;
  /** Equality on flattened metadata keys, ANDed; one per key (the last one wins). */
  metadata: MetadataCondition[];
  /** Every project_id value named, before the last one won: each must be the caller's. */
  projectsNamed: string[];
  start?: Bound;
  end?: Bound;
}

export const badQuery = (message: string) => new ApiError("other", message, { status: 400 });

const METADATA_PREFIXES = ["metadata.", "resource_metadata."];

/**
 * Reads the conditions of a query string. `fields` narrows what the resource accepts
 * (the meter list takes no timestamp, as in Ceilometer); `metadata` whether it takes
 * `metadata.<key>` conditions.
 */
export function parseSampleQuery(
  params: URLSearchParams,
  fields: readonly QueryField[] = SAMPLE_FIELDS,
  opts: { metadata?: boolean } = { metadata: true },
): SampleQuery {
  const column = (name: string) => params.getAll(`q.${name}`);
  const [names, ops, values, types] = [column("field"), column("op"), column("value"), column("type")];
  // Groups of unequal length leave the missing members blank: a lone op or value is
  // a condition without a field, a field without a value is refused as such.
  const groups = Math.max(names.length, ops.length, values.length, types.length);
  if (groups > MAX_CONDITIONS) {
    throw badQuery(
      `Too many conditions in query: ${groups}. A query holds at most ${MAX_CONDITIONS} (q.field, q.op, q.value, q.type).`,
    );
  }
  const query: SampleQuery = { equals: [], metadata: [], projectsNamed: [] };
  let offsetMinutes: number | null = null;
  const validKeys = () => `Unrecognized field in query. valid keys:[${fields.map((f) => `"${f}"`).join(", ")}]`;
  for (let i = 0; i < groups; i++) {
    const field = (names[i] ?? "").trim();
    const op = (ops[i] ?? "").trim() || "eq";
    const value = values[i] ?? "";
    const type = (types[i] ?? "").trim();
    if (!field) throw badQuery("Field can't be blank.");
    if (!value.trim()) throw badQuery("Value can't be blank.");
    const prefix = METADATA_PREFIXES.find((p) => field.startsWith(p) && field.length > p.length);
    if (prefix) {
      if (!opts.metadata) throw badQuery(validKeys());
      // As Ceilometer's simple query: metadata takes eq only.
      if (op !== "eq") throw badQuery(`Unimplemented operator '${op}' for specified field.`);
      const key = field.slice(prefix.length);
      const condition = { key, ...metadataValue(value, type, field) };
      query.metadata = [...query.metadata.filter((m) => m.key !== key), condition];
      continue;
    }
    if (!(fields as readonly string[]).includes(field)) {
      if (field === "timestamp" || field === "search_offset")
        throw badQuery(`Unknown argument: "${field}": not valid for this resource`);
      throw badQuery(validKeys());
    }
    const allowed = field === "timestamp" ? TIMESTAMP_OPS : ["eq"];
    if (!allowed.includes(op)) throw badQuery(`Unimplemented operator '${op}' for specified field.`);
    checkType(type);
    if (field === "timestamp") {
      if (type && type !== "datetime")
        throw badQuery(`Unimplemented data type '${type}' for timestamp. valid data types: ["datetime"]`);
      const us = parseTimestamp(value);
      if (us === null)
        throw badQuery(`Unexpected exception converting '${value}' to the expected data type "datetime".`);
      const bound = { us, inclusive: op === "ge" || op === "le" };
      if (op === "ge" || op === "gt") query.start = tighter(query.start, bound, 1);
      else query.end = tighter(query.end, bound, -1);
    } else if (field === "search_offset") {
      if (!convertible(value, "integer"))
        throw badQuery(`Unable to convert the value '${value}' to the expected data type 'integer'.`);
      offsetMinutes = Number(value.trim());
    } else {
      // A typed value must convert to its type; the stored fields are strings, so the
      // value is then compared as the client wrote it.
      if (type && !convertible(value, type)) throw badQuery(conversionMessage(value, type));
      if (field === "project_id") query.projectsNamed.push(value);
      // As Ceilometer's query_to_kwargs: a field given twice keeps its last value.
      query.equals = [...query.equals.filter((e) => e.field !== field), { field: field as StringField, value }];
    }
  }
  if (offsetMinutes !== null) {
    if (!query.start && !query.end) {
      throw badQuery(
        "Invalid input for field/attribute field. Value: 'search_offset'. search_offset cannot be used without timestamp",
      );
    }
    // Widens the range on both sides, as Ceilometer's _get_query_timestamps does.
    const shift = offsetMinutes * 60e6;
    if (query.start) query.start = { ...query.start, us: query.start.us - shift };
    if (query.end) query.end = { ...query.end, us: query.end.us + shift };
    // A widened bound must still be a datetime (years 1 to 9999), as Ceilometer's
    // timedelta arithmetic overflows past them.
    const outside = (b?: Bound) => b !== undefined && !(b.us >= MIN_US && b.us <= MAX_US);
    if (outside(query.start) || outside(query.end)) {
      throw badQuery(
        `Invalid input for field/attribute search_offset. Value: '${offsetMinutes}'. The widened timestamp range leaves the years 1 to 9999.`,
      );
    }
  }
  if (query.start && query.end && query.start.us > query.end.us) {
    throw badQuery("Please designate end_timestamp newer than start_timestamp.");
  }
  return query;
}

function checkType(type: string) {
  if (type && !(SUPPORTED_TYPES as readonly string[]).includes(type)) {
    throw badQuery(
      `The data type '${type}' is not supported. The supported data type list is: [${SUPPORTED_TYPES.map((t) => `'${t}'`).join(", ")}]`,
    );
  }
}

function conversionMessage(value: string, type: string) {
  return type === "datetime"
    ? `Unexpected exception converting '${value}' to the expected data type "datetime".`
    : `Unable to convert the value '${value}' to the expected data type '${type}'.`;
}

/**
 * A metadata condition's value, typed as Ceilometer's Query._get_value_as_type types
 * it: by `q.type` when given, else as a Python literal would read (`5` an integer,
 * `1.5` a float, `True` a boolean, `'x'` a string), anything else as the text itself.
 */
function metadataValue(raw: string, type: string, field: string): { kind: MetadataKind; value: string | number } {
  checkType(type);
  const v = raw.trim();
  switch (type) {
    case "integer":
    case "float":
      if (!convertible(raw, type)) throw badQuery(conversionMessage(raw, type));
      return { kind: "n", value: Number(v) };
    case "boolean":
      if (!convertible(raw, type)) throw badQuery(conversionMessage(raw, type));
      return { kind: "b", value: /^(1|t|true|y|yes|on)$/i.test(v) ? 1 : 0 };
    case "string":
      return { kind: "s", value: raw };
    case "datetime":
      if (!convertible(raw, type)) throw badQuery(conversionMessage(raw, type));
      throw badQuery(`Query on ${field} is of datetime type and is not supported`);
  }
  // Python reads `007` as no literal at all, `07.5` as a float.
  if (
    /^[+-]?(0|[1-9]\d*)$/.test(v) ||
    (/^[+-]?(\d*\.\d*|\d+(?=[eE]))([eE][+-]?\d+)?$/.test(v) && /\d/.test(v) && Number.isFinite(Number(v)))
  ) {
    return { kind: "n", value: Number(v) };
  }
  if (v === "True" || v === "False") return { kind: "b", value: v === "True" ? 1 : 0 };
  const quoted = /^(['"])(.*)\1$/s.exec(v);
  if (quoted) return { kind: "s", value: quoted[2] };
  if (/^[[({]/.test(v) && /[\])}]$/.test(v)) {
    throw badQuery(
      `Query on ${field} is of ${v[0] === "{" ? "dict" : v[0] === "(" ? "tuple" : "list"} type and is not supported`,
    );
  }
  return { kind: "s", value: raw };
}

/** Of two bounds on the same side, the one that admits less (`sign` 1: the later start). */
function tighter(old: Bound | undefined, next: Bound, sign: 1 | -1): Bound {
  if (!old) return next;
  if (old.us !== next.us) return (next.us - old.us) * sign > 0 ? next : old;
  return old.inclusive ? next : old;
}

function convertible(value: string, type: string): boolean {
  const v = value.trim();
  switch (type) {
    case "integer":
      return /^[+-]?\d+$/.test(v) && Number.isSafeInteger(Number(v));
    case "float":
      return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) && Number.isFinite(Number(v));
    case "boolean":
      return /^(1|0|t|f|true|false|y|n|yes|no|on|off)$/i.test(v);
    case "datetime":
      return parseTimestamp(value) !== null;
    default:
      return true;
  }
}

// ─── Datetimes ──────────────────────────────────────────────────────────────

const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?| \d{2}:\d{2})?)?$/i;

/**
 * ISO 8601 date or datetime → microseconds since the epoch, UTC; null when it is not
 * one. An offset is applied (02:25+01:00 is 01:25 UTC), no zone means UTC, and an
 * offset whose `+` arrived as a space (an unencoded URL) still counts as `+`.
 */
export function parseTimestamp(text: string): number | null {
  const m = ISO_DATETIME.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = ""] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== "Z") {
    const z = /^([+ -])(\d{2}):?(\d{2})?$/.exec(zone);
    if (!z) return null;
    const [oh, om] = [Number(z[2]), Number(z[3] ?? 0)];
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (z[1] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const micros = Number(frac.padEnd(6, "0").slice(0, 6));
  const seconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  const us = seconds * 1e6 + micros;
  return us >= MIN_US && us <= MAX_US ? us : null;
}

const MIN_US = daysFromCivil(1, 1, 1) * 86400e6;
const MAX_US = (daysFromCivil(10000, 1, 1) * 86400 - 1) * 1e6 + 999999;

/** `2015-11-14T02:25:00+00:00`, with `.ffffff` only when there are microseconds (Python's isoformat). */
export function formatTimestamp(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = us - Math.floor(us / 1e6) * 1e6;
  const iso = new Date(ms).toISOString().slice(0, 19);
  return `${iso}${micros ? `.${String(micros).padStart(6, "0")}` : ""}+00:00`;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; years 1..9999). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

// ─── Paging ─────────────────────────────────────────────────────────────────

export const DEFAULT_PER_PAGE = 100;
export const MAX_PER_PAGE = 1000;

export interface Paging {
  perPage: number;
  page: number;
  /** Where the previous page ended, from a `next` link. */
  cursor: Cursor | null;
}

/**
 * The last row of the previous page (its timestamp and seq) and the total counted on
 * page 1, with whether that count is exact or stopped at TOTAL_COUNT_LIMIT.
 */
export interface Cursor {
  timestamp: number;
  seq: number;
  total: number;
  exact: boolean;
}

/**
 * `Total` counts matches up to this many; past it the header says this number and
 * `Total-Exact: false`, so a first page never reads more than this many index rows to
 * count (docs/api/telemetry.md).
 */
export const TOTAL_COUNT_LIMIT = 1000;

/** `limit` wins over `per_page` (default 100; both capped at 1000); `page` counts from 1. */
export function parsePaging(params: URLSearchParams): Paging {
  const limit = positive(params, "limit");
  const perPage = Math.min(limit ?? positive(params, "per_page") ?? DEFAULT_PER_PAGE, MAX_PER_PAGE);
  const page = positive(params, "page") ?? 1;
  const raw = params.get("cursor");
  const cursor = raw === null ? null : decodeCursor(raw);
  if (!cursor && !pageWithinSkip(page, perPage)) {
    throw badQuery(
      `Invalid page '${page}': a page number reaches at most the first ${MAX_PAGE_SKIP} matches; follow the "next" links of the Link header, whose cursor resumes where the previous page ended.`,
    );
  }
  return { perPage, page, cursor };
}

/**
 * Most rows a page number without a cursor may skip: an OFFSET reads every row it skips,
 * so `page=999999999` would read the whole table for an empty answer. Deeper pages are
 * reached through the `next` links' cursor, which reads about one page of rows however
 * deep (docs/api/telemetry.md).
 */
export const MAX_PAGE_SKIP = 10_000;

/** Whether `page` (counting from 1) skips no more than MAX_PAGE_SKIP rows. */
export const pageWithinSkip = (page: number, perPage: number) => (page - 1) * perPage <= MAX_PAGE_SKIP;

function positive(params: URLSearchParams, name: string): number | null {
  const raw = params.get(name);
  if (raw === null) return null;
  const n = parseInteger(raw);
  if (n === null || n < 1) throw badQuery(`Invalid ${name} '${raw}': it must be a positive integer.`);
  return n;
}

export function encodeCursor(c: Cursor): string {
  return btoa(`${c.timestamp}.${c.seq}.${c.total}${c.exact ? "" : "+"}`).replaceAll("=", "");
}

export function decodeCursor(raw: string): Cursor {
  let text = "";
  try {
    text = atob(raw);
  } catch {}
  const m = /^(-?\d{1,16})\.(\d{1,16})\.(\d{1,16})(\+?)$/.exec(text);
  if (!m) throw badQuery(`Invalid cursor '${raw}': follow the links of the Link header.`);
  return { timestamp: Number(m[1]), seq: Number(m[2]), total: Number(m[3]), exact: m[4] === "" };
}
