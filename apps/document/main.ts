// The document service on its own: `tsx apps/document/main.ts` (PORT, DATABASE_URL, ... as for `npm start`).
import { runService } from "../http/runService.ts";
import { DOCUMENT_SERVICE, documentRoutes } from "./routes.ts";

await runService({ name: DOCUMENT_SERVICE, title: "Document service", routes: documentRoutes });
