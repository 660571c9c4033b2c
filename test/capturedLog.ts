// A log a test reads back, to check what a component logs (the event ids it names, never patient data).
import { Writable } from "node:stream";
import { createLogger } from "../observability/logger.ts";

/** A logger at `info` whose lines the test reads back: `lines()`, each parsed, in the order they were logged. */
export function capturedLog(): {
  log: ReturnType<typeof createLogger>;
  lines: () => Array<Record<string, unknown>>;
} {
  const lines: string[] = [];
  const log = createLogger({
    level: "info",
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  return { log, lines: () => lines.map((line) => JSON.parse(line)) };
}
