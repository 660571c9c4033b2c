// The records an operator opens with `npm run events:tail -- --decrypt` reach the compliance watch the way the
// tail records them: each an audit.operator.decrypted event appended in a transaction of its own, published by
// the relay to audit-events. One patient more than COMPLIANCE_MAX_PATIENTS_DECRYPTED raises one alert naming
// the operator, in the outbox and on Kafka; as many as allowed raise none.

import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { outbox } from "../../db/schema.ts";
import { exampleEvent } from "../../events/examples.ts";
import type { EventData } from "../../events/index.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { handledBy } from "../../test/consumers/inbox.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import {
  kafkaBrokers,
  startRelay,
  testDatabase,
  testEventContext,
  testMasterKeys,
} from "../../test/fixtures.ts";
import { containsAll, type TopicTap, tapTopic } from "../../test/kafkaTap.ts";
import { complianceWatchConsumer } from "./complianceWatchConsumer.ts";
import { complianceWatchConfig } from "./watchSettings.ts";

const MAX_PATIENTS_DECRYPTED = 2;

// No working hours: the events are timestamped now, and the out-of-hours rule would depend on the clock.
const config = complianceWatchConfig({
  COMPLIANCE_MAX_PATIENTS: 50,
  COMPLIANCE_MAX_PATIENTS_DECRYPTED: MAX_PATIENTS_DECRYPTED,
  COMPLIANCE_MAX_REFUSALS: 5,
  COMPLIANCE_MAX_FAILED_LOGINS: 5,
  COMPLIANCE_WINDOW_MINUTES: 60,
  COMPLIANCE_TIME_ZONE: "UTC",
});

const db = testDatabase();
let watch: StartedConsumer;
let relay: OutboxRelay;
let auditTopic: TopicTap;
beforeAll(async () => {
  auditTopic = await tapTopic(kafkaBrokers(), "audit-events");
  watch = await startTestConsumer(complianceWatchConsumer(config, { masterKeys: testMasterKeys }), {
    db,
    kafkaBrokers: kafkaBrokers(),
  });
  relay = startRelay();
});
afterAll(async () => {
  await relay.stop();
  await watch.stop();
  await db.$client.end();
});

/** As the tail records an opened record: one committed transaction each, before the record is shown. */
async function recordOpenings(operator: string, patientIds: string[]): Promise<string[]> {
  const eventIds: string[] = [];
  for (const patientId of patientIds) {
    const [appended] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext({ source: "events-tail" }), [
        exampleEvent("audit.operator.decrypted", { operator, patientId }),
      ]),
    );
    eventIds.push((appended as { eventId: string }).eventId);
  }
  return eventIds;
}

/** Waits until the watch has handled every one of the events, published by the relay. */
const watched = (eventIds: string[]) => handledBy(db, watch.name, eventIds);

async function alertsAbout(operator: string) {
  return db
    .select({ eventId: outbox.eventId, payload: outbox.payload })
    .from(outbox)
    .where(and(eq(outbox.eventType, "audit.compliance.alert"), eq(outbox.aggregateId, operator)));
}

const newPatients = (count: number) => Array.from({ length: count }, () => randomUUID());

describe("an operator's decryptions, from the outbox through Kafka to the watch", () => {
  it(`raise nothing for ${MAX_PATIENTS_DECRYPTED} patients and one alert naming the operator, on audit-events too, for ${MAX_PATIENTS_DECRYPTED + 1}`, async () => {
    const withinLimit = `oncall.${randomUUID()}`;
    await watched(await recordOpenings(withinLimit, newPatients(MAX_PATIENTS_DECRYPTED)));
    expect(await alertsAbout(withinLimit)).toEqual([]);

    const overLimit = `oncall.${randomUUID()}`;
    const openings = await recordOpenings(overLimit, newPatients(MAX_PATIENTS_DECRYPTED + 1));
    await watched(openings);
    const alerts = await alertsAbout(overLimit);
    expect(alerts).toHaveLength(1);
    const [alert] = alerts as [{ eventId: string; payload: unknown }];
    const expected: Partial<EventData<"audit.compliance.alert">> = {
      rule: "many-patients-decrypted",
      principal: { kind: "operator", id: overLimit },
      threshold: MAX_PATIENTS_DECRYPTED,
      observed: MAX_PATIENTS_DECRYPTED + 1,
      evidenceEventIds: openings,
    };
    expect(alert.payload).toMatchObject({ data: expected });

    const published = await auditTopic.collect({ done: containsAll([alert.eventId]) });
    const onKafka = published.filter((record) => record.eventId === alert.eventId);
    expect(onKafka).toHaveLength(1);
    expect(JSON.parse(onKafka[0]?.value as string)).toMatchObject({
      eventType: "audit.compliance.alert",
      data: expected,
    });
  });
});
