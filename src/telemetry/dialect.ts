import { plainDialect, type Dialect } from "../http/errors";

/** TODO(issue): this family's error dialect, from its spec. */
export const telemetryDialect: Dialect = { ...plainDialect, name: "telemetry" };
