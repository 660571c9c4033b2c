// A steady write load through the platform's HTTP API, as its clients write: new patients, and changes to a
// working set of patients (so each has a history whose order Kafka must keep). Counts what was answered.
import { issueToken } from "../apps/http/issueToken.ts";
import { signingKeys } from "../apps/http/signingKeys.ts";
import { loadEnv } from "../config/env.ts";

export interface WriteLoad {
  /** Stops writing, waits for the requests in flight, and says how they were answered. */
  stop(): Promise<WritesAnswered>;
}

export interface WritesAnswered {
  ok: number;
  failed: number;
  /** The failures by answer (a status, or `no answer: <error>`), each with when the first and last came. */
  failures: Map<string, { count: number; firstAtMs: number; lastAtMs: number }>;
}

const PATIENTS = 40;
const MAX_IN_FLIGHT = 20;

export async function startWriteLoad(baseUrl: string, writesPerSecond: number): Promise<WriteLoad> {
  const env = loadEnv();
  const keys = signingKeys(env);
  if (keys.kind !== "secret") throw new Error("JWT_JWKS_URL is set: the chaos run signs its own tokens");
  const token = await issueToken(keys.secret, {
    role: "admin",
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
  });
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const counts: WritesAnswered = { ok: 0, failed: 0, failures: new Map() };
  // A failed run is read from its report: which answers the failures were, and over which stretch of the run.
  const failed = (answer: string) => {
    counts.failed++;
    const now = Date.now();
    const seen = counts.failures.get(answer);
    if (seen) {
      seen.count++;
      seen.lastAtMs = now;
    } else counts.failures.set(answer, { count: 1, firstAtMs: now, lastAtMs: now });
  };
  const send = async (method: string, path: string, body: unknown): Promise<unknown> => {
    try {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const answer = (await response.json().catch(() => null)) as { detail?: unknown } | null;
      if (response.ok) counts.ok++;
      else failed(`${response.status} ${typeof answer?.detail === "string" ? answer.detail : ""}`.trim());
      return response.ok ? answer : null;
    } catch (error) {
      failed(`no answer: ${(error as Error).message}`);
      return null;
    }
  };
  let n = 0;
  const newPatient = () => {
    n++;
    return {
      firstName: "Chaos",
      lastName: `Monkey-${n}`,
      dateOfBirth: "1980-01-01",
      email: `chaos.${n}@example.org`,
      phone: "+14155552671",
    };
  };
  const patients: string[] = [];
  while (patients.length < PATIENTS) {
    const created = (await send("POST", "/patients", newPatient())) as { id?: string } | null;
    if (created?.id) patients.push(created.id);
  }

  let inFlight = 0;
  const pending = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    if (inFlight >= MAX_IN_FLIGHT) return;
    n++;
    inFlight++;
    const request =
      n % 10 === 0
        ? send("POST", "/patients", newPatient())
        : send("PATCH", `/patients/${patients[n % patients.length]}`, { allergies: [`allergy-${n}`] });
    const tracked = request.finally(() => {
      inFlight--;
      pending.delete(tracked);
    });
    pending.add(tracked);
  }, 1000 / writesPerSecond);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return counts;
    },
  };
}
