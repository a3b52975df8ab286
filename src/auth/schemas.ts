import { z } from "zod";

const names = z.array(z.string().min(1)).default([]);

export const TokenCreate = z.strictObject({
  user: z.string().min(1),
  role: z.enum(["admin", "system", "user"]),
  projects: names,
  groups: names,
});

export const DatasetAccessBody = z.strictObject({
  read_groups: names,
  write_groups: names,
  read_users: names,
  write_users: names,
});
