// Scheduler (Freezer): sessions with their tag, status and jobs. It opens on the newest
// sessions of every project the token may use (GET /dashboard/api/sessions); a project
// named in the filter lists that project's.
import { getJson } from "../api";
import { failed, field, fmtTime, h, notice, short, table } from "../dom";

interface SchedulerSession {
  project_id?: string;
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
    placeholder: "all my projects",
    list: "projects",
    autocomplete: "off",
  });
  const out = h("div", {});
  async function show() {
    const p = project.value.trim();
    out.replaceChildren(notice("Loading…"));
    try {
      const sessions = p
        ? (
            (await getJson<{ sessions: SchedulerSession[] }>(`/v2/${encodeURIComponent(p)}/sessions?limit=1000`))
              ?.sessions ?? []
          )
            .map((s) => ({ ...s, project_id: p }))
            .reverse()
        : ((await getJson<{ sessions: SchedulerSession[] }>("/dashboard/api/sessions"))?.sessions ?? []);
      out.replaceChildren(
        h(
          "h3",
          {},
          p
            ? `Sessions of ${p} (${sessions.length}), newest first`
            : `Newest sessions of my projects (${sessions.length})`,
        ),
        sessions.length
          ? table(
              ["project", "session", "description", "tag", "status", "result", "started", "jobs"],
              sessions.map((s) => [
                s.project_id ?? "",
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
                    h(
                      "li",
                      { "data-job": id },
                      h("code", {}, id),
                      ` ${j.client_id}: ${j.status}${j.result ? ` (${j.result})` : ""}`,
                    ),
                  ),
                ),
              ]),
              { "data-table": "scheduler" },
            )
          : notice(p ? "No sessions in this project." : "No sessions in your projects."),
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
