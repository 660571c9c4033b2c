// The `data` schemas of document-events: a patient's files (upload, removal, processing) and the consents
// given to share them.
import { z } from "zod";
import { identifier, line, sha256Hex, text, utcTimestamp, uuid, webAddress } from "./fields.ts";
import { tightenedInRequests } from "./requestRules.ts";

/** `/` and `\`, as the inside of a character class. */
const PATH_SEPARATORS = String.raw`\u002F\u005C`;

/**
 * What `z.int()` checks without saying: at most 2^53 - 1, the largest integer a JSON number carries exactly.
 * Said, so that the published document has the maximum the API enforces.
 */
const SAFE_INTEGER_MAXIMUM = { maximum: Number.MAX_SAFE_INTEGER };

const NOT_A_MIME_TYPE = "must be a lower-case MIME type, e.g. application/pdf";

/**
 * A lower-case type and subtype. In a request, of at most 127 characters each (RFC 6838); the first events were
 * written with no bound, and stay readable.
 */
const MIME_TYPE = tightenedInRequests(z.regex(/^[a-z]+\/[a-z0-9][a-z0-9.+-]*$/, NOT_A_MIME_TYPE), {
  checks: [z.maxLength(255), z.regex(/^[a-z]{1,127}\/[a-z0-9][a-z0-9.+-]{0,126}$/, NOT_A_MIME_TYPE)],
});

export const documentUploadedSchema = z.strictObject({
  documentId: uuid,
  patientId: uuid,
  /** The name as uploaded; a path separator here would let a careless consumer write outside its folder. */
  fileName: line(255, PATH_SEPARATORS).regex(/^[^/\\]+$/, "must be a file name without a path"),
  mimeType: z.string().check(MIME_TYPE),
  sizeBytes: z.int().min(0).meta(SAFE_INTEGER_MAXIMUM),
  checksum: z.strictObject({
    algorithm: z.literal("sha256"),
    value: sha256Hex,
  }),
  /** Where the bytes live: object storage or https, never the file itself (events stay small). */
  storageUrl: webAddress(["https", "s3", "gs"], "s3://records/ada/scan.pdf"),
});

export const documentDeletedSchema = z.strictObject({
  documentId: uuid,
  patientId: uuid,
  deletedAt: utcTimestamp,
  reason: text(500).nullable(),
});

/** Why a document may be shared; the permitted uses of health information. */
export const consentPurposes = ["TREATMENT", "PAYMENT", "OPERATIONS", "RESEARCH", "LEGAL"] as const;

/**
 * A patient allows a party to use one document. It belongs to the document's stream (keyed by documentId),
 * so a consent is always delivered after the upload it refers to and before the document's deletion.
 */
export const consentGivenSchema = z.strictObject({
  documentId: uuid,
  patientId: uuid,
  /** The party receiving access: a provider, organisation or system identifier. */
  grantedTo: line(200),
  purpose: z.enum(consentPurposes),
  /** `null`: until revoked. */
  expiresAt: utcTimestamp.nullable(),
});

const processedBase = {
  documentId: uuid,
  patientId: uuid,
  /** The processor and its version, e.g. `ocr@2.3`, so results can be traced and recomputed. */
  processor: identifier,
  processedAt: utcTimestamp,
};

/** Either what the processor extracted, or why it failed: never both, never neither. */
export const documentProcessedSchema = z.discriminatedUnion("status", [
  z.strictObject({
    ...processedBase,
    status: z.literal("SUCCEEDED"),
    extracted: z.strictObject({
      /** A classification such as `lab-result` or `referral-letter`, `null` when the processor cannot tell. */
      documentKind: identifier.nullable(),
      pageCount: z.int().min(1).meta(SAFE_INTEGER_MAXIMUM).nullable(),
      /** BCP 47 language tag, e.g. `en` or `de-CH`. */
      language: z
        .string()
        .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "must be a BCP 47 language tag")
        .nullable(),
      summary: text(4000).nullable(),
    }),
  }),
  z.strictObject({
    ...processedBase,
    status: z.literal("FAILED"),
    failureReason: text(1000),
  }),
]);
