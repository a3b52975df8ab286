import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  AUTH_CACHE_MAX_ENTRIES,
  AUTH_CACHE_MAX_REFUSALS,
  AUTH_CACHE_NEGATIVE_MS,
  cacheTtlMs,
  TokenCache,
} from "../src/auth/cache";
import { resolvePrincipal } from "../src/auth/middleware";
import { call, callJson, mintToken } from "./helpers/http";

/** D1 queries a response reports (no Server-Timing d1 entry: none at all). */
const queriesOf = (res: Response) => Number(/queries=(\d+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? 0);

/** A cache on a clock the test moves by hand. */
function clocked(maxEntries?: number) {
  const clock = { t: 1_000_000 };
  return { clock, cache: new TokenCache<string>(() => clock.t, maxEntries) };
}

describe("token cache (clock injected)", () => {
  it("answers a token until its lifetime ends, then asks again", () => {
    const { clock, cache } = clocked();
    cache.set("h1", "alice", "tok_1", 10_000);
    clock.t += 9_999;
    expect(cache.get("h1")).toBe("alice");
    clock.t += 1;
    expect(cache.get("h1")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("remembers a refusal for at most a second, whatever the lifetime", () => {
    const { clock, cache } = clocked();
    cache.set("bad", null, null, 10_000);
    expect(cache.get("bad")).toBeNull();
    clock.t += AUTH_CACHE_NEGATIVE_MS;
    expect(cache.get("bad")).toBeUndefined();
  });

  it("forgets a revoked token at once, and a lookup that raced the revocation is not kept", () => {
    const { cache } = clocked();
    cache.set("h1", "alice", "tok_1", 10_000);
    cache.set("h2", "bob", "tok_2", 10_000);
    const started = cache.begin(); // a lookup of tok_1 starts, reads the row before the revocation…
    cache.forgetTokenId("tok_1");
    expect(cache.get("h1")).toBeUndefined();
    expect(cache.get("h2")).toBe("bob");
    cache.set("h1", "alice", "tok_1", 10_000, started); // …and ends after it: dropped
    expect(cache.get("h1")).toBeUndefined();
    cache.set("h1", "alice", "tok_1", 10_000, cache.begin());
    expect(cache.get("h1")).toBe("alice");
  });

  it("forgets a remembered refusal when the token is minted in this isolate", () => {
    const { cache } = clocked();
    cache.set("fresh", null, null, 10_000);
    expect(cache.get("fresh")).toBeNull();
    cache.forget("fresh");
    expect(cache.get("fresh")).toBeUndefined();
  });

  it("holds at most its bound, dropping the oldest entry", () => {
    const { cache } = clocked(3);
    for (const h of ["a", "b", "c", "d"]) cache.set(h, h, null, 10_000);
    expect(cache.size).toBe(3);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("d")).toBe("d");
  });

  it("takes its lifetime from AUTH_CACHE_SECONDS: default 10 s, 0 turns it off, at most 60 s", () => {
    expect(cacheTtlMs({})).toBe(10_000);
    expect(cacheTtlMs({ AUTH_CACHE_SECONDS: "0" })).toBe(0);
    expect(cacheTtlMs({ AUTH_CACHE_SECONDS: "2.5" })).toBe(2_500);
    expect(cacheTtlMs({ AUTH_CACHE_SECONDS: "3600" })).toBe(60_000);
    expect(cacheTtlMs({ AUTH_CACHE_SECONDS: "soon" })).toBe(10_000);
    expect(env.AUTH_CACHE_SECONDS).toBe("10");
  });
});

describe("token lookups on a warm isolate", () => {
  it("costs no D1 query once the token was seen", async () => {
    const { token } = await mintToken({ user: "warm-ann", role: "user", projects: ["p1"] });
    const first = await callJson("/auth/whoami", { token });
    expect(first.status).toBe(200);
    expect(queriesOf(first.res)).toBe(1);
    const again = await callJson("/auth/whoami", { token });
    expect(again.body).toMatchObject({ user: "warm-ann", role: "user", projects: ["p1"] });
    expect(queriesOf(again.res)).toBe(0);
    expect(again.res.headers.get("server-timing") ?? "").not.toContain("d1;");
  });

  it("refuses a token revoked through this isolate from the next request on", async () => {
    const { token, id } = await mintToken({ user: "warm-ben", role: "user" });
    expect(await callJson("/auth/whoami", { token })).toMatchObject({
      status: 200,
      body: { user: "warm-ben", role: "user" },
    });
    expect(await callJson("/auth/whoami", { token })).toMatchObject({ status: 200, body: { user: "warm-ben" } }); // cached now
    expect(await callJson(`/auth/tokens/${id}`, { method: "DELETE" })).toMatchObject({
      status: 200,
      body: { id, revoked: true },
    });
    expect(await callJson("/auth/whoami", { token })).toMatchObject({
      status: 401,
      body: { message: "authentication required" },
    });
  });

  it("keeps a token revoked elsewhere only while cached; with the cache off it is refused at once", async () => {
    const { token, id } = await mintToken({ user: "warm-cy", role: "user" });
    const revokeElsewhere = () =>
      env.DB.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?").bind(new Date().toISOString(), id).run();
    const off = { ...env, AUTH_CACHE_SECONDS: "0" };
    expect(await resolvePrincipal(off, token)).toMatchObject({ user: "warm-cy" });
    expect(await resolvePrincipal(env, token)).toMatchObject({ user: "warm-cy" }); // now cached
    await revokeElsewhere(); // another isolate's revocation: this isolate was not told
    expect(await resolvePrincipal(env, token)).toMatchObject({ user: "warm-cy" }); // within the bound
    const { tokenCache } = await import("../src/auth/middleware");
    tokenCache.clear(); // the bound passed (its expiry is shown on the injected clock above)
    expect(await resolvePrincipal(env, token)).toBeNull();
  });
});

describe("refused tokens never push valid ones out", () => {
  it("keeps refusals in a bound of their own (clock injected)", () => {
    const { cache } = clocked();
    for (let i = 0; i < AUTH_CACHE_MAX_ENTRIES; i++) cache.set(`valid${i}`, `user${i}`, `tok_${i}`, 10_000);
    for (let i = 0; i < 10 * AUTH_CACHE_MAX_ENTRIES; i++) cache.set(`random${i}`, null, null, 10_000);
    for (let i = 0; i < AUTH_CACHE_MAX_ENTRIES; i++) expect(cache.get(`valid${i}`)).toBe(`user${i}`);
    expect(cache.size).toBe(AUTH_CACHE_MAX_ENTRIES + AUTH_CACHE_MAX_REFUSALS);
    // The newest refusals are the ones remembered.
    expect(cache.get(`random${10 * AUTH_CACHE_MAX_ENTRIES - 1}`)).toBeNull();
    expect(cache.get("random0")).toBeUndefined();
    // A token that was refused and is then found valid moves over.
    cache.set("random99999", "late", "tok_late", 10_000);
    expect(cache.get("random99999")).toBe("late");
  });

  it("answers text that was never minted without D1, and a well-formed unknown token with one primary read, remembered", async () => {
    for (const junk of ["not-a-token", "ohk_short", `ohk_${"G".repeat(40)}`, "x".repeat(5000)]) {
      const res = await call("/auth/whoami", { token: junk });
      expect([junk.slice(0, 20), res.status, await res.json()]).toEqual([
        junk.slice(0, 20),
        401,
        { message: "authentication required" },
      ]);
      expect(queriesOf(res)).toBe(0);
    }
    const unknown = `ohk_${"0123456789".repeat(4)}`;
    const first = await call("/auth/whoami", { token: unknown });
    expect([first.status, queriesOf(first)]).toEqual([401, 1]);
    const again = await call("/auth/whoami", { token: unknown });
    expect([again.status, queriesOf(again)]).toEqual([401, 0]); // within AUTH_CACHE_NEGATIVE_MS
  });

  it("keeps a warm valid token warm through a flood of random well-formed tokens", { timeout: 90_000 }, async () => {
    const { token } = await mintToken({ user: "warm-flood", role: "user" });
    // Kept for a minute, so only eviction (not the clock) could drop it during the flood.
    const minute = { ...env, AUTH_CACHE_SECONDS: "60" };
    expect(await resolvePrincipal(minute, token)).toMatchObject({ user: "warm-flood" });
    const random = () =>
      `ohk_${[...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    for (let sent = 0; sent <= AUTH_CACHE_MAX_ENTRIES; sent += 100) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => resolvePrincipal(minute, random())));
      expect(answers.every((a) => a === null)).toBe(true);
    }
    const warm = await call("/auth/whoami", { token });
    expect([warm.status, queriesOf(warm)]).toEqual([200, 0]);
  });
});
