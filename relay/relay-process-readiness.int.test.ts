// `npm run relay`'s /health/ready says what every process's does: ready when Postgres and Kafka answer (and the
// relay is not stalled). It checked the stall alone, and said "ready" through a Kafka or Postgres outage.
import { afterEach, describe, expect, it } from "vitest";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";
import { databaseUrl, eventually, kafkaBrokers } from "../test/fixtures.ts";

// Port 1 on the loopback: nothing listens, so every connection is refused at once.
const NOWHERE = "127.0.0.1:1";

let relay: ScriptProcess | undefined;
afterEach(async () => {
  relay?.child.kill("SIGKILL");
  await relay?.exited;
});

/** The relay process with `env` (the test stack's services unless named), and its /health/ready's URL. */
async function relayProcess(env: Record<string, string>): Promise<string> {
  relay = spawnScript("relay/main.ts", { env: { PORT: "0", ...env } });
  const [, port] = await relay.printed(/"port":(\d+)[^\n]*relay metrics listening/);
  return `http://127.0.0.1:${port}/health/ready`;
}

async function readiness(
  url: string,
): Promise<{ status: number; checks: Record<string, { status: string }> }> {
  const response = await fetch(url);
  const { checks } = (await response.json()) as { checks: Record<string, { status: string }> };
  return { status: response.status, checks };
}

describe("npm run relay's /health/ready", () => {
  it("is ready when Postgres and Kafka answer", async () => {
    const url = await relayProcess({ DATABASE_URL: databaseUrl(), KAFKA_BROKERS: kafkaBrokers().join(",") });
    await eventually(async () => (await readiness(url)).status === 200);
    expect((await readiness(url)).checks).toMatchObject({
      postgres: { status: "up" },
      kafka: { status: "up" },
      relay: { status: "up" },
    });
  });

  it("is not ready while Kafka cannot be reached", async () => {
    const url = await relayProcess({ DATABASE_URL: databaseUrl(), KAFKA_BROKERS: NOWHERE });
    const answer = await readiness(url);
    expect(answer.status).toBe(503);
    expect(answer.checks).toMatchObject({ postgres: { status: "up" }, kafka: { status: "down" } });
  });

  it("is not ready while Postgres cannot be reached", async () => {
    const url = await relayProcess({
      DATABASE_URL: `postgres://postgres@${NOWHERE}/healthcare`,
      KAFKA_BROKERS: kafkaBrokers().join(","),
    });
    const answer = await readiness(url);
    expect(answer.status).toBe(503);
    expect(answer.checks).toMatchObject({ postgres: { status: "down" }, kafka: { status: "up" } });
  });
});
