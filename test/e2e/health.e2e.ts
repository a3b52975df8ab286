import { expect, inject, it } from "vitest";

it("serves /health and the admin token over real HTTP", async () => {
  const base = inject("baseUrl");
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
  const who = await fetch(`${base}/auth/whoami`, { headers: { "X-Auth-Token": inject("adminToken") } });
  expect(who.status).toBe(200);
  expect(await who.json()).toMatchObject({ role: "admin" });
});
