import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callJson, mintToken } from "./helpers/http";

/** A user with a token and the daemon id `/daemon/id` gave them. */
async function registered(user: string) {
  const { token } = await mintToken({ user, role: "user" });
  const { status, body } = await callJson<{ daemonid: string }>("/daemon/id", { token });
  expect(status).toBe(200);
  return { user, token, daemonId: body.daemonid };
}

const beat = (daemonid: unknown, extra: Record<string, unknown> = {}) =>
  callJson("/heartbeat", {
    method: "POST",
    token: null,
    json: { daemonid, entrypoint: ["http://211.10.23.23:35800"], log: [], role: 0, ...extra },
  });

const presence = (daemonId: string) => env.DAEMON_PRESENCE.get(env.DAEMON_PRESENCE.idFromName(daemonId));

/** The D1 work a response reports in Server-Timing (no header: no D1 query at all). */
function d1Work(res: Response) {
  const m = /queries=(\d+) rows_read=(\d+) rows_written=(\d+)/.exec(res.headers.get("server-timing") ?? "");
  return m ? { queries: Number(m[1]), rowsWritten: Number(m[3]) } : { queries: 0, rowsWritten: 0 };
}

const d1Status = (daemonId: string) =>
  env.DB.prepare("SELECT status, status_changed_at FROM daemons WHERE daemon_id = ?")
    .bind(daemonId)
    .first<{ status: string; status_changed_at: string | null }>();

describe("daemon ids", () => {
  it("hands out 40 lowercase hex, the same on every call, one per user", async () => {
    const a = await registered("id-alice");
    expect(a.daemonId).toMatch(/^[0-9a-f]{40}$/);
    for (let i = 0; i < 3; i++) {
      // The spec's `Authorization: Token` form, as the DataHub client sends it.
      const again = await callJson("/daemon/id", { token: null, headers: { Authorization: `Token ${a.token}` } });
      expect(again.body).toEqual({ daemonid: a.daemonId });
    }
    const b = await registered("id-bob");
    expect(b.daemonId).not.toBe(a.daemonId);
  });

  it("gives concurrent first calls the same id", async () => {
    const { token } = await mintToken({ user: "id-racer", role: "user" });
    const answers = await Promise.all(Array.from({ length: 5 }, () => callJson("/daemon/id", { token })));
    expect(new Set(answers.map((a) => a.body.daemonid)).size).toBe(1);
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM daemons WHERE user = 'id-racer'").first<{
      n: number;
    }>())!;
    expect(n).toBe(1);
  });

  it("refuses a missing or bad token with 1005", async () => {
    for (const token of [null, "not-a-token"]) {
      const { status, body } = await callJson("/daemon/id", { token });
      expect(status).toBe(401);
      expect(body).toEqual({ code: 1005, msg: expect.stringMatching(/^unauthorized/) });
    }
  });
});

describe("heartbeat", () => {
  it("accepts a registered daemon's beat with the original body", async () => {
    const d = await registered("hb-carol");
    const { status, body } = await beat(d.daemonId);
    expect(status).toBe(200);
    expect(body).toEqual({ code: 0, msg: "OK", data: {} });
  });

  it("refuses an empty daemon id with 6201 and an unknown one with 6002, storing nothing", async () => {
    for (const daemonid of ["", null, undefined]) {
      const { status, body } = await beat(daemonid);
      expect(status).toBe(403);
      expect(body).toEqual({ code: 6201, msg: "daemonid is empty" });
    }
    for (const daemonid of ["0123456789abcdef0123456789abcdef01234567", "nope"]) {
      const { status, body } = await beat(daemonid);
      expect(status).toBe(403);
      expect(body).toEqual({ code: 6002, msg: "user not registered yet" });
    }
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM daemon_abnormal_tags WHERE daemon_id = ?")
      .bind("0123456789abcdef0123456789abcdef01234567")
      .first<{ n: number }>())!;
    expect(n).toBe(0);
  });

  it("answers malformed beats with 400 and code 1007, changing nothing", async () => {
    const d = await registered("hb-dan");
    const bad: Array<[string, Record<string, unknown>]> = [
      ["entrypoint", { entrypoint: "http://x:1" }],
      ["role", { role: 2 }],
      ["abnormaltags.0", { abnormaltags: ["no-slash-or-colon"] }],
      ["log", { log: "one line" }],
    ];
    for (const [field, extra] of bad) {
      const { status, body } = await beat(d.daemonId, extra);
      expect(status, field).toBe(400);
      expect(body.code).toBe(1007);
      expect(body.msg).toContain(field);
    }
    const broken = await callJson("/heartbeat", { method: "POST", token: null, body: "{not json" });
    expect(broken.status).toBe(400);
    expect(broken.body).toEqual({ code: 1007, msg: expect.stringContaining("Malformed JSON") });
    const notObject = await callJson("/heartbeat", { method: "POST", token: null, json: ["x"] });
    expect(notObject.status).toBe(400);
    expect(notObject.body.code).toBe(1007);
    // None of them reached the presence object.
    expect((await callJson("/daemon/status", { token: d.token })).body).toEqual({ status: "offline", entrypoint: [] });
  });

  it("answers other methods with 405 and unknown paths with 404 in the dialect", async () => {
    const m = await callJson("/heartbeat", { method: "GET", token: null });
    expect(m.status).toBe(405);
    expect(m.body).toEqual({ code: 1007, msg: "method not allowed" });
    const nf = await callJson("/daemon/nowhere");
    expect(nf.status).toBe(404);
    expect(nf.body).toEqual({ code: 1009, msg: "not found" });
  });
});

describe("online, offline and entrypoints", () => {
  it("is online after a beat, offline when the alarm fires, online again with the next beat", async () => {
    const d = await registered("st-erin");
    expect((await callJson(`/heartbeat/status/${d.user}`, { token: null })).body).toEqual({ status: "offline" });

    await beat(d.daemonId, { entrypoint: ["http://211.10.23.23:35800", "http://10.0.0.2:35800"] });
    expect((await callJson("/daemon/status", { token: d.token })).body).toEqual({
      status: "online",
      entrypoint: ["http://211.10.23.23:35800", "http://10.0.0.2:35800"],
    });
    expect((await callJson(`/heartbeat/status/${d.user}`, { token: null })).body).toEqual({ status: "online" });
    expect((await d1Status(d.daemonId))!.status).toBe("online");

    // The alarm stands at last beat + DAEMON_OFFLINE_AFTER; run it now instead of waiting.
    const alarmAt = await runDurableObjectAlarm(presence(d.daemonId));
    expect(alarmAt).toBe(true);
    expect((await callJson(`/heartbeat/status/${d.user}`, { token: null })).body).toEqual({ status: "offline" });
    expect((await callJson("/daemon/status", { token: d.token })).body.status).toBe("offline");
    expect((await d1Status(d.daemonId))!.status).toBe("offline");

    await beat(d.daemonId);
    expect((await callJson("/daemon/status", { token: d.token })).body).toEqual({
      status: "online",
      entrypoint: ["http://211.10.23.23:35800"],
    });
    expect((await d1Status(d.daemonId))!.status).toBe("online");
  });

  it("moves the alarm to the last beat + DAEMON_OFFLINE_AFTER when newer beats came, instead of going offline", async () => {
    const d = await registered("st-steady");
    await beat(d.daemonId);
    await beat(d.daemonId);
    const last = Date.now();
    await beat(d.daemonId);
    const stub = presence(d.daemonId);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await callJson(`/heartbeat/status/${d.user}`, { token: null })).body).toEqual({ status: "online" });
    const moved = await runInDurableObject(stub, (_o, state) => state.storage.getAlarm());
    expect(moved!).toBeGreaterThanOrEqual(last + Number(env.DAEMON_OFFLINE_AFTER) * 1000);
    // No beat since: the next run records the daemon offline.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await callJson(`/heartbeat/status/${d.user}`, { token: null })).body).toEqual({ status: "offline" });
  });

  it("sets the alarm DAEMON_OFFLINE_AFTER seconds after the first beat", async () => {
    const d = await registered("st-alarm");
    const before = Date.now();
    await beat(d.daemonId);
    const alarm = await runInDurableObject(presence(d.daemonId), (_o, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    const after = Number(env.DAEMON_OFFLINE_AFTER) * 1000;
    expect(alarm!).toBeGreaterThanOrEqual(before + after);
    expect(alarm!).toBeLessThanOrEqual(Date.now() + after);
  });

  it("lets a user read only his own entrypoint, admins anyone's; 404 without daemon or entrypoint", async () => {
    const frank = await registered("ep-frank");
    const gina = await registered("ep-gina");
    await beat(frank.daemonId, { entrypoint: ["http://211.10.23.23:35800"] });

    const own = await callJson(`/daemon/ep/${frank.user}`, { token: frank.token });
    expect(own.status).toBe(200);
    expect(own.body).toEqual({ entrypoint: ["http://211.10.23.23:35800"] });

    const other = await callJson(`/daemon/ep/${frank.user}`, { token: gina.token });
    expect(other.status).toBe(403);
    expect(other.body).toEqual({ code: 1006, msg: "permission denied: only your own daemon's entrypoint" });

    expect((await callJson(`/daemon/ep/${frank.user}`)).body).toEqual({ entrypoint: ["http://211.10.23.23:35800"] });

    const noDaemon = await callJson("/daemon/ep/ep-nobody");
    expect(noDaemon.status).toBe(404);
    expect(noDaemon.body.code).toBe(1009);

    await beat(gina.daemonId, { entrypoint: null });
    const noEp = await callJson(`/daemon/ep/${gina.user}`, { token: gina.token });
    expect(noEp.status).toBe(404);
    expect(noEp.body.code).toBe(1009);

    const anon = await callJson(`/daemon/ep/${frank.user}`, { token: null });
    expect(anon.status).toBe(401);
    expect(anon.body.code).toBe(1005);
  });

  it("reports a user without daemon as offline with no entrypoint", async () => {
    const { token } = await mintToken({ user: "st-never", role: "user" });
    expect((await callJson("/daemon/status", { token })).body).toEqual({ status: "offline", entrypoint: [] });
    expect((await callJson("/heartbeat/status/st-never", { token: null })).body).toEqual({ status: "offline" });
  });
});

describe("daemon log", () => {
  const lines = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `2015/12/01 14:58:29 testlog${from + i}`);

  it("serves the newest lines first, index..index+range inclusive, default range 9", async () => {
    const d = await registered("log-hana");
    await beat(d.daemonId, { log: lines(0, 7) });
    await beat(d.daemonId, { log: lines(8, 11) });

    const first = await callJson("/daemon/log/0", { token: d.token });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ log: lines(2, 11).reverse() });

    const window = await callJson("/daemon/log/5?range=2", { token: d.token });
    expect(window.body).toEqual({
      log: ["2015/12/01 14:58:29 testlog6", "2015/12/01 14:58:29 testlog5", "2015/12/01 14:58:29 testlog4"],
    });

    expect((await callJson("/daemon/log/10", { token: d.token })).body).toEqual({
      log: ["2015/12/01 14:58:29 testlog1", "2015/12/01 14:58:29 testlog0"],
    });
    expect((await callJson("/daemon/log/12", { token: d.token })).body).toEqual({ log: [] });
  });

  it("keeps the newest 1000 lines", async () => {
    const d = await registered("log-ivan");
    await beat(d.daemonId, { log: lines(0, 699) });
    await beat(d.daemonId, { log: lines(700, 1199) });
    const newest = await callJson("/daemon/log/0?range=0", { token: d.token });
    expect(newest.body).toEqual({ log: ["2015/12/01 14:58:29 testlog1199"] });
    const oldest = await callJson("/daemon/log/998?range=20", { token: d.token });
    expect(oldest.body).toEqual({ log: ["2015/12/01 14:58:29 testlog201", "2015/12/01 14:58:29 testlog200"] });
    expect((await callJson("/daemon/log/1000", { token: d.token })).body).toEqual({ log: [] });
  });

  it("refuses bad windows with 400 and a user without daemon with 404", async () => {
    const d = await registered("log-jon");
    for (const path of ["/daemon/log/-1", "/daemon/log/x", "/daemon/log/0?range=-2", "/daemon/log/0?range=ten"]) {
      const { status, body } = await callJson(path, { token: d.token });
      expect(status, path).toBe(400);
      expect(body.code).toBe(1007);
    }
    const { token } = await mintToken({ user: "log-nodaemon", role: "user" });
    const none = await callJson("/daemon/log/0", { token });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe(1009);
  });
});

describe("abnormal tags", () => {
  const status = (query: string) => callJson(`/daemon/tags/status?${query}`, { token: null });

  it("replaces the tag set with each beat and clears it when a beat carries none", async () => {
    const d = await registered("tag-kate");
    await beat(d.daemonId, { abnormaltags: ["kate/weather:2015", "kate/weather:2016"] });
    expect((await status("repname=kate&itemname=weather")).body).toEqual({
      status: "ABNORMAL",
      total: 2,
      results: ["kate/weather:2015", "kate/weather:2016"],
    });
    expect((await status("repname=kate&itemname=weather&tagname=2015")).body).toEqual({
      status: "ABNORMAL",
      total: 1,
      results: ["kate/weather:2015"],
    });

    await beat(d.daemonId, { abnormaltags: ["kate/weather:2016", "kate/weather:2017"] });
    expect((await status("repname=kate&itemname=weather")).body).toEqual({
      status: "ABNORMAL",
      total: 2,
      results: ["kate/weather:2016", "kate/weather:2017"],
    });
    expect((await status("repname=kate&itemname=weather&tagname=2015")).body).toEqual({
      status: "NORMAL",
      total: 0,
      results: null,
    });

    // Absent `abnormaltags` means none.
    await beat(d.daemonId);
    expect((await status("repname=kate&itemname=weather")).body).toEqual({ status: "NORMAL", total: 0, results: null });
    expect((await status("repname=kate&itemname=weather&tagname=2016")).body).toEqual({
      status: "NORMAL",
      total: 0,
      results: null,
    });
  });

  it("counts a tag two daemons report once, and keeps it until both clear it", async () => {
    const a = await registered("tag-lee");
    const b = await registered("tag-mia");
    await beat(a.daemonId, { abnormaltags: ["shared/item:t1"] });
    await beat(b.daemonId, { abnormaltags: ["shared/item:t1"] });
    expect((await status("repname=shared&itemname=item")).body).toEqual({
      status: "ABNORMAL",
      total: 1,
      results: ["shared/item:t1"],
    });
    await beat(a.daemonId, { abnormaltags: [] });
    expect((await status("repname=shared&itemname=item&tagname=t1")).body.status).toBe("ABNORMAL");
    await beat(b.daemonId, { abnormaltags: null });
    expect((await status("repname=shared&itemname=item&tagname=t1")).body.status).toBe("NORMAL");
  });

  it("pages an item's tags: page from 1, size default 10, at most 100", async () => {
    const d = await registered("tag-ned");
    const all = Array.from({ length: 25 }, (_, i) => `ned/big:t${String(i).padStart(2, "0")}`);
    await beat(d.daemonId, { abnormaltags: [...all].reverse() });

    const p1 = await status("repname=ned&itemname=big");
    expect(p1.body).toEqual({ status: "ABNORMAL", total: 25, results: all.slice(0, 10) });
    expect((await status("repname=ned&itemname=big&page=3")).body).toEqual({
      status: "ABNORMAL",
      total: 25,
      results: all.slice(20),
    });
    expect((await status("repname=ned&itemname=big&page=2&size=7")).body.results).toEqual(all.slice(7, 14));
    expect((await status("repname=ned&itemname=big&size=100")).body.results).toEqual(all);
    // Past the end: the item is still abnormal, the page is empty — null, never [].
    expect((await status("repname=ned&itemname=big&page=4")).body).toEqual({
      status: "ABNORMAL",
      total: 25,
      results: null,
    });
    // Blank optional arguments, as a form sends them, mean "not given".
    expect((await status("repname=ned&itemname=big&tagname=&page=&size=")).body.results).toEqual(all.slice(0, 10));
  });

  it("needs repname and itemname, and sane page and size (400, 1007), but no token", async () => {
    for (const query of [
      "itemname=x",
      "repname=x",
      "repname=&itemname=x",
      "repname=x&itemname=y&page=0",
      "repname=x&itemname=y&size=101",
      "repname=x&itemname=y&page=two",
    ]) {
      const { status: code, body } = await status(query);
      expect(code, query).toBe(400);
      expect(body.code, query).toBe(1007);
    }
    const missing = await status("itemname=x");
    expect(missing.body.msg).toContain("repname");
    expect((await status("repname=nobody&itemname=nothing")).body).toEqual({
      status: "NORMAL",
      total: 0,
      results: null,
    });
  });

  it("answers tag queries and daemon lookups from indexes", async () => {
    const plans: Record<string, string> = {
      "SELECT 1 FROM daemon_abnormal_tags WHERE repname = 'a' AND itemname = 'b' AND tagname = 'c' LIMIT 1":
        "daemon_abnormal_tags_key",
      "SELECT count(DISTINCT tagname) FROM daemon_abnormal_tags WHERE repname = 'a' AND itemname = 'b'":
        "daemon_abnormal_tags_key",
      "SELECT DISTINCT tagname FROM daemon_abnormal_tags WHERE repname = 'a' AND itemname = 'b' ORDER BY tagname LIMIT 10 OFFSET 10":
        "daemon_abnormal_tags_key",
      "SELECT user FROM daemons WHERE daemon_id = 'x'": "daemons_daemon_id",
      "SELECT daemon_id FROM daemons WHERE user = 'x'": "sqlite_autoindex_daemons_1",
    };
    for (const [query, index] of Object.entries(plans)) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query}`).all<{ detail: string }>();
      const detail = results.map((r) => r.detail).join(" | ");
      expect(detail, query).toMatch(/^SEARCH/);
      expect(detail, query).toContain(index);
      expect(detail, query).not.toContain("TEMP B-TREE");
    }
  });
});

describe("D1 is written only when something changed", () => {
  it("writes for the first of 100 identical beats and never for the 99 after", async () => {
    const d = await registered("d1-olga");
    const payload = {
      entrypoint: ["http://211.10.23.23:35800"],
      abnormaltags: ["olga/item:a", "olga/item:b"],
      log: ["2015/12/01 14:58:29 testlog7"],
    };
    const works = [];
    for (let i = 0; i < 100; i++) {
      const res = await call("/heartbeat", {
        method: "POST",
        token: null,
        json: { daemonid: d.daemonId, role: 0, ...payload },
      });
      expect(res.status).toBe(200);
      works.push(d1Work(res));
    }
    // First beat: the status flip and two tags.
    expect(works[0].rowsWritten).toBeGreaterThanOrEqual(3);
    const later = works.slice(1);
    expect(later.reduce((n, w) => n + w.rowsWritten, 0)).toBe(0);
    // Not even a read: a repeated beat is one Durable Object call and nothing else.
    expect(later.reduce((n, w) => n + w.queries, 0)).toBe(0);
    // All 100 log lines were kept by the presence object all the same.
    expect((await callJson("/daemon/log/0?range=200", { token: d.token })).body.log).toHaveLength(100);
  });

  it("writes only the tags that changed; entrypoints and log lines stay in the presence object", async () => {
    const d = await registered("d1-pete");
    await beat(d.daemonId, { abnormaltags: ["pete/i:a"] });
    const changedAt = (await d1Status(d.daemonId))!.status_changed_at;

    const epOnly = await call("/heartbeat", {
      method: "POST",
      token: null,
      json: { daemonid: d.daemonId, entrypoint: ["http://1.2.3.4:1"], log: ["x"], abnormaltags: ["pete/i:a"] },
    });
    expect(d1Work(epOnly)).toEqual({ queries: 0, rowsWritten: 0 });

    const tagSwap = await call("/heartbeat", {
      method: "POST",
      token: null,
      json: { daemonid: d.daemonId, entrypoint: ["http://1.2.3.4:1"], abnormaltags: ["pete/i:b"] },
    });
    const w = d1Work(tagSwap);
    expect(w.rowsWritten).toBeGreaterThanOrEqual(2);
    // The status did not change, so its row was not touched.
    expect((await d1Status(d.daemonId))!.status_changed_at).toBe(changedAt);

    // Beats came after the alarm was set: it moves on (no D1 write); the next run records offline.
    await runDurableObjectAlarm(presence(d.daemonId));
    expect((await d1Status(d.daemonId))!.status).toBe("online");
    await runDurableObjectAlarm(presence(d.daemonId));
    expect((await d1Status(d.daemonId))!.status).toBe("offline");
    expect(await runDurableObjectAlarm(presence(d.daemonId))).toBe(false);
  });

  it("keeps concurrent beats of one daemon consistent (one status write, tags once)", async () => {
    const d = await registered("d1-quinn");
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        call("/heartbeat", {
          method: "POST",
          token: null,
          json: { daemonid: d.daemonId, abnormaltags: ["quinn/i:a"] },
        }),
      ),
    );
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const writes = answers.map(d1Work).filter((w) => w.rowsWritten > 0);
    expect(writes).toHaveLength(1);
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM daemon_abnormal_tags WHERE daemon_id = ?")
      .bind(d.daemonId)
      .first<{ n: number }>())!;
    expect(n).toBe(1);
  });
});

/** A beat exactly as DataHub v2.1.0 sends it: no Content-Type, no token, the body as its Go client marshals it. */
function goBeat(path: string, body: Record<string, unknown>) {
  return call(path, { method: "POST", token: null, body: new TextEncoder().encode(JSON.stringify(body)) });
}

describe("the daemon family under /api, where the real daemon calls it", () => {
  // What the daemon's logger queues: a timestamp, then the message in brackets with ANSI colours, then a newline.
  const colouredLines = [
    "2026/12/01 21:29:09 [\u001b[31m[ERROR] \u001b[0mdaemon.HeartBeat() heartbeat.go:97 Post https://hub/api/heartbeat: EOF]\n",
    '2026/12/01 21:29:14 [\u001b[32m[INFO] \u001b[0m"quoted" \\ back\\slash {brace} <tag>]\n',
  ];

  it("documents its routes once in /openapi.json, the /api mount in its description", async () => {
    const { body } = await callJson("/openapi.json", { token: null });
    const paths = Object.keys(body.paths);
    expect(paths).toContain("/heartbeat");
    expect(paths).toContain("/daemon/id");
    expect(paths.filter((p) => /^\/api\/(daemon|heartbeat)/.test(p))).toEqual([]);
    expect(body.info.description).toContain("/api/heartbeat");
    // Still served there: the undocumented mount answers as the documented one.
    expect((await callJson("/api/heartbeat/status/nobody-here", { token: null })).body).toEqual(
      (await callJson("/heartbeat/status/nobody-here", { token: null })).body,
    );
  });

  it("takes the daemon's beat at /api/heartbeat with no Content-Type, ignoring clientrypoint", async () => {
    const d = await registered("api-rita");
    const res = await goBeat("/api/heartbeat", {
      daemonid: d.daemonId,
      entrypoint: ["http://127.0.0.1:35800"],
      role: 0,
      clientrypoint: "127.0.0.1:35600?daemonauth=0123456789abcdef0123456789abcdef",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ code: 0, msg: "OK", data: {} });
    for (const path of ["/daemon/status", "/api/daemon/status"]) {
      expect((await callJson(path, { token: d.token })).body).toEqual({
        status: "online",
        entrypoint: ["http://127.0.0.1:35800"],
      });
    }
    expect((await callJson(`/api/heartbeat/status/${d.user}`, { token: null })).body).toEqual({ status: "online" });
    expect((await callJson(`/api/daemon/ep/${d.user}`, { token: d.token })).body).toEqual({
      entrypoint: ["http://127.0.0.1:35800"],
    });
    expect((await callJson("/api/daemon/id", { token: d.token })).body).toEqual({ daemonid: d.daemonId });
    // clientrypoint is not stored anywhere the API shows.
    expect(
      JSON.stringify(
        await runInDurableObject(presence(d.daemonId), (_o, state) =>
          state.storage.sql.exec("SELECT * FROM presence").toArray(),
        ),
      ),
    ).not.toContain("daemonauth");
  });

  it("stores colour-coded log lines byte for byte, newline and all", async () => {
    const d = await registered("api-sam");
    const res = await goBeat("/api/heartbeat", { daemonid: d.daemonId, entrypoint: null, log: colouredLines, role: 0 });
    expect(res.status).toBe(200);
    const { body } = await callJson("/api/daemon/log/0?range=1", { token: d.token });
    expect(body).toEqual({ log: [colouredLines[1], colouredLines[0]] });
  });

  it("accepts a beat carrying more queued lines than are kept, keeping the newest 1000", async () => {
    const d = await registered("api-tara");
    const queued = Array.from(
      { length: 1500 },
      (_, i) => `2026/12/01 21:29:09 [\u001b[31m[ERROR] \u001b[0mretry ${i}]\n`,
    );
    expect(
      (await goBeat("/api/heartbeat", { daemonid: d.daemonId, entrypoint: null, log: queued, role: 0 })).status,
    ).toBe(200);
    const { body } = await callJson("/daemon/log/0?range=1000", { token: d.token });
    expect(body.log).toHaveLength(1000);
    expect(body.log[0]).toBe(queued[1499]);
    expect(body.log[999]).toBe(queued[500]);
  });

  it("publishes and clears abnormal tags from a role 1 beat at /api/heartbeat", async () => {
    const d = await registered("api-uma");
    await goBeat("/api/heartbeat", {
      daemonid: d.daemonId,
      entrypoint: ["http://127.0.0.1:35800"],
      role: 1,
      abnormaltags: ["uma/weather:2015"],
    });
    expect(
      (await callJson("/api/daemon/tags/status?repname=uma&itemname=weather&tagname=2015", { token: null })).body,
    ).toEqual({
      status: "ABNORMAL",
      total: 1,
      results: ["uma/weather:2015"],
    });
    await goBeat("/api/heartbeat", { daemonid: d.daemonId, entrypoint: ["http://127.0.0.1:35800"], role: 1 });
    expect((await callJson("/api/daemon/tags/status?repname=uma&itemname=weather", { token: null })).body).toEqual({
      status: "NORMAL",
      total: 0,
      results: null,
    });
  });

  it("refuses unknown and empty ids with the daemon's codes at /api/heartbeat", async () => {
    const unknown = await goBeat("/api/heartbeat", {
      daemonid: "ffffffffffffffffffffffffffffffffffffffff",
      entrypoint: null,
      role: 0,
    });
    expect(unknown.status).toBe(403);
    expect(await unknown.json()).toEqual({ code: 6002, msg: "user not registered yet" });
    const empty = await goBeat("/api/heartbeat", { daemonid: "", entrypoint: null, role: 0 });
    expect(await empty.json()).toEqual({ code: 6201, msg: "daemonid is empty" });
  });

  it("answers every other /api path in the daemon's dialect, with a code, and leaves /api/v1 to the monitor", async () => {
    for (const path of [
      "/api/x",
      "/api",
      "/api/",
      "/api/notifications?forclient=1",
      "/api/heartbeat/status",
      "/api/v2/x",
    ]) {
      const { status, body } = await callJson(path, { token: null });
      expect(status, path).toBe(404);
      expect(body, path).toEqual({ code: 1009, msg: "not found" });
    }
    const wrongMethod = await callJson("/api/heartbeat", { method: "GET", token: null });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body).toEqual({ code: 1007, msg: "method not allowed" });
    const tooBig = await call("/api/heartbeat", { method: "POST", token: null, body: "x".repeat(2 * 1024 * 1024 + 1) });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { code: number }).code).toBe(1007);
    // The monitor keeps its own dialect under /api/v1.
    const monitorMiss = await callJson("/api/v1/nowhere");
    expect(monitorMiss.status).toBe(404);
    expect(monitorMiss.body).not.toHaveProperty("code");
  });
});

describe("presence objects are named only by well-formed daemon ids", () => {
  it("refuses ids that are not 40 lowercase hex before naming any object", async () => {
    const d = await registered("name-vera");
    for (const daemonid of [
      d.daemonId.toUpperCase(),
      `${d.daemonId}/x`,
      `${d.daemonId} `,
      `../${d.daemonId}`,
      d.daemonId.slice(1),
    ]) {
      const { status, body } = await beat(daemonid);
      expect(status, daemonid).toBe(403);
      expect(body).toEqual({ code: 6002, msg: "user not registered yet" });
    }
    expect((await callJson("/daemon/status", { token: d.token })).body.status).toBe("offline");
  });

  it("records a beat only against the daemon its object holds", async () => {
    const a = await registered("name-walt");
    const b = await registered("name-xena");
    await beat(a.daemonId);
    // An object holding a's state cannot be made to accept b's id.
    const refused = await runInDurableObject(presence(a.daemonId), (o) =>
      o.beat(b.daemonId, { entrypoints: ["http://evil:1"], log: [], role: 0, tags: [] }),
    );
    expect(refused.accepted).toBe(false);
    expect((await callJson(`/daemon/ep/${a.user}`, { token: a.token })).body).toEqual({
      entrypoint: ["http://211.10.23.23:35800"],
    });
    expect((await callJson("/daemon/status", { token: b.token })).body.status).toBe("offline");
  });

  it("makes a daemon's first beat one D1 round trip, tags included, and writes nothing for an unknown id", async () => {
    const d = await registered("name-yuri");
    const first = await call("/heartbeat", {
      method: "POST",
      token: null,
      json: { daemonid: d.daemonId, abnormaltags: ["yuri/i:a", "yuri/i:b"] },
    });
    expect(first.status).toBe(200);
    const w = d1Work(first);
    // One batch: the owner lookup, the status flip, one insert for both tags.
    expect(w.queries).toBe(3);
    expect(w.rowsWritten).toBeLessThanOrEqual(1 + 2 + 2 * 2); // the status row and its index, each tag row and its key
    const ghost = "abababababababababababababababababababab";
    const unknown = await call("/heartbeat", {
      method: "POST",
      token: null,
      json: { daemonid: ghost, abnormaltags: ["ghost/i:a"] },
    });
    expect(unknown.status).toBe(403);
    expect(d1Work(unknown).rowsWritten).toBe(0);
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM daemon_abnormal_tags WHERE daemon_id = ?")
      .bind(ghost)
      .first<{ n: number }>())!;
    expect(n).toBe(0);
  });
});

describe("tag churn is bounded", () => {
  const thousand = (prefix: string) =>
    Array.from({ length: 1000 }, (_, i) => `${prefix}/item:t${String(i).padStart(4, "0")}`);
  const tagRows = (daemonId: string) =>
    env.DB.prepare("SELECT count(*) AS n FROM daemon_abnormal_tags WHERE daemon_id = ?")
      .bind(daemonId)
      .first<{ n: number }>();

  it("records beats alternating 1,000 tags and none at most while the change budget lasts, each in a few statements", async () => {
    const d = await registered("churn-vic");
    const tags = thousand("vic");
    const works = [];
    for (let i = 0; i < 10; i++) {
      const res = await beat(d.daemonId, { abnormaltags: i % 2 === 0 ? tags : [] });
      expect(res.status).toBe(200);
      works.push(d1Work(res.res));
    }
    // Never near D1's queries per invocation: the first beat is the owner lookup, the flip and one insert.
    for (const w of works) expect(w.queries).toBeLessThanOrEqual(3);
    // The budget (2,000 changes) takes the first 1,000 added and the 1,000 removed; the rest wait.
    const written = works.map((w) => w.rowsWritten);
    expect(written.slice(2).every((n) => n === 0)).toBe(true);
    expect(written[0] + written[1]).toBeLessThanOrEqual(2 * 2 * 1000 + 10);
    expect((await tagRows(d.daemonId))!.n).toBe(0);
    // The live set is not lost: once the budget has refilled (10 minutes, moved here by
    // hand), the next beat records the set it carries.
    await runInDurableObject(presence(d.daemonId), (instance, state) => {
      state.storage.sql.exec("UPDATE presence SET tag_budget_at = tag_budget_at - ?", 10 * 60 * 1000);
      (instance as unknown as { state: undefined }).state = undefined; // read again from storage
    });
    const refilled = await beat(d.daemonId, { abnormaltags: tags });
    expect(d1Work(refilled.res).queries).toBe(1);
    expect((await tagRows(d.daemonId))!.n).toBe(1000);
    const status = await callJson("/daemon/tags/status?repname=vic&itemname=item&size=1", { token: null });
    expect(status.body).toEqual({ status: "ABNORMAL", total: 1000, results: ["vic/item:t0000"] });
  });

  it("clears 1,000 tags with one DELETE that probes the tag key", async () => {
    const d = await registered("churn-wes");
    await beat(d.daemonId, { abnormaltags: thousand("wes") });
    const cleared = await beat(d.daemonId, { abnormaltags: [] });
    expect(d1Work(cleared.res).queries).toBe(1);
    expect((await tagRows(d.daemonId))!.n).toBe(0);
    const { results } = await env.DB.prepare(
      `EXPLAIN QUERY PLAN DELETE FROM daemon_abnormal_tags WHERE (repname, itemname, tagname, daemon_id) IN
         (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), 'x' FROM json_each('[["a","b","c"]]'))`,
    ).all<{ detail: string }>();
    const detail = results.map((r) => r.detail).join(" | ");
    expect(detail).toMatch(/SEARCH daemon_abnormal_tags USING (COVERING )?INDEX daemon_abnormal_tags_key/);
    expect(detail).not.toContain("SCAN daemon_abnormal_tags");
  });

  it("refills the budget over 10 minutes, never past 2,000", async () => {
    const { tagBudgetAt, TAG_CHANGE_BUDGET, TAG_CHANGE_REFILL_MS } = await import("../src/daemon/presence");
    expect(TAG_CHANGE_BUDGET).toBe(2000);
    expect(tagBudgetAt(0, 0, TAG_CHANGE_REFILL_MS / 2)).toBe(1000);
    expect(tagBudgetAt(0, 0, TAG_CHANGE_REFILL_MS)).toBe(2000);
    expect(tagBudgetAt(1500, 0, TAG_CHANGE_REFILL_MS)).toBe(2000);
    expect(tagBudgetAt(10, 1000, 500)).toBe(10); // a clock that went back adds nothing
  });
});
