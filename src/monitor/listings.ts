import { and, asc, desc, eq, getTableColumns, gt, gte, inArray, lt, lte, sql, type SQL } from "drizzle-orm";
import { alias, type SQLiteColumn } from "drizzle-orm/sqlite-core";
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
import type { MetricIn, Resource } from "./schemas";
import { contextOut, metricOut, sessionOut, type Statement } from "./store";

/** The monitor's reads: every list as a count and a page (sent together in one batch), and the metric extremes. */

type SessionRow = typeof monitorSessions.$inferSelect;

// ─── Listings: statements for a count and a page, sent together ─────────────

/**
 * Which rows a page holds: `offset` rows in from the start, or from the end walking
 * backwards (`fromEnd`, newest first), or a keyset step: the rows after / before a seq.
 */
export type Window = { limit: number } & (
  | { offset: number; fromEnd?: boolean /** page -back of pages of `size`, when walking from the end */; back?: number; size?: number }
  | { after: number }
  | { before: number }
);

export interface Listing<T> {
  /** A statement answering `[{ n }]`: how many rows the list holds. */
  count: Statement;
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
 * A whole collection: its size is max(seq) (rows are never deleted, seq is dense: one
 * row read) and page N is the rowid range ((N-1)·size, N·size], whatever its depth.
 */
function wholeCollection<T, R>(db: Database, table: Seqd, out: (r: R) => T): Listing<T> {
  const t = table as typeof monitorMetrics;
  return {
    count: db.select({ n: sql<number>`coalesce(max(${t.seq}), 0)` }).from(t),
    rows: (w) => {
      const q = db.select().from(t);
      if ("after" in w) return q.where(gt(t.seq, w.after)).orderBy(asc(t.seq)).limit(w.limit);
      if ("before" in w) return q.where(lt(t.seq, w.before)).orderBy(desc(t.seq)).limit(w.limit);
      if (w.fromEnd && w.back !== undefined && w.size !== undefined) {
        // Page -back is the rowid range of page (pages + 1 - back), pages counted from max(seq):
        // one page read whatever the number, nothing before the first page.
        const size = sql`CAST(${w.size} AS INTEGER)`;
        const first = sql`(((SELECT coalesce(max(${t.seq}), 0) FROM ${t}) + ${size} - 1) / ${size} - CAST(${w.back} AS INTEGER)) * ${size}`;
        return q.where(sql`${t.seq} > ${first} AND ${t.seq} <= ${first} + ${size}`).orderBy(desc(t.seq));
      }
      if (w.fromEnd) return q.orderBy(desc(t.seq)).limit(w.limit).offset(w.offset);
      return q.where(and(gt(t.seq, w.offset), lte(t.seq, w.offset + w.limit))).orderBy(asc(t.seq));
    },
    out: out as (r: unknown) => T,
    exactFromEnd: true,
  };
}

/**
 * Rows matching `where` in insertion order; `where` must be served by an index that keeps
 * rowid order (or be a `like`), so a keyset step reads only its page. The count reads the
 * matching index range: cheaper on D1 than a counter row written with every metric.
 */
function filtered<T, R>(db: Database, table: Seqd, where: SQL | undefined, out: (r: R) => T): Listing<T> {
  const t = table as typeof monitorMetrics;
  return {
    count: db.select({ n: sql<number>`count(*)` }).from(t).where(where),
    rows: (w) => {
      const q = db.select().from(t);
      if ("after" in w)
        return q
          .where(and(where, gt(t.seq, w.after)))
          .orderBy(asc(t.seq))
          .limit(w.limit);
      if ("before" in w)
        return q
          .where(and(where, lt(t.seq, w.before)))
          .orderBy(desc(t.seq))
          .limit(w.limit);
      return q
        .where(where)
        .orderBy(w.fromEnd ? desc(t.seq) : asc(t.seq))
        .limit(w.limit)
        .offset(w.offset);
    },
    out: out as (r: unknown) => T,
    seq: (r) => (r as { seq: number }).seq,
  };
}

/** A list of names (components, builds…) paged by offset: small tables, and the reference's links are page numbers. */
function names(count: Statement, rows: (order: "asc" | "desc", limit: number, offset: number) => Statement): Listing<string> {
  return {
    count,
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

// ─── Sessions ───────────────────────────────────────────────────────────────

const s = monitorSessions;
const m = monitorMetrics;

/** Sub-select of the sessions (by hash) that have metrics of a component. */
function sessionsOfComponent(db: Database, component: string) {
  return db.selectDistinct({ h: m.sessionH }).from(m).where(eq(m.component, component));
}

const inBuild = (branch: string, build: string) => and(eq(s.pipelineBranch, branch), eq(s.pipelineBuildNo, build));

export const sessions = {
  all: (db: Database) => wholeCollection(db, s, sessionOut),
  withPrefix: (db: Database, prefix: string) => filtered(db, s, startsWith(s.sessionH, prefix), sessionOut),
  withScmPrefix: (db: Database, ref: string) => filtered(db, s, scmPrefix(ref), sessionOut),
  /** Hashes of a build's sessions (the reference lists hashes here, not sessions). */
  inBuild: (db: Database, branch: string, build: string, component?: string) =>
    filtered(
      db,
      s,
      and(inBuild(branch, build), component === undefined ? undefined : inArray(s.sessionH, sessionsOfComponent(db, component))),
      (r: SessionRow) => r.sessionH,
    ),
  /**
   * Flag filters: flag `a` with value `v` means description.a == v, a flag with no
   * value means description.a present and non-empty; `any` ORs them, else AND.
   * Served by the (name, value, session) index of monitor_session_flags.
   */
  withFlags: (db: Database, flags: Array<{ name: string; value: string | null }>, any: boolean): Listing<ReturnType<typeof sessionOut>> => {
    const f = monitorSessionFlags;
    const term = (x: { name: string; value: string | null }) =>
      x.value === null ? sql`(${f.name} = ${x.name} AND ${f.value} <> '')` : sql`(${f.name} = ${x.name} AND ${f.value} = ${x.value})`;
    /** Sessions matching some of `terms`; a keyset step takes only its page from the flag index. */
    const matching = (terms: SQL[], w?: Window) => {
      const step =
        w && "after" in w
          ? sql` AND ${f.sessionSeq} > ${w.after} ORDER BY ${f.sessionSeq} LIMIT ${w.limit}`
          : w && "before" in w
            ? sql` AND ${f.sessionSeq} < ${w.before} ORDER BY ${f.sessionSeq} DESC LIMIT ${w.limit}`
            : sql``;
      return sql`${s.seq} IN (SELECT ${f.sessionSeq} FROM ${f} WHERE (${sql.join(terms, sql` OR `)})${step})`;
    };
    // D1 allows at most 5 terms in a compound SELECT: OR the terms (any) or AND one IN per flag (all).
    const where = (w?: Window) =>
      any
        ? matching(flags.map(term), w)
        : sql.join(
            flags.map((x) => matching([term(x)])),
            sql` AND `,
          );
    const base = filtered(db, s, where(), sessionOut);
    // Any: the page of each step is the first rows of one subquery. All: the intersection is filtered by the outer step.
    return any ? { ...base, rows: (w) => ("offset" in w ? base.rows(w) : filtered(db, s, where(w), sessionOut).rows(w)) } : base;
  },
};

const scmPrefix = (ref: string) => startsWith(s.scmRef, ref) ?? sql`${s.scmRef} IS NOT NULL`;

// ─── Contexts ───────────────────────────────────────────────────────────────

export const contexts = {
  all: (db: Database) => wholeCollection(db, monitorContexts, contextOut),
  withPrefix: (db: Database, prefix: string) => filtered(db, monitorContexts, startsWith(monitorContexts.h, prefix), contextOut),
  /** The first rows of a prefix, without a count: the plugin's full hash matches at most one. */
  prefixHead: (db: Database, prefix: string, limit: number) =>
    db.select().from(monitorContexts).where(startsWith(monitorContexts.h, prefix)).orderBy(asc(monitorContexts.seq)).limit(limit),
};

// ─── Metrics ────────────────────────────────────────────────────────────────

function sessionsOfPipeline(db: Database, branch: string, build?: string) {
  return db
    .select({ h: s.sessionH })
    .from(s)
    .where(and(eq(s.pipelineBranch, branch), build === undefined ? undefined : eq(s.pipelineBuildNo, build)));
}

/** A set of metrics, by a condition served by an index (but for `like`). */
export type MetricScope = SQL | undefined;

/** Where each metric route looks. */
export const metricScopes = {
  all: (): MetricScope => undefined,
  session: (h: string) => eq(m.sessionH, h),
  context: (h: string) => eq(m.contextH, h),
  item: (item: string) => eq(m.item, item),
  itemLike: (text: string) => contains(m.item, text),
  variant: (v: string) => eq(m.itemVariant, v),
  variantLike: (text: string) => contains(m.itemVariant, text),
  kind: (kind: string) => eq(m.kind, kind),
  component: (c: string) => eq(m.component, c),
  componentItem: (c: string, item: string) => and(eq(m.component, c), eq(m.item, item)),
  componentVariant: (c: string, v: string) => and(eq(m.component, c), eq(m.itemVariant, v)),
  scm: (db: Database, ref: string) => inArray(m.sessionH, db.select({ h: s.sessionH }).from(s).where(scmPrefix(ref))),
  pipeline: (db: Database, branch: string, build?: string) => inArray(m.sessionH, sessionsOfPipeline(db, branch, build)),
};

export const metrics = {
  all: (db: Database) => wholeCollection(db, m, metricOut),
  in: (db: Database, scope: MetricScope) => (scope === undefined ? metrics.all(db) : filtered(db, m, scope, metricOut)),
  /**
   * Metrics of the sessions whose SCM reference starts with ref. A keyset step takes at
   * most a page from each such session (by its index, from the cursor on) and keeps the
   * first page of those: it reads a page per matching session, not every later match.
   */
  ofScm: (db: Database, ref: string): Listing<MetricIn> => {
    const base = filtered(db, m, metricScopes.scm(db, ref), metricOut);
    const x = alias(m, "x");
    return {
      ...base,
      rows: (w) => {
        if (!("after" in w || "before" in w)) return base.rows(w);
        const after = "after" in w;
        const perSession = db
          .select({ seq: x.seq })
          .from(x)
          .where(and(sql`${x.sessionH} = ${s.sessionH}`, after ? gt(x.seq, w.after) : lt(x.seq, w.before)))
          .orderBy(after ? asc(x.seq) : desc(x.seq))
          .limit(w.limit);
        return db
          .select(getTableColumns(m))
          .from(s)
          .innerJoin(m, inArray(m.seq, perSession))
          .where(scmPrefix(ref))
          .orderBy(after ? asc(m.seq) : desc(m.seq))
          .limit(w.limit);
      },
    };
  },
};

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
    .where(scope)
    .orderBy(...(end === "head" ? [desc(col), desc(m.seq)] : [asc(col), asc(m.seq)]))
    .limit(n);
  return rows.map(metricOut);
}

// ─── Components and pipelines ───────────────────────────────────────────────

const c = monitorComponents;

export const components = {
  count: (db: Database) => db.select({ n: sql<number>`coalesce(max(${c.seq}), 0)` }).from(c),
  list: (db: Database, prefix = ""): Listing<string> => {
    const where = startsWith(c.name, prefix);
    return names(
      prefix === "" ? components.count(db) : db.select({ n: sql<number>`count(*)` }).from(c).where(where),
      (order, limit, offset) =>
        db
          .select({ name: c.name })
          .from(c)
          .where(where)
          .orderBy(order === "asc" ? asc(c.seq) : desc(c.seq))
          .limit(limit)
          .offset(offset),
    );
  },
};

/** The distinct values of a session column over the sessions matching `where`, in order of first appearance. */
function distinctOfSessions(db: Database, column: SQLiteColumn, where: SQL | undefined): Listing<string> {
  return names(
    db
      .select({ n: sql<number>`count(DISTINCT ${column})` })
      .from(s)
      .where(where),
    (order, limit, offset) =>
      db
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
  /** Every pipeline in order of first appearance (not paged, as in the reference). */
  all: (db: Database) => db.select({ name: monitorPipelines.branch }).from(monitorPipelines).orderBy(asc(monitorPipelines.seq)),
  /** Pipelines whose sessions have metrics of a component, in order of first appearance. */
  ofComponent: (db: Database, component: string): Listing<string> => {
    const where = and(sql`${s.pipelineBranch} IS NOT NULL`, inArray(s.sessionH, sessionsOfComponent(db, component)));
    return distinctOfSessions(db, s.pipelineBranch, where);
  },
  builds: (db: Database, branch: string, component?: string): Listing<string> => {
    if (component === undefined) {
      const b = monitorBuilds;
      const where = eq(b.branch, branch);
      return names(db.select({ n: sql<number>`count(*)` }).from(b).where(where), (order, limit, offset) =>
        db
          .select({ name: b.buildNo })
          .from(b)
          .where(where)
          .orderBy(order === "asc" ? asc(b.seq) : desc(b.seq))
          .limit(limit)
          .offset(offset),
      );
    }
    const where = and(
      eq(s.pipelineBranch, branch),
      sql`${s.pipelineBuildNo} IS NOT NULL`,
      inArray(s.sessionH, sessionsOfComponent(db, component)),
    );
    return distinctOfSessions(db, s.pipelineBuildNo, where);
  },
};
