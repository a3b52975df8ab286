import type { MiddlewareHandler } from "hono";
import { getDatasetAccess } from "../auth/store";
import { database } from "../db/client";
import type { AppEnv } from "../http/app";
import { caller, requireToken } from "../http/auth";
import { ApiError } from "../http/errors";

/** `/logs/...`: pilots and servers hold `system` tokens (admin always passes). */
export const systemOnly = requireToken("system");

const refused = (reason: string) => new ApiError("forbidden", reason, { status: 403 });

/**
 * `/datasets/{d}/...`: a `user` token needs read or write on d from d's access record,
 * by user name or by one of its groups. Write implies read (the website's operators
 * who may delete a dataset's logs may also look at them).
 */
export function datasetAccess(need: "read" | "write"): MiddlewareHandler<AppEnv> {
  const userOnly = requireToken("user");
  return (c, next) =>
    userOnly(c, async () => {
      const p = caller(c);
      if (p.role !== "admin") {
        const record = await getDatasetAccess(database(c.env), c.req.param("dataset_id") ?? "");
        if (!record) throw refused("attr not found");
        const users = need === "read" ? [...record.readUsers, ...record.writeUsers] : record.writeUsers;
        const groups = need === "read" ? [...record.readGroups, ...record.writeGroups] : record.writeGroups;
        if (!users.includes(p.user) && !p.groups.some((g) => groups.includes(g))) throw refused("authorization failed");
      }
      await next();
    });
}
