// The two export formats, one line per event: NDJSON (the envelope embedded verbatim) and CSV (RFC 4180:
// a field holding a comma, a quote or a line break is quoted, its quotes doubled; a field a spreadsheet
// would run as a formula is defused). Each ends with its completion line, which only a whole export carries.
import type { HistoryEvent } from "./sql/historyPage.ts";

/**
 * A spreadsheet runs a cell that starts with one of these as a formula, quoted or not (`=HYPERLINK(...)` typed
 * as a login name becomes a login attempt's aggregate id). OWASP's list, with the full-width forms that some
 * spreadsheets also read as operators.
 */
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * A would-be formula after a `;` (the list separator of Excel in much of Europe), a tab or a line break: a
 * spreadsheet that reads the file with that separator starts a cell there, where the quotes around a
 * comma-separated field stand mid-cell and keep nothing together (`x;=1+1;` typed as a login name is the cell
 * `=1+1`). It gets a `'` too.
 */
const FORMULA_AFTER_BREAK = /([;\t\r\n])(?=[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;

export const exportFormats = {
  ndjson: {
    contentType: "application/x-ndjson; charset=utf-8",
    header: "",
    line: (event: HistoryEvent) =>
      // The stored envelope text goes in as it is: no parse, and the bytes Kafka holds.
      `{"eventId":${JSON.stringify(event.eventId)},"position":${JSON.stringify(event.position)},"eventType":${JSON.stringify(event.eventType)},"aggregate":${JSON.stringify({ type: event.aggregateType, id: event.aggregateId })},"version":${JSON.stringify(event.aggregateVersion)},"createdAt":${JSON.stringify(event.createdAt)},"envelope":${event.envelope}}\n`,
    complete: (events: number) => `{"exportComplete":true,"events":${events}}\n`,
  },
  csv: {
    contentType: "text/csv; charset=utf-8",
    header: csvLine([
      "eventId",
      "position",
      "eventType",
      "aggregateType",
      "aggregateId",
      "version",
      "createdAt",
      "correlationId",
      "userId",
      "patientId",
      "envelope",
    ]),
    line: (event: HistoryEvent) =>
      csvLine([
        event.eventId,
        event.position,
        event.eventType,
        event.aggregateType,
        event.aggregateId,
        event.aggregateVersion === null ? "" : String(event.aggregateVersion),
        event.createdAt,
        event.correlationId,
        event.userId ?? "",
        event.patientId ?? "",
        // The same JSON with no `;` in it (a `;` stands only inside its strings): no cell starts in it for a
        // spreadsheet reading with semicolons, and it parses to the envelope as stored.
        event.envelope.replaceAll(";", "\\u003b"),
      ]),
    // A row of the header's eleven fields, so that a strict reader takes it; `#` starts it, which readers
    // told that comments start so (pandas' `comment="#"`) skip.
    complete: (events: number) => csvLine([`# export complete: ${events} events`, ...Array(10).fill("")]),
  },
} as const;

export type ExportFormat = keyof typeof exportFormats;

/**
 * One CSV field: a would-be formula gets a leading `'` (OWASP's rule: the cell shows as text, and the quote
 * tells a reader that it was added), as does one after another locale's separator or a line break, and is
 * quoted, as is any field holding a comma, a quote or a line break.
 */
export function csvField(value: string): string {
  const defused = value.replace(FORMULA_AFTER_BREAK, "$1'");
  if (FORMULA_START.test(defused)) return `"'${defused.replaceAll('"', '""')}"`;
  return /[",\r\n]/.test(defused) ? `"${defused.replaceAll('"', '""')}"` : defused;
}

function csvLine(fields: string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}
