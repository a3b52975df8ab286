import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app";

/** Every response carries a request id (the caller's, or a new one) for support and logs. */
export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = c.req.header("x-request-id") ?? c.req.header("cf-ray") ?? crypto.randomUUID();
  c.set("requestId", id);
  await next();
  c.res.headers.set("X-Request-Id", id);
};
