import { z } from "zod";
import { mayUseProject, mayUseUserRoutes, type Principal, presentedToken, resolvePrincipal } from "../auth/middleware";
import { endpoint, type familyRouter } from "../http/app";
import { readJson } from "../http/body";
import { ApiError, errors } from "../http/errors";

type Router = ReturnType<typeof familyRouter>;

/** How long a shim token document says it lives: clients re-authenticate per run anyway. */
const TOKEN_LIFETIME_S = 3600;

const AuthRequest = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.string()),
      token: z.object({ id: z.string() }).optional(),
      password: z.object({ user: z.object({ password: z.string() }).loose() }).optional(),
    }),
    scope: z
      .object({ project: z.object({ id: z.string().optional(), name: z.string().optional() }).loose() })
      .loose()
      .optional(),
  }),
});

const keystoneUnauthorized = (m = "The request you have made requires authentication.") =>
  new ApiError("unauthenticated", m, { extra: { title: "Unauthorized" } });

/** A `system` token is for the task-logs routes only (docs/api/auth.md): no Keystone token for it. */
function refuseSystemToken(p: Principal) {
  if (!mayUseUserRoutes(p))
    throw new ApiError("forbidden", "You are not authorized to perform the requested action.", {
      extra: { title: "Forbidden" },
    });
}

/**
 * A Keystone v3 token document for an OpsHub token (what keystoneauth parses). Its catalog
 * names this Worker as the `alarming` service, where aodhclient finds the alarm API.
 */
function tokenDocument(p: Principal, projectId: string | null, now: Date, origin: string) {
  const domain = { id: "default", name: "Default" };
  return {
    token: {
      methods: ["token"],
      user: { id: p.user, name: p.user, domain },
      ...(projectId ? { project: { id: projectId, name: projectId, domain } } : {}),
      roles: [{ id: p.role, name: p.role }],
      catalog: [
        {
          id: "alarming",
          type: "alarming",
          name: "aodh",
          endpoints: ["public", "internal", "admin"].map((iface) => ({
            id: `alarming-${iface}`,
            interface: iface,
            region: "RegionOne",
            region_id: "RegionOne",
            url: origin,
          })),
        },
      ],
      issued_at: now.toISOString(),
      expires_at: new Date(now.getTime() + TOKEN_LIFETIME_S * 1000).toISOString(),
    },
  };
}

/**
 * The minimal Keystone v3 that freezerclient (keystoneauth) logs in through: the
 * version document and token issue/validation, where the "Keystone token" is the
 * OpsHub token itself.
 */
export function mountKeystoneShim(router: Router) {
  const tags = ["scheduler: keystone shim"];

  endpoint(
    router,
    "get",
    "/v3",
    { tags, summary: "Keystone v3 version document (for keystoneauth discovery)" },
    (c) => {
      const self = `${new URL(c.req.url).origin}/v3/`;
      return c.json({
        version: {
          id: "v3.14",
          status: "stable",
          updated: "2020-04-07T00:00:00Z",
          links: [{ rel: "self", href: self }],
          "media-types": [{ base: "application/json", type: "application/vnd.openstack.identity-v3+json" }],
        },
      });
    },
  );

  endpoint(
    router,
    "post",
    "/v3/auth/tokens",
    {
      tags,
      summary: "Issue a Keystone token for an OpsHub token (method token, or password with the token as password)",
      request: { body: { content: { "application/json": { schema: AuthRequest } } } },
    },
    async (c) => {
      const parsed = AuthRequest.safeParse(await readJson(c));
      if (!parsed.success) throw errors.badRequest("Expecting to find auth.identity.methods in the request body");
      const { identity, scope } = parsed.data.auth;
      const secret = identity.methods.includes("token")
        ? identity.token?.id
        : identity.methods.includes("password")
          ? identity.password?.user.password
          : undefined;
      const principal = secret ? await resolvePrincipal(c.env, secret) : null;
      if (!principal) throw keystoneUnauthorized();
      refuseSystemToken(principal);
      const asked = scope ? (scope.project.id ?? scope.project.name ?? null) : null;
      // Unscoped: the token's first project, so a client without OS_PROJECT_ID learns one.
      const projectId = asked ?? principal.projects[0] ?? null;
      if (asked && !mayUseProject(principal, asked))
        throw keystoneUnauthorized(`The token may not use project ${asked}.`);
      c.header("X-Subject-Token", secret!);
      return c.json(tokenDocument(principal, projectId, new Date(), new URL(c.req.url).origin), 201);
    },
  );

  endpoint(
    router,
    "get",
    "/v3/auth/tokens",
    { tags, summary: "Validate a token (X-Subject-Token) for the caller (X-Auth-Token)" },
    async (c) => {
      const callerToken = presentedToken(c.req.raw.headers);
      const subject = c.req.header("x-subject-token");
      const [who, subjectPrincipal] = await Promise.all([
        callerToken ? resolvePrincipal(c.env, callerToken) : null,
        subject ? resolvePrincipal(c.env, subject) : null,
      ]);
      if (!who) throw keystoneUnauthorized();
      refuseSystemToken(who);
      if (!subjectPrincipal) throw errors.notFound("Could not find token.");
      c.header("X-Subject-Token", subject!);
      return c.json(
        tokenDocument(subjectPrincipal, subjectPrincipal.projects[0] ?? null, new Date(), new URL(c.req.url).origin),
      );
    },
  );
}
