import type { Context } from "hono";
import { accepts } from "hono/accepts";
import type { z } from "zod";
import { database } from "../db/client";
import { endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import type { AppEnv } from "../http/env";
import { ApiError, errors } from "../http/errors";
import { logFailure } from "../http/observe";
import { parseInteger } from "../http/query";
import { DatasetWrite, datasetAccess, datasetPoster, systemOnly } from "./access";
import { BodyWriter, bodyKey, bodyLimits, parseRange, type StoredBody, storeUpload } from "./bodies";
import { bodyGone, documentJson, openBody, parseKeys, streamedJson, wantsData } from "./documents";
import { readLogPost } from "./json-post";
import { LogCreated, LogDocument, LogError, LogPost, type PostedLog, postedFields } from "./schemas";
import {
  countLogs,
  deleteLogs,
  findLog,
  insertLog,
  type LogRow,
  latestPerName,
  listLogs,
  listPage,
  PAGE_ROWS,
} from "./store";

/** IceProd REST logs: task logs with their metadata in D1 and large bodies in R2. */
export const logsRoutes = familyRouter();
type C = Context<AppEnv>;

const tags = ["logs"];
const ID = "{[A-Za-z0-9_]+}";
const LOG = `/logs/:log_id${ID}`;
const DATASET = `/datasets/:dataset_id${ID}`;
const TASK_LOGS = `${DATASET}/tasks/:task_id${ID}/logs`;
const DEFAULT_LIST_KEYS = ["name", "data", "timestamp", "task_id", "dataset_id"];

const logNotFound = () => new ApiError("not_found", "Log not found");
const badRequest = (reason: string) => new ApiError("other", reason, { status: 400 });
const json = (schema: z.ZodType) => ({ content: { "application/json": { schema } } });
const errorsDoc = { 403: { description: "authentication or authorization failed", ...json(LogError) } };

// ─── Documents (documents.ts) ──────────────────────────────────────────────

/** Lists leave out a log whose body is gone (it is being deleted) and say so in the Worker's log. */
function skipBodyless(c: C, row: LogRow) {
  console.warn(JSON.stringify({ requestId: c.var.requestId, logBodyMissing: row.logId }));
}

// ─── Posting ────────────────────────────────────────────────────────────────

const newLogId = () => crypto.randomUUID().replaceAll("-", "");

/**
 * Writes the row for a stored body; if D1 refuses, the R2 body goes too (no orphan). A
 * dataset post whose access is not yet known writes the row only if the caller may; if
 * it wrote nothing, reading the record says which 403 (or that access was granted
 * meanwhile, and the row is written after all).
 */
async function saveLog(c: C, logId: string, log: Omit<PostedLog, "data">, stored: StoredBody, dataset?: DatasetWrite) {
  const db = database(c.env);
  const row = {
    logId,
    name: log.name,
    datasetId: log.datasetId,
    taskId: log.taskId,
    extra: log.extra,
    data: stored.inline,
    inR2: stored.inline === null,
    bodyBytes: stored.bytes,
  };
  try {
    const onlyIf = dataset?.writeCondition();
    if (!(await insertLog(db, row, onlyIf ?? undefined))) {
      await dataset?.check();
      await insertLog(db, row);
    }
  } catch (err) {
    if (stored.inline === null) await c.env.LOG_BODIES.delete(bodyKey(logId));
    throw err;
  }
  return c.json({ result: logId }, 201);
}

/**
 * A post that fails for any reason fails with the dataset's 403 first, when the caller
 * may not write it: what they hear does not depend on how far their post got.
 */
async function refusedFirst<T>(dataset: DatasetWrite | undefined, post: () => Promise<T>): Promise<T> {
  try {
    return await post();
  } catch (err) {
    await dataset?.check();
    throw err;
  }
}

/**
 * A JSON post (src/logs/json-post.ts), parsed as it arrives whatever its size, `data`
 * unescaped straight into the body store (in memory up to LOG_INLINE_MAX, else R2), so
 * even a LOG_JSON_MAX body is never held whole.
 */
function postJson(c: C, opts: { defaultName: string | null; dataset?: DatasetWrite }) {
  return refusedFirst(opts.dataset, async () => {
    const { inlineMax, jsonMax } = bodyLimits(c.env);
    const where = opts.dataset ? `/datasets/${opts.dataset.datasetId}/logs/raw` : "/logs/raw";
    const tooLarge = () =>
      errors.tooLarge(
        `log body larger than ${jsonMax} bytes: send the log text as the raw body of POST ${where}?name=...&task_id=...`,
      );
    if (Number(c.req.header("content-length") ?? NaN) > jsonMax) throw tooLarge();
    const logId = newLogId();
    const key = bodyKey(logId);
    const bucket = c.env.LOG_BODIES;
    const beforeR2 = opts.dataset && (() => opts.dataset!.check());
    const post = await readLogPost(c.req.raw.body, {
      maxBytes: jsonMax,
      tooLarge,
      sink: {
        open: () => new BodyWriter(bucket, key, inlineMax, beforeR2),
        discard: async (stored) => {
          if (stored.inline === null) await bucket.delete(key);
        },
      },
    });
    let log: Omit<PostedLog, "data">;
    try {
      log = postedFields(post.fields, post.data === undefined ? "absent" : post.data === null ? "null" : "string", {
        name: opts.defaultName,
      });
    } catch (err) {
      if (post.data?.stored.inline === null) await bucket.delete(key);
      throw err;
    }
    if (opts.dataset) log.datasetId = opts.dataset.datasetId;
    return saveLog(c, logId, log, post.data!.stored, opts.dataset);
  });
}

function postRaw(c: C, opts: { defaultName: string | null; dataset?: DatasetWrite }) {
  return refusedFirst(opts.dataset, async () => {
    const q = (k: string) => c.req.query(k) || null;
    const log = {
      name: q("name") ?? opts.defaultName,
      datasetId: opts.dataset?.datasetId ?? q("dataset_id"),
      taskId: q("task_id"),
      extra: {},
    };
    const declared = c.req.header("content-length");
    let length: number | null = null;
    if (declared !== undefined) {
      length = parseInteger(declared);
      if (length === null || length < 0) throw badRequest("bad Content-Length");
    }
    const logId = newLogId();
    const beforeR2 = opts.dataset && (() => opts.dataset!.check());
    const stored = await storeUpload(
      c.env.LOG_BODIES,
      bodyKey(logId),
      c.req.raw.body,
      length,
      bodyLimits(c.env).inlineMax,
      beforeR2,
    );
    return saveLog(c, logId, log, stored, opts.dataset);
  });
}

const postDoc = {
  tags,
  request: { body: json(LogPost) },
  responses: { 201: { description: "created", ...json(LogCreated) }, ...errorsDoc },
};
const rawDoc = (summary: string) => ({
  tags,
  summary,
  request: { body: { content: { "text/plain": { schema: { type: "string" } } } } as never },
  responses: { 201: { description: "created", ...json(LogCreated) }, ...errorsDoc },
});

endpoint(logsRoutes, "post", "/logs", { ...postDoc, summary: 'Post a log (name defaults to "log")' }, systemOnly, (c) =>
  postJson(c, { defaultName: "log" }),
);
endpoint(
  logsRoutes,
  "post",
  "/logs/raw",
  rawDoc("Upload a log's text as the raw body (?name=&dataset_id=&task_id=), streamed to R2"),
  systemOnly,
  (c) => postRaw(c, { defaultName: "log" }),
);
endpoint(
  logsRoutes,
  "post",
  `${DATASET}/logs`,
  { ...postDoc, summary: "Post a log of a dataset" },
  datasetPoster,
  (c) => postJson(c, { defaultName: null, dataset: new DatasetWrite(c, param(c, "dataset_id")) }),
);
endpoint(
  logsRoutes,
  "post",
  `${DATASET}/logs/raw`,
  rawDoc("Upload a dataset's log as the raw body (?name=&task_id=)"),
  datasetPoster,
  (c) => postRaw(c, { defaultName: null, dataset: new DatasetWrite(c, param(c, "dataset_id")) }),
);

// ─── Reading ────────────────────────────────────────────────────────────────

endpoint(
  logsRoutes,
  "get",
  "/logs",
  {
    tags,
    summary: "Search logs: from, to, name, dataset_id, task_id, keys (a|b), limit",
    responses: { 200: { description: "{log_id: document}" }, ...errorsDoc },
  },
  systemOnly,
  async (c) => {
    const q = (k: string) => c.req.query(k) || undefined;
    const rawLimit = q("limit");
    const limit = rawLimit === undefined ? 0 : parseInteger(rawLimit);
    if (limit === null) throw badRequest("non-integer limit");
    if (limit < 0) throw badRequest("limit must not be negative");
    const keys = ["log_id", ...(parseKeys(q("keys")) ?? DEFAULT_LIST_KEYS)];
    const db = database(c.env);
    const filter = {
      from: q("from"),
      to: q("to"),
      name: q("name"),
      datasetId: q("dataset_id"),
      taskId: q("task_id"),
      order: "asc",
      withData: wantsData(keys),
    } as const;
    // The first page is read before answering, so its D1 cost is in Server-Timing (a
    // list of up to PAGE_ROWS logs is then all of it; later pages stream after the headers).
    const firstPage = await listPage(db, filter, null, limit > 0 ? Math.min(limit, PAGE_ROWS) : PAGE_ROWS);
    const rows = listLogs(db, { ...filter, limit }, firstPage);
    const bucket = c.env.LOG_BODIES;
    return streamedJson(
      (async function* () {
        yield "{";
        let first = true;
        for await (const row of rows) {
          const body = await openBody(bucket, row, keys);
          if (body === null) {
            skipBodyless(c, row);
            continue;
          }
          yield `${first ? "" : ","}${JSON.stringify(row.logId)}:`;
          yield* documentJson(row, keys, body);
          first = false;
        }
        yield "}";
      })(),
    );
  },
);

async function oneLog(c: C, datasetId?: string) {
  const row = await findLog(database(c.env), param(c, "log_id"), { datasetId, withData: true });
  if (!row) throw logNotFound();
  const body = await openBody(c.env.LOG_BODIES, row, null);
  if (body === null) throw bodyGone();
  return streamedJson(documentJson(row, null, body));
}

const docResponses = {
  200: { description: "the log", ...json(LogDocument) },
  404: { description: "Log not found", ...json(LogError) },
  ...errorsDoc,
};
endpoint(logsRoutes, "get", LOG, { tags, summary: "A log with its data", responses: docResponses }, systemOnly, (c) =>
  oneLog(c),
);
endpoint(
  logsRoutes,
  "get",
  `${DATASET}/logs/:log_id${ID}`,
  { tags, summary: "A log of the dataset", responses: docResponses },
  datasetAccess("read"),
  (c) => oneLog(c, param(c, "dataset_id")),
);

/** The body alone as text/plain, honouring a single `Range`. */
async function logData(c: C, datasetId?: string) {
  const row = await findLog(database(c.env), param(c, "log_id"), { datasetId, withData: true });
  if (!row) throw logNotFound();
  const inline = row.inR2 ? null : new TextEncoder().encode(row.data ?? "");
  const size = inline ? inline.byteLength : row.bodyBytes;
  // A log's body never changes (no route rewrites one; a new post is a new id), so its
  // id is a strong validator: If-Range with it keeps the Range, anything else drops it.
  const etag = `"${row.logId}"`;
  const ifRange = c.req.header("if-range");
  const range = ifRange === undefined || ifRange.trim() === etag ? parseRange(c.req.header("range"), size) : null;
  const headers = new Headers({ "content-type": "text/plain; charset=utf-8", "accept-ranges": "bytes", etag });
  if (range === "unsatisfiable") {
    headers.set("content-range", `bytes */${size}`);
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify({ code: 416, error: "range not satisfiable" }), { status: 416, headers });
  }
  const { offset, length } = range ?? { offset: 0, length: size };
  headers.set("content-length", String(length));
  if (range) headers.set("content-range", `bytes ${offset}-${offset + length - 1}/${size}`);
  const status = range ? 206 : 200;
  if (inline) return new Response(inline.subarray(offset, offset + length), { status, headers });
  if (length === 0) return new Response(null, { status, headers });
  const object = await c.env.LOG_BODIES.get(bodyKey(row.logId), { range: { offset, length } });
  // Never a Content-Length with no body behind it.
  if (!object) throw bodyGone();
  return new Response(object.body, { status, headers });
}

const dataDoc = {
  tags,
  responses: {
    200: { description: "the log text" },
    206: { description: "the requested range" },
    404: { description: "Log not found", ...json(LogError) },
  },
};
endpoint(
  logsRoutes,
  "get",
  `${LOG}/data`,
  { ...dataDoc, summary: "A log's body as text/plain (Range honoured)" },
  systemOnly,
  (c) => logData(c),
);
endpoint(
  logsRoutes,
  "get",
  `${DATASET}/logs/:log_id${ID}/data`,
  { ...dataDoc, summary: "A dataset log's body as text/plain" },
  datasetAccess("read"),
  (c) => logData(c, param(c, "dataset_id")),
);

endpoint(
  logsRoutes,
  "get",
  TASK_LOGS,
  {
    tags,
    summary: "A task's logs: order (asc|desc), num, group (latest per name), keys",
    responses: {
      200: { description: "{logs: [...]}" },
      404: { description: "Log not found", ...json(LogError) },
      ...errorsDoc,
    },
  },
  datasetAccess("read"),
  async (c) => {
    const q = (k: string) => c.req.query(k) || undefined;
    const order = (q("order") ?? "desc").toLowerCase();
    if (order !== "asc" && order !== "desc") throw badRequest('bad order param. should be "asc" or "desc".');
    const rawNum = q("num");
    const num = rawNum === undefined ? 0 : parseInteger(rawNum);
    if (num === null || num < 0) throw badRequest("bad num param. must be int");
    const group = (q("group") ?? "false").toLowerCase() === "true";
    const keys = parseKeys(q("keys"));
    const db = database(c.env);
    const filter = {
      datasetId: param(c, "dataset_id"),
      taskId: param(c, "task_id"),
      order,
      withData: wantsData(keys),
    } as const;

    // The first page is read before answering, so "nothing matches" can still be a 404.
    const firstPage = group
      ? await latestPerName(db, filter.datasetId, filter.taskId, { ...filter, num })
      : await listPage(db, filter, null, num > 0 ? Math.min(num, PAGE_ROWS) : PAGE_ROWS);
    if (firstPage.length === 0) throw logNotFound();
    const rows = group ? firstPage : listLogs(db, { ...filter, limit: num }, firstPage);
    const bucket = c.env.LOG_BODIES;
    return streamedJson(
      (async function* () {
        yield `{"logs":[`;
        let first = true;
        for await (const row of rows) {
          const body = await openBody(bucket, row, keys);
          if (body === null) {
            skipBodyless(c, row);
            continue;
          }
          if (!first) yield ",";
          yield* documentJson(row, keys, body);
          first = false;
        }
        yield "]}";
      })(),
    );
  },
);

// ─── Deleting ───────────────────────────────────────────────────────────────

endpoint(
  logsRoutes,
  "delete",
  LOG,
  { tags, summary: "Delete a log and its body ({} also when absent)" },
  systemOnly,
  async (c) => {
    await deleteLogs(database(c.env), c.env.LOG_BODIES, { logId: param(c, "log_id") });
    return c.json({});
  },
);

endpoint(
  logsRoutes,
  "delete",
  TASK_LOGS,
  { tags, summary: "Delete a task's logs and their bodies" },
  datasetAccess("write"),
  async (c) => {
    await deleteLogs(database(c.env), c.env.LOG_BODIES, {
      datasetId: param(c, "dataset_id"),
      taskId: param(c, "task_id"),
    });
    return c.json({});
  },
);

const deleteStopped = () => "deleting stopped; run the delete again to finish it";

/**
 * NDJSON progress only for a caller that asks for it (`Accept: application/x-ndjson`:
 * the dashboard, `curl -N`); everyone else (IceProd's RestClient sends no Accept and
 * decodes one JSON document) gets the final status once the delete is done.
 */
const wantsProgress = (c: C) =>
  accepts(c, {
    header: "Accept",
    supports: ["application/json", "application/x-ndjson"],
    default: "application/json",
  }) === "application/x-ndjson";

endpoint(
  logsRoutes,
  "delete",
  `${DATASET}/logs`,
  {
    tags,
    summary: "Delete every log of a dataset: one JSON status, or NDJSON progress with Accept: application/x-ndjson",
    responses: {
      200: {
        description:
          '`{"status":"complete","percent_complete":100}`; with `Accept: application/x-ndjson`, progress lines as it goes, that one last',
      },
      503: { description: "the delete stopped half-way; running it again finishes it", ...json(LogError) },
      ...errorsDoc,
    },
  },
  datasetAccess("write"),
  async (c) => {
    const db = database(c.env);
    const datasetId = param(c, "dataset_id");
    if (!wantsProgress(c)) {
      try {
        await deleteLogs(db, c.env.LOG_BODIES, { datasetId });
      } catch (err) {
        logFailure(c, "dataset logs delete", err);
        throw new ApiError("other", deleteStopped(), { status: 503 });
      }
      return c.json({ status: "complete", percent_complete: 100 });
    }
    const total = await countLogs(db, { datasetId });
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    // Lines are not awaited: a client that hangs up does not stop the delete half-way.
    const line = (o: object) => writer.write(encoder.encode(`${JSON.stringify(o)}\n`)).catch(() => {});
    const work = (async () => {
      try {
        if (total > 0) {
          await deleteLogs(db, c.env.LOG_BODIES, { datasetId }, async (deleted) => {
            line({ status: "deleting", percent_complete: Math.min(100, Math.floor((deleted * 100) / total)), total });
          });
        }
        line({ status: "complete", percent_complete: 100 });
      } catch (err) {
        logFailure(c, "dataset logs delete", err);
        line({ status: "error", error: deleteStopped() });
      } finally {
        await writer.close().catch(() => {});
      }
    })();
    c.executionCtx.waitUntil(work);
    return new Response(readable, {
      headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-cache" },
    });
  },
);

refuseOtherMethods(logsRoutes);
