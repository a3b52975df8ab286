/**
 * Telemetry's meter queries and the shared statistics types. Samples live as series and
 * chunks (chunks.ts); meters are kept by the same ingest batch, one row per distinct
 * (meter, type, unit, resource, project, user, source).
 */
import { and, asc, count, eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { telemetryMeters } from "../db/schema";
import { type ProjectScope, scopeCondition } from "./chunks";
import { type SampleQuery, TOTAL_COUNT_LIMIT } from "./query";

export { inJsonList, type ProjectScope, type SampleRow, scopeCondition } from "./chunks";

const m = telemetryMeters;
const meterColumns = {
  project_id: m.projectId,
  resource_id: m.resourceId,
  meter: m.meter,
  user_id: m.userId,
  source: m.source,
};
export const METER_FIELDS = Object.keys(meterColumns) as Array<keyof typeof meterColumns>;

export function meterWhere(q: SampleQuery, scope: ProjectScope) {
  return and(
    ...q.equals.map(({ field, value }) => eq(meterColumns[field as keyof typeof meterColumns], value)),
    scopeCondition(m.projectId, scope),
  );
}

/** The meters' unique index order (and a list's), by field. */
export const METER_ORDER = ["meter", "resourceId", "projectId", "userId", "source", "type", "unit"] as const;
export const UNIQUE_METER_ORDER = ["meter", "type", "unit"] as const;

/** In the order of the meters' unique index, so an unfiltered or by-meter list needs no sort. */
export function meterPageQuery(db: Database, where: SQL | undefined, limit: number, offset: number) {
  return db
    .select()
    .from(m)
    .where(where)
    .orderBy(asc(m.meter), asc(m.resourceId), asc(m.projectId), asc(m.userId), asc(m.source), asc(m.type), asc(m.unit))
    .limit(limit)
    .offset(offset);
}

/** `unique=True`: one row per meter (name, type, unit), as Ceilometer groups by its meter row. */
export function uniqueMeterPageQuery(db: Database, where: SQL | undefined, limit: number, offset: number) {
  return db
    .select({ meter: m.meter, type: m.type, unit: m.unit })
    .from(m)
    .where(where)
    .groupBy(m.meter, m.type, m.unit)
    .orderBy(asc(m.meter), asc(m.type), asc(m.unit))
    .limit(limit)
    .offset(offset);
}

/** Counts meters (or unique meters) no further than TOTAL_COUNT_LIMIT + 1, as samples are counted. */
export function meterCountQuery(db: Database, where: SQL | undefined, unique = false) {
  const rows = db
    .select({ one: sql`1`.as("one") })
    .from(m)
    .where(where);
  const matches = (unique ? rows.groupBy(m.meter, m.type, m.unit) : rows).limit(TOTAL_COUNT_LIMIT + 1).as("matches");
  return db.select({ n: count() }).from(matches);
}

/** The first TOTAL_COUNT_LIMIT + 1 unique (meter, type, unit): shards count their union. */
export function uniqueMeterKeysQuery(db: Database, where: SQL | undefined) {
  return db
    .select({ meter: m.meter, type: m.type, unit: m.unit })
    .from(m)
    .where(where)
    .groupBy(m.meter, m.type, m.unit)
    .limit(TOTAL_COUNT_LIMIT + 1);
}

export const GROUPBY_FIELDS = ["user_id", "resource_id", "project_id", "source"] as const;
export type GroupField = (typeof GROUPBY_FIELDS)[number];
