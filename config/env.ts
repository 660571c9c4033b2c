// The process configuration, read once from the environment and validated with one message per bad variable.
import { availableParallelism } from "node:os";
import { z } from "zod";
import { EMPTY_ENTRY, eachOnce, listEntries } from "./eachOnce.ts";
import { KAFKA_SECURITY_VARIABLES, type KafkaSecurity, parseKafkaSecurity } from "./kafkaSecurity.ts";
import { NO_TRACESTATE_KEYS, tracestateKeys } from "./tracestateKeys.ts";
import { RETIRED_VARIABLES, unknownVariableProblems, VARIABLES_READ_ELSEWHERE } from "./variables.ts";

const brokerList = z
  .string()
  .transform((value) => value.split(",").map((broker) => broker.trim()))
  .pipe(
    z
      .array(
        z
          .string()
          // Each refusal names its entry: one line per bad entry, which a message alike for all would repeat.
          .min(1, { error: EMPTY_ENTRY, abort: true })
          // Kafka's own listener syntax names the protocol; here KAFKA_SSL and KAFKA_SASL_MECHANISM do.
          .refine((broker) => !/^[a-z_]+:\/\//i.test(broker), {
            error: (issue) =>
              `each broker must be host:port, without a protocol prefix (TLS and SASL come from KAFKA_SSL and KAFKA_SASL_MECHANISM): ${JSON.stringify(issue.input)} has one`,
            abort: true,
          })
          .regex(/^[^\s:]+:\d{1,5}$/, {
            error: (issue) => `each broker must be host:port: ${JSON.stringify(issue.input)} is not`,
            abort: true,
          })
          // Five digits also spell 0 and 65536-99999, which no broker listens on: the client only fails later.
          .refine(
            (broker) => {
              const port = Number(broker.slice(broker.lastIndexOf(":") + 1));
              return port >= 1 && port <= 65_535;
            },
            {
              error: (issue) =>
                `each broker's port must be from 1 to 65535: ${JSON.stringify(issue.input)}'s is not`,
            },
          ),
      )
      .min(1, "list at least one broker as host:port")
      // Host names are the same in any case (localhost:9092, LOCALHOST:9092).
      .superRefine(eachOnce("broker", (broker) => broker.toLowerCase())),
  );

/** A postgres:// URL that parses (a bad port or host is caught here, with the password masked in the message). */
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, "must be a postgres:// connection URL")
  .refine(
    (value) => URL.canParse(value),
    "is not a valid URL: expected postgres://user:password@host:port/database",
  );

/**
 * What is wrong with a Kafka Connect worker's REST URL, if anything: http(s), a host, a port from 1 to 65535 if
 * written, and a path if the worker answers under one. The client appends `/connectors/…` to it, so a query or
 * fragment would swallow that; it sends no user or password, and the URL is printed.
 */
function connectUrlProblem(value: string): string | undefined {
  if (!/^https?:\/\/[^/?#\s]+(?:[/?#]\S*)?$/.test(value)) {
    return "must be the worker's REST URL, like http://localhost:8083";
  }
  if (/[?#]/.test(value)) {
    return "must be the worker's REST URL, without a query or fragment (the client appends /connectors/… to it)";
  }
  if (urlHasCredentials(value)) {
    return "must not hold a user or password (the Connect REST client sends none, and the URL is printed)";
  }
  const authority = value.slice(value.indexOf("//") + 2).split("/", 1)[0] as string;
  // An IPv6 address ends with ']' when no port follows it.
  const port = /:([^:\]]*)$/.exec(authority)?.[1];
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535)) {
    return "its port must be from 1 to 65535";
  }
  if (!URL.canParse(value)) return "must be the worker's REST URL, like http://localhost:8083";
  return undefined;
}

/** A worker's REST URL, its trailing slash dropped: the client appends paths that start with one. */
const connectUrl = z
  .string()
  .superRefine((value, context) => {
    const problem = connectUrlProblem(value);
    if (problem) context.addIssue({ code: "custom", message: problem });
  })
  .transform((value) => value.replace(/\/+$/, ""));

const otlpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL, like http://localhost:4318" });

// gRPC would need a second transport (and its native dependency) for what OTLP over HTTP already carries.
const otlpProtocol = z.enum(["http/protobuf", "http/json"], {
  error:
    "must be http/protobuf or http/json (OTLP over gRPC is not supported: use the collector's HTTP port, 4318)",
});

const otlpHeaders = z
  .string()
  .regex(/^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*$/, "must be key=value pairs, comma-separated");

/**
 * A whole number written in decimal digits, then checked by `range`. `Number()` (z.coerce) would also take
 * "0x1e" (30), "1e1" (10), "0b1" and " " (0): a typo must be an error, not another value.
 */
export function wholeNumber(range: z.ZodNumber, error = "must be a whole number") {
  return z.string().trim().regex(/^\d+$/, { error }).transform(Number).pipe(range);
}

/**
 * Whether a URL carries a user or password (`http://user:password@host`): fetch refuses to send a request to
 * one, and its error quotes the URL whole, so that every URL the platform fetches is refused with one.
 */
export function urlHasCredentials(value: string): boolean {
  return /^[a-z]+:\/\/[^/]*@/i.test(value);
}

/**
 * The shortest JWT_SECRET: HS256 needs a key of at least its hash's size, 256 bits (RFC 7518, section 3.2), and
 * a string of 32 characters is at least 32 bytes in UTF-8.
 */
export const MIN_JWT_SECRET_LENGTH = 32;

/** What bench/api.bench.ts found keeps npm start's one process under 250 MB at no cost in requests (README). */
export const DEFAULT_HEAP_GROWTH_PERCENT = 50;

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  KAFKA_BROKERS: brokerList.optional(),
  /** The client port of the project's own Kafka (node i listens on KAFKA_PORT + 2i, its controller one above). */
  KAFKA_PORT: wholeNumber(
    z
      .number()
      .min(1024, "must be at least 1024")
      .max(65_000, "must be at most 65000 (the nodes take the ports above it)"),
    "must be a port number",
  ).default(9092),
  /** How many KRaft nodes the project's own Kafka runs: 1 (development) or a quorum of 3 or more. */
  KAFKA_BROKER_COUNT: wholeNumber(
    z
      .number()
      .min(1, "must be at least 1")
      .max(9, "must be at most 9")
      .refine(
        (count) => count !== 2,
        "must be 1 or at least 3: two voters lose their quorum with either one",
      ),
    "must be a whole number",
  ).default(1),
  /** Replicas per topic; unset: 3 on a cluster of three or more brokers, else 1 (events/apply-topics.ts). */
  KAFKA_REPLICATION_FACTOR: wholeNumber(
    z.number().min(1, "must be at least 1"),
    "must be a whole number",
  ).optional(),
  /** In-sync replicas an acks=all write needs; unset: 2 with three or more replicas, else 1. */
  KAFKA_MIN_INSYNC_REPLICAS: wholeNumber(
    z.number().min(1, "must be at least 1"),
    "must be a whole number",
  ).optional(),
  /** The port of the project's own Postgres (when DATABASE_URL is unset). */
  POSTGRES_PORT: wholeNumber(
    z.number().min(1024, "must be at least 1024").max(65_535, "must be at most 65535"),
    "must be a port number",
  ).default(() => DEFAULT_POSTGRES_PORT),
  /** The REST port of the project's own Kafka Connect worker (worker i listens on CONNECT_PORT + i). */
  CONNECT_PORT: wholeNumber(
    z.number().min(1024, "must be at least 1024").max(65_000, "must be at most 65000"),
    "must be a port number",
  ).default(8083),
  /** How many distributed Connect workers the project runs in one group (RELAY_MODE=debezium). */
  CONNECT_WORKERS: wholeNumber(
    z.number().min(1, "must be at least 1").max(4, "must be at most 4"),
    "must be a whole number",
  ).default(1),
  /** How the relay (and Debezium's Connect producer) compress record batches; consumers read every kind. */
  /** Kafka's own `compression.type` names; the default is what bench/compression.bench.ts found best (README). */
  KAFKA_COMPRESSION: z.enum(["none", "gzip", "lz4", "zstd"]).default(() => DEFAULT_KAFKA_COMPRESSION),
  /** 0: any free port, which the process prints as it starts (what the tests run services on). */
  PORT: wholeNumber(z.number().max(65_535, "must be at most 65535"), "must be a port number").default(3000),
  /** How many processes npm start serves the HTTP API with (beside one relay and the consumers). */
  API_PROCESSES: wholeNumber(
    z.number().min(1, "must be at least 1").max(64, "must be at most 64"),
    "must be a whole number",
  ).default(() => availableParallelism()),
  /**
   * How far V8 lets a process's old generation grow past what its last full collection kept before it collects
   * again, in percent (process/heapGrowth.ts); 0 leaves it to V8, which lets a busy process grow up to fourfold.
   */
  HEAP_GROWTH_PERCENT: wholeNumber(
    z.number().max(300, "must be at most 300"),
    "must be a whole number of percent",
  ).default(() => DEFAULT_HEAP_GROWTH_PERCENT),
  RELAY_MODE: z.enum(["polling", "debezium", "off"]).default("polling"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** `production`: no development key or token secret is made up in place of a missing one (config/developmentKeys.ts). */
  // Only `production` is told apart, so any other spelling of it ("Production", "prod", "staging") would run a
  // deployment on made-up keys and local services: the values Node's tools set are the only others taken.
  NODE_ENV: z
    .string()
    .refine(
      (value) => ["production", "development", "test"].includes(value),
      "must be production, development or test (any other value would make up development keys as outside production)",
    )
    .optional(),
  // Bearer tokens are HS256 under JWT_SECRET, or signed by a key of JWT_JWKS_URL (e.g. Supabase's); with
  // neither, outside production only, the local stack makes up a development secret (apps/http/signingKeys.ts).
  JWT_SECRET: z
    .string()
    .min(MIN_JWT_SECRET_LENGTH, {
      error: `must be at least ${MIN_JWT_SECRET_LENGTH} characters (256 bits for HS256)`,
      abort: true,
    })
    // Blanks make up the length without being a secret; one at either end is what a copy adds (the line break
    // that ends a file, a space from a terminal) and the tokens' issuer does not sign with.
    .refine((secret) => secret.trim() !== "", { error: "is only blanks", abort: true })
    .refine(
      (secret) => secret.trim() === secret,
      "starts or ends with a blank (a space, tab or line break), as a copy adds: tokens signed with the secret meant would not verify",
    )
    .optional(),
  JWT_JWKS_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL of a JSON Web Key Set" })
    .refine((value) => !urlHasCredentials(value), "must not hold a user or password (a key set is public)")
    .optional(),
  /**
   * The OpenID Connect issuer the auditors' console signs in with (authorization code flow with PKCE); its
   * discovery document names the endpoints (apps/console/provider.ts). Set with CONSOLE_OIDC_CLIENT_ID.
   */
  CONSOLE_OIDC_ISSUER: z
    .url({
      protocol: /^https?$/,
      error: "must be the issuer's http(s) URL, like https://idp.example.org/realms/x",
    })
    // An issuer identifier has neither (OpenID Connect Discovery 1.0, section 2).
    .refine((value) => !/[?#]/.test(value), "must be the issuer's URL, without a query or fragment")
    .refine(
      (value) => !urlHasCredentials(value),
      "must not hold a user or password (its discovery document is public)",
    )
    .optional(),
  /** The console's client id at that issuer: a public client, with /console as its redirect URI. */
  CONSOLE_OIDC_CLIENT_ID: z.string().trim().min(1, "must name the console's client").optional(),
  /** When set, a token must carry exactly this `iss` (Supabase: https://<project>.supabase.co/auth/v1). */
  JWT_ISSUER: z.string().trim().min(1, "must name the issuer").optional(),
  /** When set, a token's `aud` must include one of these, comma-separated (Supabase: authenticated). */
  JWT_AUDIENCE: z
    .string()
    .transform(listEntries)
    .pipe(
      z
        .array(z.string().min(1, EMPTY_ENTRY))
        .min(1, "list at least one audience")
        .superRefine(eachOnce("audience")),
    )
    .optional(),
  /** The longest a bearer token may live, iat to exp, in hours (apps/http/auth.ts); longer ones are refused. */
  JWT_MAX_LIFETIME_HOURS: wholeNumber(
    z.number().min(1, "must be at least 1").max(8_760, "must be at most 8760 (a year)"),
    "must be a whole number of hours",
  ).default(() => DEFAULT_JWT_MAX_LIFETIME_HOURS),
  /** An existing Kafka Connect worker's REST URL for RELAY_MODE=debezium; unset, the project runs its own. */
  KAFKA_CONNECT_URL: connectUrl.optional(),
  /**
   * Where the Connect worker reads the connector's secrets (the database password) through its file config
   * provider, as the worker sees the path; unset, a file under .data/ for a worker on this machine.
   */
  CONNECT_SECRETS_FILE: z
    .string()
    .regex(/^\//, "must be an absolute path, as the Connect worker sees it")
    .optional(),
  /** The database as the Connect worker reaches it, when that differs from DATABASE_URL (a worker in a container). */
  CONNECT_DATABASE_URL: postgresUrl.optional(),
  /** How long before an appointment its reminder is due (appointment.reminder). */
  REMINDER_HOURS_BEFORE: wholeNumber(
    z.number().min(1, "must be at least 1").max(168, "must be at most 168 (a week)"),
  ).default(24),
  /**
   * How long the outbox keeps its history before `npm run audit:archive` may move it out to archive files;
   * unset means DEFAULT_AUDIT_RETENTION_DAYS (six years). Only the archive command reads it.
   */
  /** How many GET /audit/verify may run at once in each API process (each holds one of its pool's connections); more are answered 503. */
  AUDIT_VERIFY_CONCURRENCY: wholeNumber(
    z
      .number()
      .min(1, "must be at least 1")
      .max(8, "must be at most 8 (each verification holds one of the pool's 10 connections)"),
    "must be a whole number",
  ).default(2),
  AUDIT_RETENTION_DAYS: wholeNumber(
    z.number().min(1, "must be at least 1 day").max(36_525, "must be at most 36525 days (100 years)"),
    "must be a whole number of days",
  ).optional(),

  /**
   * The keys of the tracestate members kept of a caller's (an HTTP request's) or a record's trace context,
   * comma-separated; unset, none: what is kept goes into the outbox and every record's headers for good.
   */
  TRACESTATE_KEYS: tracestateKeys.default(() => NO_TRACESTATE_KEYS),

  // OpenTelemetry's standard variables (observability/tracing.ts). Only those this project reads are checked;
  // the exporter reads the endpoint and headers itself, as the specification says.
  /** Where spans go (OTLP over HTTP, /v1/traces appended); unset, nothing is exported and the tracer is a no-op. */
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  /** http/protobuf unless set. */
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  /** `key=value` pairs, comma-separated (an API key, often): never printed. */
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeaders.optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: otlpHeaders.optional(),
  OTEL_SDK_DISABLED: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(["true", "false"], { error: "must be true or false" }))
    .transform((value) => value === "true")
    .optional(),
  /** otlp unless set; none exports nothing. */
  OTEL_TRACES_EXPORTER: z.enum(["otlp", "none"], { error: "must be otlp or none" }).optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).optional(),
  OTEL_TRACES_SAMPLER: z
    .enum(
      [
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
      ],
      {
        error:
          "must be one of always_on, always_off, traceidratio or parentbased_(always_on|always_off|traceidratio)",
      },
    )
    .optional(),
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .trim()
    .regex(/^(0|1)(\.\d+)?$|^\.\d+$/, "must be a number from 0 to 1")
    .transform(Number)
    .pipe(z.number().max(1, "must be a number from 0 to 1"))
    .optional(),
});

/** POSTGRES_PORT unless set: 5432 is often taken by a server of the machine's own. */
export const DEFAULT_POSTGRES_PORT = 5433;

/**
 * How long a bearer token may live unless JWT_MAX_LIFETIME_HOURS says otherwise: identity providers' access
 * tokens live minutes to hours (Supabase's an hour, Auth0's a day by default); a token good for years, stolen
 * once, is good for years.
 */
export const DEFAULT_JWT_MAX_LIFETIME_HOURS = 24;

/** KAFKA_COMPRESSION unless set: LZ4, the cheapest on CPU of the codecs that halve the bytes (README, "Compression"). */
export const DEFAULT_KAFKA_COMPRESSION = "lz4" as const;

/** Six years (2192 days, leap days included): the history's retention unless AUDIT_RETENTION_DAYS says otherwise. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 2192;

/** The variables, parsed; `kafkaSecurity` is what the KAFKA_SSL* and KAFKA_SASL_* variables make of them. */
export type Env = z.infer<typeof envSchema> & { kafkaSecurity: KafkaSecurity };

export class ConfigError extends Error {
  declare readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "ConfigError";
    // The operator's to fix, not a fault of the code: a process that reads its configuration while loading
    // its modules dies of it uncaught, and Node then prints the error's stack and own fields. Both are the list.
    Object.defineProperties(this, {
      problems: { value: problems, enumerable: false },
      stack: { value: `${this.name}: ${this.message}`, writable: true, configurable: true },
    });
  }
}

/**
 * The value of every read, or one ConfigError with the problems of all that failed: a start reports its whole
 * configuration's problems at once, not the first read's. Any other error is thrown as it is.
 */
export function readEach<Reads extends Record<string, () => unknown>>(
  reads: Reads,
): { [Name in keyof Reads]: ReturnType<Reads[Name]> } {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, read] of Object.entries(reads)) {
    try {
      values[name] = read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as { [Name in keyof Reads]: ReturnType<Reads[Name]> };
}

/** Secrets are never printed, not even when wrong: the message goes to logs and terminals. */
const SECRET_VARIABLES = new Set([
  "JWT_SECRET",
  "KAFKA_SASL_PASSWORD",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
]);

function shown(variable: string, value: string | undefined): string {
  if (SECRET_VARIABLES.has(variable) && value !== undefined) return `(${value.length} characters, hidden)`;
  return JSON.stringify(value === undefined ? value : withoutPassword(value));
}

/**
 * A connection string as it may be printed: the password in its user info (`user:password@`) or in a
 * `password=` parameter masked. Works on malformed ones too (those are the ones printed in errors): a
 * password holding an unescaped `@` is masked up to the last `@`.
 */
export function withoutPassword(value: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value)?.[0] ?? "";
  // The user is what comes before the first `:`, slashes and all: a scheme mistyped (`postgres//`, `postgres:/`)
  // is then part of it, and the password after it masked still.
  const rest = value.slice(scheme.length).replace(/^([^:@]*):[\s\S]*@/, "$1:***@");
  return `${scheme}${rest}`.replace(/(password\s*=\s*)[^&\s]*/gi, "$1***");
}

/**
 * Every variable the project reads, and those it refuses by a message of their own: a name under one of its prefixes
 * (config/variables.ts) must be one of these.
 */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set([
  ...Object.keys(envSchema.shape),
  ...KAFKA_SECURITY_VARIABLES,
  ...VARIABLES_READ_ELSEWHERE,
  ...RETIRED_VARIABLES,
]);

/**
 * Parses the environment; empty strings count as unset so that `FOO= npm start` means "use the default". A
 * variable under one of the project's prefixes that it does not read (a misspelt one) is refused with the rest.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const result = envSchema.safeParse(present);
  const problems = unknownVariableProblems(source, KNOWN_VARIABLES);
  if (!result.success) {
    problems.push(
      ...result.error.issues.map((issue) => {
        const variable = String(issue.path[0]);
        return `${variable}=${shown(variable, source[variable])}: ${issue.message}`;
      }),
    );
  }
  // Two sources of signing keys would leave it to chance which tokens are accepted.
  if (result.success && result.data.JWT_SECRET && result.data.JWT_JWKS_URL) {
    problems.push(
      `JWT_JWKS_URL=${shown("JWT_JWKS_URL", source.JWT_JWKS_URL)}: set either JWT_SECRET or JWT_JWKS_URL, not both`,
    );
  }
  problems.push(...consoleSignInProblems(present));
  const kafka = loadKafkaSecurity(source);
  problems.push(...kafka.problems);
  if (result.success && !result.data.KAFKA_BROKERS && (kafka.security.tls || kafka.security.sasl)) {
    problems.push(
      "KAFKA_BROKERS=undefined: must name the brokers when KAFKA_SSL or KAFKA_SASL_MECHANISM is set (the local broker speaks plaintext only)",
    );
  }
  if (result.success && problems.length === 0) return { ...result.data, kafkaSecurity: kafka.security };
  // Each once: a list's entries are refused one by one, and two empty ones are told alike.
  throw new ConfigError([...new Set(problems)]);
}

/**
 * The console's sign-in is configured whole or not at all: an issuer without a client id (or the reverse) would
 * leave only pasted tokens, and the implicit flow's CONSOLE_SIGN_IN_URL is not read any more, so a start that
 * sets it is refused rather than left without the sign-in it asked for.
 */
function consoleSignInProblems(present: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  if (present.CONSOLE_SIGN_IN_URL !== undefined) {
    problems.push(
      `CONSOLE_SIGN_IN_URL=${shown("CONSOLE_SIGN_IN_URL", present.CONSOLE_SIGN_IN_URL)}: no longer read (the implicit flow, which returned the token in the address, is gone): set CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID, and the console signs in by the authorization code flow with PKCE`,
    );
  }
  const pair = ["CONSOLE_OIDC_ISSUER", "CONSOLE_OIDC_CLIENT_ID"] as const;
  for (const [variable, other] of [pair, [pair[1], pair[0]]]) {
    if (present[variable] === undefined && present[other] !== undefined) {
      problems.push(
        `${variable}=undefined: must be set with ${other} (the console signs in with both, or neither)`,
      );
    }
  }
  return problems;
}

/**
 * The Kafka security settings alone, with their problems as printable lines: what createKafka applies to every
 * client when its caller passes none (kafka/client.ts).
 */
export function loadKafkaSecurity(source: NodeJS.ProcessEnv = process.env): {
  security: KafkaSecurity;
  problems: string[];
} {
  const { security, problems } = parseKafkaSecurity(source);
  return {
    security,
    problems: problems.map(
      ({ variable, message }) => `${variable}=${shown(variable, source[variable] || undefined)}: ${message}`,
    ),
  };
}

const stackEnvSchema = envSchema.pick({
  POSTGRES_PORT: true,
  KAFKA_PORT: true,
  KAFKA_BROKER_COUNT: true,
  CONNECT_PORT: true,
  CONNECT_WORKERS: true,
});
export type StackEnv = z.infer<typeof stackEnvSchema>;

/**
 * Only the variables that shape the project's own Postgres, Kafka and Connect (stack/), checked as loadEnv checks
 * them: the stack commands and the test setup run without the rest of the platform's configuration. Misspelt
 * names are refused here too, whichever variable they meant. The stack's modules read this when they start or
 * find a local service, not as they load: a command refuses a bad or misspelt variable through loadEnv, in the
 * frame's one list of problems, and `stack/cli.ts` through its own call before it does anything.
 */
export function loadStackEnv(source: NodeJS.ProcessEnv = process.env): StackEnv {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const result = stackEnvSchema.safeParse(present);
  const problems = unknownVariableProblems(source, KNOWN_VARIABLES);
  if (result.success && problems.length === 0) return result.data;
  if (!result.success) {
    problems.push(
      ...result.error.issues.map((issue) => {
        const variable = String(issue.path[0]);
        return `${variable}=${shown(variable, source[variable])}: ${issue.message}`;
      }),
    );
  }
  throw new ConfigError(problems);
}

const connectUrlSchema = envSchema.pick({ KAFKA_CONNECT_URL: true });

/**
 * KAFKA_CONNECT_URL alone, checked as loadEnv checks it, for the code that finds the Connect worker without the
 * rest of the configuration at hand (debezium/connector.ts); undefined when unset or empty.
 */
export function loadConnectUrl(source: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = source.KAFKA_CONNECT_URL;
  const result = connectUrlSchema.safeParse(value ? { KAFKA_CONNECT_URL: value } : {});
  if (result.success) return result.data.KAFKA_CONNECT_URL;
  throw new ConfigError(
    result.error.issues.map(
      (issue) => `KAFKA_CONNECT_URL=${shown("KAFKA_CONNECT_URL", value)}: ${issue.message}`,
    ),
  );
}
