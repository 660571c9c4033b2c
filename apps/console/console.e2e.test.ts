// The auditors' console in a real browser (headless Chromium) against the real platform, Postgres and relay:
// a refused sign-in, an auditor's sign-in by keyboard, a sign-in at an OpenID Connect provider started here
// (the authorization code flow with PKCE), codes it did not ask for ignored, the provider's error, a search for a patient created here, one event with
// its sealed fields and chain link, who saw the patient, exports, an alert as the compliance watch writes it, a
// verification that reports an administrator's tampering, and an export cut off before its end, which is not
// saved. Every screen is checked with axe-core.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSigningKey } from "../../audit/signingKey.ts";
import { epochMicrosecondsSql, storedInstantText } from "../../db/storedInstant.ts";
import { exampleEvent } from "../../events/examples.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { freshDatabases, type TestHistory } from "../../test/auditHistories.ts";
import { append, historyReadable } from "../../test/auditHistory.ts";
import { type AppInBrowser, openInBrowser, seriousAccessibilityViolations } from "../../test/browser.ts";
import { eventually, newPatientBody, silentLog, startRelay } from "../../test/fixtures.ts";
import { consoleSettingsFor, startTestProvider, type TestProvider } from "../../test/oidcProvider.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { startConsoleSignIn } from "./provider.ts";

// The test tampers with the history: in a database of its own, so no other test's verification sees it.
const databases = freshDatabases("console_e2e");
let history: TestHistory;
let relay: OutboxRelay;
/** The identity provider the console signs in with: it issues tokens signed with the test secret. */
let identityProvider: TestProvider;
let session: AppInBrowser;
let base: string;
let page: Page;
let admin: Caller;
let auditor: Caller;
let patientId: string;
/** The provider refused at sign-in: the alert of the compliance watch names them. */
let refusedProvider: string;

beforeAll(async () => {
  await databases.setUp();
  history = await databases.create();
  const db = history.db;
  relay = startRelay({ databaseUrl: String(db.$client.options.connectionString) });
  identityProvider = await startTestProvider();
  // Read from its discovery document, as npm start reads CONSOLE_OIDC_ISSUER's.
  const consoleSignIn = await startConsoleSignIn(consoleSettingsFor(identityProvider), silentLog);
  const app = testPlatform(db, { consoleSignIn });
  session = await openInBrowser(app);
  ({ base, page } = session);
  identityProvider.redirectUri = `${base}/console`;
  admin = await caller("admin");
  auditor = await caller("auditor");

  const created = await fetch(`${base}/patients`, {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(newPatientBody()),
  });
  expect(created.status).toBe(201);
  patientId = ((await created.json()) as { id: string }).id;
  // The admin reads the record: an audit.data.accessed naming the patient, for "who saw this patient".
  expect((await fetch(`${base}/patients/${patientId}`, { headers: admin.headers() })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await session?.close();
  await identityProvider?.close();
  await relay?.stop();
  await history?.close();
  await databases.tearDown();
});

const db = () => history.db;

async function outboxRows(sql: string, values: unknown[]) {
  return (await db().$client.query(sql, values)).rows;
}

async function expectNoSeriousViolations(screen: string) {
  const violations = await seriousAccessibilityViolations(page);
  expect(violations, `${screen}: ${JSON.stringify(violations, null, 2)}`).toEqual([]);
}

const text = async (selector: string) => (await page.locator(selector).textContent()) ?? "";

const everyEventReadable = () => historyReadable(db());

/**
 * Opens the search for the patient's events by its link, which fills in the form, presses Search, and waits for
 * its results: the caption names the query they are of (the results of the search before stay on the screen
 * until the new one answers).
 */
async function showPatientSearch() {
  // By way of the bare search screen: going to the address already shown would not fill the form again.
  await page.goto(`${base}/console#search`);
  await page.goto(`${base}/console#search?patientId=${patientId}`);
  await page.click("#search-form button[type=submit]");
  await page.locator("#search-results caption", { hasText: `patientId ${patientId}` }).waitFor();
}

/** The auditors' accesses the outbox holds: each read of the history records one. */
async function auditorAccesses() {
  const [row] = await outboxRows(
    `SELECT count(*)::int AS accesses FROM outbox
      WHERE event_type = 'audit.data.accessed' AND payload::jsonb -> 'data' ->> 'actorRole' = 'AUDITOR'`,
    [],
  );
  return row.accesses as number;
}

/** The search started by the last click has answered (the results say they are no longer busy). */
const searchSettled = () => page.locator('#search-results[aria-busy="false"]').waitFor();

/** Presses Tab until the element with this id has the focus: it is reachable by keyboard. */
async function tabTo(id: string) {
  for (let presses = 0; presses < 30; presses++) {
    if ((await page.evaluate("document.activeElement && document.activeElement.id")) === id) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`#${id} is not reachable with the Tab key`);
}

describe("the auditors' console", () => {
  it("refuses a token of another role, and the refusal is recorded as a compliance violation", async () => {
    const provider = await caller("provider");
    await page.goto(`${base}/console`);
    await page.locator("#token").waitFor();
    await expectNoSeriousViolations("sign-in");
    await page.fill("#token", provider.token);
    await page.click("#sign-in-form button[type=submit]");
    await page.locator("#sign-in-error").waitFor();
    expect(await text("#sign-in-error")).toContain("Refused");
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    const violations = await outboxRows(
      `SELECT event_id, payload::jsonb -> 'data' AS data FROM outbox
        WHERE event_type = 'audit.compliance.violation' AND aggregate_id = $1`,
      [provider.userId],
    );
    expect(violations).toMatchObject([{ data: { actorRole: "PROVIDER", resourceType: "audit_history" } }]);

    // What the compliance watch appends for it with a threshold of no refusals (the watch's own tests are in
    // consumers/complianceWatch: here the shared broker carries other tests' refusals, each another alert).
    const now = new Date().toISOString();
    await append(db(), [
      exampleEvent("audit.compliance.alert", {
        rule: "repeated-refusals",
        principal: { kind: "actor", id: provider.userId },
        window: { start: now, end: now },
        threshold: 0,
        observed: 1,
        evidenceEventIds: [violations[0].event_id],
      }),
    ]);
    refusedProvider = provider.userId;
  });

  it("signs an auditor in by keyboard, keeping the token in session storage only", async () => {
    await page.goto(`${base}/console`);
    await tabTo("token");
    await page.keyboard.insertText(auditor.token);
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.textContent")).toBe("Sign in");
    await page.keyboard.press("Enter");
    await page.locator("#view-search").waitFor();
    expect(await page.evaluate("sessionStorage.getItem('auditConsole.token')")).toBe(auditor.token);
    expect(await page.evaluate("localStorage.length")).toBe(0);
    // Signing in reads nobody's data: its one query is recorded as an access naming no patient (the first event
    // of the history is this test's patient's, which a page of one event would have returned).
    const accesses = await outboxRows(
      `SELECT patient_id FROM outbox WHERE event_type = 'audit.data.accessed'
          AND payload::jsonb -> 'data' ->> 'actorId' = $1`,
      [auditor.userId],
    );
    expect(accesses).toEqual([{ patient_id: null }]);
    // Nothing is shown yet, so there is nothing to export.
    expect(await page.locator("#export-ndjson").isDisabled()).toBe(true);
    expect(await page.locator("#export-csv").isDisabled()).toBe(true);
    await expectNoSeriousViolations("history search (empty)");
  });

  it("says when the platform cannot reach the identity provider, and a token can still be pasted", async () => {
    await page.click("#sign-out");
    await page.locator("#view-sign-in").waitFor();
    const settings = "**/console/settings.json";
    await page.route(settings, (route) =>
      route.fulfill({ json: { signIn: null, providerUnavailable: true } }),
    );
    try {
      await page.reload();
      await page.locator("#provider-unavailable").waitFor();
      expect(await page.locator("#provider-sign-in").isHidden()).toBe(true);
      await expectNoSeriousViolations("sign-in, identity provider unavailable");
    } finally {
      await page.unroute(settings);
    }
    await page.reload();
    await page.locator("#provider-sign-in").waitFor();
    expect(await page.locator("#provider-unavailable").isHidden()).toBe(true);
    await page.fill("#token", auditor.token);
    await page.click("#sign-in-form button[type=submit]");
    await page.locator("#view-search").waitFor();
  });

  it("signs an auditor in at the identity provider: a code for an S256 challenge, exchanged with its verifier", async () => {
    await page.click("#sign-out");
    await page.locator("#view-sign-in").waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    identityProvider.signInAs(auditor.token);
    const exchanges = identityProvider.tokenRequests.length;
    await page.click("#provider-button");
    await page.locator("#view-search").waitFor();

    const [authorization] = identityProvider.authorizations.slice(-1);
    expect(Object.fromEntries(authorization ?? [])).toEqual({
      response_type: "code",
      client_id: identityProvider.clientId,
      redirect_uri: `${base}/console`,
      scope: "openid",
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: "S256",
      state: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    // One exchange, which the provider answered only for the verifier of that challenge (test/oidcProvider.ts).
    expect(identityProvider.tokenRequests.length).toBe(exchanges + 1);
    const exchange = identityProvider.tokenRequests.at(-1);
    expect(exchange?.get("code_verifier")).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(exchange?.get("client_id")).toBe(identityProvider.clientId);
    expect(exchange?.get("redirect_uri")).toBe(`${base}/console`);

    // The code left the address and the history entry the provider returned to; the verifier is forgotten.
    expect(page.url()).toBe(`${base}/console#search`);
    expect(await page.evaluate("history.length")).toBeGreaterThan(1);
    expect(await page.evaluate("sessionStorage.getItem('auditConsole.pendingSignIn')")).toBeNull();
    expect(await page.evaluate("sessionStorage.getItem('auditConsole.token')")).toBe(auditor.token);
    await page.goBack();
    expect(page.url()).not.toContain("code=");
    await page.goto(`${base}/console#search`);
    await page.locator("#view-search").waitFor();
  });

  it("ignores a code this tab did not ask for: another state, none, or a sign-in older than ten minutes", async () => {
    await page.click("#sign-out");
    await page.locator("#view-sign-in").waitFor();
    identityProvider.signInAs(auditor.token);
    /** A real code of the provider's, for a sign-in someone else started (an attacker, say). */
    const theirs = async () => {
      const authorize = new URL(`${identityProvider.issuer}/authorize`);
      authorize.search = new URLSearchParams({
        response_type: "code",
        client_id: identityProvider.clientId,
        redirect_uri: `${base}/console`,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
        state: "theirs",
      }).toString();
      const answer = await fetch(authorize, { redirect: "manual" });
      return new URL(answer.headers.get("Location") ?? "").searchParams.get("code");
    };
    const pending = (state: string, started: number) =>
      page.evaluate(
        `sessionStorage.setItem('auditConsole.pendingSignIn', JSON.stringify(${JSON.stringify({ state, verifier: "v".repeat(43), started })}))`,
      );
    const exchanges = identityProvider.tokenRequests.length;
    for (const [started, state] of [
      [undefined, "theirs"],
      [Date.now(), "theirs"],
      [Date.now(), undefined],
      [Date.now() - 11 * 60 * 1000, "mine"],
    ] as const) {
      if (started !== undefined) await pending("mine", started);
      const code = await theirs();
      const returned = new URLSearchParams({ code: code ?? "" });
      if (state) returned.set("state", state);
      await page.goto(`${base}/console?${returned}`);
      await page.locator("#status", { hasText: "did not start" }).waitFor();
      expect(page.url()).toBe(`${base}/console`);
      expect(await page.evaluate("sessionStorage.length")).toBe(0);
      await page.locator("#view-sign-in").waitFor();
    }
    expect(identityProvider.tokenRequests.length).toBe(exchanges);
  });

  it("shows the provider's error as text, and refuses the token of another role as a pasted one", async () => {
    identityProvider.refuseNext("access_denied", "The user <b>declined</b> the console");
    const exchanges = identityProvider.tokenRequests.length;
    await page.click("#provider-button");
    await page.locator("#sign-in-error").waitFor();
    expect(await text("#sign-in-error")).toBe(
      "The identity provider did not sign you in: access_denied: The user <b>declined</b> the console",
    );
    expect(await page.locator("#sign-in-error b").count()).toBe(0);
    expect(page.url()).toBe(`${base}/console`);
    expect(identityProvider.tokenRequests.length).toBe(exchanges);
    await expectNoSeriousViolations("sign-in (provider's error)");

    const provider = await caller("provider");
    identityProvider.signInAs(provider.token);
    await page.click("#provider-button");
    await page.locator("#sign-in-error", { hasText: "Refused" }).waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    const violations = await outboxRows(
      `SELECT 1 FROM outbox WHERE event_type = 'audit.compliance.violation' AND aggregate_id = $1`,
      [provider.userId],
    );
    expect(violations).toHaveLength(1);

    // The auditor again, for the tests after this one.
    identityProvider.signInAs(auditor.token);
    await page.click("#provider-button");
    await page.locator("#view-search").waitFor();
  });

  it("takes no string as HTML or script: under Trusted Types, a text written to innerHTML is refused", async () => {
    // The console sets every value as text; should a change ever hand one to an HTML sink, the browser refuses
    // it, rather than run what a login name or a user agent held.
    const written = await page.evaluate(`(() => {
      const probe = document.createElement("div");
      try {
        probe.innerHTML = "<img src=x>";
        return "written";
      } catch (error) {
        return error.name;
      }
    })()`);
    expect(written).toBe("TypeError");
  });

  it("finds the patient's events, each with its time, type, aggregate, actor, source and delivery", async () => {
    const [created] = await outboxRows(
      `SELECT event_id, position::text, ${epochMicrosecondsSql("created_at")} AS created_at
         FROM outbox WHERE event_type = 'patient.created' AND patient_id = $1`,
      [patientId],
    );
    // Delivered: the relay's checkpoint has passed it.
    await eventually(async () => {
      const [row] = await outboxRows(
        `SELECT (o.tx_id, o.position) <= (c.tx_id, c.position) AS relayed FROM outbox o, relay_checkpoints c
          WHERE c.name = 'outbox' AND o.event_id = $1`,
        [created.event_id],
      );
      return row?.relayed === true;
    });
    await page.fill("#f-patientId", patientId);
    await page.press("#f-patientId", "Enter");
    const row = page.locator("#search-results tbody tr", { hasText: "patient.created" });
    await row.waitFor();
    const cells = await row.locator("td").allInnerTexts();
    expect(cells).toEqual([
      // The time as stored, not cut to the second nor to the millisecond.
      storedInstantText(created.created_at)?.replace("T", " "),
      "patient.created",
      `patient ${patientId}`,
      admin.userId,
      "patient-service",
      "Delivered",
      created.position,
    ]);
    await expectNoSeriousViolations("history search (results)");
    if (process.env.CONSOLE_SCREENSHOT) await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT });

    // Readable at 200% zoom: at half the width, nothing needs scrolling sideways but the results table.
    await page.setViewportSize({ width: 600, height: 800 });
    const overflow = await page.evaluate(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1200, height: 800 });
  });

  it("pages through a query without skipping or repeating an event", async () => {
    // Enough events for several pages; the console's own queries add more while it pages.
    await append(
      db(),
      Array.from({ length: 60 }, () =>
        exampleEvent("audit.data.accessed", { actorId: auditor.userId, patientId: null }),
      ),
    );
    const before = (await outboxRows("SELECT position::text FROM outbox", [])).map((row) => row.position);
    await everyEventReadable();
    await page.selectOption("#f-limit", "25");
    await page.fill("#f-patientId", "");
    await page.click("#search-form button[type=submit]");
    const seen: string[] = [];
    for (;;) {
      await searchSettled();
      seen.push(...(await page.locator("#search-results tbody tr td:last-child").allInnerTexts()));
      if (await page.locator("#page-next").isDisabled()) break;
      await page.click("#page-next");
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(before));
    const inHistoryOrder = await outboxRows(
      "SELECT position::text FROM outbox WHERE position = ANY($1::bigint[]) ORDER BY outbox.tx_id, outbox.position",
      [seen],
    );
    expect(seen).toEqual(inHistoryOrder.map((row) => row.position));
  });

  it("opens an event: its envelope with sealed fields shown as sealed, its chain link and delivery", async () => {
    await showPatientSearch();
    await page.locator("#search-results a", { hasText: "patient.created" }).click();
    await page.locator("#event-detail dl").first().waitFor();
    const [stored] = await outboxRows(
      `SELECT event_id, encode(hash, 'hex') AS hash, encode(previous_hash, 'hex') AS previous FROM outbox
        WHERE event_type = 'patient.created' AND patient_id = $1`,
      [patientId],
    );
    const detail = await text("#event-detail");
    expect(detail).toContain(stored.event_id);
    expect(detail).toContain(stored.hash);
    expect(detail).toMatch(/Previous hash\s*— \(none\)/);
    expect(detail).toMatch(/firstName\s*sealed/);
    // Sealed in the fields shown; only the stored envelope, folded away below them, holds the ciphertext.
    const fieldsShown = (await page.locator("#event-detail > dl").allTextContents()).join("\n");
    expect(fieldsShown).toMatch(/firstName\s*sealed/);
    expect(fieldsShown).not.toContain("enc:v1:");
    expect(await page.locator("#event-detail details pre").isVisible()).toBe(false);
    expect(detail).toContain("Delivered");
    await expectNoSeriousViolations("event detail");

    await page.locator("#event-detail a", { hasText: "the correlated events" }).click();
    // The new search's answer, not the patient's results still shown: its access record is then committed, and
    // the next test's export does not meet it written behind its cut.
    await page.locator("#search-results caption", { hasText: "correlationId" }).waitFor();
    await page.locator("#search-results tbody tr", { hasText: "patient.created" }).waitFor();
  });

  it("exports the query whose results are shown as NDJSON and CSV, whatever the form says since", async () => {
    await showPatientSearch();
    await everyEventReadable();
    const [ndjson] = await Promise.all([page.waitForEvent("download"), page.click("#export-ndjson")]);
    expect(ndjson.suggestedFilename()).toBe("audit-history.ndjson");
    const lines = (await readFile(await ndjson.path(), "utf8")).trim().split("\n");
    // The last line says the export is whole, and how many events it holds.
    expect(JSON.parse(lines.pop() ?? "")).toEqual({ exportComplete: true, events: lines.length });
    await page.locator("#status", { hasText: `Exported ${lines.length} events` }).waitFor();
    const exported = lines.map((line) => (JSON.parse(line) as { eventId: string }).eventId);
    // Everything about the patient, but the record of this export itself (written after the export's cut).
    const stored = await outboxRows(
      `SELECT event_id FROM outbox WHERE patient_id = $1 ORDER BY tx_id, position`,
      [patientId],
    );
    expect(exported).toEqual(stored.slice(0, -1).map((row) => row.event_id));

    const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
    const csvText = await readFile(await csv.path(), "utf8");
    // Saved with a byte-order mark, so that a spreadsheet reads it as UTF-8.
    expect(csvText.split("\r\n")[0]).toMatch(/^\uFEFFeventId,position,eventType,/);
    expect(csvText).toContain(exported[0]);
    expect(csvText).toMatch(/\r\n# export complete: \d+ events,{10}\r\n$/);

    // Another patient typed into the form, not searched: the results on the screen are still the first
    // patient's, and so is the export.
    await page.fill("#f-patientId", randomUUID());
    const [again] = await Promise.all([page.waitForEvent("download"), page.click("#export-ndjson")]);
    const againLines = (await readFile(await again.path(), "utf8")).trim().split("\n").slice(0, -1);
    const againIds = againLines.map((line) => (JSON.parse(line) as { eventId: string }).eventId);
    expect(againIds.slice(0, exported.length)).toEqual(exported);
  });

  it("shows the results of the last search started, even when an earlier one answers after it", async () => {
    await showPatientSearch();
    // A search for the patient's changes is held back until the search started after it has answered.
    let answerFirstSearch = () => {};
    const firstHeld = new Promise<void>((resolve) => {
      answerFirstSearch = resolve;
    });
    const firstSeen = new Promise<void>((resolve) => {
      const firstSearch = (url: URL) =>
        url.pathname === "/audit/events" && url.searchParams.get("eventType") === "patient.updated";
      void page.route(firstSearch, async (route) => {
        resolve();
        await firstHeld;
        await route.continue();
      });
    });
    await page.fill("#f-patientId", patientId);
    await page.fill("#f-eventType", "patient.updated");
    await page.press("#f-eventType", "Enter");
    await firstSeen;
    await page.fill("#f-eventType", "patient.created");
    await page.press("#f-eventType", "Enter");
    const second = page.locator("#search-results caption", { hasText: "eventType patient.created" });
    await second.waitFor();
    const firstAnswered = page.waitForEvent("requestfinished", (request) =>
      request.url().includes("eventType=patient.updated"),
    );
    answerFirstSearch();
    // The first search's answer arrives, and is dropped: the screen and the export stay the second's.
    await firstAnswered;
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
    expect(await second.count()).toBe(1);
    const shownTypes = await page.locator("#search-results tbody tr td:nth-child(2)").allInnerTexts();
    expect(new Set(shownTypes)).toEqual(new Set(["patient.created"]));
    const [exported] = await Promise.all([page.waitForEvent("download"), page.click("#export-ndjson")]);
    const types = (await readFile(await exported.path(), "utf8"))
      .trim()
      .split("\n")
      .slice(0, -1)
      .map((line) => (JSON.parse(line) as { eventType: string }).eventType);
    expect(new Set(types)).toEqual(new Set(["patient.created"]));
    await page.unrouteAll();
    await page.fill("#f-eventType", "");
  });

  it("shows who saw the patient, and the operators who opened their sealed fields", async () => {
    const operator = `oncall-${randomUUID().slice(0, 8)}`;
    await append(db(), [exampleEvent("audit.operator.decrypted", { operator, patientId })]);
    await everyEventReadable();
    await page.click("nav a[href='#patient-access']");
    await page.fill("#a-patientId", patientId);
    await page.press("#a-patientId", "Enter");
    const row = page.locator("#access-results tbody tr", { hasText: admin.userId });
    await row.waitFor();
    expect(await row.textContent()).toContain("ADMIN");
    const opened = page.locator("#opened-results tbody tr", { hasText: operator });
    await opened.waitFor();
    expect(await opened.textContent()).toContain("events:tail");
    expect(await opened.textContent()).toContain("changes.phone, metadata.ipAddress");
    await expectNoSeriousViolations("who saw a patient");
  });

  it("shows the compliance watch's alerts", async () => {
    await everyEventReadable();
    await page.click("nav a[href='#alerts']");
    const row = page.locator("#alerts-results tbody tr", {
      hasText: refusedProvider,
    });
    await row.waitFor();
    expect(await row.textContent()).toContain("repeated-refusals");
    await expectNoSeriousViolations("alerts");
  });

  it("shows text from the history as written: a bidirectional override escaped, not read as another name", async () => {
    // Anyone may type a username at a login form, and an unknown one is the attempt's aggregate id: reversed by
    // U+202E it read "admin@example.org".
    const typed = "\u202egro.elpmaxe@nimda";
    const [eventId] = await append(db(), [
      exampleEvent("audit.login.attempt", { username: typed, reason: `no account \u2066${typed}\u2069` }),
    ]);
    await everyEventReadable();
    await page.goto(`${base}/console#search`);
    // By a link that percent-encodes the id (its hyphens): one id, not encoded again for the request.
    await page.goto(`${base}/console#event/${(eventId as string).replaceAll("-", "%2D")}`);
    await page.click("#event-detail button");
    await page.locator("#event-detail dl").first().waitFor();
    const detail = await text("#event-detail");
    expect(detail).toContain(eventId);
    expect(detail).toContain("\\u202egro.elpmaxe@nimda");
    expect(detail).toContain("\\u2066");
    expect(detail).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    // The title says the event shown, as its heading does.
    expect(await page.title()).toBe("Event audit.login.attempt — Audit console");
  });

  it("fills in a search from a link whose time is no time, and shows no earlier results under it", async () => {
    await showPatientSearch();
    const errors: string[] = [];
    const noted = (error: Error) => errors.push(error.message);
    page.on("pageerror", noted);
    const other = randomUUID();
    await page.goto(`${base}/console#search?patientId=${other}&from=garbage`);
    await page.locator("#search-results", { hasText: "recorded as your access" }).waitFor();
    expect(await page.inputValue("#f-patientId")).toBe(other);
    expect(await page.inputValue("#f-from")).toBe("");
    expect(await page.locator("#export-ndjson").isDisabled()).toBe(true);
    page.off("pageerror", noted);
    expect(errors).toEqual([]);
    // What the status line said of the search is not said on the next view.
    await page.click("nav a[href='#verify']");
    expect(await text("#status")).toBe("");
  });

  it("reads nothing a link asks for until the auditor asks: a crafted link fills in the view, and records no access", async () => {
    const [created] = await outboxRows(
      "SELECT event_id FROM outbox WHERE event_type = 'patient.created' AND patient_id = $1",
      [patientId],
    );
    const links = [
      { link: `#search?patientId=${patientId}`, waiting: "#search-results", filled: "#f-patientId" },
      { link: `#event/${created.event_id}`, waiting: "#event-detail" },
      { link: `#patient-access?patientId=${patientId}`, waiting: "#access-results", filled: "#a-patientId" },
      { link: "#alerts", waiting: "#alerts-results" },
    ];
    await everyEventReadable();
    const before = await auditorAccesses();
    for (const { link, waiting, filled } of links) {
      // Opened as a new page (a link from elsewhere), and as the address of the page already open.
      for (const open of [() => page.goto("about:blank"), () => page.goto(`${base}/console#verify`)]) {
        await open();
        await page.goto(`${base}/console${link}`);
        await page.locator(waiting, { hasText: "recorded as your access" }).waitFor();
        if (filled) expect(await page.inputValue(filled)).toBe(patientId);
      }
    }
    // Every read the page could have started has answered, its access committed first: none was.
    await everyEventReadable();
    expect(await auditorAccesses()).toBe(before);
    await expectNoSeriousViolations("a link's view, waiting for the auditor");

    // The auditor's own action reads it: the event's button, and Search for the form the link filled in.
    await page.goto(`${base}/console#event/${created.event_id}`);
    await page.click("#event-detail button");
    await page.locator("#event-detail dl").first().waitFor();
    expect(await text("#event-detail")).toContain(created.event_id);
    await page.goto(`${base}/console#search?patientId=${patientId}`);
    await page.click("#search-form button[type=submit]");
    await page.locator("#search-results caption", { hasText: `patientId ${patientId}` }).waitFor();
    expect(await auditorAccesses()).toBeGreaterThanOrEqual(before + 2);
    // Back to the event and forward again: what is on the screen stays, and nothing is read again.
    const shown = await auditorAccesses();
    await page.goBack();
    await page.locator("#event-detail dl").first().waitFor();
    await page.goForward();
    await page.locator("#search-results caption", { hasText: `patientId ${patientId}` }).waitFor();
    await everyEventReadable();
    expect(await auditorAccesses()).toBe(shown);
  });

  it("puts a search the auditor runs into the address: the back button fills that search in again, unread", async () => {
    await page.goto(`${base}/console#search`);
    await page.fill("#f-patientId", patientId);
    await page.fill("#f-eventType", "patient.created");
    await page.press("#f-patientId", "Enter");
    await page.locator("#search-results caption", { hasText: `patientId ${patientId}` }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#search?patientId=${patientId}&eventType=patient.created`);
    // Every filter cleared: all events, at an address of its own.
    for (const field of ["#f-patientId", "#f-eventType"]) await page.fill(field, "");
    await page.press("#f-patientId", "Enter");
    await page.locator("#search-results caption", { hasText: "all events" }).waitFor();
    expect(new URL(page.url()).hash).toBe("#search?");

    await everyEventReadable();
    const shown = await auditorAccesses();
    await page.goBack();
    await page.locator("#search-results", { hasText: "recorded as your access" }).waitFor();
    expect(await page.inputValue("#f-patientId")).toBe(patientId);
    expect(await page.inputValue("#f-eventType")).toBe("patient.created");
    await everyEventReadable();
    expect(await auditorAccesses()).toBe(shown);

    // Two searches submitted at once (two address changes, then their two hashchange events): the last runs.
    await page.evaluate(`(() => {
      const form = document.getElementById("search-form");
      document.getElementById("f-eventType").value = "patient.updated";
      form.requestSubmit();
      document.getElementById("f-eventType").value = "patient.created";
      form.requestSubmit();
    })()`);
    await page.locator("#search-results caption", { hasText: "eventType patient.created" }).waitFor();

    // Another patient typed, unsearched; away and back to the address of the query shown: the form says that
    // query again (Search reads what the address names), the results stay, and nothing is read.
    await everyEventReadable();
    const before = await auditorAccesses();
    await page.fill("#f-patientId", randomUUID());
    await page.goto(`${base}/console#search`);
    await page.goto(`${base}/console#search?patientId=${patientId}&eventType=patient.created`);
    await expect.poll(() => page.inputValue("#f-patientId")).toBe(patientId);
    expect(
      await page.locator("#search-results caption", { hasText: "eventType patient.created" }).count(),
    ).toBe(1);
    await everyEventReadable();
    expect(await auditorAccesses()).toBe(before);
  });

  it("forgets what it showed when the auditor signs out: the next one to sign in at this browser finds none of it", async () => {
    // Every screen filled: a search, one event, who saw the patient, the alerts.
    await showPatientSearch();
    await page.goto(`${base}/console#patient-access?patientId=${patientId}`);
    await page.click("#access-form button[type=submit]");
    await page.locator("#access-results tbody tr").first().waitFor();
    await page.click("nav a[href='#alerts']");
    await page.locator("#alerts-results tbody tr").first().waitFor();
    await page.goto(`${base}/console#search`);
    await page.locator("#search-results a", { hasText: "patient.created" }).click();
    await page.locator("#event-detail dl").first().waitFor();

    await page.click("#sign-out");
    await page.locator("#view-sign-in").waitFor();
    const shown = await page.evaluate(`[
      "search-results", "event-detail", "access-results", "opened-results", "alerts-results", "verify-result",
    ].map((id) => document.getElementById(id).textContent).join("")`);
    expect(shown).toBe("");
    const filled = await page.evaluate(
      `[...document.querySelectorAll("#search-form input, #access-form input, #verify-form input")]
        .map((input) => input.value).join("")`,
    );
    expect(filled).toBe("");
    expect(await page.content()).not.toContain(patientId);

    // Another auditor at the same browser starts from nothing: no results to page or export.
    const next = await caller("auditor");
    await page.fill("#token", next.token);
    await page.click("#sign-in-form button[type=submit]");
    await page.locator("#view-search").waitFor();
    expect(await text("#search-results")).toBe("");
    expect(await page.locator("#export-csv").isDisabled()).toBe(true);
    expect(await page.locator("#page-next").isDisabled()).toBe(true);
    await page.goto(`${base}/console#event/${randomUUID()}`);
    await page.goto(`${base}/console#patient-access`);
    expect(await text("#access-results")).toBe("");
    expect(await page.content()).not.toContain(patientId);
  });

  it("verifies the history, and reports the first broken link after an administrator changed a row", async () => {
    // Sealed with the platform's own key, the one its verification checks signatures with.
    const sealed = await history.seal(loadSigningKey());
    // The first answer is the server's "too many verifications at once": the console comes back when it says.
    let busy = 0;
    await page.route("**/audit/verify?*", async (route) => {
      if (busy++ > 0) return route.continue();
      await route.fulfill({
        status: 503,
        headers: { "Retry-After": "1", "Content-Type": "application/problem+json" },
        body: JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503 }),
      });
    });
    await page.click("nav a[href='#verify']");
    await page.click("#verify-form button[type=submit]");
    await page.locator("#verify-result .intact").waitFor();
    await page.unroute("**/audit/verify?*");
    expect(busy).toBe(2);
    expect(await text("#verify-result")).toMatch(/Intact up to position \d+/);
    // What an auditor writes down, to check later that the history was not rolled back.
    expect(await text("#verify-result .checkpoint-mark")).toBe(
      `${sealed.sequence}:${sealed.chainHash.toString("hex")}`,
    );
    await expectNoSeriousViolations("verify (intact)");

    const [created] = await outboxRows(
      `SELECT position::text, event_id FROM outbox WHERE event_type = 'patient.created' AND patient_id = $1`,
      [patientId],
    );
    const tamperer = await history.admin();
    await tamperer.query(
      `UPDATE outbox SET payload = replace(payload::text, '"patient-service"', '"forged-service"')::json
        WHERE position = $1`,
      [created.position],
    );
    await page.click("#verify-form button[type=submit]");
    await page.locator("#verify-result .problem").waitFor();
    const report = await text("#verify-result");
    expect(report).toContain(`Broken: the first broken link is at position ${created.position}`);
    expect(report).toContain(created.event_id);
    await expectNoSeriousViolations("verify (broken)");
  });

  it("saves no export cut off before its end, whether the transfer broke off or ended without its last line", async () => {
    let downloads = 0;
    page.on("download", () => {
      downloads++;
    });
    await showPatientSearch();

    // What a proxy could make of a transfer the server broke off: a body that ends cleanly, short of its end.
    await page.route("**/audit/events/export?*", async (route) => {
      const response = await route.fetch();
      const body = await response.text();
      await route.fulfill({ response, body: body.slice(0, body.lastIndexOf('{"exportComplete"')) });
    });
    await page.click("#export-ndjson");
    await page.locator("#status", { hasText: "cut off before its end" }).waitFor();
    await page.unrouteAll();

    // A row of the patient's history that Postgres cannot read as jsonb (a \u0000 escape): the export fails
    // after its 200 was sent, and the server breaks the transfer off. (The index that reads every payload as
    // jsonb would refuse the row outright: dropped first, in this test's own database.)
    const tamperer = await history.admin();
    await tamperer.query("DROP INDEX outbox_user_history");
    await tamperer.query(
      `UPDATE outbox SET payload = replace(payload::text, '"forged-service"', '"forged-service\\u0000"')::json
        WHERE event_type = 'patient.created' AND patient_id = $1`,
      [patientId],
    );
    await page.click("#export-csv");
    await page.locator("#status", { hasText: "The export failed, and nothing was saved" }).waitFor();
    expect(downloads).toBe(0);
  });
});
