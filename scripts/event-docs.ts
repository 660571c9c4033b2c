// `npm run docs:events -- [dir]` writes the event documentation generated from the catalog: asyncapi.json and
// one JSON Schema per event type (<type>.schema.json), into `dir` (default .data/event-docs, not committed:
// the platform serves the same documents at /asyncapi.json and /events/schemas/<type>.json).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { notADirectory, operatorPath, parseCommand } from "../cli/command.ts";
import { projectPath } from "../config/projectRoot.ts";
import { asyncApiDocument } from "../events/docs/asyncApiDocument.ts";
import { eventJsonSchemas } from "../events/docs/eventJsonSchemas.ts";

const { positionals, refuse } = parseCommand({
  usage: `usage: npm run docs:events -- [<dir>]
  writes asyncapi.json and one JSON Schema per event type into <dir> (default .data/event-docs)`,
  allowPositionals: true,
});
if (positionals.length > 1) refuse("one directory");
const [given] = positionals;
// An empty one (a script's unset variable) is no directory: mkdir fails on it with ENOENT, as a failure of the
// environment rather than of the argument.
if (given?.trim() === "")
  refuse("<dir> is empty: give the directory to write into, or none for .data/event-docs");
const dir = given === undefined ? projectPath(".data", "event-docs") : operatorPath(given);
// Refused before anything is written.
const problem = given && notADirectory(dir, "write into");
if (problem) refuse(`${given}: ${problem}`);
await mkdir(dir, { recursive: true });
await writeFile(join(dir, "asyncapi.json"), `${JSON.stringify(asyncApiDocument(), null, 2)}\n`);
const schemas = Object.entries(eventJsonSchemas());
for (const [type, schema] of schemas) {
  await writeFile(join(dir, `${type}.schema.json`), `${JSON.stringify(schema, null, 2)}\n`);
}
console.log(`wrote asyncapi.json and ${schemas.length} event schemas to ${dir}`);
