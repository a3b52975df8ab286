import { familyRouter } from "../http/app";

export const daemonRoutes = familyRouter();
