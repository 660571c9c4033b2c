// The document API's bodies, built from the catalog's document schemas: what the API accepts is what
// document.uploaded, document.deleted, consent.given and document.processed carry.
import { z } from "zod";
import {
  consentGivenSchema,
  consentPurposes,
  documentDeletedSchema,
  documentProcessedSchema,
  documentUploadedSchema,
} from "../../events/document.ts";
import { pastOrPresentInstant } from "../../events/fields.ts";
import { anyCaseUuid } from "../http/ids.ts";

export const registerDocumentBody = documentUploadedSchema
  .omit({ documentId: true })
  .extend({ patientId: anyCaseUuid });

export const deleteDocumentBody = z.strictObject({
  reason: documentDeletedSchema.shape.reason.optional().default(null),
});

const consent = consentGivenSchema.omit({ documentId: true, patientId: true }).shape;

export const giveConsentBody = z.strictObject({
  ...consent,
  // (checked when the consent is given: apps/http/future.ts)
  expiresAt: consent.expiresAt
    .meta({
      description:
        "In the future (a retry with the first request's Idempotency-Key is answered as it was, later too).",
      "x-after": "now",
    })
    .optional()
    .default(null),
});

/** document.processed without the ids the path and the document already give. */
const [succeeded, failed] = documentProcessedSchema.options;
const ids = { documentId: true, patientId: true } as const;
const processedAt = { processedAt: pastOrPresentInstant };
export const processingResultBody = z.discriminatedUnion("status", [
  succeeded.omit(ids).extend(processedAt),
  failed.omit(ids).extend(processedAt),
]);

export const documentIdParam = z.strictObject({ id: anyCaseUuid });

const instant = z.iso.datetime();

export const documentResponse = z.object({
  id: z.uuid(),
  ...registerDocumentBody.shape,
  processingStatus: z.enum(["PENDING", "SUCCEEDED", "FAILED"]),
  processor: z.string().nullable(),
  processedAt: instant.nullable(),
  createdAt: instant,
  updatedAt: instant,
});

export const consentResponse = z.object({
  id: z.uuid(),
  documentId: z.uuid(),
  grantedTo: z.string(),
  purpose: z.enum(consentPurposes),
  expiresAt: instant.nullable(),
  createdAt: instant,
});

export type DocumentResponse = z.infer<typeof documentResponse>;
export type ConsentResponse = z.infer<typeof consentResponse>;
