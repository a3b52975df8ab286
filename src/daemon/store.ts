import { and, asc, countDistinct, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { batchAll, type Database } from "../db/client";
import { randomHex } from "../db/d1";
import { daemonAbnormalTags, daemons } from "../db/schema";
import { parseTagRef, type TagRef, tagRefText } from "./schemas";

/** A fresh daemon id: 20 random bytes as 40 lowercase hex digits. */
function newDaemonId(): string {
  return randomHex(20);
}

export async function daemonIdOf(db: Database, user: string): Promise<string | null> {
  const [row] = await db.select({ id: daemons.daemonId }).from(daemons).where(eq(daemons.user, user)).limit(1);
  return row?.id ?? null;
}

/** The user's daemon id, created on the first call; concurrent first calls agree on one. */
export async function ensureDaemonId(db: Database, user: string): Promise<string> {
  const existing = await daemonIdOf(db, user);
  if (existing) return existing;
  await db
    .insert(daemons)
    .values({ user, daemonId: newDaemonId(), createdAt: new Date().toISOString() })
    .onConflictDoNothing({ target: daemons.user });
  const id = await daemonIdOf(db, user);
  if (!id) throw new Error("daemon id was not stored");
  return id;
}

export interface PresenceChange {
  status?: "online" | "offline";
  addedTags: string[];
  removedTags: string[];
}

/**
 * Writes one presence change to D1 in one all-or-nothing batch: the status flip (if
 * any) and the tags that appeared or went away. Writes nothing when nothing changed.
 * `withOwner` (a daemon's first beat) adds the owner lookup to the same batch, so the
 * beat is still one round trip; every write is keyed or guarded by the daemon's row,
 * so an id that was never handed out writes nothing.
 */
export async function recordPresenceChange(
  db: Database,
  daemonId: string,
  change: PresenceChange,
  at: string,
  opts: { withOwner?: boolean } = {},
): Promise<{ owner?: string | null }> {
  const writes = presenceChangeStatements(db, daemonId, change, at);
  if (opts.withOwner) {
    const [owners] = await db.batch([ownerQuery(db, daemonId), ...writes]);
    return { owner: owners[0]?.user ?? null };
  }
  await batchAll(db, writes);
  return {};
}

const ownerQuery = (db: Database, daemonId: string) =>
  db.select({ user: daemons.user }).from(daemons).where(eq(daemons.daemonId, daemonId)).limit(1);

function presenceChangeStatements(
  db: Database,
  daemonId: string,
  change: PresenceChange,
  at: string,
): BatchItem<"sqlite">[] {
  const stmts: BatchItem<"sqlite">[] = [];
  if (change.status) {
    stmts.push(
      db.update(daemons).set({ status: change.status, statusChangedAt: at }).where(eq(daemons.daemonId, daemonId)),
    );
  }
  const removed = change.removedTags.map(parseTagRef).filter((r): r is TagRef => r !== null);
  if (removed.length) {
    // One statement for any number of tags (one JSON parameter), each a key probe: a beat
    // that clears 1,000 tags stays one query, far under D1's queries per invocation.
    const list = JSON.stringify(removed.map((r) => [r.repname, r.itemname, r.tagname]));
    stmts.push(
      db.delete(daemonAbnormalTags).where(
        sql`(${daemonAbnormalTags.repname}, ${daemonAbnormalTags.itemname}, ${daemonAbnormalTags.tagname}, ${daemonAbnormalTags.daemonId}) IN
            (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ${daemonId} FROM json_each(${list}))`,
      ),
    );
  }
  const added = change.addedTags.map(parseTagRef).filter((r): r is TagRef => r !== null);
  if (added.length) {
    // One statement for any number of tags (they travel as one JSON parameter), joined
    // with the daemon's row so nothing is inserted for an id that was never handed out.
    const list = JSON.stringify(added.map((r) => [r.repname, r.itemname, r.tagname]));
    stmts.push(
      db
        .insert(daemonAbnormalTags)
        .select(
          db
            .select({
              repname: sql<string>`json_extract(value, '$[0]')`.as("repname"),
              itemname: sql<string>`json_extract(value, '$[1]')`.as("itemname"),
              tagname: sql<string>`json_extract(value, '$[2]')`.as("tagname"),
              daemonId: sql<string>`${daemonId}`.as("daemon_id"),
              since: sql<string>`${at}`.as("since"),
            })
            .from(sql`json_each(${list})`)
            .where(sql`EXISTS (SELECT 1 FROM ${daemons} WHERE ${daemons.daemonId} = ${daemonId})`),
        )
        .onConflictDoNothing(),
    );
  }
  return stmts;
}

export interface TagStatus {
  status: "NORMAL" | "ABNORMAL";
  total: number;
  results: string[] | null;
}

const body = (refs: string[], total: number): TagStatus =>
  total > 0
    ? { status: "ABNORMAL", total, results: refs.length ? refs : null }
    : { status: "NORMAL", total: 0, results: null };

/** Is this one tag abnormal for any daemon? One index probe. */
export async function tagStatus(db: Database, ref: TagRef): Promise<TagStatus> {
  const [row] = await db
    .select({ one: sql<number>`1` })
    .from(daemonAbnormalTags)
    .where(
      and(
        eq(daemonAbnormalTags.repname, ref.repname),
        eq(daemonAbnormalTags.itemname, ref.itemname),
        eq(daemonAbnormalTags.tagname, ref.tagname),
      ),
    )
    .limit(1);
  return body(row ? [tagRefText(ref)] : [], row ? 1 : 0);
}

/** An item's abnormal tags, a page at a time, in tag order (read from the key index). */
export async function itemTagStatus(
  db: Database,
  repname: string,
  itemname: string,
  page: number,
  size: number,
): Promise<TagStatus> {
  const onItem = and(eq(daemonAbnormalTags.repname, repname), eq(daemonAbnormalTags.itemname, itemname));
  const [[{ n }], rows] = await db.batch([
    db
      .select({ n: countDistinct(daemonAbnormalTags.tagname) })
      .from(daemonAbnormalTags)
      .where(onItem),
    db
      .selectDistinct({ tagname: daemonAbnormalTags.tagname })
      .from(daemonAbnormalTags)
      .where(onItem)
      .orderBy(daemonAbnormalTags.tagname)
      .limit(size)
      .offset((page - 1) * size),
  ]);
  return body(
    rows.map((r) => `${repname}/${itemname}:${r.tagname}`),
    n,
  );
}

/** What a daemon's presence object says of it now (src/daemon/presence.ts `view()`). */
export interface LiveState {
  online: boolean;
  entrypoints: string[];
  lastBeat: number | null;
}

/** A daemon online now, as the dashboard lists it. */
export interface OnlineDaemon {
  user: string;
  daemon_id: string;
  online: true;
  since: string | null;
  last_beat: string | null;
  entrypoints: string[];
  abnormal_tags: Array<{ tag: string; since: string }>;
}

/**
 * Daemons online now, `user`'s only or every user's (null), at most `limit` of them, each
 * with its abnormal tags as far as a slice of `tagLimit` tag rows holds them. D1 holds the
 * last recorded flip (indexed by status); `live` asks the presence object, the live truth.
 */
export async function onlineDaemons(
  db: Database,
  scope: { user: string | null; limit: number; tagLimit: number },
  live: (daemonId: string) => Promise<LiveState>,
): Promise<OnlineDaemon[]> {
  const rows = await db
    .select({ user: daemons.user, daemonId: daemons.daemonId, since: daemons.statusChangedAt })
    .from(daemons)
    .where(scope.user === null ? eq(daemons.status, "online") : eq(daemons.user, scope.user))
    .limit(scope.limit);
  if (!rows.length) return [];
  const views = await Promise.all(rows.map((r) => live(r.daemonId)));
  const online = rows.map((r, i) => ({ ...r, view: views[i] })).filter((r) => r.view.online);
  const tagsOf = new Map<string, Array<{ tag: string; since: string }>>();
  if (online.length) {
    // The tag table is keyed by tag, not daemon: read a bounded slice in key order.
    const tagRows = await db
      .select()
      .from(daemonAbnormalTags)
      .orderBy(
        asc(daemonAbnormalTags.repname),
        asc(daemonAbnormalTags.itemname),
        asc(daemonAbnormalTags.tagname),
        asc(daemonAbnormalTags.daemonId),
      )
      .limit(scope.tagLimit);
    for (const t of tagRows) {
      const list = tagsOf.get(t.daemonId) ?? [];
      list.push({ tag: tagRefText(t), since: t.since });
      tagsOf.set(t.daemonId, list);
    }
  }
  return online.map((r) => ({
    user: r.user,
    daemon_id: r.daemonId,
    online: true,
    since: r.since,
    last_beat: r.view.lastBeat === null ? null : new Date(r.view.lastBeat).toISOString(),
    entrypoints: r.view.entrypoints,
    abnormal_tags: tagsOf.get(r.daemonId) ?? [],
  }));
}
