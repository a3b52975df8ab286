import { familyRouter } from "../http/app";

export const logsRoutes = familyRouter();
