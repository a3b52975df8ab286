// Logs (IceProd): the recent logs the token may read (GET /dashboard/api/logs: its
// datasets' for a user, every log for admins and system tokens), a task's logs, newest
// per name, and a body read a range at a time.
import { api, getJson, HttpError } from "../api";
import { failed, field, fmtTime, h, notice, short, table } from "../dom";

const LOG_CHUNK = 64 * 1024;

interface LogDoc {
  log_id: string;
  name: string;
  timestamp: string;
  task_id?: string | null;
  dataset_id?: string | null;
  body_bytes?: number;
}
interface RecentLogs {
  /** The user's readable datasets; null: every log. */
  datasets: string[] | null;
  logs: LogDoc[];
}

export async function logsView(root: HTMLElement, role: string) {
  const dataset = h("input", { name: "dataset", placeholder: "dataset id", autocomplete: "off" });
  const task = h("input", { name: "task", placeholder: "task id", autocomplete: "off" });
  const out = h("div", {});
  const recent = h("div", { class: "recent" });
  const body = h("div", { class: "log-body" });
  // Admins and system tokens read /logs (logs of no dataset too); users the dataset routes (with the access record).
  const viaLogs = role !== "user";

  /** The recent logs: a task opens its logs, a name opens that log's body. */
  async function showRecent() {
    recent.replaceChildren(notice("Loading recent logs…"));
    try {
      const r = (await getJson<RecentLogs>("/dashboard/api/logs"))!;
      const pick = (l: LogDoc) =>
        h(
          "a",
          {
            href: "#",
            "data-task": l.task_id ?? "",
            onclick: (e: Event) => {
              e.preventDefault();
              dataset.value = l.dataset_id ?? "";
              task.value = l.task_id ?? "";
              return show();
            },
          },
          l.task_id ?? "",
        );
      recent.replaceChildren(
        h("h3", {}, r.datasets ? `Recent logs of my datasets (${r.logs.length})` : `Recent logs (${r.logs.length})`),
        r.logs.length
          ? table(
              ["time", "dataset", "task", "name", "bytes"],
              r.logs.map((l) => [
                fmtTime(`${l.timestamp}Z`),
                l.dataset_id ?? "—",
                l.task_id ? pick(l) : "—",
                openLink(l.dataset_id ?? "", l),
                (l.body_bytes ?? 0).toLocaleString(),
              ]),
              { "data-table": "recent" },
            )
          : notice(r.datasets?.length === 0 ? "No dataset's access record names you or your groups." : "No logs yet."),
      );
    } catch (e) {
      failed(recent, e);
    }
  }

  const openLink = (d: string, l: LogDoc) =>
    h(
      "a",
      {
        href: "#",
        "data-log": l.log_id,
        onclick: (e: Event) => {
          e.preventDefault();
          return openLog(d, l);
        },
      },
      l.name,
    );

  async function show() {
    const d = dataset.value.trim();
    const t = task.value.trim();
    if (!t || (!d && !viaLogs)) return out.replaceChildren(notice("Give a dataset and a task."));
    out.replaceChildren(notice("Loading…"));
    body.replaceChildren();
    try {
      let history: LogDoc[];
      if (viaLogs) {
        const q = new URLSearchParams({ task_id: t, keys: "name|timestamp|task_id|dataset_id", limit: "1000" });
        if (d) q.set("dataset_id", d);
        const map = (await getJson<Record<string, LogDoc>>(`/logs?${q}`)) ?? {};
        history = Object.values(map);
      } else {
        const res = await api(
          `/datasets/${encodeURIComponent(d)}/tasks/${encodeURIComponent(t)}/logs?order=desc&num=1000&keys=log_id|name|timestamp`,
        ).catch((e) => {
          if (e instanceof HttpError && e.status === 404) return null;
          throw e;
        });
        history = res ? ((await res.json()) as { logs: LogDoc[] }).logs : [];
      }
      history.sort((a, b) => b.timestamp.localeCompare(a.timestamp));
      const latest = new Map<string, LogDoc>();
      for (const l of history) if (!latest.has(l.name)) latest.set(l.name, l);
      const open = (l: LogDoc) => openLink(d, l);
      out.replaceChildren(
        h("h3", {}, "Latest per name"),
        latest.size
          ? table(
              ["name", "time", "log"],
              [...latest.values()].map((l) => [open(l), fmtTime(`${l.timestamp}Z`), h("code", {}, short(l.log_id, 8))]),
              { "data-table": "latest" },
            )
          : notice("No logs for this task."),
        h("h3", {}, `History (${history.length})`),
        table(
          ["time", "name", "log"],
          history.map((l) => [fmtTime(`${l.timestamp}Z`), open(l), h("code", {}, short(l.log_id, 8))]),
          { "data-table": "history" },
        ),
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
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e: Event) => {
          e.preventDefault();
          return show();
        },
      },
      field("Dataset", dataset),
      field("Task", task),
      h("button", { type: "submit" }, "Show"),
    ),
    out,
    body,
    recent,
  );
  await showRecent();
}
