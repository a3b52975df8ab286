import { z } from "zod";
import { ApiError } from "../http/errors";

/** A log as posted: `data` required; name, dataset_id, task_id and any other field are strings. */
export const LogPost = z
  .object({ data: z.string(), name: z.string().optional(), dataset_id: z.string().optional(), task_id: z.string().optional() })
  .catchall(z.string())
  .meta({ id: "LogPost" });

export const LogCreated = z.object({ result: z.string().regex(/^[0-9a-f]{32}$/) }).meta({ id: "LogCreated" });

export const LogDocument = z
  .object({ log_id: z.string(), name: z.string().optional(), data: z.string(), timestamp: z.string(), dataset_id: z.string().optional(), task_id: z.string().optional() })
  .catchall(z.string())
  .meta({ id: "LogDocument" });

export const LogError = z.object({ code: z.number().int(), error: z.string() }).meta({ id: "LogError" });

/** Fields the server owns: a poster's values for them are ignored. */
const SERVER_FIELDS = new Set(["log_id", "timestamp"]);

export type PostedLog = { data: string; name: string | null; datasetId: string | null; taskId: string | null; extra: Record<string, string> };

const bad = (reason: string) => new ApiError("validation", reason, { status: 400 });

/** Everything but `data` lives in the D1 row (which D1 caps at 2 MB), so it is bounded. */
export const FIELDS_MAX_BYTES = 64 * 1024;

/**
 * Reads a posted log the way IceProd does (`data` required, everything else kept),
 * but refuses non-string values instead of storing them: the spec's documents hold strings.
 */
export function postedLog(body: unknown, defaults: { name: string | null }): PostedLog {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw bad("body must be a JSON object");
  const record = body as Record<string, unknown>;
  if (!("data" in record)) throw bad("data field not in body");
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (SERVER_FIELDS.has(key)) continue;
    // null is "not given" for the optional fields a client may send empty.
    if (value === null && key !== "data") continue;
    if (typeof value !== "string") throw bad(`${key} field must be a string`);
    if (!["data", "name", "dataset_id", "task_id"].includes(key)) extra[key] = value;
  }
  let fieldBytes = 0;
  for (const [key, value] of Object.entries(record)) if (key !== "data" && typeof value === "string") fieldBytes += key.length + value.length;
  if (fieldBytes > FIELDS_MAX_BYTES) throw bad(`fields other than data total over ${FIELDS_MAX_BYTES} characters`);
  const opt = (k: string) => (typeof record[k] === "string" ? (record[k] as string) : null);
  return { data: record.data as string, name: opt("name") ?? defaults.name, datasetId: opt("dataset_id"), taskId: opt("task_id"), extra };
}
