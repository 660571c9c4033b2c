// `npm run audit:verify` and `audit:archive` report their progress on stderr: run as a script (stderr not a
// terminal) they print plain lines, and end with a summary that counts exactly the events they read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  changePayload,
  freshDatabases,
  historyToArchive,
  type TestHistory,
  testKey,
} from "../test/auditHistories.ts";
import { spawnScript } from "../test/childProcess.ts";

const databases = freshDatabases("cli_progress");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

const signingKeyPem = testKey.privateKey.export({ format: "pem", type: "pkcs8" }).toString();

/** Runs `audit/cli.ts` on the history's database with the test signing key; resolves once its output closed. */
async function auditCommand(history: TestHistory, args: string[]) {
  const script = spawnScript("audit/cli.ts", {
    args,
    env: {
      DATABASE_URL: history.db.$client.options.connectionString as string,
      AUDIT_SIGNING_KEY: signingKeyPem,
    },
  });
  const closed = new Promise<number | null>((resolve) => script.child.once("close", resolve));
  return { code: await closed, output: script.output() };
}

describe("progress of the audit commands, not on a terminal", () => {
  it("audit:verify ends with a summary counting every event it verified", async () => {
    const history = await databases.create();
    try {
      await history.begin();
      await history.round();
      await history.seal();
      await history.round();
      const events = (await history.rows()).length;

      const { code, output } = await auditCommand(history, ["verify"]);

      expect(code, output).toBe(0);
      expect(output).toMatch(
        new RegExp(`^verify: read, ${events} events in \\d+ s \\([\\d,-]+ events/s\\)$`, "m"),
      );
      // One rate, the progress line's: the report's own, timed from before the span was read, said another.
      expect(output).toMatch(
        new RegExp(
          `intact up to position \\d+: ${events} events, \\d+ aggregate chains, \\d+ checkpoints$`,
          "m",
        ),
      );
      // Plain lines only: no carriage return or terminal escape in a log.
      expect([...output].filter((character) => character === "\r" || character === "\u001b")).toEqual([]);
    } finally {
      await history.close();
    }
  });

  it("audit:verify that stops at a broken link counts the events it verified before it", async () => {
    const history = await databases.create();
    try {
      await history.begin();
      await history.round();
      await history.round();
      const rows = await history.rows();
      const changed = rows[Math.floor(rows.length / 2)] as (typeof rows)[number];
      await changePayload(history, changed.position);
      const before = rows.indexOf(changed);

      const { code, output } = await auditCommand(history, ["verify"]);

      expect(code, output).toBe(1);
      expect(output).toContain(`BROKEN after ${before} intact events`);
      // It said 0: the count moved a batch (5,000 rows) at a time, and this one was not finished.
      expect(output).toMatch(
        new RegExp(
          `^verify: stopped at a broken link, ${before} events in \\d+ s \\([\\d,-]+ events/s\\)$`,
          "m",
        ),
      );
    } finally {
      await history.close();
    }
  });

  it("archiving reports, before it writes, exactly how many events the archive will hold, then each of them", async () => {
    // (The command itself cannot archive a history made now: AUDIT_RETENTION_DAYS is at least a day.)
    const archiving = await historyToArchive(await databases.create());
    try {
      const reported = { total: -1, advanced: 0 };
      const outcome = await archiving.archive({
        now: archiving.longAfter(),
        progress: (rows) => {
          reported.total = rows;
          return {
            advance: (count) => {
              reported.advanced += count;
            },
          };
        },
      });

      const archived = outcome.archived?.rowCount;
      expect(archived).toBe(20);
      expect(reported).toEqual({ total: archived, advanced: archived });
    } finally {
      await archiving.close();
    }
  });
});
