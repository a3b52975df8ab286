import { describe, expect, inject, it } from "vitest";
import { tokenFor } from "./tokens";

// The DataHub daemon and web UI over real HTTP against `wrangler dev`: the daemon asks
// for its id with the user's token, then beats with the id alone every 5 s.
const base = () => inject("baseUrl");

const get = (path: string, token?: string) =>
  fetch(`${base()}${path}`, { headers: token ? { Authorization: `Token ${token}` } : {} });

// The daemon sends its beat as a JSON body, without asking for anything else.
const heartbeat = (body: unknown) => fetch(`${base()}/heartbeat`, { method: "POST", body: JSON.stringify(body) });

describe("daemon registry over HTTP", () => {
  it("registers, beats, and answers status, entrypoint, log and tag queries", async () => {
    const user = `e2e-seller-${Date.now()}`;
    const token = await tokenFor(user);

    const id = await get("/daemon/id", token);
    expect(id.status).toBe(200);
    const { daemonid } = (await id.json()) as { daemonid: string };
    expect(daemonid).toMatch(/^[0-9a-f]{40}$/);
    expect(await (await get("/daemon/id", token)).json()).toEqual({ daemonid });

    const beat = {
      daemonid,
      entrypoint: ["http://211.10.23.23:35800"],
      log: ["2015/12/01 14:58:27 testlog5", "2015/12/01 14:58:28 testlog6", "2015/12/01 14:58:29 testlog7"],
      role: 0,
      abnormaltags: [`${user}/weather:2015`],
    };
    const first = await heartbeat(beat);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ code: 0, msg: "OK", data: {} });
    // The first beat records the daemon online and its tag in D1 ...
    expect(first.headers.get("server-timing")).toMatch(/rows_written=[1-9]/);
    // ... a repeat writes nothing to D1 (no D1 query at all).
    const repeat = await heartbeat({ ...beat, log: [] });
    expect(repeat.status).toBe(200);
    expect(repeat.headers.get("server-timing") ?? "").not.toContain("d1;");

    expect(await (await get("/daemon/status", token)).json()).toEqual({
      status: "online",
      entrypoint: ["http://211.10.23.23:35800"],
    });
    expect(await (await get(`/heartbeat/status/${user}`)).json()).toEqual({ status: "online" });
    expect(await (await get(`/daemon/ep/${user}`, token)).json()).toEqual({
      entrypoint: ["http://211.10.23.23:35800"],
    });
    expect(await (await get("/daemon/log/0?range=1", token)).json()).toEqual({
      log: ["2015/12/01 14:58:29 testlog7", "2015/12/01 14:58:28 testlog6"],
    });
    expect(await (await get(`/daemon/tags/status?repname=${user}&itemname=weather`)).json()).toEqual({
      status: "ABNORMAL",
      total: 1,
      results: [`${user}/weather:2015`],
    });

    // The daemon clears its tags by leaving them out.
    await heartbeat({ daemonid, entrypoint: ["http://211.10.23.23:35800"], role: 0 });
    expect(await (await get(`/daemon/tags/status?repname=${user}&itemname=weather&tagname=2015`)).json()).toEqual({
      status: "NORMAL",
      total: 0,
      results: null,
    });
  });

  it("speaks the original error codes", async () => {
    const unknown = await heartbeat({
      daemonid: "ffffffffffffffffffffffffffffffffffffffff",
      entrypoint: null,
      role: 0,
    });
    expect(unknown.status).toBe(403);
    expect(await unknown.json()).toEqual({ code: 6002, msg: "user not registered yet" });
    const empty = await heartbeat({ daemonid: "", entrypoint: null, role: 0 });
    expect(empty.status).toBe(403);
    expect(await empty.json()).toEqual({ code: 6201, msg: "daemonid is empty" });

    const anon = await get("/daemon/status");
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { code: number }).code).toBe(1005);

    const other = await get("/daemon/ep/somebody-else", await tokenFor(`e2e-curious-${Date.now()}`));
    expect(other.status).toBe(403);
    expect(((await other.json()) as { code: number }).code).toBe(1006);

    const noItem = await get("/daemon/tags/status?repname=x");
    expect(noItem.status).toBe(400);
    expect(((await noItem.json()) as { code: number }).code).toBe(1007);
  });
});
