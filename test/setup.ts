import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Every test file starts from the real schema, applied the way wrangler applies it.
// The main DB and every shard (wrangler.toml): each carries the whole schema.
for (const binding of new Set([
  "DB",
  ...String(env.SHARDS ?? "")
    .split(/[\s,]+/)
    .filter(Boolean),
]))
  await applyD1Migrations((env as unknown as Record<string, D1Database>)[binding], env.TEST_MIGRATIONS);
