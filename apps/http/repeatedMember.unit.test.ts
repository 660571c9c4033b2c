import { describe, expect, it } from "vitest";
import { repeatedMember } from "./repeatedMember.ts";

describe("repeatedMember", () => {
  it("finds nothing in JSON whose objects name each member once", () => {
    for (const text of [
      "{}",
      "[]",
      '"a"',
      "42",
      '{"a":1,"b":{"a":2,"b":[{"a":3},{"a":4}]}}',
      '[{"a":1},{"a":1}]',
      // Names inside string values are not names.
      '{"a":"{\\"a\\":1,\\"a\\":2}","b":"\\\\","c":"}","d":"\\""}',
      '  {  "a"  :  1  ,  "b"  :  [ 1 , 2 ]  }  ',
    ]) {
      expect(repeatedMember(text), text).toBeUndefined();
      expect(() => JSON.parse(text), text).not.toThrow();
    }
  });

  it("names the path to the first repeated member, array items by index", () => {
    expect(repeatedMember('{"userId":"a","userId":"b"}')).toEqual(["userId"]);
    expect(repeatedMember('{"a":1,"insuranceInfo":{"provider":"x","provider":"y"}}')).toEqual([
      "insuranceInfo",
      "provider",
    ]);
    expect(repeatedMember('{"list":[{"a":1},{"b":1},{"c":1,"c":2}]}')).toEqual(["list", 2, "c"]);
    expect(repeatedMember('[[1,2],[{"x":1,"x":1}]]')).toEqual([1, 0, "x"]);
    // After a nested object closes, the outer object's names are still counted.
    expect(repeatedMember('{"a":{"b":1},"c":2,"a":3}')).toEqual(["a"]);
  });

  it("compares names as JSON.parse reads them: escapes and the empty name", () => {
    expect(repeatedMember('{"role":1,"\\u0072ole":2}')).toEqual(["role"]);
    expect(repeatedMember('{"a\\"b":1,"a\\u0022b":2}')).toEqual(['a"b']);
    expect(repeatedMember('{"":1,"":2}')).toEqual([""]);
    // A name ending in an escaped backslash is closed by the quote after it.
    expect(repeatedMember('{"a\\\\":1,"a\\\\":2}')).toEqual(["a\\"]);
    expect(repeatedMember('{"a\\\\":1,"a":2}')).toBeUndefined();
  });

  it("answers text that is not JSON without throwing, however it is cut", () => {
    const text = '{"a":[1,{"b":"x\\"y","c":{}}],"d":"\\u0041","e":[[]]}';
    for (let end = 0; end <= text.length; end++) {
      expect(() => repeatedMember(text.slice(0, end))).not.toThrow();
      expect(() => repeatedMember(text.slice(end))).not.toThrow();
    }
    for (const text of ["}}}]]]", '{"a', '{"\\u00zz":1,"\\u00zz":2}', ",,,", '{"a":1,,"a":2}']) {
      expect(() => repeatedMember(text), text).not.toThrow();
    }
  });

  it("reads deep nesting without recursion", () => {
    const depth = 50_000;
    const deep = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    expect(repeatedMember(deep)).toBeUndefined();
    const repeatedAtTheBottom = `${'{"a":'.repeat(depth)}{"b":1,"b":2}${"}".repeat(depth)}`;
    expect(repeatedMember(repeatedAtTheBottom)?.length).toBe(depth + 1);
  });
});
