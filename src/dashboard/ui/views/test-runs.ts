// Test runs (pytest-monitor): sessions of a pipeline, the server's verdicts on one, a test's trend, two sessions
// compared.
import { getJson, monitorNewest } from "../api";
import { type Band, lineChart } from "../charts";
import { failed, field, fmtTime, h, notice, percent, round, short, table } from "../dom";

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
  summary: {
    tests: number;
    regressions: number;
    improvements: number;
    unchanged: number;
    insufficient_history: number;
    leaks: number;
  };
  tests: TestVerdict[];
}
interface Comparison {
  summary: { both: number; only_in_a: number; only_in_b: number };
  tests: Array<{
    item_variant: string;
    resources: Record<Resource, { a: number; b: number; change: number; relative_change: number | null }>;
  }>;
  only_in_a: Array<{ item_variant: string }>;
  only_in_b: Array<{ item_variant: string }>;
}
const VERDICT_ORDER: Verdict[] = ["regression", "improvement", "unchanged", "insufficient_history"];
const verdictBadge = (v: Verdict) => h("span", { class: `badge verdict-${v}`, "data-verdict": v }, v.replace("_", " "));
/** "1.6 (median 1.0, +60 %)" for a judged resource. */
const judged = (j: Judgement) =>
  j.median === null
    ? String(round(j.value))
    : `${round(j.value)} (median ${round(j.median)}, ${percent(j.relative_change)})`;

interface MonitorProjects {
  projects: Array<{ name: string; has_data: boolean }>;
  default: string | null;
  limit: number;
}
/** The project picked last, kept in this browser like the token. */
const PROJECT_KEY = "opshub.monitorProject";
/** Every monitor call goes to the picked project's API (docs/api/monitor.md, "Projects"). */
const monitorApi = (project: string) => (path: string) => `/projects/${encodeURIComponent(project)}/api/v1${path}`;

export async function testRunsView(root: HTMLElement) {
  const choice = (await getJson<MonitorProjects>("/dashboard/api/monitor-projects"))!;
  const names = choice.projects.map((p) => p.name);
  if (choice.default !== null && !names.includes(choice.default)) names.unshift(choice.default);
  const stored = localStorage.getItem(PROJECT_KEY);
  const current = stored !== null && names.includes(stored) ? stored : choice.default;
  if (current === null) {
    return root.replaceChildren(
      h("h2", {}, "Test runs"),
      notice("This token has no project: the test-run monitor keeps runs per project."),
    );
  }
  const projectSelect = h(
    "select",
    { name: "project" },
    ...names.map((n) =>
      h("option", { value: n }, choice.projects.some((p) => p.name === n && p.has_data) ? n : `${n} (no runs yet)`),
    ),
  );
  projectSelect.value = current;
  projectSelect.addEventListener("change", () => {
    localStorage.setItem(PROJECT_KEY, projectSelect.value);
    return testRunsView(root).catch((e) => failed(root, e));
  });
  const api = monitorApi(current);
  const pipelines = (await getJson<{ pipelines: string[] }>(api("/pipelines/")))?.pipelines ?? [];
  const pipeline = h(
    "select",
    { name: "pipeline" },
    h("option", { value: "" }, "all sessions"),
    ...pipelines.map((p) => h("option", { value: p }, p)),
  );
  const commit = h("input", { name: "commit", placeholder: "commit prefix", autocomplete: "off" });
  const test = h("input", {
    name: "test",
    placeholder: "test item, e.g. test_login",
    list: "items",
    autocomplete: "off",
  });
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
        ? api(`/filters/scm/${encodeURIComponent(ref)}/sessions/`)
        : pipeline.value
          ? api(`/sessions/?with_flags=pipeline_branch&restrict_flags=${encodeURIComponent(pipeline.value)}`)
          : api("/sessions/");
      let sessions = await monitorNewest<MonitorSession>(path, "sessions", 2);
      if (ref && pipeline.value) sessions = sessions.filter((s) => tagOf(s, "pipeline_branch") === pipeline.value);
      sessions.sort((a, b) => b.run_date.localeCompare(a.run_date));
      for (const s of sessions) known.set(s.session_h, s);
      // Compare: newest (b) against the one before it (a) unless the person picks others.
      const option = (s: MonitorSession) =>
        h(
          "option",
          { value: s.session_h },
          `${short(s.session_h, 8)} · ${tagOf(s, "pipeline_build_no") || fmtTime(s.run_date)}`,
        );
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
                h(
                  "a",
                  {
                    href: "#",
                    "data-session": s.session_h,
                    onclick: (e: Event) => {
                      e.preventDefault();
                      return showItems(s.session_h);
                    },
                  },
                  short(s.session_h, 8),
                ),
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
      report = await getJson<RegressionReport>(api(`/sessions/${encodeURIComponent(sessionH)}/regressions`));
      if (!report) return;
      const tests = [...report.tests].sort(
        (a, b) =>
          Number(b.leak) - Number(a.leak) || VERDICT_ORDER.indexOf(a.verdict) - VERDICT_ORDER.indexOf(b.verdict),
      );
      items.replaceChildren(...[...new Set(tests.map((t) => t.item))].map((n) => h("option", { value: n })));
      const { summary, baseline } = report;
      const open = (n: string) =>
        h(
          "a",
          {
            href: "#",
            onclick: (e: Event) => {
              e.preventDefault();
              test.value = n;
              return showTrend();
            },
          },
          n,
        );
      verdictBox.replaceChildren(
        h("h3", {}, `Session ${short(sessionH, 8)}: the server's verdicts`),
        h(
          "p",
          {
            class: summary.regressions || summary.leaks ? "notice error" : "notice",
            "data-server-summary": `${summary.regressions},${summary.improvements},${summary.unchanged},${summary.insufficient_history},${summary.leaks}`,
          },
          `${summary.regressions} regression(s), ${summary.improvements} improvement(s), ${summary.unchanged} unchanged, ${summary.insufficient_history} without enough history, ${summary.leaks} leak suspect(s)` +
            ` — against ${baseline.sessions.length} earlier session(s) of ${baseline.by ? `${baseline.by} ${baseline.value}` : "no branch"}.`,
        ),
        table(
          ["test", "verdict", "duration s", "memory MB", "leak"],
          tests.map((t) => [
            open(t.item),
            verdictBadge(t.verdict),
            judged(t.resources.total_time),
            judged(t.resources.mem_usage),
            t.leak ? "suspect" : "",
          ]),
          { "data-table": "verdicts" },
        ),
      );
      verdictBox.querySelectorAll("table[data-table=verdicts] tbody tr").forEach((tr, i) => {
        tr.classList.add(`verdict-${tests[i].verdict}`);
      });
    } catch (e) {
      failed(verdictBox, e);
    }
  }

  /** Two sessions side by side (GET /sessions/<a>/compare/<b>): per test, both values and the change. */
  async function showCompare() {
    if (!sideA.value || !sideB.value) return compareBox.replaceChildren(notice("Pick two sessions."));
    compareBox.replaceChildren(notice("Comparing…"));
    try {
      const c = (await getJson<Comparison>(
        api(`/sessions/${encodeURIComponent(sideA.value)}/compare/${encodeURIComponent(sideB.value)}`),
      ))!;
      const cell = (r: { a: number; b: number; relative_change: number | null }) =>
        `${round(r.a)} → ${round(r.b)} ${percent(r.relative_change)}`;
      compareBox.replaceChildren(
        h(
          "p",
          {
            class: "summary",
            "data-compare-summary": `${c.summary.both},${c.summary.only_in_a},${c.summary.only_in_b}`,
          },
          `${c.summary.both} test(s) in both, ${c.summary.only_in_a} only in A, ${c.summary.only_in_b} only in B.`,
        ),
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
      let metrics = await monitorNewest<MonitorMetric>(api(`/items/${encodeURIComponent(item)}/metrics`), "metrics");
      if (pipeline.value) {
        // `known` holds the pipeline's sessions, loaded just before the trend: keep their runs.
        metrics = metrics.filter(
          (m) =>
            tagOf(known.get(m.session_h) ?? ({ tags: [] } as unknown as MonitorSession), "pipeline_branch") ===
            pipeline.value,
        );
      }
      metrics.sort((a, b) => Date.parse(a.item_start_time) - Date.parse(b.item_start_time));
      if (!metrics.length) return trendBox.replaceChildren(notice(`No runs of ${item}.`));
      // One rule for "regression", the server's: the trend marks the run of the judged
      // session (the one picked, else the newest of this test) where its verdict says so.
      const newest = metrics[metrics.length - 1].session_h;
      if (!report?.tests.some((t) => t.item === item)) await showItems(newest);
      const judgedRun = report?.tests.find((t) => t.item === item);
      const judgedSession = judgedRun ? report!.session.session_h : null;
      const xs = metrics.map((m) => Date.parse(m.item_start_time) / 1000);
      const duration = metrics.map((m) => m.total_time);
      const memory = metrics.map((m) => m.mem_usage);
      const flags = (res: Resource) =>
        metrics.map((m) => m.session_h === judgedSession && judgedRun!.resources[res].verdict === "regression");
      const slow = flags("total_time");
      const big = flags("mem_usage");
      const marks = (values: number[], flagged: boolean[]) => values.map((v, i) => (flagged[i] ? v : null));
      const flagged = slow.filter(Boolean).length + big.filter(Boolean).length;
      const bandOf = (j: Judgement | undefined): Band | undefined =>
        j && j.lower !== null && j.upper !== null ? { lower: j.lower, upper: j.upper } : undefined;
      trendBox.replaceChildren(
        h("h3", {}, `${item}: ${metrics.length} runs`),
        h(
          "p",
          { class: flagged ? "notice error" : "notice", "data-regressions": flagged },
          judgedSession
            ? `${flagged} regression(s) in session ${short(judgedSession, 8)}, as the server judges it (pick another session above to judge it).`
            : "The server has not judged this test in any session shown.",
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
    {
      class: "filters",
      onsubmit: (e: Event) => {
        e.preventDefault();
        return loadSessions().then(showTrend);
      },
    },
    field("Project", projectSelect),
    field("Pipeline", pipeline),
    field("Commit", commit),
    field("Test", test),
    items,
    h("button", { type: "submit" }, "Show"),
  );
  pipeline.addEventListener("change", () => loadSessions());
  const compareForm = h(
    "form",
    {
      class: "filters compare-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        return showCompare();
      },
    },
    field("Session A", sideA),
    field("Session B", sideB),
    h("button", { type: "submit" }, "Compare"),
  );
  root.replaceChildren(
    h("h2", {}, "Test runs"),
    filters,
    verdictBox,
    trendBox,
    sessionsBox,
    h("h3", {}, "Compare two sessions"),
    compareForm,
    compareBox,
  );
  await loadSessions();
}
