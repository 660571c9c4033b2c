// A Content-Type as RFC 9110 §8.3.1 writes it: `type "/" subtype *( OWS ";" OWS [ name "=" value ] )`, value a
// token or a quoted string, names and the type in any case. Read once here, so that what the API takes for a
// JSON body is one rule, not a regular expression per library (Hono's took any `application/…+json` and refused
// a blank before the `;`). An Accept header's media ranges are read by the same grammar, to tell whether it admits
// what a route answers (RFC 9110 §12.5.1; Hono's `accepts` helper reads `q=abc` as 1 and matches nothing to */*).

export interface MediaType {
  /** `type/subtype`, lower case. */
  essence: string;
  /** Each parameter as given, its name lower case, a quoted value unquoted; a name may come twice. */
  parameters: Array<[name: string, value: string]>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[^"\\\\\\x00-\\x08\\x0a-\\x1f\\x7f]|\\\\[\\x09\\x20-\\x7e\\x80-\\xff])*"';
const PARAMETER = `[ \\t]*;[ \\t]*(?:(${TOKEN})=(${TOKEN}|${QUOTED}))?`;
const MEDIA_TYPE = new RegExp(`^[ \\t]*(${TOKEN})/(${TOKEN})((?:${PARAMETER})*)[ \\t]*$`);

/** The media type of a Content-Type header; undefined when it is not one. */
export function mediaTypeOf(header: string): MediaType | undefined {
  const match = MEDIA_TYPE.exec(header);
  if (!match) return undefined;
  const [, type = "", subtype = "", rest = ""] = match;
  const parameters: Array<[string, string]> = [];
  for (const [, name, value] of rest.matchAll(new RegExp(PARAMETER, "g"))) {
    if (name === undefined || value === undefined) continue;
    const unquoted = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
    parameters.push([name.toLowerCase(), unquoted]);
  }
  return { essence: `${type}/${subtype}`.toLowerCase(), parameters };
}

// A media range of an Accept header (RFC 9110 §12.5.1): */*, type/* or a type, with its parameters.
interface MediaRange {
  type: string;
  subtype: string;
  /** The parameters before the weight, as in MediaType. */
  parameters: Array<[name: string, value: string]>;
  /** The weight, 0 to 1: 0 excludes what the range matches. */
  q: number;
}

// A weight as clients write it: RFC 9110's `0.5`, and also `.5` or `0.25000` (Java's HttpURLConnection sends
// `*; q=.2, */*; q=.2` by default). Anything else is no weight, one above 1 (`q=2`) too: RFC 9110's qvalue is 0
// to 1, and what a client meant by 2 is a guess, as it is of `q=abc` or `q=-1`.
const WEIGHT = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

// Whether an Accept header admits `answer` (a Content-Type). No header, or one listing nothing, admits anything.
// Of the ranges that match the answer (its type, type/* or */*, and every parameter the range names), the most
// specific decides (RFC 9110 §12.5.1: `application/json;q=0, */*` excludes JSON), the lowest weight among equally
// specific ones; a weight of 0 excludes. A member that is no media range as RFC 9110 writes it (`*`, `json`,
// `q=abc`, `q=2`, a parameter after the weight) is read as admitting nothing rather than guessed at.
export function admits(accept: string | undefined, answer: string): boolean {
  const members = listMembers(accept ?? "");
  if (members.length === 0) return true;
  const representation = mediaTypeOf(answer);
  if (representation === undefined) return false;
  let decided: { specificity: number; q: number } | undefined;
  for (const range of members.map(mediaRangeOf)) {
    if (range === undefined || !matches(range, representation)) continue;
    const specificity = specificityOf(range, representation);
    if (decided === undefined || specificity > decided.specificity) decided = { specificity, q: range.q };
    else if (specificity === decided.specificity) decided.q = Math.min(decided.q, range.q);
  }
  return decided !== undefined && decided.q > 0;
}

/**
 * The members of a comma-separated list, blanks around them trimmed and empty ones left out (RFC 9110 §5.6.1);
 * a comma inside a quoted string separates nothing.
 */
function listMembers(header: string): string[] {
  const members: string[] = [];
  let start = 0;
  let quoted = false;
  for (let at = 0; at <= header.length; at++) {
    const char = header[at];
    if (quoted && char === "\\") at++;
    else if (char === '"') quoted = !quoted;
    else if ((char === "," && !quoted) || at === header.length) {
      const member = header.slice(start, at).trim();
      if (member !== "") members.push(member);
      start = at + 1;
    }
  }
  return members;
}

function mediaRangeOf(member: string): MediaRange | undefined {
  const mediaType = mediaTypeOf(member);
  if (mediaType === undefined) return undefined;
  const [type = "", subtype = ""] = mediaType.essence.split("/");
  if (type === "*" && subtype !== "*") return undefined;
  const weightAt = mediaType.parameters.findIndex(([name]) => name === "q");
  if (weightAt === -1) return { type, subtype, parameters: mediaType.parameters, q: 1 };
  const [, weight = ""] = mediaType.parameters[weightAt] ?? [];
  // The weight ends the range: a parameter after it, or a second one, is no part of RFC 9110's grammar.
  if (weightAt !== mediaType.parameters.length - 1 || !WEIGHT.test(weight) || Number(weight) > 1)
    return undefined;
  return { type, subtype, parameters: mediaType.parameters.slice(0, weightAt), q: Number(weight) };
}

function matches(range: MediaRange, representation: MediaType): boolean {
  const [type, subtype = ""] = representation.essence.split("/");
  if (range.type !== "*" && (range.type !== type || !subtypeMatches(range.subtype, subtype))) return false;
  return range.parameters.every(
    ([name, value]) => parameterOf(representation, name) === normalised(name, value),
  );
}

/**
 * A range's subtype matches its own, `*`, and, for `json`, any `+json` subtype: a client asking for JSON reads an
 * `application/schema+json` answer as JSON (RFC 6839 names what the suffix means).
 */
function subtypeMatches(range: string, subtype: string): boolean {
  return range === "*" || range === subtype || (range === "json" && subtype.endsWith("+json"));
}

/** A parameter of the answer; every answer of the platform is UTF-8, whether or not its type names a charset. */
function parameterOf(representation: MediaType, name: string): string | undefined {
  const given = representation.parameters.find(([candidate]) => candidate === name)?.[1];
  if (name === "charset") return normalised(name, given ?? "utf-8");
  return given;
}

/** A charset's name in any case, and `utf8` for `utf-8`, as a request body's is read; other values as given. */
function normalised(name: string, value: string): string {
  if (name !== "charset") return value;
  const charset = value.toLowerCase();
  return charset === "utf8" ? "utf-8" : charset;
}

// */* before type/* before `json` taking a `+json` answer before the answer's own type, and within each a range with more
// parameters before one with fewer: `application/schema+json, application/json;q=0` admits a schema.
function specificityOf(range: MediaRange, representation: MediaType): number {
  const tier =
    range.type === "*"
      ? 0
      : range.subtype === "*"
        ? 1
        : representation.essence.endsWith(`/${range.subtype}`)
          ? 3
          : 2;
  return tier * 1_000 + range.parameters.length;
}
