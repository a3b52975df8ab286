/**
 * What the dashboard shows of alarms (src/dashboard/routes.ts): the caller's alarms with
 * their state, newest state change first, each with its last few transitions. Bounded:
 * OVERVIEW_ALARMS alarms, OVERVIEW_TRANSITIONS transitions each, read in one round trip.
 */
import { isoTime } from "./schemas";
import { type AlarmRow, type HistoryRow, ruleOf, type Scope } from "./store";

export const OVERVIEW_ALARMS = 100;
export const OVERVIEW_TRANSITIONS = 3;

const OPERATORS: Record<string, string> = { lt: "<", le: "<=", eq: "==", ne: "!=", ge: ">=", gt: ">" };

export interface AlarmOverview {
  alarm_id: string;
  name: string;
  project_id: string;
  state: string;
  severity: string;
  enabled: boolean;
  state_timestamp: string;
  state_reason: string;
  condition: string;
  transitions: Array<{ timestamp: string; state: string; reason: string | null }>;
}

export async function alarmOverview(db: D1Database, scope: Scope): Promise<AlarmOverview[]> {
  const where = scope === null ? "1" : "project_id in (select value from json_each(?1))";
  const binds = scope === null ? [] : [JSON.stringify(scope)];
  const alarms = `select * from telemetry_alarms where ${where} order by state_timestamp desc limit ${OVERVIEW_ALARMS}`;
  // Per alarm, a newest-first range of its history index, stopped after the last few transitions.
  const transitions = `select h.* from (${alarms}) a join telemetry_alarm_history h on h.seq in (
      select seq from telemetry_alarm_history where alarm_id = a.id and type = 'state transition' order by seq desc limit ${OVERVIEW_TRANSITIONS})
    order by h.seq desc`;
  const [a, t] = await db.batch([db.prepare(alarms).bind(...binds), db.prepare(transitions).bind(...binds)]);
  const byAlarm = new Map<string, HistoryRow[]>();
  for (const h of t.results as unknown as HistoryRow[])
    byAlarm.set(h.alarm_id, [...(byAlarm.get(h.alarm_id) ?? []), h]);
  return (a.results as unknown as AlarmRow[]).map((row) => {
    const r = ruleOf(row);
    return {
      alarm_id: row.id,
      name: row.name,
      project_id: row.project_id,
      state: row.state,
      severity: row.severity,
      enabled: !!row.enabled,
      state_timestamp: isoTime(row.state_timestamp),
      state_reason: row.state_reason,
      condition: `${r.statistic}(${r.meter_name}) ${OPERATORS[r.comparison_operator]} ${r.threshold} during ${r.evaluation_periods} x ${r.period}s`,
      transitions: (byAlarm.get(row.id) ?? []).map((h) => {
        const d = JSON.parse(h.detail) as { state: string; transition_reason?: string };
        return { timestamp: isoTime(h.timestamp), state: d.state, reason: d.transition_reason ?? null };
      }),
    };
  });
}
