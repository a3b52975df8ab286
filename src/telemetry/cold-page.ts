/**
 * A page of samples across the hot (D1) and cold (R2) tiers, newest first, resumed by
 * the same (timestamp, seq) cursor. `Total` follows one rule in both tiers: matches
 * counted up to TOTAL_COUNT_LIMIT (query.ts), `Total-Exact: false` past it
 * (docs/telemetry-storage.md).
 */

import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { telemetryArchive } from "../db/schema";
import { hotSampleById, inScope, type ProjectScope, type SampleInput, type SampleRow, seriesKey } from "./chunks";
import { type ArchiveEntry, coldObjectsAcross, coldObjectsQuery, coldPredicate, newestFirst, readObject } from "./cold";
import { type Paging, type SampleQuery, TOTAL_COUNT_LIMIT } from "./query";
import {
  COLD_OBJECTS_MAX,
  COLD_ROWS_MAX,
  dayOf,
  hotFrom,
  retainFrom,
  type Tiers,
  tooManyColdRows,
  tooManyObjects,
} from "./tiers";

export interface TierContext {
  db: Database;
  archive: R2Bucket;
  tiers: Tiers;
  nowMs: number;
}

/** The time range a page may read: the query's bounds, below the cursor. */
export function pageRange(q: SampleQuery, paging: Paging): [number, number] {
  return [q.start?.us ?? -Infinity, Math.min(q.end?.us ?? Infinity, paging.cursor?.timestamp ?? Infinity)];
}

/**
 * Batched with the hot page: one row of the cold index at most, telling whether any
 * cold object lies in the page's range (none: the hot page and count are the answer).
 * Null when the range starts inside the hot window, where no cold row can be.
 */
export function coldProbe(tier: TierContext, q: SampleQuery, scope: ProjectScope, paging: Paging) {
  const [lo, hi] = pageRange(q, paging);
  return lo >= hotFrom(tier.nowMs, tier.tiers) ? null : coldObjectsQuery(tier.db, q, scope, lo, hi, 1);
}

/**
 * Whether the hot rows gathered (newest first, at least `need` when there are) can miss
 * cold rows of the page. Every cold row is older than the hot window's start (the cron
 * moves only such chunks), so a page whose last row is inside the window is all hot.
 */
export function pageNeedsCold(rows: SampleRow[], need: number, tier: TierContext): boolean {
  return rows.length < need || rows[need - 1].timestamp < hotFrom(tier.nowMs, tier.tiers);
}

/**
 * Reads the cold objects a page or a count needs, once each: the rows of an object that
 * match the query (and are within the raw retention), kept per object.
 */
class ColdReader {
  private matches = new Map<string, SampleRow[]>();
  private read = 0;
  private parsed = 0;
  private keep: (r: SampleRow) => boolean;
  private floor: number;
  constructor(
    private tier: TierContext,
    q: SampleQuery,
    scope: ProjectScope,
  ) {
    this.keep = coldPredicate(q, scope);
    this.floor = retainFrom(tier.nowMs, tier.tiers);
  }
  async rows(e: ArchiveEntry): Promise<SampleRow[]> {
    let rows = this.matches.get(e.key);
    if (rows) return rows;
    if (++this.read > COLD_OBJECTS_MAX) throw tooManyObjects(this.read);
    this.parsed += e.n;
    if (this.parsed > COLD_ROWS_MAX) throw tooManyColdRows(this.parsed);
    rows = [];
    for await (const r of readObject(this.tier.archive, e)) if (r.timestamp >= this.floor && this.keep(r)) rows.push(r);
    this.matches.set(e.key, rows);
    return rows;
  }
}

/**
 * Rows `[offset, offset + limit)` of the merged tiers, from the hot rows gathered (all
 * of those above the page's end) and the cold objects, read newest last row first: once
 * the page is full an object whose last row is older than the page's last row cannot
 * change it, nor can any after it.
 */
async function tieredRows(
  reader: ColdReader,
  entries: ArchiveEntry[],
  hot: SampleRow[],
  paging: Paging,
  offset: number,
  limit: number,
): Promise<SampleRow[]> {
  const need = offset + limit;
  const after = paging.cursor ?? undefined;
  const rows = [...hot];
  const before = (r: SampleRow) =>
    !after || r.timestamp < after.timestamp || (r.timestamp === after.timestamp && r.seq < after.seq);
  for (const e of [...entries].sort((x, y) => y.last - x.last)) {
    if (rows.length >= need && e.last < rows.sort(newestFirst)[need - 1].timestamp) break;
    rows.push(...(await reader.rows(e)).filter(before));
  }
  return rows.sort(newestFirst).slice(offset, need);
}

/**
 * Cold matches, counted no further than what the hot count leaves to TOTAL_COUNT_LIMIT:
 * an object whose index row answers the query alone (only project and meter asked, the
 * whole object within the bounds) counts its `n`; any other is read and filtered.
 */
async function coldCount(
  reader: ColdReader,
  entries: ArchiveEntry[],
  q: SampleQuery,
  scope: ProjectScope,
  floor: number,
  room: number,
) {
  let n = 0;
  const byIndex = !q.metadata.length && q.equals.every((e) => e.field === "project_id" || e.field === "meter");
  const within = (e: ArchiveEntry) =>
    e.day >= floor &&
    inScope(scope, e.projectId) &&
    (!q.start || (q.start.inclusive ? e.first >= q.start.us : e.first > q.start.us)) &&
    (!q.end || (q.end.inclusive ? e.last <= q.end.us : e.last < q.end.us));
  for (const e of entries) {
    if (n > room) return n;
    n += byIndex && within(e) ? e.n : (await reader.rows(e)).length;
  }
  // More objects than were listed: the count stops here, not exact.
  return entries.length > COLD_OBJECTS_MAX ? Math.max(n, room + 1) : n;
}

/**
 * Completes a page whose range reaches cold objects: its rows (`hot.rows`: the hot
 * matches gathered, newest first, at least offset + limit of them when there are) and its
 * total when the hot count left room under the cap. `hot.count` is the capped hot count
 * (undefined on a linked page, whose total travels in the cursor).
 */
export async function coldPage(
  tier: TierContext,
  q: SampleQuery,
  scope: ProjectScope,
  paging: Paging,
  hot: { rows: SampleRow[]; limit: number; offset: number; count?: number },
  shards: Database[] = [tier.db],
): Promise<{ rows: SampleRow[]; count?: number }> {
  const [lo, hi] = pageRange(q, paging);
  // The newest COLD_OBJECTS_MAX + 1 objects of all the shards read: a page reads the newest
  // first and stops at COLD_OBJECTS_MAX reads; a count past them is not exact.
  const entries = await coldObjectsAcross(shards, q, scope, lo, hi);
  const reader = new ColdReader(tier, q, scope);
  const rows = pageNeedsCold(hot.rows, hot.offset + hot.limit, tier)
    ? await tieredRows(reader, entries, hot.rows, paging, hot.offset, hot.limit)
    : hot.rows.slice(hot.offset, hot.offset + hot.limit);
  let count = hot.count;
  if (count !== undefined && count <= TOTAL_COUNT_LIMIT) {
    count += await coldCount(reader, entries, q, scope, retainFrom(tier.nowMs, tier.tiers), TOTAL_COUNT_LIMIT - count);
  }
  return { rows, count };
}

/**
 * One sample by id, hot or cold: the id says its series and timestamp (chunks.ts), so a
 * hot one is one chunk read; a cold one is the objects of its project, meter and day.
 */
export async function sampleById(tier: TierContext, id: string, scope: ProjectScope): Promise<SampleRow | undefined> {
  const { row, series, at } = await hotSampleById(tier.db, id, scope);
  if (row || !series || !at) return row;
  const q: SampleQuery = {
    equals: [
      { field: "project_id", value: series.projectId },
      { field: "meter", value: series.meter },
    ],
    metadata: [],
    projectsNamed: [],
  };
  const entries = await coldObjectsQuery(tier.db, q, scope, at.timestamp, at.timestamp);
  for (const e of entries.slice(0, COLD_OBJECTS_MAX)) {
    for await (const r of readObject(tier.archive, e)) if (r.id === id) return r;
  }
  return undefined;
}

/**
 * The posted samples that are already cold (their hour moved to R2): a sample older than
 * the hot window may be a re-post of one the cron moved, which must not be stored twice.
 * Looks up the objects of each posted (project, meter, day) in one query and reads them
 * (at most COLD_OBJECTS_MAX); answers, per posted index, the stored cold sample.
 */
export async function coldDuplicates(tier: TierContext, samples: SampleInput[]): Promise<Map<number, SampleRow>> {
  const floor = hotFrom(tier.nowMs, tier.tiers);
  const late = samples.map((s, i) => [s, i] as const).filter(([s]) => s.timestamp < floor);
  const found = new Map<number, SampleRow>();
  if (!late.length) return found;
  const a = telemetryArchive;
  const groups = JSON.stringify(
    [...new Set(late.map(([s]) => JSON.stringify([s.projectId, s.meter, dayOf(s.timestamp)])))].map((g) =>
      JSON.parse(g),
    ),
  );
  const entries = await tier.db
    .select()
    .from(a)
    .where(
      sql`(${a.projectId}, ${a.meter}, ${a.day}) in (select j.value ->> 0, j.value ->> 1, j.value ->> 2 from json_each(${groups}) j)`,
    )
    .limit(COLD_OBJECTS_MAX + 1);
  if (!entries.length) return found;
  if (entries.length > COLD_OBJECTS_MAX) throw tooManyObjects(entries.length);
  const identity = (s: Parameters<typeof seriesKey>[0] & { timestamp: number; volume: number }) =>
    `${s.timestamp} ${s.volume} ${seriesKey(s)}`;
  const wanted = new Map<string, number[]>();
  for (const [s, i] of late) wanted.set(identity(s), [...(wanted.get(identity(s)) ?? []), i]);
  for (const e of entries) {
    if (!late.some(([s]) => s.timestamp >= e.first && s.timestamp <= e.last)) continue;
    for await (const r of readObject(tier.archive, e)) for (const i of wanted.get(identity(r)) ?? []) found.set(i, r);
  }
  return found;
}
