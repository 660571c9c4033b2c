// The history's tamper evidence from the command line: `npm run audit:seal`, `audit:verify`, `audit:archive`
// and `audit:verify-archive` (USAGE below says what each does and takes).
import type { KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { confirm, notADirectory, operatorPath, parseCommand, refuseUnconfirmable } from "../cli/command.ts";
import { EXIT_FAILED, reportFailure } from "../cli/failure.ts";
import { type Progress, startProgress } from "../cli/progress.ts";
import { ConfigError, DEFAULT_AUDIT_RETENTION_DAYS, loadEnv } from "../config/env.ts";
import { projectPath } from "../config/projectRoot.ts";
import { databaseUrlOf } from "../stack/index.ts";
import { archiveHistory } from "./archiveHistory.ts";
import {
  checkRange,
  expectedCheckpointInput,
  type HistoryRange,
  historyRange,
  historyRangeInput,
  RangeProblem,
} from "./historySpan.ts";
import { sealCheckpoint } from "./sealCheckpoint.ts";
import { loadSigningKey, verifyingKeyFromPem } from "./signingKey.ts";
import { ManifestUnreadable, verifyArchiveFiles } from "./verifyArchiveFile.ts";
import { type VerificationReport, verifyHistory } from "./verifyHistory.ts";

const USAGE = `usage: npm run audit:seal
       npm run audit:verify [-- --from <position>] [--to <position>] [--since <time>] [--until <time>]
                            [--expect-checkpoint <sequence>:<chain hash>]
       npm run audit:archive [-- --dir <directory>] [--yes]
       npm run audit:verify-archive -- [--public-key <pem file>]... <manifest.json>...
  seal            seals a checkpoint over what has committed since the last one
  verify          verifies the whole history, or a range, and prints "intact up to position N" or the first
                  broken link, and the last checkpoint to write down; --expect-checkpoint: one written down
                  before, which the history must still hold unchanged; times in RFC 3339 with their offset,
                  e.g. 2026-01-15T00:00:00Z
  archive         moves the history older than AUDIT_RETENTION_DAYS out to an archive file (asks first;
                  --yes, -y: do not ask, needed when not run from a terminal)
  verify-archive  verifies archive files from their manifests (oldest first), offline; --public-key
                  (repeatable) accepts signatures by those keys instead of the configured signing key's and
                  AUDIT_PREVIOUS_PUBLIC_KEYS`;

const defaultArchiveDirectory = projectPath(".data", "audit-archive");

const { positionals, values, refuse } = parseCommand({
  usage: USAGE,
  allowPositionals: true,
  options: {
    from: { type: "string" },
    to: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    "expect-checkpoint": { type: "string" },
    dir: { type: "string" },
    "public-key": { type: "string", multiple: true },
    yes: { type: "boolean", short: "y", default: false },
  },
  subcommands: {
    seal: [],
    verify: ["from", "to", "since", "until", "expect-checkpoint"],
    archive: ["dir", "yes"],
    "verify-archive": ["public-key"],
  },
});
const [command = "", ...manifests] = positionals;
if (!["seal", "verify", "archive", "verify-archive"].includes(command))
  refuse(command ? `unknown command ${command}` : "which command?");
if (command !== "verify-archive" && manifests.length > 0) refuse(`unexpected argument ${manifests[0]}`);
// An empty --dir (a script's unset variable) would put the archive in whatever directory the command runs in.
if (values.dir !== undefined && values.dir.trim() === "")
  refuse("--dir: give the directory to archive into (default: .data/audit-archive/)");
const archiveDirectory = values.dir === undefined ? defaultArchiveDirectory : operatorPath(values.dir);
// Refused before anything is read.
const archiveDirectoryProblem = values.dir && notADirectory(archiveDirectory, "archive into");
if (archiveDirectoryProblem) refuse(`--dir ${values.dir}: ${archiveDirectoryProblem}`);
const range = command === "verify" ? rangeToVerify() : {};
const expectCheckpoint = command === "verify" ? checkpointToExpect() : undefined;
const archiveQuestion =
  "Move the history older than the retention period out of the database to an archive file";
if (command === "archive") await refuseUnconfirmable(archiveQuestion, values.yes);

/**
 * What the configuration gives, or its problems listed without a stack trace, exit code 1 as for every bad
 * variable (README, "Commands"): 2 is for a command line that makes no sense.
 */
function configured<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(EXIT_FAILED);
  }
}

const env = configured(() => loadEnv());

if (command === "verify-archive") {
  if (manifests.length === 0) refuse("give the archives' manifest files, oldest first");
  const manifestPaths = manifests.map((manifest) => operatorPath(manifest));
  const reports = await verifyArchiveFiles(manifestPaths, await archiveVerifyingKeys()).catch((error) => {
    if (error instanceof ManifestUnreadable) refuse(error.message);
    return process.exit(reportFailure(error, "audit:verify-archive"));
  });
  for (const report of reports) {
    if (report.intact) {
      console.log(
        `intact: archive ${report.archive}, ${report.rows} events from position ${report.firstPosition ?? "-"} to ${report.lastPosition ?? "-"}, after checkpoint ${report.afterCheckpoint} up to checkpoint ${report.checkpoint}; ${report.linksToEarlierArchives} chains continue from the archives before it`,
      );
      if (report.linksNotChecked > 0)
        console.log(
          `  ${report.linksNotChecked} chains continue from archives not given here: give them too, oldest first, to check those links`,
        );
    } else {
      console.log(
        `BROKEN: archive ${report.archive}, after ${report.rows} intact events: ${JSON.stringify(report.brokenLink)}`,
      );
      process.exitCode = 1;
    }
  }
  process.exit();
}

const key = configured(() => loadSigningKey());
// After the configuration: a bad variable or key is refused without asking first.
if (command === "archive") await confirm(archiveQuestion, values.yes);

const databaseUrl = await databaseUrlOf(env, (line) => console.error(line));
const client = new pg.Client({ connectionString: databaseUrl });
try {
  await client.connect();
  if (command === "seal") {
    const checkpoint = await sealCheckpoint(client, key);
    console.log(
      checkpoint
        ? `sealed checkpoint ${checkpoint.sequence}: ${checkpoint.rowCount} events up to position ${checkpoint.upToPosition}`
        : "nothing new to seal",
    );
  } else if (command === "archive") {
    const retentionDays = env.AUDIT_RETENTION_DAYS ?? DEFAULT_AUDIT_RETENTION_DAYS;
    let progress: Progress | undefined;
    const outcome = await archiveHistory(client, key, {
      retentionDays,
      directory: archiveDirectory,
      progress: (rows) => {
        progress = startProgress({ label: "archive", total: rows });
        return progress;
      },
    }).catch((error) => {
      progress?.finish("stopped");
      throw error;
    });
    progress?.finish("written");
    if (outcome.archived) {
      const { archived } = outcome;
      console.log(
        `archived ${archived.rowCount} events created before ${archived.createdBefore.toISOString()} (${retentionDays}-day retention), after checkpoint ${archived.afterCheckpointSequence} up to checkpoint ${archived.checkpointSequence} (position ${archived.upToPosition})`,
      );
      console.log(`  ${outcome.file} (sha256 ${archived.fileSha256.toString("hex")})`);
      console.log(`  ${outcome.manifest}`);
    } else console.log(`nothing to archive: ${outcome.reason}`);
  } else {
    let progress: Progress | undefined;
    const report = await verifyHistory(client, key.trusted, range, {
      ...(expectCheckpoint ? { expectCheckpoint } : {}),
      progress: (estimatedRows) => {
        progress = startProgress({ label: "verify", total: estimatedRows });
        return progress;
      },
    }).catch((error) => {
      if (error instanceof RangeProblem) refuse(`--${error.parameter}: ${error.reason}`);
      throw error;
    });
    progress?.finish(report.intact ? "read" : "stopped at a broken link");
    printReport(report);
  }
} catch (error) {
  // A refusal (an archive that would overwrite or lose history, a checkpoint not to be signed) or a service the
  // environment names that fails: one line saying why, exit code 1.
  process.exitCode = reportFailure(error, `audit:${command}`);
} finally {
  await client.end().catch(() => {});
}

/** The checkpoint --expect-checkpoint names, refused before anything is read if it names none. */
function checkpointToExpect() {
  if (values["expect-checkpoint"] === undefined) return undefined;
  const input = expectedCheckpointInput.safeParse(values["expect-checkpoint"]);
  if (!input.success) return refuse(`--expect-checkpoint: ${input.error.issues[0]?.message}`);
  return input.data;
}

/** The range --from, --to, --since and --until ask to verify, refused before anything is read if it holds none. */
function rangeToVerify(): HistoryRange {
  const input = historyRangeInput.safeParse({
    from: values.from,
    to: values.to,
    since: values.since,
    until: values.until,
  });
  if (!input.success)
    return refuse(`--${input.error.issues[0]?.path.join(".")}: ${input.error.issues[0]?.message}`);
  const range = historyRange(input.data);
  try {
    checkRange(range);
  } catch (error) {
    if (error instanceof RangeProblem) refuse(`--${error.parameter}: ${error.reason}`);
    throw error;
  }
  return range;
}

/**
 * The keys archives may be signed by: those given with --public-key, else the configured signing key and those
 * it replaced (AUDIT_PREVIOUS_PUBLIC_KEYS).
 */
async function archiveVerifyingKeys(): Promise<ReadonlyMap<string, KeyObject>> {
  const files = values["public-key"] ?? [];
  if (files.length === 0) return configured(() => loadSigningKey()).trusted;
  const keys = new Map<string, KeyObject>();
  for (const file of files) {
    const pem = await readFile(operatorPath(file), "utf8").catch((error: Error) =>
      refuse(`--public-key ${file}: ${error.message}`),
    );
    // A file that holds no Ed25519 key is the argument's fault: refused with the usage, not a stack trace.
    const { publicKey, keyId } = (() => {
      try {
        return verifyingKeyFromPem(pem, `--public-key ${file}`);
      } catch (error) {
        return refuse((error as Error).message);
      }
    })();
    keys.set(keyId, publicKey);
  }
  return keys;
}

function printReport(report: VerificationReport): void {
  if (report.intact) {
    // A span may hold no event: a history all archived, or nothing written since the last checkpoint.
    const reach =
      report.upToPosition === null
        ? "intact, no event in the span"
        : `intact up to position ${report.upToPosition}`;
    console.log(
      // The rate is the progress line's (stderr), timed over the events read: one figure, not two.
      `${reach}: ${report.rows} events, ${report.chainedAggregates} aggregate chains, ${report.checkpoints} checkpoints`,
    );
  } else {
    console.log(`BROKEN after ${report.rows} intact events: ${JSON.stringify(report.brokenLink)}`);
    process.exitCode = 1;
  }
  const range = report.range;
  if (!range) return;
  const start =
    range.afterCheckpoint === 0
      ? "from the start of the history"
      : `after checkpoint ${range.afterCheckpoint} (position ${range.afterPosition}), from its signed running hash over the ${range.rowsBefore} events before (not read here${range.archivedRows > 0 ? `; ${range.archivedRows} of them archived` : ""})`;
  const end =
    range.throughPosition === null
      ? "to the end of the history (chain heads checked)"
      : `through position ${range.throughPosition}`;
  console.log(`  verified ${start} ${end}`);
  if (report.intact && report.lastCheckpoint) {
    const { sequence, chainHash, rowCount, sealedAt } = report.lastCheckpoint;
    console.log(
      `  last checkpoint: ${sequence} (${rowCount} events, sealed ${sealedAt}); write it down, and check it later with --expect-checkpoint ${sequence}:${chainHash}`,
    );
  }
  if (report.intact && report.linksToEarlierRows + report.linksToArchivedRows > 0) {
    console.log(
      `  chains reaching before it: ${report.linksToEarlierRows} linked to earlier events' stored hashes (those events not verified here), ${report.linksToArchivedRows} to archived events' recorded hashes`,
    );
  }
}
