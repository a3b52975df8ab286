import { DurableObject } from "cloudflare:workers";

/** One per scheduler session: serialises its actions and owns its tag (issue #5 fills this in). */
export class SessionTagCounter extends DurableObject<Env> {}
