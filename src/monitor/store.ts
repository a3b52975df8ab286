import { type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { chunked, isUniqueViolation, rowsPerStatement } from "../db/d1";
import {
  type DescriptionValue,
  monitorBuilds,
  monitorComponents,
  monitorContexts,
  monitorMetrics,
  monitorPipelines,
  monitorSessionFlags,
  monitorSessions,
} from "../db/schema";
import { fenceGuard, isFenced } from "../db/shards";
import { createProject, type ProjectWrite } from "./project-db";
import { lastSeq, projectId } from "./projects";
import { type ContextIn, METRIC_COLUMNS, type MetricIn } from "./schemas";

type SessionRow = typeof monitorSessions.$inferSelect;
type ContextRow = typeof monitorContexts.$inferSelect;
type MetricRow = typeof monitorMetrics.$inferSelect;
/** One statement of a D1 batch: every request sends its statements in one round trip. */
export type Statement = BatchItem<"sqlite">;

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
export const scalarText = (v: DescriptionValue): string | null =>
  v === null || typeof v === "string" ? v : JSON.stringify(v);

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

// ─── Writes (reads are in listings.ts) ──────────────────────────────────────

const s = monitorSessions;
const m = monitorMetrics;

export type Upsert<T> = { outcome: "created" | "identical" | "conflict"; stored: T };
/**
 * A raw SQL statement that can go into `db.batch` (drizzle's D1 batch expects a prepared
 * statement that `db.run(sql)` does not carry); its batch result is D1's, with `meta`.
 */
function rawStatement(db: Database, query: SQL): Statement {
  const raw = db.run(query);
  const built = raw.getQuery();
  const prepared = {
    getQuery: () => built,
    stmt: (db as Database & { $client: D1Database }).$client.prepare(built.sql),
    mapResult: (r: unknown) => r,
  };
  return Object.assign(Object.create(raw), { _prepare: () => prepared }) as Statement;
}
const changes = (r: unknown) => (r as { meta?: { changes?: number } }).meta?.changes ?? 0;

/**
 * The two statements every write batch starts with: the shard's fence (it fails the batch
 * when the project is not, or no longer, on this shard; src/db/shards.ts) and the project's
 * creation under its number.
 */
const head = (w: ProjectWrite): [Statement, Statement] => [
  rawStatement(w.db, fenceGuard([w.project])),
  rawStatement(w.db, createProject(w)),
];

/**
 * Stores a session with its flags, pipeline and build in one batch (one round trip) and
 * reads back what is stored. An existing session is never overwritten: its flags,
 * pipeline and build are only added when the stored description is the posted one.
 */
export async function createSession(
  w: ProjectWrite,
  input: { session_h: string; run_date: string; scm_ref: string | null; description: Record<string, DescriptionValue> },
): Promise<Upsert<SessionRow>> {
  const { db, project } = w;
  const text = JSON.stringify(input.description);
  const branch = scalarText(input.description.pipeline_branch ?? null) || null;
  const build = scalarText(input.description.pipeline_build_no ?? null) || null;
  const pid = projectId(project);
  const isThisSession = sql`SELECT ${s.seq} FROM ${s} WHERE ${s.projectId} = ${pid} AND ${s.sessionH} = ${input.session_h} AND ${s.description} = ${text}`;
  const entries = Object.entries(input.description);
  // Two parameters a flag; 6: the session check, twice.
  const flagInserts = chunked(entries, rowsPerStatement(2, 6)).map((part) => {
    const values = sql.join(
      part.map(([name, value]) => sql`(${name}, ${scalarText(value) ?? ""})`),
      sql`, `,
    );
    return rawStatement(
      db,
      sql`INSERT OR IGNORE INTO ${monitorSessionFlags} (session_seq, name, value) SELECT (${isThisSession}), column1, column2 FROM (VALUES ${values}) WHERE EXISTS (${isThisSession})`,
    );
  });
  const [, , inserted, ...rest] = await db.batch([
    ...head(w),
    db
      .insert(s)
      .values({
        seq: sql`${lastSeq(s, s.seq, project)} + 1`,
        projectId: pid,
        sessionH: input.session_h,
        runDate: input.run_date,
        scmRef: input.scm_ref,
        description: input.description,
        pipelineBranch: branch,
        pipelineBuildNo: build,
      })
      .onConflictDoNothing({ target: [s.projectId, s.sessionH] }),
    ...flagInserts,
    ...(branch
      ? [
          rawStatement(
            db,
            sql`INSERT OR IGNORE INTO ${monitorPipelines} (project_id, branch) SELECT ${pid}, ${branch} WHERE EXISTS (${isThisSession})`,
          ),
        ]
      : []),
    ...(branch && build
      ? [
          rawStatement(
            db,
            sql`INSERT OR IGNORE INTO ${monitorBuilds} (project_id, branch, build_no) SELECT ${pid}, ${branch}, ${build} WHERE EXISTS (${isThisSession})`,
          ),
        ]
      : []),
    db.select().from(s).where(sql`${s.projectId} = ${pid} AND ${s.sessionH} = ${input.session_h}`),
  ] as [Statement, ...Statement[]]);
  const stored = (rest.at(-1) as SessionRow[])[0];
  if (changes(inserted) > 0) return { outcome: "created", stored };
  const same =
    stored.runDate === input.run_date &&
    stored.scmRef === input.scm_ref &&
    sameRecord(stored.description, input.description);
  return { outcome: same ? "identical" : "conflict", stored };
}

function sameRecord(a: Record<string, DescriptionValue>, b: Record<string, DescriptionValue>) {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

export async function createContext(w: ProjectWrite, ctx: ContextIn): Promise<Upsert<ContextRow>> {
  const { db, project } = w;
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
  const t = monitorContexts;
  const pid = projectId(project);
  const [, , inserted, [stored]] = await db.batch([
    ...head(w),
    db
      .insert(t)
      .values({ ...row, seq: sql`${lastSeq(t, t.seq, project)} + 1`, projectId: pid })
      .onConflictDoNothing({ target: [t.projectId, t.h] }),
    db.select().from(t).where(sql`${t.projectId} = ${pid} AND ${t.h} = ${ctx.h}`),
  ]);
  if (changes(inserted) > 0) return { outcome: "created", stored };
  const same = (Object.keys(row) as Array<keyof typeof row>).every((k) => stored[k] === row[k]);
  return { outcome: same ? "identical" : "conflict", stored };
}

// Besides the values: the project name, five times (the newest rowid three, its id two).
const METRICS_PER_INSERT = rowsPerStatement(METRIC_COLUMNS.length, 5);
const metricValues = (x: MetricIn) => METRIC_COLUMNS.map((k) => x[k]);
/** The five columns that make a metric's identity (the unique key). */
const metricKey = (x: MetricIn) =>
  JSON.stringify([x.session_h, x.item_start_time, x.item_path, x.item_variant, x.kind]);
const sameMetric = (a: MetricIn, b: MetricIn) => METRIC_COLUMNS.every((k) => a[k] === b[k]);

/**
 * Inserts a chunk of metrics, skipping each one stored already with identical content.
 * One stored with the same key and other content is not skipped: its insert breaks the
 * unique key and the whole batch rolls back (a conflict).
 */
function insertMetrics(db: Database, project: string, chunk: MetricIn[]): Statement {
  const cols = sql.raw(METRIC_COLUMNS.join(", "));
  const values = sql.join(
    chunk.map(
      (x) =>
        sql`(${sql.join(
          metricValues(x).map((v) => sql`${v}`),
          sql`, `,
        )})`,
    ),
    sql`, `,
  );
  const same = sql.raw(METRIC_COLUMNS.map((c, i) => `stored.${c} = v.column${i + 1}`).join(" AND "));
  const pid = projectId(project);
  // Rowids follow the project's newest, densely (src/db/schema.ts): counts and whole-list pages rely on it.
  return rawStatement(
    db,
    sql`INSERT INTO ${m} (seq, project_id, ${cols}) SELECT ${lastSeq(m, m.seq, project)} + row_number() OVER (), ${pid}, v.* FROM (VALUES ${values}) AS v WHERE NOT EXISTS (SELECT 1 FROM ${m} AS stored WHERE stored.project_id = ${pid} AND ${same})`,
  );
}

export type MetricsOutcome = { outcome: "created" | "identical" } | { outcome: "conflict"; index: number };

/**
 * Stores metrics all or nothing in one batch (metrics and new component names). A metric
 * stored already is skipped when identical (a retried post) and refuses the whole post
 * when different; nothing is read first: the unique key decides.
 */
export async function createMetrics(w: ProjectWrite, input: MetricIn[]): Promise<MetricsOutcome> {
  const { db, project } = w;
  const fresh: MetricIn[] = [];
  const seen = new Map<string, MetricIn>();
  for (const [index, x] of input.entries()) {
    const key = metricKey(x);
    const prior = seen.get(key);
    if (prior && !sameMetric(prior, x)) return { outcome: "conflict", index };
    if (!prior) fresh.push(x);
    seen.set(key, x);
  }
  const statements: Statement[] = [
    ...head(w),
    ...chunked(fresh, METRICS_PER_INSERT).map((part) => insertMetrics(db, project, part)),
  ];
  const components = [...new Set(fresh.map((x) => x.component))];
  for (const part of chunked(components, rowsPerStatement(1, 2))) {
    const values = sql.join(
      part.map((name) => sql`(${name})`),
      sql`, `,
    );
    statements.push(
      rawStatement(
        db,
        sql`INSERT OR IGNORE INTO ${monitorComponents} (project_id, name) SELECT ${projectId(project)}, column1 FROM (VALUES ${values})`,
      ),
    );
  }
  try {
    const results = await db.batch(statements as [Statement, ...Statement[]]);
    const inserted = results
      .slice(2, 2 + Math.ceil(fresh.length / METRICS_PER_INSERT))
      .reduce((n: number, r) => n + changes(r), 0);
    return { outcome: inserted > 0 ? "created" : "identical" };
  } catch (e) {
    // A fenced batch is a unique violation too: the project moved, and writeInProject retries.
    if (isFenced(e) || !isUniqueViolation(e)) throw e;
    return { outcome: "conflict", index: await firstConflict(db, project, fresh, input) };
  }
}

/** After a refused post: which metric of it differs from the stored one (an error path, so a second query is fine). */
async function firstConflict(db: Database, project: string, fresh: MetricIn[], input: MetricIn[]): Promise<number> {
  const stored = new Map<string, MetricIn>();
  for (const part of chunked(fresh, rowsPerStatement(5, 1))) {
    const keys = sql.join(
      part.map((x) => sql`(${x.session_h}, ${x.item_start_time}, ${x.item_path}, ${x.item_variant}, ${x.kind})`),
      sql`, `,
    );
    const rows = await db
      .select()
      .from(m)
      .where(
        sql`${m.projectId} = ${projectId(project)} AND (${m.sessionH}, ${m.itemStartTime}, ${m.itemPath}, ${m.itemVariant}, ${m.kind}) IN (VALUES ${keys})`,
      );
    for (const r of rows) {
      const x = metricOut(r);
      stored.set(metricKey(x), x);
    }
  }
  const index = input.findIndex((x) => {
    const prior = stored.get(metricKey(x));
    return prior !== undefined && !sameMetric(prior, x);
  });
  return Math.max(index, 0);
}
