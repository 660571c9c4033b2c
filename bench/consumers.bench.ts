// `npm run bench:consumers`: how fast the consumer runtime works through a backlog, against the real Postgres
// and Kafka. BENCH_RECORDS patient.created records are published to patient-events, and as many
// audit.data.accessed records of one admin to audit-events; then each consumer below reads its records from
// its own new group (which starts where the backlog starts), alone in this process; the table gives its
// records/s and the CPU each record cost this process and the Postgres server.
//
//   BENCH_RECORDS (default 10000)   records in the backlog
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { parseCommand } from "../cli/command.ts";
import { complianceWatchConsumer } from "../consumers/complianceWatch/complianceWatchConsumer.ts";
import { complianceWatchConfig } from "../consumers/complianceWatch/watchSettings.ts";
import { loadConsumersConfig } from "../consumers/config.ts";
import { notificationRequestsConsumer } from "../consumers/notifications/notificationRequests.ts";
import { patientDirectoryConsumer } from "../consumers/patientDirectory/patientDirectoryConsumer.ts";
import type { ConsumerDefinition } from "../consumers/runtime/consumerDefinition.ts";
import { EventConsumer } from "../consumers/runtime/eventConsumer.ts";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { PatientKeyring } from "../db/patientKeys.ts";
import { createLogger } from "../observability/logger.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { metricValue } from "../test/consumers/metrics.ts";
import { eventRecord, patientCreatedRecord, publish, startGroupAtEnd } from "../test/consumers/records.ts";
import { benchStack } from "./benchStack.ts";
import { freshDatabase } from "./freshDatabase.ts";
import { postgresCpuSeconds, postgresCpuSince } from "./processCpu.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:consumers
  times the consumer runtime through a backlog (new patients; one admin's reads for the compliance watch), one consumer at a time, against
  the real Postgres and Kafka (a fresh healthcare_bench_consumers database); prints a table. From the
  environment:
  BENCH_RECORDS (default 10000)   records in the backlog`,
});

const RECORDS = Number(process.env.BENCH_RECORDS ?? 10_000);
const BENCH_DATABASE = "healthcare_bench_consumers";

const { stack } = await benchStack();

const server = new URL(stack.databaseUrl);
const databaseUrl = await freshDatabase(server.toString(), BENCH_DATABASE);
await migrateDatabase(databaseUrl);
const db = createDatabase(databaseUrl, { max: 20, applicationName: "bench-consumers" });
const masterKeys = loadMasterKeys();
const log = createLogger({ level: "warn" });

const watch = complianceWatchConsumer(complianceWatchConfig(loadConsumersConfig({})), { masterKeys });
const definitions: ConsumerDefinition[] = [
  patientDirectoryConsumer,
  notificationRequestsConsumer({ masterKeys }),
  watch,
];
const groups = definitions.map((definition) => `${definition.name}-bench-${randomUUID().slice(0, 8)}`);
for (const [index, definition] of definitions.entries()) {
  await startGroupAtEnd(stack.kafkaBrokers, groups[index] as string, definition.topics);
}
// New patients for the first two; for the watch, what bench:api's GETs cause: one admin reading the same
// 50 patients over and over (spread over audit-events' partitions, all in that admin's line).
const reader = randomUUID();
const readPatients = Array.from({ length: 50 }, () => randomUUID());
const backlog = Array.from({ length: RECORDS }, (_, index) => {
  const patientId = readPatients[index % readPatients.length] as string;
  return [
    patientCreatedRecord(),
    eventRecord("audit.data.accessed", {
      actorId: reader,
      actorRole: "ADMIN",
      resourceId: patientId,
      patientId,
    }),
  ];
}).flat();
for (let from = 0; from < backlog.length; from += 1_000) {
  await publish(stack.kafkaBrokers, backlog.slice(from, from + 1_000), db);
}

const rows: string[][] = [];
for (const [index, definition] of definitions.entries()) {
  const registry = new Registry();
  const consumer = new EventConsumer({
    definition,
    name: groups[index],
    db,
    kafkaBrokers: stack.kafkaBrokers,
    log,
    registry,
    keys: new PatientKeyring(db, masterKeys),
  });
  const handled = async () =>
    (await metricValue(registry, "consumer_records_processed_total")) +
    (await metricValue(registry, "consumer_records_duplicate_total"));
  const postgresBefore = postgresCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await consumer.start();
  while ((await handled()) < RECORDS) await new Promise((resolve) => setTimeout(resolve, 20));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const postgres = postgresCpuSince(postgresBefore) * 1000;
  await consumer.stop();
  const perRecord = (ms: number) => `${((ms / RECORDS) * 1000).toFixed(0)} µs`;
  rows.push([
    definition.name,
    Math.round(RECORDS / seconds).toLocaleString("en-US"),
    perRecord((cpu.user + cpu.system) / 1000),
    perRecord(postgres),
  ]);
}
await db.$client.end();

printTable(`bench:consumers, a backlog of ${RECORDS.toLocaleString("en-US")} records per consumer`, rows, [
  "consumer",
  "records/s",
  "this process's CPU per record",
  "Postgres CPU per record (at least)",
]);
