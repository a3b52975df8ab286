import type { BatchItem, BatchResponse } from "drizzle-orm/batch";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Database = DrizzleD1Database<typeof schema>;

/**
 * Drizzle over the request's D1 binding (cheap: it only wraps the binding). In a
 * request that is a D1 session (src/http/d1-cost.ts): reads may come from a replica
 * that holds at least the state of the client's bookmark; writes go to the primary.
 */
export function database(env: Env): Database {
  return databaseOn(env.DB);
}

/** Drizzle over any D1 binding or session: a shard's (src/db/shards.ts), a Durable Object's own. */
export function databaseOn(d1: D1Database): Database {
  return drizzle(d1, { schema });
}

/**
 * Drizzle over a session that starts on the primary: for the few reads that must see
 * the latest commit whatever the caller's bookmark (a token's record, so a revocation
 * is not hidden by replica lag).
 */
export function primaryDatabase(env: Env): Database {
  return drizzle(env.DB.withSession("first-primary") as unknown as D1Database, { schema });
}

/**
 * Any number of statements of one kind as one batch (one round trip; none for none, where
 * `db.batch` wants at least one), their results in order.
 */
export async function batchAll<Q extends BatchItem<"sqlite">>(db: Database, queries: readonly Q[]) {
  const [first, ...rest] = queries;
  const results: BatchResponse<[Q]>[0][] = first ? await db.batch([first, ...rest]) : [];
  return results;
}
