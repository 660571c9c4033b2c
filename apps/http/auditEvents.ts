// The audit events a request leaves: what it read (audit.data.accessed), what it changed
// (audit.data.modified) and what it was refused (audit.compliance.violation). Services append them with
// their own events, in the same transaction, so a record of an access exists exactly when the access did.
import type { EventData, NewEvent } from "../../events/index.ts";
import type { Principal, Role } from "./auth.ts";

/** A record as an auditor asks about it: `patient`/<uuid>, `appointment`/<uuid>, ... */
export interface AuditedResource {
  type: string;
  id: string;
  /** The patient whose data it is; `null` when it is nobody's (a provider's profile, a model). */
  patientId: string | null;
}

/** Token roles as the audit events' actor roles name them. */
const ACTOR_ROLES = {
  patient: "PATIENT",
  provider: "PROVIDER",
  admin: "ADMIN",
  auditor: "AUDITOR",
  service: "SYSTEM",
} as const satisfies Record<Role, string>;

export const actorRole = (role: Role) => ACTOR_ROLES[role];

const actorAndResource = (principal: Principal, resource: AuditedResource) => ({
  actorId: principal.userId,
  actorRole: actorRole(principal.role),
  resourceType: resource.type,
  resourceId: resource.id,
  patientId: resource.patientId,
});

/** `fields: null` means the whole record was read. */
export function dataAccessed(
  principal: Principal,
  resource: AuditedResource,
  fields: string[] | null = null,
): NewEvent {
  return {
    type: "audit.data.accessed",
    data: { ...actorAndResource(principal, resource), action: "READ", fields },
  };
}

/** `fields`: the fields written, or `null` for the whole record (a creation, a deletion). */
export function dataModified(
  principal: Principal,
  resource: AuditedResource,
  action: EventData<"audit.data.modified">["action"],
  fields: string[] | null = null,
): NewEvent {
  return {
    type: "audit.data.modified",
    data: { ...actorAndResource(principal, resource), action, fields: fields?.length ? fields : null },
  };
}

export type ViolationSeverity = "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";

export function complianceViolation(
  principal: Principal,
  resource: AuditedResource,
  violation: { rule: string; reason: string; severity: ViolationSeverity },
): NewEvent {
  return {
    type: "audit.compliance.violation",
    data: { ...actorAndResource(principal, resource), ...violation },
  };
}
