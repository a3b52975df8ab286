import { DurableObject } from "cloudflare:workers";
import { database } from "../db/client";
import { serialQueue } from "../durable/serially";
import { countingD1, D1Cost, type D1Work } from "../http/d1-cost";
import { type Beat, LOG_KEEP } from "./schemas";
import { recordPresenceChange } from "./store";

export interface PresenceView {
  /** Has this daemon ever beaten? */
  known: boolean;
  online: boolean;
  entrypoints: string[];
  lastBeat: number | null;
}

interface State {
  user: string;
  daemonId: string;
  lastBeat: number;
  /** Accepted beats so far, and the count the pending offline alarm was set at. */
  beats: number;
  alarmFor: number;
  /** The status D1 holds for this daemon; a beat or alarm writes D1 only when it differs. */
  recordedOnline: boolean;
  entrypoints: string[];
  /** Sorted `repo/item:tag` strings, as D1 holds them. */
  tags: string[];
  role: 0 | 1;
  /** Tag changes D1 may still take (see TAG_CHANGE_BUDGET), as of `tagBudgetAt` (ms). */
  tagBudget: number;
  tagBudgetAt: number;
}

/**
 * Tag changes (one added or removed tag each) a daemon's beats may write to D1: a bucket
 * of 2,000 that refills in 10 minutes. A beat carries at most 1,000 tags, so any one
 * change (all removed, all added) fits a full bucket; a daemon that churns faster has its
 * tags recorded when the bucket holds the whole change again. docs/api/daemon.md, Limits.
 */
export const TAG_CHANGE_BUDGET = 2000;
export const TAG_CHANGE_REFILL_MS = 10 * 60 * 1000;

/** The budget at `now`, refilled since `at`. */
export function tagBudgetAt(budget: number, at: number, now: number): number {
  return Math.min(TAG_CHANGE_BUDGET, budget + (Math.max(0, now - at) * TAG_CHANGE_BUDGET) / TAG_CHANGE_REFILL_MS);
}

/**
 * One per user, named by the user's daemon id (1:1 and never changing), so a beat
 * reaches its object without looking anything up. Holds the live state: last beat,
 * entrypoints, abnormal tags, the newest log lines. D1 hears only of changes: the
 * online/offline flips and the tags that appear or go away.
 */
export class DaemonPresence extends DurableObject<Env> {
  /** undefined: not read from storage yet; null: no accepted beat so far. */
  private state: State | null | undefined;
  /** Beats and the alarm run one at a time: each compares with the state the previous one left. */
  private readonly serially = serialQueue();

  private get sql() {
    return this.ctx.storage.sql;
  }

  /** Reads the state; storage is created only on the first accepted beat, so unknown ids leave nothing behind. */
  private load(): State | null {
    if (this.state !== undefined) return this.state;
    const [table] = this.sql
      .exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'presence'")
      .toArray();
    // Objects created before the tag budget existed gain its columns (a full bucket).
    if (table && !table.sql.includes("tag_budget")) this.addTagBudgetColumns();
    const row = table
      ? this.sql.exec<Record<string, string | number>>("SELECT * FROM presence WHERE k = 1").toArray()[0]
      : undefined;
    this.state = row
      ? {
          user: String(row.user),
          daemonId: String(row.daemon_id),
          lastBeat: Number(row.last_beat),
          beats: Number(row.beats),
          alarmFor: Number(row.alarm_for),
          recordedOnline: row.recorded_online === 1,
          entrypoints: JSON.parse(String(row.entrypoints)),
          tags: JSON.parse(String(row.tags)),
          role: Number(row.role) === 1 ? 1 : 0,
          tagBudget: Number(row.tag_budget),
          tagBudgetAt: Number(row.tag_budget_at),
        }
      : null;
    return this.state;
  }

  private save(s: State) {
    this.sql.exec(
      `INSERT INTO presence (k, user, daemon_id, last_beat, beats, alarm_for, recorded_online, entrypoints, tags, role, tag_budget, tag_budget_at)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (k) DO UPDATE SET user = excluded.user, daemon_id = excluded.daemon_id, last_beat = excluded.last_beat,
         beats = excluded.beats, alarm_for = excluded.alarm_for, recorded_online = excluded.recorded_online,
         entrypoints = excluded.entrypoints, tags = excluded.tags, role = excluded.role,
         tag_budget = excluded.tag_budget, tag_budget_at = excluded.tag_budget_at`,
      s.user,
      s.daemonId,
      s.lastBeat,
      s.beats,
      s.alarmFor,
      s.recordedOnline ? 1 : 0,
      JSON.stringify(s.entrypoints),
      JSON.stringify(s.tags),
      s.role,
      s.tagBudget,
      s.tagBudgetAt,
    );
    this.state = s;
  }

  private offlineAfterMs(): number {
    const seconds = Number(this.env.DAEMON_OFFLINE_AFTER);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : 30) * 1000;
  }

  private isOnline(s: State | null): boolean {
    // The alarm records the flip; the age check covers an alarm that is late.
    return !!s && s.recordedOnline && Date.now() - s.lastBeat < this.offlineAfterMs();
  }

  /**
   * The daemon's beat: replaces entrypoints and tags, appends log lines, moves the
   * offline alarm. `accepted: false` when the id was never handed out by `/daemon/id`.
   */
  beat(daemonId: string, beat: Beat): Promise<{ accepted: boolean; d1: D1Work }> {
    return this.serially(async () => {
      const cost = new D1Cost();
      const db = database({ ...this.env, DB: countingD1(this.env.DB, cost) });
      const before = this.load();
      // Named by this id: a state saved under another id would mean a naming bug, never
      // a reason to record this beat against someone else's daemon.
      if (before && before.daemonId !== daemonId) return { accepted: false, d1: cost.work() };
      const now = Date.now();
      const recordedTags = new Set(before?.tags ?? []);
      const tags = new Set(beat.tags);
      const addedTags = beat.tags.filter((t) => !recordedTags.has(t));
      const removedTags = [...recordedTags].filter((t) => !tags.has(t));
      // Tags go to D1 only while the budget holds the whole change; past it they wait
      // (D1 keeps the set it has) for a beat when the budget has refilled.
      const budget = before ? tagBudgetAt(before.tagBudget, before.tagBudgetAt, now) : TAG_CHANGE_BUDGET;
      const tagsFit = addedTags.length + removedTags.length <= budget;
      const change = {
        status: before?.recordedOnline ? undefined : ("online" as const),
        addedTags: tagsFit ? addedTags : [],
        removedTags: tagsFit ? removedTags : [],
      };
      // D1 first: if it fails, the state stays as it was and the next beat tries again.
      // The first beat looks its owner up in the same batch (the writes are guarded by the
      // daemon's row, so an unknown id writes nothing).
      const { owner } = await recordPresenceChange(db, daemonId, change, new Date(now).toISOString(), {
        withOwner: !before,
      });
      const user = before?.user ?? owner;
      if (!user) return { accepted: false, d1: cost.work() };

      // The offline alarm is set once and moved on when it fires (see alarm()), not on
      // every beat: a beat writes one row and its log lines, nothing more.
      const pending = await this.ctx.storage.getAlarm();
      const setAlarm = pending === null || pending <= now;
      const beats = (before?.beats ?? 0) + 1;
      this.ctx.storage.transactionSync(() => {
        if (!before) this.createTables();
        this.save({
          user,
          daemonId,
          lastBeat: now,
          beats,
          alarmFor: setAlarm ? beats : before!.alarmFor,
          recordedOnline: true,
          entrypoints: beat.entrypoints,
          tags: tagsFit ? beat.tags : before!.tags,
          role: beat.role,
          tagBudget: budget - (tagsFit ? addedTags.length + removedTags.length : 0),
          tagBudgetAt: now,
        });
        this.appendLog(beat.log);
      });
      if (setAlarm) await this.ctx.storage.setAlarm(now + this.offlineAfterMs());
      return { accepted: true, d1: cost.work() };
    });
  }

  /**
   * The alarm stands at (a beat) + DAEMON_OFFLINE_AFTER. Newer beats since it was set:
   * move it to the last beat + DAEMON_OFFLINE_AFTER. None: record the daemon offline (in D1 too).
   */
  override async alarm(): Promise<void> {
    await this.serially(async () => {
      const s = this.load();
      if (!s?.recordedOnline) return;
      if (s.beats !== s.alarmFor) {
        this.save({ ...s, alarmFor: s.beats });
        await this.ctx.storage.setAlarm(s.lastBeat + this.offlineAfterMs());
        return;
      }
      await recordPresenceChange(
        database(this.env),
        s.daemonId,
        { status: "offline", addedTags: [], removedTags: [] },
        new Date().toISOString(),
      );
      this.save({ ...s, recordedOnline: false });
    });
  }

  /** Status, entrypoints: read from here, so they are never stale. */
  view(): PresenceView {
    const s = this.load();
    return { known: !!s, online: this.isOnline(s), entrypoints: s?.entrypoints ?? [], lastBeat: s?.lastBeat ?? null };
  }

  /** Log lines newest first, skipping `offset`, at most `limit`. */
  logWindow(offset: number, limit: number): string[] {
    if (!this.load()) return [];
    return this.sql
      .exec<{ line: string }>("SELECT line FROM log ORDER BY seq DESC LIMIT ? OFFSET ?", limit, offset)
      .toArray()
      .map((r) => r.line);
  }

  private createTables() {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS presence (
      k INTEGER PRIMARY KEY CHECK (k = 1), user TEXT NOT NULL, daemon_id TEXT NOT NULL, last_beat INTEGER NOT NULL,
      beats INTEGER NOT NULL, alarm_for INTEGER NOT NULL,
      recorded_online INTEGER NOT NULL, entrypoints TEXT NOT NULL, tags TEXT NOT NULL, role INTEGER NOT NULL,
      tag_budget REAL NOT NULL DEFAULT ${TAG_CHANGE_BUDGET}, tag_budget_at INTEGER NOT NULL DEFAULT 0)`);
    this.sql.exec("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)");
  }

  private addTagBudgetColumns() {
    this.sql.exec(`ALTER TABLE presence ADD COLUMN tag_budget REAL NOT NULL DEFAULT ${TAG_CHANGE_BUDGET}`);
    this.sql.exec("ALTER TABLE presence ADD COLUMN tag_budget_at INTEGER NOT NULL DEFAULT 0");
  }

  private appendLog(lines: string[]) {
    if (!lines.length) return;
    for (const line of lines.slice(-LOG_KEEP)) this.sql.exec("INSERT INTO log (line) VALUES (?)", line);
    this.sql.exec("DELETE FROM log WHERE seq <= (SELECT max(seq) FROM log) - ?", LOG_KEEP);
  }
}
