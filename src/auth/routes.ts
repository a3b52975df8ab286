import { database } from "../db/client";
import { endpoint, familyRouter, param, refuseOtherMethods } from "../http/app";
import { parseInput, readJson } from "../http/body";
import { errors } from "../http/errors";
import { caller, requireToken, tokenCache } from "./middleware";
import { DatasetAccessBody, TokenCreate } from "./schemas";
import { createToken, datasetAccessView, listTokens, putDatasetAccess, revokeToken, tokenView } from "./store";

/** Admin routes of docs/api/auth.md: minting and revoking tokens, dataset access records. */
export const authRoutes = familyRouter();
const tags = ["auth"];
const admin = requireToken("admin");

endpoint(
  authRoutes,
  "post",
  "/tokens",
  {
    tags,
    summary: "Mint a token (shown once)",
    request: { body: { content: { "application/json": { schema: TokenCreate } } } },
  },
  admin,
  async (c) => {
    const input = parseInput(TokenCreate, await readJson(c));
    const { token, record } = await createToken(database(c.env), input);
    tokenCache.forget(record.tokenHash);
    const { revoked_at: _, ...view } = tokenView(record);
    return c.json({ ...view, token }, 201);
  },
);

endpoint(authRoutes, "get", "/tokens", { tags, summary: "List token records (never the tokens)" }, admin, async (c) => {
  const rows = await listTokens(database(c.env));
  return c.json({ tokens: rows.map(tokenView) });
});

endpoint(authRoutes, "delete", "/tokens/:id", { tags, summary: "Revoke a token at once" }, admin, async (c) => {
  const revoked = await revokeToken(database(c.env), param(c, "id"));
  // Refused from the next request on in this isolate; elsewhere within AUTH_CACHE_SECONDS.
  tokenCache.forgetTokenId(param(c, "id"));
  if (!revoked) throw errors.notFound("no such token");
  return c.json({ id: param(c, "id"), revoked: true });
});

endpoint(
  authRoutes,
  "put",
  "/datasets/:dataset",
  {
    tags,
    summary: "Set a dataset's access record (logs API)",
    request: { body: { content: { "application/json": { schema: DatasetAccessBody } } } },
  },
  admin,
  async (c) => {
    const input = parseInput(DatasetAccessBody, await readJson(c));
    const row = await putDatasetAccess(database(c.env), param(c, "dataset"), input);
    return c.json(datasetAccessView(row));
  },
);

endpoint(
  authRoutes,
  "get",
  "/whoami",
  { tags, summary: "The calling token's user, role, projects and groups" },
  requireToken(),
  (c) => {
    const p = caller(c);
    return c.json({ user: p.user, role: p.role, projects: p.projects, groups: p.groups, token_id: p.tokenId });
  },
);

refuseOtherMethods(authRoutes);
