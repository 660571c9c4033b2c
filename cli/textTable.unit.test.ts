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
});
