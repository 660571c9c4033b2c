// The provider service on its own: `tsx apps/provider/main.ts` (PORT, DATABASE_URL, ... as for `npm start`).
import { runService } from "../http/runService.ts";
import { PROVIDER_SERVICE, providerRoutes } from "./routes.ts";

await runService({ name: PROVIDER_SERVICE, title: "Provider service", routes: providerRoutes });
