/**
 * Aodh's v2 alarm API (docs/api/alarms.md), mounted at /v2/alarms: threshold alarms
 * over this service's Ceilometer statistics, owned by a project, with their history.
 * Each write is one D1 batch: the alarm row conditional on the version read, and the
 * history row conditional on that write.
 */
import type { Context } from "hono";
import { caller, mayUseProject, type Principal, requireToken } from "../../auth/middleware";
import { isUniqueViolation } from "../../db/d1";
import { endpoint, familyRouter, param, refuseOtherMethods } from "../../http/app";
import { readJson } from "../../http/body";
import type { AppEnv } from "../../http/env";
import { ApiError, errors } from "../../http/errors";
import { parseTimestamp } from "../query";
import {
  type AlarmInput,
  type AlarmState,
  defaultDescription,
  isoTime,
  parseAlarm,
  parseState,
  STATES,
} from "./schemas";
import { checkRuleQuery } from "./statistics-source";
import {
  type AlarmRow,
  actionsOf,
  alarmById,
  constraintsOf,
  deleteAlarm,
  type HistoryRow,
  historyAfterWrite,
  historyIfPresent,
  historyOf,
  insertAlarm,
  listAlarms,
  type NewHistory,
  ruleOf,
  type Scope,
  updateAlarm,
} from "./store";
import { allowPrivateTargets, checkAction } from "./targets";

export const alarmRoutes = familyRouter();
type C = Context<AppEnv>;

/** Most alarms one project holds (Aodh's project_alarm_quota). */
export const PROJECT_ALARM_QUOTA = 1000;
/** Alarms one list answers at most (and by default): a page by `limit` and `marker`. */
export const LIST_LIMIT_MAX = 1000;
/** History entries one request answers: 100 by default, `limit` up to 1000. */
export const HISTORY_LIMIT_DEFAULT = 100;
export const HISTORY_LIMIT_MAX = 1000;
/** Most q conditions one list or history request carries. */
const QUERY_CONDITIONS_MAX = 16;
/** Aodh's state_reason for a state set through the API. */
export const MANUAL_REASON = "Manually set via API";

const scopeOf = (p: Principal): Scope => (p.role === "admin" ? null : p.projects);
const notAuthorized = (id: string, aspect = "project") =>
  new ApiError("forbidden", `Not Authorized to access ${aspect} ${id}`, { status: 401 });
const invalidInput = (field: string, value: string, why: string) =>
  new ApiError("other", `Invalid input for field/attribute ${field}. Value: '${value}'. ${why}`, { status: 400 });
const unknownArgument = (name: string, why: string) =>
  new ApiError("other", `Unknown argument: "${name}": ${why}`, { status: 400 });

function notFound(p: Principal, id: string) {
  const project = p.role !== "admin" && p.projects.length === 1 ? p.projects[0] : null;
  return errors.notFound(project ? `Alarm ${id} not found in project ${project}` : `Alarm ${id} not found`);
}

/** The initiating identity's project, as Aodh records X-Project-Id in the history. */
const initiatorProject = (p: Principal) => (p.projects.length === 1 ? p.projects[0] : null);

// ─── Shapes ─────────────────────────────────────────────────────────────────

/** An alarm as Aodh answers it. */
export function alarmBody(a: AlarmRow) {
  const actions = actionsOf(a);
  return {
    alarm_actions: actions.alarm,
    ok_actions: actions.ok,
    insufficient_data_actions: actions["insufficient data"],
    alarm_id: a.id,
    name: a.name,
    description: a.description,
    enabled: !!a.enabled,
    repeat_actions: !!a.repeat_actions,
    type: "threshold",
    time_constraints: constraintsOf(a),
    project_id: a.project_id,
    user_id: a.user_id,
    timestamp: isoTime(a.timestamp),
    state: a.state,
    state_timestamp: isoTime(a.state_timestamp),
    state_reason: a.state_reason,
    severity: a.severity,
    threshold_rule: ruleOf(a),
  };
}

/** The alarm as Aodh's storage model holds it: what creation, rule change and deletion entries detail. */
function modelOf(a: AlarmRow) {
  const actions = actionsOf(a);
  return {
    alarm_id: a.id,
    type: "threshold",
    enabled: !!a.enabled,
    name: a.name,
    description: a.description,
    timestamp: isoTime(a.timestamp),
    user_id: a.user_id,
    project_id: a.project_id,
    state: a.state,
    state_timestamp: isoTime(a.state_timestamp),
    state_reason: a.state_reason,
    ok_actions: actions.ok,
    alarm_actions: actions.alarm,
    insufficient_data_actions: actions["insufficient data"],
    repeat_actions: !!a.repeat_actions,
    rule: ruleOf(a),
    time_constraints: constraintsOf(a),
    severity: a.severity,
  };
}

export function historyBody(h: HistoryRow) {
  return {
    event_id: h.event_id,
    alarm_id: h.alarm_id,
    type: h.type,
    detail: h.detail,
    project_id: h.project_id,
    user_id: h.user_id,
    on_behalf_of: h.on_behalf_of,
    timestamp: isoTime(h.timestamp),
    severity: h.severity,
  };
}

// ─── Checks ─────────────────────────────────────────────────────────────────

/**
 * Ownership, actions and rule query of an alarm about to be stored, as Aodh checks them:
 * a user token names only its own project and user; log:// is for admins (Aodh: 401);
 * http(s) targets pass the outbound check (targets.ts); the rule query is one the
 * statistics can run, and names no project but the alarm's.
 */
function checkAlarm(
  c: C,
  p: Principal,
  input: AlarmInput,
  current: AlarmRow | null,
): { projectId: string; userId: string } {
  let projectId: string;
  if (p.role === "admin") {
    projectId = input.project_id ?? current?.project_id ?? "";
    if (!projectId) throw errors.badRequest("project_id is required: the admin token belongs to no project.");
  } else if (current) {
    projectId = current.project_id;
    if (input.project_id && input.project_id !== projectId) throw notAuthorized(input.project_id);
  } else {
    if (input.project_id && !mayUseProject(p, input.project_id)) throw notAuthorized(input.project_id);
    if (!input.project_id && p.projects.length !== 1)
      throw errors.badRequest("project_id is required: this token may use several projects.");
    projectId = input.project_id ?? p.projects[0];
  }
  let userId: string;
  if (p.role === "admin") userId = input.user_id ?? current?.user_id ?? p.user;
  else {
    // A client PUTting back what it read carries the creator's user_id: that one may stay.
    if (input.user_id && input.user_id !== p.user && input.user_id !== current?.user_id)
      throw notAuthorized(input.user_id, "user");
    userId = current?.user_id ?? p.user;
  }
  const allowPrivate = allowPrivateTargets(c.env);
  for (const action of STATES.flatMap((s) => input.actions[s])) {
    const checked = checkAction(action, allowPrivate);
    if ("refused" in checked) throw errors.badRequest(checked.refused);
    if (checked.kind === "log" && p.role !== "admin") {
      throw new ApiError("forbidden", `You are not authorized to create action: ${action}`, { status: 401 });
    }
  }
  checkRuleQuery(input.rule.query);
  for (const q of input.rule.query) if (q.field === "project_id" && q.value !== projectId) throw notAuthorized(q.value);
  // As Aodh's sanitize_query: the rule names the owner's project when it does not already.
  if (!input.rule.query.some((q) => q.field === "project_id"))
    input.rule.query.push({ field: "project_id", op: "eq", value: projectId });
  return { projectId, userId };
}

/** The stored row of a checked alarm; `current` is the row it replaces. */
function rowOf(
  input: AlarmInput,
  owner: { projectId: string; userId: string },
  nowMs: number,
  current: AlarmRow | null,
): AlarmRow {
  const stateChanged = !current || current.state !== input.state;
  return {
    id: current?.id ?? crypto.randomUUID(),
    project_id: owner.projectId,
    user_id: owner.userId,
    name: input.name,
    description: input.description ?? defaultDescription(input.rule),
    enabled: input.enabled ? 1 : 0,
    state: input.state,
    state_reason: stateChanged ? (current ? MANUAL_REASON : "Not evaluated yet") : current.state_reason,
    severity: input.severity,
    repeat_actions: input.repeat_actions ? 1 : 0,
    meter_name: input.rule.meter_name,
    period: input.rule.period,
    rule: JSON.stringify(input.rule),
    actions: JSON.stringify(input.actions),
    time_constraints: JSON.stringify(input.time_constraints),
    timestamp: nowMs,
    state_timestamp: stateChanged ? nowMs : current.state_timestamp,
    // Due at the next cron run: a new or changed rule is evaluated at once, then every period.
    next_eval_at: input.enabled ? nowMs : null,
    version: (current?.version ?? 0) + 1,
    write_id: crypto.randomUUID(),
  };
}

function history(p: Principal, a: AlarmRow, type: NewHistory["type"], detail: unknown, nowMs: number): NewHistory {
  return {
    alarmId: a.id,
    type,
    detail,
    userId: p.user,
    projectId: initiatorProject(p),
    onBehalfOf: a.project_id,
    severity: a.severity,
    timestamp: nowMs,
  };
}

async function readAlarm(c: C, id: string): Promise<AlarmRow> {
  const p = caller(c);
  const row = await alarmById(c.env.DB, id, scopeOf(p)).first<AlarmRow>();
  if (!row) throw notFound(p, id);
  return row;
}

// ─── Queries ────────────────────────────────────────────────────────────────

interface Condition {
  field: string;
  op: string;
  value: string;
  type: string;
}

/** `q.field`/`q.op`/`q.value`/`q.type`, matched by position as the clients send them. */
function conditions(params: URLSearchParams): Condition[] {
  const col = (n: string) => params.getAll(`q.${n}`);
  const [fields, ops, values, types] = [col("field"), col("op"), col("value"), col("type")];
  const n = Math.max(fields.length, ops.length, values.length, types.length);
  if (n > QUERY_CONDITIONS_MAX)
    throw errors.badRequest(`Too many conditions in query: ${n}. A query holds at most ${QUERY_CONDITIONS_MAX}.`);
  return Array.from({ length: n }, (_, i) => ({
    field: (fields[i] ?? "").trim(),
    op: (ops[i] ?? "").trim() || "eq",
    value: values[i] ?? "",
    type: (types[i] ?? "").trim(),
  }));
}

function limitOf(params: URLSearchParams, fallback: number, max: number): number {
  const raw = params.get("limit");
  if (raw === null || raw === "") return fallback;
  const n = /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n <= 0) throw invalidInput("limit", raw, "it should be a positive integer.");
  return Math.min(n, max);
}

/** Aodh's get_alarms keys (user_id, project_id read as user, project), eq only. */
const LIST_KEYS: Record<string, string> = {
  alarm_id: "id",
  enabled: "enabled",
  meter: "meter_name",
  name: "name",
  project: "project_id",
  severity: "severity",
  state: "state",
  type: "type",
  user: "user_id",
};
const TRANSLATION: Record<string, string> = { user_id: "user", project_id: "project" };

function listFilters(p: Principal, params: URLSearchParams): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const q of conditions(params)) {
    if (q.field === "timestamp" || q.field === "search_offset")
      throw unknownArgument(q.field, "not valid for this resource");
    const key = TRANSLATION[q.field] ?? q.field;
    const column = LIST_KEYS[key];
    if (!column) {
      throw unknownArgument(
        key,
        `unrecognized field in query: [<Query '${q.field}' ${q.op} '${q.value}'>], valid keys: [${Object.keys(LIST_KEYS)
          .map((k) => `'${k}'`)
          .join(", ")}]`,
      );
    }
    if (q.op !== "eq") throw invalidInput("op", q.op, `unimplemented operator for ${q.field}`);
    if (key === "project" && p.role !== "admin" && !mayUseProject(p, q.value)) throw notAuthorized(q.value);
    if (key === "enabled") {
      if (!/^(1|0|t|f|true|false|y|n|yes|no|on|off)$/i.test(q.value.trim())) {
        throw errors.badRequest(`Unable to convert the value ${q.value} to the expected data type boolean.`);
      }
      out.push(["enabled", /^(1|t|true|y|yes|on)$/i.test(q.value.trim()) ? 1 : 0]);
    } else if (key === "type") {
      // Every alarm here is a threshold alarm.
      if (q.value !== "threshold") out.push(["1", 0]);
    } else out.push([column, q.value]);
  }
  return out;
}

function historyFilters(params: URLSearchParams) {
  const f: Parameters<typeof historyOf>[3] = {};
  for (const q of conditions(params)) {
    if (q.field === "type") {
      if (q.op !== "eq") throw invalidInput("op", q.op, "unimplemented operator for type");
      f.type = q.value;
    } else if (q.field === "timestamp") {
      const us = parseTimestamp(q.value);
      if (us === null) throw invalidInput("timestamp", q.value, "invalid timestamp format");
      const ms = Math.floor(us / 1000);
      if (q.op === "gt" || q.op === "ge") f.from = { ms, inclusive: q.op === "ge" };
      else if (q.op === "lt" || q.op === "le") f.to = { ms, inclusive: q.op === "le" };
      else throw invalidInput("op", q.op, "unimplemented operator for timestamp");
    } else {
      throw unknownArgument(q.field, "unrecognized field in query: valid keys: ['timestamp', 'type']");
    }
  }
  return f;
}

// ─── Routes ─────────────────────────────────────────────────────────────────

const tags = ["telemetry: alarms"];

endpoint(
  alarmRoutes,
  "get",
  "/",
  {
    tags,
    summary:
      "List alarms (Aodh v2): q.field/q.op/q.value on name, type, enabled, user_id, project_id, state, meter, alarm_id, severity; limit, marker",
  },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const params = new URL(c.req.url).searchParams;
    if (params.has("sort"))
      throw invalidInput(
        "sort",
        params.get("sort") ?? "",
        "sorting is not supported: alarms are listed by project_id, then name.",
      );
    const filters = listFilters(p, params);
    const limit = limitOf(params, LIST_LIMIT_MAX, LIST_LIMIT_MAX);
    const marker = params.get("marker");
    let after: { project: string; name: string } | null = null;
    if (marker) {
      const m = await alarmById(c.env.DB, marker, scopeOf(p)).first<AlarmRow>();
      if (!m) throw invalidInput("marker", marker, "no such alarm");
      after = { project: m.project_id, name: m.name };
    }
    const { results } = await listAlarms(c.env.DB, filters, scopeOf(p), limit, after).all<AlarmRow>();
    return c.json(results.map(alarmBody));
  },
);

endpoint(
  alarmRoutes,
  "post",
  "/",
  { tags, summary: "Create a threshold alarm (Aodh v2 body); 201 with the alarm and its Location" },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const input = parseAlarm(await readJson(c));
    const owner = checkAlarm(c, p, input, null);
    const nowMs = Date.now();
    const row = rowOf(input, owner, nowMs, null);
    const db = c.env.DB;
    const [inserted, , found] = await db.batch([
      insertAlarm(db, row, PROJECT_ALARM_QUOTA),
      historyAfterWrite(db, history(p, row, "creation", modelOf(row), nowMs), row.write_id),
      db
        .prepare("select (select count(*) from telemetry_alarms where project_id = ? and name = ?) as taken")
        .bind(row.project_id, row.name),
    ]);
    if (!inserted.meta.changes) {
      const taken = (found.results[0] as { taken: number }).taken;
      if (taken) throw new ApiError("conflict", `Alarm with name='${row.name}' exists`, { status: 409 });
      throw new ApiError("forbidden", `Alarm quota exceeded for user ${row.user_id} on project ${row.project_id}`, {
        status: 403,
      });
    }
    c.header("Location", `/v2/alarms/${row.id}`);
    return c.json(alarmBody(row), 201);
  },
);

endpoint(alarmRoutes, "get", "/:id", { tags, summary: "One alarm" }, requireToken(), async (c) => {
  return c.json(alarmBody(await readAlarm(c, param(c, "id"))));
});

/** Replaces an alarm (Aodh's PUT: the whole alarm; fields left out take their defaults). */
endpoint(
  alarmRoutes,
  "put",
  "/:id",
  { tags, summary: "Replace an alarm; the history records what changed" },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const input = parseAlarm(await readJson(c));
    const current = await readAlarm(c, param(c, "id"));
    const owner = checkAlarm(c, p, input, current);
    const nowMs = Date.now();
    const row = rowOf(input, owner, nowMs, current);
    const before = modelOf(current);
    const after = modelOf(row);
    const change = Object.fromEntries(
      Object.entries(after).filter(
        ([k, v]) =>
          k !== "timestamp" &&
          k !== "state_timestamp" &&
          JSON.stringify(v) !== JSON.stringify(before[k as keyof typeof before]),
      ),
    );
    const db = c.env.DB;
    const statements = [updateAlarm(db, row, current.version)];
    if (Object.keys(change).length)
      statements.push(historyAfterWrite(db, history(p, row, "rule change", change, nowMs), row.write_id));
    let updated: D1Result;
    try {
      [updated] = await db.batch(statements);
    } catch (e) {
      if (isUniqueViolation(e)) throw new ApiError("conflict", `Alarm with name=${row.name} exists`, { status: 409 });
      throw e;
    }
    if (!updated.meta.changes)
      throw errors.conflict(`Alarm ${row.id} was changed by another request: read it again and retry.`);
    return c.json(alarmBody(row));
  },
);

endpoint(
  alarmRoutes,
  "delete",
  "/:id",
  { tags, summary: "Delete an alarm (its history stays readable)" },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const current = await readAlarm(c, param(c, "id"));
    const db = c.env.DB;
    const scope = scopeOf(p);
    const [, gone] = await db.batch([
      historyIfPresent(db, history(p, current, "deletion", modelOf(current), Date.now()), scope),
      deleteAlarm(db, current.id, scope),
    ]);
    if (!gone.results.length) throw notFound(p, current.id);
    return c.body(null, 204);
  },
);

endpoint(
  alarmRoutes,
  "get",
  "/:id/state",
  { tags, summary: "The alarm's state, as a JSON string" },
  requireToken(),
  async (c) => {
    return c.json((await readAlarm(c, param(c, "id"))).state);
  },
);

endpoint(
  alarmRoutes,
  "put",
  "/:id/state",
  { tags, summary: "Set the alarm's state (body: a JSON string); recorded as a state transition, no notification" },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const state: AlarmState = parseState(await readJson(c));
    const current = await readAlarm(c, param(c, "id"));
    const nowMs = Date.now();
    const row: AlarmRow = {
      ...current,
      state,
      state_reason: MANUAL_REASON,
      state_timestamp: nowMs,
      write_id: crypto.randomUUID(),
    };
    const db = c.env.DB;
    const [updated] = await db.batch([
      updateAlarm(db, row, current.version),
      historyAfterWrite(db, history(p, row, "state transition", { state }, nowMs), row.write_id),
    ]);
    if (!updated.meta.changes) throw errors.conflict(`Alarm ${row.id} was changed by another request: retry.`);
    return c.json(state);
  },
);

endpoint(
  alarmRoutes,
  "get",
  "/:id/history",
  { tags, summary: "The alarm's history, newest first: q on type (eq) and timestamp; limit (100, at most 1000)" },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const params = new URL(c.req.url).searchParams;
    const filters = historyFilters(params);
    const limit = limitOf(params, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX);
    const { results } = await historyOf(c.env.DB, param(c, "id"), scopeOf(p), filters, limit).all<HistoryRow>();
    return c.json(results.map(historyBody));
  },
);

refuseOtherMethods(alarmRoutes);

/**
 * Aodh's complex query, the part aodhclient uses (`alarm show --name`, `alarm list
 * --query`): `{"filter": "<JSON>"}` whose filter is `=` on one field or `and` of such.
 * Other operators are refused, saying so.
 */
export const alarmQueryRoutes = familyRouter();

function complexFilter(p: Principal, node: unknown, out: Array<[string, unknown]>) {
  if (typeof node !== "object" || node === null || Array.isArray(node) || Object.keys(node).length !== 1) {
    throw errors.badRequest("Invalid input for field/attribute filter: a query node is one operator and its operands.");
  }
  const [op, operand] = Object.entries(node)[0];
  const lower = op.toLowerCase();
  if (lower === "and" && Array.isArray(operand)) {
    for (const sub of operand) complexFilter(p, sub, out);
    return;
  }
  if (op === "=" || lower === "eq") {
    if (typeof operand !== "object" || operand === null || Object.keys(operand).length !== 1) {
      throw errors.badRequest(`Invalid input for field/attribute filter: "${op}" takes one field and its value.`);
    }
    const [field, value] = Object.entries(operand)[0];
    const params = new URLSearchParams({ "q.field": field, "q.op": "eq", "q.value": String(value) });
    out.push(...listFilters(p, params));
    return;
  }
  throw errors.badRequest(
    `Operator ${op} is not supported: this service's alarm queries take "=" and "and" (docs/api/alarms.md).`,
  );
}

endpoint(
  alarmQueryRoutes,
  "post",
  "/",
  { tags, summary: 'Aodh complex query over alarms: {"filter": "<JSON>"} with "=" and "and", "limit"' },
  requireToken(),
  async (c) => {
    const p = caller(c);
    const body = await readJson(c, { empty: {} });
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw errors.badRequest("Invalid input for field/attribute data.");
    const { filter, limit, orderby } = body as Record<string, unknown>;
    if (orderby !== undefined && orderby !== null)
      throw invalidInput(
        "orderby",
        String(orderby),
        "ordering is not supported: alarms are listed by project_id, then name.",
      );
    const filters: Array<[string, unknown]> = [];
    if (filter !== undefined && filter !== null) {
      let parsed: unknown;
      try {
        parsed = typeof filter === "string" ? JSON.parse(filter) : filter;
      } catch {
        throw invalidInput("filter", String(filter), "not a JSON document.");
      }
      complexFilter(p, parsed, filters);
    }
    const max =
      typeof limit === "number" && Number.isInteger(limit) && limit > 0
        ? Math.min(limit, LIST_LIMIT_MAX)
        : LIST_LIMIT_MAX;
    const { results } = await listAlarms(c.env.DB, filters, scopeOf(p), max, null).all<AlarmRow>();
    return c.json(results.map(alarmBody));
  },
);

refuseOtherMethods(alarmQueryRoutes);
