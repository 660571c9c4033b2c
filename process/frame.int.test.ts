// Every process runs in one frame: a bad configuration stops it before anything starts (in production, a key,
// or JWT_SECRET / JWT_JWKS_URL, left unset as much as a wrong one), and SIGINT and SIGTERM both stop it through
// the same shutdown (here the reminder scheduler, the platform and the relay, as processes).
import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it, onTestFinished } from "vitest";
import { isPortOpen } from "../stack/processes.ts";
import { spawnScript } from "../test/childProcess.ts";
import { testSecret } from "../test/tokens.ts";

/** Production without its keys, and a database and brokers that nothing answers at. */
const production = {
  NODE_ENV: "production",
  PHI_MASTER_KEYS: "",
  AUDIT_SIGNING_KEY: "",
  JWT_SECRET: "",
  JWT_JWKS_URL: "",
  DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere",
  KAFKA_BROKERS: "127.0.0.1:1",
};

describe("the process frame", () => {
  it("refuses a bad PHI_MASTER_KEYS with its message and exit code 1, before the process starts its work", async () => {
    const scheduler = spawnScript("apps/appointment/reminderScheduler.ts", {
      env: { PHI_MASTER_KEYS: "not-a-key", PORT: "0" },
    });
    expect(await scheduler.exited).toBe(1);
    expect(scheduler.output()).toContain("PHI_MASTER_KEYS: entry 1 must start with a key id");
    expect(scheduler.output()).not.toMatch(/\n\s+at /); // a message for a person, not a stack trace
    expect(scheduler.output()).not.toContain("reminder scheduler running");
  });

  it("refuses a malformed AUDIT_SIGNING_KEY and PHI_MASTER_KEYS, naming each, in one list", async () => {
    const key = Buffer.alloc(32, 1).toString("base64");
    const audit = spawnScript("apps/audit/main.ts", {
      env: { AUDIT_SIGNING_KEY: "-----BEGIN PRIVATE KEY-----", PHI_MASTER_KEYS: `k1:"${key}"`, PORT: "0" },
    });
    expect(await audit.exited).toBe(1);
    expect(audit.output()).toContain("Invalid configuration");
    expect(audit.output()).toContain(
      "AUDIT_SIGNING_KEY: is not a readable PEM private key; expected an Ed25519",
    );
    expect(audit.output()).toContain('PHI_MASTER_KEYS: key "k1" is not base64');
    expect(audit.output()).not.toMatch(/\n\s+at /);
    expect(audit.output()).not.toContain("listening");
  });

  it("in production, refuses to start without its keys and a way to check tokens, naming each, before anything starts", async () => {
    // Nothing answers at these addresses: a platform that got past its configuration would fail on them.
    const platform = spawnScript("scripts/start.ts", { env: { ...production, PORT: "0" } });
    expect(await platform.exited).toBe(1);
    expect(platform.output()).toContain("Invalid configuration");
    expect(platform.output()).toContain("AUDIT_SIGNING_KEY: must be set when NODE_ENV=production");
    expect(platform.output()).toContain("PHI_MASTER_KEYS: must be set when NODE_ENV=production");
    expect(platform.output()).toContain("JWT_SECRET or JWT_JWKS_URL: must be set when NODE_ENV=production");
    expect(platform.output()).toContain("JWT_AUDIENCE: must be set when NODE_ENV=production");
    expect(platform.output()).not.toMatch(/\n\s+at /);
    expect(platform.output()).not.toContain("database migrated");
  });

  it("in production, refuses to start a service without JWT_SECRET or JWT_JWKS_URL: no development secret is made up", async () => {
    const service = spawnScript("apps/patient/main.ts", {
      env: { ...production, PHI_MASTER_KEYS: `k1:${Buffer.alloc(32, 2).toString("base64")}`, PORT: "0" },
    });
    expect(await service.exited).toBe(1);
    expect(service.output()).toContain("Invalid configuration");
    expect(service.output()).toContain("JWT_SECRET or JWT_JWKS_URL: must be set when NODE_ENV=production");
    expect(service.output()).not.toContain("PHI_MASTER_KEYS");
    expect(service.output()).not.toMatch(/\n\s+at /);
  });

  it("in production, starts a relay without PHI_MASTER_KEYS or JWT_SECRET: it never opens patient data", async () => {
    const relay = spawnScript("relay/main.ts", { env: { ...production, PORT: "0" } });
    try {
      await relay.printed(/relay metrics listening/);
      expect(relay.output()).not.toContain("PHI_MASTER_KEYS");
      expect(relay.output()).not.toContain("JWT_"); // nor does it check tokens
    } finally {
      relay.child.kill("SIGKILL");
      await relay.exited;
    }
  });

  it("in production, refuses to start without DATABASE_URL and KAFKA_BROKERS: no local service takes their place", async () => {
    const relay = spawnScript("relay/main.ts", {
      env: { ...production, DATABASE_URL: "", KAFKA_BROKERS: "", PORT: "0" },
    });
    expect(await relay.exited).toBe(1);
    expect(relay.output()).toContain("Invalid configuration");
    expect(relay.output()).toContain("DATABASE_URL: must be set when NODE_ENV=production");
    expect(relay.output()).toContain("KAFKA_BROKERS: must be set when NODE_ENV=production");
    expect(relay.output()).not.toMatch(/\n\s+at /);
    expect(relay.output()).not.toMatch(/postgres: started|kafka: .*started/);
  });

  it("refuses a bad variable of the process's own configuration the same way", async () => {
    const consumers = spawnScript("consumers/main.ts", { env: { CONSUMERS: "no-such-consumer", PORT: "0" } });
    expect(await consumers.exited).toBe(1);
    expect(consumers.output()).toContain("Invalid configuration");
    expect(consumers.output()).toContain("CONSUMERS");
    expect(consumers.output()).not.toMatch(/\n\s+at /);
    expect(consumers.output()).not.toContain("consumers metrics listening");
  });

  it("stops with exit code 1 when its PORT is in use, naming PORT and what to do, not a bare EADDRINUSE", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const service = spawnScript("apps/patient/main.ts", { env: { PORT: String(port) } });
      expect(await service.exited).toBe(1);
      expect(service.output()).toContain(
        `PORT=${port} is in use by another process: patient-service serves HTTP on PORT; set another, or PORT=0 for a free one`,
      );
      expect(service.output()).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("npm start with API_PROCESSES=2 on a PORT in use stops with exit code 1, not restarting its API processes for ever", {
    timeout: 120_000,
  }, async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const platform = spawnScript("scripts/start.ts", {
        compiled: true,
        env: {
          API_PROCESSES: "2",
          PORT: String(port),
          RELAY_MODE: "off",
          LOG_LEVEL: "info",
          JWT_SECRET: new TextDecoder().decode(testSecret),
        },
      });
      // Where it restarts its API processes for ever, the test's timeout ends it, not the process.
      onTestFinished(() => {
        platform.child.kill("SIGKILL");
      });
      expect(await platform.exited).toBe(1);
      expect(platform.output()).toContain(`PORT=${port} is in use by another process`);
      expect(platform.output()).toContain("an API process exited before it served: the API cannot start");
      expect(platform.output()).not.toContain("starting another");
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("stops, on a SIGINT while its stack starts, the Postgres and Kafka it started", async () => {
    // A stack of its own, on ports beside the lane's, which nothing else uses.
    const postgresPort = Number(process.env.POSTGRES_PORT) + 6;
    const kafkaPort = Number(process.env.KAFKA_PORT) + 6;
    const scheduler = spawnScript("apps/appointment/reminderScheduler.ts", {
      env: {
        DATABASE_URL: "",
        KAFKA_BROKERS: "",
        POSTGRES_PORT: String(postgresPort),
        KAFKA_PORT: String(kafkaPort),
        LOG_LEVEL: "info",
      },
    });
    // Postgres answers within a second; Kafka's JVM takes several: the signal comes while Kafka starts.
    await scheduler.printed(/postgres: started on/, 120_000);
    expect(scheduler.output()).not.toContain("kafka: a Kafka broker started");
    scheduler.child.kill("SIGINT");
    expect(await scheduler.exited).toBe(0);
    expect(scheduler.output()).toContain("reminder-scheduler stopping");
    expect(scheduler.output()).not.toContain("reminder scheduler running");
    for (const port of [postgresPort, kafkaPort]) expect(await isPortOpen("127.0.0.1", port)).toBe(false);
  }, 180_000);

  it.each(["SIGINT", "SIGTERM"] as const)(
    "stops on %s through its shutdown steps and exits 0",
    async (signal) => {
      const scheduler = spawnScript("apps/appointment/reminderScheduler.ts", {
        args: ["--interval-ms", "100"],
        env: { LOG_LEVEL: "info" },
      });
      await scheduler.printed(/reminder scheduler running/);
      scheduler.child.kill(signal);
      expect(await scheduler.exited).toBe(0);
      expect(scheduler.output()).toContain(`"signal":"${signal}"`);
      expect(scheduler.output()).toContain("reminder-scheduler stopping");
    },
  );
});
