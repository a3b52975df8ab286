/**
 * Cold samples: gzip NDJSON objects in R2 (binding TELEMETRY_ARCHIVE), one per project,
 * meter, UTC day and move, each indexed by a `telemetry_archive` row. Reading streams
 * an object through DecompressionStream and filters it line by line; an object that
 * cannot be read is a 503 naming its day, never a silently short answer.
 */
import { and, desc, eq, gte, lte, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { hex } from "../db/d1";
import { telemetryArchive } from "../db/schema";
import { ApiError } from "../http/errors";
import { FIELDS, inScope, type ProjectScope, type SampleRow, scopeCondition } from "./chunks";
import type { SampleQuery } from "./query";
import { flattenMetadata } from "./schemas";
import { COLD_OBJECTS_MAX, COLD_ROWS_MAX, dayName, dayOf, tooManyColdRows, tooManyObjects } from "./tiers";

export type ArchiveEntry = typeof telemetryArchive.$inferSelect;
const a = telemetryArchive;

export const objectKey = (
  projectId: string,
  meter: string,
  day: number,
  minSeq: number,
  maxSeq: number,
  md5: ArrayBuffer,
) =>
  `telemetry/${encodeURIComponent(projectId)}/${encodeURIComponent(meter)}/${dayName(day)}/${minSeq}-${maxSeq}-${hex(new Uint8Array(md5))}.ndjson.gz`;

/** NDJSON of the stored rows, gzip-compressed. */
export async function encodeObject(rows: SampleRow[]): Promise<Uint8Array> {
  const text = `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export class ColdReadError extends ApiError {
  constructor(entry: Pick<ArchiveEntry, "day" | "key">, detail: string) {
    super(
      "other",
      `Cold samples of ${dayName(entry.day)} cannot be read (${entry.key}: ${detail}); retry later or ask an operator.`,
      {
        status: 503,
      },
    );
  }
}

/** Every row of one object, streamed: decompressed and parsed line by line. */
export async function* readObject(bucket: R2Bucket, entry: ArchiveEntry): AsyncGenerator<SampleRow> {
  let object: R2ObjectBody | null;
  try {
    object = await bucket.get(entry.key);
  } catch (e) {
    throw new ColdReadError(entry, String(e));
  }
  if (!object) throw new ColdReadError(entry, "object missing");
  let n = 0;
  let rest = "";
  try {
    const lines = object.body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(new TextDecoderStream());
    for await (const chunk of lines as unknown as AsyncIterable<string>) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        if (!line) continue;
        n++;
        yield JSON.parse(line) as SampleRow;
      }
    }
  } catch (e) {
    if (e instanceof ColdReadError) throw e;
    throw new ColdReadError(entry, `corrupt: ${String(e)}`);
  }
  if (rest || n !== entry.n) throw new ColdReadError(entry, `holds ${n} samples, the index says ${entry.n}`);
}

/** Each query field's property on a stored row (cold rows are stored rows): FIELDS's, and the id. */
const rowField = {
  ...(Object.fromEntries(Object.entries(FIELDS).map(([k, f]) => [k, f.row])) as Record<
    keyof typeof FIELDS,
    keyof SampleRow
  >),
  message_id: "id" as const,
};

/**
 * The query's conditions as a predicate on cold rows (sampleWhere's meaning). Metadata
 * conditions match the entries ingest would index for the row's metadata (schemas.ts's
 * flattening, so `flavor.name` and `tags[0]` as in the side table): cold rows carry
 * their metadata in the NDJSON, and the side table's rows left D1 with them.
 */
export function coldPredicate(q: SampleQuery, scope: ProjectScope): (r: SampleRow) => boolean {
  const equals = q.equals.map(({ field, value }) => [rowField[field], value] as const);
  const { start, end, metadata } = q;
  const hasMetadata = (r: SampleRow) => {
    if (!metadata.length) return true;
    const entries = r.metadata ? (flattenMetadata(JSON.parse(r.metadata), Infinity) ?? []) : [];
    return metadata.every((m) => entries.some((e) => e.key === m.key && e.kind === m.kind && e.value === m.value));
  };
  return (r) =>
    equals.every(([f, v]) => r[f] === v) &&
    (!start || (start.inclusive ? r.timestamp >= start.us : r.timestamp > start.us)) &&
    (!end || (end.inclusive ? r.timestamp <= end.us : r.timestamp < end.us)) &&
    inScope(scope, r.projectId) &&
    hasMetadata(r);
}

/** Index rows of the objects that may hold matches in [lo, hi], newest day first. */
export function coldObjectsQuery(
  db: Database,
  q: SampleQuery,
  scope: ProjectScope,
  lo: number,
  hi: number,
  limit = COLD_OBJECTS_MAX + 1,
) {
  const named = (field: "project_id" | "meter") => q.equals.filter((e) => e.field === field).map((e) => e.value);
  const conds: Array<SQL | undefined> = [
    ...named("project_id").map((p) => eq(a.projectId, p)),
    ...named("meter").map((m) => eq(a.meter, m)),
    scopeCondition(a.projectId, scope),
    Number.isFinite(lo) ? gte(a.day, dayOf(lo)) : undefined,
    Number.isFinite(hi) ? lte(a.day, dayOf(hi)) : undefined,
    Number.isFinite(lo) ? gte(a.last, lo) : undefined,
    Number.isFinite(hi) ? lte(a.first, hi) : undefined,
  ];
  return db
    .select()
    .from(a)
    .where(and(...conds))
    .orderBy(desc(a.day), a.key)
    .limit(limit);
}

/**
 * The same index rows over several shards (each holds its projects' rows): each shard's
 * newest `limit`, merged in the index's order and cut to `limit`, which is what one
 * database holding them all would answer.
 */
export async function coldObjectsAcross(
  dbs: Database[],
  q: SampleQuery,
  scope: ProjectScope,
  lo: number,
  hi: number,
  limit = COLD_OBJECTS_MAX + 1,
): Promise<ArchiveEntry[]> {
  if (dbs.length === 1) return coldObjectsQuery(dbs[0], q, scope, lo, hi, limit);
  const lists = await Promise.all(dbs.map((db) => coldObjectsQuery(db, q, scope, lo, hi, limit)));
  return lists
    .flat()
    .sort((x, y) => y.day - x.day || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
    .slice(0, limit);
}

/** Statistics read every object in range: refused up front past either bound. */
export function checkObjectCount(entries: ArchiveEntry[]) {
  if (entries.length > COLD_OBJECTS_MAX) throw tooManyObjects(entries.length);
  const rows = entries.reduce((n, e) => n + e.n, 0);
  if (rows > COLD_ROWS_MAX) throw tooManyColdRows(rows);
}

/** Rows of `entries` that `keep` accepts, read one object after another. */
export async function* coldRows(bucket: R2Bucket, entries: ArchiveEntry[], keep: (r: SampleRow) => boolean) {
  for (const entry of entries) {
    for await (const r of readObject(bucket, entry)) if (keep(r)) yield r;
  }
}

/** Newest first, as lists are ordered (timestamp, then seq). */
export const newestFirst = (x: SampleRow, y: SampleRow) => y.timestamp - x.timestamp || y.seq - x.seq;
