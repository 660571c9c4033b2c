// The audit console's behaviour: sign-in with a bearer token kept in session storage, and one view per
// question an auditor asks (history, one event, who saw a patient, verification, alerts), each a call to the
// auditor API. Plain DOM, no framework: every value from the API is set as text, never parsed as HTML.

const TOKEN_KEY = "auditConsole.token";
/**
 * The sign-in this tab started at the identity provider: its state, its PKCE verifier, the nonce its ID token must
 * carry back, and when it started.
 */
const PENDING_SIGN_IN_KEY = "auditConsole.pendingSignIn";
const SIGN_IN_MAX_MS = 10 * 60 * 1000;
const SEALED = /^enc:v\d+:/;

const $ = (id) => document.getElementById(id);

/**
 * Control characters but tab and line feed (the envelope is shown laid out), the line and paragraph separators and
 * the bidirectional formatting characters, as operator commands escape them (cli/printable.ts): text from the history (a username typed at a login form is an
 * aggregate id) could otherwise reorder what an auditor reads, "\u202egro.elpmaxe@nimda" shown as
 * "admin@example.org".
 */
const UNPRINTABLE = /(?![\t\n])[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** `text` with each such character written as its escape (`\u202e`): visible, and inert. */
const printable = (text) =>
  text.replace(UNPRINTABLE, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** An element with attributes and children (strings become text nodes, printable). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(printable(String(child))));
  }
  return element;
}

/** The view a status message was said for: another view shown clears it (a failed search is not the verification's). */
let statusView = null;

function status(message) {
  $("status").textContent = printable(message);
  statusView = viewOfAddress();
}

// ---------------------------------------------------------------------------------------------------------
// The API

class ApiProblem extends Error {
  constructor(status, problem) {
    const fields = (problem?.errors ?? []).map((error) => `${error.field}: ${error.message}`);
    super([problem?.detail ?? problem?.title ?? `HTTP ${status}`, ...fields].join(" — "));
    this.status = status;
    this.retryAfter = undefined;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

async function call(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.ok) return response;
  const problem = await response.json().catch(() => null);
  const error = new ApiProblem(response.status, problem);
  error.retryAfter = Number(response.headers.get("Retry-After")) || undefined;
  if (response.status === 401) {
    signOut(`Signed out: ${error.message}`);
  }
  throw error;
}

const getJson = async (path) => (await call(path)).json();

function query(parameters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  return search.toString();
}

// ---------------------------------------------------------------------------------------------------------
// Sign-in

function signOut(message = "Signed out.") {
  sessionStorage.removeItem(TOKEN_KEY);
  forgetWhatWasShown();
  $("nav").hidden = true;
  location.hash = "#sign-in";
  status(message);
}

async function signIn(candidate) {
  sessionStorage.setItem(TOKEN_KEY, candidate.trim());
  $("sign-in-error").hidden = true;
  try {
    // The API decides: only an auditor's token reads the history. A refusal is recorded there as an
    // audit.compliance.violation, as for any other refused request. Asked of the history before 1970, which
    // holds nothing: signing in reads nobody's data, so the auditor's access it records names no patient (a
    // page of the history's first event would name theirs at every sign-in).
    await getJson(`/audit/events?${query({ to: "1970-01-01T00:00:00Z", limit: 1 })}`);
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    signInProblem(
      error.status === 403
        ? "Refused: this console is for compliance auditors, and this token's role may not read the audit history. The refusal has been recorded."
        : `The token was not accepted: ${error.message}`,
    );
    location.hash = "#sign-in";
    return;
  }
  $("token").value = "";
  $("nav").hidden = false;
  status("Signed in.");
  location.hash = "#search";
}

function signInProblem(message) {
  const problem = $("sign-in-error");
  problem.hidden = false;
  problem.textContent = printable(message);
}

// ---------------------------------------------------------------------------------------------------------
// Sign-in at the identity provider: the authorization code flow with PKCE (RFC 7636, S256), the console a
// public client. The provider sends the browser back to /console?code=…&state=… with a code, not a token: only
// this tab, which holds the code's verifier, can exchange it, and only for a sign-in it started (the state).
// The ID token that comes with the access token is checked before the access token is used (OpenID Connect):
// the provider's signature, the issuer, this client, its expiry, and the nonce this sign-in sent.

/**
 * What /console/settings.json says of the provider (CONSOLE_OIDC_*): `signIn`, its endpoints, or null (tokens
 * are pasted); `providerUnavailable` when one is configured whose discovery document the server could not read.
 */
async function providerSettings() {
  const settings = await fetch("/console/settings.json")
    .then((response) => response.json())
    .catch(() => null);
  return { provider: settings?.signIn ?? null, unavailable: settings?.providerUnavailable === true };
}

/** The console's own address, where the provider sends the browser back: the client's redirect URI. */
const redirectUri = () => new URL("/console", location.href).href;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Random bytes in base64url: 32 of them make a code verifier of 43 characters (RFC 7636 allows 43 to 128). */
const randomText = (bytes) => base64url(crypto.getRandomValues(new Uint8Array(bytes)));

async function startProviderSignIn(provider) {
  // crypto.subtle exists in a secure context only: over plain http to another machine there is no PKCE.
  if (!globalThis.crypto?.subtle) {
    signInProblem("Signing in with the identity provider needs the console opened over https.");
    return;
  }
  const verifier = randomText(32);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = randomText(16);
  // OpenID Connect Core, section 3.1.2.1: the ID token carries it back, tying the token to this sign-in.
  const nonce = randomText(16);
  sessionStorage.setItem(
    PENDING_SIGN_IN_KEY,
    JSON.stringify({ state, verifier, nonce, started: Date.now() }),
  );
  const authorize = new URL(provider.authorizationEndpoint);
  const parameters = {
    response_type: "code",
    client_id: provider.clientId,
    redirect_uri: redirectUri(),
    scope: "openid",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    nonce,
  };
  for (const [name, value] of Object.entries(parameters)) authorize.searchParams.set(name, value);
  location.assign(authorize.href);
}

function showProviderSignIn(provider) {
  $("provider-button").addEventListener("click", () => startProviderSignIn(provider));
  $("provider-sign-in").hidden = false;
}

/**
 * The provider's answer in the address, if any, taken out of it at once: the code leaves the address bar, the
 * history and whatever reads `location` before anything else runs.
 */
function providerAnswer() {
  const answer = new URLSearchParams(location.search);
  if (!["code", "state", "error"].some((name) => answer.has(name))) return null;
  history.replaceState(null, "", location.pathname + location.hash);
  return answer;
}

/** The sign-in this tab started, read once: its verifier is forgotten whatever the answer. */
function takePendingSignIn() {
  const stored = sessionStorage.getItem(PENDING_SIGN_IN_KEY);
  sessionStorage.removeItem(PENDING_SIGN_IN_KEY);
  try {
    return JSON.parse(stored);
  } catch {
    return null;
  }
}

/**
 * The access token for the provider's answer, or null. Only an answer carrying the state of a sign-in this tab
 * started, within ten minutes, is taken: a link that carries someone else's code (an attacker's, so that the
 * auditor works, unaware, in their session) is ignored, and nothing is exchanged. So is a provider's error
 * without that state: the page shows no text a link alone put there.
 */
async function completeProviderSignIn(provider, answer) {
  const pending = takePendingSignIn();
  const state = answer.get("state");
  const started = Number(pending?.started);
  if (!provider || !state || state !== pending?.state || !(Date.now() - started < SIGN_IN_MAX_MS)) {
    status("A sign-in this console did not start was ignored: sign in here.");
    return null;
  }
  if (answer.has("error")) {
    const reason = [answer.get("error"), answer.get("error_description")].filter(Boolean).join(": ");
    signInProblem(`The identity provider did not sign you in: ${reason}`);
    return null;
  }
  const exchange = new URLSearchParams({
    grant_type: "authorization_code",
    code: answer.get("code") ?? "",
    redirect_uri: redirectUri(),
    client_id: provider.clientId,
    code_verifier: pending.verifier,
  });
  const response = await fetch(provider.tokenEndpoint, {
    method: "POST",
    body: exchange,
    credentials: "omit",
    cache: "no-store",
  }).catch(() => null);
  const answered = await response?.json().catch(() => null);
  if (!response?.ok || typeof answered?.access_token !== "string") {
    const reason = answered?.error ?? (response ? `HTTP ${response.status}` : "it could not be reached");
    signInProblem(`The identity provider issued no token: ${reason}`);
    return null;
  }
  // The sign-in asked for `openid`, so the answer must carry an ID token (OpenID Connect Core, section 3.1.3.3):
  // without one, nothing proves that this exchange answers this tab's sign-in (its nonce).
  const problem =
    answered.id_token === undefined
      ? "the provider sent none, though the sign-in asked for one (scope openid)"
      : await idTokenProblem(provider, answered.id_token, pending.nonce);
  if (problem) {
    signInProblem(`The identity provider's ID token was refused, and nobody is signed in: ${problem}.`);
    return null;
  }
  return answered.access_token;
}

/**
 * How far this browser's clock may be from the provider's when `exp` (and `nbf`) are checked: a minute, so that a
 * clock a little ahead does not refuse a token just issued, while one expired for longer is still refused.
 */
const CLOCK_TOLERANCE_SECONDS = 60;

/** The signing algorithms of a provider's public keys (never `none`, nor HS*, which would take a shared secret). */
const ID_TOKEN_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/**
 * Why the ID token may not be trusted, or null when it may (OpenID Connect Core, section 3.1.3.7): signed by a
 * key of the provider's (jwks_uri), issued by the configured issuer, for this console (its client id in `aud`,
 * and in `azp` when there are several audiences, or whenever `azp` is present), not expired, and carrying the
 * nonce this sign-in sent. jose (its browser build, served with the console) checks the signature and the
 * registered claims; the reasons never quote the token.
 */
async function idTokenProblem(provider, idToken, nonce) {
  if (typeof idToken !== "string") return "it is not a token";
  let jose;
  try {
    jose = await import("./jose/index.js");
  } catch {
    return "the console could not load its token checker";
  }
  let claims;
  try {
    const keys = jose.createRemoteJWKSet(new URL(provider.jwksUri));
    ({ payload: claims } = await jose.jwtVerify(idToken, keys, {
      issuer: provider.issuer,
      audience: provider.clientId,
      algorithms: ID_TOKEN_ALGORITHMS,
      requiredClaims: ["sub", "iat", "exp"],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (error) {
    return joseProblem(jose, error);
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (audiences.length > 1 && claims.azp === undefined) {
    return "it names several audiences and no authorized party (azp): it may have been issued to another client";
  }
  if (claims.azp !== undefined && claims.azp !== provider.clientId) {
    return `its authorized party (azp) is not this console's client id, ${provider.clientId}`;
  }
  if (typeof nonce !== "string" || claims.nonce !== nonce) {
    return "its nonce is not the one this sign-in sent: it was issued for another sign-in";
  }
  return null;
}

/** What a failed check of jose's means, in words: which claim, the signature, or the keys. */
function joseProblem(jose, error) {
  const { errors } = jose;
  if (error instanceof errors.JWTExpired) return "it has expired (exp)";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss" && error.reason === "check_failed") {
      return "its issuer (iss) is not the configured one, the console's identity provider";
    }
    if (error.claim === "aud" && error.reason === "check_failed") {
      return "it was issued to another client: its audience (aud) does not name this console's client id";
    }
    return `its ${error.claim} claim is ${error.reason === "missing" ? "missing" : "not valid"}`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "its signature does not verify against the identity provider's keys (jwks_uri)";
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return "none of the identity provider's keys (jwks_uri) is the one it was signed with";
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return "several of the identity provider's keys (jwks_uri) match it, and none is named";
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "it is signed with an algorithm the console does not take (none, or a shared secret)";
  }
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) {
    return "it is not a signed JWT";
  }
  // The keys' fetch failed (no answer, not 200, not a key set), or jose could not check them (an unsupported key).
  const unread =
    !(error instanceof errors.JOSEError) ||
    error.constructor === errors.JOSEError ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid;
  return unread
    ? "the identity provider's keys (jwks_uri) could not be read"
    : `it could not be checked (${error.code})`;
}

// ---------------------------------------------------------------------------------------------------------
// Rendering helpers

// A stored time as the API answers it, to the microsecond it holds: shown as it is (a Date would cut it to the
// millisecond), so that what an auditor reads and copies is the row's own time.
const formatTime = (iso) => (iso ? iso.replace("T", " ") : "—");

function delivery(relayed) {
  if (relayed === true) return h("span", { class: "badge ok" }, "Delivered");
  if (relayed === false) return h("span", { class: "badge pending" }, "Not yet delivered");
  return h("span", { class: "badge unknown" }, "Unknown (Debezium)");
}

/** The acting user: the request's user, or for an audit event without one, the actor it names. */
function actorOf(event) {
  return event.envelope?.metadata?.userId ?? event.envelope?.data?.actorId ?? null;
}

const eventLink = (eventId, label = eventId) => h("a", { href: `#event/${eventId}` }, label);

function table(caption, headings, rows) {
  return h(
    "div",
    { class: "table-region", role: "region", "aria-label": caption, tabindex: "0" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headings.map((heading) => h("th", { scope: "col" }, heading)),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

function fieldList(entries) {
  return h(
    "dl",
    { class: "fields" },
    entries.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value ?? "—")]),
  );
}

/** A data value as stored: sealed personal fields are shown as sealed, never as their ciphertext. */
function dataValue(value) {
  if (typeof value === "string" && SEALED.test(value)) {
    return h("span", { class: "sealed" }, "sealed (encrypted under the patient's key)");
  }
  if (value !== null && typeof value === "object") {
    return fieldList(Object.entries(value).map(([name, inner]) => [name, dataValue(inner)]));
  }
  return h("code", {}, JSON.stringify(value));
}

function problemBox(message) {
  return h("div", { class: "problem", role: "alert" }, h("p", {}, message));
}

/** The last load started in each region: only its answer may fill the region. */
const latestLoads = new WeakMap();

/**
 * Marks a region busy with a new load. An earlier load still in flight is superseded: its answer, should it
 * come after, is dropped (`superseded()`), and only the last load's end marks the region no longer busy.
 */
function startLoading(region) {
  const load = {};
  latestLoads.set(region, load);
  region.setAttribute("aria-busy", "true");
  const superseded = () => latestLoads.get(region) !== load;
  return {
    superseded,
    done() {
      if (!superseded()) region.setAttribute("aria-busy", "false");
    },
  };
}

/** Forgets which answer a region shows (the event, the patient, the alerts), so that it is read again when asked. */
function forgetWhatRegionShows(region) {
  for (const key of Object.keys(region.dataset)) delete region.dataset[key];
}

/** The regions that show what the API answered; each is filled by one load at a time. */
const REGIONS = [
  "search-results",
  "event-detail",
  "access-results",
  "opened-results",
  "alerts-results",
  "verify-result",
];

/**
 * At sign-out (or when the API no longer takes the token), nothing of what the auditor saw or typed stays in the
 * page: hidden, it was still there for the next person at this browser to sign in and page, export or read.
 * An answer still on its way is dropped, as a superseded one is.
 */
function forgetWhatWasShown() {
  for (const id of REGIONS) {
    const region = $(id);
    latestLoads.delete(region);
    region.removeAttribute("aria-busy");
    region.replaceChildren();
    forgetWhatRegionShows(region);
  }
  for (const form of ["search-form", "access-form", "verify-form"]) $(form).reset();
  Object.assign(searchState, { parameters: {}, cursors: [undefined], page: 0 });
  showingResultsOf(null);
  for (const id of ["page-first", "page-previous", "page-next"]) $(id).disabled = true;
  for (const id of ["access-more", "opened-more", "alerts-more"]) {
    $(id).hidden = true;
    $(id).onclick = null;
  }
  $("event-title").textContent = "Event";
}

// ---------------------------------------------------------------------------------------------------------
// History search, with cursor paging and export

/**
 * `parameters`: the query being paged; `shown`: the query whose results are on the screen (null while none
 * are), which the export buttons export: the form may have been edited since without being searched.
 */
const searchState = { parameters: {}, cursors: [undefined], page: 0, shown: null };

/** The filters of a query as the results' caption names them ("all events" for none). */
function describeQuery(parameters) {
  const filters = Object.entries(parameters).filter(([name, value]) => name !== "limit" && value);
  return filters.length === 0 ? "all events" : filters.map(([name, value]) => `${name} ${value}`).join(", ");
}

function showingResultsOf(parameters) {
  searchState.shown = parameters;
  $("export-ndjson").disabled = parameters === null;
  $("export-csv").disabled = parameters === null;
}

function searchParametersFromForm() {
  const form = new FormData($("search-form"));
  const parameters = {};
  for (const [name, value] of form) {
    const text = String(value).trim();
    if (!text) continue;
    parameters[name] = name === "from" || name === "to" ? new Date(text).toISOString() : text;
  }
  return parameters;
}

function fillSearchForm(parameters) {
  for (const element of $("search-form").elements) {
    if (!element.name || element.name === "limit") continue;
    const value = parameters[element.name] ?? "";
    element.value = element.type === "datetime-local" && value ? toLocalInput(value) : value;
  }
}

/** The time as a datetime-local field takes it; empty for a value that is no time (a link's `from=garbage`). */
function toLocalInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

async function runSearch() {
  const { parameters, cursors, page } = searchState;
  const results = $("search-results");
  const { superseded, done } = startLoading(results);
  status("Searching…");
  try {
    const body = await getJson(`/audit/events?${query({ ...parameters, cursor: cursors[page] })}`);
    if (superseded()) return;
    const limit = Number(parameters.limit ?? 50);
    cursors[page + 1] = body.nextCursor;
    const rows = body.events.map((event) =>
      h(
        "tr",
        {},
        h("td", {}, formatTime(event.createdAt)),
        h("td", {}, eventLink(event.eventId, event.eventType)),
        h("td", {}, `${event.aggregate.type} `, h("code", {}, event.aggregate.id)),
        h("td", {}, actorOf(event) ? h("code", {}, actorOf(event)) : "—"),
        h("td", {}, event.envelope?.source ?? "—"),
        h("td", {}, delivery(event.relayed)),
        h("td", {}, event.position),
      ),
    );
    const caption = `Events of ${describeQuery(parameters)}, page ${page + 1}: ${body.events.length} shown`;
    results.replaceChildren(
      body.events.length === 0
        ? h("p", {}, `No events of ${describeQuery(parameters)}.`)
        : table(
            caption,
            ["Time (UTC)", "Type", "Aggregate", "Actor", "Source", "Delivery", "Position"],
            rows,
          ),
    );
    $("page-next").disabled = body.events.length < limit;
    $("page-previous").disabled = page === 0;
    $("page-first").disabled = page === 0;
    showingResultsOf(parameters);
    status(`${body.events.length} events on page ${page + 1}.`);
  } catch (error) {
    if (superseded()) return;
    results.replaceChildren(problemBox(error.message));
    showingResultsOf(null);
    status("The search failed.");
  } finally {
    done();
  }
}

function startSearch(parameters) {
  searchState.parameters = parameters;
  searchState.cursors = [undefined];
  searchState.page = 0;
  return runSearch();
}

/**
 * The line a whole export ends with, after its last event (the count of events above it); an export that
 * failed on the way has none. The server also breaks such a transfer off, which fails the read itself.
 */
const EXPORT_COMPLETE = {
  ndjson: /(?:^|\n)\{"exportComplete":true,"events":(\d+)\}\n$/,
  csv: /\r\n# export complete: (\d+) events,{10}\r\n$/,
};

/**
 * The CSV as a person's spreadsheet reads it: Excel takes a UTF-8 file without a byte-order mark for the
 * machine's legacy code page, and garbles every name with an accent. The API's export has none (a program
 * reading it would take the mark for part of the first column's name); the file saved here is for people.
 */
function withByteOrderMark(blob) {
  return new Blob(["\uFEFF", blob], { type: "text/csv; charset=utf-8" });
}

async function exportQuery(format) {
  if (searchState.shown === null) return;
  const { limit: _limit, ...parameters } = searchState.shown;
  status(`Exporting ${format.toUpperCase()} of the query shown…`);
  try {
    const response = await call(`/audit/events/export?${query({ ...parameters, format })}`);
    const blob = await response.blob();
    const end = EXPORT_COMPLETE[format].exec(await blob.slice(Math.max(0, blob.size - 200)).text());
    if (!end) {
      status(
        "The export was cut off before its end (it has no completion line): nothing was saved. Export again.",
      );
      return;
    }
    const url = URL.createObjectURL(format === "csv" ? withByteOrderMark(blob) : blob);
    const link = h("a", { href: url, download: `audit-history.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status(`Exported ${end[1]} events (${blob.size} bytes, complete) as audit-history.${format}.`);
  } catch (error) {
    status(`The export failed, and nothing was saved: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// One event

async function showEvent(eventId) {
  const detail = $("event-detail");
  const { superseded, done } = startLoading(detail);
  detail.dataset.eventId = eventId;
  detail.replaceChildren(h("p", {}, "Loading…"));
  try {
    const { event, delivery: sent, chain } = await getJson(`/audit/events/${encodeURIComponent(eventId)}`);
    if (superseded()) return;
    // As stored: an object, unless the row was changed after it was written (audit:verify reports it), when it may
    // be any JSON value; its fields are then shown as absent, and the value itself below.
    const stored = event.envelope;
    const envelope = stored !== null && typeof stored === "object" && !Array.isArray(stored) ? stored : {};
    const correlationId = envelope.metadata?.correlationId;
    eventHeading(`Event ${event.eventType}`);
    detail.replaceChildren(
      fieldList([
        ["Event id", h("code", {}, event.eventId)],
        ["Type", event.eventType],
        ["Time (UTC)", formatTime(event.createdAt)],
        ["Position", event.position],
        ["Aggregate", h("span", {}, `${event.aggregate.type} `, h("code", {}, event.aggregate.id))],
        ["Version", event.version === null ? "— (audit events belong to no chain)" : String(event.version)],
        ["Source", envelope.source],
        [
          "Correlation id",
          correlationId
            ? h(
                "a",
                { href: `#search?${query({ correlationId })}` },
                `${correlationId} (the correlated events)`,
              )
            : "—",
        ],
      ]),
      h("h2", {}, "Delivery"),
      fieldList([
        ["Relay", sent.relayMode],
        ["Delivered to Kafka", delivery(sent.relayed)],
        ["Acknowledged by", sent.acknowledgedBy ? formatTime(sent.acknowledgedBy) : "—"],
      ]),
      h("h2", {}, "Chain link"),
      fieldList([
        ["Previous hash", chain.previousHash ? h("code", {}, chain.previousHash) : "— (none)"],
        ["Hash", h("code", {}, chain.hash)],
      ]),
      h("h2", {}, "Record headers"),
      fieldList([
        ["eventId", h("code", {}, event.eventId)],
        ["eventType", h("code", {}, event.eventType)],
        ["correlationId", h("code", {}, correlationId ?? "—")],
      ]),
      h("h2", {}, "Metadata"),
      dataValue(envelope.metadata ?? {}),
      h("h2", {}, "Data"),
      dataValue(envelope.data ?? {}),
      h(
        "details",
        {},
        h("summary", {}, "The envelope as stored"),
        h("pre", { tabindex: "0", "aria-label": "The envelope as stored" }, JSON.stringify(stored, null, 2)),
      ),
    );
  } catch (error) {
    if (superseded()) return;
    eventHeading("Event");
    detail.replaceChildren(problemBox(error.message));
  } finally {
    done();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Who saw a patient, and alerts: both a filtered history with a "more" button

function pagedList({ container, more, path, caption, headings, row }) {
  let cursor;
  const rows = [];
  async function load() {
    const { superseded, done } = startLoading(container);
    try {
      const body = await getJson(`${path}&${query({ cursor, limit: 100 })}`);
      if (superseded()) return;
      cursor = body.nextCursor;
      rows.push(...body.events.map(row));
      container.replaceChildren(
        rows.length === 0 ? h("p", {}, "None.") : table(`${caption}: ${rows.length}`, headings, rows),
      );
      more.hidden = body.events.length < 100;
      status(`${rows.length} shown.`);
    } catch (error) {
      if (superseded()) return;
      container.replaceChildren(problemBox(error.message));
    } finally {
      done();
    }
  }
  more.onclick = load;
  return load();
}

function showPatientAccess(patientId) {
  $("a-patientId").value = patientId;
  $("access-results").dataset.patientId = patientId;
  return Promise.all([showRecordAccesses(patientId), showOperatorOpenings(patientId)]);
}

function showRecordAccesses(patientId) {
  return pagedList({
    container: $("access-results"),
    more: $("access-more"),
    path: `/audit/events?${query({ patientId, eventType: "audit.data.accessed" })}`,
    caption: "Accesses to this patient's records",
    headings: ["Time (UTC)", "By", "Role", "Action", "Record", "Event"],
    row: (event) =>
      h(
        "tr",
        {},
        h("td", {}, formatTime(event.createdAt)),
        h("td", {}, h("code", {}, event.envelope.data.actorId)),
        h("td", {}, event.envelope.data.actorRole),
        h("td", {}, event.envelope.data.action),
        h("td", {}, `${event.envelope.data.resourceType} `, h("code", {}, event.envelope.data.resourceId)),
        h("td", {}, eventLink(event.eventId, "details")),
      ),
  });
}

function showOperatorOpenings(patientId) {
  return pagedList({
    container: $("opened-results"),
    more: $("opened-more"),
    path: `/audit/events?${query({ patientId, eventType: "audit.operator.decrypted" })}`,
    caption: "Sealed fields of this patient opened by operators",
    headings: ["Time (UTC)", "Operator", "Tool", "Record", "Fields", "Event"],
    row: (event) => {
      const opened = event.envelope.data;
      return h(
        "tr",
        {},
        h("td", {}, formatTime(event.createdAt)),
        h("td", {}, h("code", {}, opened.operator)),
        h("td", {}, opened.tool),
        h(
          "td",
          {},
          `${opened.record.eventType} on ${opened.record.topic} [${opened.record.partition}] @ ${opened.record.offset} `,
          eventLink(opened.record.eventId, "event"),
        ),
        h("td", {}, opened.fields.join(", ")),
        h("td", {}, eventLink(event.eventId, "details")),
      );
    },
  });
}

function showAlerts() {
  $("alerts-results").dataset.shown = "true";
  return pagedList({
    container: $("alerts-results"),
    more: $("alerts-more"),
    path: `/audit/events?${query({ eventType: "audit.compliance.alert" })}`,
    caption: "Alerts",
    headings: ["Raised (UTC)", "Rule", "Who", "Window (UTC)", "Found / allowed", "Evidence"],
    row: (event) => {
      const alert = event.envelope.data;
      const evidence = alert.evidenceEventIds;
      return h(
        "tr",
        {},
        h("td", {}, eventLink(event.eventId, formatTime(event.createdAt))),
        h("td", {}, alert.rule),
        h("td", {}, `${alert.principal.kind} `, h("code", {}, alert.principal.id)),
        h("td", {}, `${formatTime(alert.window.start)} – ${formatTime(alert.window.end)}`),
        h("td", {}, `${alert.observed} / ${alert.threshold}`),
        h(
          "td",
          {},
          h(
            "ul",
            {},
            evidence.slice(0, 5).map((id, i) => h("li", {}, eventLink(id, `event ${i + 1}`))),
            evidence.length > 5 ? h("li", {}, `and ${evidence.length - 5} more`) : null,
          ),
        ),
      );
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Verification

async function verify(range) {
  const progress = $("verify-progress");
  const result = $("verify-result");
  const elapsed = $("verify-elapsed");
  const started = Date.now();
  const { superseded, done } = startLoading(result);
  const ticker = setInterval(() => {
    elapsed.textContent = `${Math.round((Date.now() - started) / 1000)} s`;
  }, 1000);
  result.replaceChildren();
  elapsed.textContent = "0 s";
  progress.hidden = false;
  $("verify-bar").setAttribute("aria-busy", "true");
  status("Verifying the history…");
  try {
    for (;;) {
      try {
        const report = await getJson(`/audit/verify?${query(range)}`);
        if (superseded()) return;
        result.replaceChildren(verificationReport(report));
        status(
          report.intact ? "Verification finished: intact." : "Verification finished: the history is broken.",
        );
        return;
      } catch (error) {
        // Too many verifications at once (503 with Retry-After; 429 from a proxy): the server says when to come back.
        if (superseded() || (error.status !== 503 && error.status !== 429)) throw error;
        const seconds = error.retryAfter ?? 2;
        status(`The server is busy verifying; trying again in ${seconds} s.`);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        if (superseded()) return;
      }
    }
  } catch (error) {
    if (superseded()) return;
    result.replaceChildren(problemBox(`The verification could not run: ${error.message}`));
    status("The verification could not run.");
  } finally {
    done();
    clearInterval(ticker);
    progress.hidden = true;
    $("verify-bar").removeAttribute("aria-busy");
  }
}

function verificationReport(report) {
  const span = report.range
    ? `from after checkpoint ${report.range.afterCheckpoint} (position ${report.range.afterPosition ?? "start"}) to ${report.range.throughPosition ?? "the end of the history"}`
    : "the archive records";
  if (report.intact) {
    return h(
      "div",
      { class: "intact", role: "alert" },
      h("p", {}, h("strong", {}, `Intact up to position ${report.upToPosition ?? "—"}.`)),
      h(
        "p",
        {},
        `${report.rows} events, ${report.checkpoints} signed checkpoints and ${report.chainedAggregates} chains verified, ${span}.`,
      ),
      report.lastCheckpoint
        ? h(
            "p",
            {},
            `Last signed checkpoint: ${report.lastCheckpoint.sequence} (${report.lastCheckpoint.rowCount} events, sealed ${report.lastCheckpoint.sealedAt}). Write down `,
            h(
              "code",
              { class: "checkpoint-mark" },
              `${report.lastCheckpoint.sequence}:${report.lastCheckpoint.chainHash}`,
            ),
            " outside the platform: a later verification with it (npm run audit:verify -- --expect-checkpoint) proves the history was not rolled back.",
          )
        : null,
    );
  }
  const broken = report.brokenLink;
  const where = [
    broken.position ? `at position ${broken.position}` : null,
    broken.eventId ? `(event ${broken.eventId})` : null,
    broken.checkpoint !== undefined ? `checkpoint ${broken.checkpoint}` : null,
    broken.archive !== undefined ? `archive ${broken.archive}` : null,
    broken.aggregate ? `aggregate ${broken.aggregate}` : null,
  ]
    .filter(Boolean)
    .join(" ");
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", {}, h("strong", {}, `Broken: the first broken link is ${where}.`)),
    h("p", {}, broken.problem),
    h("p", {}, `${report.rows} events were verified before it, ${span}.`),
    broken.eventId ? h("p", {}, eventLink(broken.eventId, "Open that event")) : null,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Views

const VIEWS = ["sign-in", "search", "event", "patient-access", "verify", "alerts"];

let shownView = null;

/** The view the address names, as route() shows it: sign-in without a token, the history for any it does not name. */
function viewOfAddress() {
  if (!token()) return "sign-in";
  const [view] = location.hash.slice(1).split(/[/?]/);
  return VIEWS.includes(view) && view !== "sign-in" ? view : "search";
}

function show(view) {
  if (view !== statusView) $("status").textContent = "";
  shownView = view;
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const title = $(`view-${view}`).querySelector("h1");
  showTitle(title.textContent);
  title.focus();
}

/** The page's title, as the view's heading says it (the event shown once it is read: "Event patient.created"). */
function showTitle(heading) {
  document.title = `${heading} — Audit console`;
}

/** The event view's heading, and the page's title with it. */
function eventHeading(text) {
  $("event-title").textContent = text;
  if (shownView === "event") showTitle(text);
}

// ---------------------------------------------------------------------------------------------------------
// Addresses: what a link asks for, and what the auditor asked for

/**
 * The address an auditor's own click or submit in this page went to, until the view it names is shown. Every read
 * of the history is recorded as the auditor's access, under their name: a read runs only when they asked for it
 * here. An address the page was opened at, or went to otherwise (a link from elsewhere, a bookmark, the back
 * button), fills in the view and waits for them to press its button; a crafted link reads nobody's history.
 */
let requestedAddress = null;

/** An address as `location.hash` spells it. */
const addressOf = (hash) => new URL(hash, location.href).hash;

/** Whether the address shown now is the one the auditor's own action went to (asked once: the next is not). */
function takeRequest() {
  const asked = requestedAddress !== null && requestedAddress === location.hash;
  requestedAddress = null;
  return asked;
}

/** Goes to `hash` at the auditor's request: its view reads what it names, even if the address is already that. */
function goAsked(hash) {
  requestedAddress = addressOf(hash);
  if (location.hash === requestedAddress) route();
  else location.hash = requestedAddress;
}

/** A click on one of the page's own links is the auditor's request for what it names. */
function noteLinkRequests(event) {
  const link = event.target instanceof Element ? event.target.closest("a[href^='#']") : null;
  if (link && link.getAttribute("href") !== "#main") requestedAddress = addressOf(link.getAttribute("href"));
}

/**
 * What a link asked for, shown without being read: why it waits, and (for a view without a form) the button that
 * reads it. The region's earlier answer goes: it was of something else.
 */
function awaitRequest(region, message, button) {
  latestLoads.delete(region);
  forgetWhatRegionShows(region);
  region.removeAttribute("aria-busy");
  region.replaceChildren(
    h("p", { class: "hint" }, `${message} Reading it is recorded as your access, under your name.`),
    button ? h("button", { type: "button", onclick: button.onclick }, button.label) : null,
  );
}

/** The query of `#search?…` (`#search?` alone: all events), or null for the bare search screen. */
function searchOfAddress(rest) {
  return location.hash.includes("?") ? Object.fromEntries(new URLSearchParams(rest)) : null;
}

/** The address of a search, without its page size: a link, a bookmark and the back button name the query. */
const searchAddress = ({ limit: _limit, ...parameters }) => `#search?${query(parameters)}`;

const sameQuery = (a, b) =>
  a !== null && b !== null && query({ ...a, limit: undefined }) === query({ ...b, limit: undefined });

/** A part of an address, percent-decoded; as it is when it is no valid percent-encoding. */
function decodedOrAsIs(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function route() {
  const asked = takeRequest();
  const [view, rest = ""] = location.hash.slice(1).split(/[/?](.*)/s);
  if (!token()) {
    show("sign-in");
    return;
  }
  $("nav").hidden = false;
  switch (view) {
    case "event": {
      show("event");
      // As the address spells it: a link may percent-encode it, which the request must not encode twice.
      const eventId = decodedOrAsIs(rest);
      if (asked) await showEvent(eventId);
      else if ($("event-detail").dataset.eventId !== eventId) {
        eventHeading("Event");
        awaitRequest($("event-detail"), `The link asks for event ${eventId}.`, {
          label: "Open the event",
          onclick: () => goAsked(location.hash),
        });
      }
      break;
    }
    case "patient-access": {
      show("patient-access");
      const patientId = new URLSearchParams(rest).get("patientId");
      if (!patientId || (!asked && $("access-results").dataset.patientId === patientId)) break;
      if (asked) await showPatientAccess(patientId);
      else {
        $("a-patientId").value = patientId;
        $("opened-results").replaceChildren();
        for (const id of ["access-more", "opened-more"]) $(id).hidden = true;
        awaitRequest($("access-results"), "The link filled in the patient: press Show accesses to see them.");
      }
      break;
    }
    case "verify":
      show("verify");
      break;
    case "alerts":
      show("alerts");
      if (asked) await showAlerts();
      else if ($("alerts-results").dataset.shown !== "true") {
        $("alerts-more").hidden = true;
        awaitRequest($("alerts-results"), "The link asks for the compliance alerts.", {
          label: "Show the alerts",
          onclick: () => goAsked("#alerts"),
        });
      }
      break;
    default: {
      show("search");
      const parameters = searchOfAddress(rest);
      // The search running counts as shown: two quick submits change the address twice, and the second change's
      // event, no longer the auditor's request, must not cancel the search the first one started for it.
      const running =
        $("search-results").getAttribute("aria-busy") === "true" ? searchState.parameters : null;
      const onScreen = sameQuery(parameters, searchState.shown) || sameQuery(parameters, running);
      if (parameters === null) break;
      // The form says the query the address names, whether it is read now, waits, or is on the screen already
      // (the form may have been edited since, unsearched): what Search then reads is what the address says.
      fillSearchForm(parameters);
      if (!asked && onScreen) break;
      if (asked) await startSearch({ ...parameters, limit: $("f-limit").value });
      else {
        showingResultsOf(null);
        for (const id of ["page-first", "page-previous", "page-next"]) $(id).disabled = true;
        awaitRequest($("search-results"), "The link filled in the search: press Search to run it.");
      }
    }
  }
}

function wire() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    goAsked(searchAddress(searchParametersFromForm()));
  });
  $("page-next").addEventListener("click", () => {
    searchState.page += 1;
    runSearch();
  });
  $("page-previous").addEventListener("click", () => {
    searchState.page -= 1;
    runSearch();
  });
  $("page-first").addEventListener("click", () => {
    searchState.page = 0;
    runSearch();
  });
  $("export-ndjson").addEventListener("click", () => exportQuery("ndjson"));
  $("export-csv").addEventListener("click", () => exportQuery("csv"));
  $("access-form").addEventListener("submit", (event) => {
    event.preventDefault();
    goAsked(`#patient-access?${query({ patientId: $("a-patientId").value.trim() })}`);
  });
  $("verify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    verify({ from: $("v-from").value.trim(), to: $("v-to").value.trim() });
  });
  document.addEventListener("click", noteLinkRequests, true);
  window.addEventListener("hashchange", route);
}

/** The provider's answer first, if the page was opened with one; then the view the address names. */
async function start() {
  const answer = providerAnswer();
  wire();
  const { provider, unavailable } = await providerSettings();
  if (provider) showProviderSignIn(provider);
  $("provider-unavailable").hidden = !unavailable;
  const providerToken = answer ? await completeProviderSignIn(provider, answer) : null;
  if (providerToken) await signIn(providerToken);
  else await route();
}

start();
