import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** What went wrong, independent of how a family words it. */
export type ErrorKind =
  | "unauthenticated" // no token, or one that is unknown or revoked
  | "forbidden" // the token may not do this
  | "not_found"
  | "method_not_allowed"
  | "malformed_json"
  | "too_large"
  | "validation" // well-formed input that breaks the schema
  | "conflict"
  | "other";

const defaultStatus: Record<ErrorKind, ContentfulStatusCode> = {
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  malformed_json: 400,
  too_large: 413,
  validation: 400,
  conflict: 409,
  other: 400,
};

/**
 * The one problem type every route throws. Each API family renders it in its own
 * dialect (its clients parse error bodies); the dialect is chosen by the request path.
 */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    opts: {
      status?: ContentfulStatusCode;
      /** Field name → what is wrong, for validation failures. */
      fields?: Record<string, string>;
      /** Dialect-specific extras (an error code, a title). */
      extra?: Record<string, unknown>;
      /** Response headers the error carries whatever the dialect (a 405's `Allow`). */
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.status = opts.status ?? defaultStatus[kind];
    this.fields = opts.fields;
    this.extra = opts.extra;
    this.headers = opts.headers;
  }
  readonly fields?: Record<string, string>;
  readonly extra?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

/** Shorthands for the errors every family throws. */
export const errors = {
  unauthenticated: (m = "authentication required") => new ApiError("unauthenticated", m),
  forbidden: (m = "forbidden") => new ApiError("forbidden", m),
  notFound: (m = "not found") => new ApiError("not_found", m),
  methodNotAllowed: (allow: string[], m = "method not allowed") =>
    new ApiError("method_not_allowed", m, { headers: { Allow: allow.join(", ") } }),
  malformedJson: (m = "Malformed JSON") => new ApiError("malformed_json", m),
  tooLarge: (m: string) => new ApiError("too_large", m),
  badRequest: (m: string, fields?: Record<string, string>) =>
    new ApiError(fields ? "validation" : "other", m, { fields }),
  conflict: (m: string) => new ApiError("conflict", m),
};

/** How a family writes an error: the status its clients expect and the body they parse. */
export interface Dialect {
  name: string;
  render(error: ApiError): { status: ContentfulStatusCode; body: unknown };
}

/** `{"message": ...}`: the admin routes and paths no family owns. */
export const plainDialect: Dialect = {
  name: "plain",
  render: (e) => ({
    status: e.status,
    body: e.fields ? { message: e.message, errors: e.fields } : { message: e.message },
  }),
};

export function renderError(c: Context, dialect: Dialect, error: ApiError) {
  const { status, body } = dialect.render(error);
  return c.json(body as object, status, error.headers);
}

/** Path → dialect: the one place that says which family answers a failing or unmatched request. */
export class DialectTable {
  private entries: Array<{ test: RegExp; dialect: Dialect }> = [];
  add(test: RegExp, dialect: Dialect) {
    this.entries.push({ test, dialect });
    return this;
  }
  for(path: string): Dialect {
    return this.entries.find((e) => e.test.test(path))?.dialect ?? plainDialect;
  }
}
