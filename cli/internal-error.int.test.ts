// A fault of the code, met for real: a command run as an operator runs it, on a database holding a state its
// code does not expect, stops with "internal error", the stack on stderr and exit code 70, changing nothing;
// and a query that Postgres refuses, with a patient's data in its parameters and in Postgres' own message, is
// reported without either.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationDeliveries } from "../db/schema.ts";
import { spawnScript } from "../test/childProcess.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import { classifyFailure, EXIT_INTERNAL_ERROR, reportFailure } from "./failure.ts";

const own = ownDatabase("internal_error");
beforeAll(own.setUp);
afterAll(own.tearDown);

const personal = "ada@example.org";

async function deliveries() {
  const { rows } = await own.db.$client.query(
    "SELECT notification_id, status, claimed_at::text AS claimed_at FROM notification_deliveries ORDER BY 1",
  );
  return rows;
}

describe("a fault of the code", () => {
  it("stops a command with 'internal error', its stack on stderr and exit code 70, changing nothing", async () => {
    // A claim time the column admits but no sender writes (each claims at now()): the listing takes every claim
    // time for a date, and this one pg hands over as the number -Infinity.
    await own.db.$client.query(
      `INSERT INTO notification_deliveries
              (notification_id, event_id, channel, status, attempts, transport, claimed_at)
       VALUES ($1, $2, 'email', 'sending', 1, 'smtp', '-infinity')`,
      [randomUUID(), randomUUID()],
    );
    const before = await deliveries();

    const run = spawnScript("scripts/notifications-resolve.ts", { env: { DATABASE_URL: own.url } });
    const code = await new Promise<number | null>((resolve) => run.child.once("close", resolve));

    const output = run.output();
    expect({ code, output }).toMatchObject({ code: EXIT_INTERNAL_ERROR });
    expect(output).toMatch(/^notifications:resolve failed: internal error: a fault of the code/m);
    expect(output).toMatch(/^TypeError: .*toISOString is not a function$/m);
    expect(output).toMatch(/^\s+at .*scripts\/notifications-resolve\.ts:\d+:\d+/m);
    expect(await deliveries()).toEqual(before);
  });

  it("is reported without the query's parameters or the value Postgres quotes back", async () => {
    // A notification id that is a patient's e-mail address: Postgres refuses it as a uuid, quoting it.
    const error = await own.db
      .select()
      .from(notificationDeliveries)
      .where(eq(notificationDeliveries.notificationId, personal))
      .then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
    expect(String((error as Error).message)).toContain(personal);
    expect(String((error as Error & { cause?: Error }).cause?.message)).toContain(personal);

    const failure = classifyFailure(error);
    expect(failure.kind).toBe("internal");
    expect(JSON.stringify(failure)).not.toContain("ada@");
    expect(failure).toMatchObject({
      report: expect.stringMatching(
        /^DrizzleQueryError: failed query \(parameters withheld\): select .* from "notification_deliveries" where "notification_deliveries"."notification_id" = \$1\n/,
      ),
    });
    expect(failure).toMatchObject({
      report: expect.stringContaining(
        'caused by: Postgres error 22P02: invalid input syntax for type uuid: "(withheld)"',
      ),
    });

    const write = process.stderr.write;
    let stderr = "";
    process.stderr.write = ((chunk: string) => {
      stderr += chunk;
      return true;
    }) as typeof process.stderr.write;
    const exitCode = (() => {
      try {
        return reportFailure(error, "replay");
      } finally {
        process.stderr.write = write;
      }
    })();
    expect(exitCode).toBe(EXIT_INTERNAL_ERROR);
    expect(stderr).toMatch(/^replay failed: internal error/);
    expect(stderr).toMatch(/^\s+at /m);
    expect(stderr).not.toContain("ada@");
  });
});
