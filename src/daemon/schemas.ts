import { z } from "zod";

/** 20 random bytes in lowercase hex: what `/daemon/id` hands out and beats carry. */
export const DAEMON_ID = /^[0-9a-f]{40}$/;

/** The newest log lines kept per user. */
export const LOG_KEEP = 1000;

/**
 * Longest log line a beat may carry. The daemon queues every line it logs until a beat
 * gets through, so a beat after an outage may bring many more than LOG_KEEP lines: all
 * are accepted (the body cap bounds them) and the newest LOG_KEEP kept.
 */
export const LOG_LINE_MAX = 16 * 1024;

/** `repo/item:tag`, the way daemons name a tag (the tag itself may hold ':'). */
export interface TagRef {
  repname: string;
  itemname: string;
  tagname: string;
}

export function parseTagRef(s: string): TagRef | null {
  const m = /^([^/:\s]+)\/([^/:\s]+):(\S+)$/.exec(s);
  return m ? { repname: m[1], itemname: m[2], tagname: m[3] } : null;
}

export const tagRefText = (t: TagRef) => `${t.repname}/${t.itemname}:${t.tagname}`;

const TagRefString = z
  .string()
  .max(512)
  .refine((s) => parseTagRef(s) !== null, { message: 'expected "repo/item:tag"' });

/**
 * A daemon's beat, as the DataHub daemon sends it every 5 s. Fields it adds that are not
 * read here (`clientrypoint`, the daemon's own CLI address) are accepted and dropped.
 */
export const HeartbeatBody = z.object({
  daemonid: z.string(),
  entrypoint: z.array(z.string().min(1).max(512)).max(32).nullable().optional(),
  log: z.array(z.string().max(LOG_LINE_MAX)).nullable().optional(),
  role: z.union([z.literal(0), z.literal(1)]).optional(),
  abnormaltags: z.array(TagRefString).max(1000).nullable().optional(),
});
export type HeartbeatBody = z.output<typeof HeartbeatBody>;

/** What a beat hands the presence object, normalised: sorted distinct tags, no nulls. */
export interface Beat {
  entrypoints: string[];
  log: string[];
  role: 0 | 1;
  tags: string[];
}

export function normaliseBeat(b: HeartbeatBody): Beat {
  return {
    entrypoints: b.entrypoint ?? [],
    log: b.log ?? [],
    role: b.role ?? 0,
    tags: [...new Set(b.abnormaltags ?? [])].sort(),
  };
}

export const TagStatusQuery = z.object({
  repname: z.string().min(1, "Missing required parameter"),
  itemname: z.string().min(1, "Missing required parameter"),
  tagname: z.string().min(1).optional(),
  page: z.coerce.number().int().min(1).default(1),
  size: z.coerce.number().int().min(1).max(100).default(10),
});

export const TagStatusResponse = z.object({
  status: z.enum(["NORMAL", "ABNORMAL"]),
  total: z.number().int(),
  results: z.array(z.string()).nullable(),
});

export const DaemonIdResponse = z.object({ daemonid: z.string().regex(DAEMON_ID) });
export const EntrypointResponse = z.object({ entrypoint: z.array(z.string()) });
export const LogResponse = z.object({ log: z.array(z.string()) });
export const DaemonStatusResponse = z.object({
  status: z.enum(["online", "offline"]),
  entrypoint: z.array(z.string()),
});
export const HeartbeatStatusResponse = z.object({ status: z.enum(["online", "offline"]) });
export const HeartbeatResponse = z.object({ code: z.literal(0), msg: z.literal("OK"), data: z.object({}) });
export const DaemonError = z.object({ code: z.number().int(), msg: z.string() });
