#!/usr/bin/env node
// Mints, lists and revokes tokens against a running OpsHub, with the admin token.
//   npm run token -- create --user alice --role user --project p1 --group g1
//   npm run token -- list
//   npm run token -- revoke tok_...
// OPSHUB_URL (default http://127.0.0.1:8787) and ADMIN_TOKEN (default: from .dev.vars).
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    user: { type: "string" },
    role: { type: "string", default: "user" },
    project: { type: "string", multiple: true, default: [] },
    group: { type: "string", multiple: true, default: [] },
    url: { type: "string", default: process.env.OPSHUB_URL ?? "http://127.0.0.1:8787" },
  },
});
const devVars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
const admin = process.env.ADMIN_TOKEN ?? devVars.match(/^ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/m)?.[1];
if (!admin) {
  console.error("No admin token: set ADMIN_TOKEN or run `npm start` once to create .dev.vars");
  process.exit(2);
}
const [command, id] = positionals;
const call = async (method, path, body) => {
  const res = await fetch(new URL(path, values.url), {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) {
    console.error(`${method} ${path}: ${res.status} ${text}`);
    process.exit(1);
  }
  return JSON.parse(text);
};

if (command === "create") {
  if (!values.user) {
    console.error("create needs --user");
    process.exit(2);
  }
  const body = { user: values.user, role: values.role, projects: values.project, groups: values.group };
  console.log(JSON.stringify(await call("POST", "/auth/tokens", body), null, 2));
} else if (command === "list") {
  console.log(JSON.stringify(await call("GET", "/auth/tokens"), null, 2));
} else if (command === "revoke" && id) {
  console.log(JSON.stringify(await call("DELETE", `/auth/tokens/${id}`), null, 2));
} else {
  console.error(
    "usage: npm run token -- create --user U --role admin|system|user [--project P]... [--group G]... | list | revoke ID",
  );
  process.exit(2);
}
