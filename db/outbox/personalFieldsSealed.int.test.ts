// No personal field is ever written unsealed, proven for every event type of the catalog that has some: with
// its patient it is stored sealed; with the patient's id in another case, without a patient, or after the
// patient's erasure it is refused and its transaction writes nothing.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { eventDefinition, eventTypes, type NewEvent } from "../../events/index.ts";
import { isSealed } from "../../phi/fieldCipher.ts";
import { PersonalFieldsUnsealable } from "../../phi/personalFields.ts";
import { decrypted, patientCreated, testDatabase, testEventContext } from "../../test/fixtures.ts";
import { writeTransaction } from "../client.ts";
import { destroyDataKey, PatientErased } from "../patientKeys.ts";
import { appendEvents } from "./appendEvents.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const typesWithPersonalData = eventTypes.filter((type) => eventDefinition(type).personalFields.length > 0);
const allowNoPatient = typesWithPersonalData.filter(
  (type) => eventDefinition(type).schema.safeParse({ ...exampleEvent(type).data, patientId: null }).success,
);
/** Types whose personal fields need a patient, yet whose schema allows none: refused without one. */
const typesWithoutPatient = allowNoPatient.filter((type) => !eventDefinition(type).personalOnlyAboutPatient);
/** Types whose fields are personal only about a patient (a login attempt on a username that is no one's). */
const typesPersonalOnlyAboutPatient = allowNoPatient.filter(
  (type) => eventDefinition(type).personalOnlyAboutPatient,
);

/** The catalog's example of `type`, about `patientId`, with an aggregate of its own. */
function eventAbout(type: (typeof typesWithPersonalData)[number], patientId: string | null): NewEvent {
  const event = exampleEvent(type);
  const data = { ...event.data, patientId } as Record<string, unknown>;
  for (const idField of ["appointmentId", "documentId", "notificationId", "insightId"]) {
    if (idField in data) data[idField] = randomUUID();
  }
  return { type, data } as NewEvent;
}

const valueAt = (data: unknown, path: string) =>
  path
    .split(".")
    .reduce<unknown>((value, name) => (value as Record<string, unknown> | undefined)?.[name], data);

/** Appends a harmless event, then `event`, in one transaction: the error it ends with, if any. */
async function appendAfterAnother(event: NewEvent, correlationId: string): Promise<unknown> {
  const context = testEventContext({
    metadata: { ...testEventContext().metadata, correlationId },
  });
  return writeTransaction(db, async (tx) => {
    await appendEvents(tx, context, [patientCreated()]);
    await appendEvents(tx, context, [event]);
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
}

const rowsOf = async (correlationId: string) =>
  (await db.execute(sql`SELECT event_id FROM outbox WHERE correlation_id = ${correlationId}`)).rows;

const keyRowsOf = async (patientId: string) =>
  (await db.execute(sql`SELECT patient_id FROM patient_keys WHERE patient_id = ${patientId.toLowerCase()}`))
    .rows;

describe("every event type with personal fields", () => {
  it("is in the catalog, and the ones that allow no patient are the staff messages and insights", () => {
    expect(typesWithPersonalData.length).toBeGreaterThanOrEqual(10);
    expect(typesWithoutPatient).toEqual([
      "notification.email.requested",
      "notification.sms.requested",
      "notification.push.requested",
      "ai.insight.created",
    ]);
    expect(typesPersonalOnlyAboutPatient).toEqual(["audit.login.attempt"]);
  });

  it.each(typesWithPersonalData)(
    "%s about a patient is stored with every personal field sealed",
    async (type) => {
      const event = eventAbout(type, randomUUID());
      const [appended] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [event]));
      const [row] = (
        await db.execute<{ payload: string }>(
          sql`SELECT payload::text AS payload FROM outbox WHERE event_id = ${appended?.eventId}`,
        )
      ).rows;
      const stored = JSON.parse(row?.payload ?? "{}").data;
      const present = eventDefinition(type).personalFields.filter(
        (path) => valueAt(event.data, path) !== undefined,
      );
      expect(present.length).toBeGreaterThan(0);
      for (const path of present) {
        const value = valueAt(stored, path);
        expect(typeof value === "string" && value.startsWith("enc:v1:") && isSealed(value), path).toBe(true);
      }
      expect((await decrypted(db, row?.payload)).data).toEqual(event.data);
    },
  );

  it.each(typesWithPersonalData)(
    "%s naming its patient in upper case is refused, and its transaction writes nothing",
    async (type) => {
      const patientId = randomUUID();
      const correlationId = randomUUID();
      const error = await appendAfterAnother(eventAbout(type, patientId.toUpperCase()), correlationId);
      expect(error).toBeInstanceOf(Error);
      expect(String(error)).toContain("patientId: must be a UUID in lower case");
      expect(await rowsOf(correlationId)).toEqual([]);
      expect(await keyRowsOf(patientId)).toEqual([]);
    },
  );

  it.each(typesWithPersonalData)(
    "%s about an erased patient is refused, and its transaction writes nothing",
    async (type) => {
      const patientId = randomUUID();
      await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()));
      const correlationId = randomUUID();
      const error = await appendAfterAnother(eventAbout(type, patientId), correlationId);
      expect(error).toBeInstanceOf(PatientErased);
      expect(await rowsOf(correlationId)).toEqual([]);
    },
  );

  it.each(typesWithoutPatient)(
    "%s about no patient is refused (nothing could seal it), and its transaction writes nothing",
    async (type) => {
      const correlationId = randomUUID();
      const error = await appendAfterAnother(eventAbout(type, null), correlationId);
      expect(error).toBeInstanceOf(PersonalFieldsUnsealable);
      expect(error).toMatchObject({ eventType: type });
      expect(await rowsOf(correlationId)).toEqual([]);
    },
  );

  it.each(typesPersonalOnlyAboutPatient)(
    "%s about no patient is written as given: its fields are no one's patient data",
    async (type) => {
      const event = eventAbout(type, null);
      const [appended] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [event]));
      const [row] = (
        await db.execute<{ payload: string; patient_id: string | null }>(
          sql`SELECT payload::text AS payload, patient_id FROM outbox WHERE event_id = ${appended?.eventId}`,
        )
      ).rows;
      expect(row?.patient_id).toBeNull();
      const stored = JSON.parse(row?.payload ?? "{}").data;
      for (const path of eventDefinition(type).personalFields) {
        expect(valueAt(stored, path), path).toEqual(valueAt(event.data, path));
      }
    },
  );
});

describe("aggregate ids", () => {
  it.each(eventTypes.filter((type) => eventDefinition(type).keyedBy === "aggregate"))(
    "%s with its aggregate id in upper case is refused: it would start a second aggregate",
    async (type) => {
      const event = exampleEvent(type);
      const definition = eventDefinition(type);
      const aggregateId = definition.aggregateId(event.data as never);
      const fresh = randomUUID();
      const upper = JSON.parse(JSON.stringify(event.data).replaceAll(aggregateId, fresh.toUpperCase()));
      const correlationId = randomUUID();
      const error = await appendAfterAnother({ type, data: upper } as NewEvent, correlationId);
      expect(String(error)).toContain("must be a UUID in lower case");
      expect(await rowsOf(correlationId)).toEqual([]);
      const chains = await db.execute(
        sql`SELECT 1 FROM aggregate_versions WHERE lower(aggregate_id) = ${fresh}`,
      );
      expect(chains.rows).toEqual([]);
    },
  );
});
