// `npm run events:tail -- --decrypt` opens patients' sealed fields, and every record it opens is an access to
// their data: the outbox holds an audit.operator.decrypted event naming the operator, the patient and the
// record, committed before the record is printed, and listed in the auditors' history of that patient. A
// record it cannot record stays sealed; a tail without --decrypt, and a record with nothing it could open
// (an erased patient's), record nothing.
import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { historyPageQuery, START_OF_HISTORY } from "../apps/audit/sql/historyPage.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { loadRelayCheckpoint } from "../db/outbox/relayCheckpoint.ts";
import { destroyDataKey } from "../db/patientKeys.ts";
import type { EventData } from "../events/index.ts";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";
import {
  databaseUrl,
  eventually,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

/** The tail on patient-events, once it reads from the end of each partition. */
async function startTail(args: string[], env: Record<string, string> = {}): Promise<ScriptProcess> {
  const tail = spawnScript("scripts/tail-events.ts", { args: ["patient-events", ...args], env });
  await tail.printed(/^tailing patient-events/m);
  return tail;
}

async function stopTail(tail: ScriptProcess): Promise<void> {
  tail.child.kill("SIGTERM");
  await tail.exited;
}

/** A new patient's patient.created (personal fields sealed), which the relay has published. */
async function publishedPatient({ erased = false, firstName = undefined as string | undefined } = {}) {
  const patientId = randomUUID();
  const event = patientCreated(patientId);
  if (firstName !== undefined) event.data.firstName = firstName;
  const [created] = await writeTransaction(db, (tx) =>
    appendEvents(
      tx,
      testEventContext({ metadata: { ...testEventContext().metadata, ipAddress: "203.0.113.9" } }),
      [event],
    ),
  );
  if (erased) await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()));
  const eventId = (created as { eventId: string }).eventId;
  const { rows } = await db.$client.query<{ txId: string }>(
    `SELECT tx_id::text AS "txId" FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const relay = startRelay();
  try {
    await eventually(
      async () =>
        BigInt((await loadRelayCheckpoint(db.$client as never, "outbox")).txId) >= BigInt(rows[0]?.txId ?? 0),
    );
  } finally {
    await relay.stop();
  }
  return { patientId, eventId, data: event.data };
}

/** The record of the event as the tail printed it: its header line and its value line. */
async function printedRecord(tail: ScriptProcess, eventId: string) {
  const [, header, value] = await tail.printed(
    new RegExp(`^(\\{"partition".*"eventId":"${eventId}".*\\})\\n  (.*)$`, "m"),
  );
  return {
    header: JSON.parse(header as string) as { partition: number; offset: string },
    value: value as string,
  };
}

interface DecryptionRecord {
  patientId: string | null;
  aggregateId: string;
  topic: string;
  data: EventData<"audit.operator.decrypted">;
}

/** The audit.operator.decrypted events the outbox holds about the record of this event. */
async function decryptionsOf(eventId: string): Promise<DecryptionRecord[]> {
  const { rows } = await db.$client.query<DecryptionRecord>(
    `SELECT patient_id::text AS "patientId", aggregate_id AS "aggregateId", topic, payload::jsonb -> 'data' AS data
       FROM outbox
      WHERE event_type = 'audit.operator.decrypted' AND payload::jsonb -> 'data' -> 'record' ->> 'eventId' = $1`,
    [eventId],
  );
  return rows;
}

describe("npm run events:tail -- --decrypt", () => {
  it("records who opened which patient's record, committed before it prints the record opened", async () => {
    const tail = await startTail(["--decrypt"]);
    try {
      const { patientId, eventId, data } = await publishedPatient();

      const printed = await printedRecord(tail, eventId);
      // Read as soon as the record is printed: the access was committed before it.
      const recorded = await decryptionsOf(eventId);

      const opened = JSON.parse(printed.value);
      expect(opened.data).toMatchObject({ patientId, lastName: data.lastName, email: data.email });
      expect(opened.metadata.ipAddress).toBe("203.0.113.9");
      expect(recorded).toHaveLength(1);
      const [record] = recorded as [DecryptionRecord];
      expect(record).toMatchObject({
        topic: "audit-events",
        patientId,
        aggregateId: userInfo().username,
        data: {
          operator: userInfo().username,
          tool: "events:tail",
          patientId,
          record: {
            topic: "patient-events",
            partition: printed.header.partition,
            offset: printed.header.offset,
            eventId,
            eventType: "patient.created",
          },
        },
      });
      expect(record.data.fields).toEqual(
        expect.arrayContaining(["firstName", "email", "metadata.ipAddress"]),
      );
      // Names only: none of the values it opened.
      for (const value of [data.firstName, data.lastName, data.email, "203.0.113.9"])
        expect(JSON.stringify(record.data)).not.toContain(value);

      // The auditors' history of the patient lists the access beside the event it opened, once no transaction
      // that began before its commit still runs on the server (the history shows no row an open one could precede).
      const listed = async () =>
        (
          await db.$client.query<{ eventType: string; eventId: string }>(
            historyPageQuery({ patientId }, START_OF_HISTORY, 100),
          )
        ).rows.map((row) => row.eventType);
      await eventually(async () => (await listed()).length === 2);
      expect(await listed()).toEqual(["patient.created", "audit.operator.decrypted"]);
    } finally {
      await stopTail(tail);
    }
  });

  it("prints what it opened escaped where it could act on the terminal, as the same JSON", async () => {
    // Written by an earlier version, whose requests took them: a right-to-left override shows "Bob\u202etxt.exe"
    // as "Bobexe.txt", a C1 control sequence (CSI) acts on a terminal as ESC [ does.
    const firstName = "Bob\u202etxt.exe\u202c \u009b31m\u2066x";
    const tail = await startTail(["--decrypt"]);
    try {
      const { eventId } = await publishedPatient({ firstName });

      const printed = await printedRecord(tail, eventId);

      expect(printed.value).not.toMatch(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/u);
      expect(printed.value).toContain(String.raw`Bob\u202etxt.exe\u202c \u009b31m\u2066x`);
      expect(JSON.parse(printed.value).data.firstName).toBe(firstName);
    } finally {
      await stopTail(tail);
    }
  });

  it("without --decrypt prints the record sealed and records nothing", async () => {
    const tail = await startTail([]);
    try {
      const { eventId } = await publishedPatient();

      const printed = await printedRecord(tail, eventId);

      expect(JSON.parse(printed.value).data.firstName).toMatch(/^enc:v1:/);
      expect(await decryptionsOf(eventId)).toEqual([]);
    } finally {
      await stopTail(tail);
    }
  });

  it("records nothing for an erased patient's record, which it cannot open", async () => {
    const tail = await startTail(["--decrypt"]);
    try {
      const { eventId } = await publishedPatient({ erased: true });

      const printed = await printedRecord(tail, eventId);
      await tail.printed(/\(not decrypted: .*erased/);

      expect(JSON.parse(printed.value).data.firstName).toMatch(/^enc:v1:/);
      expect(await decryptionsOf(eventId)).toEqual([]);
    } finally {
      await stopTail(tail);
    }
  });

  it("fails closed: a record whose access cannot be recorded is printed sealed, saying why", async () => {
    // A database user that may read the patients' keys but not write the outbox.
    const reader = `tail_reader_${randomUUID().replaceAll("-", "")}`;
    const database = new URL(databaseUrl()).pathname.slice(1);
    // With a password: the stack's Postgres asks for one (SCRAM), the machine's may not.
    const password = randomUUID();
    await db.$client.query(`CREATE ROLE ${reader} LOGIN PASSWORD '${password}'`);
    await db.$client.query(`GRANT CONNECT ON DATABASE "${database}" TO ${reader}`);
    await db.$client.query(`GRANT USAGE ON SCHEMA public TO ${reader}`);
    await db.$client.query(`GRANT SELECT ON patient_keys TO ${reader}`);
    const readerUrl = new URL(databaseUrl());
    readerUrl.username = reader;
    readerUrl.password = password;
    const tail = await startTail(["--decrypt"], { DATABASE_URL: readerUrl.toString() });
    try {
      const { eventId } = await publishedPatient();

      const printed = await printedRecord(tail, eventId);
      await tail.printed(
        /\(not decrypted: the access could not be recorded as audit\.operator\.decrypted: permission denied for table outbox\)/,
      );

      expect(JSON.parse(printed.value).data.firstName).toMatch(/^enc:v1:/);
      expect(tail.output()).not.toMatch(/"firstName":"Ada"/);
      expect(await decryptionsOf(eventId)).toEqual([]);
    } finally {
      await stopTail(tail);
      await db.$client.query(`DROP OWNED BY ${reader}`);
      await db.$client.query(`DROP ROLE ${reader}`);
    }
  });

  it("with a database it cannot reach, refuses before it tails, naming DATABASE_URL, and shows no record", async () => {
    const unreachable = new URL(databaseUrl());
    unreachable.port = "1";
    const tail = spawnScript("scripts/tail-events.ts", {
      args: ["patient-events", "--from-beginning", "--decrypt"],
      env: { DATABASE_URL: unreachable.toString() },
    });
    const exited = await Promise.race([
      tail.exited,
      new Promise<"still tailing">((resolve) => setTimeout(() => resolve("still tailing"), 30_000)),
    ]);
    if (exited === "still tailing") await stopTail(tail);

    expect(exited, tail.output()).toBe(1);
    expect(tail.output()).toContain(
      "events:tail --decrypt: the patients' keys cannot be read from DATABASE_URL",
    );
    expect(tail.output()).not.toMatch(/^tailing|"partition"/m);
  });
});
