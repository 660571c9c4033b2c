// The sealed form of a record value in JSON Schema: each personal field of an event type (the catalog's
// `personalFields`) described as the `enc:v1:` string that travels in its place, and the request metadata
// of an event about a patient as sealed or null, so that a plain-text value where a sealed one belongs
// does not validate. The schema of the value inside stays readable under `x-unsealed`.
import { type EventDefinition, type EventType, eventDefinition } from "../catalog.ts";
import { SEALED_VALUE_PATTERN } from "../envelope.ts";

type JsonSchema = Record<string, unknown>;

const HOW_TO_OPEN =
  "AES-256-GCM under the data key of the patient named by `data.patientId`, with the associated data " +
  "`<eventId>/<path>`, so that it opens only in its own event and field. Only the platform's processes can " +
  "open it: they unwrap the patient's key with the master key (PHI_MASTER_KEYS) and call phi/decryptEvent. " +
  "Once the patient is erased the key is destroyed and nobody can.";

/** The schema of one sealed value: what travels in place of the value `unsealed` describes. */
export function sealedValueSchema(path: string, unsealed?: JsonSchema): JsonSchema {
  return {
    type: "string",
    pattern: SEALED_VALUE_PATTERN.source,
    description: `Sealed personal data (\`${path}\`): \`enc:v1:\` and base64url(iv ‖ ciphertext ‖ tag) of the value's JSON, ${HOW_TO_OPEN}`,
    "x-sealed": true,
    "x-personal": true,
    ...(unsealed ? { "x-unsealed": unsealed } : {}),
  };
}

/**
 * The data schema of an event type as it travels: its personal fields sealed. Where the catalog says they
 * are personal only about a patient (a login attempt's username), they are sealed exactly when the data
 * names one, and written as given otherwise.
 */
export function sealedDataSchema(type: EventType, data: JsonSchema): JsonSchema {
  const definition = eventDefinition(type);
  let sealed = data;
  for (const path of definition.personalFields) {
    const replaced = replaceField(sealed, path.split("."), (unsealed) =>
      definition.personalOnlyAboutPatient || Object.hasOwn(definition.sealedSince, path)
        ? { anyOf: [sealedValueSchema(`data.${path}`, unsealed), writtenPlain(definition, path, unsealed)] }
        : sealedValueSchema(`data.${path}`, unsealed),
    );
    if (replaced === undefined) throw new Error(`${type}: personal field ${path} is not in its schema`);
    sealed = replaced;
  }
  if (!definition.personalOnlyAboutPatient || definition.personalFields.length === 0) return sealed;
  const whenAboutPatient = definition.personalFields.reduce<JsonSchema>(
    (schema, path) =>
      nest(
        path.split("."),
        Object.hasOwn(definition.sealedSince, path)
          ? { anyOf: [sealedValueSchema(`data.${path}`), writtenPlain(definition, path, {})] }
          : sealedValueSchema(`data.${path}`),
        schema,
      ),
    {},
  );
  return {
    ...sealed,
    allOf: [...((sealed.allOf as JsonSchema[]) ?? []), implies(namesPatient, whenAboutPatient)],
  };
}

/**
 * A personal field as given: about no patient (`personalOnlyAboutPatient`), or in an event written before the
 * field was sealed (`sealedSince`), which the history keeps as it was written.
 */
function writtenPlain(definition: EventDefinition, path: string, unsealed: JsonSchema): JsonSchema {
  const since = definition.sealedSince[path];
  if (since === undefined) return unsealed;
  const before = `Written in plain text in events before ${since}, when \`data.${path}\` was not sealed yet: the history keeps them as they were written, and erasure cannot shred them.`;
  const description = typeof unsealed.description === "string" ? `${unsealed.description} ${before}` : before;
  return { ...unsealed, description, "x-plain-before": since };
}

/** Data that names a patient: the one whose key seals its personal fields and metadata (phi/keyOwner). */
const namesPatient: JsonSchema = { required: ["patientId"], properties: { patientId: { type: "string" } } };

/** "if `condition` then `consequence`", said without the `then` keyword that would make the object a thenable. */
const implies = (condition: JsonSchema, consequence: JsonSchema): JsonSchema => ({
  anyOf: [{ not: condition }, consequence],
});

/** In an event about a patient, where the request came from points at them: sealed, or null once erased. */
export function sealedMetadataRule(): JsonSchema {
  const sealedOrNull = (name: string) => ({
    anyOf: [sealedValueSchema(`metadata.${name}`), { type: "null" }],
  });
  return {
    allOf: [
      implies(
        { required: ["data"], properties: { data: namesPatient } },
        {
          properties: {
            metadata: {
              properties: { ipAddress: sealedOrNull("ipAddress"), userAgent: sealedOrNull("userAgent") },
            },
          },
        },
      ),
    ],
  };
}

/**
 * A copy of `schema` with the property at `path` replaced, looking through `anyOf`/`oneOf`/`allOf`
 * branches (a nullable object, a union of outcomes); undefined when no branch has it.
 */
function replaceField(
  schema: JsonSchema,
  [name, ...rest]: string[],
  replace: (unsealed: JsonSchema) => JsonSchema,
): JsonSchema | undefined {
  if (name === undefined) return replace(schema);
  let found = false;
  const result: JsonSchema = { ...schema };
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  const property = properties?.[name];
  if (property !== undefined) {
    const replaced = rest.length === 0 ? replace(property) : replaceField(property, rest, replace);
    if (replaced !== undefined) {
      result.properties = { ...properties, [name]: replaced };
      found = true;
    }
  }
  for (const keyword of ["anyOf", "oneOf", "allOf"] as const) {
    const branches = schema[keyword] as JsonSchema[] | undefined;
    if (!branches) continue;
    result[keyword] = branches.map((branch) => {
      const replaced = replaceField(branch, [name, ...rest], replace);
      found ||= replaced !== undefined;
      return replaced ?? branch;
    });
  }
  return found ? result : undefined;
}

/** `{properties: {a: {properties: {b: leaf}}}}` for the path a.b, merged into `into`. */
function nest([name, ...rest]: string[], leaf: JsonSchema, into: JsonSchema): JsonSchema {
  if (name === undefined) return leaf;
  const properties = (into.properties ?? {}) as Record<string, JsonSchema>;
  return { ...into, properties: { ...properties, [name]: nest(rest, leaf, properties[name] ?? {}) } };
}
