// Ids as clients write them: a UUID in any case (Swift's `uuidString` and many .NET clients write upper
// case), canonical (lower case) once parsed. Every id a route reads from a path, a query or a body is this,
// so one patient never becomes a second identity in rows, record keys, hash chains or data keys.
import { z } from "zod";

export const anyCaseUuid = z.uuid().toLowerCase().meta({
  pattern: z.regexes.uuid().source,
  description: "A UUID (RFC 9562) in any case; the platform stores and answers it in lower case.",
});
