import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { database } from "../src/db/client";
import { errorSummary } from "../src/http/observe";
import { call, callJson } from "./helpers/http";
import { grantDataset, logRow, logsCallers, postLog } from "./helpers/logs";

let t: Awaited<ReturnType<typeof logsCallers>>;

beforeAll(async () => {
  t = await logsCallers();
  await grantDataset("halfdel");
});

describe("a log row whose R2 body is gone (a delete stopped between bodies and rows)", () => {
  it("answers 404 with a reason on every single-log read, never a length with no body", async () => {
    const big = "line of a long log\n".repeat(5000); // 95,000 bytes: over LOG_INLINE_MAX, so in R2
    const id = await postLog({ name: "stdout", data: big, dataset_id: "halfdel", task_id: "t1" }, { token: t.system });
    expect((await logRow(id))!.in_r2).toBe(1);
    await env.LOG_BODIES.delete(`logs/${id}`);

    for (const [path, token, headers] of [
      [`/logs/${id}`, t.system, {}],
      [`/logs/${id}/data`, t.system, {}],
      [`/logs/${id}/data`, t.system, { Range: "bytes=0-99" }],
      [`/datasets/halfdel/logs/${id}`, t.reader, {}],
      [`/datasets/halfdel/logs/${id}/data`, t.reader, {}],
    ] as const) {
      const res = await call(path, { token, headers });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json/);
      const text = await res.text();
      expect(Number(res.headers.get("content-length") ?? text.length), path).toBe(
        new TextEncoder().encode(text).byteLength,
      );
      expect(JSON.parse(text), path).toEqual({
        code: 404,
        error: expect.stringMatching(/^Log not found: its body is gone/),
      });
    }
  });

  it("leaves it out of lists (it is being deleted) and lets the delete be finished", async () => {
    const gone = await postLog(
      { name: "stdout", data: "x".repeat(70_000), dataset_id: "halfdel", task_id: "t2" },
      { token: t.system },
    );
    const kept = await postLog(
      { name: "stderr", data: "y".repeat(70_000), dataset_id: "halfdel", task_id: "t2" },
      { token: t.system },
    );
    const small = await postLog(
      { name: "stdlog", data: "inline", dataset_id: "halfdel", task_id: "t2" },
      { token: t.system },
    );
    await env.LOG_BODIES.delete(`logs/${gone}`);

    const search = await callJson("/logs?task_id=t2", { token: t.system });
    expect(search.status).toBe(200);
    expect(Object.keys(search.body).sort()).toEqual([kept, small].sort());
    expect(search.body[kept].data).toBe("y".repeat(70_000));
    // Without `data` the body is not needed, so the row still lists.
    expect(Object.keys((await callJson("/logs?task_id=t2&keys=name", { token: t.system })).body)).toContain(gone);

    const task = await callJson("/datasets/halfdel/tasks/t2/logs", { token: t.reader });
    expect(task.body.logs.map((l: { name: string }) => l.name).sort()).toEqual(["stderr", "stdlog"]);

    expect((await callJson(`/logs/${gone}`, { method: "DELETE", token: t.system })).status).toBe(200);
    expect(await logRow(gone)).toBeNull();
  });
});

describe("error logs carry no query text and no bound values", () => {
  it("summarises a failed D1 query without its SQL or parameters", async () => {
    const secret = "s3cret-user-value-7f1e";
    let caught: unknown;
    try {
      await database(env).run(sql`SELECT * FROM logs WHERE name = ${secret} AND no_such_column = ${secret}`);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    // drizzle's own message names the query and its values: exactly what must not be logged.
    expect(String(caught)).toContain(secret);
    const logged = JSON.stringify(errorSummary(caught));
    expect(logged).not.toContain(secret);
    expect(logged).not.toMatch(/SELECT|no_such_column = /);
    expect(errorSummary(caught).cause?.message).toMatch(/no such column/);
  });

  it("blanks quoted parts of error messages, where D1 and SQLite put values and SQL fragments", async () => {
    const secret = "another-secret-9a";
    let caught: unknown;
    try {
      await env.DB.prepare("SELECT ?")
        .bind({ secret } as never)
        .all();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(JSON.stringify(errorSummary(caught))).not.toContain(secret);
    expect(JSON.stringify(errorSummary(new Error(`near "${secret}": syntax error`)))).not.toContain(secret);
  });
});
