// A patient erased between the opening of their notification request and its send: the transport refuses
// (recordingTransport.ts), and the delivery is finished as not sent, for good, instead of being retried and
// dead-lettered. The transport here stands in for an outside mail service; the ledger is the real table.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { PatientErased } from "../../db/patientKeys.ts";
import { appointments, notificationDeliveries } from "../../db/schema.ts";
import { exampleEvent } from "../../events/examples.ts";
import type { TypedEnvelope } from "../../events/index.ts";
import { careWorld } from "../../test/careWorld.ts";
import { patientCreated, silentLog, testDatabase, testEventContext } from "../../test/fixtures.ts";
import type { ExternalEffectContext } from "../runtime/consumerDefinition.ts";
import { notificationDeliveryConsumer } from "./notificationDelivery.ts";
import { recordingTransport } from "./transports/recordingTransport.ts";
import { type NotificationTransport, NotSentError } from "./transports/transport.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

/** The request the delivery consumer handles, as the runtime hands it over (the handlers read these fields). */
function emailRequested(notificationId: string, patientId: string, relatedEventId: string | null = null) {
  const { data } = exampleEvent("notification.email.requested", {
    notificationId,
    patientId,
    relatedEventId,
  });
  return {
    eventId: randomUUID(),
    eventType: "notification.email.requested",
    data,
  } as unknown as TypedEnvelope<"notification.email.requested">;
}

describe("notification delivery", () => {
  it("finishes a message whose patient was erased before the send as failed, and does not throw", async () => {
    const sent: string[] = [];
    const erased: NotificationTransport = {
      name: "recording",
      async send(message) {
        sent.push(message.notificationId);
        throw new PatientErased(message.patientId ?? "");
      },
    };
    const delivery = notificationDeliveryConsumer({
      transports: { email: erased, sms: erased },
      log: silentLog,
    });
    const notificationId = randomUUID();
    const event = emailRequested(notificationId, randomUUID());
    const handle = delivery.handlers["notification.email.requested"];
    // Resolves: a rejection would have the runtime retry the send and then dead-letter the request.
    await handle?.(event, { db } as ExternalEffectContext);
    expect(sent).toEqual([notificationId]);
    const [row] = await db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.notificationId, notificationId));
    expect(row).toMatchObject({ status: "failed", lastError: "patient-erased" });
  });

  it("records a message once when its sender dies after recording it, before the delivery is finished", async () => {
    const recording = recordingTransport(db);
    const record = recording.sendInTransaction;
    if (!record) throw new Error("the recording transport sends in the ledger's transaction");
    let dies = true;
    // Found by a probe: killed mid-send, a delivery stayed `sending` for good and its message never went out.
    const dying: NotificationTransport = {
      name: "recording",
      send: recording.send,
      async sendInTransaction(client, message) {
        const sent = await record(client, { ...message, patientId: null });
        if (dies) {
          dies = false;
          throw new Error("the process died here");
        }
        return sent;
      },
    };
    const delivery = notificationDeliveryConsumer({
      transports: { email: dying, sms: dying },
      log: silentLog,
    });
    const notificationId = randomUUID();
    const event = emailRequested(notificationId, randomUUID());
    const handle = delivery.handlers["notification.email.requested"];
    const recorded = async () =>
      (
        await db.$client.query("SELECT 1 FROM recorded_notifications WHERE notification_id = $1", [
          notificationId,
        ])
      ).rowCount;
    const ledger = async () =>
      db
        .select()
        .from(notificationDeliveries)
        .where(eq(notificationDeliveries.notificationId, notificationId));

    // The first attempt fails as not sent (the runtime delivers the request again): nothing of it remains.
    await expect(handle?.(event, { db } as ExternalEffectContext)).rejects.toBeInstanceOf(NotSentError);
    expect(await recorded()).toBe(0);
    expect(await ledger()).toEqual([]);
    // The request delivered again is sent, once; delivered a third time, it is not sent again.
    await handle?.(event, { db } as ExternalEffectContext);
    await handle?.(event, { db } as ExternalEffectContext);
    expect(await recorded()).toBe(1);
    expect(await ledger()).toMatchObject([{ status: "sent", attempts: 1 }]);
  });

  it("sends nothing to a patient the directory says was deleted after the message was requested", async () => {
    const recording = recordingTransport(db);
    const delivery = notificationDeliveryConsumer({
      transports: { email: recording, sms: recording },
      log: silentLog,
    });
    const patientId = randomUUID();
    await db.$client.query(
      `INSERT INTO patient_directory (patient_id, first_name, email, phone, last_event_at, deleted_at)
       VALUES ($1, 'Ada', 'ada@example.org', '+14155552671', now(), now())`,
      [patientId],
    );
    const notificationId = randomUUID();
    const event = emailRequested(notificationId, patientId);
    await delivery.handlers["notification.email.requested"]?.(event, { db } as ExternalEffectContext);
    const recorded = await db.$client.query("SELECT 1 FROM recorded_notifications WHERE patient_id = $1", [
      patientId,
    ]);
    expect(recorded.rowCount).toBe(0);
    const ledger = await db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.notificationId, notificationId));
    expect(ledger).toMatchObject([{ status: "failed", lastError: "patient-deleted" }]);
  });

  it("sends nothing to a patient deleted before the send whom the directory has not seen deleted yet", async () => {
    const recording = recordingTransport(db);
    const delivery = notificationDeliveryConsumer({
      transports: { email: recording, sms: recording },
      log: silentLog,
    });
    const patientId = randomUUID();
    // The deletion committed; the directory's consumer, behind, still holds the patient live.
    await db.$client.query(
      `INSERT INTO patients (id, first_name, last_name, date_of_birth, email, phone, deleted_at)
       VALUES ($1, 'Ada', 'Lovelace', '1985-12-10', 'ada@example.org', '+14155552671', now())`,
      [patientId],
    );
    await db.$client.query(
      `INSERT INTO patient_directory (patient_id, first_name, email, phone, last_event_at)
       VALUES ($1, 'Ada', 'ada@example.org', '+14155552671', now())`,
      [patientId],
    );
    const notificationId = randomUUID();
    const event = emailRequested(notificationId, patientId);
    await delivery.handlers["notification.email.requested"]?.(event, { db } as ExternalEffectContext);
    const recorded = await db.$client.query("SELECT 1 FROM recorded_notifications WHERE patient_id = $1", [
      patientId,
    ]);
    expect(recorded.rowCount).toBe(0);
    const ledger = await db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.notificationId, notificationId));
    expect(ledger).toMatchObject([{ status: "failed", lastError: "patient-deleted" }]);
  });

  it("sends nothing for a booking whose appointment was cancelled after its confirmation was requested", async () => {
    const recording = recordingTransport(db);
    const delivery = notificationDeliveryConsumer({
      transports: { email: recording, sms: recording },
      log: silentLog,
    });
    // Two appointments booked, through the outbox; one is cancelled before its confirmation's send.
    const { own, other } = await careWorld(db);
    const bookings = await writeTransaction(db, (tx) =>
      appendEvents(
        tx,
        testEventContext(),
        [own, other].flatMap(({ patientId, appointmentId }) => {
          const booked = exampleEvent("appointment.booked");
          booked.data = { ...booked.data, appointmentId, patientId };
          return [patientCreated(patientId), booked];
        }),
      ),
    );
    const [cancelledBooking, keptBooking] = bookings
      .filter((event) => event.eventType === "appointment.booked")
      .map((event) => event.eventId);
    await db.update(appointments).set({ status: "CANCELLED" }).where(eq(appointments.id, own.appointmentId));
    const cancelled = randomUUID();
    const kept = randomUUID();
    const handle = delivery.handlers["notification.email.requested"];
    await handle?.(emailRequested(cancelled, own.patientId, cancelledBooking ?? ""), {
      db,
    } as ExternalEffectContext);
    await handle?.(emailRequested(kept, other.patientId, keptBooking ?? ""), { db } as ExternalEffectContext);

    const recorded = await db.$client.query<{ notification_id: string }>(
      "SELECT notification_id FROM recorded_notifications WHERE notification_id IN ($1, $2)",
      [cancelled, kept],
    );
    expect(recorded.rows.map((row) => row.notification_id)).toEqual([kept]);
    const ledger = await db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.notificationId, cancelled));
    expect(ledger).toMatchObject([{ status: "failed", lastError: "appointment-cancelled" }]);
  });
});
