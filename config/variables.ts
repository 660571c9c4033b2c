// Which environment variables are the project's, and the rule that refuses a misspelt one. A zod object drops
// the keys it does not know, so PHI_MASTER_KEY (for PHI_MASTER_KEYS) or KAFKA_SASL_MECHANISMS (for
// KAFKA_SASL_MECHANISM) would be ignored and the default used in its place: the development master key, no
// Kafka security. A name under one of the project's own prefixes that no code reads is refused instead, by
// loadEnv and loadStackEnv (config/env.ts), the two every process and command reads its configuration with.

/**
 * The name prefixes the project owns: every process of the stack that reads a name under one is the project's
 * own, so a name there that no code reads can only be a slip. CONSUMER covers CONSUMERS as well as CONSUMER_*.
 * - CONSOLE_: the auditors' console (CONSOLE_OIDC_ISSUER, CONSOLE_OIDC_CLIENT_ID; CONSOLE_SCREENSHOT in its
 *   test). CONSOLE_OIDC_ISSUR ignored would serve the console with no sign-in at the provider at all.
 * - SMTP_: SMTP_URL. Nothing else in the stack sends mail; SMTP_URI (or SMTP_HOST, as other programs spell it)
 *   ignored would leave every e-mail recorded in a table and none sent, silently.
 * - HEAP_: HEAP_GROWTH_PERCENT. Node and V8 read no HEAP_* name, and the JVMs of Kafka and Connect read theirs
 *   under KAFKA_ (KAFKA_HEAP_OPTS).
 * - TRACESTATE_: TRACESTATE_KEYS. OpenTelemetry's names are all OTEL_*; TRACESTATE_KEY ignored would keep no
 *   member of a caller's tracestate, silently.
 * Not owned, though the project reads a name there: OTEL_ (the OpenTelemetry SDK reads names of its own there,
 * OTEL_BSP_*, OTEL_EXPORTER_OTLP_TIMEOUT…; those the project reads are checked by their values), API_ (API_KEY,
 * API_URL… of any tool in the same shell), POSTGRES_ (the postgres image's POSTGRES_PASSWORD, POSTGRES_DB…),
 * LOG_ (LOG_LEVEL is a name many programs share), NODE_ (Node's own NODE_OPTIONS…), CHROMIUM_ (Debian's chromium
 * reads CHROMIUM_FLAGS), and the tests' TEST_, FC_, CONTRACT_. Nor HTTP_ (HTTP_PROXY belongs to every HTTP
 * client), OIDC_ or DB_: the project reads no name under them, and a prefix is owned for names it reads.
 */
export const PROJECT_PREFIXES = [
  "PHI_",
  "AUDIT_",
  "JWT_",
  "KAFKA_",
  "CONNECT_",
  "RELAY_",
  "CONSUMER",
  "COMPLIANCE_",
  "NOTIFICATION_",
  "REMINDER_",
  "BENCH_",
  "CHAOS_",
  "CONSOLE_",
  "SMTP_",
  "HEAP_",
  "TRACESTATE_",
] as const;

/**
 * Names the project read once and refuses now with a message of their own, saying what replaced them (config/env.ts):
 * known here, so that they are not refused a second time as misspelt, and never suggested for a misspelt one.
 */
export const RETIRED_VARIABLES: ReadonlySet<string> = new Set(["CONSOLE_SIGN_IN_URL"]);

/**
 * Names under those prefixes that other programs read, accepted as they are: the JVM options and debug switch
 * of Kafka's own scripts (bin/kafka-run-class.sh: KAFKA_OPTS, KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
 * KAFKA_LOG4J_OPTS, KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS, KAFKA_DEBUG), set in the shells that run them.
 */
export function readByOtherPrograms(name: string): boolean {
  return /^KAFKA_([A-Z0-9]+_)*OPTS$/.test(name) || name === "KAFKA_DEBUG";
}

/**
 * The variables read outside config/env.ts's own schema and KAFKA_SECURITY_VARIABLES, each where it is read.
 * The unit tests check this list against the code, the README and what the project's scripts set.
 */
export const VARIABLES_READ_ELSEWHERE = [
  // phi/masterKeys.ts, audit/signingKey.ts
  "PHI_MASTER_KEYS",
  "AUDIT_SIGNING_KEY",
  "AUDIT_PREVIOUS_PUBLIC_KEYS",
  // consumers/config.ts and consumers/complianceWatch/watchSettings.ts
  "CONSUMERS",
  "CONSUMER_CONCURRENCY",
  "SMTP_URL",
  "NOTIFICATION_SENDER",
  "COMPLIANCE_MAX_PATIENTS",
  "COMPLIANCE_MAX_PATIENTS_DECRYPTED",
  "COMPLIANCE_MAX_REFUSALS",
  "COMPLIANCE_MAX_FAILED_LOGINS",
  "COMPLIANCE_WINDOW_MINUTES",
  "COMPLIANCE_WORKING_HOURS",
  "COMPLIANCE_TIME_ZONE",
  // bench/: sizes and durations of the benchmarks (BENCH_RUN: the plan bench/kafkaClients.bench.ts hands its runs)
  "BENCH_API_PROCESSES",
  "BENCH_BACKLOG",
  "BENCH_CONNECTIONS",
  "BENCH_EVENTS",
  "BENCH_HISTORY",
  "BENCH_MODES",
  "BENCH_PROFILE",
  "BENCH_QUERY_HISTORY",
  "BENCH_QUERY_SAMPLES",
  "BENCH_QUERY_SECONDS",
  "BENCH_RATE",
  "BENCH_RECORDS",
  "BENCH_ROUNDS",
  "BENCH_ROUTES",
  "BENCH_RUN",
  "BENCH_SECONDS",
  "BENCH_WRITES",
  // chaos/main.ts
  "CHAOS_API_PORT",
  // scripts/kafkaAcls.ts, for `npm run topics -- acls`: each role's Kafka principal(s)
  "KAFKA_ACL_RELAY_PRINCIPAL",
  "KAFKA_ACL_CONNECT_PRINCIPAL",
  "KAFKA_ACL_CONSUMER_PRINCIPAL",
  "KAFKA_ACL_OPERATOR_PRINCIPAL",
  // test/consumers/effectConsumerProcess.ts, as test/consumers/spawnConsumer.ts starts it
  "CONSUMER_NAME",
  // apps/console/console.e2e.test.ts: where to save a screenshot of the console
  "CONSOLE_SCREENSHOT",
] as const;

/**
 * One printable problem per variable of `source` under a project prefix that is not in `known` (empty ones
 * count as unset, as everywhere): its name, never its value (PHI_MASTER_KEY holds a key), and the known name it
 * is closest to, when one is close.
 */
export function unknownVariableProblems(
  source: Record<string, string | undefined>,
  known: ReadonlySet<string>,
): string[] {
  return Object.entries(source)
    .filter(([name, value]) => value !== undefined && value !== "" && isUnknown(name, known))
    .map(([name]) => name)
    .sort()
    .map((name) => {
      const suggestion = closestName(
        name,
        [...known].filter((candidate) => !RETIRED_VARIABLES.has(candidate)),
      );
      const prefix = PROJECT_PREFIXES.find((candidate) => name.startsWith(candidate));
      return suggestion
        ? `${name}: not a variable this project reads; did you mean ${suggestion}?`
        : `${name}: not a variable this project reads (${prefix}* names are its own: README, Configuration)`;
    });
}

function isUnknown(name: string, known: ReadonlySet<string>): boolean {
  if (known.has(name) || readByOtherPrograms(name)) return false;
  return PROJECT_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** The known name fewest edits away, when it is close enough to be a slip: two edits, more in long names. */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance > Math.max(2, Math.floor(candidate.length / 6))) continue;
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Insertions, deletions, substitutions and transpositions of neighbours (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, at(i - 2, j - 2) + 1);
      }
      row[j] = distance;
    }
  }
  return at(a.length, b.length);
}
