/**
 * The monitor's tables as a project move sees them (src/db/shard-move.ts). Project number
 * n owns the rowids (n·2^40, (n+1)·2^40) of every table and is monitor_projects.id: each
 * table's rows of the project are a primary-key range, and rows are only ever appended
 * there (never updated or deleted), so sync goes on from where the copy ended.
 */
import type { DescriptionValue } from "../db/schema";
import { type Key, keysetPage, type MoveProject, type MoveTable, rowsAt } from "../db/shard-move";
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

/** The monitor's tables for a move, parents first (the cleanup deletes in reverse). */
export const monitorMoveTables: MoveTable[] = [
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
  rangeTable("monitor_components", ["seq", "project_id", "name"]),
  rangeTable("monitor_pipelines", ["seq", "project_id", "branch"]),
  rangeTable("monitor_builds", ["seq", "project_id", "branch", "build_no"]),
];
