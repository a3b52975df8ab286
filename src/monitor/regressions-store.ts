import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { monitorContexts, monitorMetrics, monitorSessionFlags, monitorSessions } from "../db/schema";
import { inProject, projectId } from "./projects";
import {
  JUDGED,
  type Judged,
  type Judgement,
  judge,
  leakSuspect,
  median,
  overall,
  relativeChange,
  type Thresholds,
  type Verdict,
} from "./regressions";

/**
 * Queries of the regression and compare routes (docs/api/monitor-regressions.md). Each
 * request is one D1 batch whose every statement is an index range: the session by its
 * hash, its earlier sessions by (flag name, value, session) or (scm_ref, rowid), and
 * the metrics of those sessions by session_h.
 */

/**
 * One D1 batch of read statements, rows as objects. Written with drizzle's `sql` over
 * the schema's tables, sent through the binding: drizzle's own batch cannot carry a
 * raw statement with parameters.
 */
const dialect = new SQLiteAsyncDialect();
async function readBatch<T extends unknown[]>(d1: D1Database, statements: SQL[]): Promise<T> {
  const results = await d1.batch(
    statements.map((st) => {
      const q = dialect.sqlToQuery(st);
      return d1.prepare(q.sql).bind(...q.params);
    }),
  );
  return results.map((r) => r.results) as T;
}

const s = monitorSessions;
const f = monitorSessionFlags;
const m = monitorMetrics;
const ctx = monitorContexts;

interface SessionRow {
  seq: number;
  session_h: string;
  run_date: string;
  scm_ref: string | null;
  pipeline_branch: string | null;
  tag_branch: string | null;
}

interface MetricRow {
  session_h: string;
  context_h: string;
  item_path: string;
  item: string;
  item_variant: string;
  kind: string;
  component: string;
  total_time: number;
  user_time: number;
  kernel_time: number;
  cpu_usage: number;
  mem_usage: number;
  /** The context's machine class, null when the context was never posted. */
  machine_type: string | null;
  cpu_count: number | null;
  ram_total: number | null;
}

const sessionColumns = sql`${s.seq} AS seq, ${s.sessionH} AS session_h, ${s.runDate} AS run_date, ${s.scmRef} AS scm_ref, ${s.pipelineBranch} AS pipeline_branch, json_extract(${s.description}, '$.branch') AS tag_branch`;

const metricColumns = sql`${m.sessionH} AS session_h, ${m.contextH} AS context_h, ${m.itemPath} AS item_path, ${m.item} AS item, ${m.itemVariant} AS item_variant, ${m.kind} AS kind, ${m.component} AS component, ${m.totalTime} AS total_time, ${m.userTime} AS user_time, ${m.kernelTime} AS kernel_time, ${m.cpuUsage} AS cpu_usage, ${m.memUsage} AS mem_usage, ${ctx.machineType} AS machine_type, ${ctx.cpuCount} AS cpu_count, ${ctx.ramTotal} AS ram_total`;

/** The project's session by its hash (the unique (project, hash) key). */
const theSession = (project: string, h: string) => sql`${s.projectId} = ${projectId(project)} AND ${s.sessionH} = ${h}`;
/** A one-row lookup of the session by its unique hash, as a scalar sub-select. */
const ofSession = (project: string, h: string, what: SQLWrapper) =>
  sql`(SELECT ${what} FROM ${s} WHERE ${theSession(project, h)})`;

/**
 * Which earlier sessions share the session's branch: `pipeline_branch` (the plugin's CI
 * key), else a `branch` tag (`--tag branch=…`), both through the flag index; with
 * neither, earlier sessions of the same `scm_ref` (re-runs of one commit).
 */
const branchKey = sql`CASE WHEN ${s.pipelineBranch} IS NOT NULL THEN 'pipeline_branch' WHEN coalesce(json_extract(${s.description}, '$.branch'), '') <> '' THEN 'branch' END`;
const branchValue = sql`coalesce(${s.pipelineBranch}, nullif(json_extract(${s.description}, '$.branch'), ''))`;

/**
 * Rowids of the `window` sessions before `h` on its branch, newest first: two index
 * ranges, one of them empty (its key is NULL, so the range is, whatever the data).
 */
function earlierSessions(project: string, h: string, window: number) {
  const seq = ofSession(project, h, s.seq);
  return sql`SELECT seq FROM (SELECT ${f.sessionSeq} AS seq FROM ${f} WHERE ${f.name} = ${ofSession(project, h, branchKey)} AND ${f.value} = ${ofSession(project, h, branchValue)} AND ${f.sessionSeq} < ${seq} AND ${inProject(f.sessionSeq, project)} ORDER BY ${f.sessionSeq} DESC LIMIT ${window})
    UNION ALL
    SELECT seq FROM (SELECT ${s.seq} AS seq FROM ${s} WHERE ${s.projectId} = ${projectId(project)} AND ${s.scmRef} = ${ofSession(project, h, sql`CASE WHEN ${branchKey} IS NULL THEN ${s.scmRef} END`)} AND ${s.seq} < ${seq} ORDER BY ${s.seq} DESC LIMIT ${window})`;
}

/**
 * Metrics of some sessions with their context's machine class: one unique lookup per
 * metric, which D1 counts as one more row read (a materialized list of distinct
 * contexts costs more: D1 counts the reads of the temporary table too).
 */
const metricsOf = (project: string, sessions: SQL, cap: number) =>
  sql`SELECT ${metricColumns} FROM ${m} LEFT JOIN ${ctx} ON ${ctx.projectId} = ${m.projectId} AND ${ctx.h} = ${m.contextH} WHERE ${m.projectId} = ${projectId(project)} AND ${m.sessionH} IN (${sessions}) LIMIT ${cap + 1}`;

/**
 * The most metric rows one regressions or compare request reads (all its sessions
 * together): a bound on rows read, Worker memory and the answer's size. More is a 400
 * that says so (docs/api/monitor-regressions.md), never a partial verdict.
 */
export const MAX_METRICS_READ = 100_000;

// ─── Tests and their values ─────────────────────────────────────────────────

/** A test is the same item variant, kind and component at the same path (module). */
export interface TestId {
  item_path: string;
  item: string;
  item_variant: string;
  kind: string;
  component: string;
}
const testKey = (r: TestId) => JSON.stringify([r.item_path, r.item_variant, r.kind, r.component]);
const testId = (r: TestId): TestId => ({
  item_path: r.item_path,
  item: r.item,
  item_variant: r.item_variant,
  kind: r.kind,
  component: r.component,
});

/** One test in one session: its values, the median of its runs when it ran more than once. */
interface Run {
  id: TestId;
  context_h: string;
  machine: string | null;
  values: Record<Judged, number>;
}

const machineOf = (r: MetricRow) =>
  r.machine_type === null ? null : JSON.stringify([r.machine_type, r.cpu_count, r.ram_total]);

/** Metric rows of one session → its tests in first-run order. */
function runsOf(rows: MetricRow[]): Map<string, Run> {
  const grouped = new Map<string, MetricRow[]>();
  for (const r of rows) {
    const key = testKey(r);
    const list = grouped.get(key);
    if (list) list.push(r);
    else grouped.set(key, [r]);
  }
  const runs = new Map<string, Run>();
  for (const [key, list] of grouped) {
    const values = Object.fromEntries(JUDGED.map((res) => [res, median(list.map((r) => r[res]))])) as Record<
      Judged,
      number
    >;
    runs.set(key, { id: testId(list[0]), context_h: list[0].context_h, machine: machineOf(list[0]), values });
  }
  return runs;
}

/** Same machine class (machine type, CPU count, RAM), or the same context when a class is unknown. */
const comparable = (a: Run, b: Run) => a.context_h === b.context_h || (a.machine !== null && a.machine === b.machine);

const bySession = (rows: MetricRow[]) => {
  const out = new Map<string, MetricRow[]>();
  for (const r of rows) {
    const list = out.get(r.session_h);
    if (list) list.push(r);
    else out.set(r.session_h, [r]);
  }
  return out;
};

const sessionOut = (r: SessionRow, contexts: string[]) => ({
  session_h: r.session_h,
  run_date: r.run_date,
  scm_ref: r.scm_ref,
  contexts,
});
const contextsOf = (rows: MetricRow[] | undefined) => [...new Set((rows ?? []).map((r) => r.context_h))];

// ─── Regressions ────────────────────────────────────────────────────────────

export interface RegressionQuery extends Thresholds {
  window: number;
}

export interface TestVerdict extends TestId {
  context_h: string;
  verdict: Verdict;
  leak: boolean;
  resources: Record<Judged, Judgement>;
}

/** The session's tests judged against its branch's earlier sessions; null when the session is unknown. */
export async function sessionRegressions(
  d1: D1Database,
  project: string,
  h: string,
  q: RegressionQuery,
  cap = MAX_METRICS_READ,
) {
  const earlier = earlierSessions(project, h, q.window);
  const [current, baseline, metrics] = await readBatch<[SessionRow[], SessionRow[], MetricRow[]]>(d1, [
    sql`SELECT ${sessionColumns} FROM ${s} WHERE ${theSession(project, h)}`,
    sql`SELECT ${sessionColumns} FROM ${s} WHERE ${s.seq} IN (${earlier}) ORDER BY ${s.seq} DESC`,
    metricsOf(project, sql`SELECT ${h} UNION ALL SELECT ${s.sessionH} FROM ${s} WHERE ${s.seq} IN (${earlier})`, cap),
  ]);
  const session = current[0];
  if (!session) return null;
  if (metrics.length > cap) return "too_many" as const;

  const rows = bySession(metrics);
  const runs = runsOf(rows.get(h) ?? []);
  // Earlier sessions oldest first: the order the leak test reads.
  const history = [...baseline].reverse().map((b) => runsOf(rows.get(b.session_h) ?? []));

  const tests: TestVerdict[] = [];
  for (const [key, run] of runs) {
    const past = history.flatMap((runsThen) => {
      const then = runsThen.get(key);
      return then && comparable(run, then) ? [then] : [];
    });
    const resources = Object.fromEntries(
      JUDGED.map((res) => [
        res,
        judge(
          res,
          run.values[res],
          past.map((p) => p.values[res]),
          q,
        ),
      ]),
    ) as Record<Judged, Judgement>;
    tests.push({
      ...run.id,
      context_h: run.context_h,
      verdict: overall(JUDGED.map((res) => resources[res].verdict)),
      leak: leakSuspect([...past.map((p) => p.values.mem_usage), run.values.mem_usage]),
      resources,
    });
  }

  const count = (v: Verdict) => tests.filter((t) => t.verdict === v).length;
  const by =
    session.pipeline_branch !== null
      ? "pipeline_branch"
      : session.tag_branch
        ? "branch"
        : session.scm_ref !== null
          ? "scm_ref"
          : null;
  return {
    session: sessionOut(session, contextsOf(rows.get(h))),
    baseline: {
      by,
      value:
        by === "pipeline_branch"
          ? session.pipeline_branch
          : by === "branch"
            ? session.tag_branch
            : by === "scm_ref"
              ? session.scm_ref
              : null,
      window: q.window,
      sessions: baseline.map((b) => sessionOut(b, contextsOf(rows.get(b.session_h)))),
    },
    thresholds: { k: q.k, min_change: q.minChange },
    summary: {
      tests: tests.length,
      regressions: count("regression"),
      improvements: count("improvement"),
      unchanged: count("unchanged"),
      insufficient_history: count("insufficient_history"),
      leaks: tests.filter((t) => t.leak).length,
    },
    tests,
  };
}

// ─── Compare two sessions ───────────────────────────────────────────────────

export interface ResourceChange {
  a: number;
  b: number;
  /** b - a */
  change: number;
  /** (b - a) / |a|, null when a is 0 */
  relative_change: number | null;
}

/** Both sessions' tests side by side; `missing` names the sessions that do not exist. */
export async function compareSessions(d1: D1Database, project: string, a: string, b: string, cap = MAX_METRICS_READ) {
  const [found, metrics] = await readBatch<[SessionRow[], MetricRow[]]>(d1, [
    sql`SELECT ${sessionColumns} FROM ${s} WHERE ${s.projectId} = ${projectId(project)} AND ${s.sessionH} IN (${a}, ${b})`,
    metricsOf(project, sql`${a}, ${b}`, cap),
  ]);
  const sa = found.find((r) => r.session_h === a);
  const sb = found.find((r) => r.session_h === b);
  if (!sa || !sb)
    return { missing: [sa ? null : a, sb ? null : b].filter((x): x is string => x !== null), found: false as const };
  if (metrics.length > cap) return { found: "too_many" as const };

  const rows = bySession(metrics);
  const runsA = runsOf(rows.get(a) ?? []);
  const runsB = runsOf(rows.get(b) ?? []);
  const values = (r: Run) => ({ context_h: r.context_h, values: r.values });
  const tests = [];
  for (const [key, ra] of runsA) {
    const rb = runsB.get(key);
    if (!rb) continue;
    const resources = Object.fromEntries(
      JUDGED.map((res): [Judged, ResourceChange] => {
        const [x, y] = [ra.values[res], rb.values[res]];
        return [res, { a: x, b: y, change: y - x, relative_change: relativeChange(x, y) }];
      }),
    );
    tests.push({ ...ra.id, context_a: ra.context_h, context_b: rb.context_h, resources });
  }
  const onlyA = [...runsA].filter(([key]) => !runsB.has(key)).map(([, r]) => ({ ...r.id, ...values(r) }));
  const onlyB = [...runsB].filter(([key]) => !runsA.has(key)).map(([, r]) => ({ ...r.id, ...values(r) }));
  return {
    found: true as const,
    a: sessionOut(sa, contextsOf(rows.get(a))),
    b: sessionOut(sb, contextsOf(rows.get(b))),
    summary: { both: tests.length, only_in_a: onlyA.length, only_in_b: onlyB.length },
    tests,
    only_in_a: onlyA,
    only_in_b: onlyB,
  };
}
