// The patient service: each request checks who may reach the patient, then changes (or reads) the patient's
// row and appends its events, the domain's and the audit's, in one transaction.
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Context } from "hono";
import { type Database, type WriteTransaction, writeTransaction } from "../../db/client.ts";
import { recordFormerLogin, recordFormerPhone } from "../../db/erasedLogins.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { NewEvent } from "../../events/index.ts";
import type { PatientField } from "../../events/patient.ts";
import {
  CANCELLED_WITH_ERASURE,
  cancelAppointmentsOfDeletedPatient,
} from "../appointment/cancelOnDeletion.ts";
import { AccessRefused } from "../http/access.ts";
import { type AuditedResource, dataAccessed, dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { refusingConflicts } from "../http/constraintViolation.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce } from "../http/idempotency.ts";
import { createdAt, json, problem, securedRoute } from "../http/openapi.ts";
import { assertReachesPatient, patientAggregate } from "../http/patientAccess.ts";
import { assertWriteConditions, sendsWriteConditions } from "../http/preconditions.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";
import { erasePatient } from "./erasure.ts";
import {
  consentBody,
  consentState,
  createPatientBody,
  erasureResponse,
  type PatientResponse,
  patientIdParam,
  patientResponse,
  updatePatientBody,
} from "./schemas.ts";
import {
  findPatient,
  insertPatient,
  lockPatient,
  ONE_LIVE_RECORD_PER_LOGIN,
  type PatientRow,
  updatePatient,
} from "./store.ts";

export const PATIENT_SERVICE = "patient-service";

const access = (roles: readonly Role[], rule?: string) => ({
  source: PATIENT_SERVICE,
  resource: "patient",
  roles,
  rule,
});
const OWN_OR_TREATED =
  "A patient reaches their own record (userId = token subject); a provider the patients who have an appointment with them.";

const routes = {
  create: securedRoute(
    access(["patient", "admin"], "A patient registers themselves: userId is their token subject."),
    {
      method: "post",
      path: "/patients",
      summary: "Register a patient (emits patient.created)",
      request: {
        body: { content: json(createPatientBody), required: true },
      },
      responses: {
        201: createdAt("Created", patientResponse, "/patients/{id}"),
        400: problem("Invalid input"),
        409: problem("The login (userId) has a patient record already: one live record per login"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { creates: true },
  ),
  get: securedRoute(access(["patient", "provider", "admin"], OWN_OR_TREATED), {
    method: "get",
    path: "/patients/{id}",
    summary: "Read a patient (emits audit.data.accessed)",
    request: { params: patientIdParam },
    responses: {
      200: { description: "The patient", content: json(patientResponse) },
      404: problem("Unknown or deleted patient"),
    },
  }),
  update: securedRoute(
    access(["patient", "provider", "admin"], `${OWN_OR_TREATED} Only an admin changes userId.`),
    {
      method: "patch",
      path: "/patients/{id}",
      summary: "Change some of a patient's fields (emits patient.updated when something changed)",
      request: { params: patientIdParam, body: { content: json(updatePatientBody), required: true } },
      responses: {
        200: { description: "The patient after the change", content: json(patientResponse) },
        400: problem("Invalid input"),
        404: problem("Unknown or deleted patient"),
        409: problem("The new userId has a patient record already: one live record per login"),
      },
    },
  ),
  remove: securedRoute(access(["admin"]), {
    method: "delete",
    path: "/patients/{id}",
    summary:
      "Delete a patient (emits patient.deleted); their booked appointments are cancelled with it (appointment.cancelled each)",
    request: { params: patientIdParam },
    responses: {
      204: { description: "Deleted" },
      404: problem("Unknown or deleted patient"),
    },
  }),
  erase: securedRoute(
    access(["admin"], "GDPR erasure is an administrator's act, on the data subject's request."),
    {
      method: "post",
      path: "/patients/{id}/erasure",
      summary:
        "Erase a patient: their state rows are deleted and their data key destroyed, so every personal field of theirs in the history, on Kafka and in exports becomes unreadable (emits patient.deleted with erasure: true). Send an Idempotency-Key: the report (with the document files to delete) is said once, and a retry with the key gets it again where one without gets a 410.",
      request: { params: patientIdParam },
      responses: {
        200: { description: "Erased: what was removed", content: json(erasureResponse) },
        404: problem("Unknown patient"),
        410: problem("The patient was erased before"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { conditionalOn: "/patients/{id}" },
  ),
  consent: securedRoute(
    access(["patient", "admin"], "A patient decides their own consents (userId = token subject)."),
    {
      method: "put",
      path: "/patients/{id}/consent",
      summary: "Grant or withdraw consents (one patient.consent.changed per consent that changed)",
      request: { params: patientIdParam, body: { content: json(consentBody), required: true } },
      responses: {
        200: { description: "The patient's consents after the change", content: json(consentState) },
        400: problem("Invalid input"),
        404: problem("Unknown or deleted patient"),
      },
    },
    // The consents are part of the patient as GET /patients/{id} answers it, and have no GET of their own.
    { conditionalOn: "/patients/{id}" },
  ),
};

const CONSENT_COLUMNS = {
  dataSharing: "consentDataSharing",
  marketing: "consentMarketing",
  research: "consentResearch",
} as const;

export function patientRoutes(db: Database) {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const patientId = randomUUID();
      const userId = principal.role === "patient" ? ownLogin(c, body.userId) : body.userId;
      const answer = await answerOnce(
        c,
        db,
        PATIENT_SERVICE,
        async (tx) => {
          const row = await oneLiveRecordPerLogin(() =>
            insertPatient(tx, { id: patientId, ...body, userId }),
          );
          await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
            { type: "patient.created", data: { patientId, ...body, userId } },
            dataModified(principal, patientResource(patientId), "CREATE"),
          ]);
          return {
            status: 201 as const,
            body: toResponse(row),
            headers: { Location: `/patients/${row.id}` },
            patientId,
          };
        },
        { appendsTo: patientAggregate(patientId) },
      );
      return c.json(answer.body, answer.status, answer.headers);
    })
    .openapi(routes.get, async (c) => {
      const { id } = c.req.valid("param");
      const row = await writeTransaction(db, async (tx) => {
        const patient = await reachablePatient(c, tx, id);
        await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
          dataAccessed(c.get("principal"), patientResource(id)),
        ]);
        return patient;
      });
      return c.json(toResponse(row), 200);
    })
    .openapi(routes.update, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const answer = await answerOnce(
        c,
        db,
        PATIENT_SERVICE,
        async (tx) => {
          const current = await reachablePatient(c, tx, id, { lock: true });
          const changedFields = (Object.keys(body) as PatientField[]).filter(
            (field) => !sameValue(current[field], body[field]),
          );
          // Sending back the userId a GET returned changes nothing, and is no attempt at anything.
          if (changedFields.includes("userId") && principal.role !== "admin") {
            throw new AccessRefused(
              PATIENT_SERVICE,
              principal,
              patientResource(id),
              "role-not-permitted",
              "Only an admin may change which login a patient record belongs to (userId).",
            );
          }
          assertWriteConditions(c, toResponse(current));
          // A PATCH that changes nothing is answered with the record: a read, not a change.
          if (changedFields.length === 0) {
            await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
              dataAccessed(principal, patientResource(id)),
            ]);
            return { status: 200 as const, body: toResponse(current), patientId: id };
          }
          const changes = Object.fromEntries(changedFields.map((field) => [field, body[field]]));
          const updated = await oneLiveRecordPerLogin(() => updatePatient(tx, id, changes));
          // A login typing the address or number replaced is still this patient's (apps/login-attempts/routes.ts).
          if (changedFields.includes("email")) {
            await recordFormerLogin(tx, c.get("masterKeys"), id, current.email, updated.updatedAt);
          }
          if (changedFields.includes("phone")) {
            await recordFormerPhone(tx, c.get("masterKeys"), id, current.phone, updated.updatedAt);
          }
          await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
            { type: "patient.updated", data: { patientId: id, changedFields, changes } },
            dataModified(principal, patientResource(id), "UPDATE", changedFields),
          ]);
          return { status: 200 as const, body: toResponse(updated), patientId: id };
        },
        { lockAggregate: patientAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.remove, async (c) => {
      const { id } = c.req.valid("param");
      // The answer (a 204) holds nobody's data, nor does the request: it is kept outside any patient's erasure.
      const answer = await answerOnce(
        c,
        db,
        PATIENT_SERVICE,
        async (tx) => {
          assertWriteConditions(c, toResponse(await reachablePatient(c, tx, id, { lock: true })));
          await cancelAppointmentsOfDeletedPatient(c, tx, id);
          const deleted = await updatePatient(tx, id, { deletedAt: new Date() });
          await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
            {
              type: "patient.deleted",
              data: { patientId: id, deletedAt: (deleted.deletedAt as Date).toISOString(), erasure: false },
            },
            dataModified(c.get("principal"), patientResource(id), "DELETE"),
          ]);
          return { status: 204 as const, body: null, patientId: null };
        },
        { lockAggregate: patientAggregate(id) },
      );
      return c.body(null, answer.status, answer.headers);
    })
    .openapi(routes.erase, async (c) => {
      const { id } = c.req.valid("param");
      // The report is kept for the key's retries (a lost answer would lose the files to delete), as a patient's
      // data: a replay is audited as a read of it.
      const answer = await answerOnce(
        c,
        db,
        PATIENT_SERVICE,
        async (tx) => {
          // The patient as GET /patients/{id} answers it, which the conditions name (none once deleted): read
          // only when a condition asks for it, the erasure reading what it deletes itself.
          const before = sendsWriteConditions(c) ? await findPatient(tx, id) : undefined;
          // Cancelled first, as a deletion cancels them, then removed with the rest (an erased or unknown patient
          // has none booked).
          await cancelAppointmentsOfDeletedPatient(c, tx, id, CANCELLED_WITH_ERASURE);
          const erasure = await erasePatient(tx, id, c.get("masterKeys"));
          if (erasure.outcome === "unknown") throw HttpProblem.notFound(`There is no patient ${id}.`);
          if (erasure.outcome === "already-erased") {
            throw new HttpProblem(
              410,
              "Gone",
              `Patient ${id} was erased at ${erasure.erasedAt.toISOString()}.`,
            );
          }
          // After the 404 and 410, as the request would answer unconditioned; a 412 rolls the erasure back.
          assertWriteConditions(c, before && toResponse(before));
          await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
            {
              type: "patient.deleted",
              data: { patientId: id, deletedAt: erasure.report.erasedAt, erasure: true },
            },
            dataModified(c.get("principal"), patientResource(id), "ERASE"),
          ]);
          return { status: 200 as const, body: erasure.report, patientId: id };
        },
        { lockAggregate: patientAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.consent, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const answer = await answerOnce(
        c,
        db,
        PATIENT_SERVICE,
        async (tx) => {
          const current = await reachablePatient(c, tx, id, { lock: true });
          assertWriteConditions(c, toResponse(current));
          const changedAt = new Date();
          const events: NewEvent[] = [];
          const changes: Partial<PatientRow> = {};
          for (const [consentType, column] of Object.entries(CONSENT_COLUMNS) as Array<
            [keyof typeof CONSENT_COLUMNS, (typeof CONSENT_COLUMNS)[keyof typeof CONSENT_COLUMNS]]
          >) {
            const granted = body[consentType];
            if (granted === undefined || granted === current[column]) continue;
            changes[column] = granted;
            events.push({
              type: "patient.consent.changed",
              data: { patientId: id, consentType, granted, changedAt: changedAt.toISOString() },
            });
          }
          if (events.length === 0) {
            await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
              dataAccessed(principal, patientResource(id), ["consent"]),
            ]);
            return { status: 200 as const, body: toResponse(current).consent, patientId: id };
          }
          const updated = await updatePatient(tx, id, { ...changes, consentUpdatedAt: changedAt });
          const changedConsents = events.map(
            (event) => `consent.${(event.data as { consentType: string }).consentType}`,
          );
          await appendEvents(tx, eventContext(c, PATIENT_SERVICE), [
            ...events,
            dataModified(principal, patientResource(id), "UPDATE", changedConsents),
          ]);
          return { status: 200 as const, body: toResponse(updated).consent, patientId: id };
        },
        { lockAggregate: patientAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    });
}

/** The patient's aggregate: the routes that change a patient declare it, so its writers queue (db/client.ts). */

const patientResource = (id: string): AuditedResource => ({ type: "patient", id, patientId: id });

/** The live patient `id` if the principal reaches it: else a 404, or a refusal (403 and a violation). */
async function reachablePatient(
  c: Context<ServiceEnv>,
  tx: WriteTransaction,
  id: string,
  options: { lock?: boolean } = {},
): Promise<PatientRow> {
  const row = options.lock ? await lockPatient(tx, id) : await findPatient(tx, id);
  if (!row) throw HttpProblem.notFound(`There is no patient ${id}.`);
  await assertReachesPatient(tx, c.get("principal"), row, {
    source: PATIENT_SERVICE,
    resource: patientResource(id),
  });
  return row;
}

/** A patient registering themselves: the record is linked to their own login, never to another one. */
function ownLogin(c: Context<ServiceEnv>, requested: string | null): string {
  const principal = c.get("principal");
  if (requested !== null && requested !== principal.userId) {
    throw new AccessRefused(
      PATIENT_SERVICE,
      principal,
      { type: "patient", id: "/patients", patientId: null },
      "own-records-only",
      "A patient may register only themselves: userId must be their own (or left out).",
    );
  }
  return principal.userId;
}

/**
 * A login holds one live patient record, so that a patient's token names one patient (the index
 * patients_user_id_live; a deleted record keeps its login, which may then register again).
 */
const oneLiveRecordPerLogin = (write: () => Promise<PatientRow>) =>
  refusingConflicts(write, {
    [ONE_LIVE_RECORD_PER_LOGIN]: "That login (userId) has a patient record already.",
  });

/** Dates are strings on both sides; objects (insurance) compare by content, whatever their key order. */
function sameValue(stored: unknown, requested: unknown): boolean {
  return isDeepStrictEqual(stored ?? null, requested ?? null);
}

function toResponse(row: PatientRow): PatientResponse {
  return {
    id: row.id,
    userId: row.userId,
    firstName: row.firstName,
    lastName: row.lastName,
    dateOfBirth: row.dateOfBirth,
    email: row.email,
    phone: row.phone,
    insuranceInfo: row.insuranceInfo ?? null,
    medicalConditions: row.medicalConditions,
    allergies: row.allergies,
    consent: {
      dataSharing: row.consentDataSharing,
      marketing: row.consentMarketing,
      research: row.consentResearch,
      updatedAt: row.consentUpdatedAt?.toISOString() ?? null,
    },
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
