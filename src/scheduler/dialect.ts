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

/** Freezer's own wording for three errors, whatever message OpsHub had for them. */
function freezerDescription(kind: ErrorKind, message: string): string {
  if (kind === "forbidden") return "You are not allowed to access this resource";
  if (kind === "unauthenticated") return "The request you have made requires authentication.";
  if (kind === "malformed_json" && message === "Malformed JSON")
    return "Could not decode the request body. The JSON was incorrect.";
  return message;
}

/** The title freezerclient prints: a 5xx is always "Internal Server Error". */
function freezerTitle(kind: ErrorKind, status: number): string {
  if (status >= 500) return "Internal Server Error";
  if (kind === "other" && status !== 400) return "Error";
  return titles[kind];
}

/**
 * Freezer v2 errors: `{"title", "description"}` (freezerclient prints
 * `[*] Error <status>: <description>`). An `extra.title` overrides the title.
 */
export const schedulerDialect: Dialect = {
  name: "scheduler",
  render: (e) => {
    const status = e.status as ContentfulStatusCode;
    const title = (e.extra?.title as string | undefined) ?? freezerTitle(e.kind, status);
    return { status, body: { title, description: freezerDescription(e.kind, e.message) } };
  },
};
