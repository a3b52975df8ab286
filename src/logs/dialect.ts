import { plainDialect, type Dialect } from "../http/errors";

/** TODO(issue): this family's error dialect, from its spec. */
export const logsDialect: Dialect = { ...plainDialect, name: "logs" };
