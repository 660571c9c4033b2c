// An export names each patient in an access record before their first page, once, while it remembers them; it
// remembers a bounded number, and forgetting can only make it record a patient again, never skip one.
import { describe, expect, it } from "vitest";
import { NamedPatients } from "./namedPatients.ts";

describe("the patients an export has named", () => {
  it("answers each patient once, in order, and the one the query asked about never", () => {
    const named = new NamedPatients(10, ["asked"]);
    expect(named.name(["a", "asked", "b", "a"])).toEqual(["a", "b"]);
    expect(named.name(["b", "c", "a"])).toEqual(["c"]);
    expect(named.size).toBe(4);
  });

  it("keeps at most its limit, and past it names again a patient it forgot, never skipping one", () => {
    const named = new NamedPatients(3);
    expect(named.name(["a", "b", "c"])).toEqual(["a", "b", "c"]);
    // A fourth does not fit: the set starts again with it.
    expect(named.name(["d"])).toEqual(["d"]);
    expect(named.size).toBe(1);
    expect(named.name(["a", "d"])).toEqual(["a"]);
    // A page with more new patients than the limit: every one is answered, the last ones kept.
    expect(named.name(["e", "f", "g", "h", "i"])).toEqual(["e", "f", "g", "h", "i"]);
    expect(named.size).toBe(3);
    expect(named.name(["g", "h", "i", "e"])).toEqual(["e"]);
  });

  it("refuses a limit that is not a count", () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => new NamedPatients(limit), String(limit)).toThrow(RangeError);
    }
  });
});
