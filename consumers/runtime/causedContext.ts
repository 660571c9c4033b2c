// The context of events a consumer appends because of a record it consumed: they carry the cause's
// correlation id (and, through the handling span the runtime makes active, its trace), so that what a record
// led to can be followed back to the request behind it.
// No user, address or session: a consumer acts for no one's request.
import type { EventContext } from "../../db/outbox/appendEvents.ts";
import { eventMetadata, type TypedEnvelope } from "../../events/index.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import type { ConsumedRecord } from "./consumerDefinition.ts";

export function contextCausedBy(
  source: string,
  cause: { event: TypedEnvelope; record: ConsumedRecord },
  masterKeys: MasterKeys,
): EventContext {
  return {
    source,
    masterKeys,
    metadata: eventMetadata({ correlationId: cause.event.metadata.correlationId }),
  };
}
