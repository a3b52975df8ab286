import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { shardBindings, shardDatabase } from "./helpers/shards";

// Every test file starts from the real schema, applied the way wrangler applies it.
// The main DB and every shard (wrangler.toml): each carries the whole schema.
for (const binding of new Set(["DB", ...shardBindings()]))
  await applyD1Migrations(shardDatabase(binding), env.TEST_MIGRATIONS);
