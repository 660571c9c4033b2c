// A phone number typed as a login's username (phone sign-in) is the patient's whose number it could be, by the
// rule of phi/loginPhone.ts: in any spelling, with or without its country code; current, or replaced by a change
// of phone. It names the patient, and the username and reason are sealed under their key. Once the patient is
// erased, the number (current or former) typed in any spelling is recorded under one pseudonym, and a reason
// quoting it in any spelling quotes the pseudonym. Before, a number was never matched: it was recorded as typed,
// in plain text (also as the aggregate id, the Kafka record key), and outlived the patient's erasure.
import { randomInt, randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { PatientErased } from "../../db/patientKeys.ts";
import { asciiDigits } from "../../phi/loginPhone.ts";
import { decrypted, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const PSEUDONYM = /^erased-login:[0-9a-f]{32}$/;

const send = (who: Caller, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** A Berlin number of its own (+49 30 and 8 random digits), and the spellings a login may type it in. */
function berlinNumber() {
  const line = String(randomInt(10 ** 8)).padStart(8, "0");
  const [head, tail] = [line.slice(0, 4), line.slice(4)];
  return {
    e164: `+4930${line}`,
    line,
    spellings: [
      `+4930${line}`,
      ` +49 30 ${head} ${tail} `,
      `0049 (0)30 ${head}-${tail}`,
      `+49 (0) 30 ${head}.${tail}`,
      `030 ${head} ${tail}`,
      `(030) ${head}-${tail}`,
      `30${line}`,
    ],
  };
}

/** `text` with its ASCII digits and `+` in another script: what an input method or another keyboard types. */
const inScript = (text: string, zero: number) =>
  text.replace(/[0-9]/g, (digit) => String.fromCodePoint(zero + Number(digit))).replace("+", "\uff0b");
const FULL_WIDTH = 0xff10;
const ARABIC_INDIC = 0x0660;
const MATHEMATICAL_BOLD = 0x1d7ce;

/** A pattern for the number's own digits, with anything but letters and digits between them. */
const anySpellingOf = (line: string) => new RegExp([...line].join("[^0-9A-Za-z]{0,3}"));

/**
 * The row with the values the platform generates masked (ids, hashes, pseudonyms, timestamps), for a search of
 * the number's digits in any spelling: a row's two timestamps read as eight digits with separators ("2026-12-05",
 * "15:48:19.535+00:00") at about ten places, and a UUID or a hash at a few dozen, so that the file's 52 searches
 * found random digits there about once in 120,000 runs.
 */
const withoutGeneratedValues = (row: string) =>
  row.replace(
    /[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{16,}|\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-][\d:]+)?/gi,
    "…",
  );

interface RecordedAttempt {
  /** The whole outbox row, every column, as JSON text. */
  row: string;
  payload: string;
  aggregateId: string;
  patientId: string | null;
  data: { username: string; reason: string | null; patientId: string | null };
}

/** A failed attempt typing `username`, and its outbox row as Postgres holds it. */
async function failedAttempt(
  username: string,
  reason = `unknown user ${username}`,
): Promise<RecordedAttempt> {
  const response = await send(await caller("service"), "POST", "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    userId: null,
    username,
    reason,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await db.$client.query<Omit<RecordedAttempt, "data">>(
    `SELECT to_jsonb(outbox)::text AS row, payload::text AS payload, aggregate_id AS "aggregateId",
            patient_id::text AS "patientId"
       FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const [stored] = rows;
  if (!stored) throw new Error(`no outbox row for event ${eventId}`);
  return { ...stored, data: JSON.parse(stored.payload).data };
}

async function registered(phone: string): Promise<string> {
  const response = await send(await caller("admin"), "POST", "/patients", newPatientBody({ phone }));
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function phoneChanged(id: string, phone: string): Promise<void> {
  expect((await send(await caller("admin"), "PATCH", `/patients/${id}`, { phone })).status).toBe(200);
}

async function erased(id: string): Promise<void> {
  expect((await send(await caller("admin"), "POST", `/patients/${id}/erasure`)).status).toBe(200);
}

describe("a login attempt typing a patient's phone number", () => {
  it("names the patient in any spelling, and seals the number and the reason quoting it", async () => {
    const number = berlinNumber();
    const id = await registered(number.e164);
    for (const typed of number.spellings) {
      const attempt = await failedAttempt(typed);
      expect(attempt, typed).toMatchObject({ patientId: id, aggregateId: id });
      expect(withoutGeneratedValues(attempt.row), typed).not.toMatch(anySpellingOf(number.line));
      expect((await decrypted(db, attempt.payload)).data, typed).toMatchObject({
        username: typed,
        reason: `unknown user ${typed}`,
        patientId: id,
      });
    }
  });

  it("names the patient when its digits are another script's, and seals the number in every script", async () => {
    const number = berlinNumber();
    const id = await registered(number.e164);
    for (const zero of [FULL_WIDTH, ARABIC_INDIC, MATHEMATICAL_BOLD]) {
      for (const typed of [inScript(number.e164, zero), inScript(`030 ${number.line}`, zero)]) {
        const attempt = await failedAttempt(typed);
        expect(attempt, typed).toMatchObject({ patientId: id, aggregateId: id });
        expect(withoutGeneratedValues(asciiDigits(attempt.row)), typed).not.toMatch(
          anySpellingOf(number.line),
        );
        expect((await decrypted(db, attempt.payload)).data, typed).toMatchObject({
          username: typed,
          patientId: id,
        });
      }
    }
  });

  it("names the record made first when several patients share the number (a family's landline)", async () => {
    const number = berlinNumber();
    const first = await registered(number.e164);
    await registered(number.e164);
    for (const typed of [number.e164, `030 ${number.line}`]) {
      expect((await failedAttempt(typed)).patientId, typed).toBe(first);
    }
  });

  it("names the patient who had it before a change of phone, whose erasure then takes it with the rest", async () => {
    const [former, current] = [berlinNumber(), berlinNumber()];
    const id = await registered(former.e164);
    await phoneChanged(id, current.e164);
    // Kept as the hashes of its forms: the whole number, and without a country code of 1, 2 or 3 digits.
    const kept = await db.$client.query("SELECT 1 FROM patient_former_logins WHERE patient_id = $1", [id]);
    expect(kept.rows).toHaveLength(4);

    const attempts: RecordedAttempt[] = [];
    for (const typed of former.spellings) {
      const attempt = await failedAttempt(typed);
      expect(attempt.patientId, typed).toBe(id);
      expect(withoutGeneratedValues(attempt.row), typed).not.toMatch(anySpellingOf(former.line));
      attempts.push(attempt);
    }

    await erased(id);
    const left = await db.$client.query("SELECT 1 FROM patient_former_logins WHERE patient_id = $1", [id]);
    expect(left.rows).toEqual([]);
    for (const attempt of attempts)
      await expect(decrypted(db, attempt.payload)).rejects.toThrow(PatientErased);
  });
});

describe("a login attempt typing an erased patient's phone number", () => {
  it("is recorded under the number's pseudonym in any spelling, current or former, never the number", async () => {
    const [former, current] = [berlinNumber(), berlinNumber()];
    const id = await registered(former.e164);
    await phoneChanged(id, current.e164);
    await erased(id);

    const pseudonyms = new Map<string, Set<string>>();
    for (const number of [former, current]) {
      const seen = new Set<string>();
      for (const typed of number.spellings) {
        // The reason quotes the number in another spelling than the one typed.
        const attempt = await failedAttempt(typed, `no account for +49 30 ${number.line} (typed ${typed})`);
        expect(attempt.data.username, typed).toMatch(PSEUDONYM);
        expect(attempt, typed).toMatchObject({ patientId: null, aggregateId: attempt.data.username });
        expect(attempt.data.patientId).toBeNull();
        const pseudonym = attempt.data.username;
        expect(attempt.data.reason).toBe(
          `no account for ${pseudonym} (typed ${typed.replace(typed.trim(), pseudonym)})`,
        );
        // Checked in the database: no digits of either number anywhere in the row.
        for (const { line } of [former, current])
          expect(withoutGeneratedValues(attempt.row), typed).not.toMatch(anySpellingOf(line));
        seen.add(attempt.data.username);
      }
      pseudonyms.set(number.e164, seen);
    }
    // One pseudonym per number, the same for every spelling; another for the other number.
    const [ofFormer, ofCurrent] = [...pseudonyms.values()].map((seen) => [...seen]);
    expect(ofFormer).toHaveLength(1);
    expect(ofCurrent).toHaveLength(1);
    expect(ofFormer).not.toEqual(ofCurrent);
  });

  it("is recorded under the number's pseudonym when its digits are another script's, the reason's too", async () => {
    const number = berlinNumber();
    const id = await registered(number.e164);
    await erased(id);
    const pseudonyms = new Set<string>();
    for (const zero of [FULL_WIDTH, ARABIC_INDIC, MATHEMATICAL_BOLD]) {
      const typed = inScript(`+49 30 ${number.line}`, zero);
      const attempt = await failedAttempt(typed, `no account for ${inScript(`030 ${number.line}`, zero)}`);
      expect(attempt.data.username, typed).toMatch(PSEUDONYM);
      expect(attempt.data.reason, typed).toBe(`no account for ${attempt.data.username}`);
      expect(attempt.patientId).toBeNull();
      expect(withoutGeneratedValues(asciiDigits(attempt.row)), typed).not.toMatch(anySpellingOf(number.line));
      pseudonyms.add(attempt.data.username);
    }
    expect(pseudonyms.size).toBe(1);
  });

  it("is still a live patient's who has the number too, and sealed under their key", async () => {
    const number = berlinNumber();
    const gone = await registered(number.e164);
    const living = await registered(number.e164);
    await erased(gone);
    const attempt = await failedAttempt(`030 ${number.line}`);
    expect(attempt.patientId).toBe(living);
    expect(withoutGeneratedValues(attempt.row)).not.toMatch(anySpellingOf(number.line));
  });
});

describe("a reason quoting an erased patient's number, on an attempt about another username", () => {
  it("has the number replaced by its pseudonym in any spelling, however the reason writes it", async () => {
    const number = berlinNumber();
    await erased(await registered(number.e164));
    const pseudonym = (await failedAttempt(number.e164, "invalid password")).data.username;
    expect(pseudonym).toMatch(PSEUDONYM);
    const [head, tail] = [number.line.slice(0, 4), number.line.slice(4)];
    const other = berlinNumber();
    for (const [quoted, expected] of [
      [`locked: ${number.e164} was erased`, `locked: ${pseudonym} was erased`],
      [`shares a device with 030 ${head} ${tail}.`, `shares a device with ${pseudonym}.`],
      [`numbers +49,30,${head},${tail}`, `numbers ${pseudonym}`],
      [`numbers 030 ${head} ${tail}, 030 ${other.line}`, `numbers ${pseudonym}, 030 ${other.line}`],
      [`escaped %2B4930${number.line}`, `escaped ${pseudonym}`],
    ] as const) {
      const attempt = await failedAttempt(`someone.${randomUUID().slice(0, 8)}`, quoted);
      expect(attempt.data.reason, quoted).toBe(expected);
      expect(withoutGeneratedValues(attempt.row), quoted).not.toMatch(anySpellingOf(number.line));
    }
    // A number nobody erased stays as it was written.
    const stranger = `unknown user 030 ${other.line}`;
    expect((await failedAttempt("jdoe", stranger)).data.reason).toBe(stranger);
  });

  it("on an attempt about a live patient, is sealed with the erased number replaced", async () => {
    const gone = berlinNumber();
    await erased(await registered(gone.e164));
    const live = berlinNumber();
    const id = await registered(live.e164);
    const attempt = await failedAttempt(live.e164, `shares a device with ${gone.e164}`);
    expect(attempt).toMatchObject({ patientId: id });
    const opened = (await decrypted(db, attempt.payload)).data as { reason: string };
    expect(opened.reason).toMatch(/^shares a device with erased-login:[0-9a-f]{32}$/);
  });
});

describe("a login attempt typing a number that was never a patient's", () => {
  it("keeps it as typed, after an erasure that recorded phone numbers", async () => {
    await erased(await registered(berlinNumber().e164));
    const never = berlinNumber();
    for (const typed of [never.e164, `030 ${never.line.slice(0, 4)} ${never.line.slice(4)}`]) {
      const attempt = await failedAttempt(typed);
      expect(attempt.patientId, typed).toBeNull();
      expect(attempt.data).toMatchObject({ username: typed, reason: `unknown user ${typed}` });
    }
  });
});

describe("a username that is no phone number", () => {
  it("is kept as typed though it holds a patient's (or an erased patient's) digits", async () => {
    const [live, gone] = [berlinNumber(), berlinNumber()];
    await registered(live.e164);
    await erased(await registered(gone.e164));
    for (const { e164, line } of [live, gone]) {
      // Letters, a + not in front, too few digits: none is a phone number by the rule (`tel:` in front is: a
      // number's URI, escaped-login.int.test.ts).
      for (const typed of [`ada${e164}`, `30 ${line} 1+`, line.slice(0, 6), `u-${randomUUID()}`]) {
        const attempt = await failedAttempt(typed);
        expect(attempt.patientId, typed).toBeNull();
        expect(attempt.data, typed).toMatchObject({ username: typed, reason: `unknown user ${typed}` });
      }
    }
  });
});
