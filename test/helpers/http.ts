import { exports } from "cloudflare:workers";

/** The admin token vitest.config.ts binds as ADMIN_TOKEN. */
export const ADMIN_TOKEN = "test-admin-token";

type Init = Omit<RequestInit, "body"> & { json?: unknown; body?: BodyInit | null; token?: string | null };

/** Calls the Worker the way a client does over HTTP (the request goes through the whole app). */
export async function call(path: string, init: Init = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  return exports.default.fetch(new Request(`http://opshub.test${path}`, { ...init, headers, body }));
}

export async function callJson<T = any>(
  path: string,
  init: Init = {},
): Promise<{ status: number; body: T; res: Response }> {
  const res = await call(path, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, res };
}

/** Mints a token through the admin route, as an operator would. */
export async function mintToken(input: {
  user: string;
  role: "admin" | "system" | "user";
  projects?: string[];
  groups?: string[];
}) {
  const { status, body } = await callJson<{ token: string; id: string }>("/auth/tokens", {
    method: "POST",
    json: input,
  });
  if (status !== 201) throw new Error(`minting a token answered ${status}`);
  return body;
}
