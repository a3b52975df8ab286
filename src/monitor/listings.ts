import { and, asc, desc, eq, getTableColumns, gt, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import { alias, type SQLiteColumn, type SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import {
  monitorBuilds,
  monitorComponents,
  monitorContexts,
  monitorMetrics,
  monitorPipelines,
  monitorSessionFlags,
  monitorSessions,
} from "../db/schema";
import {
  inProject,
  inProjectAfter,
  inProjectBefore,
  newestInProject,
  PROJECT_SPAN,
  projectFloorTable,
  projectId,
  rowsInProject,
  seqWindow,
} from "./projects";
import type { MetricIn, Resource } from "./schemas";
import { contextOut, metricOut, type Statement, sessionOut } from "./store";

/**
 * The monitor's reads: every list as a count and a page (sent together in one batch), and
 * the metric extremes, each within one project (docs/api/monitor.md, "Projects").
 */

type SessionRow = typeof monitorSessions.$inferSelect;

/** What every read is bound to: the database, the request's project and the count cap. */
export interface Scope {
  db: Database;
  project: string;
  /** Counts of filtered lists stop at this many rows (docs/api/monitor.md, "Counts"). */
  countCap: number;
}

// ─── Listings: statements for a count and a page, sent together ─────────────

/**
 * Which rows a page holds: `offset` rows in from the start, or from the end walking
 * backwards (`fromEnd`, newest first), or a keyset step: the rows after / before a seq.
 */
export type Window = { limit: number } & (
  | {
      offset: number;
      fromEnd?: boolean /** page -back of pages of `size`, when walking from the end */;
      back?: number;
      size?: number;
    }
  | { after: number }
  | { before: number }
);

export interface Listing<T> {
  /** A statement answering `[{ n }]`: how many rows the list holds, or `cap + 1` when it holds more. */
  count: Statement;
  /** Set when `count` stops at a cap: n > cap means "more than cap". */
  cap?: number;
  /** A statement answering the rows of a window (newest first when walking backwards). */
  rows(w: Window): Statement;
  out(row: unknown): T;
  /** The seq of a row, for lists that step by keyset (filtered lists of seq-keyed tables). */
  seq?: (row: unknown) => number;
  /** Walking from the end, `rows` answers exactly page -back (newest first), not the rows around it. */
  exactFromEnd?: boolean;
}

type Seqd = typeof monitorSessions | typeof monitorContexts | typeof monitorMetrics;

/**
 * A project's whole collection: its size is its newest rowid less its floor (rows are
 * never deleted and rowids are dense per project: one row read) and page N is the rowid
 * range ((N-1)·size, N·size] above the floor, whatever its depth.
 */
function wholeCollection<T, R>(q: Scope, table: Seqd, out: (r: R) => T): Listing<T> {
  const { db, project } = q;
  const t = table as typeof monitorMetrics;
  return {
    count: db.select({ n: rowsInProject(t, t.seq, project) }).from(sql`(SELECT 1)`),
    rows: (w) => {
      const rows = db.select().from(t);
      if ("after" in w)
        return rows
          .where(inProjectAfter(t.seq, project, w.after))
          .orderBy(asc(t.seq))
          .limit(w.limit);
      if ("before" in w)
        return rows
          .where(inProjectBefore(t.seq, project, w.before))
          .orderBy(desc(t.seq))
          .limit(w.limit);
      if (w.fromEnd && w.back !== undefined && w.size !== undefined) {
        // Page -back is the rowid range of page (pages + 1 - back), pages counted from the
        // project's size: one page read whatever the number, nothing before the first page.
        const size = sql`CAST(${w.size} AS INTEGER)`;
        const first = sql`((${rowsInProject(t, t.seq, project)} + ${size} - 1) / ${size} - CAST(${w.back} AS INTEGER)) * ${size}`;
        return rows.where(seqWindow(t.seq, project, first, size)).orderBy(desc(t.seq));
      }
      if (w.fromEnd) return rows.where(inProject(t.seq, project)).orderBy(desc(t.seq)).limit(w.limit).offset(w.offset);
      return rows.where(seqWindow(t.seq, project, sql`CAST(${w.offset} AS INTEGER)`, w.limit)).orderBy(asc(t.seq));
    },
    out: out as (r: unknown) => T,
    exactFromEnd: true,
  };
}

/** `count(*)` of at most cap + 1 matching rows: a count reads at most that many index entries. */
function cappedCount(q: Scope, from: SQL) {
  return q.db.select({ n: sql<number>`count(*)` }).from(sql`(${from} LIMIT ${q.countCap + 1})`);
}

/**
 * Rows matching `where` in insertion order; `where` must be served by an index that keeps
 * rowid order (or be a bounded scan), so a keyset step reads only its page. `ranged`: the
 * project is the rowid range (a single-column index), added here with the keyset step
 * as one pair of bounds; else `where` names the project itself. The count stops at the cap.
 */
function filtered<T, R>(q: Scope, table: Seqd, where: SQL | undefined, out: (r: R) => T, ranged = false): Listing<T> {
  const { db, project } = q;
  const t = table as typeof monitorMetrics;
  const all = ranged ? and(where, inProject(t.seq, project)) : where;
  return {
    count: cappedCount(q, sql`SELECT 1 FROM ${t} WHERE ${all ?? sql`1`}`),
    cap: q.countCap,
    rows: (w) => {
      const rows = db.select().from(t);
      if ("after" in w)
        return rows
          .where(and(where, ranged ? inProjectAfter(t.seq, project, w.after) : gt(t.seq, w.after)))
          .orderBy(asc(t.seq))
          .limit(w.limit);
      if ("before" in w)
        return rows
          .where(and(where, ranged ? inProjectBefore(t.seq, project, w.before) : lt(t.seq, w.before)))
          .orderBy(desc(t.seq))
          .limit(w.limit);
      return rows
        .where(all)
        .orderBy(w.fromEnd ? desc(t.seq) : asc(t.seq))
        .limit(w.limit)
        .offset(w.offset);
    },
    out: out as (r: unknown) => T,
    seq: (r) => (r as { seq: number }).seq,
  };
}

/** A list of names (components, builds…) paged by offset: small tables, and the reference's links are page numbers. */
function names(
  q: Scope,
  countFrom: SQL,
  rows: (order: "asc" | "desc", limit: number, offset: number) => Statement,
): Listing<string> {
  return {
    count: cappedCount(q, countFrom),
    cap: q.countCap,
    rows: (w) => {
      if (!("offset" in w)) throw new Error("name lists page by offset");
      return rows(w.fromEnd ? "desc" : "asc", w.limit, w.offset);
    },
    out: (r) => (r as { name: string }).name,
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

/**
 * A condition no index may serve (`+column`): where a key's own index range is the
 * bound, a second equality must filter that range, not pick another index.
 */
const filterOnly = (column: SQLiteColumn, value: string) => sql`+${column} = ${value}`;

// ─── Sessions ───────────────────────────────────────────────────────────────

const s = monitorSessions;
const m = monitorMetrics;

/**
 * The session has a metric of the component: a walk of the session's own metrics (the
 * key's (project, session) prefix), never of the component's whole index range.
 */
const hasComponent = (component: string) =>
  sql`EXISTS (SELECT 1 FROM ${m} WHERE ${m.projectId} = ${s.projectId} AND ${m.sessionH} = ${s.sessionH} AND +${m.component} = ${component})`;

const ofProject = (project: string) => eq(s.projectId, projectId(project));
const inBuild = (project: string, branch: string, build: string) =>
  and(ofProject(project), eq(s.pipelineBranch, branch), eq(s.pipelineBuildNo, build));

export const sessions = {
  all: (q: Scope) => wholeCollection(q, s, sessionOut),
  withPrefix: (q: Scope, prefix: string) =>
    filtered(q, s, and(ofProject(q.project), startsWith(s.sessionH, prefix)), sessionOut),
  withScmPrefix: (q: Scope, ref: string) => filtered(q, s, and(ofProject(q.project), scmPrefix(ref)), sessionOut),
  /** Hashes of a build's sessions (the reference lists hashes here, not sessions). */
  inBuild: (q: Scope, branch: string, build: string, component?: string) =>
    filtered(
      q,
      s,
      and(inBuild(q.project, branch, build), component === undefined ? undefined : hasComponent(component)),
      (r: SessionRow) => r.sessionH,
    ),
  /**
   * Flag filters: flag `a` with value `v` means description.a == v, a flag with no
   * value means description.a present and non-empty; `any` ORs them, else AND.
   * Served by the (name, value, session) index of monitor_session_flags, bounded to the
   * project's session rowids.
   */
  withFlags: (
    q: Scope,
    flags: Array<{ name: string; value: string | null }>,
    any: boolean,
  ): Listing<ReturnType<typeof sessionOut>> => {
    const f = monitorSessionFlags;
    /**
     * Sessions matching some of the flags, from the flag index within the project's session
     * rowids (`p.lo`, bound once); a keyset step narrows each term and takes only its page.
     */
    const termsOf = (some: typeof flags, w?: Window) => {
      // The bounds are computed once, in the one-row table p: two parameters a flag, whatever the step.
      const lower = w && "after" in w ? sql`max(${w.after}, p.lo)` : sql`p.lo`;
      const upper = w && "before" in w ? sql`min(${w.before}, p.lo + ${PROJECT_SPAN})` : sql`p.lo + ${PROJECT_SPAN}`;
      const bounds = sql`${f.sessionSeq} > b.lower AND ${f.sessionSeq} < b.upper`;
      const terms = some.map((x) =>
        x.value === null
          ? sql`(${f.name} = ${x.name} AND ${f.value} <> '' AND ${bounds})`
          : sql`(${f.name} = ${x.name} AND ${f.value} = ${x.value} AND ${bounds})`,
      );
      return sql`FROM (SELECT ${lower} AS lower, ${upper} AS upper FROM ${projectFloorTable(q.project)}) AS b, ${f} WHERE (${sql.join(terms, sql` OR `)})`;
    };
    /**
     * The sessions' rowids, at most `limit` of them from one end when a limit is given: a page never makes the index
     * walk further.
     */
    const matching = (some: typeof flags, w?: Window) => {
      const order =
        w && ("before" in w || ("offset" in w && w.fromEnd))
          ? sql` ORDER BY ${f.sessionSeq} DESC`
          : sql` ORDER BY ${f.sessionSeq}`;
      const limit = !w
        ? sql``
        : "offset" in w
          ? sql`${order} LIMIT ${w.offset + w.limit}`
          : sql`${order} LIMIT ${w.limit}`;
      return sql`${s.seq} IN (SELECT ${f.sessionSeq} ${termsOf(some, w)}${limit})`;
    };
    // D1 allows at most 5 terms in a compound SELECT: OR the terms (any) or AND one IN per flag (all).
    if (!any) {
      return filtered(
        q,
        s,
        sql.join(
          flags.map((x) => matching([x])),
          sql` AND `,
        ),
        sessionOut,
      );
    }
    // Any: the count stops at the cap on the flag index itself; a page or a keyset step takes its rows from one bounded
    // walk.
    const base = filtered(q, s, matching(flags), sessionOut);
    return {
      ...base,
      count: cappedCount(q, sql`SELECT DISTINCT ${f.sessionSeq} ${termsOf(flags)}`),
      rows: (w) => filtered(q, s, matching(flags, w), sessionOut).rows(w),
    };
  },
};

const scmPrefix = (ref: string) => startsWith(s.scmRef, ref) ?? sql`${s.scmRef} IS NOT NULL`;

// ─── Contexts ───────────────────────────────────────────────────────────────

const ctx = monitorContexts;
const contextsOfProject = (project: string) => eq(ctx.projectId, projectId(project));

export const contexts = {
  all: (q: Scope) => wholeCollection(q, ctx, contextOut),
  withPrefix: (q: Scope, prefix: string) =>
    filtered(q, ctx, and(contextsOfProject(q.project), startsWith(ctx.h, prefix)), contextOut),
  /** The first rows of a prefix, without a count: the plugin's full hash matches at most one. */
  prefixHead: (q: Scope, prefix: string, limit: number) =>
    q.db
      .select()
      .from(ctx)
      .where(and(contextsOfProject(q.project), startsWith(ctx.h, prefix)))
      .orderBy(asc(ctx.seq))
      .limit(limit),
};

// ─── Metrics ────────────────────────────────────────────────────────────────

/**
 * A set of metrics of the project: a condition served by an index (or a bounded scan, for
 * `like`), and whether the project is the rowid range (`ranged`) or named by the condition.
 */
export type MetricScope = { where: SQL | undefined; ranged: boolean };

/**
 * How many of a project's newest metrics a `like` filter and a head/tail query look at
 * (docs/api/monitor.md, "Limits"): a scan, so it is bounded.
 */
export const SCAN_WINDOW = 10_000;
/** The kind not indexed (src/db/schema.ts): the plugin posts it for every test. */
export const BULK_KIND = "function";
/** How many of a pipeline's newest sessions head/tail of a pipeline looks at. */
export const PIPELINE_SESSIONS = 100;

/** The project's newest SCAN_WINDOW metrics: a rowid range. */
const newest = (project: string) => newestInProject(m, m.seq, project, SCAN_WINDOW);

function sessionsOfPipeline(project: string, branch: string, build?: string) {
  const where = and(
    ofProject(project),
    eq(s.pipelineBranch, branch),
    build === undefined ? undefined : eq(s.pipelineBuildNo, build),
  );
  return sql`SELECT ${s.sessionH} FROM ${s} WHERE ${where} ORDER BY ${s.seq} DESC LIMIT ${PIPELINE_SESSIONS}`;
}

const metricsOfProject = (project: string) => eq(m.projectId, projectId(project));
const ranged = (where: SQL | undefined): MetricScope => ({ where, ranged: true });
const named = (where: SQL | undefined): MetricScope => ({ where, ranged: false });

/** Where each metric route looks, within the project. */
export const metricScopes = {
  all: (): MetricScope => ranged(undefined),
  session: (project: string, h: string) => named(and(metricsOfProject(project), eq(m.sessionH, h))),
  context: (h: string) => ranged(eq(m.contextH, h)),
  item: (item: string) => ranged(eq(m.item, item)),
  /** A scan of the newest SCAN_WINDOW: the window's lower bound is the rowid range's. */
  itemLike: (project: string, text: string) => named(and(contains(m.item, text), newest(project))),
  variant: (v: string) => ranged(eq(m.itemVariant, v)),
  variantLike: (project: string, text: string) => named(and(contains(m.itemVariant, text), newest(project))),
  /**
   * `function`, the plugin's bulk, walks the project's rowid range (nearly every row a
   * match); any other kind is in the partial index, which SQLite uses only when the query
   * repeats the index's condition.
   */
  kind: (kind: string) =>
    ranged(kind === BULK_KIND ? eq(m.kind, kind) : and(eq(m.kind, kind), sql`${m.kind} <> 'function'`)),
  component: (c: string) => ranged(eq(m.component, c)),
  componentItem: (c: string, item: string) => ranged(and(eq(m.item, item), filterOnly(m.component, c))),
  componentVariant: (c: string, v: string) => ranged(and(eq(m.itemVariant, v), filterOnly(m.component, c))),
  scm: (project: string, ref: string) =>
    named(
      and(
        metricsOfProject(project),
        sql`${m.sessionH} IN (SELECT ${s.sessionH} FROM ${s} WHERE ${and(ofProject(project), scmPrefix(ref))})`,
      ),
    ),
  /** A pipeline's (or build's) newest PIPELINE_SESSIONS sessions: for head/tail only. */
  pipeline: (project: string, branch: string, build?: string) =>
    named(and(metricsOfProject(project), sql`${m.sessionH} IN (${sessionsOfPipeline(project, branch, build)})`)),
};

export const metrics = {
  all: (q: Scope) => wholeCollection(q, m, metricOut),
  in: (q: Scope, scope: MetricScope) => filtered(q, m, scope.where, metricOut, scope.ranged),
  /**
   * Metrics of the sessions whose SCM reference starts with ref. A keyset step takes at
   * most a page from each such session (by its key prefix, from the cursor on) and keeps
   * the first page of those: it reads the matching sessions' metrics, not every later match.
   */
  ofScm: (q: Scope, ref: string): Listing<MetricIn> => {
    const { db, project } = q;
    const base = filtered(q, m, metricScopes.scm(project, ref).where, metricOut);
    const x = alias(m, "x");
    return {
      ...base,
      rows: (w) => {
        if (!("after" in w || "before" in w)) return base.rows(w);
        const after = "after" in w;
        const perSession = db
          .select({ seq: x.seq })
          .from(x)
          .where(
            and(
              sql`${x.projectId} = ${s.projectId} AND ${x.sessionH} = ${s.sessionH}`,
              after ? gt(x.seq, w.after) : lt(x.seq, w.before),
            ),
          )
          .orderBy(after ? asc(x.seq) : desc(x.seq))
          .limit(w.limit);
        return db
          .select(getTableColumns(m))
          .from(s)
          .innerJoin(m, inArray(m.seq, perSession))
          .where(and(ofProject(project), scmPrefix(ref)))
          .orderBy(after ? asc(m.seq) : desc(m.seq))
          .limit(w.limit);
      },
    };
  },
};

const resourceColumn: Record<Resource, keyof typeof m.$inferSelect> = {
  memory: "memUsage",
  cpu: "cpuUsage",
  kernel_time: "kernelTime",
  user_time: "userTime",
  total_time: "totalTime",
};

/**
 * The n metrics with the highest (head) or lowest (tail) value of a resource among the
 * scope's newest SCAN_WINDOW metrics (no index per resource: docs/benchmark.md). Ties go
 * newest first for head and oldest first for tail.
 */
export async function extremes(q: Scope, resource: Resource, end: "head" | "tail", n: number, scope: MetricScope) {
  const where = scope.ranged ? and(scope.where, inProject(m.seq, q.project)) : scope.where;
  const recent = q.db.select().from(m).where(where).orderBy(desc(m.seq)).limit(SCAN_WINDOW).as("recent");
  const col = recent[resourceColumn[resource]];
  const rows = await q.db
    .select()
    .from(recent)
    .orderBy(...(end === "head" ? [desc(col), desc(recent.seq)] : [asc(col), asc(recent.seq)]))
    .limit(n);
  return rows.map((r) => metricOut(r as typeof m.$inferSelect));
}

// ─── Components and pipelines ───────────────────────────────────────────────

const c = monitorComponents;

export const components = {
  list: (q: Scope, prefix = ""): Listing<string> => {
    const where = and(eq(c.projectId, projectId(q.project)), startsWith(c.name, prefix));
    return namesInInsertionOrder(q, c, c.name, c.seq, where);
  },
};

/** One name column of a small table's rows matching `where`, in insertion order (its `seq`). */
function namesInInsertionOrder(
  q: Scope,
  table: SQLiteTable,
  name: SQLiteColumn,
  seq: SQLiteColumn,
  where: SQL | undefined,
): Listing<string> {
  return names(q, sql`SELECT 1 FROM ${table} WHERE ${where}`, (order, limit, offset) =>
    q.db
      .select({ name: sql<string>`${name}` })
      .from(table)
      .where(where)
      .orderBy(order === "asc" ? asc(seq) : desc(seq))
      .limit(limit)
      .offset(offset),
  );
}

/** The distinct values of a session column over the sessions matching `where`, in order of first appearance. */
function distinctOfSessions(q: Scope, column: SQLiteColumn, where: SQL | undefined): Listing<string> {
  return names(q, sql`SELECT DISTINCT ${column} FROM ${s} WHERE ${where}`, (order, limit, offset) =>
    q.db
      .select({ name: sql<string>`${column}` })
      .from(s)
      .where(where)
      .groupBy(column)
      .orderBy(order === "asc" ? sql`min(${s.seq})` : sql`min(${s.seq}) DESC`)
      .limit(limit)
      .offset(offset),
  );
}

export const pipelines = {
  /** Every pipeline of the project in order of first appearance (not paged, as in the reference). */
  all: (q: Scope) =>
    q.db
      .select({ name: monitorPipelines.branch })
      .from(monitorPipelines)
      .where(eq(monitorPipelines.projectId, projectId(q.project)))
      .orderBy(asc(monitorPipelines.seq)),
  /** Pipelines whose sessions have metrics of a component, in order of first appearance. */
  ofComponent: (q: Scope, component: string): Listing<string> => {
    const where = and(ofProject(q.project), sql`${s.pipelineBranch} IS NOT NULL`, hasComponent(component));
    return distinctOfSessions(q, s.pipelineBranch, where);
  },
  builds: (q: Scope, branch: string, component?: string): Listing<string> => {
    if (component === undefined) {
      const b = monitorBuilds;
      const where = and(eq(b.projectId, projectId(q.project)), eq(b.branch, branch));
      return namesInInsertionOrder(q, b, b.buildNo, b.seq, where);
    }
    const where = and(
      ofProject(q.project),
      eq(s.pipelineBranch, branch),
      sql`${s.pipelineBuildNo} IS NOT NULL`,
      hasComponent(component),
    );
    return distinctOfSessions(q, s.pipelineBuildNo, where);
  },
};

/**
 * The counts the reference's `/index.html` shows: the project's metrics, sessions and contexts (three rowid-range
 * ends).
 */
export const projectTotals = (q: Scope) =>
  q.db
    .select({
      metrics: rowsInProject(m, m.seq, q.project),
      sessions: rowsInProject(s, s.seq, q.project),
      contexts: rowsInProject(ctx, ctx.seq, q.project),
    })
    .from(sql`(SELECT 1)`);
