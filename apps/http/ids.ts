// Ids as clients write them: a UUID in any case (Swift's `uuidString` and many .NET clients write upper
// case), canonical (lower case) once parsed. Every id a route reads from a path, a query or a body is this,
// so one patient never becomes a second identity in rows, record keys, hash chains or data keys.
import { z } from "zod";

/**
 * zod's UUID (RFC 9562: versions 1 to 8 with the RFC's variant, and the nil and max UUIDs), with the max UUID
 * in any case too: zod spells it in lower case only, and refused `FFFFFFFF-FFFF-…`. Without flags, so that the
 * OpenAPI document can publish it as it is.
 */
export const ANY_CASE_UUID =
  /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|[fF]{8}-[fF]{4}-[fF]{4}-[fF]{4}-[fF]{12})$/;

export const anyCaseUuid = z.stringFormat("uuid", ANY_CASE_UUID).toLowerCase().meta({
  pattern: ANY_CASE_UUID.source,
  description: "A UUID (RFC 9562) in any case; the platform stores and answers it in lower case.",
});
