// A misspelt variable is refused, not ignored: a name under one of the project's prefixes that no code reads
// (PHI_MASTER_KEY for PHI_MASTER_KEYS) stops loadEnv and loadStackEnv with its name and the one it is closest
// to, every such name at once, its value never printed. Other programs' names are let through: Kafka's own
// scripts' KAFKA_*_OPTS, the OpenTelemetry SDK's OTEL_*. And nothing the project reads, documents or sets
// in its own scripts is refused.
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { consumersVariables } from "../consumers/config.ts";
import { configProblems } from "../test/configProblems.ts";
import { KNOWN_VARIABLES, loadEnv, loadStackEnv } from "./env.ts";
import { editDistance, PROJECT_PREFIXES, unknownVariableProblems } from "./variables.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

const problemsOf = configProblems<Record<string, string>>;

/** The names of `names` the check would refuse, were each set. */
const refused = (names: Iterable<string>) =>
  unknownVariableProblems(Object.fromEntries([...names].map((name) => [name, "set"])), KNOWN_VARIABLES);

const underProjectPrefix = (name: string) => PROJECT_PREFIXES.some((prefix) => name.startsWith(prefix));

async function trackedFiles(directory = root): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (!["node_modules", ".data", ".git"].includes(entry.name)) files.push(...(await trackedFiles(path)));
    } else files.push(relative(root, path));
  }
  return files;
}

describe("a variable under the project's prefixes that it does not read", () => {
  it("is refused with the name it is closest to, its value never printed", () => {
    const key = "prod:c2VjcmV0LWtleS1ieXRlcy10aGF0LW11c3Qtbm90LWxlYWs=";
    for (const load of [loadEnv, loadStackEnv]) {
      const problems = problemsOf(load, { PHI_MASTER_KEY: key });
      expect(problems).toEqual([
        "PHI_MASTER_KEY: not a variable this project reads; did you mean PHI_MASTER_KEYS?",
      ]);
      expect(() => load({ PHI_MASTER_KEY: key })).toThrow(/did you mean PHI_MASTER_KEYS\?/);
      expect(() => load({ PHI_MASTER_KEY: key })).not.toThrow("c2VjcmV0");
    }
  });

  it("is refused for each slip the review found, with the variable meant", () => {
    expect(problemsOf(loadEnv, { KAFKA_SASL_MECHANISMS: "scram-sha-512" })).toEqual([
      "KAFKA_SASL_MECHANISMS: not a variable this project reads; did you mean KAFKA_SASL_MECHANISM?",
    ]);
    expect(problemsOf(loadEnv, { AUDIT_RETENTION_DAY: "3650" })).toEqual([
      "AUDIT_RETENTION_DAY: not a variable this project reads; did you mean AUDIT_RETENTION_DAYS?",
    ]);
    expect(problemsOf(loadEnv, { JWT_JWKS_URI: "https://issuer.example.org/jwks.json" })).toEqual([
      "JWT_JWKS_URI: not a variable this project reads; did you mean JWT_JWKS_URL?",
    ]);
  });

  it("is refused under TRACESTATE_: a misspelt TRACESTATE_KEYS would keep no member of a tracestate", () => {
    for (const load of [loadEnv, loadStackEnv]) {
      expect(problemsOf(load, { TRACESTATE_KEY: "congo" })).toEqual([
        "TRACESTATE_KEY: not a variable this project reads; did you mean TRACESTATE_KEYS?",
      ]);
    }
  });

  it("is refused under CONSOLE_, SMTP_ and HEAP_ too: the console's sign-in, e-mail, the heap", () => {
    const issuer = "https://login.example.org/realms/audit";
    for (const load of [loadEnv, loadStackEnv]) {
      expect(
        problemsOf(load, { CONSOLE_OIDC_ISSUR: issuer, CONSOLE_OIDC_CLIENT_ID: "audit-console" }),
      ).toEqual(
        expect.arrayContaining([
          "CONSOLE_OIDC_ISSUR: not a variable this project reads; did you mean CONSOLE_OIDC_ISSUER?",
        ]),
      );
      expect(problemsOf(load, { SMTP_URI: "smtp://mail.example.org:587" })).toEqual([
        "SMTP_URI: not a variable this project reads; did you mean SMTP_URL?",
      ]);
      expect(problemsOf(load, { HEAP_GROWTH_PERCENTAGE: "50" })).toEqual([
        "HEAP_GROWTH_PERCENTAGE: not a variable this project reads; did you mean HEAP_GROWTH_PERCENT?",
      ]);
    }
    expect(
      problemsOf(loadEnv, { CONSOLE_OIDC_CLIENTID: "audit-console", CONSOLE_OIDC_ISSUER: issuer }),
    ).toEqual([
      "CONSOLE_OIDC_CLIENTID: not a variable this project reads; did you mean CONSOLE_OIDC_CLIENT_ID?",
      "CONSOLE_OIDC_CLIENT_ID=undefined: must be set with CONSOLE_OIDC_ISSUER (the console signs in with both, or neither)",
    ]);
    expect(problemsOf(loadEnv, { SMTP_HOST: "mail.example.org", CONSOLE_THEME: "dark" })).toEqual([
      "CONSOLE_THEME: not a variable this project reads (CONSOLE_* names are its own: README, Configuration)",
      "SMTP_HOST: not a variable this project reads (SMTP_* names are its own: README, Configuration)",
    ]);
  });

  it("is refused once when retired, by the message that names what replaced it, and never suggested", () => {
    const problems = problemsOf(loadEnv, { CONSOLE_SIGN_IN_URL: "https://login.example.org/authorize" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CONSOLE_SIGN_IN_URL=.*no longer read .*CONSOLE_OIDC_ISSUER/);
    expect(problemsOf(loadEnv, { CONSOLE_SIGN_IN_URI: "https://login.example.org/authorize" })).toEqual([
      "CONSOLE_SIGN_IN_URI: not a variable this project reads (CONSOLE_* names are its own: README, Configuration)",
    ]);
  });

  it("is refused under KAFKA_ without a suggestion when no known name is close", () => {
    expect(problemsOf(loadEnv, { KAFKA_TOPIC_PREFIX: "prod." })).toEqual([
      "KAFKA_TOPIC_PREFIX: not a variable this project reads (KAFKA_* names are its own: README, Configuration)",
    ]);
  });

  it("is listed with every other one and every bad value, in one error", () => {
    const problems = problemsOf(loadEnv, {
      RELAY_MOD: "debezium",
      CONSUMER_CONCURENCY: "8",
      CONNECT_WORKER: "2",
      KAFKA_SASL_MECHANISMS: "plain",
      PORT: "http",
    });
    expect(problems).toEqual([
      "CONNECT_WORKER: not a variable this project reads; did you mean CONNECT_WORKERS?",
      "CONSUMER_CONCURENCY: not a variable this project reads; did you mean CONSUMER_CONCURRENCY?",
      "KAFKA_SASL_MECHANISMS: not a variable this project reads; did you mean KAFKA_SASL_MECHANISM?",
      "RELAY_MOD: not a variable this project reads; did you mean RELAY_MODE?",
      'PORT="http": must be a port number',
    ]);
  });

  it("counts as unset when empty, like every variable", () => {
    expect(problemsOf(loadEnv, { PHI_MASTER_KEY: "" })).toEqual([]);
  });
});

describe("names that are not the project's", () => {
  it("are accepted: Kafka's scripts' options, the OpenTelemetry SDK's, other programs' (HTTP_PROXY, API_KEY…)", () => {
    const others = {
      KAFKA_HEAP_OPTS: "-Xmx1G",
      KAFKA_OPTS: "-Djava.security.auth.login.config=/etc/kafka/jaas.conf",
      KAFKA_JVM_PERFORMANCE_OPTS: "-server",
      KAFKA_LOG4J_OPTS: "-Dlog4j2.configurationFile=/etc/kafka/log4j2.yaml",
      KAFKA_GC_LOG_OPTS: "-Xlog:gc",
      KAFKA_JMX_OPTS: "-Dcom.sun.management.jmxremote",
      KAFKA_DEBUG: "y",
      OTEL_SERVICE_NAME: "patient-api",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod",
      OTEL_BSP_SCHEDULE_DELAY: "1000",
      OTEL_EXPORTER_OTLP_TIMEOUT: "5000",
      KAFKAJS_NO_PARTITIONER_WARNING: "1",
      HTTP_PROXY: "http://proxy.example.org:3128",
      API_KEY: "another-tool's",
      OIDC_ISSUER: "https://login.example.org",
      DB_HOST: "db.example.org",
      LOG_FORMAT: "json",
      CHROMIUM_FLAGS: "--headless",
      NODE_OPTIONS: "--max-old-space-size=512",
      PGSSLMODE: "require",
      POSTGRES_PASSWORD: "postgres",
      JAVA_HOME: "/usr/lib/jvm/java-17",
      NODE_ENV: "production",
      PATH: "/usr/bin",
    };
    expect(problemsOf(loadEnv, others)).toEqual([]);
    expect(problemsOf(loadStackEnv, others)).toEqual([]);
  });
});

describe("every variable the project reads, documents or sets", () => {
  it("is known: the consumers' settings", () => {
    expect(consumersVariables).toContain("COMPLIANCE_TIME_ZONE");
    expect(refused(consumersVariables)).toEqual([]);
  });

  it("is known: every name the code reads from the environment under a project prefix", async () => {
    const read = new Set<string>();
    const reads = [
      /process\.env\.([A-Z][A-Z0-9_]*)/g,
      /process\.env\[["']([A-Z][A-Z0-9_]*)["']\]/g,
      /\b(?:env|source)\.([A-Z][A-Z0-9_]*)\b/g,
      /\brequired\("([A-Z][A-Z0-9_]*)"\)/g,
    ];
    for (const file of (await trackedFiles()).filter((path) => /\.(ts|cjs)$/.test(path))) {
      const text = await readFile(join(root, file), "utf8");
      for (const pattern of reads) for (const match of text.matchAll(pattern)) read.add(match[1] as string);
    }
    expect([...read]).toEqual(expect.arrayContaining(["PHI_MASTER_KEYS", "BENCH_RUN", "CHAOS_API_PORT"]));
    expect(refused([...read].filter(underProjectPrefix))).toEqual([]);
  });

  it("is known: every name the README and docs/ write about", async () => {
    const documents = [
      "README.md",
      ...(await trackedFiles()).filter((path) => /^(docs|apps)\/.*\.md$/.test(path)),
    ];
    const documented = new Set<string>();
    for (const document of documents) {
      const text = await readFile(join(root, document), "utf8");
      for (const match of text.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)`/g))
        documented.add(match[1] as string);
    }
    expect([...documented]).toEqual(
      expect.arrayContaining([
        "PHI_MASTER_KEYS",
        "KAFKA_SASL_MECHANISM",
        "AUDIT_RETENTION_DAYS",
        "CONSUMERS",
      ]),
    );
    expect(refused([...documented].filter(underProjectPrefix))).toEqual([]);
  });

  it("is in the README, but for the benchmarks' (each bench's usage lists them) and a test's child's", async () => {
    const readme = await readFile(join(root, "README.md"), "utf8");
    const written = new Set(
      [...readme.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)`/g)].map((match) => match[1]),
    );
    const ownedElsewhere = (name: string) => name.startsWith("BENCH_") || name === "CONSUMER_NAME";
    expect([...KNOWN_VARIABLES].filter((name) => !written.has(name) && !ownedElsewhere(name))).toEqual([]);
    expect(written).toContain("CONSOLE_SCREENSHOT");
  });

  it("is known: what package.json's scripts, CI and the compose file's platform and relay set", async () => {
    const set = new Set<string>();
    const packageJson = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const ci = await readFile(join(root, ".ci/run"), "utf8");
    for (const text of [...Object.values(packageJson.scripts), ci]) {
      for (const match of text.matchAll(/\b([A-Z][A-Z0-9_]*)=/g)) set.add(match[1] as string);
    }
    // The compose file's services that run the project's code (the others are Kafka's, Connect's, their own).
    let service = "";
    for (const line of (await readFile(join(root, "docker-compose.yml"), "utf8")).split("\n")) {
      service = /^ {2}([a-z-]+):/.exec(line)?.[1] ?? service;
      const variable = /^ {6}([A-Z][A-Z0-9_]*):/.exec(line)?.[1];
      if (variable && ["platform", "relay"].includes(service)) set.add(variable);
    }
    expect([...set]).toEqual(
      expect.arrayContaining(["KAFKA_BROKER_COUNT", "CONNECT_WORKERS", "PHI_MASTER_KEYS"]),
    );
    expect(refused([...set].filter(underProjectPrefix))).toEqual([]);
  });
});

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and swapped neighbours", () => {
    expect(editDistance("PHI_MASTER_KEY", "PHI_MASTER_KEYS")).toBe(1);
    expect(editDistance("RELAY_MDOE", "RELAY_MODE")).toBe(1);
    expect(editDistance("KAFKA_SSL_CA", "KAFKA_SSL_CA_FILE")).toBe(5);
    expect(editDistance("", "ABC")).toBe(3);
    expect(editDistance("SAME", "SAME")).toBe(0);
  });
});
