import { familyRouter } from "../http/app";
export const monitorRoutes = familyRouter();
