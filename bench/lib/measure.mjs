// Requests, D1 cost from Server-Timing, and autocannon runs.
import autocannon from "autocannon";

/**
 * `d1;dur=..;desc="round_trips=T queries=N rows_read=R rows_written=W"` → numbers; no
 * header means no D1 work. Keys are read one by one, so a service that sends no
 * `round_trips` yet (older builds) still parses: its round trips are then unknown.
 */
export function d1Cost(headers) {
  let raw = "";
  if (typeof headers.get === "function") raw = headers.get("server-timing") ?? "";
  else
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === "server-timing") raw = [v].flat().join(", ");
  const m = /(?:^|,)\s*d1;dur=([\d.]+);desc="([^"]*)"/.exec(raw);
  if (!m) return { ms: 0, roundTrips: 0, queries: 0, read: 0, written: 0 };
  const key = (k) => {
    const v = new RegExp(`(?:^| )${k}=(\\d+)`).exec(m[2]);
    return v ? Number(v[1]) : undefined;
  };
  return {
    ms: Number(m[1]),
    roundTrips: key("round_trips"),
    queries: key("queries") ?? 0,
    read: key("rows_read") ?? 0,
    written: key("rows_written") ?? 0,
  };
}

/** A request as the bench describes it: { method, path, headers, body (string|object) }. */
export function client(baseUrl, token) {
  const auth = { authorization: `Bearer ${token}` };
  const prepare = (req) => {
    const headers = req.noAuth ? { ...req.headers } : { ...auth, ...req.headers };
    let body = req.body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) {
      body = JSON.stringify(body);
      headers["content-type"] ??= "application/json";
    }
    return { method: req.method ?? "GET", headers, body };
  };
  const send = async (req) => {
    const url = req.path.startsWith("http") ? req.path : baseUrl + req.path;
    const t0 = performance.now();
    const res = await fetch(url, prepare(req));
    const text = await res.text();
    const ms = performance.now() - t0;
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, ok: res.ok, headers: res.headers, text, json, ms, cost: d1Cost(res.headers) };
  };
  /** Like send, but a non-2xx answer throws with the status and the body's start. */
  const must = async (req) => {
    const r = await send(req);
    if (!r.ok) throw new RouteError(req, r);
    return r;
  };
  return { send, must, prepare, baseUrl, token };
}

export class RouteError extends Error {
  constructor(req, r) {
    super(`${req.method ?? "GET"} ${req.path} → ${r.status} ${r.text.slice(0, 160)}`);
    this.status = r.status;
  }
}

/**
 * D1 cost of a route from `samples` sampled requests (median of each number), with the
 * status of the last one. `req` may be a function of the sample index (writes need
 * fresh bodies).
 */
export async function sampleCost(api, req, samples = 3) {
  const runs = [];
  let sent;
  for (let i = 0; i < samples; i++) {
    sent = typeof req === "function" ? req(i) : req;
    runs.push(await api.send(sent));
  }
  const med = (k) => {
    const xs = runs.map((r) => r.cost[k] ?? 0).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)];
  };
  const last = runs.at(-1);
  return {
    status: last.status,
    ok: runs.every((r) => r.ok),
    error: runs.find((r) => !r.ok)?.text.slice(0, 160),
    read: med("read"),
    written: med("written"),
    queries: med("queries"),
    roundTrips: med("roundTrips"),
    /** D1's own time (the `duration` of each statement, summed): what the database's one writer spends. */
    ms: med("ms"),
    records: recordsOf(sent),
    bytes: last.text.length,
    last,
  };
}

/** Records a write carries: an array body's length, else one (none for a bodiless GET). */
export function recordsOf(req) {
  if (!req || req.body === undefined) return (req?.method ?? "GET") === "GET" ? 0 : 1;
  return Array.isArray(req.body) ? req.body.length : 1;
}

/**
 * Drives one route with autocannon at fixed concurrency for `seconds`. `make(i)` returns
 * the i-th request (called per request, so writes can carry fresh keys); when
 * `countD1` is set every response's Server-Timing is summed (for the write routes).
 */
export async function load(api, make, { connections, seconds, countD1 = false, warmup = 0 }) {
  let i = 0;
  const d1 = { responses: 0, read: 0, written: 0, queries: 0, roundTrips: 0 };
  const request = {
    setupRequest: (r) => {
      const req = make(i++);
      const p = api.prepare(req);
      const path = req.path.startsWith("http") ? new URL(req.path).pathname + new URL(req.path).search : req.path;
      return { ...r, method: p.method, path, headers: p.headers, ...(p.body === undefined ? {} : { body: p.body }) };
    },
  };
  if (countD1) {
    request.onResponse = (_status, _body, _context, headers) => {
      const c = d1Cost(headers);
      d1.responses++;
      d1.read += c.read;
      d1.written += c.written;
      d1.queries += c.queries;
      d1.roundTrips += c.roundTrips ?? 0;
    };
  }
  if (warmup) {
    // Not counted: a first second lets the isolate and D1 warm up for this route.
    await autocannon({
      url: api.baseUrl,
      connections,
      duration: warmup,
      requests: [{ setupRequest: request.setupRequest }],
      timeout: 30,
    });
  }
  const result = await autocannon({
    url: api.baseUrl,
    connections,
    duration: seconds,
    requests: [request],
    timeout: 30,
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  return {
    rps: result.requests.average,
    total: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx,
    statusCodes: result.statusCodeStats,
    d1:
      countD1 && d1.responses
        ? {
            read: d1.read / d1.responses,
            written: d1.written / d1.responses,
            queries: d1.queries / d1.responses,
            roundTrips: d1.roundTrips / d1.responses,
            responses: d1.responses,
            totalRead: d1.read,
            totalWritten: d1.written,
          }
        : null,
  };
}
