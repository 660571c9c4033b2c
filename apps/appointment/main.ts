// The appointment service on its own, with its reminder scheduler: `tsx apps/appointment/main.ts`.
// Several may run at once; each appointment is still reminded exactly once (reminders.ts).
import { runService } from "../http/runService.ts";
import { startReminderScheduler } from "./reminders.ts";
import { APPOINTMENT_SERVICE, appointmentRoutes } from "./routes.ts";

await runService({
  name: APPOINTMENT_SERVICE,
  title: "Appointment service",
  routes: appointmentRoutes,
  background: ({ db, env, log, masterKeys }) =>
    startReminderScheduler({ db, log, masterKeys, hoursBefore: env.REMINDER_HOURS_BEFORE }),
});
