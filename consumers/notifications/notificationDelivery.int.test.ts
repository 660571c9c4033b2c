// A patient erased between the opening of their notification request and its send: the transport refuses
// (recordingTransport.ts), and the delivery is finished as not sent, for good, instead of being retried and
// dead-lettered. The transport here stands in for an outside mail service; the ledger is the real table.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { PatientErased } from "../../db/patientKeys.ts";
import { notificationDeliveries } from "../../db/schema.ts";
import { exampleEvent } from "../../events/examples.ts";
import type { TypedEnvelope } from "../../events/index.ts";
import { silentLog, testDatabase } from "../../test/fixtures.ts";
import type { ExternalEffectContext } from "../runtime/consumerDefinition.ts";
import { notificationDeliveryConsumer } from "./notificationDelivery.ts";
import type { NotificationTransport } from "./transports/transport.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

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
    const { data } = exampleEvent("notification.email.requested", {
      notificationId,
      patientId: randomUUID(),
    });
    const event = {
      eventId: randomUUID(),
      eventType: "notification.email.requested",
      data,
    } as unknown as TypedEnvelope<"notification.email.requested">;
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
});
