import type { MiddlewareHandler } from "hono";
import { setMetric, timing } from "hono/timing";

/**
 * D1 work measured in one place and reported in another: what a Durable Object hands back
 * with each answer (plain data, so it crosses RPC) for the calling route to add with `addWork`.
 */
export interface D1Work {
  roundTrips: number;
  queries: number;
  rowsRead: number;
  rowsWritten: number;
  ms: number;
}

/** D1 work done for one request: what the benchmark reads and operators see in Server-Timing. */
export class D1Cost implements D1Work {
  /** Calls that went to D1: a `batch` is one, each `.all/.run/.first/.raw` outside a batch is one. */
  roundTrips = 0;
  queries = 0;
  rowsRead = 0;
  rowsWritten = 0;
  ms = 0;
  /** One statement's meta (its round trip is counted by the caller: a batch is one for all its statements). */
  add(meta: Partial<D1Meta> | undefined) {
    this.queries += 1;
    this.rowsRead += meta?.rows_read ?? 0;
    this.rowsWritten += meta?.rows_written ?? 0;
    this.ms += meta?.duration ?? 0;
  }
  /** Work measured by another D1Cost (a Durable Object's, sent back with its answer). */
  addWork(w: D1Work) {
    this.roundTrips += w.roundTrips;
    this.queries += w.queries;
    this.rowsRead += w.rowsRead;
    this.rowsWritten += w.rowsWritten;
    this.ms += w.ms;
  }
  /** This cost as plain data, to send back over RPC. */
  work(): D1Work {
    return {
      roundTrips: this.roundTrips,
      queries: this.queries,
      rowsRead: this.rowsRead,
      rowsWritten: this.rowsWritten,
      ms: this.ms,
    };
  }
  /**
   * The Server-Timing `desc`. New keys go first, so parsers that read `queries=… rows_read=… rows_written=…"` keep
   * working.
   */
  description(): string {
    return `round_trips=${this.roundTrips} queries=${this.queries} rows_read=${this.rowsRead} rows_written=${this.rowsWritten}`;
  }
}

/** The binding or one of its sessions: both prepare and batch; only the binding has `exec`. */
type D1Client = Pick<D1Database, "prepare" | "batch">;

/**
 * Wraps a D1 binding, or a session of it, so every statement's `meta` is added to
 * `cost`. D1's `raw()` returns no meta, so it is answered from `all()` with each row's
 * values in column order — the mapping drizzle itself uses for batches (joins must not
 * select two columns of the same name). `root` is the plain binding behind a session:
 * it answers `exec` (a session has none; it goes to the primary) and `withSession`,
 * whose sessions are counted into the same cost.
 */
export function countingD1(db: D1Client, cost: D1Cost, root: D1Database = db as D1Database): D1Database {
  const wrap = (stmt: D1PreparedStatement): D1PreparedStatement => {
    const counted = Object.create(stmt) as D1PreparedStatement;
    const trip = async <T>(r: Promise<D1Result<T>>) => {
      const result = await r;
      cost.roundTrips += 1;
      cost.add(result.meta);
      return result;
    };
    counted.bind = (...values: unknown[]) => wrap(stmt.bind(...values));
    counted.all = <T>() => trip(stmt.all<T>());
    counted.run = <T>() => trip(stmt.run<T>());
    counted.first = (async (column?: string) => {
      const r = await trip(stmt.all<Record<string, unknown>>());
      const row = r.results[0] ?? null;
      return column === undefined || row === null ? row : row[column];
    }) as D1PreparedStatement["first"];
    counted.raw = (async (options?: { columnNames?: boolean }) => {
      const r = await trip(stmt.all<Record<string, unknown>>());
      const rows = r.results.map((row) => Object.values(row));
      if (options?.columnNames) return [Object.keys(r.results[0] ?? {}), ...rows];
      return rows;
    }) as D1PreparedStatement["raw"];
    (counted as unknown as { inner: D1PreparedStatement }).inner = stmt;
    return counted;
  };
  const counted = Object.create(root) as D1Database;
  counted.prepare = (query: string) => wrap(db.prepare(query));
  counted.batch = async <T>(stmts: D1PreparedStatement[]) => {
    const inner = stmts.map((s) => (s as unknown as { inner?: D1PreparedStatement }).inner ?? s);
    const results = await db.batch<T>(inner);
    cost.roundTrips += 1;
    for (const r of results) cost.add(r.meta);
    return results;
  };
  counted.exec = async (query: string) => {
    const r = await root.exec(query);
    cost.roundTrips += 1;
    cost.queries += r.count;
    cost.ms += r.duration;
    return r;
  };
  counted.withSession = (constraintOrBookmark?: string) => {
    const session = root.withSession(constraintOrBookmark);
    return Object.assign(countingD1(session, cost, root), {
      getBookmark: () => session.getBookmark(),
    }) as unknown as D1DatabaseSession;
  };
  return counted;
}

/** Header a client sends back to read its own writes, and in which each response names the state it saw. */
export const BOOKMARK_HEADER = "x-d1-bookmark";

/**
 * A bookmark as D1 hands them out (hex groups joined by dashes), or one of the two
 * session constraints; anything else is ignored rather than sent to D1.
 */
export function bookmarkOf(value: string | undefined): string | null {
  const v = value?.trim();
  if (!v) return null;
  if (v === "first-primary" || v === "first-unconstrained") return v;
  return v.length <= 128 && /^[0-9a-f]+(-[0-9a-f]+){1,7}$/i.test(v) ? v : null;
}

/**
 * Hono's Server-Timing middleware (hono/timing), without its wall-clock `total` (timing
 * is measured in the benchmark, never read from one response): it writes the header
 * from the entries set during the request, and none when none was (a request that
 * queried no D1 carries no Server-Timing). Register it before d1CostReport.
 */
export const serverTiming = timing({ total: false, enabled: (c) => (c.get("metric")?.headers.length ?? 0) > 0 });

/**
 * The bookmarks a client sent back, by binding: D1's bookmarks are per database, so a
 * request that touched shards answers `<DB bookmark>, SHARD_1=<bookmark>, …` (a bare one is
 * the main DB's, as before shards).
 */
export function bookmarksOf(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (value ?? "").split(",")) {
    const eq = part.indexOf("=");
    const [name, raw] = eq < 0 ? ["DB", part] : [part.slice(0, eq).trim(), part.slice(eq + 1)];
    const bookmark = bookmarkOf(raw);
    if (bookmark && /^[A-Z][A-Z0-9_]{0,62}$/.test(name) && !out.has(name)) out.set(name, bookmark);
  }
  return out;
}

/**
 * Gives the request an env whose DB, and each shard (SHARDS, src/db/shards.ts), is a D1
 * session (read replicas may answer it; with the client's `x-d1-bookmark` it sees at
 * least that state) that counts its cost, reported as `Server-Timing: d1;dur=…;desc="round_trips=… queries=… rows_read=…
 * rows_written=…"` (an entry of serverTiming's header), and returns the sessions' bookmarks in `x-d1-bookmark`. Durable
 * Objects that write D1 keep their plain binding (their env is their own): they count
 * their calls with `countingD1` into a D1Cost of their own and hand back its `work()`.
 */
// Typed by the one variable it sets, so this file and src/http/env.ts (which names D1Cost) do not import each other.
export const d1CostReport: MiddlewareHandler<{ Bindings: Env; Variables: { d1Cost: D1Cost } }> = async (c, next) => {
  const cost = new D1Cost();
  c.set("d1Cost", cost);
  const sent = bookmarksOf(c.req.header(BOOKMARK_HEADER));
  const bindings = c.env as unknown as Record<string, unknown>;
  const shards = ((bindings.SHARDS as string | undefined) ?? "").split(/[\s,]+/).filter((s) => s && s !== "DB");
  const sessions = new Map<string, D1DatabaseSession>();
  const env: Record<string, unknown> = { ...bindings };
  for (const name of ["DB", ...new Set(shards)]) {
    const root = bindings[name] as D1Database | undefined;
    if (!root || typeof root.withSession !== "function") continue;
    const session = root.withSession(sent.get(name) ?? "first-unconstrained");
    sessions.set(name, session);
    env[name] = countingD1(session, cost, root);
  }
  c.env = env as unknown as Env;
  await next();
  if (cost.queries > 0) setMetric(c, "d1", cost.ms, cost.description(), 2);
  const parts: string[] = [];
  for (const [name, session] of sessions) {
    const bookmark = session.getBookmark();
    if (bookmark) parts.push(name === "DB" ? bookmark : `${name}=${bookmark}`);
  }
  if (parts.length) c.res.headers.set(BOOKMARK_HEADER, parts.join(", "));
};
