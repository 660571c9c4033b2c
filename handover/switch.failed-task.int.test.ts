// Switching back to polling when Debezium's task has died (a record Kafka refused): that is when an operator needs
// the polling relay back. The switch stops and removes the FAILED connector instead of refusing on its state, and
// the polling relay resumes from what the task had committed: the refused event and those after it arrive, and
// nothing the task had delivered before is sent again below the handed-back cursor.
import { afterAll, describe, expect, it } from "vitest";
import { readRelayMode } from "../db/outbox/relayMode.ts";
import { debeziumTarget } from "../debezium/connectorConfig.ts";
import { slotState } from "../debezium/sql/replicationSlot.ts";
import {
  deliveredAtLeast,
  refuseRecordsAbove4KiB,
  useConnectWorker,
  writeRefusedRecord,
} from "../test/debeziumRelay.ts";
import {
  appendOne,
  conditionsUpdate,
  databaseUrl,
  eventually,
  kafkaBrokers,
  startRelay,
  testDatabase,
} from "../test/fixtures.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

const db = testDatabase();
const worker = useConnectWorker();
afterAll(() => db.$client.end());

describe("relay:switch -- polling with the Debezium task FAILED", () => {
  it("removes the connector and hands the undelivered events to the polling relay", async () => {
    const { connect } = worker();
    const switchOptions = {
      databaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect,
      log: () => {},
    };
    const target = debeziumTarget(databaseUrl());
    const relay = startRelay();
    await relay.stop();
    await switchToDebezium(switchOptions);

    // Its config is not put back: the switch removes the connector.
    await refuseRecordsAbove4KiB(connect, target.connectorName);
    // Not alone in its Kafka transaction, the refused record fails the task at once (alone, Connect takes 30 s).
    const { reader, patientId, created, companion, refused } = await writeRefusedRecord(db, {
      companion: true,
    });
    await eventually(async () => {
      const status = await connect.status(target.connectorName);
      return status?.tasks.some((task) => task.state === "FAILED") ?? false;
    }, 60_000);
    const after = await appendOne(db, conditionsUpdate(patientId, 1));

    const toPolling = await switchToPolling(switchOptions);
    expect(toPolling.alreadyPolling).toBe(false);
    // The connector list, not its status: the status topic trails a deletion for a moment.
    expect(await connect.connectors()).not.toContain(target.connectorName);
    expect(await slotState(db.$client, target.slotName)).toBeUndefined();
    expect((await readRelayMode(db.$client)).mode).toBe("polling");

    const polling = startRelay();
    try {
      const written = [created, companion as string, refused, after];
      const records = await reader.readUntil(deliveredAtLeast(written));
      const mine = records.filter((record) => record.key === patientId).map((record) => record.eventId);
      // The companion and the refused event are one database transaction. Sent in one Kafka transaction (one poll
      // of the task), the companion's copy was aborted with the refused one, and a read-committed reader sees it
      // once, from polling. Cut across two polls (a busy machine), the companion's went out and committed first;
      // a transaction delivered in part is handed over whole, so it arrives again, the same event: nothing else
      // is sent twice, and the first copies keep the order written.
      expect(mine.filter((id, index) => mine.indexOf(id) === index)).toEqual(written);
      expect(mine.filter((id) => id !== companion)).toEqual(written.filter((id) => id !== companion));
      expect(mine.filter((id) => id === companion).length).toBeLessThanOrEqual(2);
    } finally {
      await polling.stop();
    }
  }, 150_000);
});
