import { eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { randomHex } from "../db/d1";
import { datasetAccess, tokens } from "../db/schema";
import { sha256Hex } from "./middleware";

export type TokenRecord = typeof tokens.$inferSelect;
export type DatasetAccess = typeof datasetAccess.$inferSelect;

/** Public view of a record: never the hash. */
export function tokenView(r: TokenRecord) {
  return {
    id: r.id,
    user: r.user,
    role: r.role,
    projects: r.projects,
    groups: r.groups,
    created_at: r.createdAt,
    revoked_at: r.revokedAt,
  };
}

export async function createToken(
  db: Database,
  input: { user: string; role: TokenRecord["role"]; projects: string[]; groups: string[] },
) {
  // 160 random bits; the prefix makes a leaked token easy to recognise in logs and scanners.
  const token = `ohk_${randomHex(20)}`;
  const record: TokenRecord = {
    id: `tok_${randomHex(8)}`,
    tokenHash: await sha256Hex(token),
    user: input.user,
    role: input.role,
    projects: input.projects,
    groups: input.groups,
    createdAt: new Date().toISOString(),
    revokedAt: null,
  };
  await db.insert(tokens).values(record);
  return { token, record };
}

export function listTokens(db: Database) {
  return db.select().from(tokens).orderBy(tokens.createdAt, tokens.id);
}

/**
 * Marks the token revoked; false when there is no such token. One UPDATE, which D1 runs
 * on the primary: a token minted a moment ago and not yet on a replica is still found
 * (a read first could ask a replica, answer 404 and leave the token live). Revoking
 * twice keeps the first time.
 */
export async function revokeToken(db: Database, id: string): Promise<boolean> {
  const rows = await db
    .update(tokens)
    .set({ revokedAt: sql`coalesce(${tokens.revokedAt}, ${new Date().toISOString()})` })
    .where(eq(tokens.id, id))
    .returning({ id: tokens.id });
  return rows.length > 0;
}

export async function putDatasetAccess(
  db: Database,
  datasetId: string,
  a: { read_groups: string[]; write_groups: string[]; read_users: string[]; write_users: string[] },
) {
  const row: DatasetAccess = {
    datasetId,
    readGroups: a.read_groups,
    writeGroups: a.write_groups,
    readUsers: a.read_users,
    writeUsers: a.write_users,
    updatedAt: new Date().toISOString(),
  };
  const { datasetId: _, ...rest } = row;
  await db.insert(datasetAccess).values(row).onConflictDoUpdate({ target: datasetAccess.datasetId, set: rest });
  return row;
}

export async function getDatasetAccess(db: Database, datasetId: string): Promise<DatasetAccess | null> {
  const [row] = await db.select().from(datasetAccess).where(eq(datasetAccess.datasetId, datasetId)).limit(1);
  return row ?? null;
}

export function datasetAccessView(a: DatasetAccess) {
  return {
    dataset_id: a.datasetId,
    read_groups: a.readGroups,
    write_groups: a.writeGroups,
    read_users: a.readUsers,
    write_users: a.writeUsers,
  };
}

/**
 * Datasets whose access record lets `user`, or one of `groups`, read (write implies
 * read), among the `scan` newest records (rowid order): at most `limit` of them, newest
 * first. The dashboard opens the logs view on these; the scan bounds the rows read.
 */
export async function readableDatasets(
  db: Database,
  who: { user: string; groups: string[] },
  opts: { scan: number; limit: number },
) {
  const named = (column: SQL) => sql`EXISTS (SELECT 1 FROM json_each(${column}) WHERE value = ${who.user}
    OR value IN (SELECT value FROM json_each(${JSON.stringify(who.groups)})))`;
  const rows = await db.all<{ dataset_id: string }>(sql`
    SELECT dataset_id FROM (SELECT rowid, * FROM dataset_access ORDER BY rowid DESC LIMIT ${opts.scan})
    WHERE ${named(sql`read_users`)} OR ${named(sql`write_users`)} OR ${named(sql`read_groups`)} OR ${named(sql`write_groups`)}
    ORDER BY rowid DESC LIMIT ${opts.limit}`);
  return rows.map((r) => r.dataset_id);
}
