import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Database = DrizzleD1Database<typeof schema>;

/** Drizzle over the request's D1 binding (cheap: it only wraps the binding). */
export function database(env: Env): Database {
  return drizzle(env.DB, { schema });
}
