// OpsHub dashboard: a few views over the JSON APIs the Worker already serves. No framework:
// the DOM is built with `h()`, charts are uPlot. The token is pasted once and kept in
// localStorage; every call sends it as `Authorization: Bearer`.
// This file is the shell (sign-in, tabs, routing); api.ts calls the Worker, charts.ts
// draws, and each view is a file of views/.
import { getJson, HttpError, TOKEN_KEY } from "./api";
import { $view, failed, h, notice } from "./dom";
import { alarmsView } from "./views/alarms";
import { daemonsView } from "./views/daemons";
import { logsView } from "./views/logs";
import { schedulerView } from "./views/scheduler";
import { telemetryView } from "./views/telemetry";
import { testRunsView } from "./views/test-runs";

interface Whoami {
  user: string;
  role: string;
  projects: string[];
}
const VIEWS = [
  ["runs", "Test runs"],
  ["daemons", "Daemons"],
  ["telemetry", "Telemetry"],
  ["alarms", "Alarms"],
  ["logs", "Logs"],
  ["scheduler", "Scheduler"],
] as const;

async function route(me: Whoami) {
  const name = location.hash.slice(1) || "runs";
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => {
    a.setAttribute("aria-current", String(a.hash === `#${name}`));
  });
  const root = $view();
  root.dataset.view = name;
  root.replaceChildren(notice("Loading…"));
  try {
    if (name === "daemons") await daemonsView(root);
    else if (name === "telemetry") await telemetryView(root);
    else if (name === "alarms") await alarmsView(root);
    else if (name === "logs") await logsView(root, me.role);
    else if (name === "scheduler") await schedulerView(root, me.projects);
    else await testRunsView(root);
  } catch (e) {
    failed(root, e);
  }
}

function signIn(message?: string) {
  const token = h("input", {
    name: "token",
    type: "password",
    placeholder: "token",
    autocomplete: "off",
    required: true,
  });
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
  const signOut = h(
    "button",
    {
      type: "button",
      class: "link",
      onclick: () => {
        localStorage.removeItem(TOKEN_KEY);
        return signIn();
      },
    },
    "Sign out",
  );
  document
    .getElementById("who")!
    .replaceChildren(h("span", { "data-user": me.user }, `${me.user} (${me.role})`), signOut);
  document.getElementById("tabs")!.replaceChildren(...VIEWS.map(([id, label]) => h("a", { href: `#${id}` }, label)));
  window.onhashchange = () => route(me);
  await route(me);
}

start();
