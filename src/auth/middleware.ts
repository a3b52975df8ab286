import { eq } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { primaryDatabase } from "../db/client";
import { hex } from "../db/d1";
import { tokens } from "../db/schema";
import type { AppEnv, Principal, Role } from "../http/env";
import { errors } from "../http/errors";
import { cacheTtlMs, TokenCache } from "./cache";

export type { Principal, Role };

/**
 * The token from any of the four forms docs/api/auth.md lists: `Bearer T`, `Token T`,
 * `X-Auth-Token: T`, or HTTP Basic with T as the password (pytest-monitor's
 * `https://ci:T@host` URLs, freezerclient's X-Auth-Token).
 */
export function presentedToken(headers: Headers): string | null {
  const x = headers.get("x-auth-token")?.trim();
  if (x) return x;
  const auth = headers.get("authorization")?.trim();
  if (!auth) return null;
  const space = auth.indexOf(" ");
  if (space < 0) return null;
  const scheme = auth.slice(0, space).toLowerCase();
  const value = auth.slice(space + 1).trim();
  if (scheme === "bearer" || scheme === "token") return value || null;
  if (scheme === "basic") {
    try {
      const decoded = atob(value);
      const colon = decoded.indexOf(":");
      const password = colon < 0 ? decoded : decoded.slice(colon + 1);
      return password || null;
    } catch {
      return null;
    }
  }
  return null;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return hex(new Uint8Array(digest));
}

/** Compares digests, not the strings, so the time taken tells nothing about the secret. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/** Tokens resolved in this isolate (src/auth/cache.ts): a warm isolate answers them without D1. */
export const tokenCache = new TokenCache<Principal>();

/** The only form `POST /auth/tokens` mints (src/auth/store.ts): anything else has no record. */
const MINTED_TOKEN = /^ohk_[0-9a-f]{40}$/;

export async function resolvePrincipal(env: Env, token: string): Promise<Principal | null> {
  // Fail closed: with no ADMIN_TOKEN configured, no token is the admin.
  const admin = (env as { ADMIN_TOKEN?: string }).ADMIN_TOKEN;
  if (admin && (await sameSecret(token, admin))) return ADMIN;
  // Each lookup is a read of the primary database: text that was never minted costs none.
  if (!MINTED_TOKEN.test(token)) return null;
  const hash = await sha256Hex(token);
  const cached = tokenCache.get(hash);
  if (cached !== undefined) return cached;
  const started = tokenCache.begin();
  // On the primary: a replica's lag must not add to the revocation bound.
  const [row] = await primaryDatabase(env).select().from(tokens).where(eq(tokens.tokenHash, hash)).limit(1);
  const principal: Principal | null =
    !row || row.revokedAt
      ? null
      : Object.freeze({
          tokenId: row.id,
          user: row.user,
          role: row.role,
          projects: Object.freeze([...row.projects]) as string[],
          groups: Object.freeze([...row.groups]) as string[],
        });
  tokenCache.set(hash, principal, row?.id ?? null, cacheTtlMs(env), started);
  return principal;
}

const ADMIN: Principal = Object.freeze({
  tokenId: null,
  user: "admin",
  role: "admin",
  projects: Object.freeze([]) as unknown as string[],
  groups: Object.freeze([]) as unknown as string[],
});

/** Looks the token up (if any) and keeps the result in `c.var.principal`. */
export async function principalOf(c: Parameters<MiddlewareHandler<AppEnv>>[0]): Promise<Principal | null> {
  if (c.var.principal !== undefined) return c.var.principal;
  const token = presentedToken(c.req.raw.headers);
  const principal = token ? await resolvePrincipal(c.env, token) : null;
  c.set("principal", principal);
  return principal;
}

/**
 * Requires a valid token whose role may use the route (admin always may). Without
 * `roles` the route is one of the `user` routes: a `system` token (a job pilot's, which
 * lives on worker nodes) reaches only the task-logs routes that name it, and gets a 403
 * everywhere else (docs/api/auth.md, Roles).
 */
export function requireToken(...roles: Role[]): MiddlewareHandler<AppEnv> {
  const allowed: readonly Role[] = roles.length ? roles : USER_ROUTES;
  return async (c, next) => {
    const principal = await principalOf(c);
    if (!principal) throw errors.unauthenticated();
    if (!mayPass(principal, allowed)) throw errors.forbidden("authorization failed");
    await next();
  };
}

/** Who may use a route that names no role: every role but `system`. */
const USER_ROUTES: readonly Role[] = ["user"];

function mayPass(p: Principal, roles: readonly Role[]): boolean {
  return p.role === "admin" || roles.includes(p.role);
}

/** Whether the token may use routes that name no role (every role but `system`). */
export function mayUseUserRoutes(p: Principal): boolean {
  return mayPass(p, USER_ROUTES);
}

/** The caller, for handlers behind `requireToken`. */
export function caller(c: { var: { principal?: Principal | null } }): Principal {
  const p = c.var.principal;
  if (!p) throw errors.unauthenticated();
  return p;
}

/** A project's data (scheduler, telemetry): admin, or a `user` token that lists it; never a `system` token. */
export function mayUseProject(p: Principal, projectId: string): boolean {
  return p.role === "admin" || (p.role === "user" && p.projects.includes(projectId));
}
