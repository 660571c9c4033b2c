// What a consumer has handled, as its inbox (consumer_inbox) records it: what tests wait for before they look
// at the consumer's effects.
import { and, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { consumerInbox } from "../../db/schema.ts";
import { eventually } from "../fixtures.ts";

/** Waits until the consumer's inbox holds every one of the events (a consumer records each once). */
export async function handledBy(db: Database, consumer: string, eventIds: readonly string[]): Promise<void> {
  const ids = [...new Set(eventIds)];
  await eventually(async () => {
    const rows = await db
      .select({ eventId: consumerInbox.eventId })
      .from(consumerInbox)
      .where(and(eq(consumerInbox.consumer, consumer), inArray(consumerInbox.eventId, ids)));
    return rows.length === ids.length;
  });
}
