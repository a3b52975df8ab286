import { and, asc, desc, eq, gt, gte, inArray, lt, lte, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import {
  monitorBuilds,
  monitorComponents,
  monitorContexts,
  monitorCounters,
  monitorMetricCounts,
  monitorMetrics,
  monitorPipelines,
  monitorSessionFlags,
  monitorSessions,
  type DescriptionValue,
} from "../db/schema";
import type { ContextIn, MetricIn, Resource } from "./schemas";

type SessionRow = typeof monitorSessions.$inferSelect;
type ContextRow = typeof monitorContexts.$inferSelect;
type MetricRow = typeof monitorMetrics.$inferSelect;

// ─── Shapes on the wire ─────────────────────────────────────────────────────

export function sessionOut(r: SessionRow) {
  return {
    session_h: r.sessionH,
    run_date: r.runDate,
    scm_ref: r.scmRef,
    // `name` is what the plugin and reference server use, `key` what the published docs show.
    tags: Object.entries(r.description).map(([k, v]) => ({ name: k, key: k, value: scalarText(v) })),
  };
}

/** A description value as the reference's string field shows it: numbers and booleans as JSON text, null stays null. */
export const scalarText = (v: DescriptionValue): string | null => (v === null || typeof v === "string" ? v : JSON.stringify(v));

export function contextOut(r: ContextRow) {
  return {
    h: r.h,
    cpu_count: r.cpuCount,
    cpu_frequency: r.cpuFrequency,
    cpu_type: r.cpuType,
    cpu_vendor: r.cpuVendor,
    ram_total: r.ramTotal,
    machine_node: r.machineNode,
    machine_type: r.machineType,
    machine_arch: r.machineArch,
    system_info: r.systemInfo,
    python_info: r.pythonInfo,
  };
}

export function metricOut(r: MetricRow): MetricIn {
  return {
    session_h: r.sessionH,
    context_h: r.contextH,
    item_start_time: r.itemStartTime,
    item_path: r.itemPath,
    item: r.item,
    item_variant: r.itemVariant,
    item_fs_loc: r.itemFsLoc,
    kind: r.kind,
    component: r.component,
    total_time: r.totalTime,
    user_time: r.userTime,
    kernel_time: r.kernelTime,
    cpu_usage: r.cpuUsage,
    mem_usage: r.memUsage,
  };
}

const metricRow = (m: MetricIn) => ({
  sessionH: m.session_h,
  contextH: m.context_h,
  itemStartTime: m.item_start_time,
  itemPath: m.item_path,
  item: m.item,
  itemVariant: m.item_variant,
  itemFsLoc: m.item_fs_loc,
  kind: m.kind,
  component: m.component,
  totalTime: m.total_time,
  userTime: m.user_time,
  kernelTime: m.kernel_time,
  cpuUsage: m.cpu_usage,
  memUsage: m.mem_usage,
});

// ─── Listings: a count and a page, served by an index or a rowid range ──────

export interface Listing<T> {
  count(): Promise<number>;
  page(offset: number, limit: number): Promise<T[]>;
}

type Seqd = typeof monitorSessions | typeof monitorContexts | typeof monitorMetrics;
type CounterName = "sessions" | "contexts" | "metrics" | "components";

async function counter(db: Database, name: CounterName): Promise<number> {
  const [row] = await db.select({ n: monitorCounters.n }).from(monitorCounters).where(eq(monitorCounters.name, name));
  return row?.n ?? 0;
}

/**
 * A whole collection: the count comes from its counter and a page is a rowid range
 * (rows are never deleted, so seq is dense), so any page reads only its own rows.
 */
function wholeCollection<T, R>(db: Database, table: Seqd & { seq: SQLiteColumn }, name: CounterName, out: (r: R) => T): Listing<T> {
  return {
    count: () => counter(db, name),
    page: async (offset, limit) => {
      const rows = await db
        .select()
        .from(table as typeof monitorMetrics)
        .where(and(gt(table.seq, offset), lte(table.seq, offset + limit)))
        .orderBy(asc(table.seq));
      return (rows as unknown as R[]).map(out);
    },
  };
}

/**
 * Rows matching `where` in insertion order; `where` must be served by an index (or be a
 * `like`). With `counted`, the count is a one-row read of that counter.
 */
function filtered<T, R>(
  db: Database,
  table: Seqd & { seq: SQLiteColumn },
  where: SQL | undefined,
  out: (r: R) => T,
  counted?: () => Promise<number>,
): Listing<T> {
  return {
    count: async () => {
      if (counted) return counted();
      const [row] = await db.select({ n: sql<number>`count(*)` }).from(table as typeof monitorMetrics).where(where);
      return row?.n ?? 0;
    },
    page: async (offset, limit) => {
      const rows = await db
        .select()
        .from(table as typeof monitorMetrics)
        .where(where)
        .orderBy(asc(table.seq))
        .limit(limit)
        .offset(offset);
      return (rows as unknown as R[]).map(out);
    },
  };
}

/**
 * The smallest string above every string that starts with `prefix`, so a prefix
 * match is an index range `[prefix, upper)` (D1 compares text bytewise; LIKE would
 * treat `%` and `_` as wildcards and ignore the index).
 */
export function prefixUpperBound(prefix: string): string | null {
  const cps = [...prefix];
  while (cps.length) {
    const last = cps.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return cps.join("") + String.fromCodePoint(next);
    }
  }
  return null;
}

function startsWith(column: SQLiteColumn, prefix: string): SQL | undefined {
  if (prefix === "") return undefined;
  const upper = prefixUpperBound(prefix);
  return upper === null ? gte(column, prefix) : and(gte(column, prefix), lt(column, upper));
}

/** `instr` rather than LIKE: the text is matched literally, `%` and `_` included. */
const contains = (column: SQLiteColumn, text: string) => sql`instr(${column}, ${text}) > 0`;

// ─── Sessions ───────────────────────────────────────────────────────────────

export const sessions = {
  all: (db: Database) => wholeCollection(db, monitorSessions, "sessions", sessionOut),
  withPrefix: (db: Database, prefix: string) => filtered(db, monitorSessions, startsWith(monitorSessions.sessionH, prefix), sessionOut),
  withScmPrefix: (db: Database, ref: string) =>
    filtered(db, monitorSessions, startsWith(monitorSessions.scmRef, ref) ?? sql`${monitorSessions.scmRef} IS NOT NULL`, sessionOut),
  inBuild: (db: Database, branch: string, build: string, component?: string) =>
    filtered(
      db,
      monitorSessions,
      and(
        eq(monitorSessions.pipelineBranch, branch),
        eq(monitorSessions.pipelineBuildNo, build),
        component === undefined ? undefined : inArray(monitorSessions.sessionH, sessionsOfComponent(db, component)),
      ),
      sessionOut,
    ),
  /**
   * Flag filters: flag `a` with value `v` means description.a == v, a flag with no
   * value means description.a present and non-empty; `any` ORs them, else AND.
   * Served by the (name, value, session) index of monitor_session_flags.
   */
  withFlags: (db: Database, flags: Array<{ name: string; value: string | null }>, any: boolean) => {
    const f = monitorSessionFlags;
    const term = (x: { name: string; value: string | null }) =>
      x.value === null ? sql`(${f.name} = ${x.name} AND ${f.value} <> '')` : sql`(${f.name} = ${x.name} AND ${f.value} = ${x.value})`;
    const matching = (terms: SQL[]) => sql`${monitorSessions.seq} IN (SELECT ${f.sessionSeq} FROM ${f} WHERE ${sql.join(terms, sql` OR `)})`;
    // D1 allows at most 5 terms in a compound SELECT: OR the terms (any) or AND one IN per flag (all).
    const where = any ? matching(flags.map(term)) : sql.join(flags.map((x) => matching([term(x)])), sql` AND `);
    return filtered(db, monitorSessions, where, sessionOut);
  },
};

export async function findSession(db: Database, h: string): Promise<SessionRow | undefined> {
  const [row] = await db.select().from(monitorSessions).where(eq(monitorSessions.sessionH, h)).limit(1);
  return row;
}

/** Keeps a whole-collection counter equal to the table's dense rowid high-water mark. */
function refreshCounter(db: Database, name: CounterName, table: Seqd | typeof monitorComponents) {
  return db
    .insert(monitorCounters)
    .values({ name, n: sql`(SELECT coalesce(max(seq), 0) FROM ${table})` })
    .onConflictDoUpdate({ target: monitorCounters.name, set: { n: sql`excluded.n` } });
}

const isUniqueViolation = (e: unknown) => /UNIQUE constraint failed/i.test(String((e as Error)?.message ?? e));

export type Upsert<T> = { outcome: "created" | "identical" | "conflict"; stored: T };

/**
 * Inserts a session with its flags, pipeline and build in one batch. An existing
 * session is never overwritten: identical → "identical", different → "conflict".
 */
export async function createSession(
  db: Database,
  s: { session_h: string; run_date: string; scm_ref: string | null; description: Record<string, DescriptionValue> },
): Promise<Upsert<SessionRow>> {
  const compare = (row: SessionRow): Upsert<SessionRow> => ({
    outcome:
      row.runDate === s.run_date && row.scmRef === s.scm_ref && sameRecord(row.description, s.description) ? "identical" : "conflict",
    stored: row,
  });
  const existing = await findSession(db, s.session_h);
  if (existing) return compare(existing);

  const branch = scalarText(s.description.pipeline_branch ?? null) || null;
  const build = scalarText(s.description.pipeline_build_no ?? null) || null;
  // Flags take the new session's rowid, read inside the same batch.
  const flagInserts = Object.entries(s.description).map(([name, value]) =>
    db.insert(monitorSessionFlags).select(
      db
        .select({ sessionSeq: monitorSessions.seq, name: sql<string>`${name}`.as("name"), value: sql<string>`${scalarText(value) ?? ""}`.as("value") })
        .from(monitorSessions)
        .where(eq(monitorSessions.sessionH, s.session_h)),
    ),
  );
  try {
    await db.batch([
      db.insert(monitorSessions).values({
        sessionH: s.session_h,
        runDate: s.run_date,
        scmRef: s.scm_ref,
        description: s.description,
        pipelineBranch: branch,
        pipelineBuildNo: build,
      }),
      ...flagInserts,
      ...(branch ? [db.insert(monitorPipelines).values({ branch }).onConflictDoNothing()] : []),
      ...(branch && build ? [db.insert(monitorBuilds).values({ branch, buildNo: build }).onConflictDoNothing()] : []),
      refreshCounter(db, "sessions", monitorSessions),
    ]);
  } catch (e) {
    // Lost a race with an identical (or not) post of the same session: answer as for a repost.
    if (!isUniqueViolation(e)) throw e;
    const row = await findSession(db, s.session_h);
    if (!row) throw e;
    return compare(row);
  }
  return { outcome: "created", stored: (await findSession(db, s.session_h))! };
}

function sameRecord(a: Record<string, DescriptionValue>, b: Record<string, DescriptionValue>) {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

// ─── Contexts ───────────────────────────────────────────────────────────────

export const contexts = {
  all: (db: Database) => wholeCollection(db, monitorContexts, "contexts", contextOut),
  withPrefix: (db: Database, prefix: string) => filtered(db, monitorContexts, startsWith(monitorContexts.h, prefix), contextOut),
};

async function findContext(db: Database, h: string) {
  const [row] = await db.select().from(monitorContexts).where(eq(monitorContexts.h, h)).limit(1);
  return row;
}

export async function createContext(db: Database, ctx: ContextIn): Promise<Upsert<ContextRow>> {
  const row = {
    h: ctx.h,
    cpuCount: ctx.cpu_count,
    cpuFrequency: ctx.cpu_frequency,
    cpuType: ctx.cpu_type,
    cpuVendor: ctx.cpu_vendor,
    ramTotal: ctx.ram_total,
    machineNode: ctx.machine_node,
    machineType: ctx.machine_type,
    machineArch: ctx.machine_arch,
    systemInfo: ctx.system_info,
    pythonInfo: ctx.python_info,
  };
  const compare = (stored: ContextRow): Upsert<ContextRow> => ({
    outcome: (Object.keys(row) as Array<keyof typeof row>).every((k) => stored[k] === row[k]) ? "identical" : "conflict",
    stored,
  });
  const existing = await findContext(db, ctx.h);
  if (existing) return compare(existing);
  try {
    await db.batch([db.insert(monitorContexts).values(row), refreshCounter(db, "contexts", monitorContexts)]);
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    const stored = await findContext(db, ctx.h);
    if (!stored) throw e;
    return compare(stored);
  }
  return { outcome: "created", stored: (await findContext(db, ctx.h))! };
}

// ─── Metrics ────────────────────────────────────────────────────────────────

const m = monitorMetrics;

/** Sub-select of the sessions (by hash) that have metrics of a component. */
function sessionsOfComponent(db: Database, component: string) {
  return db.selectDistinct({ h: m.sessionH }).from(m).where(eq(m.component, component));
}

function sessionsOfPipeline(db: Database, branch: string, build?: string) {
  return db
    .select({ h: monitorSessions.sessionH })
    .from(monitorSessions)
    .where(and(eq(monitorSessions.pipelineBranch, branch), build === undefined ? undefined : eq(monitorSessions.pipelineBuildNo, build)));
}

type CountedScope = (typeof monitorMetricCounts.$inferSelect)["scope"];

/** A set of metrics: where it is (served by an index but for `like`), and its counter if it has one. */
export interface MetricScope {
  where: SQL | undefined;
  counter?: { scope: CountedScope; key: string };
}
const counted = (scope: CountedScope, column: SQLiteColumn, key: string): MetricScope => ({ where: eq(column, key), counter: { scope, key } });

/** Where each metric route looks. */
export const metricScopes = {
  all: (): MetricScope => ({ where: undefined }),
  session: (h: string) => counted("session", m.sessionH, h),
  context: (h: string) => counted("context", m.contextH, h),
  item: (item: string) => counted("item", m.item, item),
  itemLike: (text: string): MetricScope => ({ where: contains(m.item, text) }),
  variant: (v: string) => counted("variant", m.itemVariant, v),
  variantLike: (text: string): MetricScope => ({ where: contains(m.itemVariant, text) }),
  kind: (kind: string) => counted("kind", m.kind, kind),
  component: (c: string) => counted("component", m.component, c),
  componentItem: (c: string, item: string): MetricScope => ({ where: and(eq(m.component, c), eq(m.item, item)) }),
  componentVariant: (c: string, v: string): MetricScope => ({ where: and(eq(m.component, c), eq(m.itemVariant, v)) }),
  scm: (db: Database, ref: string): MetricScope => ({
    where: inArray(
      m.sessionH,
      db
        .select({ h: monitorSessions.sessionH })
        .from(monitorSessions)
        .where(startsWith(monitorSessions.scmRef, ref) ?? sql`${monitorSessions.scmRef} IS NOT NULL`),
    ),
  }),
  pipeline: (db: Database, branch: string, build?: string): MetricScope => ({
    where: inArray(m.sessionH, sessionsOfPipeline(db, branch, build)),
  }),
};

async function metricCount(db: Database, c: { scope: CountedScope; key: string }) {
  const [row] = await db
    .select({ n: monitorMetricCounts.n })
    .from(monitorMetricCounts)
    .where(and(eq(monitorMetricCounts.scope, c.scope), eq(monitorMetricCounts.key, c.key)));
  return row?.n ?? 0;
}

export const metrics = {
  all: (db: Database) => wholeCollection(db, monitorMetrics, "metrics", metricOut),
  in: (db: Database, scope: MetricScope) => {
    const { counter } = scope;
    return filtered(db, monitorMetrics, scope.where, metricOut, counter && (() => metricCount(db, counter)));
  },
};

/** Per-key counter increments for freshly inserted metrics, as multi-row upserts (≤ 99 parameters each). */
function countIncrements(db: Database, fresh: MetricIn[]) {
  const tally = new Map<string, { scope: CountedScope; key: string; n: number }>();
  const bump = (scope: CountedScope, key: string) => {
    const id = `${scope}\u0000${key}`;
    const t = tally.get(id);
    if (t) t.n += 1;
    else tally.set(id, { scope, key, n: 1 });
  };
  for (const x of fresh) {
    bump("session", x.session_h);
    bump("context", x.context_h);
    bump("item", x.item);
    bump("variant", x.item_variant);
    bump("kind", x.kind);
    bump("component", x.component);
  }
  const rows = [...tally.values()];
  const statements = [];
  for (let i = 0; i < rows.length; i += 33) {
    statements.push(
      db
        .insert(monitorMetricCounts)
        .values(rows.slice(i, i + 33))
        .onConflictDoUpdate({ target: [monitorMetricCounts.scope, monitorMetricCounts.key], set: { n: sql`${monitorMetricCounts.n} + excluded.n` } }),
    );
  }
  return statements;
}

const resourceColumn: Record<Resource, SQLiteColumn> = {
  memory: m.memUsage,
  cpu: m.cpuUsage,
  kernel_time: m.kernelTime,
  user_time: m.userTime,
  total_time: m.totalTime,
};

/**
 * The n metrics with the highest (head) or lowest (tail) value of a resource. Ties go
 * newest first for head and oldest first for tail: the order of the resource's index.
 */
export async function extremes(db: Database, resource: Resource, end: "head" | "tail", n: number, scope: MetricScope) {
  const col = resourceColumn[resource];
  const rows = await db
    .select()
    .from(m)
    .where(scope.where)
    .orderBy(...(end === "head" ? [desc(col), desc(m.seq)] : [asc(col), asc(m.seq)]))
    .limit(n);
  return rows.map(metricOut);
}

/** D1 binds at most 100 parameters a statement: 14 columns → 7 metrics an INSERT. */
const METRICS_PER_INSERT = Math.floor(100 / 14);
const KEYS_PER_LOOKUP = Math.floor(100 / 5);

const metricKey = (x: MetricIn) => JSON.stringify([x.session_h, x.item_start_time, x.item_path, x.item_variant, x.kind]);
const sameMetric = (a: MetricIn, b: MetricIn) => (Object.keys(a) as Array<keyof MetricIn>).every((k) => a[k] === b[k]);

export type MetricsOutcome =
  | { outcome: "created" | "identical"; stored: MetricIn[] }
  | { outcome: "conflict"; index: number; stored: MetricIn };

/**
 * Stores metrics all or nothing in one batch (inserts, components, counters).
 * A metric whose key is stored already is skipped when identical (a retried post)
 * and refuses the whole post when different.
 */
export async function createMetrics(db: Database, input: MetricIn[], retried = false): Promise<MetricsOutcome> {
  const stored = new Map<string, MetricIn>();
  for (let i = 0; i < input.length; i += KEYS_PER_LOOKUP) {
    const chunk = input.slice(i, i + KEYS_PER_LOOKUP);
    const keys = sql.join(
      chunk.map((x) => sql`(${x.session_h}, ${x.item_start_time}, ${x.item_path}, ${x.item_variant}, ${x.kind})`),
      sql`, `,
    );
    const rows = await db
      .select()
      .from(m)
      .where(sql`(${m.sessionH}, ${m.itemStartTime}, ${m.itemPath}, ${m.itemVariant}, ${m.kind}) IN (VALUES ${keys})`);
    for (const r of rows) stored.set(metricKey(metricOut(r)), metricOut(r));
  }
  const fresh: MetricIn[] = [];
  const seen = new Map<string, MetricIn>();
  for (const [index, x] of input.entries()) {
    const key = metricKey(x);
    const prior = stored.get(key) ?? seen.get(key);
    if (prior) {
      if (!sameMetric(prior, x)) return { outcome: "conflict", index, stored: prior };
      continue;
    }
    seen.set(key, x);
    fresh.push(x);
  }
  if (fresh.length === 0) return { outcome: "identical", stored: input };

  const inserts = [];
  for (let i = 0; i < fresh.length; i += METRICS_PER_INSERT) {
    inserts.push(db.insert(m).values(fresh.slice(i, i + METRICS_PER_INSERT).map(metricRow)));
  }
  const components = [...new Set(fresh.map((x) => x.component))].map((name) =>
    db.insert(monitorComponents).values({ name }).onConflictDoNothing(),
  );
  try {
    await db.batch([
      inserts[0],
      ...inserts.slice(1),
      ...components,
      ...countIncrements(db, fresh),
      refreshCounter(db, "metrics", monitorMetrics),
      refreshCounter(db, "components", monitorComponents),
    ]);
  } catch (e) {
    // A concurrent post stored one of these keys first: look again, once.
    if (isUniqueViolation(e) && !retried) return createMetrics(db, input, true);
    throw e;
  }
  return { outcome: "created", stored: input };
}

// ─── Components and pipelines ───────────────────────────────────────────────

export const components = {
  count: (db: Database) => counter(db, "components"),
  list: (db: Database, prefix = ""): Listing<string> => {
    const where = startsWith(monitorComponents.name, prefix);
    return {
      count: async () =>
        prefix === ""
          ? counter(db, "components")
          : ((await db.select({ n: sql<number>`count(*)` }).from(monitorComponents).where(where))[0]?.n ?? 0),
      page: async (offset, limit) =>
        (
          await db
            .select({ name: monitorComponents.name })
            .from(monitorComponents)
            .where(where)
            .orderBy(asc(monitorComponents.seq))
            .limit(limit)
            .offset(offset)
        ).map((r) => r.name),
    };
  },
};

const s = monitorSessions;

export const pipelines = {
  /** Every pipeline, or those whose sessions have metrics of `component`, in order of first appearance. */
  list: async (db: Database, component?: string): Promise<string[]> => {
    if (component === undefined) {
      return (await db.select({ b: monitorPipelines.branch }).from(monitorPipelines).orderBy(asc(monitorPipelines.seq))).map((r) => r.b);
    }
    const rows = await db
      .select({ b: s.pipelineBranch })
      .from(s)
      .where(and(sql`${s.pipelineBranch} IS NOT NULL`, inArray(s.sessionH, sessionsOfComponent(db, component))))
      .groupBy(s.pipelineBranch)
      .orderBy(sql`min(${s.seq})`);
    return rows.map((r) => r.b!);
  },
  builds: (db: Database, branch: string, component?: string): Listing<string> => {
    if (component === undefined) {
      const where = eq(monitorBuilds.branch, branch);
      return {
        count: async () => (await db.select({ n: sql<number>`count(*)` }).from(monitorBuilds).where(where))[0]?.n ?? 0,
        page: async (offset, limit) =>
          (
            await db
              .select({ b: monitorBuilds.buildNo })
              .from(monitorBuilds)
              .where(where)
              .orderBy(asc(monitorBuilds.seq))
              .limit(limit)
              .offset(offset)
          ).map((r) => r.b),
      };
    }
    const where = and(
      eq(s.pipelineBranch, branch),
      sql`${s.pipelineBuildNo} IS NOT NULL`,
      inArray(s.sessionH, sessionsOfComponent(db, component)),
    );
    return {
      count: async () =>
        (await db.select({ n: sql<number>`count(DISTINCT ${s.pipelineBuildNo})` }).from(s).where(where))[0]?.n ?? 0,
      page: async (offset, limit) =>
        (
          await db
            .select({ b: s.pipelineBuildNo })
            .from(s)
            .where(where)
            .groupBy(s.pipelineBuildNo)
            .orderBy(sql`min(${s.seq})`)
            .limit(limit)
            .offset(offset)
        ).map((r) => r.b!),
    };
  },
};
