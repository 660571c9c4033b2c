// The patient service on its own: `tsx apps/patient/main.ts` (PORT, DATABASE_URL, ... as for `npm start`).
import { runService } from "../http/runService.ts";
import { PATIENT_SERVICE, patientRoutes } from "./routes.ts";

await runService({ name: PATIENT_SERVICE, title: "Patient service", routes: patientRoutes });
