// A Content-Type as RFC 9110 §8.3.1 writes it: `type "/" subtype *( OWS ";" OWS [ name "=" value ] )`, value a
// token or a quoted string, names and the type in any case. Read once here, so that what the API takes for a
// JSON body is one rule, not a regular expression per library (Hono's took any `application/…+json` and refused
// a blank before the `;`).

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
