// The platform's HTTP surface: every service's routes behind the shared frame, on one port.
import type { Registry } from "prom-client";
import type { Database } from "../db/client.ts";
import type { Admin } from "../kafka/client.ts";
import type { Logger } from "../observability/logger.ts";
import { createServiceFrame } from "./http/service.ts";
import { patientRoutes } from "./patient/routes.ts";

export interface PlatformDeps {
  db: Database;
  /** A connected admin client, used by readiness to check that the broker answers. */
  kafkaAdmin: Admin;
  log: Logger;
  registry: Registry;
}

export function createPlatformApp({ db, kafkaAdmin, log, registry }: PlatformDeps) {
  const app = createServiceFrame({
    title: "Healthcare platform",
    log,
    registry,
    readiness: [
      { name: "postgres", check: () => db.$client.query("SELECT 1") },
      { name: "kafka", check: () => kafkaAdmin.describeCluster() },
    ],
  });
  app.route("/", patientRoutes(db));
  return app;
}
