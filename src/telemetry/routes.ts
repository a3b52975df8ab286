import { familyRouter } from "../http/app";

export const telemetryRoutes = familyRouter();
