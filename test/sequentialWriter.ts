// A writer that keeps appending events for a few aggregates, one transaction at a time, so the order of each
// aggregate's events is known independently of the relay: it is the order this writer committed them.
import { randomUUID } from "node:crypto";
import type { Database } from "../db/client.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { patientCreated, testEventContext } from "./fixtures.ts";

export interface SequentialWriter {
  stop(): Promise<void>;
  /** Event ids per patient id, in commit order. */
  committed: Map<string, string[]>;
  count(): number;
}

export function startSequentialWriter(
  db: Database,
  options: { patients?: number; pauseMs?: number } = {},
): SequentialWriter {
  const patientIds = Array.from({ length: options.patients ?? 10 }, () => randomUUID());
  const committed = new Map<string, string[]>(patientIds.map((id) => [id, []]));
  let running = true;
  let total = 0;
  const loop = (async () => {
    for (let round = 0; running; round++) {
      for (const patientId of patientIds) {
        const event =
          round === 0
            ? patientCreated(patientId)
            : {
                type: "patient.updated" as const,
                data: {
                  patientId,
                  changedFields: ["allergies" as const],
                  changes: { allergies: [`allergy-${round}`] },
                },
              };
        const [appended] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [event]));
        committed.get(patientId)?.push(appended?.eventId as string);
        total++;
      }
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 20));
    }
  })();
  return {
    committed,
    count: () => total,
    async stop() {
      running = false;
      await loop;
    },
  };
}
