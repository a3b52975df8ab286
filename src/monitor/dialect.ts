import type { Dialect } from "../http/errors";

/**
 * pytest-monitor server errors: `{"message"}`, and flask-restx's validation shape
 * `{"errors": {field: reason}, "message": "Input payload validation failed"}`.
 */
export const monitorDialect: Dialect = {
  name: "monitor",
  render: (e) => ({
    status: e.status,
    body: e.fields ? { errors: e.fields, message: e.message } : { message: e.message },
  }),
};
