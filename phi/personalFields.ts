// Seals and opens the personal fields of an event's data (the catalog's `personalFields`), each under the
// data key of the patient the event names. Each field's associated data is `<eventId>/<path>`: a sealed
// value copied into another event or another field does not open.
import { DataFreeError } from "../events/dataFreeError.ts";
import { type EventMetadata, eventDefinition } from "../events/index.ts";
import { isSealed, openValue, sealValue } from "./fieldCipher.ts";

type Data = Record<string, unknown>;

/**
 * An event's personal fields cannot be sealed, so it is not written: it names no patient (the only owner of
 * a data key, so that erasure can shred what was written about them), or not in the canonical spelling of
 * their id, or the patient has no key to seal with. Nothing personal is ever written in plain text instead.
 */
export class PersonalFieldsUnsealable extends DataFreeError {
  constructor(
    readonly eventType: string,
    readonly reason: string,
  ) {
    super(`the personal fields of ${eventType} cannot be sealed: ${reason}; the event is refused`);
    this.name = "PersonalFieldsUnsealable";
  }
}

/** The patient whose key seals the event's personal fields: its data's `patientId`, if any. */
export function keyOwner(data: Data): string | null {
  return typeof data.patientId === "string" ? data.patientId : null;
}

/** Whether the data holds any of its event type's personal fields (null included): they must be sealed. */
export function carriesPersonalFields(eventType: string, data: Data): boolean {
  let carries = false;
  mapPersonalFields(eventType, data, (value) => {
    carries = true;
    return value;
  });
  return carries;
}

/** A copy of `data` with every personal field present (null included) replaced by its sealed value. */
export function sealPersonalFields(eventType: string, eventId: string, data: Data, key: Buffer): Data {
  return mapPersonalFields(eventType, data, (value, path) => sealValue(key, value, `${eventId}/${path}`));
}

/** The inverse: throws CiphertextRejected for a field that does not open under this key. */
export function openPersonalFields(eventType: string, eventId: string, data: Data, key: Buffer): Data {
  return mapPersonalFields(eventType, data, (value, path) =>
    isSealed(value) ? openValue(key, value, `${eventId}/${path}`) : value,
  );
}

/**
 * An event arrived with personal data in plain text where the write path would have sealed it: a personal
 * field (null included) of an event about a patient, or the request's IP address or user agent in one. No
 * relay publishes such a record; a reader refuses it rather than pass the text on, or let a plain value
 * stand in for a sealed one (which would escape the ciphertext's binding to its event and field).
 */
export class PersonalDataInPlainText extends DataFreeError {
  constructor(
    readonly eventType: string,
    readonly paths: readonly string[],
  ) {
    super(`${eventType} carries ${paths.join(", ")} in plain text, where it is sealed about a patient`);
    this.name = "PersonalDataInPlainText";
  }
}

/**
 * Throws PersonalDataInPlainText unless every personal value the write path seals in this event is sealed:
 * its personal fields when it names a patient (or always, for a type whose fields are personal whoever they
 * are about), but those sealed only since a later catalog (`sealedSince`), which events written before hold in
 * plain text; and its request metadata's personal values when it names a patient.
 */
export function assertPersonalDataSealed(eventType: string, data: Data, metadata: EventMetadata): void {
  const owner = keyOwner(data);
  const plain: string[] = [];
  const { personalOnlyAboutPatient, sealedSince } = eventDefinition(eventType);
  if (owner !== null || !personalOnlyAboutPatient) {
    mapPersonalFields(eventType, data, (value, path) => {
      // A field sealed only since a later catalog: an event written before holds it in plain text.
      if (!isSealed(value) && !Object.hasOwn(sealedSince, path)) plain.push(`data.${path}`);
      return value;
    });
  }
  if (owner !== null) {
    for (const name of personalMetadata) {
      const value = metadata[name];
      if (value !== null && !isSealed(value)) plain.push(`metadata.${name}`);
    }
  }
  if (plain.length > 0) throw new PersonalDataInPlainText(eventType, plain);
}

/** Whether any personal field of the data is still sealed. */
export function isAnyFieldSealed(eventType: string, data: Data): boolean {
  let sealed = false;
  mapPersonalFields(eventType, data, (value) => {
    sealed ||= isSealed(value);
    return value;
  });
  return sealed;
}

/**
 * The request metadata that points at a person (where from, on what device): sealed like a personal field in
 * every event about a patient, whoever made the request. The acting user's id stays plain: it is the audit
 * trail's "who", a login id that names no one once the patient's own records are gone.
 */
const personalMetadata = ["ipAddress", "userAgent"] as const;

/**
 * The metadata of an event about a patient: each personal value sealed under their key, or left out (null)
 * when they have no live key (erased), so that it is never written in plain text about them.
 */
export function sealPersonalMetadata(
  eventId: string,
  metadata: EventMetadata,
  key: Buffer | null,
): EventMetadata {
  if (key === null) return withoutPersonalMetadata(metadata);
  return mapPersonalMetadata(metadata, (value, name) => sealValue(key, value, `${eventId}/metadata.${name}`));
}

/** The metadata with its personal values left out (null): what an event about an erased patient carries. */
export function withoutPersonalMetadata(metadata: EventMetadata): EventMetadata {
  return mapPersonalMetadata(metadata, () => null);
}

export function openPersonalMetadata(eventId: string, metadata: EventMetadata, key: Buffer): EventMetadata {
  return mapPersonalMetadata(metadata, (value, name) =>
    isSealed(value) ? (openValue(key, value, `${eventId}/metadata.${name}`) as string) : value,
  );
}

export function isMetadataSealed(metadata: EventMetadata): boolean {
  return personalMetadata.some((name) => isSealed(metadata[name]));
}

/**
 * The paths of an envelope's sealed values, what opening it reveals: its data's personal fields (`changes.phone`)
 * and its request metadata (`metadata.ipAddress`). Names only, for the record of who opened them.
 */
export function sealedPaths(eventType: string, data: Data, metadata: EventMetadata): string[] {
  const paths: string[] = [];
  mapPersonalFields(eventType, data, (value, path) => {
    if (isSealed(value)) paths.push(path);
    return value;
  });
  for (const name of personalMetadata) if (isSealed(metadata[name])) paths.push(`metadata.${name}`);
  return paths;
}

function mapPersonalMetadata(
  metadata: EventMetadata,
  change: (value: string, name: (typeof personalMetadata)[number]) => string | null,
): EventMetadata {
  const result = { ...metadata };
  for (const name of personalMetadata) {
    const value = metadata[name];
    if (value !== null) result[name] = change(value, name);
  }
  return result;
}

function mapPersonalFields(
  eventType: string,
  data: Data,
  change: (value: unknown, path: string) => unknown,
): Data {
  let result = data;
  for (const path of eventDefinition(eventType).personalFields) {
    result = replaceAt(result, path.split("."), path, change);
  }
  return result;
}

/** Copies only the objects on the way to the field; a path whose parent or field is absent is left alone. */
function replaceAt(
  object: Data,
  [name, ...rest]: string[],
  path: string,
  change: (value: unknown, path: string) => unknown,
): Data {
  if (name === undefined || !Object.hasOwn(object, name)) return object;
  const value = object[name];
  if (rest.length === 0) return { ...object, [name]: change(value, path) };
  if (value === null || typeof value !== "object" || Array.isArray(value)) return object;
  return { ...object, [name]: replaceAt(value as Data, rest, path, change) };
}
