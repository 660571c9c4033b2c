// A typed username cannot pose as an erased patient's pseudonym: one beginning with `erased-login:` (in any
// case or width, or once in NFKC, after any blanks) is refused as invalid input, naming the field, and leaves no
// login attempt in the outbox; the published document states the rule; and no patient can be registered with an e-mail that begins
// so. A username holding the prefix further on is an ordinary username, kept as typed.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const post = (who: Caller, path: string, body: unknown, correlationId = randomUUID()) =>
  app.request(path, {
    method: "POST",
    headers: who.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });

/** Exactly what the platform writes for an erased patient's e-mail: `erased-login:` and 32 hex digits. */
const pseudonymLike = () => `erased-login:${randomBytes(16).toString("hex")}`;

/** ASCII's visible characters as their full-width forms (U+FF01 to U+FF5E). */
const fullWidth = (text: string) =>
  text.replace(/[!-~]/g, (character) => String.fromCharCode(character.charCodeAt(0) + 0xfee0));

/** The login attempts the outbox holds under this username, as aggregate id or as the recorded username. */
async function attemptsRecordedAs(username: string) {
  const { rows } = await db.$client.query(
    `SELECT event_id FROM outbox
      WHERE event_type = 'audit.login.attempt'
        AND (aggregate_id = $1 OR payload::jsonb -> 'data' ->> 'username' = $1)`,
    [username],
  );
  return rows;
}

describe("a login attempt whose username begins with erased-login:", () => {
  it.each([
    ["exactly as a pseudonym is written", pseudonymLike()],
    ["in capitals", pseudonymLike().toUpperCase()],
    ["after blanks", ` \t${pseudonymLike()}`],
    ["after invisible characters", `\u200b\u2060\u00ad${pseudonymLike()}`],
    ["after invisible characters above U+FFFF (tag characters)", `\u{E0001}\u{E0020}${pseudonymLike()}`],
    ["with anything after the prefix", `Erased-Login:ada.${randomUUID()}@example.org`],
    // The compliance watch counts usernames in NFKC: these would count as the pseudonym's own attempts.
    ["in full-width letters", fullWidth(pseudonymLike())],
    ["in a spelling NFKC folds to it (SQUARE LOG for log)", pseudonymLike().replace("log", "\u33d2")],
  ])("is refused %s, naming the field, and recorded nowhere", async (_, username) => {
    const correlationId = randomUUID();
    const response = await post(
      await caller("service"),
      "/internal/login-attempts",
      { ...requestBodies.loginAttempt(), username },
      correlationId,
    );

    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(((await response.json()) as { errors: unknown }).errors).toEqual([
      {
        field: "body.username",
        message: `must not begin with "erased-login:" (in any case or width, also once in Unicode NFKC, after any blanks or invisible characters): the prefix of an erased patient's pseudonym`,
      },
    ]);
    expect(await eventsOf(db, correlationId)).toEqual([]);
    expect(await attemptsRecordedAs(username)).toEqual([]);
  });

  it("is refused when it names a patient's account too: the rule is the field's, whoever types it", async () => {
    const [admin, service] = [await caller("admin"), await caller("service")];
    const login = randomUUID();
    expect((await post(admin, "/patients", newPatientBody({ userId: login }))).status).toBe(201);
    const username = pseudonymLike();
    const response = await post(service, "/internal/login-attempts", {
      ...requestBodies.loginAttempt(),
      userId: login,
      username,
    });
    expect(response.status).toBe(400);
    expect(await attemptsRecordedAs(username)).toEqual([]);
  });
});

describe("a username holding erased-login: further on", () => {
  it("is an ordinary username, kept as typed", async () => {
    const username = `not-${pseudonymLike()}`;
    const response = await post(await caller("service"), "/internal/login-attempts", {
      ...requestBodies.loginAttempt(),
      username,
    });
    expect(response.status).toBe(201);
    expect(await attemptsRecordedAs(username)).toHaveLength(1);
  });
});

describe("the reserved prefix elsewhere", () => {
  it("is stated in the published document, in a form a client can check", async () => {
    const document = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
    };
    const body = document.paths["/internal/login-attempts"]?.post.requestBody.content["application/json"]
      ?.schema as { properties: { username: { description: string; not: { pattern: string } } } };
    const { description, not } = body.properties.username;
    expect(description).toContain("must not begin with `erased-login:`");
    const reserved = new RegExp(not.pattern, "u");
    for (const posing of [
      pseudonymLike(),
      pseudonymLike().toUpperCase(),
      `  ${pseudonymLike()}`,
      `\u{E0020}${pseudonymLike()}`,
      fullWidth(pseudonymLike()),
    ]) {
      expect(reserved.test(posing)).toBe(true);
    }
    for (const ordinary of ["ada@example.org", `not-${pseudonymLike()}`, "erased-login", "erased login:x"]) {
      expect(reserved.test(ordinary)).toBe(false);
    }
  });

  it("cannot begin a patient's e-mail, so no patient's login is refused by it", async () => {
    const email = `erased-login:${randomUUID()}@example.org`;
    const correlationId = randomUUID();
    const response = await post(await caller("admin"), "/patients", newPatientBody({ email }), correlationId);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: Array<{ field: string }> }).errors).toEqual([
      expect.objectContaining({ field: "body.email" }),
    ]);
    expect(await eventsOf(db, correlationId)).toEqual([]);
    const { rows } = await db.$client.query("SELECT id FROM patients WHERE lower(email) = lower($1)", [
      email,
    ]);
    expect(rows).toEqual([]);
  });
});
