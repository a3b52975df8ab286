// Scheduler (Freezer): a project's sessions with their tag, status and jobs.
import { getJson } from "../api";
import { failed, field, fmtTime, h, notice, short, table } from "../dom";

interface SchedulerSession {
  session_id: string;
  session_tag: number;
  description: string;
  status: string;
  result: string;
  time_start: number;
  jobs: Record<string, { client_id: string; status: string; result: string }>;
}

export async function schedulerView(root: HTMLElement, projects: string[]) {
  const project = h("input", {
    name: "project",
    placeholder: "project id",
    value: projects[0] ?? "",
    list: "projects",
    autocomplete: "off",
  });
  const out = h("div", {});
  async function show() {
    const p = project.value.trim();
    if (!p) return out.replaceChildren(notice("Give a project id."));
    out.replaceChildren(notice("Loading…"));
    try {
      const sessions =
        (await getJson<{ sessions: SchedulerSession[] }>(`/v2/${encodeURIComponent(p)}/sessions?limit=1000`))?.sessions ?? [];
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
                  ...Object.entries(s.jobs ?? {}).map(([id, j]) =>
                    h("li", { "data-job": id }, h("code", {}, id), ` ${j.client_id}: ${j.status}${j.result ? ` (${j.result})` : ""}`),
                  ),
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
      {
        class: "filters",
        onsubmit: (e: Event) => {
          e.preventDefault();
          return show();
        },
      },
      field("Project", project),
      h("datalist", { id: "projects" }, ...projects.map((p) => h("option", { value: p }))),
      h("button", { type: "submit" }, "Show"),
    ),
    out,
  );
  await show();
}
