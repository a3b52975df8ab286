/**
 * A log as IceProd's REST server returns it (docs/api/logs.md): its fields, and its JSON
 * document streamed with `data` last, so a body kept in R2 goes through escaped chunk by
 * chunk and is never held whole.
 */
import { ApiError } from "../http/errors";
import { bodyKey, jsonStringFromR2, textStream } from "./bodies";
import type { LogRow } from "./store";

/** A log as IceProd returns it, without `data`: absent optional fields are left out. */
function fieldsOf(row: LogRow): Record<string, string> {
  const doc: Record<string, string> = { log_id: row.logId };
  if (row.name !== null) doc.name = row.name;
  if (row.datasetId !== null) doc.dataset_id = row.datasetId;
  if (row.taskId !== null) doc.task_id = row.taskId;
  doc.timestamp = row.timestamp;
  return { ...row.extra, ...doc };
}

/**
 * A row's body if it lives in R2 and the answer includes `data`: opened before anything
 * of the document is sent, so a body that is gone is known in time. `undefined`: not
 * needed; `null`: the row names a body R2 no longer holds (a delete stopped half-way:
 * bodies go first, then rows).
 */
export async function openBody(
  bucket: R2Bucket,
  row: LogRow,
  keys: string[] | null,
): Promise<ReadableStream<Uint8Array> | null | undefined> {
  if (!row.inR2 || !wantsData(keys)) return undefined;
  const object = await bucket.get(bodyKey(row.logId));
  return object ? object.body : null;
}

/** 404: what a client should make of a log whose delete is half done. */
export const bodyGone = () =>
  new ApiError(
    "not_found",
    "Log not found: its body is gone (a delete stopped half-way; deleting the log again finishes it)",
  );

/**
 * One document as JSON text, `data` last so an R2 body streams through escaped while
 * everything before it is already sent. `keys` null means every field; `body` is the
 * opened R2 body of a row that keeps it there.
 */
export async function* documentJson(
  row: LogRow,
  keys: string[] | null,
  body?: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let fields = fieldsOf(row);
  if (keys) fields = Object.fromEntries(Object.entries(fields).filter(([k]) => keys.includes(k)));
  if (!wantsData(keys)) {
    yield JSON.stringify(fields);
    return;
  }
  const head = JSON.stringify(fields);
  yield head === "{}" ? `{"data":` : `${head.slice(0, -1)},"data":`;
  if (body) yield* jsonStringFromR2(body);
  else yield JSON.stringify(row.data ?? "");
  yield "}";
}

export function streamedJson(parts: AsyncGenerator<string>, status = 200) {
  return new Response(textStream(parts), { status, headers: { "content-type": "application/json; charset=utf-8" } });
}

export const wantsData = (keys: string[] | null) => keys === null || keys.includes("data");
export const parseKeys = (raw: string | undefined) => (raw ? raw.split("|").filter(Boolean) : null);
