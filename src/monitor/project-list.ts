import { asc, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { monitorProjects } from "../db/schema";

export { DEFAULT_PROJECT } from "./projects";

/**
 * Monitor projects by name, for the dashboard's project picker (docs/dashboard.md):
 * `names === null` (an admin) the first `limit` projects in name order, a range of the
 * name index; otherwise those of `names` that exist, looked up through the name index
 * with the names bound as one JSON parameter.
 */
export async function existingMonitorProjects(db: Database, names: string[] | null, limit: number): Promise<string[]> {
  const q = db.select({ name: monitorProjects.name }).from(monitorProjects);
  const rows =
    names === null
      ? await q.orderBy(asc(monitorProjects.name)).limit(limit)
      : await q
          .where(
            sql`${monitorProjects.name} IN (SELECT value FROM json_each(${JSON.stringify(names.slice(0, limit))}))`,
          )
          .orderBy(asc(monitorProjects.name))
          .limit(limit);
  return rows.map((r) => r.name);
}
