// Telemetry alarms (Aodh-style): each alarm's state, condition and last transitions.
import { getJson } from "../api";
import { fmtTime, h, notice, table } from "../dom";

interface AlarmOverview {
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

const BADGE: Record<string, string> = { ok: "ok", alarm: "verdict-regression", "insufficient data": "" };
/** Aodh's timestamps are naive UTC. */
const utc = (s: string) => fmtTime(`${s}Z`);

export async function alarmsView(root: HTMLElement) {
  root.replaceChildren(h("h2", {}, "Alarms"), notice("Loading…"));
  const alarms = (await getJson<{ alarms: AlarmOverview[] }>("/dashboard/api/alarms"))?.alarms ?? [];
  const firing = alarms.filter((a) => a.state === "alarm").length;
  root.replaceChildren(
    h("h2", {}, "Alarms"),
    h("p", { class: "summary" }, `${alarms.length} alarms, ${firing} in alarm`),
    alarms.length
      ? table(
          ["alarm", "project", "state", "severity", "condition", "since", "last transitions"],
          alarms.map((a) => [
            h("span", { title: a.alarm_id }, a.name, a.enabled ? "" : " (disabled)"),
            a.project_id,
            h(
              "span",
              { class: `badge ${BADGE[a.state] ?? ""}`, "data-state": a.state, title: a.state_reason },
              a.state,
            ),
            a.severity,
            h("code", {}, a.condition),
            utc(a.state_timestamp),
            a.transitions.length
              ? h(
                  "ul",
                  { class: "plain" },
                  ...a.transitions.map((t) => h("li", { title: t.reason ?? "" }, `${utc(t.timestamp)} → ${t.state}`)),
                )
              : "none yet",
          ]),
          { "data-table": "alarms" },
        )
      : notice(
          "No alarm yet: create one with `ceilometer alarm-threshold-create` or `aodh alarm create --type threshold`.",
        ),
  );
}
