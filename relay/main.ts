// Runs the polling relay as its own process (`npm run relay`), with /metrics and /health on PORT.
import pg from "pg";
import { parseCommand } from "../cli/command.ts";
import { createKafka } from "../kafka/client.ts";
import { startProcess } from "../process/frame.ts";
import { OutboxRelay } from "./relay.ts";
import { requirePollingRelayMode } from "./relayModeOfProcess.ts";

parseCommand({
  usage: `usage: npm run relay
  runs the polling relay (outbox -> Kafka) until Ctrl-C, with /metrics and /health on PORT; several may run,
  one publishes and the others stand by. Refused under RELAY_MODE=debezium or off: the Debezium relay is a
  connector on Kafka Connect, which RELAY_MODE=debezium npm start runs`,
});
// The relay moves sealed payloads as they are: it needs no master key.
const frame = await startProcess({
  name: "relay",
  patientData: false,
  configure: (env) => requirePollingRelayMode(env.RELAY_MODE),
});
const { log, stack, registry } = frame;
const relay = new OutboxRelay({
  databaseUrl: stack.databaseUrl,
  kafkaBrokers: stack.kafkaBrokers,
  log,
  registry,
  compression: frame.env.KAFKA_COMPRESSION,
});
relay.start();
frame.onStop(() => relay.stop());

// Ready when Postgres and Kafka answer, as every process's /health/ready says, and the relay is not stalled.
const health = new pg.Pool({ connectionString: stack.databaseUrl, max: 1, application_name: "relay-health" });
health.on("error", () => {});
// Connected by its first check, not here: the relay starts, and reports, whether or not Kafka answers yet.
const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: "relay-health" }).admin();
frame.onStop(async () => {
  await admin.disconnect();
  await health.end();
});
const readiness = [
  { name: "postgres", check: () => health.query("SELECT 1") },
  {
    name: "kafka",
    check: async () => {
      await admin.connect();
      await admin.describeCluster();
    },
  },
  relay.readiness,
];

frame.serve(
  frame
    .opsRoutes(readiness)
    .get("/relay/status", (c) => c.json({ name: relay.name, leader: relay.leader, stalled: relay.stalled })),
  (port) => log.info({ port }, "relay metrics listening"),
);
