import { expect, inject } from "vitest";

/** A fresh `user` token, minted with the admin token of the shared dev server. */
export async function tokenFor(user: string): Promise<string> {
  const res = await fetch(`${inject("baseUrl")}/auth/tokens`, {
    method: "POST",
    headers: { Authorization: `Bearer ${inject("adminToken")}`, "content-type": "application/json" },
    body: JSON.stringify({ user, role: "user", projects: [], groups: [] }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}
