/** Reading numbers from the text a request carries (query arguments, path segments, headers) or a variable holds. */

/** Strict positive-or-negative integer parse: "2", "-1"; null for anything else. */
export function parseInteger(raw: string | undefined | null): number | null {
  if (raw == null || !/^[+-]?\d{1,15}$/.test(raw.trim())) return null;
  return Number(raw.trim());
}
