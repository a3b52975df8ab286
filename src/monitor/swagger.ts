import type { OpenAPIHono } from "@hono/zod-openapi";

type Json = Record<string, any>;

/**
 * The monitor API described as Swagger 2.0 at `/api/v1/swagger.json`, where the reference
 * server (flask-restx) serves it and its docs read it: paths relative to `basePath`,
 * request bodies as `in: body` parameters, response schemas without OpenAPI 3 wrappers.
 */
export function swaggerDocument(router: OpenAPIHono<any>, version: string): Json {
  const openapi = router.getOpenAPIDocument({ openapi: "3.0.0", info: { title: "", version } }) as Json;
  const paths: Json = {};
  for (const [path, operations] of Object.entries<Json>(openapi.paths ?? {})) {
    const out: Json = {};
    for (const [method, op] of Object.entries<Json>(operations)) {
      const parameters = [...(path.match(/\{[^}]+\}/g) ?? [])].map((p) => ({
        name: p.slice(1, -1),
        in: "path",
        required: true,
        type: "string",
      }));
      const body = op.requestBody?.content?.["application/json"]?.schema;
      if (body)
        parameters.push({
          name: "payload",
          in: "body",
          required: true,
          schema: swaggerSchema(body),
        } as Json as (typeof parameters)[0]);
      const responses: Json = {};
      for (const [status, r] of Object.entries<Json>(op.responses ?? {})) {
        const schema = r.content?.["application/json"]?.schema;
        responses[status] = { description: r.description ?? "", ...(schema ? { schema: swaggerSchema(schema) } : {}) };
      }
      out[method] = {
        tags: op.tags,
        summary: op.summary,
        operationId: `${method}_${path.replaceAll(/[^A-Za-z0-9]+/g, "_")}`,
        parameters,
        responses,
      };
    }
    paths[path] = out;
  }
  return {
    swagger: "2.0",
    basePath: "/api/v1",
    info: { title: "OpsHub test-run monitor (pytest-monitor remote server)", version },
    produces: ["application/json"],
    consumes: ["application/json"],
    securityDefinitions: { token: { type: "apiKey", in: "header", name: "Authorization" } },
    security: [{ token: [] }],
    tags: [{ name: "test-run monitor" }],
    paths,
  };
}

/** OpenAPI 3 schema → Swagger 2.0 schema: `nullable` becomes `x-nullable`, unions keep their first form. */
function swaggerSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(swaggerSchema);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "nullable") out["x-nullable"] = v;
    else if (k === "anyOf" || k === "oneOf")
      Object.assign(out, swaggerSchema(v[0]), { "x-alternatives": v.slice(1).map(swaggerSchema) });
    else out[k] = typeof v === "object" ? swaggerSchema(v) : v;
  }
  return out;
}
