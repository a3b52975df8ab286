/**
 * Resolved tokens kept in the isolate, so a warm isolate answers a token without a D1
 * query. The bound is what a revocation elsewhere may take to reach this isolate: a
 * revoked token keeps working here for at most `ttlMs` after it was last looked up
 * (the isolate that revoked it forgets it at once). Contract: docs/api/auth.md.
 */

/** Default lifetime of a resolved token, seconds (`AUTH_CACHE_SECONDS`; 0 turns the cache off). */
export const AUTH_CACHE_SECONDS = 10;
/** Most tokens one isolate keeps; the oldest entry makes room for a new one. */
export const AUTH_CACHE_MAX_ENTRIES = 1000;
/**
 * Most refusals one isolate remembers, apart from the tokens: a stream of random tokens
 * pushes out only older refusals, never a valid token.
 */
export const AUTH_CACHE_MAX_REFUSALS = 500;
/**
 * An unknown token is remembered this long at most: enough to keep a burst of bad
 * requests off D1, too short to lock out a token minted just after.
 */
export const AUTH_CACHE_NEGATIVE_MS = 1000;

interface Entry<T> {
  value: T | null;
  /** Token record id, to forget every entry of a revoked token. */
  tokenId: string | null;
  expires: number;
}

export class TokenCache<T> {
  /** Valid tokens, oldest first (Map order is insertion order). */
  private entries = new Map<string, Entry<T>>();
  /** Refused tokens, kept apart so they can never push a valid token out. */
  private refusals = new Map<string, Entry<T>>();
  /** Moves on at each revocation: a lookup that started before it must not be kept. */
  private generation = 0;
  constructor(
    private readonly now: () => number = Date.now,
    readonly maxEntries = AUTH_CACHE_MAX_ENTRIES,
    readonly maxRefusals = AUTH_CACHE_MAX_REFUSALS,
  ) {}

  /** The cached answer for a token hash: `undefined` when unknown or expired, `null` for a refused token. */
  get(hash: string): T | null | undefined {
    for (const map of [this.entries, this.refusals]) {
      const e = map.get(hash);
      if (!e) continue;
      if (e.expires <= this.now()) {
        map.delete(hash);
        return undefined;
      }
      return e.value;
    }
    return undefined;
  }

  /** Taken before a lookup and handed to `set`, so a revocation during the lookup wins. */
  begin(): number {
    return this.generation;
  }

  /** Keeps a lookup's answer for `ttlMs` (a refusal for at most AUTH_CACHE_NEGATIVE_MS). */
  set(hash: string, value: T | null, tokenId: string | null, ttlMs: number, startedAt = this.generation) {
    const ms = value === null ? Math.min(ttlMs, AUTH_CACHE_NEGATIVE_MS) : ttlMs;
    if (ms <= 0 || startedAt !== this.generation) return;
    this.forget(hash); // re-inserted last: Map order is age order
    const [map, max] = value === null ? [this.refusals, this.maxRefusals] : [this.entries, this.maxEntries];
    while (map.size >= max) map.delete(map.keys().next().value as string);
    map.set(hash, { value, tokenId, expires: this.now() + ms });
  }

  /** Forgets the token with this record id (revoked here: refused from the next request on). */
  forgetTokenId(tokenId: string) {
    this.generation++;
    for (const [hash, e] of this.entries) if (e.tokenId === tokenId) this.entries.delete(hash);
  }

  /** Forgets one token hash (just minted here: a remembered refusal must not outlive it). */
  forget(hash: string) {
    this.entries.delete(hash);
    this.refusals.delete(hash);
  }

  /** Tokens and refusals held. */
  get size() {
    return this.entries.size + this.refusals.size;
  }

  clear() {
    this.entries.clear();
    this.refusals.clear();
  }
}

/** The lifetime the deployment configured, in ms (a bad or missing value is the default). */
export function cacheTtlMs(env: { AUTH_CACHE_SECONDS?: string }): number {
  const raw = env.AUTH_CACHE_SECONDS;
  const seconds = raw === undefined || raw.trim() === "" ? NaN : Number(raw);
  // At most a minute: the bound on revocation must stay far below a keystone-style cache.
  return (Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 60) : AUTH_CACHE_SECONDS) * 1000;
}
