// No personal data reaches the logs from any service: every route, called as it is allowed, as it is refused
// (403) and with invalid input (400), logs one line with its correlation id and status, and none of the
// names, dates of birth, contact details, policy numbers, addresses or free texts that the requests carried.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.ts";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { loginOf } from "../test/platformState.ts";
import { roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

/** Fields whose values are personal data or free text about a person. */
const PERSONAL_FIELDS = new Set([
  "firstName",
  "lastName",
  "dateOfBirth",
  "email",
  "phone",
  "policyNumber",
  "to",
  "subject",
  "body",
  "title",
  "notes",
  "address",
  "reason",
  "summary",
  "fileName",
  "username",
  "grantedTo",
]);

/** Every string under a personal field, anywhere in a request body. */
function personalValues(value: unknown, field = ""): string[] {
  if (typeof value === "string") return PERSONAL_FIELDS.has(field) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((item) => personalValues(item, field));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([key, item]) => personalValues(item, key));
  }
  return [];
}

/** Makes each personal value unique to this run, so that finding it in the log can only mean a leak. */
function marked(value: unknown, field = ""): unknown {
  if (typeof value === "string" && PERSONAL_FIELDS.has(field) && field !== "dateOfBirth") {
    if (field === "email" || field === "to")
      return value.includes("@") ? value.replace("@", `.${tag()}@`) : value;
    if (field === "phone") return value;
    return `${value} ${tag()}`;
  }
  if (Array.isArray(value)) return value.map((item) => marked(item, field));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, marked(item, key)]));
  }
  return value;
}
const tag = () => `x${randomUUID().slice(0, 8)}`;

describe("the request log", () => {
  it("has a line per request with correlation id and status, and no personal data, on every route", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } });
    const app = testPlatform(db, { log });
    const personal = new Set<string>();
    const sent: Array<{ correlationId: string; status: number }> = [];

    for (const routeCase of serviceRoutes) {
      const allowed = roles.find((role) => routeCase.expected[role].own < 300) ?? "admin";
      const refusedRole = roles.find((role) => routeCase.expected[role].own === 403);
      for (const [role, mangle] of [
        [allowed, false],
        [refusedRole, false],
        [allowed, true],
      ] as const) {
        if (!role) continue;
        const world = await careWorld(db);
        const user = await caller(role, loginOf(role, world, routeCase));
        const { path, body } = routeCase.request(world, "own");
        const payload = body === undefined ? undefined : (marked(body) as Record<string, unknown>);
        // Invalid input that still carries the personal values: a date of birth in the future, an extra field.
        const sentBody =
          payload && mangle ? { ...payload, dateOfBirth: "2999-01-01", favouriteColour: "x" } : payload;
        for (const value of personalValues(sentBody)) personal.add(value);
        const correlationId = randomUUID();
        const response = await app.request(path, {
          method: routeCase.method,
          headers: user.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
          ...(sentBody === undefined ? {} : { body: JSON.stringify(sentBody) }),
        });
        sent.push({ correlationId, status: response.status });
      }
    }

    const requestLines = lines.map((line) => JSON.parse(line)).filter((line) => line.msg === "request");
    for (const request of sent) {
      expect(requestLines.filter((line) => line.correlationId === request.correlationId)).toEqual([
        expect.objectContaining({ status: request.status }),
      ]);
    }
    expect(new Set(sent.map((request) => request.status))).toEqual(new Set([200, 201, 202, 204, 400, 403]));
    const output = lines.join("");
    expect(personal.size).toBeGreaterThan(40);
    for (const value of personal) expect(output, `the log contains ${value}`).not.toContain(value);
    expect(output).not.toContain("2999-01-01");
  });
});
