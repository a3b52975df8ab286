import { DurableObject } from "cloudflare:workers";

/** One per user: that user's live daemon state (issue #4 fills this in). */
export class DaemonPresence extends DurableObject<Env> {}
