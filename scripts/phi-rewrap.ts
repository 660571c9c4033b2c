// `npm run phi:rewrap`: after a new master key was put first in PHI_MASTER_KEYS, re-wraps every patient key
// still wrapped by an older one, and the key erased patients' e-mail addresses are hashed with
// (db/erasedLogins.ts), so that the older one can be removed (and with it, every copy of an erased patient's
// key that backups may hold becomes unreadable too).
import { confirm, parseCommand, refuseUnconfirmable, yesOption } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { rewrapErasedLoginKey } from "../db/erasedLogins.ts";
import { rewrapDataKeys } from "../db/patientKeys.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { databaseUrlOf } from "../stack/index.ts";

const { values } = parseCommand({
  usage: `usage: npm run phi:rewrap [-- --yes]
  re-wraps every patient key (and the erased-login key) still wrapped by an older master key with the first
  one of PHI_MASTER_KEYS
  --yes, -y   do not ask for confirmation (needed when not run from a terminal)`,
  options: yesOption,
});
const question = "Re-wrap every patient key still wrapped by an older master key";
await refuseUnconfirmable(question, values.yes);
// Before the question: a bad variable or key is refused without asking first. The keys only once the environment
// holds: outside production a development key is made up, which a misspelt variable must not leave behind.
const env = loadEnv();
const keys = loadMasterKeys();
await confirm(question, values.yes);
const databaseUrl = await databaseUrlOf(env, (line) => console.error(line));
const db = createDatabase(databaseUrl, { max: 1, applicationName: "phi-rewrap" });
try {
  const moved = await rewrapDataKeys(db, keys);
  const erasedLoginKeyMoved = await rewrapErasedLoginKey(db, keys);
  const others = [...keys.keys.keys()].filter((id) => id !== keys.currentId);
  console.log(
    `re-wrapped ${moved} patient keys${erasedLoginKeyMoved ? " and the erased-login key" : ""} with master key "${keys.currentId}"`,
  );
  if (others.length > 0)
    console.log(
      `no live key needs ${others.map((id) => `"${id}"`).join(", ")} any more: remove it from PHI_MASTER_KEYS`,
    );
} catch (error) {
  // A key PHI_MASTER_KEYS lacks or gives wrong stops the batch that needed it, which rolls back: the keys
  // re-wrapped before it stay re-wrapped (each with the first key), and running it again goes on from there.
  process.exitCode = reportFailure(error, "phi:rewrap");
} finally {
  await db.$client.end();
}
