import type { MiddlewareHandler } from "hono";
import { requestId as honoRequestId } from "hono/request-id";
import type { AppEnv } from "./env";

/** The caller's X-Request-Id when it is a plain token (Hono's check), else Cloudflare's ray id, else a new one. */
const assignRequestId = honoRequestId({ generator: (c) => c.req.header("cf-ray") ?? crypto.randomUUID() });

/**
 * Every response carries its request id (`c.var.requestId`, header X-Request-Id) for support
 * and logs. Hono's middleware sets the header before the route runs, which a route that
 * answers with its own Response (a stream, an R2 body) replaces: it is set again after.
 */
export const requestId: MiddlewareHandler<AppEnv> = (c, next) =>
  assignRequestId(c, async () => {
    await next();
    c.res.headers.set("X-Request-Id", c.var.requestId);
  });

/** An error as it may be logged: kinds and ids, never the values a query was bound to. */
export interface ErrorSummary {
  name: string;
  message: string;
  cause?: ErrorSummary;
  /** Stack frames only: the first stack line repeats the message. */
  at?: string[];
}

/**
 * What an error log may say about `err`. Drizzle's query errors carry the SQL and its
 * bound parameters in their message ("Failed query: … params: …") and D1's quote the
 * offending value ("… for value '…'"), so the message is cut to its first line, quoted
 * parts are blanked, the query text dropped, and the stack keeps only its frames.
 */
export function errorSummary(err: unknown, depth = 0): ErrorSummary {
  if (!(err instanceof Error)) return { name: typeof err, message: "(not an Error)" };
  const first = err.message.split("\n", 1)[0];
  const message = /^Failed query:/.test(first)
    ? "query failed (see cause)"
    : first.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "'…'").slice(0, 200);
  const summary: ErrorSummary = { name: err.name, message };
  if (depth < 2 && err.cause !== undefined) summary.cause = errorSummary(err.cause, depth + 1);
  const frames = (err.stack ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("at "))
    .slice(0, 8);
  if (depth === 0 && frames.length) summary.at = frames;
  return summary;
}

/** Logs a failure the caller cannot see, by request id and a safe summary of the error. */
export function logFailure(c: { var: { requestId?: string } }, what: string, err: unknown) {
  console.error(JSON.stringify({ requestId: c.var.requestId, failed: what, error: errorSummary(err) }));
}
