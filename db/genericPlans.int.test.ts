// A write transaction plans each of its prepared statements once per connection (writeTransaction's BEGIN).
// Left to itself, Postgres kept replanning the outbox insert for every write, at about the cost of running it:
// its arrays have one element in a custom plan and an assumed ten in the generic one, which therefore never
// looked cheap enough to keep. pg_prepared_statements counts, per connection, the plans of each kind.
import { afterAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../events/examples.ts";
import { databaseUrl, patientCreated, testEventContext } from "../test/fixtures.ts";
import { createDatabase, writeTransaction } from "./client.ts";
import { appendEvents } from "./outbox/appendEvents.ts";

// One connection: every write, and the query of the counts, run on it.
const db = createDatabase(databaseUrl(), { max: 1, applicationName: "generic-plans-test" });
afterAll(() => db.$client.end());

const WRITES = 12;

describe("a write transaction's statements", () => {
  it(`are planned once per connection, not once per write (${WRITES} writes)`, async () => {
    const created = patientCreated();
    const context = testEventContext();
    await writeTransaction(db, (tx) => appendEvents(tx, context, [created]));
    for (let write = 0; write < WRITES; write++) {
      await writeTransaction(db, (tx) =>
        appendEvents(tx, context, [
          {
            type: "patient.consent.changed",
            data: {
              patientId: created.data.patientId,
              consentType: "research",
              granted: write % 2 === 0,
              changedAt: new Date().toISOString(),
            },
          },
          // An audit event too: the insert's arrays then hold two rows, and the heads' one.
          exampleEvent("audit.data.accessed"),
        ]),
      );
    }

    const { rows } = await db.$client.query<{ name: string; generic: string; custom: string }>(
      `SELECT name, generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements
        WHERE name IN ('outbox.insert-rows.v6', 'outbox.bump-aggregate-versions.v1') ORDER BY name`,
    );
    expect(rows.map(({ name, generic, custom }) => [name, Number(generic), Number(custom)])).toEqual([
      ["outbox.bump-aggregate-versions.v1", WRITES + 1, 0],
      ["outbox.insert-rows.v6", WRITES + 1, 0],
    ]);
    // And the writes themselves went in: the patient's chain holds every one of them.
    const { rows: chain } = await db.$client.query<{ versions: string }>(
      "SELECT max(aggregate_version) AS versions FROM outbox WHERE aggregate_id = $1",
      [created.data.patientId],
    );
    expect(Number(chain[0]?.versions)).toBe(WRITES + 1);
  });
});
