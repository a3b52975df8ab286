import { describe, expect, it } from "vitest";
import { prefersCsv } from "../src/monitor/csv";
import { call, callJson } from "./helpers/http";
import { metricsOf, pluginMetric } from "./helpers/monitor";

const api = "/api/v1";
const CSV = { Accept: "text/csv" };

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  if (field !== "" || row.length) throw new Error("last record not terminated by CRLF");
  return rows;
}

const NUMERIC = ["total_time", "user_time", "kernel_time", "cpu_usage", "mem_usage"];
/** CSV rows back to metric objects, numbers where JSON has numbers. */
const asMetrics = (rows: string[][]) =>
  rows.slice(1).map((r) => Object.fromEntries(rows[0].map((k, i) => [k, NUMERIC.includes(k) ? Number(r[i]) : r[i]])));

async function post(json: unknown) {
  const r = await callJson(`${api}/metrics/`, { method: "POST", json });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

describe("metrics lists as CSV (Accept: text/csv)", () => {
  it("streams a page as CSV with the same rows as the JSON page, links in a Link header", async () => {
    const h = "c5c5c5c5000000000000000000000001";
    await post(metricsOf(h, 1000).map((m, i) => ({ ...m, item_start_time: `a${String(i).padStart(4, "0")}` })));
    await post(metricsOf(h, 20).map((m, i) => ({ ...m, item_start_time: `b${String(i).padStart(4, "0")}` })));

    const res = await call(`${api}/sessions/${h}/metrics?page=2`, { headers: CSV });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8; header=present");
    expect(res.headers.get("vary")).toContain("Accept");
    expect(res.headers.get("x-total-pages")).toBe("3");
    // The Link header carries the JSON page's own next/prev links (keyset cursors included), made absolute.
    const page2 = await callJson(`${api}/sessions/${h}/metrics?page=2`);
    expect(page2.body.next_url).toMatch(/page=3/);
    expect(res.headers.get("link")).toBe(
      `<http://opshub.test${page2.body.next_url}>; rel="next", <http://opshub.test${page2.body.prev_url}>; rel="prev"`,
    );
    expect(res.headers.get("server-timing")).toMatch(/rows_read=/);
    // Streamed: the body arrives in several chunks (a header line, then rows a hundred at a time).
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let chunks = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += decoder.decode(r.value, { stream: true });
      chunks++;
    }
    expect(chunks).toBeGreaterThan(2);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual([
      "session_h",
      "context_h",
      "item_start_time",
      "item_path",
      "item",
      "item_variant",
      "item_fs_loc",
      "kind",
      "component",
      "total_time",
      "user_time",
      "kernel_time",
      "cpu_usage",
      "mem_usage",
    ]);
    const json = await callJson(`${api}/sessions/${h}/metrics?page=2`);
    expect(json.body.metrics).toHaveLength(500);
    expect(asMetrics(rows)).toEqual(json.body.metrics);

    // The last page: only a prev link.
    const last = await call(`${api}/sessions/${h}/metrics?page=-1`, { headers: CSV });
    const lastJson = await callJson(`${api}/sessions/${h}/metrics?page=-1`);
    expect(lastJson.body.next_url ?? null).toBeNull();
    expect(last.headers.get("link")).toBe(`<http://opshub.test${lastJson.body.prev_url}>; rel="prev"`);
    expect(parseCsv(await last.text())).toHaveLength(1 + 20);
  });

  it("quotes fields with commas, quotes and line breaks, and keeps negative numbers", async () => {
    const h = "c5c5c5c5000000000000000000000002";
    const odd = pluginMetric({
      session_h: h,
      item: "test_q",
      item_variant: 'test_q[a, "b"]',
      item_fs_loc: "tests/x\ny.py",
      mem_usage: -0.125,
      component: "csv-odd",
    });
    await post(odd);
    const text = await (await call(`${api}/components/csv-odd/metrics`, { headers: CSV })).text();
    expect(text).toContain('"test_q[a, ""b""]"');
    expect(asMetrics(parseCsv(text))).toEqual([odd]);
  });

  it("applies to every metrics list, with its filters (and to the head/tail lists)", async () => {
    const h = "c5c5c5c5000000000000000000000003";
    await post(metricsOf(h, 14, { component: "csv-filter" }));
    for (const path of [
      `/components/csv-filter/items/test_3/metrics`,
      `/resources/memory/components/csv-filter/head/4/metrics`,
    ]) {
      const json = await callJson(`${api}${path}`);
      const csv = parseCsv(await (await call(`${api}${path}`, { headers: CSV })).text());
      expect(asMetrics(csv), path).toEqual(json.body.metrics);
      expect(csv.length, path).toBeGreaterThan(1);
    }
  });

  it("leaves JSON, errors, empty pages and other lists as they are", async () => {
    const h = "c5c5c5c5000000000000000000000004";
    await post(metricsOf(h, 2));
    const json = await call(`${api}/sessions/${h}/metrics`, {
      headers: { Accept: "application/json, text/csv;q=0.5" },
    });
    expect(json.headers.get("content-type")).toMatch(/^application\/json/);
    expect(json.headers.get("vary")).toContain("Accept");
    const wildcard = await call(`${api}/sessions/${h}/metrics`, { headers: { Accept: "*/*" } });
    expect(wildcard.headers.get("content-type")).toMatch(/^application\/json/);

    const missing = await callJson(`${api}/sessions/${h}/metrics?page=5`, { headers: CSV });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ message: expect.stringMatching(/Page 5/) });
    const bad = await callJson(`${api}/sessions/${h}/metrics?page=x`, { headers: CSV });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual({ page: "must be a non-zero integer" });
    const empty = await call(`${api}/sessions/no-metrics-here/metrics`, { headers: CSV });
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe("");
    const sessions = await call(`${api}/sessions/`, { headers: CSV });
    expect(sessions.headers.get("content-type") ?? "").not.toMatch(/csv/);
  });

  it("neutralises cells a spreadsheet would run as formulas (OWASP: a leading ')", async () => {
    const h = "c5c5c5c5000000000000000000000009";
    const evil = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "plain"];
    await post(
      evil.map((text, i) =>
        pluginMetric({ session_h: h, item_start_time: `t${i}`, item: text, item_path: text, mem_usage: -1.5 }),
      ),
    );
    const res = await call(`${api}/sessions/${h}/metrics`, { headers: CSV });
    const rows = parseCsv(await res.text());
    const column = (name: string) => rows.slice(1).map((r) => r[rows[0].indexOf(name)]);
    const expected = ['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", "'\tcmd", "'\rcmd", "plain"];
    expect(column("item")).toEqual(expected);
    expect(column("item_path")).toEqual(expected);
    // Numbers are the server's own: a negative value stays a number.
    expect(column("mem_usage")).toEqual(evil.map(() => "-1.5"));
    // JSON is unchanged.
    const json = await callJson(`${api}/sessions/${h}/metrics`);
    expect(json.body.metrics.map((m: { item: string }) => m.item)).toEqual(evil);
  });

  it("reads Accept weights: CSV when it is named and not outweighed by JSON", () => {
    expect(prefersCsv("text/csv")).toBe(true);
    expect(prefersCsv("text/csv, application/json;q=0.9")).toBe(true);
    expect(prefersCsv("application/json, text/csv;q=0.5")).toBe(false);
    expect(prefersCsv("text/csv;q=0")).toBe(false);
    expect(prefersCsv("*/*")).toBe(false);
    expect(prefersCsv(undefined)).toBe(false);
  });
});

describe("a streamed CSV answer", () => {
  it("keeps the request id on the streamed answer", async () => {
    const h = "c5c5c5c5000000000000000000000009";
    await post(metricsOf(h, 3));
    const res = await call(`${api}/sessions/${h}/metrics`, { headers: { ...CSV, "X-Request-Id": "csv-export-1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("x-request-id")).toBe("csv-export-1");
  });
});
