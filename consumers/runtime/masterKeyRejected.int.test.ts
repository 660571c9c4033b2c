// A consumer whose PHI_MASTER_KEYS holds other bytes under the id that wrapped the patients' keys is
// misconfigured, and no record is at fault: it keeps its place and retries, dead-letters nothing, and once the
// operator puts the right key back it processes every record. A field whose ciphertext was altered, under a
// data key that does unwrap, is the record's own fault and still goes to the dead-letter topic.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { dataKeyForReading } from "../../db/patientKeys.ts";
import type { PatientKeySource } from "../../phi/decryptEvent.ts";
import { SEALED_PREFIX } from "../../phi/fieldCipher.ts";
import { type MasterKeys, parseMasterKeys } from "../../phi/masterKeys.ts";
import { commitToOutbox } from "../../test/consumers/committedRecords.ts";
import { tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { effectsOf } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import {
  onPartition,
  patientCreatedRecord,
  publish,
  sealPlainPersonalData,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers, testMasterKeys } from "../../test/fixtures.ts";

const db = useEffectsDatabase();

/**
 * The patients' keys, unwrapped with the master keys the operator has configured (set anew, as a restart with
 * a corrected PHI_MASTER_KEYS would), noting why each of the test's patients' keys could not be given.
 */
class ConfiguredKeyring implements PatientKeySource {
  readonly refusals: string[] = [];
  constructor(
    public masters: MasterKeys,
    private readonly patients: ReadonlySet<string>,
  ) {}

  async dataKey(patientId: string): Promise<Buffer> {
    try {
      return await dataKeyForReading(db, patientId, this.masters);
    } catch (error) {
      if (this.patients.has(patientId)) this.refusals.push((error as Error).name);
      throw error;
    }
  }
}

/** A patient.created sealed as `publish` seals it, then one byte of its last name's ciphertext altered. */
async function withAlteredField(record: TestRecord): Promise<TestRecord> {
  await sealPlainPersonalData(db, [record]);
  const envelope = JSON.parse(record.message.value);
  const sealed = envelope.data.lastName as string;
  const at = SEALED_PREFIX.length + 8;
  envelope.data.lastName = `${sealed.slice(0, at)}${sealed[at] === "A" ? "B" : "A"}${sealed.slice(at + 1)}`;
  return { ...record, message: { ...record.message, value: JSON.stringify(envelope) } };
}

describe("a consumer whose master key has the right id but other bytes", () => {
  it("dead-letters nothing and keeps its place, and processes every record once the right key is back", async () => {
    const sealed = onPartition(patientCreatedRecord(), 1);
    const altered = await withAlteredField(onPartition(patientCreatedRecord(), 1));
    const after = onPartition(patientCreatedRecord(), 1);
    const ours = [sealed, altered, after];
    const patients = new Set(ours.map((record) => JSON.parse(record.message.value).data.patientId as string));
    const keyring = new ConfiguredKeyring(
      parseMasterKeys(`${testMasterKeys.currentId}:${randomBytes(32).toString("base64")}`),
      patients,
    );
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "master-key-rejected", { keys: keyring });
    const ourEventIds = new Set(ours.map((record) => record.eventId));
    const ourLetters = async () =>
      (await deadLetters.parkedBy(started.name)).filter(({ letter }) =>
        ourEventIds.has(letter.eventId ?? ""),
      );
    try {
      // Committed as it is: a stored ciphertext altered, not a forged record (which is parked as not-committed).
      await commitToOutbox(db, [altered], { refusedToo: true });
      await publish(kafkaBrokers(), ours, db);
      // Tried, retried a second later, and refused each time for the master key, not the record.
      await eventually(async () => keyring.refusals.length >= 2);
      expect(new Set(keyring.refusals)).toEqual(new Set(["MasterKeyRejected"]));
      expect(await effectsOf(db, started.name)).toEqual([]);
      expect(await ourLetters()).toEqual([]);
      expect(
        await metricValue(started.registry, "consumer_records_dead_lettered_total", { reason: "poison" }),
      ).toBe(0);

      keyring.masters = testMasterKeys;
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((effect) => effect.eventId === after.eventId),
      );
      const effects = await effectsOf(db, started.name);
      expect(effects.map((effect) => effect.eventId)).toEqual([sealed.eventId, after.eventId]);
      const parked = await eventually(async () => {
        const letters = await ourLetters();
        return letters.length > 0 && letters;
      });
      expect(parked.map(({ letter }) => [letter.eventId, letter.reason, letter.error])).toEqual([
        [altered.eventId, "poison", "undecryptable"],
      ]);
    } finally {
      await started.stop();
    }
  });
});
