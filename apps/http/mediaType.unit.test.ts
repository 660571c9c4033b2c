// Content-Type read as RFC 9110 writes it: blanks around the `;`, a `;` with nothing after it, quoted values, any
// case; and nothing else (a parameter with no value, a blank inside the type, a list of types).
import { describe, expect, it } from "vitest";
import { mediaTypeOf } from "./mediaType.ts";

describe("mediaTypeOf", () => {
  it("reads every spelling RFC 9110 allows", () => {
    expect(mediaTypeOf("application/json")).toEqual({ essence: "application/json", parameters: [] });
    expect(mediaTypeOf('Application/JSON ; Charset="UTF-8"')).toEqual({
      essence: "application/json",
      parameters: [["charset", "UTF-8"]],
    });
    expect(mediaTypeOf("application/json;")).toEqual({ essence: "application/json", parameters: [] });
    expect(mediaTypeOf("application/json ;\t; charset=utf-8 ")?.parameters).toEqual([["charset", "utf-8"]]);
    expect(mediaTypeOf('text/plain; a="x\\"y"; a=b')?.parameters).toEqual([
      ["a", 'x"y'],
      ["a", "b"],
    ]);
    expect(mediaTypeOf("application/merge-patch+json")?.essence).toBe("application/merge-patch+json");
  });

  it("is undefined for what is no media type", () => {
    for (const header of [
      "",
      "application",
      "application/",
      "application /json",
      "application/json, text/plain",
      "application/json; charset",
      "application/json; charset=",
      "application/json; charset=utf 8",
      'application/json; charset="utf-8',
      "application/json\u0000",
      "application/jsön",
    ]) {
      expect(mediaTypeOf(header), JSON.stringify(header)).toBeUndefined();
    }
  });
});
