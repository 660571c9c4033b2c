// Run by `npm ci` and `npm install` after they install (package.json's postinstall): the changes this project
// makes to a dependency that no release of it makes. Each patch replaces exact texts in one file of one pinned
// version. Another version, or a file holding neither the original text nor the patched one, stops the install
// with a message naming both: the patch must then be reviewed against the new code, never applied blind.
// Applying a patch twice changes nothing.
//
//   node scripts/patch-dependencies.mjs [project directory]   (default: this script's project)
//
// Plain JavaScript on Node's own modules: it runs before anything is built, in the image without
// devDependencies too.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PATCHES = [
  {
    // kafkajs encodes every record, every header and every request into an Encoder whose buffer it allocates
    // with Buffer.alloc: 512 zero-filled bytes of fresh memory each time, grown by another zero-filled copy
    // when a record is larger. An Encoder writes its bytes in order and hands out only the slice it wrote
    // (`get buffer()`, `buf.slice(0, offset)`), so nothing reads the bytes it has not written: allocUnsafe
    // serves the same buffers from Node's pool, unzeroed. Half the CPU of encoding a relay batch (14 µs a
    // record of 700 bytes with three headers, 7.7 µs patched). kafkajs has had no release since 2023.
    package: "kafkajs",
    version: "2.2.4",
    file: "src/protocol/encoder.js",
    replace: [
      [
        "this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))",
        "this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))",
      ],
      ["const newBuffer = Buffer.alloc(newLength)", "const newBuffer = Buffer.allocUnsafe(newLength)"],
    ],
  },
  {
    // After its first answer, every connection's request queue re-armed a timer to check its pending requests
    // whether or not any were pending: with no throttling in effect the delay it computes is negative, so the
    // timer fired at once (Node makes it 1 ms), checked an empty queue and armed the next one. Each of the
    // platform's broker connections (the relay's producer, each consumer's, each API process's admin) woke its
    // event loop a thousand times a second: 7% of a core for an idle API process, 12% for the primary, taken
    // from the requests. A timer is now armed only while requests wait (a throttle, or too many in flight,
    // which an answer's arrival also checks). kafkajs issue #1556, unreleased fix #1667.
    package: "kafkajs",
    version: "2.2.4",
    file: "src/network/requestQueue/index.js",
    replace: [
      [
        `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      }`,
        `      if (this.pending.length === 0) return
      scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL`,
      ],
    ],
  },
];

function occurrences(text, part) {
  return text.split(part).length - 1;
}

function apply(project, patch) {
  const directory = join(project, "node_modules", patch.package);
  const { version } = JSON.parse(readFileSync(join(directory, "package.json"), "utf8"));
  if (version !== patch.version) {
    throw new Error(
      `${patch.package} ${version} is installed, the patch of ${patch.file} is for ${patch.version}: review it against the new version (scripts/patch-dependencies.mjs)`,
    );
  }
  const path = join(directory, patch.file);
  const before = readFileSync(path, "utf8");
  let after = before;
  for (const [original, patched] of patch.replace) {
    if (occurrences(after, original) === 1 && occurrences(after, patched) === 0) {
      after = after.replace(original, () => patched);
    } else if (occurrences(after, original) !== 0 || occurrences(after, patched) !== 1) {
      throw new Error(
        `${path} holds neither the original nor the patched text of ${patch.package} ${patch.version}: ${JSON.stringify(original)}`,
      );
    }
  }
  if (after === before) return false;
  writeFileSync(`${path}.patching`, after);
  renameSync(`${path}.patching`, path);
  return true;
}

const project = process.argv[2] ?? fileURLToPath(new URL("..", import.meta.url));
try {
  for (const patch of PATCHES) {
    if (apply(project, patch)) console.log(`patched ${patch.package} ${patch.version}: ${patch.file}`);
  }
} catch (error) {
  console.error(`patch-dependencies: ${error.message}`);
  process.exitCode = 1;
}
