import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { database } from "../src/db/client";
import { latestPerNameQuery, listQuery } from "../src/logs/store";
import { call, callJson } from "./helpers/http";
import { expectGone, grantDataset, logRow, logsCallers, postLog, readLines } from "./helpers/logs";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/;
let t: Awaited<ReturnType<typeof logsCallers>>;

beforeAll(async () => {
  t = await logsCallers();
});

describe("errors in IceProd's dialect", () => {
  it("answers no token and a bad token with 403 authentication failed", async () => {
    for (const token of [null, "not-a-token"]) {
      const { status, body } = await callJson("/logs", { token });
      expect(status).toBe(403);
      expect(body).toEqual({ code: 403, error: "authentication failed" });
      const d = await callJson("/datasets/d1/logs", { method: "POST", json: { data: "x" }, token });
      expect(d.body).toEqual({ code: 403, error: "authentication failed" });
    }
  });

  it("keeps system tokens on /logs and user tokens on /datasets (403 authorization failed)", async () => {
    await grantDataset("roles");
    const user = await callJson("/logs", { method: "POST", json: { data: "x" }, token: t.writer });
    expect(user).toMatchObject({ status: 403, body: { code: 403, error: "authorization failed" } });
    const system = await callJson("/datasets/roles/logs", { method: "POST", json: { data: "x" }, token: t.system });
    expect(system).toMatchObject({ status: 403, body: { code: 403, error: "authorization failed" } });
  });

  it("refuses a user on a dataset without access record (attr not found) or without the right", async () => {
    const none = await callJson("/datasets/norecord/tasks/t1/logs", { token: t.reader });
    expect(none).toMatchObject({ status: 403, body: { code: 403, error: "attr not found" } });
    await grantDataset("rights");
    const readerPosts = await callJson("/datasets/rights/logs", {
      method: "POST",
      json: { data: "x" },
      token: t.reader,
    });
    expect(readerPosts).toMatchObject({ status: 403, body: { code: 403, error: "authorization failed" } });
    const strangerReads = await callJson("/datasets/rights/tasks/t1/logs", { token: t.stranger });
    expect(strangerReads).toMatchObject({ status: 403, body: { code: 403, error: "authorization failed" } });
    // A write group may also read; the admin needs no record at all.
    expect((await callJson("/datasets/rights/tasks/t1/logs", { token: t.writer })).status).toBe(404);
    expect((await callJson("/datasets/norecord/tasks/t1/logs")).status).toBe(404);
  });

  it("answers ids outside [A-Za-z0-9_] with 404 and missing methods with 405", async () => {
    expect(await callJson("/logs/abc-def")).toMatchObject({ status: 404, body: { code: 404 } });
    expect(await callJson("/datasets/a.b/logs", { method: "POST", json: { data: "x" } })).toMatchObject({
      status: 404,
      body: { code: 404 },
    });
    expect(await callJson("/logs", { method: "PUT", json: {} })).toMatchObject({ status: 405, body: { code: 405 } });
    expect(await callJson("/logs/abc", { method: "POST", json: {} })).toMatchObject({
      status: 405,
      body: { code: 405 },
    });
    expect((await callJson("/datasets/d/logs", { method: "GET" })).status).toBe(405);
    expect((await callJson("/datasets/d/logs/abc", { method: "DELETE" })).status).toBe(405);
  });
});

it("documents every route in /openapi.json", async () => {
  const { status, body } = await callJson("/openapi.json", { token: null });
  expect(status).toBe(200);
  expect(Object.keys(body.paths)).toEqual(
    expect.arrayContaining([
      "/logs",
      "/logs/raw",
      "/logs/{log_id}",
      "/logs/{log_id}/data",
      "/datasets/{dataset_id}/logs",
      "/datasets/{dataset_id}/logs/raw",
      "/datasets/{dataset_id}/tasks/{task_id}/logs",
    ]),
  );
  expect(Object.keys(body.paths["/logs/{log_id}"])).toEqual(expect.arrayContaining(["get", "delete"]));
});

describe("POST /logs", () => {
  it("stores a log with a server-made id and timestamp, name defaulting to log, other fields as sent", async () => {
    const { status, body } = await callJson("/logs", {
      method: "POST",
      token: t.system,
      json: {
        data: "hello\nworld",
        dataset_id: "ds1",
        task_id: "tk1",
        site: "WIPAC",
        log_id: "mine",
        timestamp: "2000-01-01T00:00:00.000000",
      },
    });
    expect(status).toBe(201);
    expect(body.result).toMatch(/^[0-9a-f]{32}$/);
    const doc = await callJson(`/logs/${body.result}`, { token: t.system });
    expect(doc.status).toBe(200);
    expect(doc.body).toEqual({
      log_id: body.result,
      name: "log",
      data: "hello\nworld",
      dataset_id: "ds1",
      task_id: "tk1",
      site: "WIPAC",
      timestamp: expect.stringMatching(TIMESTAMP),
    });
    expect(doc.body.timestamp).not.toBe("2000-01-01T00:00:00.000000");
  });

  it("refuses a body without data, non-string fields, non-objects and malformed JSON with 400", async () => {
    const logCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM logs").first<{ n: number }>())!.n;
    const before = await logCount();
    const cases: Array<[unknown, string]> = [
      [{ name: "stdout" }, "data field not in body"],
      [{ data: 5 }, "data field must be a string"],
      [{ data: "x", attempt: 3 }, "attempt field must be a string"],
      [["data"], "body must be a JSON object"],
    ];
    for (const [json, error] of cases) {
      const r = await callJson("/logs", { method: "POST", json, token: t.system });
      expect(r, JSON.stringify(json)).toMatchObject({ status: 400, body: { code: 400, error } });
    }
    const malformed = await callJson("/logs", { method: "POST", body: "{data:", token: t.system });
    expect(malformed).toMatchObject({ status: 400, body: { code: 400 } });
    const huge = await callJson("/logs", {
      method: "POST",
      json: { data: "x", note: "n".repeat(70_000) },
      token: t.system,
    });
    expect(huge).toMatchObject({ status: 400, body: { code: 400 } });
    // Nothing was written, whichever tests ran before this one.
    expect(await logCount()).toBe(before);
  });

  it("gives strictly increasing timestamps in insertion order, even for concurrent posts", async () => {
    const ids = await Promise.all(
      Array.from({ length: 25 }, (_, i) => postLog({ data: `n${i}`, name: "race" }, { token: t.system })),
    );
    const rows = await env.DB.prepare("SELECT log_id, timestamp FROM logs WHERE name = 'race' ORDER BY seq").all<{
      log_id: string;
      timestamp: string;
    }>();
    expect(rows.results.map((r) => r.log_id).sort()).toEqual([...ids].sort());
    const stamps = rows.results.map((r) => r.timestamp);
    for (const s of stamps) expect(s).toMatch(TIMESTAMP);
    for (let i = 1; i < stamps.length; i++)
      expect(stamps[i] > stamps[i - 1], `${stamps[i - 1]} < ${stamps[i]}`).toBe(true);
  });
});

describe("GET and DELETE /logs/{log_id}", () => {
  it("answers an unknown log with 404 Log not found and deletes idempotently", async () => {
    expect(await callJson("/logs/0123abcd", { token: t.system })).toMatchObject({
      status: 404,
      body: { code: 404, error: "Log not found" },
    });
    const id = await postLog({ data: "bye" }, { token: t.system });
    expect(await callJson(`/logs/${id}`, { method: "DELETE", token: t.system })).toMatchObject({
      status: 200,
      body: {},
    });
    expect((await callJson(`/logs/${id}`, { token: t.system })).status).toBe(404);
    expect(await callJson(`/logs/${id}`, { method: "DELETE", token: t.system })).toMatchObject({
      status: 200,
      body: {},
    });
    await expectGone([id]);
  });
});

describe("GET /logs (search)", () => {
  let ids: string[];
  let stamps: string[];
  beforeAll(async () => {
    ids = [];
    for (const [name, task] of [
      ["stdout", "s1"],
      ["stderr", "s1"],
      ["stdout", "s2"],
      ["stdlog", "s2"],
    ]) {
      ids.push(
        await postLog(
          { data: `${name} of ${task}`, name, dataset_id: "search", task_id: task, host: "h1" },
          { token: t.system },
        ),
      );
    }
    stamps = await Promise.all(ids.map(async (id) => (await logRow(id))!.timestamp));
  });

  it("filters by name, dataset_id and task_id with the default keys (log_id always)", async () => {
    const { status, body } = await callJson("/logs?dataset_id=search&name=stdout", { token: t.system });
    expect(status).toBe(200);
    expect(Object.keys(body)).toEqual([ids[0], ids[2]]);
    expect(body[ids[0]]).toEqual({
      log_id: ids[0],
      name: "stdout",
      data: "stdout of s1",
      timestamp: stamps[0],
      task_id: "s1",
      dataset_id: "search",
    });
    const byTask = await callJson("/logs?dataset_id=search&task_id=s2", { token: t.system });
    expect(Object.keys(byTask.body)).toEqual([ids[2], ids[3]]);
  });

  it("takes from/to inclusive, keys and limit; {} when nothing matches", async () => {
    const range = await callJson(`/logs?dataset_id=search&from=${stamps[1]}&to=${stamps[2]}&keys=name|host`, {
      token: t.system,
    });
    expect(range.body).toEqual({
      [ids[1]]: { log_id: ids[1], name: "stderr", host: "h1" },
      [ids[2]]: { log_id: ids[2], name: "stdout", host: "h1" },
    });
    const limited = await callJson("/logs?dataset_id=search&limit=3&keys=name", { token: t.system });
    expect(Object.keys(limited.body)).toEqual(ids.slice(0, 3));
    const all = await callJson("/logs?dataset_id=search&limit=0&keys=name", { token: t.system });
    expect(Object.keys(all.body)).toHaveLength(4);
    expect(await callJson("/logs?dataset_id=nothing", { token: t.system })).toMatchObject({ status: 200, body: {} });
    expect(await callJson("/logs?limit=ten", { token: t.system })).toMatchObject({
      status: 400,
      body: { code: 400, error: "non-integer limit" },
    });
  });

  it("reports the D1 cost of the list in Server-Timing, though the answer streams", async () => {
    const res = await call("/logs?dataset_id=search&task_id=s2", { token: t.system });
    expect(res.status).toBe(200);
    const m = /queries=(\d+) rows_read=(\d+)/.exec(res.headers.get("server-timing") ?? "");
    expect(m).not.toBeNull();
    // The token lookup and the page of two logs.
    expect(Number(m![1])).toBeGreaterThanOrEqual(1);
    expect(Number(m![2])).toBeGreaterThanOrEqual(2);
    expect(Object.keys(await res.json())).toEqual([ids[2], ids[3]]);
  });
});

describe("/datasets/{d}/logs", () => {
  beforeAll(async () => {
    await grantDataset("dsa");
    await grantDataset("dsb");
  });

  it("forces dataset_id, adds no default name, and serves the log only under its dataset", async () => {
    const id = await postLog(
      { data: "d", dataset_id: "elsewhere", task_id: "t9" },
      { token: t.writer, dataset: "dsa" },
    );
    const doc = await callJson(`/datasets/dsa/logs/${id}`, { token: t.reader });
    expect(doc.status).toBe(200);
    expect(doc.body).toEqual({
      log_id: id,
      data: "d",
      dataset_id: "dsa",
      task_id: "t9",
      timestamp: expect.stringMatching(TIMESTAMP),
    });
    expect(await callJson(`/datasets/dsb/logs/${id}`, { token: t.reader })).toMatchObject({
      status: 404,
      body: { code: 404, error: "Log not found" },
    });
    expect((await callJson(`/datasets/dsa/logs/${id}`, { token: t.stranger })).status).toBe(403);
  });
});

describe("GET /datasets/{d}/tasks/{t}/logs", () => {
  // name → posting order: stdout, stderr, stdout, stdlog, stderr (so the newest per name is 2, 3, 4).
  const names = ["stdout", "stderr", "stdout", "stdlog", "stderr"];
  let ids: string[];
  const url = (q = "") => `/datasets/tasks1/tasks/t1/logs${q}`;
  beforeAll(async () => {
    await grantDataset("tasks1");
    ids = [];
    for (const [i, name] of names.entries())
      ids.push(await postLog({ data: `${name} ${i}`, name, task_id: "t1" }, { token: t.writer, dataset: "tasks1" }));
    await postLog({ data: "other task", name: "stdout", task_id: "t2" }, { token: t.writer, dataset: "tasks1" });
  });
  const logIds = (body: { logs: Array<{ log_id: string }> }) => body.logs.map((l) => l.log_id);

  it("sorts newest first by default, asc on request (any case), and limits with num", async () => {
    const desc = await callJson(url(), { token: t.reader });
    expect(desc.status).toBe(200);
    expect(logIds(desc.body)).toEqual([...ids].reverse());
    expect(desc.body.logs[0]).toEqual({
      log_id: ids[4],
      name: "stderr",
      data: "stderr 4",
      dataset_id: "tasks1",
      task_id: "t1",
      timestamp: expect.stringMatching(TIMESTAMP),
    });
    expect(logIds((await callJson(url("?order=ASC"), { token: t.reader })).body)).toEqual(ids);
    expect(logIds((await callJson(url("?order=asc&num=2"), { token: t.reader })).body)).toEqual(ids.slice(0, 2));
    expect(logIds((await callJson(url("?num=0"), { token: t.reader })).body)).toHaveLength(5);
  });

  it("groups by name: the newest per name for desc, the oldest for asc; num counts groups", async () => {
    const desc = await callJson(url("?group=true"), { token: t.reader });
    expect(desc.body.logs.map((l: { log_id: string; name: string }) => [l.name, l.log_id])).toEqual([
      ["stderr", ids[4]],
      ["stdlog", ids[3]],
      ["stdout", ids[2]],
    ]);
    const asc = await callJson(url("?group=True&order=asc"), { token: t.reader });
    expect(asc.body.logs.map((l: { log_id: string; name: string }) => [l.name, l.log_id])).toEqual([
      ["stdout", ids[0]],
      ["stderr", ids[1]],
      ["stdlog", ids[3]],
    ]);
    expect(logIds((await callJson(url("?group=true&num=2"), { token: t.reader })).body)).toEqual([ids[4], ids[3]]);
  });

  it("limits fields with keys (no implicit log_id)", async () => {
    const { body } = await callJson(url("?keys=name|data&num=1"), { token: t.reader });
    expect(body).toEqual({ logs: [{ name: "stderr", data: "stderr 4" }] });
    const grouped = await callJson(url("?keys=name&group=true"), { token: t.reader });
    expect(grouped.body).toEqual({ logs: [{ name: "stderr" }, { name: "stdlog" }, { name: "stdout" }] });
  });

  it("answers bad order and num with 400 and no match with 404", async () => {
    expect(await callJson(url("?order=up"), { token: t.reader })).toMatchObject({
      status: 400,
      body: { code: 400, error: 'bad order param. should be "asc" or "desc".' },
    });
    expect(await callJson(url("?num=two"), { token: t.reader })).toMatchObject({
      status: 400,
      body: { code: 400, error: "bad num param. must be int" },
    });
    expect(await callJson("/datasets/tasks1/tasks/none/logs", { token: t.reader })).toMatchObject({
      status: 404,
      body: { code: 404, error: "Log not found" },
    });
  });

  it("reads only the task's rows (Server-Timing rows_read)", async () => {
    // Noise elsewhere in the dataset must not be read.
    for (let i = 0; i < 30; i++)
      await postLog({ data: "noise", name: "stdout", task_id: `noise${i}` }, { token: t.writer, dataset: "tasks1" });
    for (const q of ["", "?group=true", "?order=asc&num=2"]) {
      const res = await call(url(q));
      expect(res.status).toBe(200);
      await res.text();
      const rowsRead = Number(/rows_read=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1]);
      // The admin token reads no token row: the task's 5 logs (grouping re-reads them from
      // its sorters), never the 30 other logs of the dataset.
      expect(rowsRead, q).toBeGreaterThanOrEqual(q.includes("num=2") ? 2 : 5);
      expect(rowsRead, q).toBeLessThanOrEqual(q.includes("group") ? 15 : 6);
    }
  });
});

describe("DELETE /datasets/{d}/tasks/{t}/logs", () => {
  it("deletes the task's logs only and answers {}", async () => {
    await grantDataset("tdel");
    const mine = [
      await postLog({ data: "a", task_id: "x" }, { token: t.writer, dataset: "tdel" }),
      await postLog({ data: "b", task_id: "x" }, { token: t.writer, dataset: "tdel" }),
    ];
    const other = await postLog({ data: "c", task_id: "y" }, { token: t.writer, dataset: "tdel" });
    expect((await callJson("/datasets/tdel/tasks/x/logs", { method: "DELETE", token: t.reader })).status).toBe(403);
    expect(await callJson("/datasets/tdel/tasks/x/logs", { method: "DELETE", token: t.writer })).toMatchObject({
      status: 200,
      body: {},
    });
    expect((await callJson("/datasets/tdel/tasks/x/logs", { token: t.reader })).status).toBe(404);
    await expectGone(mine);
    expect(await logRow(other)).not.toBeNull();
  });
});

const ndjson = { Accept: "application/x-ndjson" };

describe("DELETE /datasets/{d}/logs (NDJSON progress to who asks, one JSON status to others)", () => {
  it("streams deleting lines with the total, then complete, and deletes every log of the dataset", async () => {
    await grantDataset("bulk");
    // 230 logs: three batches of at most 100.
    const values = Array.from({ length: 230 }, (_, i) => i);
    const ids: string[] = [];
    for (let i = 0; i < values.length; i += 10) {
      ids.push(
        ...(await Promise.all(
          values
            .slice(i, i + 10)
            .map((v) => postLog({ data: `l${v}`, task_id: `t${v % 7}` }, { token: t.writer, dataset: "bulk" })),
        )),
      );
    }
    const keep = await postLog({ data: "keep" }, { token: t.writer, dataset: "tdel2" }).catch(() => null);
    expect(keep).toBeNull(); // tdel2 has no record: the writer may not post there

    const res = await call("/datasets/bulk/logs", { method: "DELETE", token: t.writer, headers: ndjson });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await readLines(res)) as Array<{ status: string; percent_complete: number; total?: number }>;
    expect(lines.at(-1)).toEqual({ status: "complete", percent_complete: 100 });
    const progress = lines.slice(0, -1);
    expect(progress.length).toBe(3);
    for (const l of progress) expect(l).toMatchObject({ status: "deleting", total: 230 });
    expect(progress.map((l) => l.percent_complete)).toEqual([43, 86, 100]);
    await expectGone(ids);
  }, 60_000);

  it("answers an empty dataset with the complete line only, and errors before any line", async () => {
    await grantDataset("emptyds");
    const res = await call("/datasets/emptyds/logs", { method: "DELETE", token: t.writer, headers: ndjson });
    expect(await readLines(res)).toEqual([{ status: "complete", percent_complete: 100 }]);
    const refused = await callJson("/datasets/emptyds/logs", { method: "DELETE", token: t.reader });
    expect(refused).toMatchObject({ status: 403, body: { code: 403, error: "authorization failed" } });
    expect((await callJson("/datasets/unknownds/logs", { method: "DELETE", token: t.writer })).body).toEqual({
      code: 403,
      error: "attr not found",
    });
  });

  it("answers a caller that does not ask for NDJSON with one JSON object, after deleting everything", async () => {
    await grantDataset("plainds");
    // No Accept (IceProd's RestClient), curl's */*, JSON explicitly, and NDJSON refused by q=0.
    const accepts = [
      undefined,
      "*/*",
      "application/json",
      "application/json, application/x-ndjson;q=0.5",
      "application/x-ndjson;q=0",
    ];
    for (const accept of accepts) {
      const ids = [];
      for (let i = 0; i < 3; i++)
        ids.push(await postLog({ data: `p${i}`, task_id: "t" }, { token: t.writer, dataset: "plainds" }));
      const res = await call("/datasets/plainds/logs", {
        method: "DELETE",
        token: t.writer,
        headers: accept ? { Accept: accept } : {},
      });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get("content-type"), accept).toMatch(/^application\/json/);
      // The whole body is one JSON document: what `json.loads(r.content)` needs.
      expect(JSON.parse(await res.text()), accept).toEqual({ status: "complete", percent_complete: 100 });
      await expectGone(ids);
    }
    // Asking for NDJSON in any of the usual ways streams lines.
    for (const accept of [
      "application/x-ndjson",
      "application/json;q=0.5, application/x-ndjson",
      "Application/X-NDJSON",
    ]) {
      const res = await call("/datasets/plainds/logs", {
        method: "DELETE",
        token: t.writer,
        headers: { Accept: accept },
      });
      expect(res.headers.get("content-type"), accept).toContain("application/x-ndjson");
      expect(await readLines(res)).toEqual([{ status: "complete", percent_complete: 100 }]);
    }
  });
});

describe("query plans: every filter is an index range", () => {
  const plan = async (q: { toSQL(): { sql: string; params: unknown[] } }) => {
    const { sql, params } = q.toSQL();
    const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>();
    return rows.results.map((r) => r.detail).join(" | ");
  };
  const db = () => database(env);
  const base = { order: "desc" as const, withData: true };

  it("uses the (…, timestamp) indexes for task, dataset, name, time and group queries", async () => {
    expect(await plan(listQuery(db(), { ...base, datasetId: "d", taskId: "t" }, null))).toMatch(
      /USING INDEX logs_dataset_task_time/,
    );
    expect(await plan(listQuery(db(), { ...base, datasetId: "d", taskId: "t" }, "2026-01-01T00:00:00.000000"))).toMatch(
      /USING INDEX logs_dataset_task_time/,
    );
    expect(await plan(listQuery(db(), { ...base, datasetId: "d" }, null))).toMatch(/USING INDEX logs_dataset_time/);
    expect(await plan(listQuery(db(), { ...base, name: "stdout", from: "2026" }, null))).toMatch(
      /USING INDEX logs_name_time/,
    );
    expect(await plan(listQuery(db(), { ...base, taskId: "t" }, null))).toMatch(/USING INDEX logs_task_time/);
    expect(await plan(listQuery(db(), { ...base, from: "2026", to: "2027" }, null))).toMatch(
      /USING INDEX logs_timestamp/,
    );
    expect(await plan(latestPerNameQuery(db(), "d", "t", { order: "desc", num: 0, withData: false }))).toMatch(
      /USING INDEX logs_dataset_task_time/,
    );
    for (const p of [
      await plan(listQuery(db(), { ...base, datasetId: "d", taskId: "t" }, null)),
      await plan(listQuery(db(), { ...base, name: "n" }, null)),
    ]) {
      expect(p).not.toMatch(/SCAN logs(?! USING)/);
      expect(p).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    }
  });

  it("finds the newest timestamp for an insert with one index probe", async () => {
    const rows = await env.DB.prepare("EXPLAIN QUERY PLAN SELECT ts_us FROM logs ORDER BY timestamp DESC LIMIT 1").all<{
      detail: string;
    }>();
    expect(rows.results.map((r) => r.detail).join(" | ")).toMatch(/SCAN logs USING INDEX logs_timestamp/);
  });
});
