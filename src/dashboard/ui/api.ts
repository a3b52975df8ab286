// The dashboard's calls to the Worker's JSON APIs, each with the token pasted at sign-in.

export const TOKEN_KEY = "opshub.token";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Any method, with the stored token; an error status throws an HttpError with the server's message. */
export async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${localStorage.getItem(TOKEN_KEY) ?? ""}`);
  const res = await fetch(path, { ...init, headers });
  if (res.status >= 400) {
    const text = await res.text();
    let message = text;
    try {
      const body = JSON.parse(text);
      message = body.message ?? body.msg ?? body.error?.message ?? body.error ?? body.description ?? text;
    } catch {}
    throw new HttpError(res.status, `${res.status}: ${message}`);
  }
  return res;
}
export async function getJson<T>(path: string): Promise<T | null> {
  const res = await api(path);
  return res.status === 204 ? null : ((await res.json()) as T);
}

/**
 * The newest pages of a monitor list: the last page (`page=-1`), then `prev_url` links,
 * at most `maxPages` of them, so a long history never loads whole.
 */
export async function monitorNewest<T>(path: string, key: string, maxPages = 4): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined = `${path}${path.includes("?") ? "&" : "?"}page=-1`;
  for (let i = 0; next && i < maxPages; i++) {
    const body: Record<string, unknown> | null = await getJson<Record<string, unknown>>(next);
    if (!body) break;
    out.unshift(...((body[key] as T[]) ?? []));
    next = body.prev_url as string | undefined;
  }
  return out;
}
