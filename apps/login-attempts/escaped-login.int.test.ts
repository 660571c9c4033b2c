// An identity provider's reason may quote the username as a URL or a page escaped it ("unknown user
// ada%40example.com", "ada&#64;example.com"), and write a phone number with separators of its own ("+49,30,…").
// Once the patient is erased, every such spelling of their address or number in a reason is replaced by the
// erased-login pseudonym, in the outbox and in what the audit history returns, as the plain spellings are; and
// an escaped username is the login it spells, a live patient's (sealed) or an erased one's (the pseudonym).
// Before, the escaped spellings and the unknown separators were kept as written, in plain text.
import { randomInt, randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { decrypted, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const PSEUDONYM = /^erased-login:[0-9a-f]{32}$/;

/**
 * The stored payload with the values the platform generates (ids, pseudonyms, timestamps) masked: four digits of
 * a phone number turn up in a random UUID about once in fifty runs, and a year is four digits too.
 */
const withoutGeneratedValues = (payload: string) =>
  payload.replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{32}|\d{4}-\d\d-\d\dT[\d:.]+Z/gi, "…");

const send = (who: Caller, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

interface Recorded {
  eventId: string;
  payload: string;
  aggregateId: string;
  patientId: string | null;
  data: { username: string; reason: string | null; patientId: string | null };
  /** The event's data as GET /audit/events/:id returns it to an auditor. */
  history: { username: string; reason: string | null; patientId: string | null };
}

/** A failed attempt, its outbox row as Postgres holds it, and the event as the audit history returns it. */
async function failedAttempt(username: string, reason: string): Promise<Recorded> {
  const response = await send(await caller("service"), "POST", "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    userId: null,
    username,
    reason,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await db.$client.query<Omit<Recorded, "data" | "history" | "eventId">>(
    `SELECT payload::text AS payload, aggregate_id AS "aggregateId", patient_id::text AS "patientId"
       FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const [stored] = rows;
  if (!stored) throw new Error(`no outbox row for event ${eventId}`);
  const read = await send(await caller("auditor"), "GET", `/audit/events/${eventId}`);
  expect(read.status).toBe(200);
  const { event } = (await read.json()) as { event: { envelope: { data: Recorded["history"] } } };
  return { ...stored, eventId, data: JSON.parse(stored.payload).data, history: event.envelope.data };
}

async function registered(overrides: Record<string, unknown>): Promise<string> {
  const response = await send(await caller("admin"), "POST", "/patients", newPatientBody(overrides));
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function erased(id: string): Promise<void> {
  expect((await send(await caller("admin"), "POST", `/patients/${id}/erasure`)).status).toBe(200);
}

/** Each character as its percent-encoded UTF-8 bytes. */
const percentEncoded = (text: string) =>
  [...Buffer.from(text, "utf8")]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`)
    .join("");

describe("a reason quoting an erased patient's address escaped", () => {
  it("has every escaped spelling replaced by the pseudonym, in the outbox and in the audit history", async () => {
    const local = `erased.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    await erased(await registered({ email }));

    const spellings = [
      `${local}%40example.org`,
      `${local}%2540example.org`,
      `${percentEncoded(local.slice(0, 1))}${local.slice(1)}@example.org`,
      `${percentEncoded(email)}`,
      `${local}&#64;example.org`,
      `${local}&#x40;example.org`,
      `${local}&#X40;example.org`,
      `${local}&#64example.org`,
      `${local}&commat;example.org`,
      `${local}&amp;#64;example&period;org`,
      `${local.toUpperCase()}%EF%BC%A0EXAMPLE.ORG`,
    ];
    for (const spelling of spellings) {
      const attempt = await failedAttempt(email, `unknown user ${spelling}.`);
      expect(attempt.data.username, spelling).toMatch(PSEUDONYM);
      expect(attempt.data.reason, spelling).toBe(`unknown user ${attempt.data.username}.`);
      expect(attempt.history, spelling).toMatchObject({
        username: attempt.data.username,
        reason: `unknown user ${attempt.data.username}.`,
      });
      expect(attempt.payload.toLowerCase(), spelling).not.toContain(local);
    }
  });

  it("is recorded under the address's pseudonym when the username is escaped too", async () => {
    const local = `erased.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    await erased(await registered({ email }));
    const plain = await failedAttempt(email, "invalid password");

    for (const typed of [`${local}%40example.org`, `${local}&#64;example.org`, percentEncoded(email)]) {
      const attempt = await failedAttempt(typed, `unknown user ${typed}`);
      expect(attempt, typed).toMatchObject({ patientId: null, aggregateId: plain.data.username });
      expect(attempt.data, typed).toMatchObject({
        username: plain.data.username,
        reason: `unknown user ${plain.data.username}`,
      });
      expect(attempt.payload.toLowerCase(), typed).not.toContain(local);
    }
  });
});

describe("a reason quoting an erased patient's phone number", () => {
  it("has it replaced written with commas, slashes, other separators or escaped", async () => {
    const line = String(randomInt(10 ** 7)).padStart(7, "0");
    const [head, tail] = [line.slice(0, 3), line.slice(3)];
    await erased(await registered({ phone: `+4930${line}` }));

    const spellings = [
      `+49,30,${line}`,
      `+49/30/${line}`,
      `(030) ${head}-${tail}`,
      `+49_30_${head}_${tail}`,
      `+49 30 ${head}\u00b7${tail}`,
      `+49\u221230\u2212${line}`,
      `%2B49%2030%20${line}`,
      `&#43;49&nbsp;30&#x20;${head}&hyphen;${tail}`,
    ];
    for (const spelling of spellings) {
      const attempt = await failedAttempt(`+49 30 ${line}`, `unknown user ${spelling}!`);
      expect(attempt.data.username, spelling).toMatch(PSEUDONYM);
      expect(attempt.data.reason, spelling).toBe(`unknown user ${attempt.data.username}!`);
      expect(attempt.history.reason, spelling).toBe(`unknown user ${attempt.data.username}!`);
      expect(withoutGeneratedValues(attempt.payload), spelling).not.toContain(tail);
    }
  });
});

describe("a login attempt typing a live patient's address escaped", () => {
  it("names the patient, and seals the username and the reason", async () => {
    const local = `live.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    const id = await registered({ email });

    for (const typed of [
      `${local}%40example.org`,
      `${local}&#x40;example.org`,
      `${local}&commat;example.org`,
    ]) {
      const attempt = await failedAttempt(typed, `unknown user ${typed}`);
      expect(attempt, typed).toMatchObject({ patientId: id, aggregateId: id });
      expect(attempt.payload.toLowerCase(), typed).not.toContain(local);
      expect((await decrypted(db, attempt.payload)).data, typed).toMatchObject({
        username: typed,
        reason: `unknown user ${typed}`,
        patientId: id,
      });
    }
  });

  it("names the patient typing their phone number percent-encoded", async () => {
    const line = String(randomInt(10 ** 7)).padStart(7, "0");
    const id = await registered({ phone: `+4930${line}` });
    const attempt = await failedAttempt(`%2B4930${line}`, "invalid password");
    expect(attempt).toMatchObject({ patientId: id, aggregateId: id });
    expect(attempt.payload).not.toContain(line);
  });
});

describe("a login attempt typing a patient's address or number with invisible characters, or in a mail or tel: form", () => {
  const spellingsOf = (email: string) => [
    `${email}\u200b`,
    `${email.slice(0, 3)}\u00ad${email.slice(3)}`,
    `\u2060${email}\ufe0f`,
    `\u202e${email}`,
    `mailto:${email}`,
    `Ada <${email}>`,
    `${email}.`,
  ];

  it("names the live patient, and seals the username", async () => {
    const local = `live.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    const id = await registered({ email });

    for (const typed of spellingsOf(email)) {
      const attempt = await failedAttempt(typed, "invalid password");
      expect(attempt, JSON.stringify(typed)).toMatchObject({ patientId: id, aggregateId: id });
      expect(attempt.payload.toLowerCase(), JSON.stringify(typed)).not.toContain(local);
    }
    const line = String(randomInt(10 ** 7)).padStart(7, "0");
    const withPhone = await registered({ phone: `+4930${line}` });
    for (const typed of [`tel:+4930${line}`, `+49\u200b30${line}`]) {
      const attempt = await failedAttempt(typed, "invalid password");
      expect(attempt, JSON.stringify(typed)).toMatchObject({ patientId: withPhone, aggregateId: withPhone });
      expect(attempt.payload, JSON.stringify(typed)).not.toContain(line);
    }
  });

  it("is recorded under the erased patient's pseudonym, never as typed", async () => {
    const local = `erased.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    await erased(await registered({ email }));
    const plain = await failedAttempt(email, "invalid password");
    expect(plain.data.username).toMatch(PSEUDONYM);

    for (const typed of spellingsOf(email)) {
      const attempt = await failedAttempt(typed, "invalid password");
      expect(attempt, JSON.stringify(typed)).toMatchObject({
        patientId: null,
        aggregateId: plain.data.username,
      });
      expect(attempt.data.username, JSON.stringify(typed)).toBe(plain.data.username);
      expect(attempt.payload.toLowerCase(), JSON.stringify(typed)).not.toContain(local);
    }
    const line = String(randomInt(10 ** 7)).padStart(7, "0");
    await erased(await registered({ phone: `+4930${line}` }));
    for (const typed of [`tel:+4930${line}`, `+49\u200b30${line}`]) {
      const attempt = await failedAttempt(typed, "invalid password");
      expect(attempt.data.username, JSON.stringify(typed)).toMatch(PSEUDONYM);
      expect(withoutGeneratedValues(attempt.payload), JSON.stringify(typed)).not.toContain(line);
    }
  });
});

describe("a reason quoting an erased patient's address, on an attempt about another username", () => {
  it("has the address replaced by its pseudonym, or is the pseudonym alone where it cannot be replaced in place", async () => {
    const local = `erased.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    await erased(await registered({ email }));
    const pseudonym = (await failedAttempt(email, "invalid password")).data.username;
    expect(pseudonym).toMatch(PSEUDONYM);

    for (const username of [
      `someone.${randomUUID().slice(0, 8)}`,
      `+99${String(randomInt(10 ** 12)).padStart(12, "0")}`,
    ]) {
      const quoted = await failedAttempt(
        username,
        `locked: the account of ${email.toUpperCase()} was erased`,
      );
      expect(quoted.data.reason, username).toBe(`locked: the account of ${pseudonym} was erased`);
      expect(quoted.payload.toLowerCase(), username).not.toContain(local);

      const hidden = await failedAttempt(
        username,
        `unknown user ${local.slice(0, 4)}\u200b${local.slice(4)}@example.org`,
      );
      expect(hidden.data.reason, username).toBe(pseudonym);
      expect(hidden.payload.toLowerCase(), username).not.toContain(local.slice(4));
    }
    // An address nobody erased stays as it was written.
    const stranger = `stranger.${randomUUID().slice(0, 8)}@example.org`;
    expect((await failedAttempt("jdoe", `unknown user ${stranger}`)).data.reason).toBe(
      `unknown user ${stranger}`,
    );
  });

  it("on an attempt about a live patient, is sealed with the erased address replaced", async () => {
    const local = `erased.${randomUUID().slice(0, 8)}`;
    const email = `${local}@example.org`;
    await erased(await registered({ email }));
    const liveEmail = `live.${randomUUID().slice(0, 8)}@example.org`;
    const id = await registered({ email: liveEmail });
    const attempt = await failedAttempt(liveEmail, `shares a device with ${email}`);
    expect(attempt).toMatchObject({ patientId: id });
    const opened = (await decrypted(db, attempt.payload)).data as { reason: string };
    expect(opened.reason).toMatch(/^shares a device with erased-login:[0-9a-f]{32}$/);
  });
});
