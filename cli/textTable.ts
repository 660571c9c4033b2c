// A table for an operator's terminal: each column as wide as its widest cell, two spaces between columns, no
// space at the end of a line. A cell's control characters are shown escaped (cli/printable.ts): a cell may hold
// text a record's producer chose, and a line break in one would break the table too.
import { printable } from "./printable.ts";

/** The header's line, then each row's. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const shown = rows.map((cells) => cells.map(printable));
  const widths = header.map((title, column) =>
    Math.max(title.length, ...shown.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...shown.map(line)];
}
