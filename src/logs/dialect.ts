import type { Dialect } from "../http/errors";

/**
 * IceProd REST errors: `{"code": status, "error": reason}`. IceProd answers a missing
 * or bad token with 403 (not 401), and its pilots only look at the status and reason.
 */
export const logsDialect: Dialect = {
  name: "logs",
  render: (e) => {
    if (e.kind === "unauthenticated") return { status: 403, body: { code: 403, error: "authentication failed" } };
    const fields = e.fields
      ? Object.entries(e.fields)
          .map(([k, v]) => `${k}: ${v}`)
          .join("; ")
      : "";
    const error = fields ? `${e.message} (${fields})` : e.message;
    return { status: e.status, body: { code: e.status, error } };
  },
};
