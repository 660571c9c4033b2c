// A writer the way the patient service writes: lock the patient's row, change it, append its patient.updated
// in the same transaction. The relay's order tests run many of these at once.
import { lockPatient, updatePatient } from "../apps/patient/store.ts";
import { type Database, type WriteTransaction, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { testEventContext } from "./fixtures.ts";

/**
 * Adds a condition to the patient's record; returns the event's id. `declareAggregate` queues the writer on
 * the patient's advisory lock before its transaction begins (db/client.ts), as the service's routes do.
 */
export async function addCondition(
  db: Database,
  patientId: string,
  condition: string,
  { declareAggregate = false }: { declareAggregate?: boolean } = {},
): Promise<string> {
  const write = async (tx: WriteTransaction) => {
    const patient = await lockPatient(tx, patientId);
    if (!patient) throw new Error(`patient ${patientId} is missing`);
    const medicalConditions = [...patient.medicalConditions, condition];
    await updatePatient(tx, patientId, { medicalConditions });
    const [event] = await appendEvents(tx, testEventContext(), [
      {
        type: "patient.updated",
        data: { patientId, changedFields: ["medicalConditions"], changes: { medicalConditions } },
      },
    ]);
    return event?.eventId as string;
  };
  return declareAggregate
    ? writeTransaction(db, { lockAggregate: { aggregateType: "patient", aggregateId: patientId } }, write)
    : writeTransaction(db, write);
}
