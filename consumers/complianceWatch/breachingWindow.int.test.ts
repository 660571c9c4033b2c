// The watch finds the same breach as the plain definition: for each observation in the window's reach, count
// the distinct values of the window it starts, and take the first that holds too many. That definition, in SQL,
// is the oracle here (it was the watch's own query, quadratic in a principal's observations); breachingWindow
// must agree with it on random histories: instants spread or on a grid (an observation exactly a window after a start), repeated values, ties, a last alert.
// Each case runs in a transaction that is rolled back, so the shared database keeps no rows of this file.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { type RolledBackTransaction, rolledBack as rolledBackIn } from "../../test/rolledBack.ts";
import { breachingWindow } from "./watchStore.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

type Transaction = RolledBackTransaction;
const rolledBack = (work: (tx: Transaction) => Promise<void>) => rolledBackIn(db, work);

/** A seeded generator, so that a failing history can be replayed from the seed the test names. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const WINDOW_SECONDS = 60;
const BASE = Date.parse("2998-06-01T12:00:00Z");

/** The plain definition: every start in the window's reach, each window counted on its own. */
async function oracle(
  tx: Transaction,
  query: { subject: string; at: Date; threshold: number; notBefore: Date | null },
) {
  const at = query.at.toISOString();
  const window = sql`make_interval(secs => ${WINDOW_SECONDS})`;
  const notBefore = query.notBefore?.toISOString() ?? null;
  const { rows } = await tx.execute<{ start: Date | string; observed: string }>(sql`
    SELECT starts.start, count(DISTINCT o.counted) AS observed
    FROM (
      SELECT DISTINCT occurred_at AS start FROM compliance_watch_observations
      WHERE rule = 'many-patients-read' AND subject = ${query.subject}
        AND occurred_at > ${at}::timestamptz - ${window} AND occurred_at <= ${at}::timestamptz
        AND (${notBefore}::timestamptz IS NULL OR occurred_at >= ${notBefore}::timestamptz)
    ) starts
    JOIN compliance_watch_observations o
      ON o.rule = 'many-patients-read' AND o.subject = ${query.subject}
     AND o.occurred_at >= starts.start AND o.occurred_at < starts.start + ${window}
    GROUP BY starts.start
    HAVING count(DISTINCT o.counted) > ${query.threshold}
    ORDER BY starts.start
    LIMIT 1`);
  const [row] = rows;
  return row ? { windowStart: new Date(row.start).getTime(), observed: Number(row.observed) } : null;
}

describe("breachingWindow", () => {
  it("finds the breach the plain definition finds, on 60 random histories", async () => {
    let breaches = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const next = random(seed);
      await rolledBack(async (tx) => {
        const subject = `actor:${randomUUID()}`;
        const values = 2 + Math.floor(next() * 12);
        const spreadMs = (1 + Math.floor(next() * 3)) * WINDOW_SECONDS * 1000;
        // Half the histories fall on a 10 s grid, so that observations land exactly a window after a start.
        const grid = next() < 0.5 ? 10_000 : 1;
        const instants: number[] = [];
        for (let index = 0; index < 20 + Math.floor(next() * 60); index++) {
          // Some instants repeat exactly (ties), the rest fall anywhere in the spread, to the millisecond.
          const repeat = instants.length > 0 && next() < 0.15;
          const instant = repeat
            ? (instants[Math.floor(next() * instants.length)] as number)
            : BASE + Math.floor((next() * spreadMs) / grid) * grid;
          instants.push(instant);
          await tx.execute(sql`
            INSERT INTO compliance_watch_observations (rule, subject, event_id, occurred_at, counted)
            VALUES ('many-patients-read', ${subject}, ${randomUUID()},
                    ${new Date(instant).toISOString()}::timestamptz, ${`patient-${Math.floor(next() * values)}`})`);
        }
        for (let probe = 0; probe < 6; probe++) {
          const query = {
            subject,
            at: new Date(instants[Math.floor(next() * instants.length)] as number),
            threshold: Math.floor(next() * values * 1.5),
            notBefore: next() < 0.3 ? new Date(BASE + Math.floor(next() * spreadMs)) : null,
          };
          const expected = await oracle(tx, query);
          const found = await breachingWindow(tx, {
            rule: "many-patients-read",
            windowSeconds: WINDOW_SECONDS,
            ...query,
          });
          const context = `seed ${seed}, probe ${probe}`;
          expect(
            found && { windowStart: found.windowStart.getTime(), observed: found.observed },
            context,
          ).toEqual(expected);
          if (found) {
            breaches++;
            expect(found.evidenceEventIds, context).toHaveLength(found.observed);
          }
        }
      });
    }
    // The histories are drawn so that both outcomes are common: a comparison of nulls alone would prove nothing.
    expect(breaches).toBeGreaterThan(60);
    expect(breaches).toBeLessThan(300);
  });
});
