import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";

const presence = (daemonId: string) => env.DAEMON_PRESENCE.get(env.DAEMON_PRESENCE.idFromName(daemonId));

/** A user with a daemon that has beaten once. */
async function beatingDaemon(user: string, beat: { entrypoint: string[]; abnormaltags?: string[] }) {
  const { token } = await mintToken({ user, role: "user" });
  const { body } = await callJson<{ daemonid: string }>("/daemon/id", { token });
  const res = await call("/heartbeat", { method: "POST", token: null, json: { daemonid: body.daemonid, role: 0, log: [], ...beat } });
  expect(res.status).toBe(200);
  return { token, daemonId: body.daemonid };
}

describe("GET /dashboard/api/daemons", () => {
  it("needs a token", async () => {
    expect((await call("/dashboard/api/daemons", { token: null })).status).toBe(401);
  });

  it("shows admins the daemons online now with since, entrypoints and abnormal tags; offline ones drop out", async () => {
    const on = await beatingDaemon("dash-on", { entrypoint: ["http://10.0.0.1:35800"], abnormaltags: ["repo/item:t2", "repo/item:t1"] });
    const gone = await beatingDaemon("dash-gone", { entrypoint: ["http://10.0.0.2:35800"] });
    await runDurableObjectAlarm(presence(gone.daemonId));

    const { status, body } = await callJson("/dashboard/api/daemons");
    expect(status).toBe(200);
    const users = body.daemons.map((d: { user: string }) => d.user);
    expect(users).toContain("dash-on");
    expect(users).not.toContain("dash-gone");
    const row = body.daemons.find((d: { user: string }) => d.user === "dash-on");
    expect(row).toMatchObject({
      daemon_id: on.daemonId,
      online: true,
      entrypoints: ["http://10.0.0.1:35800"],
      abnormal_tags: [{ tag: "repo/item:t1" }, { tag: "repo/item:t2" }],
    });
    expect(Date.parse(row.since)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(row.last_beat)).toBeGreaterThanOrEqual(Date.parse(row.since) - 1000);
  });

  it("shows a user only their own daemon", async () => {
    await beatingDaemon("dash-other", { entrypoint: ["http://10.0.0.3:35800"] });
    const mine = await beatingDaemon("dash-me", { entrypoint: ["http://10.0.0.4:35800"] });
    const { body } = await callJson("/dashboard/api/daemons", { token: mine.token });
    expect(body.daemons.map((d: { user: string }) => d.user)).toEqual(["dash-me"]);
  });

  it("finds the online daemons through the status index, not a scan", async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT user, daemon_id, status_changed_at FROM daemons WHERE status = ? LIMIT 200",
    )
      .bind("online")
      .all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail).join("\n")).toMatch(/USING INDEX daemons_status/);
    const tags = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT * FROM daemon_abnormal_tags ORDER BY repname, itemname, tagname, daemon_id LIMIT 1000",
    ).all<{ detail: string }>();
    expect(tags.results.map((r) => r.detail).join("\n")).not.toMatch(/TEMP B-TREE/);
  });
});

describe("the dashboard's entry", () => {
  it("sends / and /dashboard to /dashboard/, without a token", async () => {
    for (const path of ["/", "/dashboard"]) {
      const res = await call(path, { token: null, redirect: "manual" });
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe("/dashboard/");
    }
  });
});
