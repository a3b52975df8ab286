/** What every store needs to know about D1 itself: its parameter bound, its errors, and hex keys. */

/** D1 binds at most 100 parameters a statement. */
export const D1_MAX_PARAMS = 100;

/** Rows of `paramsPerRow` bound parameters that fit in one statement which also binds `fixed` others. */
export function rowsPerStatement(paramsPerRow: number, fixed = 0): number {
  return Math.floor((D1_MAX_PARAMS - fixed) / paramsPerRow);
}

/**
 * Rows travel to D1 as one JSON parameter per statement (read back by json_each), so many
 * rows are a handful of statements; D1 takes a value of up to 2 MB, so a list longer than
 * this many characters (≤ 3 bytes each) is split over several statements.
 */
const JSON_PARAM_CHARS = 600_000;

/** `rows` as JSON array texts, each small enough to bind as one parameter, in order. */
export function jsonParts(rows: readonly unknown[]): string[] {
  const out: string[] = [];
  let part: string[] = [];
  let size = 2;
  for (const text of rows.map((r) => JSON.stringify(r))) {
    if (part.length && size + text.length + 1 > JSON_PARAM_CHARS) {
      out.push(`[${part.join(",")}]`);
      part = [];
      size = 2;
    }
    part.push(text);
    size += text.length + 1;
  }
  if (part.length) out.push(`[${part.join(",")}]`);
  return out;
}

/** `items` cut into consecutive runs of at most `size` (one statement each). */
export function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Whether a failed write broke a UNIQUE key: D1 says so in its message, which drizzle keeps as the cause. */
export function isUniqueViolation(e: unknown): boolean {
  return /UNIQUE constraint failed/i.test(String((e as Error)?.message ?? e) + String((e as Error)?.cause ?? ""));
}

/** Bytes as lowercase hex, two digits each. */
export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `bytes` random bytes as 2 × `bytes` lowercase hex digits: ids and secrets. */
export function randomHex(bytes: number): string {
  return hex(crypto.getRandomValues(new Uint8Array(bytes)));
}
