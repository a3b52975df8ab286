/**
 * The five-field cron expressions of an alarm's time constraints (as croniter reads them
 * in Aodh): minute, hour, day of month, month, day of week; `*`, lists, ranges, steps,
 * month and day names. Matched against wall-clock time in the constraint's timezone.
 */

interface Field {
  min: number;
  max: number;
  names?: string[];
}
const FIELDS: Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] },
  { min: 0, max: 7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];

export interface Cron {
  sets: Array<Set<number>>;
  /** Day of month and day of week both restricted: either matching is enough (cron's rule). */
  eitherDay: boolean;
}

function value(text: string, f: Field): number {
  const named = f.names?.indexOf(text.toLowerCase()) ?? -1;
  const n = named >= 0 ? named + (f.min === 1 ? 1 : 0) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < f.min || n > f.max) throw new Error(`${text} is out of range`);
  return n;
}

function parseField(text: string, f: Field): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`bad step in ${part}`);
    let lo = f.min;
    let hi = f.max;
    if (range !== "*") {
      const [a, b] = range.split("-");
      lo = value(a, f);
      hi = b === undefined ? (stepText === undefined ? lo : f.max) : value(b, f);
      if (hi < lo) throw new Error(`bad range ${range}`);
    }
    for (let i = lo; i <= hi; i += step) out.add(i);
  }
  return out;
}

/** Throws on anything that is not a five-field cron expression. */
export function parseCron(expr: string): Cron {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error("a cron expression has five fields");
  const sets = parts.map((p, i) => parseField(p, FIELDS[i]));
  if (sets[4].has(7)) sets[4].add(0);
  return { sets, eitherDay: parts[2] !== "*" && parts[4] !== "*" };
}

/** Throws a RangeError for a timezone Intl does not know. */
export function checkTimezone(tz: string) {
  new Intl.DateTimeFormat("en-US", { timeZone: tz });
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function wallClock(ms: number, tz: string) {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz || "UTC",
      hourCycle: "h23",
      minute: "numeric",
      hour: "numeric",
      day: "numeric",
      month: "numeric",
      weekday: "short",
    });
    formatters.set(tz, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(parts.weekday);
  return [Number(parts.minute), Number(parts.hour), Number(parts.day), Number(parts.month), weekday];
}

export function cronMatches(c: Cron, ms: number, tz: string): boolean {
  const [mi, h, d, mo, wd] = wallClock(ms, tz);
  if (!c.sets[0].has(mi) || !c.sets[1].has(h) || !c.sets[3].has(mo)) return false;
  return c.eitherDay ? c.sets[2].has(d) || c.sets[4].has(wd) : c.sets[2].has(d) && c.sets[4].has(wd);
}

/**
 * Aodh's within_time_constraint: the latest start at or before `nowMs` (to the minute)
 * plus `duration` seconds reaches now. Walks back minute by minute, at most the duration.
 */
export function withinConstraint(c: Cron, tz: string, durationS: number, nowMs: number): boolean {
  const minute = Math.floor(nowMs / 60_000) * 60_000;
  for (let t = minute; t >= nowMs - durationS * 1000 - 59_999; t -= 60_000) {
    if (cronMatches(c, t, tz)) return nowMs <= t + durationS * 1000 || t === minute;
  }
  return false;
}
