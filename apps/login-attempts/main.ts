// The login-attempt endpoint on its own: `tsx apps/login-attempts/main.ts` (PORT, DATABASE_URL, ... as for `npm start`).
import { runService } from "../http/runService.ts";
import { LOGIN_AUDIT_SERVICE, loginAttemptRoutes } from "./routes.ts";

await runService({ name: LOGIN_AUDIT_SERVICE, title: "Login attempt audit", routes: loginAttemptRoutes });
