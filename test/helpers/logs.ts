import { env } from "cloudflare:workers";
import { call, callJson, mintToken } from "./http";

/** Tokens of the three kinds of logs caller, and a dataset access record naming the users. */
export async function logsCallers() {
  const system = (await mintToken({ user: "pilot", role: "system" })).token;
  const reader = (await mintToken({ user: "viewer", role: "user", groups: ["readers"] })).token;
  const writer = (await mintToken({ user: "ops", role: "user", groups: ["writers"] })).token;
  const stranger = (await mintToken({ user: "nobody", role: "user", groups: ["others"] })).token;
  return { system, reader, writer, stranger };
}

export async function grantDataset(dataset: string) {
  const { status } = await callJson(`/auth/datasets/${dataset}`, {
    method: "PUT",
    json: { read_groups: ["readers"], write_groups: ["writers"], read_users: [], write_users: [] },
  });
  if (status !== 200) throw new Error(`access record for ${dataset} answered ${status}`);
}

export async function postLog(
  json: Record<string, unknown>,
  opts: { token?: string; dataset?: string } = {},
): Promise<string> {
  const path = opts.dataset ? `/datasets/${opts.dataset}/logs` : "/logs";
  const { status, body } = await callJson(path, { method: "POST", json, token: opts.token });
  if (status !== 201) throw new Error(`posting a log answered ${status}: ${JSON.stringify(body)}`);
  return body.result;
}

/** The D1 row of a log (where its body lives). */
export const logRow = (logId: string) =>
  env.DB.prepare("SELECT * FROM logs WHERE log_id = ?")
    .bind(logId)
    .first<{ data: string | null; in_r2: number; body_bytes: number; timestamp: string }>();

/** Every body key in the bucket (listing it, page by page). */
export async function bucketKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await env.LOG_BODIES.list({ prefix: "logs/", cursor });
    keys.push(...page.objects.map((o) => o.key));
    if (!page.truncated) return keys;
    cursor = page.cursor;
  }
}

/** Asserts none of these logs left a row or a body behind. */
export async function expectGone(logIds: string[]) {
  const keys = new Set(await bucketKeys());
  const left = logIds.filter((id) => keys.has(`logs/${id}`));
  if (left.length) throw new Error(`orphan bodies in R2: ${left.join(", ")}`);
  for (const id of logIds) if (await logRow(id)) throw new Error(`row of ${id} is still there`);
}

/** NDJSON lines as they arrive; each must be whole JSON ending in a newline. */
export async function readLines(res: Response): Promise<unknown[]> {
  const lines: unknown[] = [];
  let pending = "";
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      lines.push(JSON.parse(pending.slice(0, nl)));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending !== "") throw new Error(`unterminated NDJSON line: ${pending}`);
  return lines;
}

export { call, callJson };
