import { z } from "zod";
import { endpoint, type familyRouter, param } from "../http/app";
import { errors } from "../http/errors";
import { parseInteger } from "../http/query";
import { projectD1 } from "./project-db";
import { projectOf } from "./projects";
import { DEFAULT_THRESHOLDS, DEFAULT_WINDOW, JUDGED, MAX_WINDOW } from "./regressions";
import { compareSessions, MAX_METRICS_READ, sessionRegressions } from "./regressions-store";

/**
 * `GET /sessions/<h>/regressions` and `GET /sessions/<a>/compare/<b>`
 * (docs/api/monitor-regressions.md), registered on the monitor's router.
 */
export function registerRegressionRoutes(router: ReturnType<typeof familyRouter>) {
  const tags = ["test-run monitor"];
  const ok = (schema: z.ZodType) => ({
    200: { description: "OK", content: { "application/json": { schema } } },
    404: { description: "Unknown session" },
  });

  endpoint(
    router,
    "get",
    "/sessions/:h/regressions",
    {
      tags,
      summary: "Each test of a session judged against the same test in the branch's previous sessions",
      request: { query: RegressionArgs },
      responses: { ...ok(RegressionsOut), 400: { description: "window, k or min_change out of range" } },
    },
    async (c) => {
      const args = regressionArgs((name) => c.req.query(name));
      const h = param(c, "h");
      const project = projectOf(c);
      const answer = await sessionRegressions(await projectD1(c.env, project), project, h, args, readCap(c.env));
      if (!answer) throw errors.notFound(`Session ${h} does not exist`);
      if (answer === "too_many") {
        throw errors.badRequest(
          `This session and its window hold more than ${readCap(c.env)} metrics: use a smaller window`,
          {
            window: `the sessions read may hold at most ${readCap(c.env)} metrics together`,
          },
        );
      }
      return c.json(answer);
    },
  );

  endpoint(
    router,
    "get",
    "/sessions/:a/compare/:b",
    {
      tags,
      summary: "Two sessions side by side: per test and resource both values and the change (b - a)",
      responses: ok(CompareOut),
    },
    async (c) => {
      const project = projectOf(c);
      const d1 = await projectD1(c.env, project);
      const answer = await compareSessions(d1, project, param(c, "a"), param(c, "b"), readCap(c.env));
      if (answer.found === false) throw errors.notFound(`Session ${answer.missing.join(" and ")} does not exist`);
      if (answer.found === "too_many")
        throw errors.badRequest(`These two sessions hold more than ${readCap(c.env)} metrics together`);
      const { found: _, ...body } = answer;
      return c.json(body);
    },
  );
}

/** MAX_METRICS_READ, or a smaller MONITOR_MAX_METRICS_READ (tests show the bound with few rows). */
const readCap = (env: Env) => {
  const n = parseInteger((env as { MONITOR_MAX_METRICS_READ?: string }).MONITOR_MAX_METRICS_READ);
  return n !== null && n > 0 ? Math.min(n, MAX_METRICS_READ) : MAX_METRICS_READ;
};

const DECIMAL = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/** `window` (1..MAX_WINDOW), `k` and `min_change` (non-negative numbers); anything else a 400 naming the argument. */
export function regressionArgs(query: (name: string) => string | undefined) {
  const bad: Record<string, string> = {};
  const number = (name: string, fallback: number) => {
    const raw = query(name);
    if (raw === undefined) return fallback;
    const n = DECIMAL.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(n) || n < 0) bad[name] = "must be a number, 0 or more";
    return n;
  };
  const rawWindow = query("window");
  const window = rawWindow === undefined ? DEFAULT_WINDOW : parseInteger(rawWindow);
  if (window === null || window < 1 || window > MAX_WINDOW) bad.window = `must be an integer from 1 to ${MAX_WINDOW}`;
  const k = number("k", DEFAULT_THRESHOLDS.k);
  const minChange = number("min_change", DEFAULT_THRESHOLDS.minChange);
  const names = Object.keys(bad);
  if (names.length)
    throw errors.badRequest(`Bad ${names.join(", ")}: ${names.map((n) => `${n} ${bad[n]}`).join("; ")}`, bad);
  return { window: window!, k, minChange };
}

// Shapes for /openapi.json.
const RegressionArgs = z.object({
  window: z
    .string()
    .optional()
    .describe(`earlier sessions of the branch to compare with, 1..${MAX_WINDOW} (default ${DEFAULT_WINDOW})`),
  k: z
    .string()
    .optional()
    .describe(`MADs from the baseline median a change must exceed (default ${DEFAULT_THRESHOLDS.k})`),
  min_change: z
    .string()
    .optional()
    .describe(`smallest relative change that counts (default ${DEFAULT_THRESHOLDS.minChange} = 10 %)`),
});
const Verdict = z.enum(["regression", "improvement", "unchanged", "insufficient_history"]);
const SessionRef = z.object({
  session_h: z.string(),
  run_date: z.string(),
  scm_ref: z.string().nullable(),
  contexts: z.array(z.string()),
});
const TestFields = {
  item_path: z.string(),
  item: z.string(),
  item_variant: z.string(),
  kind: z.string(),
  component: z.string(),
};
const Judgement = z.object({
  value: z.number(),
  median: z.number().nullable(),
  mad: z.number().nullable(),
  change: z.number().nullable(),
  relative_change: z.number().nullable(),
  lower: z.number().nullable(),
  upper: z.number().nullable(),
  history: z.number().int(),
  verdict: Verdict,
});
const perResource = <T extends z.ZodType>(t: T) =>
  z.object(Object.fromEntries(JUDGED.map((r) => [r, t])) as Record<(typeof JUDGED)[number], T>);
const RegressionsOut = z.object({
  session: SessionRef,
  baseline: z.object({
    by: z.enum(["pipeline_branch", "branch", "scm_ref"]).nullable(),
    value: z.string().nullable(),
    window: z.number().int(),
    sessions: z.array(SessionRef),
  }),
  thresholds: z.object({ k: z.number(), min_change: z.number() }),
  summary: z.object({
    tests: z.number().int(),
    regressions: z.number().int(),
    improvements: z.number().int(),
    unchanged: z.number().int(),
    insufficient_history: z.number().int(),
    leaks: z.number().int(),
  }),
  tests: z.array(
    z.object({
      ...TestFields,
      context_h: z.string(),
      verdict: Verdict,
      leak: z.boolean(),
      resources: perResource(Judgement),
    }),
  ),
});
const Change = z.object({ a: z.number(), b: z.number(), change: z.number(), relative_change: z.number().nullable() });
const OneSide = z.object({ ...TestFields, context_h: z.string(), values: perResource(z.number()) });
const CompareOut = z.object({
  a: SessionRef,
  b: SessionRef,
  summary: z.object({ both: z.number().int(), only_in_a: z.number().int(), only_in_b: z.number().int() }),
  tests: z.array(
    z.object({ ...TestFields, context_a: z.string(), context_b: z.string(), resources: perResource(Change) }),
  ),
  only_in_a: z.array(OneSide),
  only_in_b: z.array(OneSide),
});
