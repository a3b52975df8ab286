// OpsHub dashboard: a few views over the JSON APIs the Worker already serves. No framework:
// the DOM is built with `h()`, charts are uPlot. The token is pasted once and kept in
// localStorage; every call sends it as `Authorization: Bearer`.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { medianRegressions } from "../regressions";

const TOKEN_KEY = "opshub.token";
const LOG_CHUNK = 64 * 1024;

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const $view = () => document.getElementById("view") as HTMLElement;
const fmtTime = (s: string | number | null | undefined) => (s === null || s === undefined || s === "" ? "—" : new Date(s).toLocaleString());
const short = (s: string, n = 10) => (s.length > n ? `${s.slice(0, n)}…` : s);
const round = (x: number) => Number(x.toPrecision(4));
const percent = (x: number | null) => (x === null ? "" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(0)} %`);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** GET (or other) with the stored token; JSON unless `raw`. 204 is an empty answer. */
async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${localStorage.getItem(TOKEN_KEY) ?? ""}`);
  const res = await fetch(path, { ...init, headers });
  if (res.status >= 400) {
    const text = await res.text();
    let message = text;
    try {
      const body = JSON.parse(text);
      message = body.message ?? body.msg ?? body.error?.message ?? body.error ?? body.description ?? text;
    } catch {}
    throw new HttpError(res.status, `${res.status}: ${message}`);
  }
  return res;
}
async function getJson<T>(path: string): Promise<T | null> {
  const res = await api(path);
  return res.status === 204 ? null : ((await res.json()) as T);
}

/**
 * The newest pages of a monitor list: the last page (`page=-1`), then `prev_url` links,
 * at most `maxPages` of them, so a long history never loads whole.
 */
async function monitorNewest<T>(path: string, key: string, maxPages = 4): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined = `${path}${path.includes("?") ? "&" : "?"}page=-1`;
  for (let i = 0; next && i < maxPages; i++) {
    const body: Record<string, unknown> | null = await getJson<Record<string, unknown>>(next);
    if (!body) break;
    out.unshift(...((body[key] as T[]) ?? []));
    next = body.prev_url as string | undefined;
  }
  return out;
}

function notice(text: string, kind: "error" | "info" = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
function failed(where: HTMLElement, err: unknown) {
  where.replaceChildren(notice(err instanceof Error ? err.message : String(err), "error"));
}
function table(head: string[], rows: Child[][], attrs: Attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
      h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
    ),
  );
}
function field(label: string, input: HTMLElement) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

// ─── Charts ─────────────────────────────────────────────────────────────────

interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Points only (regression marks), no line. */
  pointsOnly?: boolean;
}

/** The server's baseline for a session: the values within it are "unchanged". */
interface Band {
  lower: number;
  upper: number;
}

const BAND_COLOR = "#9ca3af";

/**
 * A uPlot line chart that fills its box's width; `data-points` says how many x values it
 * drew, `data-band` the baseline band (lower,upper) it shades, when it has one.
 */
function lineChart(name: string, title: string, xs: number[], series: Series[], band?: Band) {
  const box = h(
    "figure",
    { class: "chart", "data-chart": name, "data-points": xs.length, "data-band": band ? `${round(band.lower)},${round(band.upper)}` : undefined },
    h("figcaption", {}, title),
  );
  const width = () => Math.max(280, box.clientWidth || $view().clientWidth - 16);
  const all: Series[] = band
    ? [
        ...series,
        { label: "baseline upper", values: xs.map(() => band.upper), color: BAND_COLOR },
        { label: "baseline lower", values: xs.map(() => band.lower), color: BAND_COLOR },
      ]
    : series;
  const plot = new uPlot(
    {
      width: width(),
      height: 220,
      scales: { x: { time: true } },
      series: [
        {},
        ...all.map((s) =>
          s.pointsOnly
            ? { label: s.label, stroke: s.color, width: 0, points: { show: true, size: 10, stroke: s.color, fill: s.color }, paths: () => null }
            : s.color === BAND_COLOR
              ? { label: s.label, stroke: s.color, width: 1, dash: [4, 4], points: { show: false } }
              : { label: s.label, stroke: s.color, width: 2, spanGaps: true, points: { show: true, size: 5 } },
        ),
      ],
      // Shade between the band's two lines (series indexes count the x series as 0).
      bands: band ? [{ series: [series.length + 1, series.length + 2], fill: "rgba(156, 163, 175, 0.18)" }] : undefined,
      axes: [{}, { size: 60 }],
    },
    [xs, ...all.map((s) => s.values)] as uPlot.AlignedData,
    box,
  );
  new ResizeObserver(() => plot.setSize({ width: width(), height: 220 })).observe(box);
  return box;
}

// ─── Views ──────────────────────────────────────────────────────────────────

interface MonitorSession {
  session_h: string;
  run_date: string;
  scm_ref: string | null;
  tags: Array<{ name: string; value: string }>;
}
interface MonitorMetric {
  session_h: string;
  item_start_time: string;
  item: string;
  item_variant: string;
  item_path: string;
  total_time: number;
  mem_usage: number;
}
const tagOf = (s: MonitorSession, name: string) => s.tags.find((t) => t.name === name)?.value ?? "";

type Verdict = "regression" | "improvement" | "unchanged" | "insufficient_history";
type Resource = "total_time" | "user_time" | "kernel_time" | "cpu_usage" | "mem_usage";
interface Judgement {
  value: number;
  median: number | null;
  change: number | null;
  relative_change: number | null;
  lower: number | null;
  upper: number | null;
  history: number;
  verdict: Verdict;
}
interface TestVerdict {
  item: string;
  item_variant: string;
  kind: string;
  component: string;
  verdict: Verdict;
  leak: boolean;
  resources: Record<Resource, Judgement>;
}
interface RegressionReport {
  session: { session_h: string };
  baseline: { by: string | null; value: string | null; sessions: unknown[] };
  summary: { tests: number; regressions: number; improvements: number; unchanged: number; insufficient_history: number; leaks: number };
  tests: TestVerdict[];
}
interface Comparison {
  summary: { both: number; only_in_a: number; only_in_b: number };
  tests: Array<{ item_variant: string; resources: Record<Resource, { a: number; b: number; change: number; relative_change: number | null }> }>;
  only_in_a: Array<{ item_variant: string }>;
  only_in_b: Array<{ item_variant: string }>;
}
const VERDICT_ORDER: Verdict[] = ["regression", "improvement", "unchanged", "insufficient_history"];
const verdictBadge = (v: Verdict) => h("span", { class: `badge verdict-${v}`, "data-verdict": v }, v.replace("_", " "));
/** "1.6 (median 1.0, +60 %)" for a judged resource. */
const judged = (j: Judgement) => (j.median === null ? String(round(j.value)) : `${round(j.value)} (median ${round(j.median)}, ${percent(j.relative_change)})`);

async function testRunsView(root: HTMLElement) {
  const pipelines = (await getJson<{ pipelines: string[] }>("/api/v1/pipelines/"))?.pipelines ?? [];
  const pipeline = h("select", { name: "pipeline" }, h("option", { value: "" }, "all sessions"), ...pipelines.map((p) => h("option", { value: p }, p)));
  const commit = h("input", { name: "commit", placeholder: "commit prefix", autocomplete: "off" });
  const test = h("input", { name: "test", placeholder: "test item, e.g. test_login", list: "items", autocomplete: "off" });
  const lastN = h("input", { name: "window", type: "number", min: 1, value: 5 });
  const factor = h("input", { name: "factor", type: "number", min: 1, step: 0.1, value: 1.5 });
  const items = h("datalist", { id: "items" });
  const sessionsBox = h("div", { class: "sessions" });
  const verdictBox = h("div", { class: "verdicts" });
  const trendBox = h("div", { class: "trend" });
  const compareBox = h("div", { class: "compare" });
  const known = new Map<string, MonitorSession>();
  /** The server's verdicts on the session picked last: its bands go on the trend charts. */
  let report: RegressionReport | null = null;
  const sideA = h("select", { name: "a" });
  const sideB = h("select", { name: "b" });

  async function loadSessions() {
    sessionsBox.replaceChildren(notice("Loading sessions…"));
    try {
      const ref = commit.value.trim();
      const path = ref
        ? `/api/v1/filters/scm/${encodeURIComponent(ref)}/sessions/`
        : pipeline.value
          ? `/api/v1/sessions/?with_flags=pipeline_branch&restrict_flags=${encodeURIComponent(pipeline.value)}`
          : "/api/v1/sessions/";
      let sessions = await monitorNewest<MonitorSession>(path, "sessions", 2);
      if (ref && pipeline.value) sessions = sessions.filter((s) => tagOf(s, "pipeline_branch") === pipeline.value);
      sessions.sort((a, b) => b.run_date.localeCompare(a.run_date));
      for (const s of sessions) known.set(s.session_h, s);
      // Compare: newest (b) against the one before it (a) unless the person picks others.
      const option = (s: MonitorSession) => h("option", { value: s.session_h }, `${short(s.session_h, 8)} · ${tagOf(s, "pipeline_build_no") || fmtTime(s.run_date)}`);
      sideA.replaceChildren(...sessions.map(option));
      sideB.replaceChildren(...sessions.map(option));
      if (sessions[1]) sideA.value = sessions[1].session_h;
      if (sessions[0]) sideB.value = sessions[0].session_h;
      sessionsBox.replaceChildren(
        h("h3", {}, `Sessions (${sessions.length})`),
        sessions.length
          ? table(
              ["pipeline", "build", "commit", "run", "session", "tags"],
              sessions.map((s) => [
                tagOf(s, "pipeline_branch") || "—",
                tagOf(s, "pipeline_build_no") || "—",
                h("code", {}, s.scm_ref ? short(s.scm_ref, 12) : "—"),
                fmtTime(s.run_date),
                h("a", { href: "#", "data-session": s.session_h, onclick: (e: Event) => (e.preventDefault(), showItems(s.session_h)) }, short(s.session_h, 8)),
                s.tags
                  .filter((t) => !t.name.startsWith("pipeline_") && t.name !== "__ci__")
                  .map((t) => `${t.name}=${t.value}`)
                  .join(" "),
              ]),
              { "data-table": "sessions" },
            )
          : notice("No sessions match."),
      );
    } catch (e) {
      failed(sessionsBox, e);
    }
  }

  /**
   * A session's tests as the server judges them against its branch's previous sessions
   * (GET /sessions/<h>/regressions): regressions first; a test's name opens its trend.
   */
  async function showItems(sessionH: string) {
    verdictBox.replaceChildren(notice(`Judging session ${short(sessionH, 8)}…`));
    try {
      report = await getJson<RegressionReport>(`/api/v1/sessions/${encodeURIComponent(sessionH)}/regressions`);
      if (!report) return;
      const tests = [...report.tests].sort((a, b) => Number(b.leak) - Number(a.leak) || VERDICT_ORDER.indexOf(a.verdict) - VERDICT_ORDER.indexOf(b.verdict));
      items.replaceChildren(...[...new Set(tests.map((t) => t.item))].map((n) => h("option", { value: n })));
      const { summary, baseline } = report;
      const open = (n: string) => h("a", { href: "#", onclick: (e: Event) => (e.preventDefault(), (test.value = n), showTrend()) }, n);
      verdictBox.replaceChildren(
        h("h3", {}, `Session ${short(sessionH, 8)}: the server's verdicts`),
        h(
          "p",
          { class: summary.regressions || summary.leaks ? "notice error" : "notice", "data-server-summary": `${summary.regressions},${summary.improvements},${summary.unchanged},${summary.insufficient_history},${summary.leaks}` },
          `${summary.regressions} regression(s), ${summary.improvements} improvement(s), ${summary.unchanged} unchanged, ${summary.insufficient_history} without enough history, ${summary.leaks} leak suspect(s)` +
            ` — against ${baseline.sessions.length} earlier session(s) of ${baseline.by ? `${baseline.by} ${baseline.value}` : "no branch"}.`,
        ),
        table(
          ["test", "verdict", "duration s", "memory MB", "leak"],
          tests.map((t) => [open(t.item), verdictBadge(t.verdict), judged(t.resources.total_time), judged(t.resources.mem_usage), t.leak ? "suspect" : ""]),
          { "data-table": "verdicts" },
        ),
      );
      verdictBox.querySelectorAll("table[data-table=verdicts] tbody tr").forEach((tr, i) => tr.classList.add(`verdict-${tests[i].verdict}`));
    } catch (e) {
      failed(verdictBox, e);
    }
  }

  /** Two sessions side by side (GET /sessions/<a>/compare/<b>): per test, both values and the change. */
  async function showCompare() {
    if (!sideA.value || !sideB.value) return compareBox.replaceChildren(notice("Pick two sessions."));
    compareBox.replaceChildren(notice("Comparing…"));
    try {
      const c = (await getJson<Comparison>(`/api/v1/sessions/${encodeURIComponent(sideA.value)}/compare/${encodeURIComponent(sideB.value)}`))!;
      const cell = (r: { a: number; b: number; relative_change: number | null }) => `${round(r.a)} → ${round(r.b)} ${percent(r.relative_change)}`;
      compareBox.replaceChildren(
        h("p", { class: "summary", "data-compare-summary": `${c.summary.both},${c.summary.only_in_a},${c.summary.only_in_b}` }, `${c.summary.both} test(s) in both, ${c.summary.only_in_a} only in A, ${c.summary.only_in_b} only in B.`),
        table(
          ["test", "duration s (A → B)", "memory MB (A → B)"],
          [
            ...c.tests.map((t) => [t.item_variant, cell(t.resources.total_time), cell(t.resources.mem_usage)]),
            ...c.only_in_a.map((t) => [t.item_variant, "only in A", ""]),
            ...c.only_in_b.map((t) => [t.item_variant, "only in B", ""]),
          ],
          { "data-table": "compare" },
        ),
      );
    } catch (e) {
      failed(compareBox, e);
    }
  }

  async function showTrend() {
    const item = test.value.trim();
    if (!item) return;
    trendBox.replaceChildren(notice(`Loading ${item}…`));
    try {
      let metrics = await monitorNewest<MonitorMetric>(`/api/v1/items/${encodeURIComponent(item)}/metrics`, "metrics");
      if (pipeline.value) {
        // `known` holds the pipeline's sessions, loaded just before the trend: keep their runs.
        metrics = metrics.filter((m) => tagOf(known.get(m.session_h) ?? ({ tags: [] } as unknown as MonitorSession), "pipeline_branch") === pipeline.value);
      }
      metrics.sort((a, b) => Date.parse(a.item_start_time) - Date.parse(b.item_start_time));
      if (!metrics.length) return trendBox.replaceChildren(notice(`No runs of ${item}.`));
      const n = Math.max(1, Number(lastN.value) || 5);
      const f = Math.max(1, Number(factor.value) || 1.5);
      const xs = metrics.map((m) => Date.parse(m.item_start_time) / 1000);
      const duration = metrics.map((m) => m.total_time);
      const memory = metrics.map((m) => m.mem_usage);
      const slow = medianRegressions(duration, n, f);
      const big = medianRegressions(memory, n, f);
      const marks = (values: number[], flags: boolean[]) => values.map((v, i) => (flags[i] ? v : null));
      const flagged = slow.filter(Boolean).length + big.filter(Boolean).length;
      // The server's judgement of the picked session's run of this test, and its baseline band.
      const judgedRun = report?.tests.find((t) => t.item === item);
      const bandOf = (j: Judgement | undefined): Band | undefined => (j && j.lower !== null && j.upper !== null ? { lower: j.lower, upper: j.upper } : undefined);
      trendBox.replaceChildren(
        h("h3", {}, `${item}: ${metrics.length} runs`),
        h(
          "p",
          { class: flagged ? "notice error" : "notice", "data-regressions": slow.filter(Boolean).length + big.filter(Boolean).length },
          flagged
            ? `${flagged} regression(s): slower or bigger than ${f}× the median of the previous ${n} runs.`
            : `No regression (a run over ${f}× the median of the previous ${n}).`,
        ),
        judgedRun
          ? h(
              "p",
              { class: "summary", "data-server-verdict": judgedRun.verdict },
              "Server, session ",
              h("code", {}, short(report!.session.session_h, 8)),
              ": ",
              verdictBadge(judgedRun.verdict),
              ` duration ${judged(judgedRun.resources.total_time)}, memory ${judged(judgedRun.resources.mem_usage)}${judgedRun.leak ? ", leak suspect" : ""}. The grey band is its baseline.`,
            )
          : "",
        h(
          "div",
          { class: "charts" },
          lineChart(
            "duration",
            "Duration (s)",
            xs,
            [
              { label: "total_time", values: duration, color: "#2563eb" },
              { label: "regression", values: marks(duration, slow), color: "#dc2626", pointsOnly: true },
            ],
            bandOf(judgedRun?.resources.total_time),
          ),
          lineChart(
            "memory",
            "Memory (MB)",
            xs,
            [
              { label: "mem_usage", values: memory, color: "#059669" },
              { label: "regression", values: marks(memory, big), color: "#dc2626", pointsOnly: true },
            ],
            bandOf(judgedRun?.resources.mem_usage),
          ),
        ),
        table(
          ["run", "commit", "build", "duration s", "memory MB", ""],
          metrics.map((m, i) => {
            const s = known.get(m.session_h);
            return [
              fmtTime(m.item_start_time),
              h("code", {}, s?.scm_ref ? short(s.scm_ref, 12) : short(m.session_h, 8)),
              s ? tagOf(s, "pipeline_build_no") : "",
              m.total_time,
              m.mem_usage,
              [slow[i] && "slower", big[i] && "bigger"].filter(Boolean).join(", "),
            ];
          }),
          { "data-table": "runs" },
        ),
      );
      trendBox.querySelectorAll("table[data-table=runs] tbody tr").forEach((tr, i) => {
        if (slow[i] || big[i]) tr.classList.add("regression");
      });
    } catch (e) {
      failed(trendBox, e);
    }
  }

  const filters = h(
    "form",
    { class: "filters", onsubmit: (e: Event) => (e.preventDefault(), loadSessions().then(showTrend)) },
    field("Pipeline", pipeline),
    field("Commit", commit),
    field("Test", test),
    field("Median of last N", lastN),
    field("Factor", factor),
    items,
    h("button", { type: "submit" }, "Show"),
  );
  pipeline.addEventListener("change", () => loadSessions());
  const compareForm = h(
    "form",
    { class: "filters compare-form", onsubmit: (e: Event) => (e.preventDefault(), showCompare()) },
    field("Session A", sideA),
    field("Session B", sideB),
    h("button", { type: "submit" }, "Compare"),
  );
  root.replaceChildren(h("h2", {}, "Test runs"), filters, verdictBox, trendBox, sessionsBox, h("h3", {}, "Compare two sessions"), compareForm, compareBox);
  await loadSessions();
}

interface DaemonRow {
  user: string;
  daemon_id: string;
  online: boolean;
  since: string | null;
  last_beat: string | null;
  entrypoints: string[];
  abnormal_tags: Array<{ tag: string; since: string }>;
}

async function daemonsView(root: HTMLElement) {
  root.replaceChildren(h("h2", {}, "Daemons"), notice("Loading…"));
  const body = await getJson<{ daemons: DaemonRow[]; total_online: number }>("/dashboard/api/daemons");
  const daemons = body?.daemons ?? [];
  root.replaceChildren(
    h("h2", {}, "Daemons"),
    h("p", { class: "summary" }, `${daemons.filter((d) => d.online).length} online now`),
    daemons.length
      ? table(
          ["user", "status", "since", "last beat", "entrypoints", "abnormal tags"],
          daemons.map((d) => [
            d.user,
            h("span", { class: `badge ${d.online ? "ok" : "off"}` }, d.online ? "online" : "offline"),
            fmtTime(d.since),
            fmtTime(d.last_beat),
            h("ul", { class: "plain" }, ...d.entrypoints.map((e) => h("li", {}, h("code", {}, e)))),
            d.abnormal_tags.length ? h("ul", { class: "chips bad" }, ...d.abnormal_tags.map((t) => h("li", { title: `since ${fmtTime(t.since)}` }, t.tag))) : "none",
          ]),
          { "data-table": "daemons" },
        )
      : notice("No daemon is online."),
  );
}

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

async function telemetryView(root: HTMLElement) {
  const meters = (await getJson<Array<{ name: string; unit: string }>>("/v2/meters")) ?? [];
  const names = [...new Set(meters.map((m) => m.name))].sort();
  const meter = h("select", { name: "meter" }, ...names.map((n) => h("option", { value: n }, n)));
  const now = new Date();
  const from = h("input", { name: "from", type: "datetime-local", value: isoLocal(new Date(now.getTime() - 24 * 3600_000)) });
  const to = h("input", { name: "to", type: "datetime-local", value: isoLocal(new Date(now.getTime() + 60_000)) });
  const out = h("div", {});

  async function show() {
    if (!meter.value) return out.replaceChildren(notice("No meter has samples yet."));
    out.replaceChildren(notice("Loading samples…"));
    try {
      const q = new URLSearchParams();
      const add = (f: string, op: string, v: string) => (q.append("q.field", f), q.append("q.op", op), q.append("q.value", v), q.append("q.type", ""));
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
      const stats = (await getJson<Statistics[]>(`/v2/meters/${encodeURIComponent(meter.value)}/statistics?${q}`)) ?? [];
      samples.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
      const resources = [...new Set(samples.map((s) => s.resource_id))];
      const xs = [...new Set(samples.map((s) => Date.parse(s.timestamp) / 1000))];
      const colors = ["#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2"];
      const series = resources.map((r, i) => {
        const byTime = new Map(samples.filter((s) => s.resource_id === r).map((s) => [Date.parse(s.timestamp) / 1000, s.volume]));
        return { label: r, color: colors[i % colors.length], values: xs.map((x) => byTime.get(x) ?? null) };
      });
      const s = stats[0];
      out.replaceChildren(
        samples.length ? lineChart("telemetry", `${meter.value} (${samples[0].unit})`, xs, series) : notice("No samples in this range."),
        h("h3", {}, "Statistics of the period"),
        s
          ? h(
              "dl",
              { class: "stats", "data-stats": meter.value },
              ...(
                [
                  ["samples", s.count],
                  ["min", s.min],
                  ["max", s.max],
                  ["avg", Number(s.avg.toFixed(4))],
                  ["sum", Number(s.sum.toFixed(4))],
                  ["first", fmtTime(s.duration_start)],
                  ["last", fmtTime(s.duration_end)],
                ] as Array<[string, string | number]>
              ).flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-stat": k }, v)]),
            )
          : notice("No statistics (no samples)."),
      );
    } catch (e) {
      failed(out, e);
    }
  }

  root.replaceChildren(
    h("h2", {}, "Telemetry"),
    h("form", { class: "filters", onsubmit: (e: Event) => (e.preventDefault(), show()) }, field("Meter", meter), field("From", from), field("To", to), h("button", { type: "submit" }, "Show")),
    out,
  );
  await show();
}

interface LogDoc {
  log_id: string;
  name: string;
  timestamp: string;
  task_id?: string;
  dataset_id?: string;
}

async function logsView(root: HTMLElement, role: string) {
  const dataset = h("input", { name: "dataset", placeholder: "dataset id", autocomplete: "off" });
  const task = h("input", { name: "task", placeholder: "task id", autocomplete: "off" });
  const out = h("div", {});
  const body = h("div", { class: "log-body" });
  // A system token reads /logs; admins and users the dataset routes (with the access record).
  const viaLogs = role === "system";

  async function show() {
    const d = dataset.value.trim();
    const t = task.value.trim();
    if (!d || !t) return out.replaceChildren(notice("Give a dataset and a task."));
    out.replaceChildren(notice("Loading…"));
    body.replaceChildren();
    try {
      let history: LogDoc[];
      if (viaLogs) {
        const q = new URLSearchParams({ dataset_id: d, task_id: t, keys: "name|timestamp|task_id|dataset_id", limit: "1000" });
        const map = (await getJson<Record<string, LogDoc>>(`/logs?${q}`)) ?? {};
        history = Object.values(map);
      } else {
        const res = await api(`/datasets/${encodeURIComponent(d)}/tasks/${encodeURIComponent(t)}/logs?order=desc&num=1000&keys=log_id|name|timestamp`).catch((e) => {
          if (e instanceof HttpError && e.status === 404) return null;
          throw e;
        });
        history = res ? ((await res.json()) as { logs: LogDoc[] }).logs : [];
      }
      history.sort((a, b) => b.timestamp.localeCompare(a.timestamp));
      const latest = new Map<string, LogDoc>();
      for (const l of history) if (!latest.has(l.name)) latest.set(l.name, l);
      const open = (l: LogDoc) => h("a", { href: "#", "data-log": l.log_id, onclick: (e: Event) => (e.preventDefault(), openLog(d, l)) }, l.name);
      out.replaceChildren(
        h("h3", {}, "Latest per name"),
        latest.size
          ? table(["name", "time", "log"], [...latest.values()].map((l) => [open(l), fmtTime(`${l.timestamp}Z`), h("code", {}, short(l.log_id, 8))]), { "data-table": "latest" })
          : notice("No logs for this task."),
        h("h3", {}, `History (${history.length})`),
        table(["time", "name", "log"], history.map((l) => [fmtTime(`${l.timestamp}Z`), open(l), h("code", {}, short(l.log_id, 8))]), { "data-table": "history" }),
        body,
      );
    } catch (e) {
      failed(out, e);
    }
  }

  /** Loads a body a chunk at a time by Range, so a 300 MB log is never fetched whole. */
  async function openLog(d: string, l: LogDoc) {
    const url = viaLogs ? `/logs/${l.log_id}/data` : `/datasets/${encodeURIComponent(d)}/logs/${l.log_id}/data`;
    const pre = h("pre", { "data-log-body": l.log_id });
    const status = h("p", { class: "summary" });
    const more = h("button", { type: "button" }, "Load more");
    let offset = 0;
    let size = Infinity;
    const decoder = new TextDecoder();
    async function chunk() {
      more.disabled = true;
      try {
        const res = await api(url, { headers: { Range: `bytes=${offset}-${offset + LOG_CHUNK - 1}` } });
        const bytes = new Uint8Array(await res.arrayBuffer());
        const total = res.headers.get("Content-Range")?.match(/\/(\d+)$/)?.[1];
        size = total ? Number(total) : bytes.byteLength;
        offset += bytes.byteLength;
        pre.append(decoder.decode(bytes, { stream: offset < size }));
        status.textContent = `${l.name}: ${offset.toLocaleString()} of ${size.toLocaleString()} bytes`;
        status.dataset.loaded = String(offset);
        status.dataset.size = String(size);
        more.hidden = offset >= size;
      } catch (e) {
        failed(body, e);
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener("click", chunk);
    body.replaceChildren(h("h3", {}, `${l.name} · ${fmtTime(`${l.timestamp}Z`)}`), status, pre, more);
    await chunk();
  }

  root.replaceChildren(
    h("h2", {}, "Logs"),
    h("form", { class: "filters", onsubmit: (e: Event) => (e.preventDefault(), show()) }, field("Dataset", dataset), field("Task", task), h("button", { type: "submit" }, "Show")),
    out,
  );
}

interface SchedulerSession {
  session_id: string;
  session_tag: number;
  description: string;
  status: string;
  result: string;
  time_start: number;
  jobs: Record<string, { client_id: string; status: string; result: string }>;
}

async function schedulerView(root: HTMLElement, projects: string[]) {
  const project = h("input", { name: "project", placeholder: "project id", value: projects[0] ?? "", list: "projects", autocomplete: "off" });
  const out = h("div", {});
  async function show() {
    const p = project.value.trim();
    if (!p) return out.replaceChildren(notice("Give a project id."));
    out.replaceChildren(notice("Loading…"));
    try {
      const sessions = (await getJson<{ sessions: SchedulerSession[] }>(`/v2/${encodeURIComponent(p)}/sessions?limit=1000`))?.sessions ?? [];
      out.replaceChildren(
        h("h3", {}, `Sessions (${sessions.length})`),
        sessions.length
          ? table(
              ["session", "description", "tag", "status", "result", "started", "jobs"],
              sessions.map((s) => [
                h("code", {}, short(s.session_id, 8)),
                s.description,
                s.session_tag,
                h("span", { class: `badge ${s.status === "running" ? "ok" : ""}` }, s.status),
                s.result || "—",
                s.time_start > 0 ? fmtTime(s.time_start * 1000) : "—",
                h(
                  "ul",
                  { class: "plain" },
                  ...Object.entries(s.jobs ?? {}).map(([id, j]) => h("li", { "data-job": id }, h("code", {}, id), ` ${j.client_id}: ${j.status}${j.result ? ` (${j.result})` : ""}`)),
                ),
              ]),
              { "data-table": "scheduler" },
            )
          : notice("No sessions in this project."),
      );
    } catch (e) {
      failed(out, e);
    }
  }
  root.replaceChildren(
    h("h2", {}, "Scheduler"),
    h(
      "form",
      { class: "filters", onsubmit: (e: Event) => (e.preventDefault(), show()) },
      field("Project", project),
      h("datalist", { id: "projects" }, ...projects.map((p) => h("option", { value: p }))),
      h("button", { type: "submit" }, "Show"),
    ),
    out,
  );
  await show();
}

// ─── Shell: sign-in and tabs ────────────────────────────────────────────────

interface Whoami {
  user: string;
  role: string;
  projects: string[];
}
const VIEWS = [
  ["runs", "Test runs"],
  ["daemons", "Daemons"],
  ["telemetry", "Telemetry"],
  ["logs", "Logs"],
  ["scheduler", "Scheduler"],
] as const;

async function route(me: Whoami) {
  const name = location.hash.slice(1) || "runs";
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => a.setAttribute("aria-current", String(a.hash === `#${name}`)));
  const root = $view();
  root.dataset.view = name;
  root.replaceChildren(notice("Loading…"));
  try {
    if (name === "daemons") await daemonsView(root);
    else if (name === "telemetry") await telemetryView(root);
    else if (name === "logs") await logsView(root, me.role);
    else if (name === "scheduler") await schedulerView(root, me.projects);
    else await testRunsView(root);
  } catch (e) {
    failed(root, e);
  }
}

function signIn(message?: string) {
  const token = h("input", { name: "token", type: "password", placeholder: "token", autocomplete: "off", required: true });
  document.getElementById("who")!.replaceChildren();
  $view().replaceChildren(
    h(
      "form",
      {
        class: "signin",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          localStorage.setItem(TOKEN_KEY, token.value.trim());
          await start();
        },
      },
      h("h2", {}, "Sign in"),
      h("p", {}, "Paste an OpsHub token. It is kept in this browser only and sent as a Bearer token."),
      message ? notice(message, "error") : null,
      token,
      h("button", { type: "submit" }, "Sign in"),
    ),
  );
  token.focus();
}

async function start() {
  if (!localStorage.getItem(TOKEN_KEY)) return signIn();
  let me: Whoami;
  try {
    me = (await getJson<Whoami>("/auth/whoami"))!;
  } catch (e) {
    localStorage.removeItem(TOKEN_KEY);
    return signIn(e instanceof HttpError && e.status < 500 ? "That token was not accepted." : String(e));
  }
  const signOut = h("button", { type: "button", class: "link", onclick: () => (localStorage.removeItem(TOKEN_KEY), signIn()) }, "Sign out");
  document.getElementById("who")!.replaceChildren(h("span", { "data-user": me.user }, `${me.user} (${me.role})`), signOut);
  document.getElementById("tabs")!.replaceChildren(...VIEWS.map(([id, label]) => h("a", { href: `#${id}` }, label)));
  window.onhashchange = () => route(me);
  await route(me);
}

start();
