/**
 * The monitor's tables as a project move sees them (src/db/shard-move.ts). Project number
 * n is monitor_projects.id and owns the rowids (n·2^40, (n+1)·2^40) of sessions, contexts
 * and metrics: their rows of the project are a primary-key range. Monitor rows are only
 * ever appended (never updated or deleted), so sync goes on from where the copy ended.
 */
import type { DescriptionValue } from "../db/schema";
import { type Key, keysetPage, type MoveProject, type MoveTable, type Page, rowsAt } from "../db/shard-move";
import { MONITOR_NUMBER_LIMIT } from "./project-db";
import { scalarText } from "./store";

const SPAN = 2 ** 40;
const inRange = (p: MoveProject) => ({
  where: "seq > ? AND seq < ?",
  params: [p.number * SPAN, (p.number + 1) * SPAN],
});

const rangeTable = (table: string, columns: readonly string[]): MoveTable => ({
  name: table,
  table,
  columns,
  key: ["seq"],
  mode: "append",
  read: (db, p, cursor, limit, cols) =>
    keysetPage(db, { table, columns: cols, order: ["seq"], ...inRange(p) }, cursor, limit),
});

/**
 * Names in order of first appearance (components, pipelines, builds): numbered by the whole
 * table's rowid, not the project's range, so a copy cannot keep it (another project's row may
 * hold that rowid on the target). Found by the project's index in rowid order, copied in that
 * order without it (the target numbers them in the same order), matched by their unique key.
 */
const namesTable = (table: string, columns: readonly string[]): MoveTable => ({
  name: table,
  table,
  columns,
  key: columns,
  mode: "append",
  conflict: "ignore",
  read: (db, p, cursor, limit, cols) =>
    keysetPage(
      db,
      { table, columns: [...cols, "seq AS _seq"], where: "project_id = ?", params: [p.number], order: ["seq"] },
      cursor,
      limit,
      (r) => [r._seq as number],
    ),
});

const sessions = rangeTable("monitor_sessions", [
  "seq",
  "project_id",
  "session_h",
  "run_date",
  "scm_ref",
  "description",
  "pipeline_branch",
  "pipeline_build_no",
]);

const FLAG_KEY = ["name", "value", "session_seq"] as const;

/**
 * A session's flags are its description's entries (src/monitor/store.ts writes one row
 * each); their table is keyed (name, value, session_seq) with no session index, so the
 * flags of a page of sessions are derived from their descriptions and read by key.
 */
const flags: MoveTable = {
  name: "monitor_session_flags",
  table: "monitor_session_flags",
  columns: ["session_seq", "name", "value"],
  key: FLAG_KEY,
  mode: "append",
  pageRows: 200,
  async read(db, p, cursor, limit, columns) {
    const page = await sessions.read(db, p, cursor, limit, ["seq", "description"]);
    const keys: Key[] = page.rows.flatMap((s) =>
      Object.entries(JSON.parse(String(s.description)) as Record<string, DescriptionValue>).map(([name, v]) => [
        name,
        scalarText(v) ?? "",
        s.seq as number,
      ]),
    );
    return { ...page, rows: await rowsAt(db, "monitor_session_flags", columns, FLAG_KEY, keys) };
  },
};

/** A project numbered past the monitor's limit has no monitor rows (and its rowid range would not be exact). */
const withinLimit = (t: MoveTable): MoveTable => ({
  ...t,
  read: (db, p, cursor, limit, columns): Promise<Page> =>
    p.number >= MONITOR_NUMBER_LIMIT
      ? Promise.resolve({ rows: [], next: cursor, done: true })
      : t.read(db, p, cursor, limit, columns),
});

/** The monitor's tables for a move, parents first (the cleanup deletes in reverse). */
export const monitorMoveTables: MoveTable[] = (
  [
    {
      name: "monitor_projects",
      table: "monitor_projects",
      columns: ["id", "name"],
      key: ["id"],
      mode: "append",
      read: (db, p, cursor, limit, cols) =>
        keysetPage(
          db,
          { table: "monitor_projects", columns: cols, where: "id = ?", params: [p.number], order: ["id"] },
          cursor,
          limit,
        ),
    },
    sessions,
    flags,
    rangeTable("monitor_contexts", [
      "seq",
      "project_id",
      "h",
      "cpu_count",
      "cpu_frequency",
      "cpu_type",
      "cpu_vendor",
      "ram_total",
      "machine_node",
      "machine_type",
      "machine_arch",
      "system_info",
      "python_info",
    ]),
    rangeTable("monitor_metrics", [
      "seq",
      "project_id",
      "session_h",
      "context_h",
      "item_start_time",
      "item_path",
      "item",
      "item_variant",
      "item_fs_loc",
      "kind",
      "component",
      "total_time",
      "user_time",
      "kernel_time",
      "cpu_usage",
      "mem_usage",
    ]),
    namesTable("monitor_components", ["project_id", "name"]),
    namesTable("monitor_pipelines", ["project_id", "branch"]),
    namesTable("monitor_builds", ["project_id", "branch", "build_no"]),
  ] satisfies MoveTable[]
).map(withinLimit);
