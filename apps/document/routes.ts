// The document service: registers an uploaded document's metadata and checksum, deletes it, records a
// patient's consent to share it, and records that processing (OCR, classification) finished. Who may act on
// a document follows its patient (apps/http/patientAccess.ts).
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { type Database, type WriteTransaction, writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { CLOCK_SKEW_MS } from "../../events/fields.ts";
import { type AuditedResource, dataAccessed, dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { eventContext } from "../http/eventContext.ts";
import { requireFuture } from "../http/future.ts";
import { answerOnce } from "../http/idempotency.ts";
import { createdAt, json, problem, securedRoute } from "../http/openapi.ts";
import {
  assertReachesPatient,
  findPatientOwner,
  lockPatientOwner,
  patientAggregate,
  requirePatientOwner,
} from "../http/patientAccess.ts";
import { assertWriteConditions } from "../http/preconditions.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";
import {
  type ConsentResponse,
  consentResponse,
  type DocumentResponse,
  deleteDocumentBody,
  documentIdParam,
  documentResponse,
  giveConsentBody,
  processingResultBody,
  registerDocumentBody,
} from "./schemas.ts";
import {
  type ConsentRow,
  type DocumentRow,
  findDocument,
  insertConsent,
  insertDocument,
  updateDocument,
} from "./store.ts";

export const DOCUMENT_SERVICE = "document-service";

const access = (roles: readonly Role[], rule?: string) => ({
  source: DOCUMENT_SERVICE,
  resource: "document",
  roles,
  rule,
});
const OF_THEIR_PATIENTS =
  "A patient acts on their own documents; a provider on those of the patients who have an appointment with them.";

const routes = {
  register: securedRoute(
    access(["patient", "provider", "admin"], OF_THEIR_PATIENTS),
    {
      method: "post",
      path: "/documents",
      summary: "Register an uploaded document's metadata and checksum (emits document.uploaded)",
      request: {
        body: { content: json(registerDocumentBody), required: true },
      },
      responses: {
        201: createdAt("Registered", documentResponse, "/documents/{id}"),
        400: problem("Invalid input"),
        404: problem("Unknown patient"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { creates: true },
  ),
  get: securedRoute(access(["patient", "provider", "admin"], OF_THEIR_PATIENTS), {
    method: "get",
    path: "/documents/{id}",
    summary: "Read a document's metadata (emits audit.data.accessed)",
    request: { params: documentIdParam },
    responses: {
      200: { description: "The document", content: json(documentResponse) },
      404: problem("Unknown or deleted document"),
    },
  }),
  remove: securedRoute(access(["patient", "provider", "admin"], OF_THEIR_PATIENTS), {
    method: "delete",
    path: "/documents/{id}",
    summary: "Delete a document (emits document.deleted); the body may give a reason",
    request: {
      params: documentIdParam,
      body: { content: json(deleteDocumentBody), required: false },
    },
    responses: {
      204: { description: "Deleted" },
      400: problem("Invalid input"),
      404: problem("Unknown or deleted document"),
    },
  }),
  consent: securedRoute(access(["patient", "admin"], "A patient gives consent on their own documents."), {
    method: "post",
    path: "/documents/{id}/consents",
    summary: "Record a patient's consent to share the document (emits consent.given)",
    request: {
      params: documentIdParam,
      body: { content: json(giveConsentBody), required: true },
    },
    responses: {
      201: { description: "Recorded", content: json(consentResponse) },
      400: problem("Invalid input"),
      404: problem("Unknown or deleted document"),
      422: problem("Idempotency-Key reused for another request"),
    },
  }),
  processed: securedRoute(
    access(["service", "admin"], "Reported by the processing pipeline."),
    {
      method: "post",
      path: "/documents/{id}/processing-results",
      summary:
        "Record that processing finished, with what it extracted or why it failed (emits document.processed)",
      request: {
        params: documentIdParam,
        body: { content: json(processingResultBody), required: true },
      },
      responses: {
        200: { description: "The document after processing", content: json(documentResponse) },
        400: problem("Invalid input"),
        404: problem("Unknown or deleted document"),
        409: problem(
          "The processedAt is before the document's upload, or the document holds a result processed later than this one",
        ),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { conditionalOn: "/documents/{id}", answersWithRecord: true },
  ),
};

export function documentRoutes(db: Database) {
  return createRouter()
    .openapi(routes.register, async (c) => {
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const id = randomUUID();
      const answer = await answerOnce(
        c,
        db,
        DOCUMENT_SERVICE,
        async (tx) => {
          const patient = await requirePatientOwner(tx, body.patientId);
          await assertReachesPatient(tx, principal, patient, {
            source: DOCUMENT_SERVICE,
            resource: { type: "document", id: "/documents", patientId: patient.id },
          });
          const row = await insertDocument(tx, {
            id,
            patientId: body.patientId,
            fileName: body.fileName,
            mimeType: body.mimeType,
            sizeBytes: body.sizeBytes,
            checksumSha256: body.checksum.value,
            storageUrl: body.storageUrl,
          });
          await appendEvents(tx, eventContext(c, DOCUMENT_SERVICE), [
            { type: "document.uploaded", data: { documentId: id, ...body } },
            dataModified(principal, documentResource(row), "CREATE"),
          ]);
          return {
            status: 201 as const,
            body: toResponse(row),
            headers: { Location: `/documents/${id}` },
            patientId: row.patientId,
          };
        },
        { lockAggregate: patientAggregate(body.patientId), appendsTo: documentAggregate(id) },
      );
      return c.json(answer.body, answer.status, answer.headers);
    })
    .openapi(routes.get, async (c) => {
      const { id } = c.req.valid("param");
      const row = await writeTransaction(db, async (tx) => {
        const document = await reachableDocument(c, tx, id);
        await appendEvents(tx, eventContext(c, DOCUMENT_SERVICE), [
          dataAccessed(c.get("principal"), documentResource(document)),
        ]);
        return document;
      });
      return c.json(toResponse(row), 200);
    })
    .openapi(routes.remove, async (c) => {
      const { id } = c.req.valid("param");
      // A body left out is `{}` as validated (the body is optional), `{ reason: null }` once its default is
      // filled in: the request as the route reads it, so that both spellings are one request to a key's retry.
      const body = deleteDocumentBody.parse(c.req.valid("json"));
      c.req.addValidatedData("json", body);
      const { reason } = body;
      // The answer is a 204, but the request's reason may quote the patient: erased with them (idempotency.ts).
      const answer = await answerOnce(
        c,
        db,
        DOCUMENT_SERVICE,
        async (tx) => {
          const document = await reachableDocument(c, tx, id, { lock: true });
          assertWriteConditions(c, toResponse(document));
          const deletedAt = new Date();
          await updateDocument(tx, id, { deletedAt });
          await appendEvents(tx, eventContext(c, DOCUMENT_SERVICE), [
            {
              type: "document.deleted",
              data: {
                documentId: id,
                patientId: document.patientId,
                deletedAt: deletedAt.toISOString(),
                reason,
              },
            },
            dataModified(c.get("principal"), documentResource(document), "DELETE"),
          ]);
          return { status: 204 as const, body: null, patientId: document.patientId };
        },
        { appendsTo: documentAggregate(id) },
      );
      return c.body(null, answer.status, answer.headers);
    })
    .openapi(routes.consent, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const answer = await answerOnce(
        c,
        db,
        DOCUMENT_SERVICE,
        async (tx) => {
          requireFuture("body.expiresAt", body.expiresAt);
          const document = await reachableDocument(c, tx, id, { lock: true });
          const consent = await insertConsent(tx, {
            id: randomUUID(),
            documentId: id,
            grantedTo: body.grantedTo,
            purpose: body.purpose,
            expiresAt: body.expiresAt === null ? null : new Date(body.expiresAt),
          });
          await appendEvents(tx, eventContext(c, DOCUMENT_SERVICE), [
            {
              type: "consent.given",
              // Its expiry as stored, in the one form events carry times (toISOString()'s).
              data: {
                documentId: id,
                patientId: document.patientId,
                ...body,
                expiresAt: consent.expiresAt?.toISOString() ?? null,
              },
            },
            dataModified(c.get("principal"), documentResource(document), "UPDATE", ["consents"]),
          ]);
          return { status: 201 as const, body: toConsentResponse(consent), patientId: document.patientId };
        },
        { appendsTo: documentAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.processed, async (c) => {
      const { id } = c.req.valid("param");
      const result = c.req.valid("json");
      const answer = await answerOnce(
        c,
        db,
        DOCUMENT_SERVICE,
        async (tx) => {
          const document = await reachableDocument(c, tx, id, { lock: true });
          assertWriteConditions(c, toResponse(document));
          const processedAt = new Date(result.processedAt);
          assertResultInOrder(document, processedAt);
          const row = await updateDocument(tx, id, {
            processingStatus: result.status,
            processor: result.processor,
            processedAt,
          });
          await appendEvents(tx, eventContext(c, DOCUMENT_SERVICE), [
            {
              type: "document.processed",
              // The time in the one form events carry them (toISOString()'s), whichever form the request used.
              data: {
                ...result,
                processedAt: processedAt.toISOString(),
                documentId: id,
                patientId: document.patientId,
              },
            },
            dataModified(c.get("principal"), documentResource(document), "UPDATE", ["processingStatus"]),
          ]);
          return { status: 200 as const, body: toResponse(row), patientId: row.patientId };
        },
        { appendsTo: documentAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    });
}

/**
 * A result is processed after its document was uploaded (a minute allowed for the pipeline's clock), and no
 * earlier than the result the document holds: a late report of an older run would otherwise replace a newer one.
 */
function assertResultInOrder(document: DocumentRow, processedAt: Date): void {
  if (processedAt.getTime() < document.createdAt.getTime() - CLOCK_SKEW_MS) {
    throw new HttpProblem(
      409,
      "Conflict",
      `The document was uploaded at ${document.createdAt.toISOString()}: it cannot have been processed before.`,
    );
  }
  if (document.processedAt !== null && processedAt < document.processedAt) {
    throw new HttpProblem(
      409,
      "Conflict",
      `The document holds a result processed at ${document.processedAt.toISOString()}, later than this one.`,
    );
  }
}

const documentAggregate = (id: string) => ({ aggregateType: "document", aggregateId: id });

const documentResource = (row: Pick<DocumentRow, "id" | "patientId">): AuditedResource => ({
  type: "document",
  id: row.id,
  patientId: row.patientId,
});

/**
 * The live document `id` if the principal reaches its patient: else a 404, or a refusal. With `lock`, for a
 * write: the patient's row is share-locked, then the document's locked for update, the order in which the
 * patient's deletion, erasure and change of login lock them. A write to the document then waits for one of those
 * begun before it, and fails over to a fresh snapshot (which finds no patient, or another login) when one committed
 * after its own began: none writes an event naming the patient after the patient.deleted of a deletion, as a
 * write that only read the patient did (it touches no row of theirs, so nothing made the two collide).
 */
async function reachableDocument(
  c: Context<ServiceEnv>,
  tx: WriteTransaction,
  id: string,
  options: { lock?: boolean } = {},
): Promise<DocumentRow> {
  const found = await findDocument(tx, id);
  const patient =
    found &&
    (options.lock
      ? await lockPatientOwner(tx, found.patientId)
      : await findPatientOwner(tx, found.patientId));
  // A deleted patient's documents are gone with them: the answer names no patient.
  const document = patient && (options.lock ? await findDocument(tx, id, { lock: true }) : found);
  if (!document || !patient) throw HttpProblem.notFound(`There is no document ${id}.`);
  await assertReachesPatient(tx, c.get("principal"), patient, {
    source: DOCUMENT_SERVICE,
    resource: documentResource(document),
  });
  return document;
}

function toResponse(row: DocumentRow): DocumentResponse {
  return {
    id: row.id,
    patientId: row.patientId,
    fileName: row.fileName,
    mimeType: row.mimeType,
    sizeBytes: row.sizeBytes,
    checksum: { algorithm: "sha256", value: row.checksumSha256 },
    storageUrl: row.storageUrl,
    processingStatus: row.processingStatus,
    processor: row.processor,
    processedAt: row.processedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function toConsentResponse(row: ConsentRow): ConsentResponse {
  return {
    id: row.id,
    documentId: row.documentId,
    grantedTo: row.grantedTo,
    purpose: row.purpose as ConsentResponse["purpose"],
    expiresAt: row.expiresAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}
