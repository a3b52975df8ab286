/** What every store needs to know about D1 itself: its parameter bound, its errors, and hex keys. */

/** D1 binds at most 100 parameters a statement. */
export const D1_MAX_PARAMS = 100;

/** Rows of `paramsPerRow` bound parameters that fit in one statement which also binds `fixed` others. */
export function rowsPerStatement(paramsPerRow: number, fixed = 0): number {
  return Math.floor((D1_MAX_PARAMS - fixed) / paramsPerRow);
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
