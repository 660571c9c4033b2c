// Values that a published JSON Schema (from /openapi.json or /asyncapi.json) declares valid, as fast-check
// arbitraries, and the validator that says so: what a client team's property-based contract tester does.
// Cross-field rules are read from the document's own extensions: `x-not-before` (a sibling's instant, or a
// sibling's member's, `window.end`), `x-not-after: "today"` (a day), `x-not-after: "now"` (an instant) and
// `x-after: "now"`; a date's `formatMinimum` (ajv-formats' keyword) is checked by the validator itself.
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import fc from "fast-check";
import { NO_FINAL_LINE_BREAK } from "../events/docs/strictEnds.ts";

export interface Schema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  /** A string the value must not be: here only `{ pattern }`, which JSON Schema cannot say otherwise. */
  not?: Schema;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  minProperties?: number;
  oneOf?: Schema[];
  anyOf?: Schema[];
  $ref?: string;
  "x-not-before"?: string;
  "x-not-after"?: "today" | "now";
  "x-after"?: "now";
  /** The earliest date a `format: date` string may name. */
  formatMinimum?: string;
  [key: string]: unknown;
}

/** A validator for a document's schemas, with its `components` reachable through `$ref`. */
export function documentValidator(document: { components?: { schemas?: Record<string, unknown> } }) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv, { keywords: true });
  ajv.addSchema({ $id: "doc", components: document.components ?? {} });
  const compiled = new Map<Schema, ReturnType<typeof ajv.compile>>();
  return (schema: Schema, value: unknown): string[] => {
    let validate = compiled.get(schema);
    if (!validate) {
      validate = ajv.compile(
        JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"doc#/components')),
      );
      compiled.set(schema, validate);
    }
    if (validate(value)) return crossFieldProblems(schema, value, (ref) => resolve(document, ref));
    return (validate.errors ?? []).map((error) => `${error.instancePath || "/"} ${error.message}`);
  };
}

function resolve(document: { components?: { schemas?: Record<string, unknown> } }, ref: string): Schema {
  const name = ref.replace("#/components/schemas/", "");
  return (document.components?.schemas?.[name] ?? {}) as Schema;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The rules the document states in its extensions, which JSON Schema itself cannot check. */
function crossFieldProblems(
  schema: Schema,
  value: unknown,
  deref: (ref: string) => Schema,
  at = "",
): string[] {
  if (schema.$ref) return crossFieldProblems(deref(schema.$ref), value, deref, at);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    if (typeof value !== "string") return [];
    if (schema["x-after"] === "now" && !(Date.parse(value) > Date.now())) return [`${at} is not after now`];
    if (schema["x-not-after"] === "now" && Date.parse(value) > Date.now()) return [`${at} is after now`];
    if (schema["x-not-after"] === "today" && value > new Date().toISOString().slice(0, 10)) {
      return [`${at} is after today`];
    }
    return [];
  }
  const record = value as Record<string, unknown>;
  const branches = [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])];
  return [
    ...Object.entries(schema.properties ?? {}).flatMap(([key, property]) => {
      if (!(key in record)) return [];
      const own = record[key];
      const earlier = property["x-not-before"] ? valueAt(record, property["x-not-before"]) : undefined;
      const order =
        typeof own === "string" && typeof earlier === "string" && Date.parse(own) < Date.parse(earlier)
          ? [`${at}/${key} is before ${property["x-not-before"]}`]
          : [];
      return [...order, ...crossFieldProblems(property, own, deref, `${at}/${key}`)];
    }),
    ...branches.flatMap((branch) => (branch.properties ? [] : crossFieldProblems(branch, value, deref, at))),
  ];
}

/** A sibling's value, or a sibling's member's (`window.end`), as `x-not-before` names it. */
export function valueAt(record: Record<string, unknown>, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>(
      (value, name) =>
        value !== null && typeof value === "object" ? (value as Record<string, unknown>)[name] : undefined,
      record,
    );
}

const isoDay = (from: number, to: number) =>
  fc.integer({ min: from, max: to }).map((ms) => new Date(ms).toISOString().slice(0, 10));
const instant = (from: number, to: number) =>
  fc.integer({ min: from, max: to }).map((ms) => new Date(ms).toISOString());

/** A value of `schema`, before the whole-schema check: the generator proposes, the validator decides. */
export function documentValue(schema: Schema, deref: (ref: string) => Schema): fc.Arbitrary<unknown> {
  if (schema.$ref) return documentValue(deref(schema.$ref), deref);
  if ("const" in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.oneOf && !schema.properties)
    return fc.oneof(...schema.oneOf.map((branch) => documentValue(branch, deref)));
  const types = [schema.type ?? "object"].flat();
  if (types.length > 1) {
    // Mostly a value, sometimes null: a null for every optional field would say little.
    const nonNull = types.filter((type) => type !== "null");
    return fc.oneof(
      { weight: 4, arbitrary: fc.oneof(...nonNull.map((type) => documentValue({ ...schema, type }, deref))) },
      { weight: types.includes("null") ? 1 : 0, arbitrary: fc.constant(null) },
    );
  }
  switch (types[0]) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
      return fc.integer({
        min: Math.max(schema.minimum ?? 0, (schema.exclusiveMinimum ?? -Infinity) + 1, -1e6),
        max: Math.min(schema.maximum ?? 1e6, (schema.exclusiveMaximum ?? Infinity) - 1),
      });
    case "number":
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case "string":
      return stringOf(schema);
    case "array":
      return fc.array(documentValue(schema.items ?? {}, deref), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 3, 3),
      });
    default:
      return objectOf(schema, deref);
  }
}

function stringOf(schema: Schema): fc.Arbitrary<string> {
  const now = Date.now();
  const within = (value: fc.Arbitrary<string>) =>
    value.filter(
      (text) => text.length >= (schema.minLength ?? 0) && text.length <= (schema.maxLength ?? Infinity),
    );
  switch (schema.format) {
    case "uuid":
      // The document says any case: send some ids in upper case.
      return fc.tuple(fc.uuid(), fc.boolean()).map(([id, upper]) => (upper ? id.toUpperCase() : id));
    case "date": {
      const earliest = schema.formatMinimum ? Date.parse(schema.formatMinimum) : -2_000_000_000_000;
      if (schema["x-not-after"] === "today") return isoDay(earliest, now - 2 * DAY_MS);
      return isoDay(Math.max(earliest, 0), 4_000_000_000_000);
    }
    case "date-time":
      if (schema["x-after"] === "now") return instant(now + DAY_MS, now + 400 * DAY_MS);
      if (schema["x-not-after"] === "now") return instant(0, now - DAY_MS);
      return instant(0, 4_000_000_000_000);
    case "uri":
      return fc
        .tuple(fc.constantFrom("https", "s3", "gs"), fc.domain(), fc.stringMatching(/^[a-z0-9]{1,12}$/))
        .map(([scheme, host, file]) => `${scheme}://${host}/${file}`)
        .filter((url) => !schema.pattern || new RegExp(schema.pattern, "u").test(url));
  }
  if (schema.pattern) {
    const pattern = new RegExp(schema.pattern, "u");
    return within(fc.stringMatching(generatorRegex(schema.pattern)).filter((text) => pattern.test(text)));
  }
  return within(
    fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 20, 20) }),
  );
}

/**
 * A published pattern as fast-check's `stringMatching` takes it, which cannot parse a lookahead: without the one
 * after its final `$` (events/docs/strictEnds.ts), which in ECMA-262 excludes nothing `$` does not, and without
 * one right after its `^` (a length bound, as the deliverable e-mail's), which the caller checks on what it makes.
 */
export function generatorRegex(pattern: string, flags = "u"): RegExp {
  const ending = pattern.endsWith(`$${NO_FINAL_LINE_BREAK}`);
  const body = ending ? pattern.slice(0, -NO_FINAL_LINE_BREAK.length) : pattern;
  return new RegExp(body.replace(LEADING_LOOKAHEAD, "^"), flags);
}

/** `^(?=…)` with no group inside the lookahead. */
const LEADING_LOOKAHEAD = /^\^\(\?=[^()]*\)/;

function objectOf(schema: Schema, deref: (ref: string) => Schema): fc.Arbitrary<Record<string, unknown>> {
  const required = new Set(schema.required ?? []);
  const properties = Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([key, property]) => [key, documentValue(property, deref)]),
  );
  const fixed = fc.record(properties, {
    requiredKeys: Object.keys(properties).filter((key) => required.has(key)),
  });
  if (typeof schema.additionalProperties !== "object") return fixed;
  const keys = schema.propertyNames?.pattern
    ? fc.stringMatching(generatorRegex(schema.propertyNames.pattern)).filter((key) => key.length <= 40)
    : fc.stringMatching(/^[a-z]{1,10}$/);
  const extra = fc.dictionary(keys, documentValue(schema.additionalProperties, deref), { maxKeys: 3 });
  return fc.tuple(fixed, extra).map(([own, more]) => ({ ...more, ...own }));
}

/**
 * A value as the service reads it, by what its schema declares: a field left out is its `default` (in the
 * branch of a union the value takes), and a `format: uuid` string is in lower case, as the platform stores it.
 * `{}` and `{ "reason": null }` are one request where `reason` defaults to null: what a client compares to
 * tell another request from a retry of the same one (an Idempotency-Key's).
 */
export function asRead(
  schema: Schema,
  value: unknown,
  deref: (ref: string) => Schema,
  validate: (schema: Schema, value: unknown) => string[],
): unknown {
  if (schema.$ref) return asRead(deref(schema.$ref), value, deref, validate);
  const branch = [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])].find(
    (candidate) => validate(candidate, value).length === 0,
  );
  if (branch && !schema.properties) return asRead(branch, value, deref, validate);
  if (typeof value === "string") return schema.format === "uuid" ? value.toLowerCase() : value;
  if (Array.isArray(value))
    return value.map((item) => (schema.items ? asRead(schema.items, item, deref, validate) : item));
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  const read: Record<string, unknown> = { ...record };
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const declared = property.$ref ? deref(property.$ref) : property;
    if (key in record) read[key] = asRead(declared, record[key], deref, validate);
    else if ("default" in declared) read[key] = declared.default;
  }
  return read;
}
