/**
 * Drizzle schema of every D1 table, one section per owner. `npm run db:generate`
 * turns changes here into a SQL migration under migrations/.
 */
import { sql } from "drizzle-orm";
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// ─── Tokens and access (src/auth) ───────────────────────────────────────────

export const tokens = sqliteTable("tokens", {
  id: text("id").primaryKey(),
  /** Hex SHA-256 of the token: the token itself is never stored. */
  tokenHash: text("token_hash").notNull().unique(),
  user: text("user").notNull(),
  role: text("role", { enum: ["admin", "system", "user"] }).notNull(),
  projects: text("projects", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  groups: text("groups", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  createdAt: text("created_at").notNull(),
  revokedAt: text("revoked_at"),
});

export const datasetAccess = sqliteTable("dataset_access", {
  datasetId: text("dataset_id").primaryKey(),
  readGroups: text("read_groups", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  writeGroups: text("write_groups", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  readUsers: text("read_users", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  writeUsers: text("write_users", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  updatedAt: text("updated_at").notNull(),
});

// ─── Test-run monitor (src/monitor) ─────────────────────────────────────────
// `seq` is the rowid: rows are never deleted, so it is dense (1..N) and a page of a
// whole collection is a rowid range, whatever its depth.

export const monitorSessions = sqliteTable(
  "monitor_sessions",
  {
    seq: integer("seq").primaryKey(),
    sessionH: text("session_h").notNull(),
    runDate: text("run_date").notNull(),
    scmRef: text("scm_ref"),
    description: text("description", { mode: "json" }).$type<Record<string, string>>().notNull(),
    /** description.pipeline_branch / pipeline_build_no, lifted out to be indexed. */
    pipelineBranch: text("pipeline_branch"),
    pipelineBuildNo: text("pipeline_build_no"),
  },
  (t) => [
    uniqueIndex("monitor_sessions_h").on(t.sessionH),
    index("monitor_sessions_scm").on(t.scmRef),
    index("monitor_sessions_pipeline").on(t.pipelineBranch, t.pipelineBuildNo),
  ],
);

/** description entries, one row per flag, so flag filters use an index. */
export const monitorSessionFlags = sqliteTable(
  "monitor_session_flags",
  {
    sessionSeq: integer("session_seq").notNull(),
    name: text("name").notNull(),
    value: text("value").notNull(),
  },
  (t) => [uniqueIndex("monitor_session_flags_pk").on(t.name, t.value, t.sessionSeq)],
);

export const monitorContexts = sqliteTable(
  "monitor_contexts",
  {
    seq: integer("seq").primaryKey(),
    h: text("h").notNull(),
    cpuCount: integer("cpu_count").notNull(),
    cpuFrequency: integer("cpu_frequency").notNull(),
    cpuType: text("cpu_type").notNull(),
    cpuVendor: text("cpu_vendor").notNull(),
    ramTotal: integer("ram_total").notNull(),
    machineNode: text("machine_node").notNull(),
    machineType: text("machine_type").notNull(),
    machineArch: text("machine_arch").notNull(),
    systemInfo: text("system_info").notNull(),
    pythonInfo: text("python_info").notNull(),
  },
  (t) => [uniqueIndex("monitor_contexts_h").on(t.h)],
);

export const monitorMetrics = sqliteTable(
  "monitor_metrics",
  {
    seq: integer("seq").primaryKey(),
    sessionH: text("session_h").notNull(),
    contextH: text("context_h").notNull(),
    itemStartTime: text("item_start_time").notNull(),
    itemPath: text("item_path").notNull(),
    item: text("item").notNull(),
    itemVariant: text("item_variant").notNull(),
    itemFsLoc: text("item_fs_loc").notNull(),
    kind: text("kind").notNull(),
    component: text("component").notNull(),
    totalTime: real("total_time").notNull(),
    userTime: real("user_time").notNull(),
    kernelTime: real("kernel_time").notNull(),
    cpuUsage: real("cpu_usage").notNull(),
    memUsage: real("mem_usage").notNull(),
  },
  (t) => [
    // A metric's identity: a retried post finds it here instead of adding a copy.
    uniqueIndex("monitor_metrics_key").on(t.sessionH, t.itemStartTime, t.itemPath, t.itemVariant, t.kind),
    // Single-column indexes keep rowid order, so `ORDER BY seq` pages need no sort.
    index("monitor_metrics_session").on(t.sessionH),
    index("monitor_metrics_context").on(t.contextH),
    index("monitor_metrics_item").on(t.item),
    index("monitor_metrics_variant").on(t.itemVariant),
    index("monitor_metrics_kind").on(t.kind),
    index("monitor_metrics_component_item").on(t.component, t.item),
    index("monitor_metrics_component_session").on(t.component, t.sessionH),
    index("monitor_metrics_component_variant").on(t.component, t.itemVariant),
    index("monitor_metrics_total_time").on(t.totalTime),
    index("monitor_metrics_user_time").on(t.userTime),
    index("monitor_metrics_kernel_time").on(t.kernelTime),
    index("monitor_metrics_cpu_usage").on(t.cpuUsage),
    index("monitor_metrics_mem_usage").on(t.memUsage),
  ],
);

export const monitorComponents = sqliteTable("monitor_components", {
  seq: integer("seq").primaryKey(),
  name: text("name").notNull().unique(),
});

/** Distinct pipelines and builds in order of first appearance (lists without DISTINCT scans). */
export const monitorPipelines = sqliteTable("monitor_pipelines", {
  seq: integer("seq").primaryKey(),
  branch: text("branch").notNull().unique(),
});

export const monitorBuilds = sqliteTable(
  "monitor_builds",
  {
    seq: integer("seq").primaryKey(),
    branch: text("branch").notNull(),
    buildNo: text("build_no").notNull(),
  },
  (t) => [uniqueIndex("monitor_builds_key").on(t.branch, t.buildNo)],
);

/** Sizes of whole collections, updated in the batch that inserts (counts never scan). */
export const monitorCounters = sqliteTable("monitor_counters", {
  name: text("name").primaryKey(),
  n: integer("n").notNull().default(0),
});

// ─── Task logs (src/logs) ───────────────────────────────────────────────────

// ─── Daemon registry (src/daemon) ───────────────────────────────────────────

// ─── Scheduler sessions and jobs (src/scheduler) ────────────────────────────

// ─── Telemetry samples (src/telemetry) ──────────────────────────────────────
