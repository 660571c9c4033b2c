// Every process runs in one frame: a bad configuration stops it before anything starts, and SIGINT and
// SIGTERM both stop it through the same shutdown (here the reminder scheduler and the relay, as processes).
import { describe, expect, it } from "vitest";
import { spawnScript } from "../test/childProcess.ts";

describe("the process frame", () => {
  it("refuses a bad PHI_MASTER_KEYS with its message and exit code 1, before the process starts its work", async () => {
    const relay = spawnScript("relay/main.ts", { env: { PHI_MASTER_KEYS: "not-a-key", PORT: "0" } });
    expect(await relay.exited).toBe(1);
    expect(relay.output()).toContain("PHI_MASTER_KEYS: entry 1 must start with a key id");
    expect(relay.output()).not.toMatch(/\n\s+at /); // a message for a person, not a stack trace
    expect(relay.output()).not.toContain("relay metrics listening");
  });

  it("refuses a bad variable of the process's own configuration the same way", async () => {
    const consumers = spawnScript("consumers/main.ts", { env: { CONSUMERS: "no-such-consumer", PORT: "0" } });
    expect(await consumers.exited).toBe(1);
    expect(consumers.output()).toContain("Invalid configuration");
    expect(consumers.output()).toContain("CONSUMERS");
    expect(consumers.output()).not.toMatch(/\n\s+at /);
    expect(consumers.output()).not.toContain("consumers metrics listening");
  });

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
