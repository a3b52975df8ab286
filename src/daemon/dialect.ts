import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ApiError, Dialect, ErrorKind } from "../http/errors";

/** The original DataHub service's result codes that daemons and the web UI check. */
export const DaemonCode = {
  unauthorized: 1005,
  permissionDenied: 1006,
  invalidParameters: 1007,
  notFound: 1009,
  daemonIdEmpty: 6201,
  notRegistered: 6002,
  internal: 1001,
} as const;

const byKind: Record<ErrorKind, { code: number; msg: string }> = {
  unauthenticated: { code: DaemonCode.unauthorized, msg: "unauthorized" },
  forbidden: { code: DaemonCode.permissionDenied, msg: "permission denied" },
  not_found: { code: DaemonCode.notFound, msg: "not found" },
  method_not_allowed: { code: DaemonCode.invalidParameters, msg: "method not allowed" },
  malformed_json: { code: DaemonCode.invalidParameters, msg: "invalid parameters" },
  too_large: { code: DaemonCode.invalidParameters, msg: "invalid parameters" },
  validation: { code: DaemonCode.invalidParameters, msg: "invalid parameters" },
  conflict: { code: DaemonCode.invalidParameters, msg: "invalid parameters" },
  other: { code: DaemonCode.invalidParameters, msg: "invalid parameters" },
};

/**
 * `{"code": N, "msg": "..."}`, the body DataHub clients parse. The code comes from
 * `extra.code` when a route names one (6201, 6002), else from the kind; the message
 * keeps the original wording first and adds what exactly was wrong.
 */
export const daemonDialect: Dialect = {
  name: "daemon",
  render(e: ApiError) {
    if (e.status >= 500) return { status: e.status, body: { code: DaemonCode.internal, msg: "internal error" } };
    const base = byKind[e.kind];
    const code = typeof e.extra?.code === "number" ? e.extra.code : base.code;
    const detail = e.fields
      ? Object.entries(e.fields)
          .map(([k, v]) => `${k}: ${v}`)
          .join("; ")
      : e.message;
    const msg = typeof e.extra?.code === "number" || detail === base.msg ? e.message : `${base.msg}: ${detail}`;
    return { status: e.status as ContentfulStatusCode, body: { code, msg } };
  },
};
