// Daemons (DataHub): who is online now, where, and with which abnormal tags.
import { getJson } from "../api";
import { fmtTime, h, notice, table } from "../dom";

interface DaemonRow {
  user: string;
  daemon_id: string;
  online: boolean;
  since: string | null;
  last_beat: string | null;
  entrypoints: string[];
  abnormal_tags: Array<{ tag: string; since: string }>;
}

export async function daemonsView(root: HTMLElement) {
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
            d.abnormal_tags.length
              ? h(
                  "ul",
                  { class: "chips bad" },
                  ...d.abnormal_tags.map((t) => h("li", { title: `since ${fmtTime(t.since)}` }, t.tag)),
                )
              : "none",
          ]),
          { "data-table": "daemons" },
        )
      : notice("No daemon is online."),
  );
}
