import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app";

/** D1 work done for one request: what the benchmark reads and operators see in Server-Timing. */
export class D1Cost {
  queries = 0;
  rowsRead = 0;
  rowsWritten = 0;
  ms = 0;
  add(meta: Partial<D1Meta> | undefined) {
    this.queries += 1;
    this.rowsRead += meta?.rows_read ?? 0;
    this.rowsWritten += meta?.rows_written ?? 0;
    this.ms += meta?.duration ?? 0;
  }
  header(): string {
    return `d1;dur=${this.ms.toFixed(2)};desc="queries=${this.queries} rows_read=${this.rowsRead} rows_written=${this.rowsWritten}"`;
  }
}

/**
 * Wraps a D1 binding so every statement's `meta` is added to `cost`. D1's `raw()`
 * returns no meta, so it is answered from `all()` with each row's values in column
 * order — the mapping drizzle itself uses for batches (joins must not select two
 * columns of the same name).
 */
export function countingD1(db: D1Database, cost: D1Cost): D1Database {
  const wrap = (stmt: D1PreparedStatement): D1PreparedStatement => {
    const counted = Object.create(stmt) as D1PreparedStatement;
    counted.bind = (...values: unknown[]) => wrap(stmt.bind(...values));
    counted.all = async <T>() => {
      const r = await stmt.all<T>();
      cost.add(r.meta);
      return r;
    };
    counted.run = async <T>() => {
      const r = await stmt.run<T>();
      cost.add(r.meta);
      return r;
    };
    counted.first = (async (column?: string) => {
      const r = await stmt.all<Record<string, unknown>>();
      cost.add(r.meta);
      const row = r.results[0] ?? null;
      return column === undefined || row === null ? row : row[column];
    }) as D1PreparedStatement["first"];
    counted.raw = (async (options?: { columnNames?: boolean }) => {
      const r = await stmt.all<Record<string, unknown>>();
      cost.add(r.meta);
      const rows = r.results.map((row) => Object.values(row));
      if (options?.columnNames) return [Object.keys(r.results[0] ?? {}), ...rows];
      return rows;
    }) as D1PreparedStatement["raw"];
    (counted as unknown as { inner: D1PreparedStatement }).inner = stmt;
    return counted;
  };
  const counted = Object.create(db) as D1Database;
  counted.prepare = (query: string) => wrap(db.prepare(query));
  counted.batch = async <T>(stmts: D1PreparedStatement[]) => {
    const inner = stmts.map((s) => (s as unknown as { inner?: D1PreparedStatement }).inner ?? s);
    const results = await db.batch<T>(inner);
    for (const r of results) cost.add(r.meta);
    return results;
  };
  counted.exec = async (query: string) => {
    const r = await db.exec(query);
    cost.queries += r.count;
    cost.ms += r.duration;
    return r;
  };
  return counted;
}

/**
 * Gives the request an env whose DB counts its cost, and reports it as
 * `Server-Timing: d1;dur=…;desc="queries=… rows_read=… rows_written=…"`.
 */
export const d1CostReport: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cost = new D1Cost();
  c.set("d1Cost", cost);
  c.env = { ...c.env, DB: countingD1(c.env.DB, cost) };
  await next();
  if (cost.queries > 0) c.res.headers.append("Server-Timing", cost.header());
};
