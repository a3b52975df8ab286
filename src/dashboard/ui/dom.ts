// Building the page: `h()` makes elements, and the few blocks every view repeats.

export type Child = Node | string | number | null | undefined | false;
export type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const $view = () => document.getElementById("view") as HTMLElement;
export const fmtTime = (s: string | number | null | undefined) =>
  s === null || s === undefined || s === "" ? "—" : new Date(s).toLocaleString();
export const short = (s: string, n = 10) => (s.length > n ? `${s.slice(0, n)}…` : s);
export const round = (x: number) => Number(x.toPrecision(4));
export const percent = (x: number | null) => (x === null ? "" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(0)} %`);

export function notice(text: string, kind: "error" | "info" = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
export function failed(where: HTMLElement, err: unknown) {
  where.replaceChildren(notice(err instanceof Error ? err.message : String(err), "error"));
}
export function table(head: string[], rows: Child[][], attrs: Attrs = {}) {
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
export function field(label: string, input: HTMLElement) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}
