import { sql } from "drizzle-orm";
import { type Database, databaseOn } from "../db/client";
import { monitorProjects } from "../db/schema";
import { openShardNames, placementOf, shardDb, shardForRead, shardNames, writeToShards } from "../db/shards";
import { ApiError } from "../http/errors";

/**
 * Where a monitor request's rows are (docs/api/monitor.md, "Shards"): every request works
 * in one project, and a project's rows are all on the shard the shard map names
 * (src/db/shards.ts).
 */

/**
 * Project numbers the monitor can use: a project's rowids are (n·2^40, (n+1)·2^40), which
 * must stay below 2^53 to be exact in JavaScript.
 */
export const MONITOR_NUMBER_LIMIT = 8192;

/**
 * The D1 database a read of `project` goes to: its shard. A project without rows anywhere
 * reads the shard the placement rule would give it, where it has no `monitor_projects` row,
 * so every list is empty the way a new project's always was (no special case, no extra query).
 * With a single shard (SHARDS unset or one name) the map is not read at all.
 */
export async function projectD1(env: Env, project: string): Promise<D1Database> {
  // One shard holds every project: no need to ask the map.
  const all = shardNames(env);
  if (all.length === 1) return shardDb(env, all[0]);
  const target = await shardForRead(env, project);
  return target?.db ?? shardDb(env, placementOf(project, openShardNames(env)));
}

/** The same, through drizzle. */
export async function projectDatabase(env: Env, project: string): Promise<Database> {
  return databaseOn(await projectD1(env, project));
}

/** What a write's batch works with: its shard and the project's number (the base of its rowids). */
export interface ProjectWrite {
  db: Database;
  project: string;
  number: number;
}

/**
 * Runs a write of `project` on its shard (placing the project on its first write). `write`
 * must start its one batch with `fenceGuard([project])` then `createProject` (store.ts
 * does): a batch fenced because the project moved is retried where it is now.
 */
export async function writeInProject<T>(env: Env, project: string, write: (w: ProjectWrite) => Promise<T>) {
  const [out] = await writeToShards(env, [project], ({ db, projects: [placement] }) => {
    if (placement.number >= MONITOR_NUMBER_LIMIT)
      throw new ApiError(
        "other",
        `Project ${project} is numbered ${placement.number}: the test-run monitor keeps data of projects numbered below ${MONITOR_NUMBER_LIMIT} only`,
        { status: 507 },
      );
    return write({ db: databaseOn(db), project, number: placement.number });
  });
  return out;
}

/**
 * Creates the project on its shard on its first write, with the shard map's number as its
 * id, so rowid ranges are unique across shards and a move copies rows unchanged (a no-op,
 * nothing written, once it exists).
 */
export const createProject = (w: ProjectWrite) =>
  sql`INSERT OR IGNORE INTO ${monitorProjects} (id, name) VALUES (${w.number}, ${w.project})`;
