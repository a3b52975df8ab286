/**
 * An Aodh alarm as clients send and receive it (docs/api/alarms.md): the body of POST
 * and PUT /v2/alarms checked field by field and refused in WSME's words, and the row
 * answered in the shape python-ceilometerclient and aodhclient print.
 */
import { ApiError, errors } from "../../http/errors";
import { checkTimezone, parseCron } from "./cron";

export const STATES = ["ok", "alarm", "insufficient data"] as const;
export type AlarmState = (typeof STATES)[number];
export const SEVERITIES = ["low", "moderate", "critical"] as const;
export const OPERATORS = ["lt", "le", "eq", "ne", "ge", "gt"] as const;
export const STATISTICS = ["max", "min", "avg", "sum", "count"] as const;

/** Limits (docs/api/alarms.md lists each). */
export const NAME_MAX = 255;
export const DESCRIPTION_MAX = 255;
export const ACTIONS_MAX = 10;
export const ACTION_URL_MAX = 2048;
export const RULE_QUERY_MAX = 16;
export const TIME_CONSTRAINTS_MAX = 10;
export const TIME_CONSTRAINT_DURATION_MAX = 86_400;
export const PERIOD_MAX = 86_400;
export const EVALUATION_PERIODS_MAX = 60;

/** Rule types Aodh has that this service does not evaluate: refused with a sentence that says so. */
const OTHER_RULES = [
  "combination",
  "event",
  "composite",
  "gnocchi_resources_threshold",
  "gnocchi_aggregation_by_metrics_threshold",
  "gnocchi_aggregation_by_resources_threshold",
  "loadbalancer_member_health",
];

export interface RuleQuery {
  field: string;
  op: string;
  value: string;
  type?: string;
}

export interface ThresholdRule {
  meter_name: string;
  period: number;
  comparison_operator: (typeof OPERATORS)[number];
  threshold: number;
  statistic: (typeof STATISTICS)[number];
  evaluation_periods: number;
  exclude_outliers: boolean;
  query: RuleQuery[];
}

export interface TimeConstraint {
  name: string;
  description: string;
  start: string;
  duration: number;
  timezone: string;
}

export type ActionSet = Record<AlarmState, string[]>;

export interface AlarmInput {
  name: string;
  description: string | null;
  enabled: boolean;
  actions: ActionSet;
  repeat_actions: boolean;
  time_constraints: TimeConstraint[];
  state: AlarmState;
  severity: (typeof SEVERITIES)[number];
  project_id?: string;
  user_id?: string;
  rule: ThresholdRule;
}

/** Fields an alarm body may carry: what Aodh answers (so a client may PUT back what it got) and every rule. */
const ALARM_FIELDS = new Set([
  "alarm_id",
  "name",
  "description",
  "enabled",
  "ok_actions",
  "alarm_actions",
  "insufficient_data_actions",
  "repeat_actions",
  "type",
  "time_constraints",
  "project_id",
  "user_id",
  "timestamp",
  "state",
  "state_timestamp",
  "state_reason",
  "severity",
  "threshold_rule",
  ...OTHER_RULES.map((r) => `${r}_rule`),
]);
const RULE_FIELDS = new Set([
  "meter_name",
  "period",
  "comparison_operator",
  "threshold",
  "statistic",
  "evaluation_periods",
  "exclude_outliers",
  "query",
]);

const py = (v: unknown) => (v === null || v === undefined ? "None" : typeof v === "string" ? v : JSON.stringify(v));
const invalid = (field: string, v: unknown, why: string) =>
  errors.badRequest(why, { [field]: `Value: '${py(v)}'. ${why}` });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const wrongType = (field: string, v: unknown, expected: string) =>
  invalid(
    field,
    v,
    `Wrong type. Expected '${expected}', got '${Array.isArray(v) ? "list" : v === null ? "NoneType" : typeof v}'`,
  );

function text(
  o: Record<string, unknown>,
  field: string,
  opts: { max: number; mandatory?: boolean; fallback?: string | null },
) {
  const v = o[field];
  if (v === undefined || v === null) {
    if (opts.mandatory) throw invalid(field, v, "Mandatory field missing.");
    return opts.fallback ?? null;
  }
  if (typeof v !== "string") throw wrongType(field, v, "str");
  if (v.length > opts.max) throw invalid(field, `${v.slice(0, 40)}…`, `Longer than ${opts.max} characters.`);
  return v;
}

function bool(o: Record<string, unknown>, field: string, fallback: boolean): boolean {
  const v = o[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v === "boolean") return v;
  // WSME reads the strings oslo's bool_from_string does.
  if (typeof v === "string" && /^(true|false|1|0|yes|no|on|off|t|f|y|n)$/i.test(v))
    return /^(true|1|yes|on|t|y)$/i.test(v);
  throw wrongType(field, v, "bool");
}

function oneOf<T extends string>(o: Record<string, unknown>, field: string, allowed: readonly T[], fallback: T): T {
  const v = o[field];
  if (v === undefined || v === null || v === "") return fallback;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw invalid(field, v, `Value should be one of: ${allowed.join(", ")}`);
  }
  return v as T;
}

function int(o: Record<string, unknown>, field: string, fallback: number, min: number, max: number): number {
  const v = o[field];
  if (v === undefined || v === null) return fallback;
  const n = typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) throw wrongType(field, v, "int");
  if (n < min) throw invalid(field, v, `Value should be greater or equal to ${min}`);
  if (n > max) throw invalid(field, v, `Value should be lower or equal to ${max}`);
  return n;
}

function unknownAttributes(o: Record<string, unknown>, allowed: Set<string>, where: string) {
  const stray = Object.keys(o).filter((k) => !allowed.has(k));
  if (stray.length) throw errors.badRequest(`Unknown attribute for argument ${where}: ${stray.sort().join(", ")}`);
}

function ruleQuery(v: unknown): RuleQuery[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw wrongType("query", v, "list");
  if (v.length > RULE_QUERY_MAX)
    throw invalid("query", `${v.length} conditions`, `At most ${RULE_QUERY_MAX} conditions.`);
  return v.map((q) => {
    if (!isObject(q)) throw wrongType("query", q, "Query");
    unknownAttributes(q, new Set(["field", "op", "value", "type"]), "query");
    const field = text(q, "field", { max: 255, mandatory: true }) as string;
    const raw = q.value;
    if (raw === undefined || raw === null) throw invalid("value", raw, "Mandatory field missing.");
    if (typeof raw !== "string" && typeof raw !== "number" && typeof raw !== "boolean")
      throw wrongType("value", raw, "str");
    const value = String(raw);
    if (value.length > 255) throw invalid("value", `${value.slice(0, 40)}…`, "Longer than 255 characters.");
    const op = oneOf(q, "op", OPERATORS, "eq");
    const type = text(q, "type", { max: 16 });
    return type ? { field, op, type, value } : { field, op, value };
  });
}

function thresholdRule(v: unknown): ThresholdRule {
  if (!isObject(v)) throw wrongType("threshold_rule", v, "AlarmThresholdRule");
  unknownAttributes(v, RULE_FIELDS, "threshold_rule");
  const threshold = v.threshold;
  const t = typeof threshold === "string" && threshold.trim() !== "" ? Number(threshold) : threshold;
  if (threshold === undefined || threshold === null) throw invalid("threshold", threshold, "Mandatory field missing.");
  if (typeof t !== "number" || !Number.isFinite(t)) throw wrongType("threshold", threshold, "float");
  return {
    meter_name: text(v, "meter_name", { max: 255, mandatory: true }) as string,
    period: int(v, "period", 60, 1, PERIOD_MAX),
    comparison_operator: oneOf(v, "comparison_operator", OPERATORS, "eq"),
    threshold: t,
    statistic: oneOf(v, "statistic", STATISTICS, "avg"),
    evaluation_periods: int(v, "evaluation_periods", 1, 1, EVALUATION_PERIODS_MAX),
    exclude_outliers: bool(v, "exclude_outliers", false),
    query: ruleQuery(v.query),
  };
}

function timeConstraints(v: unknown): TimeConstraint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw wrongType("time_constraints", v, "list");
  if (v.length > TIME_CONSTRAINTS_MAX)
    throw invalid("time_constraints", `${v.length} constraints`, `At most ${TIME_CONSTRAINTS_MAX}.`);
  const out = v.map((tc) => {
    if (!isObject(tc)) throw wrongType("time_constraints", tc, "AlarmTimeConstraint");
    unknownAttributes(tc, new Set(["name", "description", "start", "duration", "timezone"]), "time_constraints");
    const name = text(tc, "name", { max: 255, mandatory: true }) as string;
    const start = text(tc, "start", { max: 255, mandatory: true }) as string;
    try {
      parseCron(start);
    } catch (e) {
      throw invalid("start", start, `${(e as Error).message}`);
    }
    if (tc.duration === undefined || tc.duration === null)
      throw invalid("duration", tc.duration, "Mandatory field missing.");
    const duration = int(tc, "duration", 0, 0, TIME_CONSTRAINT_DURATION_MAX);
    const timezone = text(tc, "timezone", { max: 64, fallback: "" }) as string;
    if (timezone) {
      try {
        checkTimezone(timezone);
      } catch {
        throw errors.badRequest(`Timezone ${timezone} is not valid`);
      }
    }
    const description =
      text(tc, "description", { max: DESCRIPTION_MAX }) ??
      `Time constraint at ${start} lasting for ${duration} seconds`;
    return { name, description, start, duration, timezone };
  });
  if (new Set(out.map((tc) => tc.name)).size < out.length)
    throw errors.badRequest("Time constraint names must be unique for a given alarm.");
  return out;
}

function actionList(o: Record<string, unknown>, field: string): string[] {
  const v = o[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw wrongType(field, v, "list");
  const urls = v.map((a) => {
    if (typeof a !== "string") throw wrongType(field, a, "str");
    if (a.length > ACTION_URL_MAX)
      throw errors.badRequest(`Unsupported action ${a.slice(0, 60)}…: longer than ${ACTION_URL_MAX} characters`);
    return a;
  });
  // As Aodh: duplicates are dropped.
  const unique = [...new Set(urls)];
  if (unique.length > ACTIONS_MAX) throw errors.badRequest(`${field} count exceeds maximum value ${ACTIONS_MAX}`);
  return unique;
}

/** The alarm of a POST or PUT body, or the 400 Aodh answers. */
export function parseAlarm(body: unknown): AlarmInput {
  if (!isObject(body))
    throw errors.badRequest("Invalid input for field/attribute data. Value: 'None'. Mandatory field missing.");
  unknownAttributes(body, ALARM_FIELDS, "data");
  const type = body.type;
  if (type === undefined || type === null) throw invalid("type", type, "Mandatory field missing.");
  if (type !== "threshold") {
    const known = typeof type === "string" && OTHER_RULES.includes(type);
    throw invalid(
      "type",
      type,
      known
        ? `Value should be one of: threshold. This service evaluates threshold alarms (over Ceilometer statistics) only; ${type} alarms are not supported.`
        : "Value should be one of: threshold",
    );
  }
  const other = OTHER_RULES.map((r) => `${r}_rule`).find((r) => body[r] !== undefined && body[r] !== null);
  if (other) throw errors.badRequest(`threshold_rule and ${other} cannot be set at the same time`);
  if (body.threshold_rule === undefined || body.threshold_rule === null) {
    throw errors.badRequest("threshold_rule must be set for threshold type alarm");
  }
  const rule = thresholdRule(body.threshold_rule);
  const owner = (f: "project_id" | "user_id") => text(body, f, { max: 255 }) ?? undefined;
  return {
    name: text(body, "name", { max: NAME_MAX, mandatory: true }) as string,
    description: text(body, "description", { max: DESCRIPTION_MAX }),
    enabled: bool(body, "enabled", true),
    actions: {
      ok: actionList(body, "ok_actions"),
      alarm: actionList(body, "alarm_actions"),
      "insufficient data": actionList(body, "insufficient_data_actions"),
    },
    repeat_actions: bool(body, "repeat_actions", false),
    time_constraints: timeConstraints(body.time_constraints),
    state: oneOf(body, "state", STATES, "insufficient data"),
    severity: oneOf(body, "severity", SEVERITIES, "low"),
    project_id: owner("project_id"),
    user_id: owner("user_id"),
    rule,
  };
}

/** The body of PUT /v2/alarms/{id}/state: a JSON string, one of the three states. */
export function parseState(body: unknown): AlarmState {
  if (typeof body !== "string" || !(STATES as readonly string[]).includes(body)) {
    throw new ApiError("validation", "state invalid", { status: 400 });
  }
  return body as AlarmState;
}

/** Python's str() of a float, as Aodh's descriptions and reasons print numbers: 70 → 70.0. */
export function pyFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return `${n}.0`;
  return String(n);
}

/** Aodh's default description of a threshold alarm. */
export function defaultDescription(r: ThresholdRule): string {
  return `Alarm when ${r.meter_name} is ${r.comparison_operator} a ${r.statistic} of ${pyFloat(r.threshold)} over ${r.period} seconds`;
}

/** A datetime as Aodh's JSON prints it (isoformat, naive UTC, microseconds). */
export function isoTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000`;
}
