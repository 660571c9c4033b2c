// What bench:relay writes, shared by its backlog and its steady writer (bench/steadyWriter.ts), and
// bench:write-path's history.
import { type Database, writeTransaction } from "../db/client.ts";
import { appendEvents, type EventContext } from "../db/outbox/appendEvents.ts";
import { exampleEvent } from "../events/examples.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";

/** 1,000 patients, the same in every process (their ids are derived from their number). */
const patientIds = Array.from(
  { length: 1_000 },
  (_, n) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
);

/** A patient.updated for one of 1,000 patients: a realistic envelope (~600 bytes) spread over partitions. */
export const benchEvent = (i: number) => ({
  ...exampleEvent("patient.updated"),
  data: {
    patientId: patientIds[i % patientIds.length] as string,
    changedFields: ["phone" as const, "allergies" as const],
    changes: { phone: "+14155552671", allergies: ["penicillin", `batch-${i}`] },
  },
});

/** Every event of one run carries the run's correlation id: the measuring consumer tells them apart by it. */
export function benchEventContext(correlationId: string): EventContext {
  return {
    masterKeys: loadMasterKeys(),
    source: "bench",
    metadata: { correlationId, userId: null, ipAddress: "127.0.0.1", userAgent: "bench", sessionId: null },
  };
}

/** `count` bench events committed through the write path, 500 a transaction: a backlog, or a history. */
export async function writeBenchEvents(db: Database, context: EventContext, count: number): Promise<void> {
  for (let written = 0; written < count; written += 500) {
    const size = Math.min(500, count - written);
    await writeTransaction(db, (tx) =>
      appendEvents(
        tx,
        context,
        Array.from({ length: size }, (_, i) => benchEvent(written + i)),
      ),
    );
  }
}
