// Prints a benchmark's figures as a Markdown table, so they can be pasted into notes as they are.
export function printTable(
  title: string,
  rows: string[][],
  header: string[] = ["metric", "value", "note"],
): void {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]?.length ?? 0)));
  const line = (row: string[]) =>
    `| ${widths.map((width, column) => (row[column] ?? "").padEnd(width)).join(" | ")} |`;
  console.log(`\n${title} (${new Date().toISOString()}, Node ${process.version})`);
  console.log(line(header));
  console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
  for (const row of rows) console.log(line(row));
}
