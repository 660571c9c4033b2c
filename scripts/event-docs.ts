// `npm run docs:events -- [dir]` writes the event documentation generated from the catalog: asyncapi.json and
// one JSON Schema per event type (<type>.schema.json), into `dir` (default .data/event-docs, not committed:
// the platform serves the same documents at /asyncapi.json and /events/schemas/<type>.json).
import { statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseCommand } from "../cli/command.ts";
import { asyncApiDocument } from "../events/docs/asyncApiDocument.ts";
import { eventJsonSchemas } from "../events/docs/eventJsonSchemas.ts";

const { positionals, refuse } = parseCommand({
  usage: `usage: npm run docs:events -- [<dir>]
  writes asyncapi.json and one JSON Schema per event type into <dir> (default .data/event-docs)`,
  allowPositionals: true,
});
if (positionals.length > 1) refuse("one directory");
const dir = positionals[0] ?? ".data/event-docs";
// An empty one (a script's unset variable) is no directory: mkdir fails on it with ENOENT, as a failure of the
// environment rather than of the argument.
if (dir.trim() === "")
  refuse("<dir> is empty: give the directory to write into, or none for .data/event-docs");
// One that does not exist yet is made; a file there is the argument's mistake, refused before anything is written.
if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false)
  refuse(`${dir}: is a file, not a directory to write into`);
await mkdir(dir, { recursive: true });
await writeFile(join(dir, "asyncapi.json"), `${JSON.stringify(asyncApiDocument(), null, 2)}\n`);
const schemas = Object.entries(eventJsonSchemas());
for (const [type, schema] of schemas) {
  await writeFile(join(dir, `${type}.schema.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
console.log(`wrote asyncapi.json and ${schemas.length} event schemas to ${dir}`);
