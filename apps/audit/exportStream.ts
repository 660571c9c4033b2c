// An export (or a page of the history too large to be read at once) as the body of its 200: the text a generator yields, read only as fast as the client takes it. A
// failure once the 200 has gone out (a page the database cannot read, the connection lost) errors the stream:
// the server then breaks the connection off without the last chunk, so no client takes what it had received
// for a whole export. The completion line, which the generator yields last, says the same to whoever later
// reads the saved file.
import type { Logger } from "../../observability/logger.ts";

/** Why an export ended early; the message names no value the failure might have quoted (PHI). */
export class ExportInterrupted extends Error {
  constructor(
    readonly eventsSent: number,
    what: StreamedAnswer = "audit export",
  ) {
    super(
      what === "audit export"
        ? `The audit export failed after ${eventsSent} events were sent; it was cut off, with no completion line.`
        : `The audit page failed after ${eventsSent} events were sent; it was cut off, incomplete JSON.`,
    );
    this.name = "ExportInterrupted";
  }
}

/**
 * An archive committed while an export streamed took events past the export's place: the export would have a
 * gap. Its name is what the log reports.
 */
export class ArchivedWhileExporting extends Error {
  override name = "ArchivedWhileExporting";
  constructor() {
    super("an archive committed while the export streamed took events it had not yet sent");
  }
}

export interface ExportProgress {
  /** Events yielded so far. */
  events: number;
}

/** What is streamed: an export, or a page of GET /audit/events too large to be read at once. */
export type StreamedAnswer = "audit export" | "audit page";

export function exportStream(
  text: AsyncGenerator<string, void, undefined>,
  progress: ExportProgress,
  {
    log,
    correlationId,
    what = "audit export",
  }: { log: Logger; correlationId: string | undefined; what?: StreamedAnswer },
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await text.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        } catch (error) {
          // Driver messages can quote the values that failed (PHI): the error's kind and code only.
          const { name, code } = error as { name?: string; code?: string };
          log.error(
            { err: { type: name, code }, correlationId, eventsSent: progress.events },
            `${what} interrupted: the response is cut off`,
          );
          controller.error(new ExportInterrupted(progress.events, what));
        }
      },
      async cancel() {
        // The client went away: stop between pages (a page being read finishes first).
        await text.return();
      },
    },
    // Nothing is read ahead of the client: the next page is queried when the last one has been taken.
    { highWaterMark: 0 },
  );
}
