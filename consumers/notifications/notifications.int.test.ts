// Notifications end to end on the real pipeline: events written through the outbox, relayed to Kafka,
// turned into notification requests (through the outbox again) and delivered by the development transport.
// Each cause sends each of its messages exactly once.

import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { appointments, notificationDeliveries, recordedNotifications } from "../../db/schema.ts";
import { exampleEvent } from "../../events/examples.ts";
import { careWorld } from "../../test/careWorld.ts";
import { handledBy } from "../../test/consumers/inbox.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import { eventRecord, publish, sealPlainPersonalData } from "../../test/consumers/records.ts";
import {
  eventually,
  kafkaBrokers,
  patientCreated,
  silentLog,
  startRelay,
  testDatabase,
  testEventContext,
  testMasterKeys,
} from "../../test/fixtures.ts";
import { containsAll, tapTopic } from "../../test/kafkaTap.ts";
import { patientDirectoryConsumer } from "../patientDirectory/patientDirectoryConsumer.ts";
import { notificationDeliveryConsumer } from "./notificationDelivery.ts";
import { notificationId } from "./notificationIds.ts";
import { notificationRequestsConsumer } from "./notificationRequests.ts";
import { recordingTransport } from "./transports/recordingTransport.ts";

const db = testDatabase();
const relay = startRelay();
const consumers: StartedConsumer[] = [];
let directory: StartedConsumer;
beforeAll(async () => {
  // The shared outbox may hold events other files committed with no relay running: this relay publishes them
  // first. The consumers start at the topics' ends, after them, so that none reads a booking of a patient no
  // directory here projected (it would hold its partition for the prerequisite wait, then be parked).
  await relayCaughtUp();
  const transport = recordingTransport(db);
  const delivery = notificationDeliveryConsumer({
    transports: { email: transport, sms: transport },
    log: silentLog,
  });
  const started = await Promise.all(
    [patientDirectoryConsumer, notificationRequestsConsumer({ masterKeys: testMasterKeys }), delivery].map(
      (definition) => startTestConsumer(definition, { db, kafkaBrokers: kafkaBrokers() }),
    ),
  );
  consumers.push(...started);
  directory = started[0] as StartedConsumer;
});
afterAll(async () => {
  await Promise.all(consumers.map((consumer) => consumer.stop()));
  await relay.stop();
  await db.$client.end();
});

/** Returns once the relay has published everything committed so far: a marker event, and all before it. */
async function relayCaughtUp(): Promise<void> {
  const tap = await tapTopic(kafkaBrokers(), "patient-events");
  const [marker] = await writeTransaction(db, (tx) =>
    appendEvents(tx, testEventContext(), [patientCreated()]),
  );
  await tap.collect({ done: containsAll([marker?.eventId ?? ""]), timeoutMs: 60_000 });
}

async function sentMessages(ids: string[]) {
  const rows = await db.select().from(recordedNotifications);
  return rows.filter((row) => ids.includes(row.notificationId));
}

async function delivered(ids: string[]) {
  await eventually(async () => (await sentMessages(ids)).length >= ids.length);
  // Give a second send, if there were one, the time to show up.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return sentMessages(ids);
}

/** The notification requests the outbox holds for a cause: they are events, written through the outbox. */
async function requestsFor(causeEventId: string): Promise<string[]> {
  const result = await db.$client.query<{ event_type: string }>(
    "SELECT event_type FROM outbox WHERE topic = 'notification-events' AND payload->'data'->>'relatedEventId' = $1",
    [causeEventId],
  );
  return result.rows.map((row) => row.event_type).sort();
}

describe("notifications", () => {
  it("welcome a new patient with exactly one e-mail", async () => {
    const patientId = randomUUID();
    const patient = patientCreated(patientId);
    const [created] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patient]));
    const welcome = notificationId(created?.eventId ?? "", "welcome-email");

    const [message, ...more] = await delivered([welcome]);
    expect(more).toEqual([]);
    const { data } = patient;
    expect(message).toMatchObject({
      channel: "email",
      recipient: data.email,
      subject: "Welcome to the Healthcare Platform",
    });
    expect(message?.body).toContain(`Dear ${data.firstName}`);
    const [delivery] = await db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.notificationId, welcome));
    expect(delivery).toMatchObject({ status: "sent", attempts: 1, transport: "recording" });
    expect(await requestsFor(created?.eventId ?? "")).toEqual(["notification.email.requested"]);
  });

  it("welcome a patient whose first name is as long as a patient record takes", async () => {
    // The template took 100 characters of the 200 a patient's name may have: such a welcome was parked for
    // good, as no re-drive could make it fit.
    const patient = patientCreated(randomUUID());
    patient.data.firstName = "Bartholomew".repeat(18).slice(0, 200);
    const [created] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patient]));

    const [message] = await delivered([notificationId(created?.eventId ?? "", "welcome-email")]);
    expect(message?.body).toContain(`Dear ${patient.data.firstName},`);
  });

  it("confirm a booked appointment and remind of it, each with one e-mail and one text message", async () => {
    const patientId = randomUUID();
    const [created] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(patientId)]),
    );
    // Appointment events have their own topic: the patient must be in the directory before they are handled
    // (the notification consumer would otherwise retry until they are).
    await handledBy(db, directory.name, [created?.eventId ?? ""]);
    const appointmentId = randomUUID();
    const booked = exampleEvent("appointment.booked");
    booked.data = { ...booked.data, appointmentId, patientId };
    const reminder = exampleEvent("appointment.reminder");
    reminder.data = { ...reminder.data, appointmentId, patientId };
    const [bookedEvent, reminderEvent] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [booked, reminder]),
    );

    const ids = [
      notificationId(bookedEvent?.eventId ?? "", "confirmation-email"),
      notificationId(bookedEvent?.eventId ?? "", "confirmation-sms"),
      notificationId(reminderEvent?.eventId ?? "", "reminder-email"),
      notificationId(reminderEvent?.eventId ?? "", "reminder-sms"),
    ];
    const messages = await delivered(ids);
    expect(messages.map((message) => [message.notificationId, message.channel]).sort()).toEqual(
      [
        [ids[0], "email"],
        [ids[1], "sms"],
        [ids[2], "email"],
        [ids[3], "sms"],
      ].sort(),
    );
    const sms = messages.find((message) => message.notificationId === ids[3]);
    expect(sms?.body).toBe("Reminder: your appointment is on 2024-02-01 14:00 UTC, within 24 hours.");
    // Nothing clinical leaves in a message.
    for (const message of messages) expect(message.body).not.toContain("asthma");
    expect(await requestsFor(bookedEvent?.eventId ?? "")).toEqual([
      "notification.email.requested",
      "notification.sms.requested",
    ]);
  });

  it("ask for no confirmation or reminder of an appointment cancelled before its event is handled", async () => {
    // The booking and the reminder were committed while the appointment was booked; it was cancelled before the
    // notification consumer reached them (it was behind, or the reminder's record was read again later).
    const { own } = await careWorld(db);
    const [created] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(own.patientId)]),
    );
    await handledBy(db, directory.name, [created?.eventId ?? ""]);
    await db.update(appointments).set({ status: "CANCELLED" }).where(eq(appointments.id, own.appointmentId));
    const booked = exampleEvent("appointment.booked");
    booked.data = { ...booked.data, appointmentId: own.appointmentId, patientId: own.patientId };
    const reminder = exampleEvent("appointment.reminder");
    reminder.data = { ...reminder.data, appointmentId: own.appointmentId, patientId: own.patientId };
    const [bookedEvent, reminderEvent] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [booked, reminder]),
    );
    const causes = [bookedEvent?.eventId ?? "", reminderEvent?.eventId ?? ""];

    await handledBy(db, (consumers[1] as StartedConsumer).name, causes);
    for (const cause of causes) expect(await requestsFor(cause)).toEqual([]);
  });

  it("confirm a booking written before its location was sealed, which holds the location in plain text", async () => {
    // A platform upgraded from a version that wrote the location as given: its outbox keeps such bookings, which
    // a consumer behind at the upgrade, or a replay, reads. They were parked as not-sealed, never confirmed.
    const patientId = randomUUID();
    const [created] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(patientId)]),
    );
    await handledBy(db, directory.name, [created?.eventId ?? ""]);
    const location = { type: "IN_PERSON" as const, address: "22 Home Road, Springfield" };
    const record = eventRecord("appointment.booked", { patientId, appointmentType: "CHECKUP", location });
    await sealPlainPersonalData(db, [record]);
    const written = JSON.parse(record.message.value);
    written.data.location = location;
    record.message.value = JSON.stringify(written);

    await publish(kafkaBrokers(), [record], db);
    const ids = [
      notificationId(record.eventId, "confirmation-email"),
      notificationId(record.eventId, "confirmation-sms"),
    ];
    expect((await delivered(ids)).map((message) => message.channel).sort()).toEqual(["email", "sms"]);
    expect(await requestsFor(record.eventId)).toEqual([
      "notification.email.requested",
      "notification.sms.requested",
    ]);
  });

  it("welcome and confirm from events written under rules tightened since: a name over two lines, a link with credentials", async () => {
    // A request is held to today's rules (events/requestRules.ts), which refuse both; an earlier version wrote them,
    // and its outbox keeps them for a consumer behind at the upgrade, or a replay. They were parked as invalid-data.
    const patientId = randomUUID();
    const patient = patientCreated(patientId);
    patient.data.firstName = "Ada\nAugusta";
    patient.data.medicalConditions = ["asthma\u202e"];
    const [created] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patient]));
    const [welcome] = await delivered([notificationId(created?.eventId ?? "", "welcome-email")]);
    // Shown on one line (consumers/notifications/templates.ts).
    expect(welcome?.body).toContain("Dear Ada Augusta,");

    const location = { type: "VIRTUAL" as const, url: "https://doctor:secret@meet.example.org/r\u00e4um" };
    const record = eventRecord("appointment.booked", { patientId, appointmentType: "CHECKUP", location });
    await publish(kafkaBrokers(), [record], db);
    const ids = [
      notificationId(record.eventId, "confirmation-email"),
      notificationId(record.eventId, "confirmation-sms"),
    ];
    const confirmations = await delivered(ids);
    expect(confirmations.map((message) => message.channel).sort()).toEqual(["email", "sms"]);
    expect(confirmations.find((message) => message.channel === "email")?.body).toContain("Dear Ada Augusta,");
  });

  it("ask for no confirmation of an appointment whose cancellation commits while its booking is handled", async () => {
    // A patient's deletion cancels their booked appointments: here it is under way (the row updated, not yet
    // committed) when the consumer handles a booking published before it. Read without a lock, the appointment
    // still looked booked in the consumer's snapshot, and its requests were written after the deletion.
    const { own } = await careWorld(db);
    const booked = exampleEvent("appointment.booked");
    booked.data = { ...booked.data, appointmentId: own.appointmentId, patientId: own.patientId };
    // Published before the deletion begins; its patient not in the directory yet, so the consumer waits to retry.
    const [bookedEvent] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [booked]));
    const cause = bookedEvent?.eventId ?? "";
    const deletion = await db.$client.connect();
    try {
      await deletion.query("BEGIN");
      await deletion.query("UPDATE appointments SET status = 'CANCELLED' WHERE id = $1", [own.appointmentId]);
      // The directory's row, written here rather than projected: the relay publishes nothing committed after the
      // deletion began until it ends.
      await db.$client.query(
        `INSERT INTO patient_directory (patient_id, first_name, email, phone, last_event_at)
         VALUES ($1, 'Ada', 'ada.race@example.org', '+14155552671', now())`,
        [own.patientId],
      );
      // Until the consumer waits for the row (or, reading it unlocked, has written its requests).
      await eventually(async () => {
        const { rows } = await db.$client.query<{ waiting: number }>(
          "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return (rows[0]?.waiting ?? 0) > 0 || (await requestsFor(cause)).length > 0;
      }, 60_000);
      await deletion.query("COMMIT");
      await handledBy(db, (consumers[1] as StartedConsumer).name, [cause]);
      expect(await requestsFor(cause)).toEqual([]);
    } finally {
      deletion.release();
    }
  });

  it("wait for a booked patient the directory has not projected yet, longer than the attempts would last", async () => {
    const requests = consumers[1] as StartedConsumer;
    const patientId = randomUUID();
    const booked = exampleEvent("appointment.booked");
    booked.data = { ...booked.data, appointmentId: randomUUID(), patientId };
    const [bookedEvent] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [booked]));
    const waits = () =>
      metricValue(requests.registry, "consumer_retries_total", {
        event_type: "appointment.booked",
        cause: "prerequisite",
      });
    // The test's consumers give a failing record 3 attempts within about a second; the patient comes later.
    await eventually(async () => (await waits()) >= 3);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(patientId)]));

    const ids = ["confirmation-email", "confirmation-sms"].map((kind) =>
      notificationId(bookedEvent?.eventId ?? "", kind),
    );
    const messages = await delivered(ids);
    expect(messages.map((message) => message.channel).sort()).toEqual(["email", "sms"]);
    // Not parked for want of the patient. (Poison a relay publishes from what an earlier file of the run left in
    // the outbox may be parked meanwhile: reason poison.)
    expect(
      await metricValue(requests.registry, "consumer_records_dead_lettered_total", {
        reason: "attempts-exhausted",
      }),
    ).toBe(0);
  });

  it("send one message for a request delivered twice, and for two requests with the same notification id", async () => {
    const id = randomUUID();
    const request = eventRecord("notification.email.requested", { notificationId: id });
    const sameNotification = eventRecord("notification.email.requested", { notificationId: id });
    await publish(kafkaBrokers(), [request, request, sameNotification], db);

    const messages = await delivered([id]);
    expect(messages).toHaveLength(1);
  });
});
