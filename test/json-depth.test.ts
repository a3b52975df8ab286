import { describe, expect, it } from "vitest";
import { JSON_MAX_DEPTH } from "../src/http/body";
import { call, callJson } from "./helpers/http";

const nestedArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

describe("one depth limit for every JSON document", () => {
  it("refuses a body nested past the limit with a 400 in the family's dialect, before storing it", async () => {
    const deep = `{"description":"x","job_actions":${nestedArrays(1200)},"client_id":"c"}`;
    const res = await call("/v2/pdepth/jobs", {
      method: "POST",
      body: deep,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { title: string; description: string };
    expect(body.description).toContain(`deeper than ${JSON_MAX_DEPTH}`);
    const list = await callJson("/v2/pdepth/jobs");
    expect(list.status).toBe(200);
    expect(list.body.jobs).toEqual([]);
  });

  it("refuses deep sample metadata (no stack overflow) and still takes a document at the limit", async () => {
    let meta: unknown = 1;
    for (let i = 0; i < 5000; i++) meta = { a: meta };
    const sample = {
      counter_name: "cpu",
      counter_type: "gauge",
      counter_unit: "%",
      counter_volume: 1,
      resource_id: "r",
      project_id: "p",
    };
    const deep = await callJson("/v2/meters/cpu", { method: "POST", json: [{ ...sample, resource_metadata: meta }] });
    expect(deep).toMatchObject({
      status: 400,
      body: { error: { code: 400, message: expect.stringContaining(`deeper than ${JSON_MAX_DEPTH}`) } },
    });
    let fits: unknown = 1;
    for (let i = 0; i < JSON_MAX_DEPTH - 2; i++) fits = { a: fits };
    const ok = await callJson("/v2/meters/cpu", { method: "POST", json: [{ ...sample, resource_metadata: fits }] });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject([{ counter_name: "cpu", resource_id: "r", resource_metadata: fits }]);
  });

  it("applies to the scheduler's search argument too", async () => {
    const res = await callJson(`/v2/pdepth/jobs?search=${encodeURIComponent(nestedArrays(40))}`);
    expect(res.status).toBe(400);
    expect(res.body.description).toContain(`deeper than ${JSON_MAX_DEPTH}`);
  });
});
