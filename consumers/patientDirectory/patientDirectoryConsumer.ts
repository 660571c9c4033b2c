// The provider-facing patient directory, kept from patient-events: names, contact details and consents.
// Providers read it through providerDirectory.ts, which shows contact details only with data-sharing consent.
import type { TransactionalConsumer } from "../runtime/consumerDefinition.ts";
import { addPatient, applyPatientChanges, recordConsent, removePatient } from "./directoryStore.ts";

export const patientDirectoryConsumer: TransactionalConsumer = {
  kind: "transactional",
  name: "patient-directory",
  topics: ["patient-events"],
  handlers: {
    "patient.created": (event, { tx }) => addPatient(tx, event.data, new Date(event.timestamp)),
    "patient.updated": (event, { tx }) => applyPatientChanges(tx, event.data, new Date(event.timestamp)),
    "patient.consent.changed": (event, { tx }) => recordConsent(tx, event.data, new Date(event.timestamp)),
    "patient.deleted": (event, { tx }) => removePatient(tx, event.data, new Date(event.timestamp)),
  },
};
