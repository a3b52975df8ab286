/**
 * The alarm tables in D1 (src/db/schema.ts): statements only, for callers to batch.
 * Every write to an alarm bumps its version and sets a fresh write id; the rows a batch
 * adds beside it (history, deliveries) are INSERT … SELECT conditional on that write id,
 * so when a conditional UPDATE loses a race the whole batch adds nothing.
 */
import type { ActionSet, AlarmState, ThresholdRule, TimeConstraint } from "./schemas";

export interface AlarmRow {
  id: string;
  project_id: string;
  user_id: string;
  name: string;
  description: string;
  enabled: number;
  state: AlarmState;
  state_reason: string;
  severity: string;
  repeat_actions: number;
  meter_name: string;
  period: number;
  rule: string;
  actions: string;
  time_constraints: string;
  timestamp: number;
  state_timestamp: number;
  next_eval_at: number | null;
  version: number;
  write_id: string;
}

export interface HistoryRow {
  seq: number;
  event_id: string;
  alarm_id: string;
  type: string;
  detail: string;
  user_id: string | null;
  project_id: string | null;
  on_behalf_of: string;
  severity: string | null;
  timestamp: number;
}

export interface DeliveryRow {
  id: string;
  alarm_id: string;
  project_id: string;
  action: string;
  body: string;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
}

export const ruleOf = (a: AlarmRow) => JSON.parse(a.rule) as ThresholdRule;
export const actionsOf = (a: AlarmRow) => JSON.parse(a.actions) as ActionSet;
export const constraintsOf = (a: AlarmRow) => JSON.parse(a.time_constraints) as TimeConstraint[];

/** The projects a caller may touch; null: all (admin). */
export type Scope = readonly string[] | null;

const ALARM_COLUMNS = [
  "id",
  "project_id",
  "user_id",
  "name",
  "description",
  "enabled",
  "state",
  "state_reason",
  "severity",
  "repeat_actions",
  "meter_name",
  "period",
  "rule",
  "actions",
  "time_constraints",
  "timestamp",
  "state_timestamp",
  "next_eval_at",
  "version",
  "write_id",
] as const;

/** `project_id` within the scope, as one bound JSON list (a token may hold a thousand projects). */
function scopeSql(scope: Scope): { sql: string; binds: unknown[] } {
  if (scope === null) return { sql: "1", binds: [] };
  return { sql: "project_id in (select value from json_each(?))", binds: [JSON.stringify(scope)] };
}

/** When an alarm is next due after `nowMs`: the next whole multiple of its period. */
export const nextDue = (nowMs: number, periodS: number) => (Math.floor(nowMs / (periodS * 1000)) + 1) * periodS * 1000;

/**
 * Inserts the alarm unless its project holds `quota` alarms already or the name is taken
 * there (the unique index): then it inserts nothing, and the caller finds out which.
 */
export function insertAlarm(db: D1Database, a: AlarmRow, quota: number) {
  const cols = ALARM_COLUMNS.join(", ");
  return db
    .prepare(
      `insert into telemetry_alarms (${cols}) select ${ALARM_COLUMNS.map(() => "?").join(", ")}
       where (select count(*) from (select 1 from telemetry_alarms where project_id = ? limit ?)) < ? on conflict do nothing`,
    )
    .bind(...ALARM_COLUMNS.map((c) => a[c]), a.project_id, quota, quota);
}

/** Replaces definition and state of an alarm read at `version`; nothing when another write came first. */
export function updateAlarm(db: D1Database, a: AlarmRow, version: number) {
  const set = ALARM_COLUMNS.filter((c) => c !== "id" && c !== "version");
  return db
    .prepare(
      `update telemetry_alarms set ${set.map((c) => `${c} = ?`).join(", ")}, version = version + 1 where id = ? and version = ?`,
    )
    .bind(...set.map((c) => a[c]), a.id, version);
}

export function alarmById(db: D1Database, id: string, scope: Scope) {
  const s = scopeSql(scope);
  return db.prepare(`select * from telemetry_alarms where id = ? and ${s.sql}`).bind(id, ...s.binds);
}

export function alarmByName(db: D1Database, projectId: string, name: string) {
  return db.prepare("select id from telemetry_alarms where project_id = ? and name = ?").bind(projectId, name);
}

export function deleteAlarm(db: D1Database, id: string, scope: Scope) {
  const s = scopeSql(scope);
  return db.prepare(`delete from telemetry_alarms where id = ? and ${s.sql} returning id`).bind(id, ...s.binds);
}

/** Simple-query filters of GET /v2/alarms: column → value, all equalities. */
export function listAlarms(
  db: D1Database,
  filters: Array<[string, unknown]>,
  scope: Scope,
  limit: number,
  after: { project: string; name: string } | null,
) {
  const s = scopeSql(scope);
  const where = [s.sql, ...filters.map(([col]) => `${col} = ?`)];
  const binds: unknown[] = [...s.binds, ...filters.map(([, v]) => v)];
  if (after) {
    where.push("(project_id > ? or (project_id = ? and name > ?))");
    binds.push(after.project, after.project, after.name);
  }
  return db
    .prepare(`select * from telemetry_alarms where ${where.join(" and ")} order by project_id, name limit ?`)
    .bind(...binds, limit);
}

export interface NewHistory {
  alarmId: string;
  type: "creation" | "rule change" | "state transition" | "deletion" | "action";
  detail: unknown;
  userId: string | null;
  projectId: string | null;
  onBehalfOf: string;
  severity: string | null;
  timestamp: number;
}

const HISTORY_INSERT = `insert into telemetry_alarm_history (event_id, alarm_id, type, detail, user_id, project_id, on_behalf_of, severity, timestamp)`;
const historyBinds = (h: NewHistory) => [
  crypto.randomUUID(),
  h.alarmId,
  h.type,
  JSON.stringify(h.detail),
  h.userId,
  h.projectId,
  h.onBehalfOf,
  h.severity,
  h.timestamp,
];

/** A history row that lands only if the alarm's last write is `writeId`. */
export function historyAfterWrite(db: D1Database, h: NewHistory, writeId: string) {
  return db
    .prepare(
      `${HISTORY_INSERT} select ?, ?, ?, ?, ?, ?, ?, ?, ? where exists (select 1 from telemetry_alarms where id = ? and write_id = ?)`,
    )
    .bind(...historyBinds(h), h.alarmId, writeId);
}

/** A history row that lands only while the alarm is still there in the scope (deletion: before the DELETE). */
export function historyIfPresent(db: D1Database, h: NewHistory, scope: Scope) {
  const s = scopeSql(scope);
  return db
    .prepare(
      `${HISTORY_INSERT} select ?, ?, ?, ?, ?, ?, ?, ?, ? where exists (select 1 from telemetry_alarms where id = ? and ${s.sql})`,
    )
    .bind(...historyBinds(h), h.alarmId, ...s.binds);
}

/** Delivery attempts: unconditional (the delivery happened). */
export function historyRow(db: D1Database, h: NewHistory) {
  return db.prepare(`${HISTORY_INSERT} values (?, ?, ?, ?, ?, ?, ?, ?, ?)`).bind(...historyBinds(h));
}

/**
 * History of one alarm newest first, changes made on behalf of the scope's projects only
 * (the alarm may be gone: Aodh keeps its history). One index range of (alarm_id, seq).
 */
export function historyOf(
  db: D1Database,
  alarmId: string,
  scope: Scope,
  filters: { type?: string; from?: { ms: number; inclusive: boolean }; to?: { ms: number; inclusive: boolean } },
  limit: number,
) {
  const where = ["alarm_id = ?"];
  const binds: unknown[] = [alarmId];
  if (scope !== null) {
    where.push("on_behalf_of in (select value from json_each(?))");
    binds.push(JSON.stringify(scope));
  }
  if (filters.type) {
    where.push("type = ?");
    binds.push(filters.type);
  }
  if (filters.from) {
    where.push(`timestamp ${filters.from.inclusive ? ">=" : ">"} ?`);
    binds.push(filters.from.ms);
  }
  if (filters.to) {
    where.push(`timestamp ${filters.to.inclusive ? "<=" : "<"} ?`);
    binds.push(filters.to.ms);
  }
  return db
    .prepare(`select * from telemetry_alarm_history where ${where.join(" and ")} order by seq desc limit ?`)
    .bind(...binds, limit);
}

// ─── Evaluation ─────────────────────────────────────────────────────────────

/**
 * Claims up to `limit` due alarms: moves each one's next_eval_at past `nowMs` and returns
 * the rows, so an overlapping cron invocation does not pick them again (D1 has one writer).
 */
export function claimDue(db: D1Database, nowMs: number, limit: number) {
  return db
    .prepare(
      `update telemetry_alarms set next_eval_at = (cast(? as integer) / (period * 1000) + 1) * period * 1000
       where id in (select id from telemetry_alarms where next_eval_at is not null and next_eval_at <= ? order by next_eval_at limit ?)
       returning *`,
    )
    .bind(Math.floor(nowMs), nowMs, limit);
}

/** An evaluation's new state, if the alarm is still at the version evaluated. */
export function writeState(
  db: D1Database,
  a: { id: string; version: number },
  s: { state: AlarmState; reason: string; nowMs: number; writeId: string },
) {
  return db
    .prepare(
      "update telemetry_alarms set state = ?, state_reason = ?, state_timestamp = ?, write_id = ?, version = version + 1 where id = ? and version = ?",
    )
    .bind(s.state, s.reason, s.nowMs, s.writeId, a.id, a.version);
}

/** Notifications to deliver, queued only if the evaluation's write (or the alarm's unchanged version) holds. */
export function queueDeliveries(
  db: D1Database,
  rows: DeliveryRow[],
  guard: { alarmId: string; writeId?: string; version?: number },
) {
  const cond = guard.writeId !== undefined ? "write_id = ?" : "version = ?";
  return db
    .prepare(
      `insert into telemetry_alarm_deliveries (id, alarm_id, project_id, action, body, attempts, next_attempt_at, created_at)
       select j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, 0, j.value ->> 5, j.value ->> 5
       from json_each(?) j where exists (select 1 from telemetry_alarms where id = ? and ${cond})`,
    )
    .bind(
      JSON.stringify(rows.map((d) => [d.id, d.alarm_id, d.project_id, d.action, d.body, d.next_attempt_at])),
      guard.alarmId,
      guard.writeId ?? guard.version,
    );
}

/** Claims up to `limit` due deliveries, leasing them for `leaseMs` so a parallel drain skips them. */
export function claimDeliveries(db: D1Database, nowMs: number, limit: number, leaseMs: number) {
  return db
    .prepare(
      `update telemetry_alarm_deliveries set next_attempt_at = ?
       where id in (select id from telemetry_alarm_deliveries where next_attempt_at <= ? order by next_attempt_at limit ?)
       returning *`,
    )
    .bind(nowMs + leaseMs, nowMs, limit);
}

export function finishDelivery(db: D1Database, id: string) {
  return db.prepare("delete from telemetry_alarm_deliveries where id = ?").bind(id);
}

export function retryDelivery(db: D1Database, id: string, attempts: number, nextMs: number) {
  return db
    .prepare("update telemetry_alarm_deliveries set attempts = ?, next_attempt_at = ? where id = ?")
    .bind(attempts, nextMs, id);
}
