import { z } from "zod";
import { ApiError } from "../http/errors";

/** Validation failures are worded as Freezer's jsonschema words them (its users know them). */
export function parseFreezer<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const fields: Record<string, string> = {};
  for (const i of result.error.issues) fields[i.path.map(String).join(".") || "(body)"] ??= i.message;
  throw new ApiError("validation", describeIssue(issue, value), { fields });
}

function at(value: unknown, path: PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = v != null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

const show = (v: unknown) => (typeof v === "string" ? `'${v}'` : JSON.stringify(v));

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const where =
    issue.path.length > 1 || (issue.path.length === 1 && issue.code === "unrecognized_keys")
      ? ` in '${issue.path.map(String).join(".")}'`
      : "";
  const value = at(input, issue.path);
  const key = String(issue.path[issue.path.length - 1] ?? "");
  const parent = issue.path.length > 1 ? ` in '${issue.path.slice(0, -1).map(String).join(".")}'` : "";
  switch (issue.code) {
    case "unrecognized_keys":
      return `Additional properties are not allowed (${issue.keys.map((k) => `'${k}'`).join(", ")} ${issue.keys.length > 1 ? "were" : "was"} unexpected)${where}`;
    case "invalid_type":
      if (value === undefined)
        return issue.path.length ? `'${key}' is a required property${parent}` : "Empty request body";
      return `${show(value)} is not of type '${jsonType(issue.expected)}'${issue.path.length ? ` ('${issue.path.join(".")}')` : ""}`;
    case "invalid_value":
      return `${show(value)} is not one of ${JSON.stringify(issue.values)} ('${issue.path.join(".")}')`;
    default:
      return `${show(value)}: ${issue.message} ('${issue.path.join(".")}')`;
  }
}

function jsonType(expected: string): string {
  return (
    (
      {
        number: "number",
        int: "integer",
        string: "string",
        boolean: "boolean",
        object: "object",
        array: "array",
        record: "object",
      } as Record<string, string>
    )[expected] ?? expected
  );
}

const int = z.int();
const isoDateTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/, "is not an ISO 8601 date-time");

/** A session's `schedule` and a job's `job_schedule`: Freezer's schedule, unknown keys refused. */
export const Schedule = z.strictObject({
  time_created: int.optional(),
  time_started: int.optional(),
  time_ended: int.optional(),
  current_pid: int.optional(),
  event: z.enum(["", "stop", "start", "abort", "remove"]).optional(),
  status: z.enum(["", "completed", "stop", "scheduled", "running", "aborting", "removed"]).optional(),
  result: z.enum(["", "success", "fail", "aborted"]).optional(),
  schedule_date: isoDateTime.optional(),
  schedule_start_date: isoDateTime.optional(),
  schedule_end_date: isoDateTime.optional(),
  schedule_interval: z
    .string()
    .regex(
      /^(continuous|\d+ +(week|day|hour|minute|second)s?)$/,
      "must be 'continuous' or 'N weeks|days|hours|minutes|seconds'",
    )
    .optional(),
  schedule_year: z
    .string()
    .regex(/^\d{4}$/, "must be 4 digits")
    .optional(),
  schedule_month: z.string().optional(),
  schedule_day: z.string().optional(),
  schedule_week: z.string().optional(),
  schedule_day_of_week: z.string().optional(),
  schedule_hour: z.string().optional(),
  schedule_minute: z.string().optional(),
  schedule_second: z.string().optional(),
});
export type Schedule = z.infer<typeof Schedule>;

/** Fields the server owns: accepted in bodies (clients echo documents back) and ignored. */
const serverOwned = {
  session_id: z.unknown().optional(),
  jobs: z.unknown().optional(),
  version: z.unknown().optional(),
  user_id: z.unknown().optional(),
  project_id: z.unknown().optional(),
};

const sessionFields = {
  session_tag: int.optional(),
  description: z.string().optional(),
  hold_off: int.min(0).optional(),
  schedule: Schedule,
  status: z.enum(["active", "running", "completed"]).optional(),
  result: z.enum(["", "success", "fail"]).optional(),
  time_start: int.optional(),
  time_end: int.optional(),
  time_started: int.optional(),
  time_ended: int.optional(),
  last_start: int.optional(),
};

export const SessionBody = z.strictObject({ ...sessionFields, ...serverOwned });
export type SessionBody = z.infer<typeof SessionBody>;
export const SessionPatch = z.strictObject({ ...sessionFields, schedule: Schedule.optional(), ...serverOwned });
export type SessionPatch = z.infer<typeof SessionPatch>;

/** A job action: Freezer's action options are open-ended, so only the envelope is checked. */
const JobAction = z.looseObject({
  freezer_action: z.looseObject({ action: z.string().optional(), mode: z.string().optional() }),
  max_retries: int.min(0).optional(),
  max_retries_interval: int.min(0).optional(),
  mandatory: z.boolean().optional(),
});

export const JOB_ID = /^[\w-]+$/;

const jobFields = {
  job_id: z.string().regex(JOB_ID, "does not match '^[\\w-]+$'").optional(),
  client_id: z.string().min(1),
  description: z.string().optional(),
  job_actions: z.array(JobAction),
  job_schedule: Schedule,
  session_id: z.string().optional(),
  session_tag: int.optional(),
  user_id: z.unknown().optional(),
  project_id: z.unknown().optional(),
  version: z.unknown().optional(),
};

export const JobBody = z.strictObject(jobFields);
export type JobBody = z.infer<typeof JobBody>;
export const JobPatch = z.strictObject({
  ...jobFields,
  client_id: jobFields.client_id.optional(),
  job_actions: jobFields.job_actions.optional(),
  job_schedule: Schedule.optional(),
});
export type JobPatch = z.infer<typeof JobPatch>;

/** `{"match": [{k: v}], "match_not": [{k: v}]}` of a list's search. */
const Pairs = z.array(z.record(z.string().regex(/^[\w-]+$/, "is not a searchable key"), z.unknown()));
export const Search = z.object({ match: Pairs.optional(), match_not: Pairs.optional() });
export type Search = z.infer<typeof Search>;

/** A tag as agents send it: an integer or its decimal text (freezerclient sends "5"). */
export function parseTag(raw: unknown): number | null {
  if (typeof raw === "number" && Number.isSafeInteger(raw)) return raw;
  if (typeof raw === "string" && /^\s*-?\d{1,15}\s*$/.test(raw)) return Number(raw.trim());
  return null;
}
