// `npm run audit:seal` seals a checkpoint over what has committed since the last one;
// `npm run audit:verify` checks the whole history and prints "intact up to N" or the first broken link.
import pg from "pg";
import { loadEnv } from "../config/env.ts";
import { startPostgres } from "../stack/postgres.ts";
import { sealCheckpoint } from "./sealCheckpoint.ts";
import { loadSigningKey } from "./signingKey.ts";
import { verifyHistory } from "./verifyHistory.ts";

const command = process.argv[2];
if (command !== "seal" && command !== "verify") {
  console.error("usage: tsx audit/cli.ts seal|verify");
  process.exit(2);
}
const env = loadEnv();
const databaseUrl = env.DATABASE_URL ?? (await startPostgres((line) => console.error(line))).databaseUrl;
const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();
const key = await loadSigningKey();
try {
  if (command === "seal") {
    const checkpoint = await sealCheckpoint(client, key);
    console.log(
      checkpoint
        ? `sealed checkpoint ${checkpoint.sequence}: ${checkpoint.rowCount} events up to position ${checkpoint.upToPosition}`
        : "nothing new to seal",
    );
  } else {
    const started = performance.now();
    const report = await verifyHistory(client, new Map([[key.keyId, key.publicKey]]));
    const seconds = (performance.now() - started) / 1000;
    if (report.intact) {
      console.log(
        `intact up to position ${report.upToPosition ?? "(empty)"}: ${report.rows} events, ${report.chainedAggregates} aggregate chains, ${report.checkpoints} checkpoints (${Math.round(report.rows / seconds)} events/s)`,
      );
    } else {
      console.log(`BROKEN after ${report.rows} intact events: ${JSON.stringify(report.brokenLink)}`);
      process.exitCode = 1;
    }
  }
} finally {
  await client.end();
}
