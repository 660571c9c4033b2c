// Patient data never reaches the logs: one line per request with its correlation id and status, and none
// of the names, dates of birth, contact details or policy numbers that the requests carried.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.ts";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("the request log", () => {
  it("has a line per request with correlation id and status, and no PHI from valid or refused requests", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } });
    const app = testPlatform(db, { log });
    const staff = await caller("admin");
    const body = newPatientBody({ firstName: "Zebulon", lastName: `Quixote-${randomUUID()}` });
    const send = (method: string, path: string, payload: unknown, correlationId = randomUUID()) =>
      app.request(path, {
        method,
        headers: staff.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
        body: JSON.stringify(payload),
      });

    const correlationId = randomUUID();
    const created = await send("POST", "/patients", body, correlationId);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect(
      (await send("PATCH", `/patients/${id}`, { email: "zebulon.new@example.org", phone: "+33142685300" }))
        .status,
    ).toBe(200);
    expect(
      (await send("POST", "/patients", { ...body, email: "zebulon@@bad", dateOfBirth: "3000-01-01" })).status,
    ).toBe(400);

    const output = lines.join("");
    const requestLines = lines.map((line) => JSON.parse(line)).filter((line) => line.msg === "request");
    expect(requestLines).toHaveLength(3);
    expect(requestLines[0]).toMatchObject({ method: "POST", route: "/patients", status: 201, correlationId });
    const phi = [
      body.firstName,
      body.lastName,
      body.dateOfBirth,
      body.email,
      body.phone,
      body.insuranceInfo.policyNumber,
      "zebulon.new@example.org",
      "+33142685300",
      "zebulon@@bad",
      "3000-01-01",
      "penicillin",
      "asthma",
    ];
    for (const value of phi) expect(output, `the log contains ${value}`).not.toContain(value);
  });

  it("redacts PHI fields from any object that is logged", () => {
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (line: string) => lines.push(line) } });
    log.info(
      { patient: { firstName: "Zebulon", insuranceInfo: { policyNumber: "P-1" } }, email: "z@example.org" },
      "x",
    );
    expect(lines.join("")).not.toMatch(/Zebulon|P-1|z@example\.org/);
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({
      email: "[REDACTED]",
      patient: { firstName: "[REDACTED]" },
    });
  });
});
