import { z } from "zod";
import { ApiError } from "../http/errors";

/** A log as posted: `data` required; name, dataset_id, task_id and any other field are strings. */
export const LogPost = z
  .object({
    data: z.string(),
    name: z.string().optional(),
    dataset_id: z.string().optional(),
    task_id: z.string().optional(),
  })
  .catchall(z.string())
  .meta({ id: "LogPost" });

export const LogCreated = z.object({ result: z.string().regex(/^[0-9a-f]{32}$/) }).meta({ id: "LogCreated" });

export const LogDocument = z
  .object({
    log_id: z.string(),
    name: z.string().optional(),
    data: z.string(),
    timestamp: z.string(),
    dataset_id: z.string().optional(),
    task_id: z.string().optional(),
  })
  .catchall(z.string())
  .meta({ id: "LogDocument" });

export const LogError = z.object({ code: z.number().int(), error: z.string() }).meta({ id: "LogError" });

/** Fields the server owns: a poster's values for them are ignored. */
const SERVER_FIELDS = new Set(["log_id", "timestamp"]);

export type PostedLog = {
  data: string;
  name: string | null;
  datasetId: string | null;
  taskId: string | null;
  extra: Record<string, string>;
};

const bad = (reason: string) => new ApiError("validation", reason, { status: 400 });

/** Everything but `data` lives in the D1 row (which D1 caps at 2 MB), so it is bounded. */
export const FIELDS_MAX_BYTES = 64 * 1024;

/**
 * A posted log's fields the way IceProd reads them (`data` required, everything else
 * kept), from what src/logs/json-post.ts parsed: the values are strings or null there
 * (anything else is refused while parsing, as the documents hold strings). `data` itself
 * went straight to the body store; `data` says whether it was there and a string.
 */
export function postedFields(
  fields: Record<string, string | null>,
  data: "string" | "null" | "absent",
  defaults: { name: string | null },
): Omit<PostedLog, "data"> {
  if (data === "absent") throw bad("data field not in body");
  if (data === "null") throw bad("data field must be a string");
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    // null is "not given" for the optional fields a client may send empty.
    if (SERVER_FIELDS.has(key) || value === null) continue;
    if (!["name", "dataset_id", "task_id"].includes(key)) extra[key] = value;
  }
  const opt = (k: string) => fields[k] ?? null;
  return { name: opt("name") ?? defaults.name, datasetId: opt("dataset_id"), taskId: opt("task_id"), extra };
}
