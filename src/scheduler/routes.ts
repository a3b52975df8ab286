import { familyRouter } from "../http/app";

export const schedulerRoutes = familyRouter();
