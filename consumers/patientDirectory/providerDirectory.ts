// What a provider may see of a patient in the directory. A deleted patient is not there at all; contact
// details appear only while the patient consents to sharing their data, the platform's default being no.
import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { patientDirectory } from "../../db/schema.ts";

export interface DirectoryEntry {
  patientId: string;
  firstName: string;
  lastName: string;
  /** `null` unless the patient consents to data sharing. */
  contact: { email: string; phone: string } | null;
  consent: { dataSharing: boolean; marketing: boolean; research: boolean };
}

export async function providerDirectoryEntry(
  db: Database,
  patientId: string,
): Promise<DirectoryEntry | null> {
  const [row] = await db
    .select()
    .from(patientDirectory)
    .where(and(eq(patientDirectory.patientId, patientId), isNull(patientDirectory.deletedAt)));
  if (!row) return null;
  const shared = row.consentDataSharing && row.email !== null && row.phone !== null;
  return {
    patientId: row.patientId,
    firstName: row.firstName ?? "",
    lastName: row.lastName ?? "",
    contact: shared ? { email: row.email as string, phone: row.phone as string } : null,
    consent: {
      dataSharing: row.consentDataSharing,
      marketing: row.consentMarketing,
      research: row.consentResearch,
    },
  };
}
