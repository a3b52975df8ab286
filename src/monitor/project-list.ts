import { asc, sql } from "drizzle-orm";
import { databaseOn } from "../db/client";
import { monitorProjects } from "../db/schema";
import { shardDb, shardNames, shardsForRead } from "../db/shards";

export { DEFAULT_PROJECT } from "./projects";

/**
 * Monitor projects by name, for the dashboard's project picker (docs/dashboard.md), from
 * every shard that may hold them, queried in parallel: `names === null` (an admin) the
 * first `limit` projects in name order of each shard (a range of its name index), merged
 * and cut to the first `limit`; otherwise those of `names` that exist, each looked up on
 * the shard the map names (names bound as one JSON parameter a shard).
 */
export async function existingMonitorProjects(env: Env, names: string[] | null, limit: number): Promise<string[]> {
  const wanted = names?.slice(0, limit) ?? null;
  // One shard holds every project: the map need not say which of the user's are placed.
  const all = shardNames(env);
  const shards =
    all.length === 1 && wanted !== null
      ? [{ db: shardDb(env, all[0]), projects: wanted.map((project) => ({ project })) }]
      : await shardsForRead(env, wanted);
  const lists = await Promise.all(
    shards.map(async ({ db, projects }) => {
      const q = databaseOn(db).select({ name: monitorProjects.name }).from(monitorProjects);
      const rows =
        projects === null
          ? await q.orderBy(asc(monitorProjects.name)).limit(limit)
          : await q
              .where(
                sql`${monitorProjects.name} IN (SELECT value FROM json_each(${JSON.stringify(projects.map((p) => p.project))}))`,
              )
              .orderBy(asc(monitorProjects.name))
              .limit(limit);
      return rows.map((r) => r.name);
    }),
  );
  // A project in the middle of a move is on two shards for a moment: once by name.
  return [...new Set(lists.flat())].sort(byName).slice(0, limit);
}

/** The order of SQLite's default collation (UTF-8 bytes, that is code points), which each shard's list is in. */
function byName(a: string, b: string): number {
  const [x, y] = [[...a], [...b]];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i].codePointAt(0) as number) - (y[i].codePointAt(0) as number);
    if (d) return d;
  }
  return x.length - y.length;
}
