import { type SQL, sql } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { caller, type Principal, requireToken } from "../auth/middleware";
import { getDatasetAccess } from "../auth/store";
import { database } from "../db/client";
import type { AppEnv } from "../http/env";
import { ApiError } from "../http/errors";

/** `/logs/...`: pilots and servers hold `system` tokens (admin always passes). */
export const systemOnly = requireToken("system");

const refused = (reason: string) => new ApiError("forbidden", reason, { status: 403 });
/** The 403 for a caller without the right: no record at all, or one that does not name them. */
const refusal = (recordExists: boolean) => refused(recordExists ? "authorization failed" : "attr not found");

/**
 * `/datasets/{d}/...`: a `user` token needs read or write on d from d's access record,
 * by user name or by one of its groups. Write implies read (the website's operators
 * who may delete a dataset's logs may also look at them).
 */
export function datasetAccess(need: "read" | "write"): MiddlewareHandler<AppEnv> {
  const userOnly = requireToken("user");
  return (c, next) =>
    userOnly(c, async () => {
      await checkAccess(c, caller(c), c.req.param("dataset_id") ?? "", need);
      await next();
    });
}

async function checkAccess(c: Context<AppEnv>, p: Principal, datasetId: string, need: "read" | "write") {
  if (p.role === "admin") return;
  const record = await getDatasetAccess(database(c.env), datasetId);
  if (!record) throw refusal(false);
  const users = need === "read" ? [...record.readUsers, ...record.writeUsers] : record.writeUsers;
  const groups = need === "read" ? [...record.readGroups, ...record.writeGroups] : record.writeGroups;
  if (!users.includes(p.user) && !p.groups.some((g) => groups.includes(g))) throw refusal(true);
}

/**
 * A post to `/datasets/{d}/logs...` (behind `datasetPoster`): rather than reading d's
 * access record before the post, the insert is made conditional on it, so a small post
 * is one D1 round trip. The record is read on its own (`check`) only where the answer is
 * needed otherwise: before a body goes to R2 (a refused caller never writes there), when
 * the post fails anyway (a refused caller hears 403 whatever else is wrong with the
 * post, as when the record was read first), and when the insert wrote nothing (to say
 * which 403).
 */
export class DatasetWrite {
  private checked: boolean;
  private refusal: unknown = null;
  constructor(
    private c: Context<AppEnv>,
    readonly datasetId: string,
  ) {
    this.checked = caller(c).role === "admin";
  }

  /** Throws the 403 if the caller may not write d; reads the record at most once. */
  async check() {
    if (this.checked) return;
    if (this.refusal) throw this.refusal;
    try {
      await checkAccess(this.c, caller(this.c), this.datasetId, "write");
    } catch (err) {
      if (err instanceof ApiError) this.refusal = err;
      throw err;
    }
    this.checked = true;
  }

  /**
   * For an insert that must still be refused when the caller may not write d: the same
   * rule as `checkAccess`, in SQL. Null once checked (or for the admin).
   */
  writeCondition(): SQL | null {
    if (this.checked) return null;
    const p = caller(this.c);
    return sql`exists (select 1 from dataset_access a where a.dataset_id = ${this.datasetId} and (
      exists (select 1 from json_each(a.write_users) where value = ${p.user})
      or exists (select 1 from json_each(a.write_groups) where value in (select value from json_each(${JSON.stringify(p.groups)})))))`;
  }
}

/** A dataset post's door: a `user` (or admin) token; the access record is the post's to check (DatasetWrite). */
export const datasetPoster = requireToken("user");
