import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, errors } from "./errors";

/** Default cap on a JSON request body; families with bigger documents pass their own. */
export const JSON_BODY_MAX = 1024 * 1024;

/**
 * Reads the request body as JSON whatever its Content-Type (curl users forget it),
 * refusing bodies over `maxBytes` before reading them whole when the length is known.
 * `empty` is returned for an empty body.
 *
 * Not hono/body-limit: that middleware copies a chunked body into a buffer grown by
 * doubling and hands the route a new Request to read again (two copies of the biggest
 * bodies), answers 413 before the route knows its family's limit and message, and
 * trusts Content-Length without counting. Here the limit is the route's own, counted
 * while the body is read once.
 */
export async function readJson(
  c: Context,
  opts: { maxBytes?: number; tooLarge?: string; empty?: unknown } = {},
): Promise<unknown> {
  const max = opts.maxBytes ?? JSON_BODY_MAX;
  const tooLarge = () => errors.tooLarge(opts.tooLarge ?? `request body is larger than ${max} bytes`);
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (declared > max) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return opts.empty;
  // Count while reading, for chunked bodies that declared no length.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const text = new TextDecoder().decode(concat(chunks, size));
  if (text.trim() === "") return opts.empty;
  return parseJsonDocument(text);
}

/**
 * How deep any JSON document the service accepts may nest (objects and arrays).
 * SQLite's JSON functions refuse depth over 1000 and recursive code overflows long
 * before a body limit is reached, so every document is refused at the door past this.
 */
export const JSON_MAX_DEPTH = 32;

/** JSON.parse plus the depth limit: a 400 for malformed or too deeply nested text. */
export function parseJsonDocument(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw errors.malformedJson();
  }
  assertJsonDepth(value);
  return value;
}

/** Refuses a parsed document nested deeper than JSON_MAX_DEPTH. Iterative: no stack to overflow. */
export function assertJsonDepth(value: unknown, what = "JSON document") {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth > JSON_MAX_DEPTH) {
      throw new ApiError("validation", `${what} nests deeper than ${JSON_MAX_DEPTH} levels`);
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
}

/** The chunks of a body read whole, as one array (the chunk itself when there is one). */
export function concat(chunks: Uint8Array[], size: number) {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Field path → message, the shape every dialect's validation error starts from. */
export function issuesToFields(issues: z.core.$ZodIssue[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const key = issue.path.map(String).join(".") || "(body)";
    if (fields[key]) continue;
    fields[key] = /received undefined$/.test(issue.message) ? "Missing required parameter" : issue.message;
  }
  return fields;
}

/** Validates input with a zod schema; failures become a 400 naming each field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  message = "Input payload validation failed",
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ApiError("validation", message, { fields: issuesToFields(result.error.issues) });
}
