// `npm run bench:audit` (auditSuite.ts), first part (auditQueries.bench.ts is the second): how fast the
// history's tamper evidence is sealed and verified, on a history written through the real write path
// (chained, hashed), in a fresh `healthcare_audit_bench` database.
//
//   BENCH_HISTORY (default 1000000)   events in the history
import { randomUUID } from "node:crypto";
import pg from "pg";
import { sealCheckpoint } from "../audit/sealCheckpoint.ts";
import { loadSigningKey } from "../audit/signingKey.ts";
import { verifyHistory } from "../audit/verifyHistory.ts";
import { startProgress } from "../cli/progress.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase, writeTransaction } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { appendEvents, type EventContext } from "../db/outbox/appendEvents.ts";
import { exampleEvent } from "../events/examples.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { startPostgres } from "../stack/postgres.ts";
import { freshDatabase } from "./freshDatabase.ts";
import { printTable } from "./table.ts";

const HISTORY = Number(process.env.BENCH_HISTORY ?? 1_000_000);
const env = loadEnv();
const serverUrl = env.DATABASE_URL ?? (await startPostgres((line) => console.error(line))).databaseUrl;
const databaseUrl = await freshDatabase(serverUrl, "healthcare_audit_bench");
await migrateDatabase(databaseUrl);

const db = createDatabase(databaseUrl, { max: 4, applicationName: "bench-audit" });
const context: EventContext = {
  masterKeys: loadMasterKeys(),
  source: "bench",
  metadata: {
    correlationId: randomUUID(),
    userId: null,
    ipAddress: null,
    userAgent: "bench",
    sessionId: null,
  },
};
const patientIds = Array.from({ length: 10_000 }, () => randomUUID());
const writeStarted = performance.now();
const progress = startProgress({ label: "build history (appendEvents)", total: HISTORY });
const PER_TRANSACTION = 1_000;
const WRITERS = 4;
let next = 0;
await Promise.all(
  Array.from({ length: WRITERS }, async () => {
    while (next < HISTORY) {
      const from = next;
      next += PER_TRANSACTION;
      const count = Math.min(PER_TRANSACTION, HISTORY - from);
      await writeTransaction(db, (tx) =>
        appendEvents(
          tx,
          context,
          Array.from({ length: count }, (_, i) => ({
            ...exampleEvent("patient.updated"),
            data: {
              patientId: patientIds[(from + i) % patientIds.length] as string,
              changedFields: ["allergies" as const],
              changes: { allergies: [`allergy-${from + i}`] },
            },
          })),
        ),
      );
      progress.advance(count);
    }
  }),
);
progress.finish();
const writeSeconds = (performance.now() - writeStarted) / 1000;

const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();
const key = loadSigningKey();
const sealStarted = performance.now();
await sealCheckpoint(client, key);
const sealSeconds = (performance.now() - sealStarted) / 1000;
const verifyStarted = performance.now();
const report = await verifyHistory(client, new Map([[key.keyId, key.publicKey]]));
const verifySeconds = (performance.now() - verifyStarted) / 1000;
await client.end();
await db.$client.end();
if (!report.intact) throw new Error(`the benchmark's own history does not verify: ${JSON.stringify(report)}`);

const rate = (seconds: number) => `${Math.round(HISTORY / seconds).toLocaleString("en")} events/s`;
printTable(
  `audit trail, ${HISTORY.toLocaleString("en")} events over ${patientIds.length.toLocaleString("en")} aggregates`,
  [
    [
      "write (appendEvents, 4 writers, 1,000 per transaction)",
      rate(writeSeconds),
      `${writeSeconds.toFixed(1)} s`,
    ],
    ["seal one checkpoint over the whole history", rate(sealSeconds), `${sealSeconds.toFixed(1)} s`],
    [
      "verify (row hashes, chains, checkpoint, signature)",
      rate(verifySeconds),
      `${verifySeconds.toFixed(1)} s`,
    ],
  ],
);
