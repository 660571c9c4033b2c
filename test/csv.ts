// CSV read back as a spreadsheet reads it (RFC 4180), for the tests of the auditors' export.

/**
 * RFC 4180, as a spreadsheet reads it: by default with commas; `separator` reads it as a spreadsheet whose
 * locale separates fields otherwise (`;`, where Excel's list separator is a semicolon, or a tab), for which the
 * quotes around a comma-separated field no longer stand at the start of a cell. A quote opens a quoted field
 * only at the start of a cell (elsewhere it is text), and a line ends at CR LF, or at either alone.
 */
export function parseCsv(text: string, separator = ","): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"' && field === "") quoted = true;
    else if (char === separator) {
      row.push(field);
      field = "";
    } else if (char === "\r" || char === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      if (char === "\r" && text[i + 1] === "\n") i++;
    } else field += char;
  }
  return rows;
}
