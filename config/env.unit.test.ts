import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { configProblems } from "../test/configProblems.ts";
import { EMPTY_ENTRY } from "./eachOnce.ts";
import { ConfigError, loadConnectUrl, loadEnv, loadStackEnv, withoutPassword } from "./env.ts";

describe("loadEnv", () => {
  it("applies the defaults and leaves the services unset when nothing is configured", () => {
    expect(loadEnv({})).toEqual({
      PORT: 3000,
      RELAY_MODE: "polling",
      LOG_LEVEL: "info",
      REMINDER_HOURS_BEFORE: 24,
      JWT_MAX_LIFETIME_HOURS: 24,
      AUDIT_VERIFY_CONCURRENCY: 2,
      KAFKA_COMPRESSION: "lz4",
      kafkaSecurity: {},
      API_PROCESSES: availableParallelism(),
      HEAP_GROWTH_PERCENT: 50,
      POSTGRES_PORT: 5433,
      KAFKA_PORT: 9092,
      KAFKA_BROKER_COUNT: 1,
      CONNECT_PORT: 8083,
      CONNECT_WORKERS: 1,
      TRACESTATE_KEYS: new Set(),
    });
  });

  it("splits KAFKA_BROKERS on commas and reads the rest", () => {
    expect(
      loadEnv({
        DATABASE_URL: "postgres://u:p@db:5432/x",
        KAFKA_BROKERS: "a:9092, b:9093",
        KAFKA_COMPRESSION: "zstd",
        PORT: "8080",
        RELAY_MODE: "off",
        LOG_LEVEL: "debug",
        JWT_JWKS_URL: "https://project.supabase.co/auth/v1/.well-known/jwks.json",
        REMINDER_HOURS_BEFORE: "2",
        JWT_MAX_LIFETIME_HOURS: "168",
      }),
    ).toEqual({
      DATABASE_URL: "postgres://u:p@db:5432/x",
      KAFKA_BROKERS: ["a:9092", "b:9093"],
      PORT: 8080,
      RELAY_MODE: "off",
      LOG_LEVEL: "debug",
      JWT_JWKS_URL: "https://project.supabase.co/auth/v1/.well-known/jwks.json",
      REMINDER_HOURS_BEFORE: 2,
      JWT_MAX_LIFETIME_HOURS: 168,
      AUDIT_VERIFY_CONCURRENCY: 2,
      KAFKA_COMPRESSION: "zstd",
      kafkaSecurity: {},
      API_PROCESSES: availableParallelism(),
      HEAP_GROWTH_PERCENT: 50,
      POSTGRES_PORT: 5433,
      KAFKA_PORT: 9092,
      KAFKA_BROKER_COUNT: 1,
      CONNECT_PORT: 8083,
      CONNECT_WORKERS: 1,
      TRACESTATE_KEYS: new Set(),
    });
  });

  it("treats empty variables as unset", () => {
    expect(loadEnv({ DATABASE_URL: "", PORT: "", JWT_SECRET: "" })).toEqual({
      PORT: 3000,
      RELAY_MODE: "polling",
      LOG_LEVEL: "info",
      REMINDER_HOURS_BEFORE: 24,
      JWT_MAX_LIFETIME_HOURS: 24,
      AUDIT_VERIFY_CONCURRENCY: 2,
      KAFKA_COMPRESSION: "lz4",
      kafkaSecurity: {},
      API_PROCESSES: availableParallelism(),
      HEAP_GROWTH_PERCENT: 50,
      POSTGRES_PORT: 5433,
      KAFKA_PORT: 9092,
      KAFKA_BROKER_COUNT: 1,
      CONNECT_PORT: 8083,
      CONNECT_WORKERS: 1,
      TRACESTATE_KEYS: new Set(),
    });
  });

  it("names every bad variable, with its value, in one error", () => {
    const bad = {
      DATABASE_URL: "mysql://x",
      KAFKA_BROKERS: "localhost",
      PORT: "http",
      RELAY_MODE: "kafka",
      JWT_JWKS_URL: "ftp://keys",
      REMINDER_HOURS_BEFORE: "0",
      KAFKA_COMPRESSION: "snappy",
    };
    let error: unknown;
    try {
      loadEnv(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(7);
    for (const [name, value] of Object.entries(bad)) {
      expect(problems.some((problem) => problem.startsWith(`${name}=${JSON.stringify(value)}:`))).toBe(true);
    }
  });

  it("refuses a KAFKA_BROKERS port no broker can listen on, naming it", () => {
    expect(loadEnv({ KAFKA_BROKERS: "a:1,b:65535" }).KAFKA_BROKERS).toEqual(["a:1", "b:65535"]);
    for (const value of ["localhost:99999", "localhost:0", "a:9092,b:65536", "localhost:00000"]) {
      expect(() => loadEnv({ KAFKA_BROKERS: value })).toThrow(
        `KAFKA_BROKERS="${value}": each broker's port must be from 1 to 65535: "${value.split(",").at(-1)}"'s is not`,
      );
    }
  });

  it("refuses each bad KAFKA_BROKERS entry once, naming it, and an empty one as the slip it is", () => {
    expect(configProblems(loadEnv, { KAFKA_BROKERS: "localhost:9643,,x,y, ," })).toEqual([
      `KAFKA_BROKERS="localhost:9643,,x,y, ,": ${EMPTY_ENTRY}`,
      'KAFKA_BROKERS="localhost:9643,,x,y, ,": each broker must be host:port: "x" is not',
      'KAFKA_BROKERS="localhost:9643,,x,y, ,": each broker must be host:port: "y" is not',
    ]);
  });

  it("refuses a KAFKA_BROKERS entry listed more than once, in any case, naming it", () => {
    expect(configProblems(loadEnv, { KAFKA_BROKERS: "h:1,h:1" })).toEqual([
      'KAFKA_BROKERS="h:1,h:1": broker "h:1" is listed more than once',
    ]);
    expect(configProblems(loadEnv, { KAFKA_BROKERS: "a:9092, b:9092 ,A:9092,b:9092,b:9092" })).toEqual([
      'KAFKA_BROKERS="a:9092, b:9092 ,A:9092,b:9092,b:9092": broker "A:9092" is listed more than once',
      'KAFKA_BROKERS="a:9092, b:9092 ,A:9092,b:9092,b:9092": broker "b:9092" is listed more than once',
    ]);
    expect(loadEnv({ KAFKA_BROKERS: "h:9092,h:9093" }).KAFKA_BROKERS).toEqual(["h:9092", "h:9093"]);
  });

  it("reads API_PROCESSES as a whole number from 1 to 64, naming it when it is not", () => {
    expect(loadEnv({ API_PROCESSES: "3" }).API_PROCESSES).toBe(3);
    for (const [value, message] of [
      ["0", "must be at least 1"],
      ["65", "must be at most 64"],
      ["1.5", "must be a whole number"],
      ["two", "must be a whole number"],
    ]) {
      expect(() => loadEnv({ API_PROCESSES: value })).toThrow(`API_PROCESSES="${value}": ${message}`);
    }
  });

  it("reads HEAP_GROWTH_PERCENT as a whole number from 0 to 300, naming it when it is not", () => {
    expect(loadEnv({ HEAP_GROWTH_PERCENT: "0" }).HEAP_GROWTH_PERCENT).toBe(0);
    expect(loadEnv({ HEAP_GROWTH_PERCENT: "120" }).HEAP_GROWTH_PERCENT).toBe(120);
    for (const [value, message] of [
      ["301", "must be at most 300"],
      ["-5", "must be a whole number of percent"],
      ["50%", "must be a whole number of percent"],
    ]) {
      expect(() => loadEnv({ HEAP_GROWTH_PERCENT: value })).toThrow(
        `HEAP_GROWTH_PERCENT="${value}": ${message}`,
      );
    }
  });

  it("reads every number in decimal digits only: hexadecimal, exponents and blanks are errors, not other values", () => {
    // Number() reads "0x1e" as 30, "1e1" as 10, "0b1" as 1 and " " as 0: a typo would become a setting.
    const numeric = [
      "KAFKA_PORT",
      "KAFKA_BROKER_COUNT",
      "KAFKA_REPLICATION_FACTOR",
      "KAFKA_MIN_INSYNC_REPLICAS",
      "POSTGRES_PORT",
      "CONNECT_PORT",
      "CONNECT_WORKERS",
      "PORT",
      "API_PROCESSES",
      "HEAP_GROWTH_PERCENT",
      "REMINDER_HOURS_BEFORE",
      "AUDIT_VERIFY_CONCURRENCY",
      "AUDIT_RETENTION_DAYS",
    ];
    for (const name of numeric) {
      for (const value of ["0x1e", "1e1", "0b1", " ", "+3", "-0", "3.0", "١٢"]) {
        expect(() => loadEnv({ [name]: value }), `${name}=${value}`).toThrow(
          `${name}=${JSON.stringify(value)}:`,
        );
      }
    }
    expect(loadEnv({ AUDIT_RETENTION_DAYS: " 30 ", PORT: "0", REMINDER_HOURS_BEFORE: "024" })).toMatchObject({
      AUDIT_RETENTION_DAYS: 30,
      PORT: 0,
      REMINDER_HOURS_BEFORE: 24,
      JWT_MAX_LIFETIME_HOURS: 24,
    });
    for (const value of ["0x1", "1e-1", " ", "-0", "1.5"]) {
      expect(() => loadEnv({ OTEL_TRACES_SAMPLER_ARG: value })).toThrow("must be a number from 0 to 1");
    }
    expect(loadEnv({ OTEL_TRACES_SAMPLER_ARG: "0.25" }).OTEL_TRACES_SAMPLER_ARG).toBe(0.25);
    expect(loadEnv({ OTEL_TRACES_SAMPLER_ARG: ".5" }).OTEL_TRACES_SAMPLER_ARG).toBe(0.5);
  });

  it("refuses a short JWT_SECRET without printing it", () => {
    const secret = "too-short-to-sign-with";
    expect(() => loadEnv({ JWT_SECRET: secret })).toThrow(
      /JWT_SECRET=\(22 characters, hidden\): must be at least 32 characters/,
    );
    expect(() => loadEnv({ JWT_SECRET: secret })).not.toThrow(secret);
  });

  it("refuses a JWT_SECRET of blanks, or with a blank at either end (a copy error), even when long enough", () => {
    for (const JWT_SECRET of [" ".repeat(32), "\t".repeat(40), `${" ".repeat(31)}\n`]) {
      for (const NODE_ENV of ["development", "production"]) {
        expect(configProblems(loadEnv, { JWT_SECRET, NODE_ENV }), JSON.stringify(JWT_SECRET)).toEqual([
          `JWT_SECRET=(${JWT_SECRET.length} characters, hidden): is only blanks`,
        ]);
      }
    }
    const secret = "x".repeat(32);
    for (const JWT_SECRET of [`${secret}\n`, ` ${secret}`, `${secret}\t`]) {
      expect(configProblems(loadEnv, { JWT_SECRET }), JSON.stringify(JWT_SECRET)).toEqual([
        `JWT_SECRET=(33 characters, hidden): starts or ends with a blank (a space, tab or line break), as a copy adds: tokens signed with the secret meant would not verify`,
      ]);
    }
    expect(configProblems(loadEnv, { JWT_SECRET: "     " })).toEqual([
      "JWT_SECRET=(5 characters, hidden): must be at least 32 characters (256 bits for HS256)",
    ]);
    expect(loadEnv({ JWT_SECRET: `${"x".repeat(16)} ${"y".repeat(15)}` }).JWT_SECRET).toHaveLength(32);
  });

  it("reads the expected token issuer, and the audiences as a comma-separated list", () => {
    expect(
      loadEnv({ JWT_ISSUER: "https://project.supabase.co/auth/v1", JWT_AUDIENCE: "authenticated, reports" }),
    ).toMatchObject({
      JWT_ISSUER: "https://project.supabase.co/auth/v1",
      JWT_AUDIENCE: ["authenticated", "reports"],
    });
    expect(configProblems(loadEnv, { JWT_AUDIENCE: "authenticated,,reports" })).toEqual([
      'JWT_AUDIENCE="authenticated,,reports": holds an empty entry (two commas in a row, or one at either end)',
    ]);
    expect(configProblems(loadEnv, { JWT_AUDIENCE: "authenticated, reports,authenticated" })).toEqual([
      'JWT_AUDIENCE="authenticated, reports,authenticated": audience "authenticated" is listed more than once',
    ]);
  });

  it("reads TRACESTATE_KEYS as a set of W3C tracestate keys, refusing a key that is none, by name", () => {
    expect(loadEnv({ TRACESTATE_KEYS: "congo, t61@dt,rojo" }).TRACESTATE_KEYS).toEqual(
      new Set(["congo", "t61@dt", "rojo"]),
    );
    expect(() => loadEnv({ TRACESTATE_KEYS: "congo,Rojo" })).toThrow(
      /TRACESTATE_KEYS="congo,Rojo": "Rojo" is not a W3C tracestate key/,
    );
    expect(configProblems(loadEnv, { TRACESTATE_KEYS: "congo=1,dd" })).toEqual([
      'TRACESTATE_KEYS="congo=1,dd": "congo=1" is not a W3C tracestate key: a lower-case letter, then up to 255 of a-z 0-9 _ - * /, or tenant@system (like congo, rojo or t61@dt)',
    ]);
    for (const TRACESTATE_KEYS of ["congo,,rojo", "congo,", ",congo"]) {
      expect(configProblems(loadEnv, { TRACESTATE_KEYS })).toEqual([
        `TRACESTATE_KEYS=${JSON.stringify(TRACESTATE_KEYS)}: holds an empty entry (two commas in a row, or one at either end)`,
      ]);
    }
    expect(() => loadEnv({ TRACESTATE_KEYS: " , " })).toThrow(
      /TRACESTATE_KEYS=" , ": list at least one key \(unset, no member of a caller's tracestate is kept\)/,
    );
    expect(configProblems(loadEnv, { TRACESTATE_KEYS: "congo,rojo, congo" })).toEqual([
      'TRACESTATE_KEYS="congo,rojo, congo": key "congo" is listed more than once',
    ]);
  });

  it("bounds a token's lifetime between an hour and a year (JWT_MAX_LIFETIME_HOURS)", () => {
    expect(() => loadEnv({ JWT_MAX_LIFETIME_HOURS: "0" })).toThrow(
      /JWT_MAX_LIFETIME_HOURS="0": must be at least 1/,
    );
    expect(() => loadEnv({ JWT_MAX_LIFETIME_HOURS: "8761" })).toThrow(/must be at most 8760 \(a year\)/);
    expect(() => loadEnv({ JWT_MAX_LIFETIME_HOURS: "1.5" })).toThrow(/must be a whole number of hours/);
  });

  it("bounds AUDIT_VERIFY_CONCURRENCY below the pool size", () => {
    expect(loadEnv({ AUDIT_VERIFY_CONCURRENCY: "4" }).AUDIT_VERIFY_CONCURRENCY).toBe(4);
    expect(() => loadEnv({ AUDIT_VERIFY_CONCURRENCY: "0" })).toThrow(
      /AUDIT_VERIFY_CONCURRENCY="0": must be at least 1/,
    );
    expect(() => loadEnv({ AUDIT_VERIFY_CONCURRENCY: "20" })).toThrow(
      /AUDIT_VERIFY_CONCURRENCY="20": must be at most 8/,
    );
  });

  it("refuses a local Kafka of two nodes, whose quorum would not survive losing either", () => {
    expect(() => loadStackEnv({ KAFKA_BROKER_COUNT: "2" })).toThrow(
      /KAFKA_BROKER_COUNT="2": must be 1 or at least 3/,
    );
    expect(() => loadEnv({ KAFKA_BROKER_COUNT: "2" })).toThrow(/KAFKA_BROKER_COUNT="2"/);
    expect(loadStackEnv({ KAFKA_BROKER_COUNT: "3", KAFKA_PORT: "19092", CONNECT_WORKERS: "2" })).toEqual({
      POSTGRES_PORT: 5433,
      KAFKA_BROKER_COUNT: 3,
      KAFKA_PORT: 19092,
      CONNECT_PORT: 8083,
      CONNECT_WORKERS: 2,
    });
  });

  it("reads the console's identity provider as a pair, naming the one missing", () => {
    const issuer = "https://login.example.org/realms/audit";
    expect(loadEnv({ CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: " audit-console " })).toMatchObject(
      {
        CONSOLE_OIDC_ISSUER: issuer,
        CONSOLE_OIDC_CLIENT_ID: "audit-console",
      },
    );
    expect(configProblems(loadEnv, { CONSOLE_OIDC_ISSUER: issuer })).toEqual([
      "CONSOLE_OIDC_CLIENT_ID=undefined: must be set with CONSOLE_OIDC_ISSUER (the console signs in with both, or neither)",
    ]);
    expect(configProblems(loadEnv, { CONSOLE_OIDC_CLIENT_ID: "audit-console" })).toEqual([
      "CONSOLE_OIDC_ISSUER=undefined: must be set with CONSOLE_OIDC_CLIENT_ID (the console signs in with both, or neither)",
    ]);
    expect(configProblems(loadEnv, { CONSOLE_OIDC_ISSUER: issuer, CONSOLE_OIDC_CLIENT_ID: "" })).toHaveLength(
      1,
    );
  });

  it("refuses a console issuer that is no http(s) URL, or has a query or fragment, and a blank client id", () => {
    expect(
      configProblems(loadEnv, { CONSOLE_OIDC_ISSUER: "login.example.org", CONSOLE_OIDC_CLIENT_ID: "c" }),
    ).toEqual([
      `CONSOLE_OIDC_ISSUER="login.example.org": must be the issuer's http(s) URL, like https://idp.example.org/realms/x`,
    ]);
    expect(
      configProblems(loadEnv, {
        CONSOLE_OIDC_ISSUER: "https://login.example.org/?tenant=a",
        CONSOLE_OIDC_CLIENT_ID: "c",
      }),
    ).toEqual([
      `CONSOLE_OIDC_ISSUER="https://login.example.org/?tenant=a": must be the issuer's URL, without a query or fragment`,
    ]);
    expect(
      configProblems(loadEnv, {
        CONSOLE_OIDC_ISSUER: "https://login.example.org",
        CONSOLE_OIDC_CLIENT_ID: "  ",
      }),
    ).toEqual([`CONSOLE_OIDC_CLIENT_ID="  ": must name the console's client`]);
  });

  it("refuses CONSOLE_SIGN_IN_URL, the implicit flow's sign-in page, naming what replaced it", () => {
    expect(configProblems(loadEnv, { CONSOLE_SIGN_IN_URL: "https://login.example.org/authorize" })).toEqual([
      'CONSOLE_SIGN_IN_URL="https://login.example.org/authorize": no longer read (the implicit flow, which returned the token in the address, is gone): set CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID, and the console signs in by the authorization code flow with PKCE',
    ]);
    expect(configProblems(loadEnv, { CONSOLE_SIGN_IN_URL: "" })).toEqual([]);
  });

  it("refuses two sources of signing keys", () => {
    expect(() =>
      loadEnv({ JWT_SECRET: "x".repeat(32), JWT_JWKS_URL: "https://issuer.example.org/jwks.json" }),
    ).toThrow(/set either JWT_SECRET or JWT_JWKS_URL, not both/);
  });

  it("never prints a database password, however the URL is malformed", () => {
    const malformed = [
      "postgress://alice:s3cret-pw@db:5432/x",
      "postgres://alice:s3cret-pw@db:notaport/x",
      "postgres://alice:s3cr@et-pw@db:port/x",
      "alice:s3cret-pw@db:5432/x",
      "host=db user=alice password=s3cret-pw",
    ];
    for (const DATABASE_URL of malformed) {
      for (const env of [{ DATABASE_URL }, { CONNECT_DATABASE_URL: DATABASE_URL }]) {
        let message = "";
        try {
          loadEnv(env);
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message, DATABASE_URL).toMatch(/DATABASE_URL=".*\*\*\*.*": /);
        expect(message, DATABASE_URL).not.toContain("s3cr");
      }
    }
  });

  it("refuses a Connect worker's URL with a user or password, without printing the password", () => {
    // fetch refuses such a URL: the worker was told as not answering, in a message quoting the URL, password and all.
    for (const KAFKA_CONNECT_URL of [
      "http://admin:s3cret-pw@connect:8083",
      "https://admin:s3cret-pw@connect",
    ]) {
      expect(() => loadEnv({ KAFKA_CONNECT_URL })).toThrow(
        /KAFKA_CONNECT_URL="https?:\/\/admin:\*\*\*@connect(:8083)?": must not hold a user or password/,
      );
      expect(() => loadEnv({ KAFKA_CONNECT_URL })).not.toThrow(/s3cr/);
    }
    expect(loadEnv({ KAFKA_CONNECT_URL: "http://connect:8083" }).KAFKA_CONNECT_URL).toBe(
      "http://connect:8083",
    );
  });

  it("takes a Connect worker's URL with a trailing slash, or a path, dropping the slash the client's paths start with", () => {
    for (const [given, read] of [
      ["http://localhost:8083/", "http://localhost:8083"],
      ["http://localhost:8083", "http://localhost:8083"],
      ["https://connect.example.org", "https://connect.example.org"],
      ["http://[::1]:8083/", "http://[::1]:8083"],
      ["https://gateway.example.org/kafka-connect/", "https://gateway.example.org/kafka-connect"],
      ["http://127.0.0.1:65535", "http://127.0.0.1:65535"],
    ]) {
      expect(loadEnv({ KAFKA_CONNECT_URL: given }).KAFKA_CONNECT_URL, given).toBe(read);
      expect(loadConnectUrl({ KAFKA_CONNECT_URL: given }), given).toBe(read);
    }
    expect(loadConnectUrl({})).toBeUndefined();
    expect(loadConnectUrl({ KAFKA_CONNECT_URL: "" })).toBeUndefined();
  });

  it("refuses a Connect worker's URL with a query, a fragment or a port outside 1 to 65535, by loadEnv and alone", () => {
    const refusals: Array<[string, string]> = [
      [
        "http://h:8083?x=1",
        "must be the worker's REST URL, without a query or fragment (the client appends /connectors/… to it)",
      ],
      [
        "http://h:8083#f",
        "must be the worker's REST URL, without a query or fragment (the client appends /connectors/… to it)",
      ],
      [
        "http://h:8083/?",
        "must be the worker's REST URL, without a query or fragment (the client appends /connectors/… to it)",
      ],
      ["http://h:99999", "its port must be from 1 to 65535"],
      ["http://h:0", "its port must be from 1 to 65535"],
      ["http://h:", "its port must be from 1 to 65535"],
      ["http://h:80a", "its port must be from 1 to 65535"],
      ["http://", "must be the worker's REST URL, like http://localhost:8083"],
      ["http:///connectors", "must be the worker's REST URL, like http://localhost:8083"],
      ["localhost:8083", "must be the worker's REST URL, like http://localhost:8083"],
      [" http://h:8083", "must be the worker's REST URL, like http://localhost:8083"],
      ["http://h h:8083", "must be the worker's REST URL, like http://localhost:8083"],
    ];
    for (const [KAFKA_CONNECT_URL, message] of refusals) {
      const problem = `KAFKA_CONNECT_URL=${JSON.stringify(KAFKA_CONNECT_URL)}: ${message}`;
      expect(configProblems(loadEnv, { KAFKA_CONNECT_URL }), KAFKA_CONNECT_URL).toEqual([problem]);
      expect(configProblems(loadConnectUrl, { KAFKA_CONNECT_URL }), KAFKA_CONNECT_URL).toEqual([problem]);
    }
    expect(
      configProblems(loadConnectUrl, { KAFKA_CONNECT_URL: "http://admin:s3cret-pw@connect:8083/" }),
    ).toEqual([
      'KAFKA_CONNECT_URL="http://admin:***@connect:8083/": must not hold a user or password (the Connect REST client sends none, and the URL is printed)',
    ]);
  });

  it("refuses a key set's or an issuer's URL with a user or password, without printing the password", () => {
    // fetch refuses such a URL with a TypeError quoting it whole: every token would be refused by a fault.
    const url = "https://admin:s3cret-pw@idp.example.org/realms/x";
    expect(configProblems(loadEnv, { JWT_JWKS_URL: `${url}/jwks` })).toEqual([
      'JWT_JWKS_URL="https://admin:***@idp.example.org/realms/x/jwks": must not hold a user or password (a key set is public)',
    ]);
    expect(configProblems(loadEnv, { CONSOLE_OIDC_ISSUER: url, CONSOLE_OIDC_CLIENT_ID: "console" })).toEqual([
      'CONSOLE_OIDC_ISSUER="https://admin:***@idp.example.org/realms/x": must not hold a user or password (its discovery document is public)',
    ]);
  });

  it("refuses a NODE_ENV other than production, development or test: another spelling of production is not taken for outside it", () => {
    for (const NODE_ENV of ["Production", "production ", "prod", "staging"]) {
      expect(configProblems(loadEnv, { NODE_ENV }), NODE_ENV).toEqual([
        `NODE_ENV=${JSON.stringify(NODE_ENV)}: must be production, development or test (any other value would make up development keys as outside production)`,
      ]);
    }
    for (const NODE_ENV of ["production", "development", "test"]) {
      expect(loadEnv({ NODE_ENV }).NODE_ENV).toBe(NODE_ENV);
    }
  });

  it("masks only the password of a connection string", () => {
    expect(withoutPassword("postgres://alice:pw@db:5432/x")).toBe("postgres://alice:***@db:5432/x");
    expect(withoutPassword("postgres://db:5432/x?password=pw&sslmode=require")).toBe(
      "postgres://db:5432/x?password=***&sslmode=require",
    );
    expect(withoutPassword("postgres://alice:p@w/d@db:5432/x")).toBe("postgres://alice:***@db:5432/x");
    expect(withoutPassword("postgres://alice@db:5432/x")).toBe("postgres://alice@db:5432/x");
    expect(withoutPassword("postgres://db:5432/x")).toBe("postgres://db:5432/x");
  });

  it("masks the password of a connection string whose scheme is mistyped, the ones printed in errors", () => {
    expect(withoutPassword("postgres//admin:S3cretPW@db:5432/x")).toBe("postgres//admin:***@db:5432/x");
    expect(withoutPassword("postgres:/admin:S3cretPW@db:5432/x")).toBe("postgres:***@db:5432/x");
    expect(withoutPassword("smtp//admin:S3cretPW@mail")).toBe("smtp//admin:***@mail");
    expect(withoutPassword("admin:S3cretPW@db/x")).toBe("admin:***@db/x");
    expect(
      configProblems(loadEnv, { DATABASE_URL: "postgres//admin:S3cretPW@db:5432/x" }).join("\n"),
    ).not.toContain("S3cretPW");
  });
});
