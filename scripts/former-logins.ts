// `npm run phi:former-logins`: once after upgrading a database whose patients changed their e-mail address or
// phone number before such changes were recorded (migrations 0023 and 0024), records each patient's former ones
// from their history, so that a login attempt typing one is sealed as the patient's (apps/patient/formerLogins.ts).
// Safe to run again, and while the platform runs.
import { recordFormerLoginsFromHistory } from "../apps/patient/formerLogins.ts";
import { parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { databaseUrlOf } from "../stack/index.ts";

parseCommand({
  usage: `usage: npm run phi:former-logins
  records every patient's former e-mail addresses and phone numbers found in their history (as keyed hashes),
  so that a login attempt typing one is sealed as the patient's; a second run records nothing new`,
});
const env = loadEnv();
const keys = loadMasterKeys();
const databaseUrl = await databaseUrlOf(env, (line) => console.error(line));
const db = createDatabase(databaseUrl, { max: 1, applicationName: "phi-former-logins" });
try {
  const found = await recordFormerLoginsFromHistory(db, keys);
  console.log(
    `read the histories of ${found.patients} patients: ${found.formerLogins} former e-mail addresses and phone numbers are recorded`,
  );
  if (found.unreadable.length > 0) {
    for (const { patientId, problem } of found.unreadable) console.error(`patient ${patientId}: ${problem}`);
    console.error(
      `${found.unreadable.length} patients' histories could not be read: nothing of theirs was recorded`,
    );
    process.exitCode = 1;
  }
} catch (error) {
  // A patient's transaction that failed rolled back; those before it stay recorded, and a second run goes on.
  process.exitCode = reportFailure(error, "phi:former-logins");
} finally {
  await db.$client.end();
}
