import { describe, expect, it } from "vitest";
import { ambiguousMember } from "./ambiguousJson.ts";

const repeatedMember = (text: string) => ambiguousMember(text)?.path;

describe("ambiguousMember: a member named twice", () => {
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

describe("ambiguousMember: a number JSON.parse would read as another", () => {
  const inexact = (text: string) => {
    const found = ambiguousMember(text);
    return found && { path: found.path, message: found.message };
  };

  it("takes every spelling of a number that a 64-bit float holds as written", () => {
    for (const number of [
      "0",
      "-0",
      "0.0",
      "480",
      "480.000",
      "4.8e2",
      "48000E-2",
      "0.1",
      "0.30000000000000004",
      "-12.5",
      "1e21",
      "1E+21",
      "5e-324",
      "9007199254740991",
      "9007199254740992",
      "1.7976931348623157e308",
      "123456789012345680000",
    ]) {
      expect(inexact(`{"n":${number}}`), number).toBeUndefined();
      expect(inexact(`[${number}]`), number).toBeUndefined();
    }
  });

  it("names the first number that would be read as another, and where it is", () => {
    const message = "has more digits than a 64-bit number holds: it would be read as another number";
    expect(inexact('{"durationMinutes":480.00000000000001}')).toEqual({ path: ["durationMinutes"], message });
    expect(inexact('{"durationMinutes":4.9999999999999999}')).toEqual({ path: ["durationMinutes"], message });
    expect(inexact('{"a":{"confidence":1.0000000000000001}}')).toEqual({
      path: ["a", "confidence"],
      message,
    });
    expect(inexact(`{"sizeBytes":0.${"0".repeat(400)}1}`)).toEqual({ path: ["sizeBytes"], message });
    expect(inexact('{"list":[1,2,9007199254740993]}')).toEqual({ path: ["list", 2], message });
    expect(inexact("12345678901234567890")).toEqual({ path: [], message });
    // Below the smallest float: read as zero.
    expect(inexact('{"n":1e-400}')).toEqual({ path: ["n"], message });
    expect(inexact('{"n":-2e-324}')).toEqual({ path: ["n"], message });
    // The exact value of the float nearest 0.1: read back, it is written 0.1.
    expect(inexact('{"n":0.1000000000000000055511151231257827}')).toEqual({ path: ["n"], message });
  });

  it("reads a number as long as a body can hold in one pass: any caller's request is checked before its role", () => {
    // `/0+$/` took 6 s of the process's one thread on each of the first two, 60,000 zeros before a 1: linear,
    // the four take a few milliseconds. A bound of a second against that, not a benchmark.
    const zeros = "0".repeat(60_000);
    const started = performance.now();
    // Past the largest float: the field's to refuse.
    expect(inexact(`{"lastName":1${zeros}1}`)).toBeUndefined();
    // Below the smallest: read as zero.
    expect(inexact(`{"sizeBytes":0.${zeros}1}`)).toEqual({
      path: ["sizeBytes"],
      message: "has more digits than a 64-bit number holds: it would be read as another number",
    });
    expect(inexact(`{"n":1.5${zeros}}`)).toBeUndefined();
    expect(inexact(`{"n":0.${zeros}}`)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("leaves a number past the largest float to the field, which refuses Infinity as not finite", () => {
    expect(inexact('{"n":1e400}')).toBeUndefined();
    expect(inexact('{"n":-1e400}')).toBeUndefined();
  });

  it("reads digits inside strings and names as text, not numbers", () => {
    expect(inexact('{"480.00000000000001":"4.9999999999999999"}')).toBeUndefined();
  });

  it("reports whichever comes first, a repeated name or an inexact number", () => {
    expect(inexact('{"a":1,"a":0.1000000000000000055511151231257827}')?.message).toBe(
      "is given more than once",
    );
    expect(inexact('{"b":1e-400,"a":1,"a":2}')?.path).toEqual(["b"]);
  });
});
