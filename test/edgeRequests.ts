// Requests at the edges, for property tests: a valid request (from serviceRoutes) with one part changed to an
// edge value: a body field named by the route's JSON schema (every field, optional ones too), the whole body,
// a path or query parameter, or the Idempotency-Key header. Edge values are what clients really send by
// mistake or on purpose: U+0000 and other control characters, unpaired surrogates, invalid UTF-8, numbers
// beyond the columns' ranges, deep nesting, upper-case ids, long strings, prototype keys.
import fc from "fast-check";

/** JSON text spliced into a body as it is: numbers JSON.stringify cannot write (1e400), deep nesting. */
export class RawJson {
  constructor(readonly json: string) {}
}

type Json = null | boolean | number | string | RawJson | Json[] | { [key: string]: Json };

/** The parts of an OpenAPI operation that a request can change. */
export interface OperationShape {
  pathParams: string[];
  queryParams: string[];
  headerParams: string[];
  /** The JSON schema of the body, when the operation takes one. */
  bodySchema?: JsonSchema;
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

export interface EdgeRequest {
  /** What was changed, for the failure message. */
  change: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

type FieldPath = Array<string | number>;

/** Every field a body can have, by path, with the JSON types its schema allows. */
export function bodyFields(
  schema: JsonSchema,
  at: FieldPath = [],
): Array<{ path: FieldPath; types: string[] }> {
  const types = [schema.type ?? []].flat();
  const fields = at.length > 0 ? [{ path: at, types }] : [];
  for (const branch of [...(schema.oneOf ?? []), ...(schema.anyOf ?? []), ...(schema.allOf ?? [])]) {
    fields.push(...bodyFields(branch, at));
  }
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    fields.push(...bodyFields(property, [...at, key]));
  }
  if (typeof schema.additionalProperties === "object") {
    fields.push(...bodyFields(schema.additionalProperties, [...at, "someKey"]));
  }
  if (schema.items) fields.push(...bodyFields(schema.items, [...at, 0]));
  const seen = new Set<string>();
  return fields.filter((field) => {
    const key = JSON.stringify(field.path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const UPPER_UUID = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";

/** Strings that no field should turn into a server error. */
const edgeStrings = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udfff",
    "\udc00\ud800",
    "\u0001\u0002\u001f\u007f\u0085",
    "\t\r\n",
    "\u202eevil",
    "\ufeff",
    "😀",
    '=HYPERLINK("https://evil.example/","x")',
    "x".repeat(5000),
    "9999999999999999999",
    "-1",
    UPPER_UUID,
    "00000000-0000-0000-0000-000000000000",
    "2024-02-30",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "../../etc/passwd",
    "' OR 1=1 --",
    "%00",
    "https://a.example/\u0000",
  ),
  fc
    .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 })
    .map((units) => String.fromCharCode(...units)),
);

/** A valid value with one bad character slipped in, so that only that character is wrong. */
function withEdgeCharacter(original: string) {
  return fc
    .tuple(fc.constantFrom("\u0000", "\ud800", "\udc00", "\u0001", "\u001b", "\u2028"), fc.nat())
    .map(([character, at]) => {
      const index = at % (original.length + 1);
      return `${original.slice(0, index)}${character}${original.slice(index)}`;
    });
}

const edgeNumbers: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(
    3e9,
    2 ** 31,
    2 ** 31 - 1,
    -(2 ** 31) - 1,
    2 ** 53,
    2 ** 63,
    1e308,
    -1e308,
    -1,
    0,
    -0,
    0.5,
    1e-300,
    Number.MAX_SAFE_INTEGER + 2,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(
    new RawJson("1e400"),
    new RawJson("-1e400"),
    new RawJson("123456789012345678901234567890"),
    new RawJson("1.00000000000000000000000001"),
  ),
);

const DEPTH = 3000;
const edgeShapes: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  null,
  true,
  false,
  [],
  {},
  [null],
  new RawJson(`${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}`),
  new RawJson(`${'{"a":'.repeat(DEPTH)}1${"}".repeat(DEPTH)}`),
  new RawJson('{"__proto__":{"polluted":true}}'),
  new RawJson('{"constructor":{"prototype":{"polluted":true}}}'),
);

const anyEdge: fc.Arbitrary<Json> = fc.oneof(edgeStrings, edgeNumbers, edgeShapes);

/** Edge values for a field: mostly of the field's own type (so its own checks are what is tested), some of any. */
function edgeValueFor(types: string[], original: unknown): fc.Arbitrary<Json> {
  const typed: Array<fc.Arbitrary<Json>> = [];
  if (types.includes("string")) {
    typed.push(edgeStrings);
    if (typeof original === "string") typed.push(withEdgeCharacter(original));
  }
  if (types.includes("number") || types.includes("integer")) typed.push(edgeNumbers);
  if (types.includes("object") || types.includes("array")) typed.push(edgeShapes);
  return typed.length === 0
    ? anyEdge
    : fc.oneof({ arbitrary: fc.oneof(...typed), weight: 3 }, { arbitrary: anyEdge, weight: 1 });
}

/** Text as it goes into a URL: percent-encoded UTF-8, or raw escapes that are not UTF-8 at all. */
const edgeUrlText = fc.oneof(
  edgeStrings.map(percentEncoded),
  fc.constantFrom(
    "%00",
    "%ED%A0%80",
    "%FF",
    "%C0%80",
    "%",
    "%zz",
    Buffer.from("0:9999999999999999999").toString("base64url"),
    Buffer.from("18446744073709551616:1").toString("base64url"),
    Buffer.from("1:-1").toString("base64url"),
    Buffer.from("\u0000:1").toString("base64url"),
    UPPER_UUID,
    "9223372036854775807",
    "9223372036854775808",
    "1e3",
    "-0",
    "0",
    "1001",
    "csv",
  ),
);

function percentEncoded(value: string): string {
  return [...Buffer.from(value, "utf8")]
    .map((byte) => `%${byte.toString(16).padStart(2, "0").toUpperCase()}`)
    .join("");
}

/** Valid header values only (a client library refuses others before sending): long, non-ASCII, blank. */
const edgeHeaderValues = fc.constantFrom(
  " ",
  "x".repeat(256),
  "é",
  "key with spaces",
  UPPER_UUID,
  "\u00ff\u00fe",
);

/**
 * Edge variants of one valid request. `template` is the route as OpenAPI names it (`/patients/{id}`), `path`
 * the valid path (with its query), `body` the valid body.
 */
export function edgeRequests(
  shape: OperationShape,
  template: string,
  valid: { path: string; body?: unknown },
): fc.Arbitrary<EdgeRequest> {
  const base = { path: valid.path, body: valid.body as Json | undefined };
  const variants: Array<fc.Arbitrary<EdgeRequest>> = [];

  if (shape.bodySchema && base.body !== undefined) {
    const fields = bodyFields(shape.bodySchema);
    if (fields.length > 0) {
      variants.push(
        fc.constantFrom(...fields).chain((field) =>
          edgeValueFor(field.types, valueAt(base.body, field.path)).map((value) => ({
            change: `body.${field.path.join(".")} = ${describe(value)}`,
            path: base.path,
            body: serialize(withValueAt(base.body as Json, field.path, value)),
            headers: {},
          })),
        ),
      );
    }
    variants.push(
      anyEdge.map((value) => ({
        change: `body = ${describe(value)}`,
        path: base.path,
        body: serialize(value),
        headers: {},
      })),
    );
    variants.push(
      edgeStrings.map((key) => ({
        change: `body gains the key ${JSON.stringify(key).slice(0, 60)}`,
        path: base.path,
        body: serialize({ ...(base.body as Record<string, Json>), [key]: "x" }),
        headers: {},
      })),
    );
  }

  const [pathOnly, query = ""] = base.path.split("?") as [string, string?];
  const templateSegments = template.split("/");
  const pathSegments = pathOnly.split("/");
  for (const name of shape.pathParams) {
    const index = templateSegments.indexOf(`{${name}}`);
    if (index < 0) continue;
    variants.push(
      edgeUrlText.map((text) => {
        const segments = [...pathSegments];
        segments[index] = text;
        return {
          change: `path.${name} = ${text.slice(0, 80)}`,
          path: `${segments.join("/")}${query ? `?${query}` : ""}`,
          body: base.body === undefined ? undefined : serialize(base.body),
          headers: {},
        };
      }),
    );
  }

  if (shape.queryParams.length > 0) {
    variants.push(
      fc.tuple(fc.constantFrom(...shape.queryParams), edgeUrlText).map(([name, text]) => {
        const kept = query
          .split("&")
          .filter((pair) => pair !== "" && !pair.startsWith(`${name}=`))
          .concat(`${name}=${text}`);
        return {
          change: `query.${name} = ${text.slice(0, 80)}`,
          path: `${pathOnly}?${kept.join("&")}`,
          headers: {},
        };
      }),
    );
  }

  for (const name of shape.headerParams) {
    variants.push(
      edgeHeaderValues.map((value) => ({
        change: `header.${name} = ${JSON.stringify(value).slice(0, 60)}`,
        path: base.path,
        body: base.body === undefined ? undefined : serialize(base.body),
        headers: { [name]: value },
      })),
    );
  }
  if (variants.length === 0) throw new Error(`${template} has nothing a request can change`);
  return fc.oneof(...variants);
}

function valueAt(value: unknown, path: FieldPath): unknown {
  let at = value;
  for (const key of path) at = (at as Record<string | number, unknown> | undefined)?.[key];
  return at;
}

/** A copy of `value` with the field at `path` set, the objects and arrays on the way made as needed. */
function withValueAt(value: Json, path: FieldPath, replacement: Json): Json {
  const [key, ...rest] = path;
  if (key === undefined) return replacement;
  const container: Record<string | number, Json> | Json[] =
    typeof key === "number"
      ? Array.isArray(value)
        ? [...value]
        : []
      : value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof RawJson)
        ? { ...value }
        : {};
  const current = (container as Record<string | number, Json>)[key] ?? null;
  (container as Record<string | number, Json>)[key] = withValueAt(current, rest, replacement);
  return container as Json;
}

/** JSON text, with each RawJson spliced in as it is. */
export function serialize(value: Json): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, item) => {
    if (item instanceof RawJson) {
      raws.push(item.json);
      return `@@raw-${raws.length - 1}@@`;
    }
    return item;
  });
  return raws.reduce((json, raw, index) => json.replace(`"@@raw-${index}@@"`, raw), text);
}

function describe(value: Json): string {
  const text = value instanceof RawJson ? value.json : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}… (${text.length} characters)` : text;
}
