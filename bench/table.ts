// Prints a benchmark's figures as a Markdown table, so they can be pasted into notes as they are.
export function printTable(
  title: string,
  rows: Array<[string, string, string]>,
  header: [string, string, string] = ["metric", "value", "note"],
): void {
  const all = [header, ...rows];
  const widths = [0, 1, 2].map((column) => Math.max(...all.map((row) => row[column]?.length ?? 0)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  console.log(`\n${title} (${new Date().toISOString()}, Node ${process.version})`);
  console.log(line(header));
  console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}
