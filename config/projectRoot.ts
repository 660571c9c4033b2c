// The checkout's root, for the files the code reads and writes beside its sources: .data/, db/migrations/,
// stack/'s Maven and log settings, the console's assets. The same directory whether a module runs as its
// TypeScript source (under tsx: the tests and the command-line tools) or compiled into dist/ (`npm start`,
// `npm run relay`, `npm run consumers`, the image; tsconfig.build.json), where dist/ mirrors the source tree
// one level down.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const compiled = import.meta.url.endsWith(".js");

/** With a trailing slash, as `new URL("..", import.meta.url)` gives it (stack/processes.ts hashes this text). */
export const projectRoot = fileURLToPath(new URL(compiled ? "../../" : "../", import.meta.url));

/** A path in the checkout, given as in the source tree: `projectPath("db", "migrations")`. */
export function projectPath(...segments: string[]): string {
  return join(projectRoot, ...segments);
}
