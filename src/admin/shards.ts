/**
 * Admin routes for shards (docs/deploy.md, "Shards: adding one, moving a project"): the
 * shards with how many projects each holds, and moving a project between them
 * (src/db/shard-move.ts). Admin tokens only; errors in the plain dialect.
 */
import { z } from "zod";
import { requireToken } from "../auth/middleware";
import { MoveRefused, moveState, runMove, shardCounts, startMove } from "../db/shard-move";
import { placementsOf } from "../db/shards";
import { endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import { parseInput, readJson } from "../http/body";
import { ApiError, errors } from "../http/errors";
import { monitorMoveTables } from "../monitor/shard-tables";
import { telemetryMoveTables } from "../telemetry/shard-tables";

export const shardRoutes = familyRouter();
const tags = ["admin"];
const admin = requireToken("admin");

/** Every family's tables, telemetry's then the monitor's. */
const tables = [...telemetryMoveTables, ...monitorMoveTables];

const MoveBody = z.object({ project: z.string().min(1).max(255), to: z.string().min(1).max(64) }).strict();

/** Most time one call works (ms); the script calls again. */
const BUDGET_MAX_MS = 25_000;

const refused = (e: unknown) => {
  if (e instanceof MoveRefused)
    return new ApiError(e.status === 409 ? "conflict" : "other", e.message, { status: e.status });
  return e;
};

function intQuery(raw: string | undefined, name: string, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max)
    throw errors.badRequest(`${name} must be an integer from 1 to ${max}`);
  return Number(raw);
}

endpoint(shardRoutes, "get", "/", { tags, summary: "The shards and how many projects each holds" }, admin, async (c) =>
  c.json({ shards: await shardCounts(c.env) }),
);

endpoint(
  shardRoutes,
  "post",
  "/moves",
  {
    tags,
    summary: "Start or resume moving a project to another shard; runs it for a while and answers its state",
    request: { body: { content: { "application/json": { schema: MoveBody } } } },
  },
  admin,
  async (c) => {
    const input = parseInput(MoveBody, await readJson(c));
    const steps = intQuery(c.req.query("steps"), "steps", 1000);
    const budgetMs = intQuery(c.req.query("budget_ms"), "budget_ms", BUDGET_MAX_MS);
    try {
      const started = await startMove(c.env, input.project, input.to);
      if (started.step === "done") return c.json(started);
      return c.json(await runMove(c.env, input.project, tables, { steps, budgetMs }));
    } catch (e) {
      throw refused(e);
    }
  },
);

endpoint(
  shardRoutes,
  "get",
  "/projects/:project",
  { tags, summary: "Where a project's telemetry and monitor rows are: its shard, number and whether a move holds it" },
  admin,
  async (c) => {
    const project = param(c, "project");
    const placement = (await placementsOf(c.env, [project], { fresh: true })).get(project);
    if (!placement) throw errors.notFound(`Project ${project} has no rows on any shard`);
    return c.json(placement);
  },
);

endpoint(
  shardRoutes,
  "get",
  "/moves/:project",
  { tags, summary: "A project's move, as far as it went" },
  admin,
  async (c) => {
    const state = await moveState(c.env, param(c, "project"));
    if (!state) throw errors.notFound(`No move of project ${param(c, "project")}`);
    return c.json(state);
  },
);

refuseOtherMethods(shardRoutes);
