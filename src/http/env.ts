import type { D1Cost } from "./d1-cost";

export type Role = "admin" | "system" | "user";

/** Who is calling: resolved once per request (src/auth/middleware.ts) from whichever header carried the token. */
export interface Principal {
  /** Token record id; null for the ADMIN_TOKEN bootstrap secret. */
  tokenId: string | null;
  user: string;
  role: Role;
  projects: string[];
  groups: string[];
}

/** What every route sees: the Worker's bindings and the values the shared middleware sets. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    /** undefined: not looked up yet; null: no valid token. */
    principal?: Principal | null;
    requestId: string;
    /** D1 work of this request (Durable Objects that write D1 for it may add theirs). */
    d1Cost: D1Cost;
  };
};
