/**
 * A page of samples across the hot (D1) and cold (R2) tiers, newest first, resumed by
 * the same (timestamp, seq) cursor: the hot page and the cold days that may hold rows
 * of it are merged. Total counts hot and cold matches (rollups for whole hours).
 */
import type { SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { coldObjectsQuery, coldPredicate, newestFirst, readObject, type ArchiveEntry } from "./cold";
import type { Paging, SampleQuery } from "./query";
import { tieredStatistics } from "./rollups";
import { countersQuery, samplePageQuery, sampleCountQuery, type ProjectScope, type SampleRow } from "./store";
import { COLD_OBJECTS_MAX, hotFrom, retainFrom, tooManyObjects, type Tiers } from "./tiers";

export interface TierContext {
  db: Database;
  archive: R2Bucket;
  tiers: Tiers;
  nowMs: number;
}

/** Null when no cold object lies in the query's range: the hot page is the whole answer. */
export async function tieredSamplePage(
  t: TierContext,
  q: SampleQuery,
  scope: ProjectScope,
  where: SQL | undefined,
  paging: Paging,
): Promise<{ rows: SampleRow[]; total: number } | null> {
  const { db } = t;
  const lo = q.start?.us ?? -Infinity;
  const hi = Math.min(q.end?.us ?? Infinity, paging.cursor?.timestamp ?? Infinity);
  const offset = paging.cursor ? 0 : (paging.page - 1) * paging.perPage;
  const need = offset + paging.perPage;
  // Reads no row when nothing cold is in range (the usual hot query).
  const entries = await coldObjectsQuery(db, q, scope, lo, hi);
  if (!entries.length) return null;
  const hot = await samplePageQuery(db, where, { limit: need, offset: 0, after: paging.cursor ?? undefined });

  const total = paging.cursor ? paging.cursor.total : await countAll(t, q, scope, where);
  const keep = coldPredicate(q, scope);
  const floor = retainFrom(t.nowMs, t.tiers);
  const after = paging.cursor;
  const before = (r: SampleRow) => !after || r.timestamp < after.timestamp || (r.timestamp === after.timestamp && r.seq < after.seq);
  let rows = [...hot];
  let read = 0;
  // Newest day first; a day older than the need-th row so far cannot change the page.
  for (const day of byDay(entries)) {
    const threshold = rows.length >= need ? rows.sort(newestFirst)[need - 1].timestamp : -Infinity;
    const useful = day.filter((e) => e.last >= threshold);
    if (!useful.length) break;
    read += useful.length;
    if (read > COLD_OBJECTS_MAX) throw tooManyObjects(read);
    for (const e of useful) for await (const r of readObject(t.archive, e)) if (r.timestamp >= floor && keep(r) && before(r)) rows.push(r);
  }
  rows = rows.sort(newestFirst).slice(offset, need);
  return { rows, total };
}

function* byDay(entries: ArchiveEntry[]): Generator<ArchiveEntry[]> {
  let i = 0;
  while (i < entries.length) {
    let j = i;
    while (j < entries.length && entries[j].day === entries[i].day) j++;
    yield entries.slice(i, j);
    i = j;
  }
}

/** Matches in both tiers: the per-project counters when they answer, else rollups and raw edges. */
async function countAll(t: TierContext, q: SampleQuery, scope: ProjectScope, where: SQL | undefined): Promise<number> {
  const counters = countersQuery(t.db, q, scope);
  if (counters) return (await counters)[0].n;
  const stats = await tieredStatistics(t.db, t.archive, {
    q,
    scope,
    where,
    periodUs: 0,
    groupby: [],
    stddev: false,
    cardinality: [],
    tiers: t.tiers,
    nowMs: t.nowMs,
    countingSamples: true,
  });
  if (stats) return stats.reduce((n, r) => n + r.count, 0);
  return (await sampleCountQuery(t.db, where))[0].n;
}

/** Whether a hot page might miss cold rows: it is short, or reaches below the hot window. */
export function mayReachCold(rows: SampleRow[], perPage: number, t: TierContext): boolean {
  return rows.length < perPage || rows[rows.length - 1].timestamp < hotFrom(t.nowMs, t.tiers);
}
