import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/env";
import { METRIC_COLUMNS } from "./schemas";

/**
 * CSV exports (docs/api/monitor-regressions.md): a GET whose `Accept` prefers
 * `text/csv` over JSON gets any answer that carries a `metrics` array as CSV, one
 * row a metric, streamed. The route answers as always (same filters, same paging);
 * this only rewrites its JSON, so it does not depend on how listings are built. The
 * page's `next_url` / `prev_url` become a `Link` header, `total_page` `X-Total-Pages`.
 * Any other answer (errors, 204, lists of something else) goes out unchanged.
 */
export const metricsAsCsv: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  if (c.req.method !== "GET") return;
  c.res.headers.append("Vary", "Accept");
  if (!prefersCsv(c.req.header("accept")) || c.res.status !== 200) return;
  if (!c.res.headers.get("content-type")?.startsWith("application/json")) return;
  const body = (await c.res.clone().json()) as Record<string, unknown> | null;
  if (!body || !Array.isArray(body.metrics)) return;

  const headers = new Headers({ "content-type": "text/csv; charset=utf-8; header=present", vary: "Accept" });
  const links = (["next", "prev"] as const).flatMap((rel) => {
    const url = body[`${rel}_url`];
    return typeof url === "string" ? [`<${new URL(url, c.req.url).href}>; rel="${rel}"`] : [];
  });
  if (links.length) headers.set("link", links.join(", "));
  if (typeof body.total_page === "number") headers.set("x-total-pages", String(body.total_page));
  // Reset first: assigning over a response would carry its JSON-era headers along.
  c.res = undefined;
  c.res = new Response(csvStream(body.metrics as Array<Record<string, unknown>>), { status: 200, headers });
};

/**
 * Text a spreadsheet would run as a formula: OWASP's list of leading characters (`=`, `+`,
 * `-`, `@`, tab, carriage return). Numbers are written by this server and never match.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. A text
 * field that would start a formula gets a leading `'` first (docs/api/monitor-regressions.md).
 */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const raw = typeof v === "object" ? JSON.stringify(v) : String(v);
  const text = FORMULA_START.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const ROWS_PER_CHUNK = 100;

/** Header line, then rows a chunk at a time as the reader pulls them. */
export function csvStream(rows: Array<Record<string, unknown>>): ReadableStream<Uint8Array> {
  // The metric's keys in the order the plugin sends them; unknown extra keys follow.
  const known: readonly string[] = METRIC_COLUMNS;
  const extra = rows.length ? Object.keys(rows[0]).filter((k) => !known.includes(k)) : [];
  const columns = [...known, ...extra];
  const encoder = new TextEncoder();
  let next = -1;
  return new ReadableStream({
    pull(controller) {
      if (next === -1) {
        controller.enqueue(encoder.encode(`${columns.join(",")}\r\n`));
        next = 0;
        return;
      }
      if (next >= rows.length) return controller.close();
      const chunk = rows.slice(next, next + ROWS_PER_CHUNK);
      next += chunk.length;
      controller.enqueue(
        encoder.encode(chunk.map((r) => `${columns.map((k) => csvField(r[k])).join(",")}\r\n`).join("")),
      );
    },
  });
}

/** `Accept` names text/csv with a weight above 0 and at least JSON's (wildcards do not count). */
export function prefersCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  const weights = new Map<string, number>();
  for (const part of accept.split(",")) {
    const [type, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const weight = q ? Number(q.slice(2)) : 1;
    weights.set(type.trim(), Number.isFinite(weight) ? weight : 0);
  }
  const csv = weights.get("text/csv") ?? 0;
  return csv > 0 && csv >= (weights.get("application/json") ?? 0);
}
