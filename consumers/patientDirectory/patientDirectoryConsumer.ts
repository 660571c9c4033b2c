// The provider-facing patient directory, kept from patient-events: names, contact details and consents.
// Providers read it through providerDirectory.ts, which shows contact details only with data-sharing consent.
import type { TransactionalConsumer } from "../runtime/consumerDefinition.ts";
import { addPatient, applyPatientChanges, recordConsent, removePatient } from "./directoryStore.ts";

export const patientDirectoryConsumer: TransactionalConsumer = {
  kind: "transactional",
  name: "patient-directory",
  topics: ["patient-events"],
  // An erased patient's patient.deleted (and consent decisions) carry no personal field of their own: applied
  // with their request metadata left out, as it cannot be opened. Skipped, an erasure whose metadata was sealed
  // under the key it destroyed (written so before its transaction forgot that key) left the patient's name and
  // contact details here for good; a replay of it to patient-events now removes them.
  erasedPatients: "without-personal-metadata",
  handlers: {
    "patient.created": (event, { tx }) => addPatient(tx, event.data, new Date(event.timestamp)),
    "patient.updated": (event, { tx }) => applyPatientChanges(tx, event.data, new Date(event.timestamp)),
    "patient.consent.changed": (event, { tx }) => recordConsent(tx, event.data, new Date(event.timestamp)),
    "patient.deleted": (event, { tx }) => removePatient(tx, event.data, new Date(event.timestamp)),
  },
};
