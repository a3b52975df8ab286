import type { Dialect } from "../http/errors";

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Request Entity Too Large",
  500: "Internal Server Error",
};

/**
 * Ceilometer v2 errors: `{"error": {"code", "message", "title"}}`. A missing or bad
 * token is Keystone middleware's 401 sentence; validation failures name each field the
 * way WSME does.
 */
export const telemetryDialect: Dialect = {
  name: "telemetry",
  render: (e) => {
    const message =
      e.kind === "unauthenticated"
        ? "The request you have made requires authentication."
        : e.fields
          ? fieldsMessage(e.fields)
          : e.message;
    return { status: e.status, body: { error: { code: e.status, message, title: titles[e.status] ?? "Error" } } };
  },
};

/** The first few invalid fields (a 1000-sample post could name thousands). */
function fieldsMessage(fields: Record<string, string>): string {
  const entries = Object.entries(fields);
  const shown = entries.slice(0, 3).map(([field, reason]) => `Invalid input for field/attribute ${field}. ${reason}`);
  if (entries.length > 3) shown.push(`(and ${entries.length - 3} more)`);
  return shown.join(" ");
}
