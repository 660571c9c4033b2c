// `npm run replay` as a user runs it, for the replay's command tests, and a few patient events the relay has
// published (or not) to replay.
import { randomUUID } from "node:crypto";
import type { Database } from "../db/client.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { loadRelayCheckpoint } from "../db/outbox/relayCheckpoint.ts";
import { spawnScript } from "./childProcess.ts";
import { eventually, patientCreated, startRelay, testEventContext } from "./fixtures.ts";

export interface CommandOutcome {
  code: number | null;
  /** stdout and stderr together. */
  output: string;
}

export async function runReplay(args: string[]): Promise<CommandOutcome> {
  const run = spawnScript("scripts/replay.ts", { args });
  // `close`, not `exit`: the output is read to its end.
  const code = await new Promise<number | null>((resolve) => run.child.once("close", resolve));
  return { code, output: run.output() };
}

/** A patient created and updated `updates` times, in one request; with `relayed`, once the relay has published it. */
export async function patientHistory(
  db: Database,
  { updates = 2, relayed = true }: { updates?: number; relayed?: boolean } = {},
): Promise<{ patientId: string; eventIds: string[] }> {
  const patientId = randomUUID();
  const appended = await writeTransaction(db, (tx) =>
    appendEvents(tx, testEventContext(), [
      patientCreated(patientId),
      ...Array.from({ length: updates }, (_, index) => ({
        type: "patient.updated" as const,
        data: {
          patientId,
          changedFields: ["phone" as const],
          changes: { phone: `+1415555${String(index).padStart(4, "0")}` },
        },
      })),
    ]),
  );
  if (relayed) {
    const [row] = (
      await db.$client.query<{ txId: string }>(
        `SELECT tx_id::text AS "txId" FROM outbox WHERE event_id = $1`,
        [appended[0]?.eventId],
      )
    ).rows;
    const relay = startRelay();
    try {
      await eventually(
        async () =>
          BigInt((await loadRelayCheckpoint(db.$client as never, "outbox")).txId) >= BigInt(row?.txId ?? 0),
      );
    } finally {
      await relay.stop();
    }
  }
  return { patientId, eventIds: appended.map((event) => event.eventId) };
}

/** How many audit.history.replayed events the outbox holds. */
export async function replayRecords(db: Database): Promise<number> {
  const result = await db.$client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM outbox WHERE event_type = 'audit.history.replayed'`,
  );
  return result.rows[0]?.n ?? 0;
}
