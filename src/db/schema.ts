/**
 * Drizzle schema of every D1 table, one section per owner. `npm run db:generate`
 * turns changes here into a SQL migration under migrations/.
 */
import { sql } from "drizzle-orm";
import {
  check,
  customType,
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

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

export type DescriptionValue = string | number | boolean | null;
// Every monitor record belongs to a project (docs/api/monitor.md, "Projects"). `seq` is the
// rowid and encodes the project: project id p owns the rowids (p·2^40, (p+1)·2^40), given
// densely in insertion order (rows are never deleted), so a project's whole collection is a
// rowid range, its size max(seq) − p·2^40 (one row read) and its page N a rowid range; a
// single-column index (whose entries end in the rowid) is project-scoped by that range too.
// Project 0 is `default`: the rows stored before projects existed, rowids 1..N, are in it.

/** Project names → ids (the rowid ranges above); a project is created by its first write. */
export const monitorProjects = sqliteTable("monitor_projects", {
  id: integer("id").primaryKey(),
  name: text("name").notNull().unique(),
});

export const monitorSessions = sqliteTable(
  "monitor_sessions",
  {
    seq: integer("seq").primaryKey(),
    projectId: integer("project_id").notNull().default(0),
    sessionH: text("session_h").notNull(),
    runDate: text("run_date").notNull(),
    scmRef: text("scm_ref"),
    /** Values are JSON scalars: the plugin sends strings, other clients numbers, booleans or null. */
    description: text("description", { mode: "json" }).$type<Record<string, DescriptionValue>>().notNull(),
    /** description.pipeline_branch / pipeline_build_no as text, lifted out to be indexed. */
    pipelineBranch: text("pipeline_branch"),
    pipelineBuildNo: text("pipeline_build_no"),
  },
  (t) => [
    uniqueIndex("monitor_sessions_project_h").on(t.projectId, t.sessionH),
    index("monitor_sessions_project_scm").on(t.projectId, t.scmRef),
    index("monitor_sessions_project_pipeline").on(t.projectId, t.pipelineBranch, t.pipelineBuildNo),
  ],
);

/** description entries, one row per flag, so flag filters use an index (project: the session_seq range). */
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
    projectId: integer("project_id").notNull().default(0),
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
  (t) => [uniqueIndex("monitor_contexts_project_h").on(t.projectId, t.h)],
);

/**
 * A metric writes its row and five index entries, six when its kind is not `function`
 * (docs/benchmark.md lists what each serves).
 * Not indexed: the session alone (the key's prefix serves it), component + item or variant
 * (the item's or variant's range, filtered), the five resources (head/tail read a bounded
 * window of the newest metrics instead).
 */
export const monitorMetrics = sqliteTable(
  "monitor_metrics",
  {
    seq: integer("seq").primaryKey(),
    projectId: integer("project_id").notNull().default(0),
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
    // A metric's identity within its project: a retried post finds it here instead of adding
    // a copy. Its prefix (project, session) also serves a session's metrics and regressions.
    uniqueIndex("monitor_metrics_project_key").on(
      t.projectId,
      t.sessionH,
      t.itemStartTime,
      t.itemPath,
      t.itemVariant,
      t.kind,
    ),
    // Single-column indexes keep rowid order: a key's page is a rowid-ordered range, and the
    // project's rowid range bounds it to the project.
    index("monitor_metrics_context").on(t.contextH),
    index("monitor_metrics_item").on(t.item),
    index("monitor_metrics_variant").on(t.itemVariant),
    // The plugin's own kind, `function`, is the bulk of every project: not indexed (its pages
    // walk the project's rowid range, nearly every row a match); other kinds are.
    index("monitor_metrics_kind").on(t.kind).where(sql`kind <> 'function'`),
    index("monitor_metrics_component").on(t.component),
  ],
);

export const monitorComponents = sqliteTable(
  "monitor_components",
  {
    seq: integer("seq").primaryKey(),
    projectId: integer("project_id").notNull().default(0),
    name: text("name").notNull(),
  },
  (t) => [uniqueIndex("monitor_components_project_name").on(t.projectId, t.name)],
);

/** Distinct pipelines and builds in order of first appearance (lists without DISTINCT scans). */
export const monitorPipelines = sqliteTable(
  "monitor_pipelines",
  {
    seq: integer("seq").primaryKey(),
    projectId: integer("project_id").notNull().default(0),
    branch: text("branch").notNull(),
  },
  (t) => [uniqueIndex("monitor_pipelines_project_branch").on(t.projectId, t.branch)],
);

export const monitorBuilds = sqliteTable(
  "monitor_builds",
  {
    seq: integer("seq").primaryKey(),
    projectId: integer("project_id").notNull().default(0),
    branch: text("branch").notNull(),
    buildNo: text("build_no").notNull(),
  },
  (t) => [
    uniqueIndex("monitor_builds_project_key").on(t.projectId, t.branch, t.buildNo),
    // A pipeline's builds in order of first appearance (entries end in the rowid).
    index("monitor_builds_project_branch").on(t.projectId, t.branch),
  ],
);

// ─── Task logs (src/logs) ───────────────────────────────────────────────────

// A log's body is inline in `data` when it is at most LOG_INLINE_MAX UTF-8 bytes, else in
// R2 under `logs/<log_id>` (`in_r2` = 1, `data` null). `timestamp` is made by the insert
// itself from the newest row, so it is unique and increases in insertion order: it is the
// sort key and the keyset of every list.

export const logs = sqliteTable(
  "logs",
  {
    seq: integer("seq").primaryKey(),
    logId: text("log_id").notNull(),
    name: text("name"),
    datasetId: text("dataset_id"),
    taskId: text("task_id"),
    /** Microseconds since the epoch; `timestamp` is the same instant as IceProd writes it. */
    tsUs: integer("ts_us").notNull(),
    timestamp: text("timestamp").notNull(),
    /** Any other string fields the poster sent, as a JSON object. */
    extra: text("extra", { mode: "json" }).$type<Record<string, string>>().notNull().default(sql`'{}'`),
    data: text("data"),
    inR2: integer("in_r2", { mode: "boolean" }).notNull().default(false),
    /** Size of the body in UTF-8 bytes, wherever it lives. */
    bodyBytes: integer("body_bytes").notNull(),
  },
  (t) => [
    uniqueIndex("logs_log_id").on(t.logId),
    uniqueIndex("logs_timestamp").on(t.timestamp),
    index("logs_dataset_task_time").on(t.datasetId, t.taskId, t.timestamp),
    index("logs_dataset_time").on(t.datasetId, t.timestamp),
    index("logs_task_time").on(t.taskId, t.timestamp),
    index("logs_name_time").on(t.name, t.timestamp),
  ],
);

// ─── Daemon registry (src/daemon) ───────────────────────────────────────────

/**
 * One daemon per user. The id is what the daemon beats with (its only credential);
 * `status` mirrors the presence object's last recorded change, so online/offline
 * lists across users need no Durable Object calls.
 */
export const daemons = sqliteTable(
  "daemons",
  {
    user: text("user").primaryKey(),
    daemonId: text("daemon_id").notNull(),
    status: text("status", { enum: ["online", "offline"] })
      .notNull()
      .default("offline"),
    statusChangedAt: text("status_changed_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("daemons_daemon_id").on(t.daemonId), index("daemons_status").on(t.status)],
);

/**
 * The abnormal tags daemons report, one row per (tag, reporting daemon). The key's
 * column order serves both tag-status queries (by item, by item+tag) from the index.
 */
export const daemonAbnormalTags = sqliteTable(
  "daemon_abnormal_tags",
  {
    repname: text("repname").notNull(),
    itemname: text("itemname").notNull(),
    tagname: text("tagname").notNull(),
    daemonId: text("daemon_id").notNull(),
    since: text("since").notNull(),
  },
  (t) => [uniqueIndex("daemon_abnormal_tags_key").on(t.repname, t.itemname, t.tagname, t.daemonId)],
);

// ─── Scheduler sessions and jobs (src/scheduler) ────────────────────────────
// Documents are JSON as the Freezer API serves them. A session row is written only by
// its SessionTagCounter Durable Object (write-through); lists and searches read here.
// `seq` (rowid) is creation order; the single-column project indexes keep rowid order,
// so a project's page needs no sort.

export const schedulerSessions = sqliteTable(
  "scheduler_sessions",
  {
    seq: integer("seq").primaryKey(),
    projectId: text("project_id").notNull(),
    sessionId: text("session_id").notNull(),
    doc: text("doc", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    uniqueIndex("scheduler_sessions_id").on(t.projectId, t.sessionId),
    index("scheduler_sessions_project").on(t.projectId),
  ],
);

/** `client_id` and `session_id` are lifted out of the document to be indexed filters. */
export const schedulerJobs = sqliteTable(
  "scheduler_jobs",
  {
    seq: integer("seq").primaryKey(),
    projectId: text("project_id").notNull(),
    jobId: text("job_id").notNull(),
    clientId: text("client_id").notNull(),
    sessionId: text("session_id").notNull().default(""),
    doc: text("doc", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    uniqueIndex("scheduler_jobs_id").on(t.projectId, t.jobId),
    index("scheduler_jobs_project").on(t.projectId),
    index("scheduler_jobs_client").on(t.projectId, t.clientId),
    index("scheduler_jobs_session").on(t.projectId, t.sessionId),
  ],
);

// ─── Telemetry meters (src/telemetry) ───────────────────────────────────────
// Timestamps are integer microseconds since the epoch (UTC) throughout.

/** Distinct meters (Ceilometer's `GET /v2/meters`), added by the batch that inserts their samples. */
export const telemetryMeters = sqliteTable(
  "telemetry_meters",
  {
    meter: text("meter").notNull(),
    type: text("type", { enum: ["gauge", "delta", "cumulative"] }).notNull(),
    unit: text("unit").notNull(),
    resourceId: text("resource_id").notNull(),
    projectId: text("project_id").notNull(),
    userId: text("user_id").notNull(),
    source: text("source").notNull(),
  },
  (t) => [
    uniqueIndex("telemetry_meters_key").on(t.meter, t.resourceId, t.projectId, t.userId, t.source, t.type, t.unit),
    index("telemetry_meters_project").on(t.projectId),
    index("telemetry_meters_resource").on(t.resourceId),
    index("telemetry_meters_user").on(t.userId),
    index("telemetry_meters_source").on(t.source),
  ],
);

/**
 * A metadata value kept as SQLite holds it, without a column affinity (`blob`), so the
 * text "1" and the number 1 stay distinct, as Ceilometer's typed metadata tables do.
 */
const metadataValue = customType<{ data: string | number; driverData: string | number }>({ dataType: () => "blob" });

// ─── Telemetry series and chunks (src/telemetry/chunks.ts) ─────────────────
// A series is one distinct (meter, type, unit, project, resource, resource name,
// display name, namespace, user, source, metadata), written once; its samples live in
// one chunk row per hour, appended in place (docs/telemetry-storage.md).

export const telemetrySeries = sqliteTable(
  "telemetry_series",
  {
    id: integer("id").primaryKey(),
    /** JSON of the identity tuple (metadata with sorted keys): a re-post finds its series. */
    key: text("key").notNull(),
    meter: text("meter").notNull(),
    type: text("type", { enum: ["gauge", "delta", "cumulative"] }).notNull(),
    unit: text("unit").notNull(),
    projectId: text("project_id").notNull(),
    resourceId: text("resource_id").notNull(),
    resourceName: text("resource_name").notNull(),
    displayName: text("display_name").notNull(),
    namespace: text("namespace").notNull(),
    userId: text("user_id").notNull(),
    source: text("source").notNull(),
    /** JSON object text, or "" when the series has none. */
    metadata: text("metadata").notNull(),
  },
  (t) => [
    uniqueIndex("telemetry_series_key").on(t.key),
    index("telemetry_series_meter").on(t.meter),
    index("telemetry_series_project").on(t.projectId, t.meter),
    index("telemetry_series_resource").on(t.resourceId, t.meter),
  ],
);

/** One row per flattened metadata entry of a series, written with the series: metadata queries resolve to series. */
export const telemetrySeriesMetadata = sqliteTable(
  "telemetry_series_metadata",
  {
    key: text("key").notNull(),
    kind: text("kind", { enum: ["s", "n", "b"] }).notNull(),
    value: metadataValue("value").notNull(),
    seriesId: integer("series_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.kind, t.value, t.seriesId] })],
);

/**
 * One row per series and hour: its samples as a JSON array of `[timestamp − bucket,
 * volume, recorded_at − timestamp]` in insertion order, and their count, sum, min, max,
 * sum of squares, first and last timestamp. A post appends in place: an UPDATE that
 * changes no indexed column writes one row. WITHOUT ROWID (migration): the primary key
 * is the table, so a new chunk writes two rows (it and the bucket index).
 */
export const telemetryChunks = sqliteTable(
  "telemetry_chunks",
  {
    seriesId: integer("series_id").notNull(),
    /** Start of the hour, µs. */
    bucket: integer("bucket").notNull(),
    n: integer("n").notNull(),
    total: real("total").notNull(),
    lo: real("lo").notNull(),
    hi: real("hi").notNull(),
    squares: real("squares").notNull(),
    first: integer("first").notNull(),
    last: integer("last").notNull(),
    samples: text("samples").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.seriesId, t.bucket] }),
    index("telemetry_chunks_bucket").on(t.bucket),
    check("telemetry_chunks_size", sql`${t.n} <= 10000`),
  ],
);

/** Message ids of samples stored before series and chunks (content hashes), kept findable. */
export const telemetryLegacyIds = sqliteTable("telemetry_legacy_ids", {
  id: text("id").primaryKey(),
  seriesId: integer("series_id").notNull(),
  timestamp: integer("timestamp").notNull(),
});

// ─── Telemetry storage tiers (src/telemetry/rollups.ts, cold.ts, archive-cron.ts) ──
// Rollups summarise samples per project, meter, resource, user, source and bucket
// (`width` 60 or 3600 seconds, `bucket` its start in µs); statistics that align with
// them read buckets instead of samples. Samples older than TELEMETRY_HOT_DAYS move to
// R2, one gzip NDJSON object per project, meter, day and move, indexed here.

export const telemetryRollups = sqliteTable(
  "telemetry_rollups",
  {
    width: integer("width").notNull(),
    meter: text("meter").notNull(),
    bucket: integer("bucket").notNull(),
    projectId: text("project_id").notNull(),
    resourceId: text("resource_id").notNull(),
    userId: text("user_id").notNull(),
    source: text("source").notNull(),
    n: integer("n").notNull(),
    total: real("total").notNull(),
    lo: real("lo").notNull(),
    hi: real("hi").notNull(),
    /** Sum of volume², for stddev. */
    squares: real("squares").notNull(),
    first: integer("first").notNull(),
    last: integer("last").notNull(),
    unit: text("unit").notNull(),
  },
  // The statistics path always names the meter: a bucket range of one meter is one index range.
  (t) => [primaryKey({ columns: [t.width, t.meter, t.bucket, t.projectId, t.resourceId, t.userId, t.source] })],
);

/** One row per cold object in R2 (TELEMETRY_ARCHIVE). */
export const telemetryArchive = sqliteTable(
  "telemetry_archive",
  {
    key: text("key").primaryKey(),
    projectId: text("project_id").notNull(),
    meter: text("meter").notNull(),
    /** Start of the UTC day the samples belong to, µs. */
    day: integer("day").notNull(),
    first: integer("first").notNull(),
    last: integer("last").notNull(),
    n: integer("n").notNull(),
    bytes: integer("bytes").notNull(),
    minSeq: integer("min_seq").notNull(),
    maxSeq: integer("max_seq").notNull(),
    movedAt: integer("moved_at").notNull(),
  },
  (t) => [
    index("telemetry_archive_day").on(t.day),
    index("telemetry_archive_meter").on(t.meter, t.day),
    index("telemetry_archive_project").on(t.projectId, t.day),
  ],
);

/**
 * Written (and removed) inside the batch that deletes moved samples: the CHECK fails,
 * and the whole batch with it, unless the rows about to be deleted are exactly the
 * rows the objects hold.
 */
export const telemetryArchiveGuard = sqliteTable(
  "telemetry_archive_guard",
  {
    k: text("k").primaryKey(),
    expected: integer("expected").notNull(),
    actual: integer("actual").notNull(),
  },
  (t) => [check("telemetry_archive_guard_exact", sql`${t.expected} = ${t.actual}`)],
);

// ─── Telemetry alarms (src/telemetry/alarms) ────────────────────────────────
// Aodh-style threshold alarms (docs/api/alarms.md): the definition and its state in
// one row, its history newest first per alarm, and the notifications still to deliver.

export const telemetryAlarms = sqliteTable(
  "telemetry_alarms",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    userId: text("user_id").notNull(),
    name: text("name").notNull(),
    description: text("description").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    state: text("state").notNull(),
    stateReason: text("state_reason").notNull(),
    severity: text("severity").notNull(),
    repeatActions: integer("repeat_actions", { mode: "boolean" }).notNull(),
    meterName: text("meter_name").notNull(),
    /** The rule's period in seconds: when the alarm is next due is computed from it in SQL. */
    period: integer("period").notNull(),
    /** threshold_rule as Aodh answers it (JSON). */
    rule: text("rule").notNull(),
    /** {ok, alarm, insufficient data} → action URLs (JSON). */
    actions: text("actions").notNull(),
    timeConstraints: text("time_constraints").notNull(),
    /** ms since the epoch. */
    timestamp: integer("timestamp").notNull(),
    stateTimestamp: integer("state_timestamp").notNull(),
    /** When the cron next evaluates it (ms); null while disabled. */
    nextEvalAt: integer("next_eval_at"),
    /** Bumped by every write: a write conditional on the version read wins once. */
    version: integer("version").notNull(),
    /** Random id of the last write, so the rows a batch adds follow only its own UPDATE. */
    writeId: text("write_id").notNull(),
  },
  (t) => [
    uniqueIndex("telemetry_alarms_project_name").on(t.projectId, t.name),
    index("telemetry_alarms_due").on(t.nextEvalAt).where(sql`next_eval_at is not null`),
  ],
);

export const telemetryAlarmHistory = sqliteTable(
  "telemetry_alarm_history",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    eventId: text("event_id").notNull(),
    alarmId: text("alarm_id").notNull(),
    /** creation, rule change, state transition, deletion, or action (a delivery attempt). */
    type: text("type").notNull(),
    detail: text("detail").notNull(),
    userId: text("user_id"),
    projectId: text("project_id"),
    onBehalfOf: text("on_behalf_of").notNull(),
    severity: text("severity"),
    timestamp: integer("timestamp").notNull(),
  },
  (t) => [index("telemetry_alarm_history_alarm").on(t.alarmId, t.seq)],
);

/** A notification to deliver (http, https, log): retried with backoff by the alarm cron until done or given up. */
export const telemetryAlarmDeliveries = sqliteTable(
  "telemetry_alarm_deliveries",
  {
    id: text("id").primaryKey(),
    alarmId: text("alarm_id").notNull(),
    projectId: text("project_id").notNull(),
    action: text("action").notNull(),
    /** The notification body (JSON), as Aodh's REST notifier posts it. */
    body: text("body").notNull(),
    attempts: integer("attempts").notNull(),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("telemetry_alarm_deliveries_due").on(t.nextAttemptAt)],
);

// ─── Shards (src/db/shards.ts) ──────────────────────────────────────────────
// Telemetry and monitor rows live in shard databases (docs/deploy.md, "Shards"); which
// shard holds a project is kept here, in the main DB. Every database carries the whole
// schema (one migrations directory), so the main DB can itself be a shard.

/**
 * Where each project's telemetry and monitor rows are, and the project's number: the base
 * of its id ranges (monitor rowids, telemetry series ids), so ids stay unique whichever
 * shard holds them and a project moves without renumbering. Written on a project's first write.
 */
export const shardMap = sqliteTable("shard_map", {
  project: text("project").primaryKey(),
  number: integer("number").notNull().unique(),
  /** The D1 binding of the shard that holds the project. */
  shard: text("shard").notNull(),
  /** 1 while a move copies its last changes: writers wait for the switch. */
  frozen: integer("frozen").notNull().default(0),
});

/**
 * A project's move between shards, resumable: the step it is at and its copy cursor
 * (src/db/shard-move.ts).
 */
export const shardMoves = sqliteTable("shard_moves", {
  project: text("project").primaryKey(),
  source: text("source").notNull(),
  target: text("target").notNull(),
  step: text("step").notNull(),
  /** JSON: which table the copy is at and the last key it copied. */
  cursor: text("cursor").notNull().default("{}"),
  startedAt: integer("started_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  /** When the map switched to the target (ms): the source copy is dropped a while after. */
  switchedAt: integer("switched_at"),
});

/**
 * Projects this database does not accept writes for (kept in each shard): every write batch
 * starts by re-inserting its projects' rows here, which breaks this table's primary key, and
 * so fails the batch, when one is fenced: a writer that still thinks the project is here.
 */
export const shardFences = sqliteTable("shard_fences", {
  project: text("project").primaryKey(),
});
