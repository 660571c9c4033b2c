// The operator tools (events:tail, dlq, replay, topics) reach the checkout's own Kafka where KAFKA_BROKERS is
// unset: the brokers the stack runs on KAFKA_PORT (and KAFKA_BROKER_COUNT), as npm start does, never a fixed
// localhost:9092 that may be another stack's broker. All four take that default from localKafkaBrokers();
// events:tail stands for them here.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { spawnScript } from "../test/childProcess.ts";

/** A port nothing listens on: the tool must try it, and fail there. */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("events:tail without KAFKA_BROKERS", () => {
  it("connects to the local stack's port, KAFKA_PORT, not localhost:9092", async () => {
    const port = await unusedPort();
    const tail = spawnScript("scripts/tail-events.ts", {
      args: ["patient-events"],
      env: { KAFKA_BROKERS: "", KAFKA_PORT: String(port), LOG_LEVEL: "warn" },
    });
    try {
      await tail.printed(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`), 60_000);
      expect(tail.output()).not.toMatch(/tailing patient-events on/);
    } finally {
      tail.child.kill("SIGKILL");
    }
  });
});
