// The notification service on its own: `tsx apps/notification/main.ts` (PORT, DATABASE_URL, ... as for `npm start`).
import { runService } from "../http/runService.ts";
import { NOTIFICATION_SERVICE, notificationRoutes } from "./routes.ts";

await runService({ name: NOTIFICATION_SERVICE, title: "Notification service", routes: notificationRoutes });
