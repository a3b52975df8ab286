import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { Context } from "hono";
import { caller } from "../auth/middleware";
import { monitorProjects } from "../db/schema";
import type { AppEnv } from "../http/env";
import { errors } from "../http/errors";

/**
 * Projects of the test-run monitor (docs/api/monitor.md, "Projects"): which project a
 * request works in, and the SQL that keeps each statement inside it.
 */

/** Where rows stored before projects existed live, and where the admin token works by default. */
export const DEFAULT_PROJECT = "default";

/**
 * `/projects/<p>/api/v1/...` (and `/projects/<p>/index.html`): the project named in the path (the plugin's
 * `--remote-server` URL carries it).
 */
const PROJECT_PATH = /^\/projects\/([^/]+)\//;

/**
 * The request's project. Admin: the path's project, else `default`. A user token: the
 * path's project when the token has it (else 403); without one in the path, the token's
 * only project; a token with several must name one (400), a token with none may not use
 * the monitor (403).
 */
export function projectOf(c: Context<AppEnv>): string {
  const principal = caller(c);
  const match = PROJECT_PATH.exec(c.req.path);
  let named: string | null = null;
  if (match) {
    try {
      named = decodeURIComponent(match[1]);
    } catch {
      throw errors.badRequest("The project in the path is not valid percent-encoding");
    }
  }
  if (principal.role === "admin") return named ?? DEFAULT_PROJECT;
  if (named !== null) {
    if (!principal.projects.includes(named)) throw errors.forbidden(`This token may not use project ${named}`);
    return named;
  }
  if (principal.projects.length === 1) return principal.projects[0];
  if (principal.projects.length === 0)
    throw errors.forbidden("This token has no project: the test-run monitor keeps data per project");
  throw errors.badRequest(
    `This token has several projects (${principal.projects.join(", ")}): call /projects/<project>/api/v1 to say which one`,
  );
}

/** Rowids a project owns: (id·SPAN, (id+1)·SPAN), see src/db/schema.ts. */
export const PROJECT_SPAN = sql.raw("1099511627776");

/** The project's id, as a scalar sub-select (one row read; NULL when the project has no data yet). */
export const projectId = (project: string) =>
  sql`(SELECT ${monitorProjects.id} FROM ${monitorProjects} WHERE ${monitorProjects.name} = ${project})`;

/** The rowid just below the project's range. */
const floor = (project: string) => sql`(${projectId(project)} * ${PROJECT_SPAN})`;

/** `seq` within the project's range (a single-column index is bounded by it: its entries end in the rowid). */
export const inProject = (seq: SQLWrapper, project: string): SQL =>
  sql`${seq} > ${floor(project)} AND ${seq} < ${floor(project)} + ${PROJECT_SPAN}`;

/**
 * The project's range narrowed to the rows after / before a keyset position: one lower
 * and one upper bound (SQLite bounds an index range by one of each, so two lower bounds
 * could leave it the wider one).
 */
export const inProjectAfter = (seq: SQLWrapper, project: string, after: number): SQL =>
  sql`${seq} > max(${after}, ${floor(project)}) AND ${seq} < ${floor(project)} + ${PROJECT_SPAN}`;
export const inProjectBefore = (seq: SQLWrapper, project: string, before: number): SQL =>
  sql`${seq} > ${floor(project)} AND ${seq} < min(${before}, ${floor(project)} + ${PROJECT_SPAN})`;

/** The project's newest `n` rowids of a table (a scan's bound): one pair of bounds. */
export const newestInProject = (table: SQLWrapper, seq: SQLWrapper, project: string, n: number): SQL =>
  sql`${seq} > max(${lastSeq(table, seq, project)} - ${n}, ${floor(project)}) AND ${seq} < ${floor(project)} + ${PROJECT_SPAN}`;

/** A one-row table `p(lo)`: the floor of the project's range, bound once for a statement that uses it many times. */
export const projectFloorTable = (project: string) =>
  sql`(SELECT ${monitorProjects.id} * ${PROJECT_SPAN} AS lo FROM ${monitorProjects} WHERE ${monitorProjects.name} = ${project}) AS p`;

/** The project's newest rowid in a table, or the floor when it has none (one row read: the end of a rowid range). */
export const lastSeq = (table: SQLWrapper, seq: SQLWrapper, project: string) =>
  sql`coalesce((SELECT ${seq} FROM ${table} WHERE ${inProject(seq, project)} ORDER BY ${seq} DESC LIMIT 1), ${floor(project)})`;

/** How many rows the project has in a table: rowids are dense per project. */
export const rowsInProject = (table: SQLWrapper, seq: SQLWrapper, project: string) =>
  sql<number>`coalesce(${lastSeq(table, seq, project)} - ${floor(project)}, 0)`;

/**
 * Rows of the project's rowids `(from, from + n]` counted from its floor (`from` may be negative: nothing below the
 * floor).
 */
export const seqWindow = (seq: SQLWrapper, project: string, from: SQLWrapper, n: SQLWrapper | number) =>
  sql`${seq} > ${floor(project)} + max(${from}, 0) AND ${seq} <= ${floor(project)} + ${from} + ${n}`;
