/**
 * Delivery of alarm notifications (docs/api/alarms.md, "Notifications"): the evaluator
 * queues one row per action in telemetry_alarm_deliveries in the batch that writes the
 * transition; each cron run claims the due rows and delivers them at once, each POST
 * bounded by DELIVERY_TIMEOUT_MS, so a slow or failing hook delays nothing else. A
 * failure is retried with exponential backoff up to DELIVERY_ATTEMPTS_MAX; every attempt
 * is an `action` entry in the alarm's history.
 */

import { isoTime } from "./schemas";
import { claimDeliveries, type DeliveryRow, finishDelivery, historyRow, retryDelivery } from "./store";
import { allowPrivateTargets, checkAction } from "./targets";

/** Rows one claim takes, and claims one run makes. */
export const DELIVERY_BATCH = 50;
export const DELIVERY_BATCHES_MAX = 4;
/** How long one POST may take before it counts as failed. */
export const DELIVERY_TIMEOUT_MS = 5_000;
/** Attempts before a notification is given up (retried after 1, 2, 4, 8, 16 minutes). */
export const DELIVERY_ATTEMPTS_MAX = 6;
const BACKOFF_BASE_MS = 60_000;
const BACKOFF_MAX_MS = 3_600_000;
/** A claimed row is hidden from other runs this long: longer than any attempt takes. */
const LEASE_MS = 60_000;

export const backoffMs = (attempt: number) => Math.min(BACKOFF_BASE_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS);

export interface DeliveryReport {
  delivered: number;
  failed: number;
  givenUp: number;
}

interface Outcome {
  ok: boolean;
  status: number | null;
  error: string | null;
  /** Retrying cannot help (a target the outbound check refuses). */
  final?: boolean;
}

async function attempt(env: Env, d: DeliveryRow): Promise<Outcome> {
  const checked = checkAction(d.action, allowPrivateTargets(env));
  if ("refused" in checked) return { ok: false, status: null, error: checked.refused, final: true };
  if (checked.kind === "log") {
    // Aodh's log notifier: one line with the notification.
    console.log(JSON.stringify({ alarmNotification: { action: d.action, ...JSON.parse(d.body) } }));
    return { ok: true, status: null, error: null };
  }
  try {
    const res = await fetch(d.action, {
      method: "POST",
      headers: { "content-type": "application/json", "x-openstack-request-id": `req-${crypto.randomUUID()}` },
      body: d.body,
      // A redirect could point anywhere, a private address included: not followed.
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return res.ok
      ? { ok: true, status: res.status, error: null }
      : { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (e) {
    const name = (e as Error)?.name;
    const error =
      name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${DELIVERY_TIMEOUT_MS} ms`
        : String((e as Error)?.message ?? e);
    return { ok: false, status: null, error: error.slice(0, 500) };
  }
}

/**
 * Delivers what is due at `nowMs`: claims, POSTs in parallel, records each attempt, and retries or finishes each row.
 */
export async function drainDeliveries(env: Env, nowMs: number): Promise<DeliveryReport> {
  const db = env.DB;
  const report: DeliveryReport = { delivered: 0, failed: 0, givenUp: 0 };
  for (let i = 0; i < DELIVERY_BATCHES_MAX; i++) {
    const { results: due } = await claimDeliveries(db, nowMs, DELIVERY_BATCH, LEASE_MS).all<DeliveryRow>();
    if (!due.length) break;
    const outcomes = await Promise.all(due.map((d) => attempt(env, d)));
    const at = Date.now();
    const statements = due.flatMap((d, k) => {
      const o = outcomes[k];
      const n = d.attempts + 1;
      const giveUp = !o.ok && (o.final || n >= DELIVERY_ATTEMPTS_MAX);
      const next = o.ok || giveUp ? null : nowMs + backoffMs(n);
      if (o.ok) report.delivered++;
      else if (giveUp) report.givenUp++;
      else report.failed++;
      const body = JSON.parse(d.body) as { previous: string; current: string; severity: string };
      const detail = {
        action: d.action,
        attempt: n,
        outcome: o.ok ? "delivered" : giveUp ? "given up" : "failed",
        status: o.status,
        error: o.error,
        previous: body.previous,
        current: body.current,
        next_attempt: next === null ? null : isoTime(next),
      };
      const entry = historyRow(db, {
        alarmId: d.alarm_id,
        type: "action",
        detail,
        userId: null,
        projectId: null,
        onBehalfOf: d.project_id,
        severity: body.severity,
        timestamp: at,
      });
      return [entry, next === null ? finishDelivery(db, d.id) : retryDelivery(db, d.id, n, next)];
    });
    await db.batch(statements);
    if (due.length < DELIVERY_BATCH) break;
  }
  return report;
}
