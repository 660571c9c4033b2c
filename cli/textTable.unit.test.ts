import { describe, expect, it } from "vitest";
import { textTable } from "./textTable.ts";

describe("textTable", () => {
  it("pads each column to its widest cell, two spaces apart, with no space at the ends of lines", () => {
    expect(
      textTable(
        ["id", "status"],
        [
          ["a-long-id", "sent"],
          ["b", "unknown"],
        ],
      ),
    ).toEqual(["id         status", "a-long-id  sent", "b          unknown"]);
  });

  it("is the header alone when there are no rows", () => {
    expect(textTable(["topic", "partitions"], [])).toEqual(["topic  partitions"]);
  });

  it("shows a cell's control, separator and bidirectional formatting characters escaped, none of them raw", () => {
    const chosen = "redrive\u001b[2J\u009b31m\u202eevil\u2066\nnext";
    const shown = String.raw`redrive\u001b[2J\u009b31m\u202eevil\u2066\u000anext`;
    const lines = textTable(["consumer", "reason"], [[chosen, "poison"]]);
    expect(lines).toEqual([`${"consumer".padEnd(shown.length)}  reason`, `${shown}  poison`]);
    expect(lines.join("")).not.toMatch(/[\p{Cc}\u202e\u2066]/u);
  });
});
