// A service run alone needs Postgres, not Kafka: its events go to the outbox in the write's transaction, and a
// relay takes them to Kafka. With its Kafka unreachable it starts, is ready, and takes writes, whose events wait
// in the outbox. (It refused to start, naming KAFKA_BROKERS: a Kafka outage stopped a restarted front door.)
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it, onTestFinished } from "vitest";
import { outbox, patients } from "../../db/schema.ts";
import { spawnScript } from "../../test/childProcess.ts";
import { SERVICE_KEYS } from "../../test/commandOutcome.ts";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { adminRequest, testSecret } from "../../test/tokens.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("a service run alone, Kafka unreachable", { timeout: 60_000 }, () => {
  it("starts, reports itself ready on Postgres, and takes a write whose event waits in the outbox", async () => {
    const service = spawnScript("apps/patient/main.ts", {
      env: {
        ...SERVICE_KEYS,
        JWT_SECRET: new TextDecoder().decode(testSecret),
        KAFKA_BROKERS: "127.0.0.1:1",
        LOG_LEVEL: "info",
      },
    });
    onTestFinished(() => {
      service.child.kill("SIGKILL");
    });
    const [, port] = await service.printed(/"port":(\d+)[^\n]*patient-service listening/);
    const base = `http://127.0.0.1:${port}`;

    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: { postgres: { status: "up" } } });

    const overHttp = { request: (path: string, init: RequestInit) => fetch(`${base}${path}`, init) };
    const { response: created } = await adminRequest(overHttp, "POST", "/patients", newPatientBody());
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect(await db.select({ id: patients.id }).from(patients).where(eq(patients.id, id))).toEqual([{ id }]);
    const events = await db
      .select({ eventType: outbox.eventType })
      .from(outbox)
      .where(eq(outbox.aggregateId, id));
    expect(events).toEqual([{ eventType: "patient.created" }]);

    service.child.kill("SIGTERM");
    expect(await service.exited).toBe(0);
  });
});
