// The AI service on its own: `tsx apps/ai/main.ts` (PORT, DATABASE_URL, ... as for `npm start`).
import { runService } from "../http/runService.ts";
import { AI_SERVICE, aiRoutes } from "./routes.ts";

await runService({ name: AI_SERVICE, title: "AI service", routes: aiRoutes });
