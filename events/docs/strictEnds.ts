// The published patterns' ends, for every regex dialect a client team's tools read them in. In ECMA-262, the
// dialect JSON Schema names, `$` (without the m flag) is the end of the input; in Python, .NET and PCRE it also
// matches before a final line break, so `^\+[1-9][0-9]{6,14}$` took "+14155552671\n" there, and Hypothesis
// (Schemathesis's generator) ended 139 of 300 phones it drew from the pattern with one: each valid by the
// document and a 400 here. `$(?!\n)` is the end of the input in all of them, and means `$` in ECMA-262.

/** The pattern, its final `$` made the end of the input in every dialect; any other pattern unchanged. */
export function strictEnd(pattern: string): string {
  return ENDS_ANCHORED.test(pattern) ? `${pattern}${NO_FINAL_LINE_BREAK}` : pattern;
}

/** The document with every `pattern` of its schemas ending strictly (strictEnd), as a copy. */
export function withStrictEnds<T>(document: T): T {
  return JSON.parse(JSON.stringify(document), (key, value: unknown) =>
    key === "pattern" && typeof value === "string" ? strictEnd(value) : value,
  );
}

export const NO_FINAL_LINE_BREAK = "(?!\\n)";

/** A final `$` that is no escaped dollar sign (`\$`), however many backslashes stand before it. */
const ENDS_ANCHORED = /(?<!\\)(?:\\\\)*\$$/;
