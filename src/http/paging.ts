/** Helpers for the page-numbered lists several families serve. */

/**
 * Rebuilds the request's path and query with some arguments replaced, so a link
 * keeps the route and every other argument (relative: `/api/v1/sessions/?page=2`).
 */
export function relativeLink(url: URL, set: Record<string, string | number | null>): string {
  const params = new URLSearchParams(url.search);
  for (const [k, v] of Object.entries(set)) {
    if (v === null) params.delete(k);
    else params.set(k, String(v));
  }
  const q = params.toString();
  return url.pathname + (q ? `?${q}` : "");
}

export function absoluteLink(url: URL, set: Record<string, string | number | null>): string {
  return url.origin + relativeLink(url, set);
}

/** Pages needed for `total` rows at `size` per page. */
export function pageCount(total: number, size: number): number {
  return Math.ceil(total / size);
}

/**
 * Maps a 1-based page number, negative counting from the end (-1 is the last), to
 * its 1-based position, or null when it is out of range.
 */
export function resolvePage(page: number, pages: number): number | null {
  const p = page < 0 ? pages + 1 + page : page;
  return p >= 1 && p <= pages ? p : null;
}
