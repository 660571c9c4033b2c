// `npm run phi:rewrap`: after a new master key was put first in PHI_MASTER_KEYS, re-wraps every patient key
// still wrapped by an older one, so that the older one can be removed (and with it, every copy of an erased
// patient's key that backups may hold becomes unreadable too).
import { loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { rewrapDataKeys } from "../db/patientKeys.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { startPostgres } from "../stack/postgres.ts";

const env = loadEnv();
const databaseUrl = env.DATABASE_URL ?? (await startPostgres((line) => console.error(line))).databaseUrl;
const db = createDatabase(databaseUrl, { max: 1, applicationName: "phi-rewrap" });
try {
  const keys = loadMasterKeys();
  const moved = await rewrapDataKeys(db, keys);
  const others = [...keys.keys.keys()].filter((id) => id !== keys.currentId);
  console.log(`re-wrapped ${moved} patient keys with master key "${keys.currentId}"`);
  if (others.length > 0)
    console.log(
      `no live patient key needs ${others.map((id) => `"${id}"`).join(", ")} any more: remove it from PHI_MASTER_KEYS`,
    );
} finally {
  await db.$client.end();
}
