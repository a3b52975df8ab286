import { OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Handler, MiddlewareHandler } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import type { AppEnv } from "./env";
import { errors } from "./errors";

/** A family's router. Errors it throws are rendered by the dialect index.ts pairs with its paths. */
export function familyRouter() {
  return new OpenAPIHono<AppEnv>({ strict: false });
}

type Router = ReturnType<typeof familyRouter>;
type Method = "get" | "post" | "put" | "patch" | "delete" | "head";

export type EndpointDoc = Omit<RouteConfig, "method" | "path" | "responses"> & {
  responses?: RouteConfig["responses"];
};

/**
 * Registers a route and documents it in /openapi.json. Input is parsed and validated
 * by the handler (readJson + parseInput), not by the OpenAPI layer, so each family
 * keeps control of its error dialect and of bodies its clients send without a
 * JSON content type.
 */
export function endpoint(
  router: Router,
  method: Method,
  path: string,
  doc: EndpointDoc,
  ...handlers: Array<MiddlewareHandler<AppEnv> | Handler<AppEnv>>
) {
  router.openAPIRegistry.registerPath({
    method,
    path: path.replaceAll(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}"),
    responses: { 200: { description: "OK" } },
    ...doc,
  });
  router.on(method.toUpperCase(), path, ...(handlers as [Handler<AppEnv>]));
}

/** A path parameter the route declares (always present when the route matched). */
export function param(c: { req: { param(name: string): string | undefined } }, name: string): string {
  return c.req.param(name) ?? "";
}

/**
 * Answers 405, with an `Allow` header listing the methods the path has, on every path
 * the router serves for a method it does not: Hono's method-not-allowed middleware over
 * this router's routes (it strips the path the router is mounted at), its answer thrown
 * so index.ts's onError words it in the family's dialect. Call it once, after the
 * family's last route: a matched route answers before the middleware is reached.
 */
export function refuseOtherMethods(router: Router) {
  router.use(
    methodNotAllowed({
      app: router,
      onMethodNotAllowed: (_c, allowed) => {
        throw errors.methodNotAllowed(allowed);
      },
    }),
  );
}
