import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Dialect, ErrorKind } from "../http/errors";

/** Freezer API's titles, which its clients print beside the description. */
const titles: Record<ErrorKind, string> = {
  unauthenticated: "Not Authorized",
  forbidden: "Access Forbidden",
  not_found: "Not Found",
  method_not_allowed: "Bad Method",
  malformed_json: "Malformed JSON",
  too_large: "Request Entity Too Large",
  validation: "Bad request format",
  conflict: "Document already existing",
  other: "Bad request format",
};

/**
 * Freezer v2 errors: `{"title", "description"}` (freezerclient prints
 * `[*] Error <status>: <description>`). An `extra.title` overrides the title.
 */
export const schedulerDialect: Dialect = {
  name: "scheduler",
  render: (e) => {
    const status = e.status as ContentfulStatusCode;
    const title =
      (e.extra?.title as string | undefined) ??
      (status >= 500 ? "Internal Server Error" : e.kind === "other" && status !== 400 ? "Error" : titles[e.kind]);
    const description =
      e.kind === "forbidden"
        ? "You are not allowed to access this resource"
        : e.kind === "malformed_json" && e.message === "Malformed JSON"
          ? "Could not decode the request body. The JSON was incorrect."
          : e.kind === "unauthenticated"
            ? "The request you have made requires authentication."
            : e.message;
    return { status, body: { title, description } };
  },
};
