// appointment.reminder, exactly once per appointment, with two scheduler processes racing for the same due
// appointments; none for appointments outside the window, cancelled or already reminded.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { appointments } from "../../db/schema.ts";
import { careWorld } from "../../test/careWorld.ts";
import { type ScriptProcess, spawnScript } from "../../test/childProcess.ts";
import { eventually, testDatabase } from "../../test/fixtures.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const HOUR_MS = 60 * 60 * 1000;

const spawnScheduler = () =>
  spawnScript("apps/appointment/reminderScheduler.ts", {
    args: ["--interval-ms", "100"],
    env: { REMINDER_HOURS_BEFORE: "24", LOG_LEVEL: "info" },
  });

async function stop(scheduler: ScriptProcess): Promise<void> {
  if (scheduler.child.exitCode !== null) return;
  scheduler.child.kill("SIGTERM");
  await scheduler.exited;
}

/** Five-minute appointments of one provider, one after the other from `firstStart`. */
async function bookSeries(
  count: number,
  firstStart: number,
  overrides: Partial<typeof appointments.$inferInsert> = {},
) {
  const world = await careWorld(db);
  const rows = Array.from({ length: count }, (_, index) => {
    const scheduledAt = new Date(firstStart + index * 5 * 60_000);
    return {
      id: randomUUID(),
      patientId: world.own.patientId,
      providerId: world.own.providerId,
      scheduledAt,
      endsAt: new Date(scheduledAt.getTime() + 5 * 60_000),
      durationMinutes: 5,
      appointmentType: "CHECKUP",
      location: { type: "IN_PERSON" as const, address: "1 Infinite Loop" },
      ...overrides,
    };
  });
  await db.insert(appointments).values(rows);
  return rows.map((row) => row.id);
}

function idList(ids: string[], as: "uuid" | "text" = "uuid") {
  return sql.join(
    ids.map((id) => (as === "uuid" ? sql`${id}::uuid` : sql`${id}`)),
    sql`, `,
  );
}

async function remindersOf(ids: string[]) {
  const result = await db.execute<{ appointmentId: string; hoursBefore: number }>(sql`
    SELECT payload::jsonb -> 'data' ->> 'appointmentId' AS "appointmentId",
           (payload::jsonb -> 'data' ->> 'hoursBefore')::int AS "hoursBefore"
      FROM outbox
     WHERE event_type = 'appointment.reminder'
       AND payload::jsonb -> 'data' ->> 'appointmentId' IN (${sql.join(
         ids.map((id) => sql`${id}`),
         sql`, `,
       )})`);
  return result.rows;
}

describe("the reminder scheduler", () => {
  it("reminds each due appointment exactly once with two scheduler processes running", async () => {
    const now = Date.now();
    const due = await bookSeries(150, now + 2 * HOUR_MS);
    const [soon] = await bookSeries(1, now + 2.5 * HOUR_MS - 7 * 60_000);
    const [dayAhead] = await bookSeries(1, now + 23.5 * HOUR_MS);
    const notYetDue = await bookSeries(1, now + 30 * HOUR_MS);
    const cancelled = await bookSeries(1, now + 3 * HOUR_MS, {
      status: "CANCELLED",
      cancelledAt: new Date(),
    });
    const alreadyReminded = await bookSeries(1, now + 4 * HOUR_MS, { remindedAt: new Date() });
    const expected = [...due, soon as string, dayAhead as string];

    const schedulers = [spawnScheduler(), spawnScheduler()];
    try {
      await eventually(async () => {
        const unreminded = await db.execute(
          sql`SELECT 1 FROM appointments WHERE reminded_at IS NULL AND id IN (${idList(expected)})`,
        );
        return unreminded.rowCount === 0;
      }, 60_000);
      // A few more rounds of both: anything they would send twice would be sent by now.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      await Promise.all(schedulers.map(stop));
    }

    // A reminded appointment was changed then, as its answer shows (remindedAt): its updatedAt says so.
    const stale = await db.execute(
      sql`SELECT 1 FROM appointments WHERE updated_at <> reminded_at AND id IN (${idList(expected)})`,
    );
    expect(stale.rowCount).toBe(0);
    const reminders = await remindersOf([...expected, ...notYetDue, ...cancelled, ...alreadyReminded]);
    const perAppointment = new Map<string, number>();
    for (const reminder of reminders) {
      perAppointment.set(reminder.appointmentId, (perAppointment.get(reminder.appointmentId) ?? 0) + 1);
    }
    expect([...perAppointment.keys()].sort()).toEqual([...expected].sort());
    expect([...perAppointment.values()].every((count) => count === 1)).toBe(true);
    // The hours left, up to the configured 24: "in 3 hours" for a visit booked at short notice.
    const hoursOf = (id: string | undefined) =>
      reminders.find((reminder) => reminder.appointmentId === id)?.hoursBefore;
    expect(hoursOf(soon)).toBe(3);
    expect(hoursOf(dayAhead)).toBe(24);
    const sentBy = schedulers.map((scheduler) =>
      [...scheduler.output().matchAll(/"reminded":(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0),
    );
    expect(sentBy.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(expected.length);
  });
});
