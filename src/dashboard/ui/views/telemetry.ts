// Telemetry (Ceilometer): one meter's samples over a period, per resource, and its statistics.
import { api, getJson } from "../api";
import { lineChart } from "../charts";
import { failed, field, fmtTime, h, notice } from "../dom";

/** A statistic as a person reads it: six significant digits (10.000195868985… is 10.0002), integers whole. */
const statValue = (x: number) => (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6))));

interface Sample {
  resource_id: string;
  volume: number;
  timestamp: string;
  unit: string;
}
interface Statistics {
  count: number;
  min: number;
  max: number;
  avg: number;
  sum: number;
  unit: string;
  duration_start: string;
  duration_end: string;
}
const isoLocal = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

export async function telemetryView(root: HTMLElement) {
  const meters = (await getJson<Array<{ name: string; unit: string }>>("/v2/meters")) ?? [];
  const names = [...new Set(meters.map((m) => m.name))].sort();
  const meter = h("select", { name: "meter" }, ...names.map((n) => h("option", { value: n }, n)));
  const now = new Date();
  const from = h("input", {
    name: "from",
    type: "datetime-local",
    value: isoLocal(new Date(now.getTime() - 24 * 3600_000)),
  });
  const to = h("input", { name: "to", type: "datetime-local", value: isoLocal(new Date(now.getTime() + 60_000)) });
  const out = h("div", {});

  async function show() {
    if (!meter.value) return out.replaceChildren(notice("No meter has samples yet."));
    out.replaceChildren(notice("Loading samples…"));
    try {
      const q = new URLSearchParams();
      const add = (f: string, op: string, v: string) => {
        q.append("q.field", f);
        q.append("q.op", op);
        q.append("q.value", v);
        q.append("q.type", "");
      };
      add("meter", "eq", meter.value);
      if (from.value) add("timestamp", "ge", new Date(from.value).toISOString());
      if (to.value) add("timestamp", "le", new Date(to.value).toISOString());
      const samples: Sample[] = [];
      let next: string | null = `/v2/samples?${q}&per_page=1000`;
      for (let page = 0; next && page < 10; page++) {
        const res = await api(next);
        samples.push(...((await res.json()) as Sample[]));
        const link = res.headers.get("Link")?.match(/<([^>]+)>;\s*rel="next"/)?.[1];
        next = link ? new URL(link).pathname + new URL(link).search : null;
      }
      const stats =
        (await getJson<Statistics[]>(`/v2/meters/${encodeURIComponent(meter.value)}/statistics?${q}`)) ?? [];
      samples.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
      const resources = [...new Set(samples.map((s) => s.resource_id))];
      const xs = [...new Set(samples.map((s) => Date.parse(s.timestamp) / 1000))];
      const colors = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2"];
      const series = resources.map((r, i) => {
        const byTime = new Map(
          samples.filter((s) => s.resource_id === r).map((s) => [Date.parse(s.timestamp) / 1000, s.volume]),
        );
        return { label: r, color: colors[i % colors.length], values: xs.map((x) => byTime.get(x) ?? null) };
      });
      const s = stats[0];
      out.replaceChildren(
        samples.length
          ? lineChart("telemetry", `${meter.value} (${samples[0].unit})`, xs, series)
          : notice("No samples in this range."),
        h("h3", {}, "Statistics of the period"),
        s
          ? h(
              "dl",
              { class: "stats", "data-stats": meter.value },
              // Each label over its value, in a box of its own (a div per dt/dd pair), whatever the width.
              ...(
                [
                  ["samples", String(s.count)],
                  ["min", statValue(s.min)],
                  ["max", statValue(s.max)],
                  ["avg", statValue(s.avg)],
                  ["sum", statValue(s.sum)],
                  ["first", fmtTime(s.duration_start)],
                  ["last", fmtTime(s.duration_end)],
                ] as Array<[string, string]>
              ).map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", { "data-stat": k }, v))),
            )
          : notice("No statistics (no samples)."),
      );
    } catch (e) {
      failed(out, e);
    }
  }

  root.replaceChildren(
    h("h2", {}, "Telemetry"),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e: Event) => {
          e.preventDefault();
          return show();
        },
      },
      field("Meter", meter),
      field("From", from),
      field("To", to),
      h("button", { type: "submit" }, "Show"),
    ),
    out,
  );
  await show();
}
