import { describe, expect, it } from "vitest";
import { callJson } from "./helpers/http";

// Shared plumbing (src/http): a method a path lacks is a 405 naming the methods it has
// (Hono's method-not-allowed middleware), worded in the family's dialect, wherever the
// family's router is mounted.
describe("405 with Allow", () => {
  it("names the path's methods, GET bringing HEAD, in each family's dialect", async () => {
    const auth = await callJson("/auth/whoami", { method: "DELETE" });
    expect(auth).toMatchObject({ status: 405, body: { message: "method not allowed" } });
    expect(auth.res.headers.get("Allow")).toBe("GET, HEAD");

    const daemon = await callJson("/heartbeat", { method: "GET", token: null });
    expect(daemon).toMatchObject({ status: 405, body: { code: 1007, msg: "method not allowed" } });
    expect(daemon.res.headers.get("Allow")).toBe("POST");

    const logs = await callJson("/logs", { method: "PUT", json: {} });
    expect(logs).toMatchObject({ status: 405, body: { code: 405 } });
    expect(logs.res.headers.get("Allow")?.split(", ").sort()).toEqual(["GET", "HEAD", "POST"]);

    const telemetry = await callJson("/v2/samples", { method: "DELETE" });
    expect(telemetry).toMatchObject({ status: 405, body: { error: { code: 405, title: "Method Not Allowed" } } });
    expect(telemetry.res.headers.get("Allow")?.split(", ").sort()).toEqual(["GET", "HEAD", "POST"]);
  });

  it("strips the mount path of a router mounted twice (the daemon's routes under /api too)", async () => {
    const r = await callJson("/api/heartbeat", { method: "PUT", json: {}, token: null });
    expect(r).toMatchObject({ status: 405, body: { code: 1007, msg: "method not allowed" } });
    expect(r.res.headers.get("Allow")).toBe("POST");
  });

  it("matches a path with its trailing slash, and answers 404 (no Allow) for a path no route has", async () => {
    const r = await callJson("/api/v1/sessions/", { method: "DELETE" });
    expect(r).toMatchObject({ status: 405, body: { message: "method not allowed" } });
    expect(r.res.headers.get("Allow")).toContain("POST");
    const nf = await callJson("/auth/nowhere", { method: "DELETE" });
    expect(nf).toMatchObject({ status: 404, body: { message: "not found" } });
    expect(nf.res.headers.get("Allow")).toBeNull();
  });
});
