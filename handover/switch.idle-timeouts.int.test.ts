// A polling → Debezium handover holds its sessions across waits: the backlog's reader stays in its snapshot's
// transaction while Kafka commits each transaction of the backlog. A server, role or database that ends sessions
// idle in a transaction (`idle_in_transaction_session_timeout`, set against sessions an application forgot) ended
// the reader midway, and the switch failed with pg's "Client has encountered a connection error and is not
// queryable". The switch turns those timeouts off in its own sessions, which end themselves.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { exampleEvent } from "../events/examples.ts";
import { useConnectWorker } from "../test/debeziumRelay.ts";
import { databaseUrl, kafkaBrokers, testDatabase, testEventContext } from "../test/fixtures.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { publishEverythingCommitted } from "../test/relayCheckpoint.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

const db = testDatabase();
const worker = useConnectWorker();
afterAll(() => db.$client.end());

/** The database's URL with each session it opens ended after `ms` idle in a transaction. */
function endingIdleTransactionsAfter(ms: number): string {
  const url = new URL(databaseUrl());
  url.searchParams.set("options", `-c idle_in_transaction_session_timeout=${ms}`);
  return url.toString();
}

describe("relay:switch -- debezium on a server that ends sessions idle in a transaction", () => {
  it("hands a backlog of two Kafka transactions over whole", async () => {
    await publishEverythingCommitted(db);
    const patientId = randomUUID();
    const decisions = Array.from({ length: 1001 }, (_, n) =>
      exampleEvent("patient.consent.changed", { patientId, granted: n % 2 === 0 }),
    );
    const backlog = (await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), decisions))).map(
      (event) => event.eventId,
    );
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const switchOptions = {
      databaseUrl: endingIdleTransactionsAfter(20),
      connectDatabaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect: worker().connect,
      log: () => {},
    };

    const toDebezium = await switchToDebezium(switchOptions);
    try {
      expect(toDebezium.published).toBe(backlog.length);
      const records = await tap.collect({ done: containsAll(backlog), timeoutMs: 60_000 });
      expect(records.filter((record) => backlog.includes(record.eventId))).toHaveLength(backlog.length);
    } finally {
      await switchToPolling(switchOptions);
    }
  });
});
