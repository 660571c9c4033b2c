// Every service route with a valid request for it and who may call it: the authorization matrix that
// apps/authorization.int.test.ts proves, and the request bodies other route-wide tests start from.
// "own" is the caller's own record (the first patient's, the first provider's patients'), "other" another's.
import type { Role } from "../apps/http/auth.ts";
import type { CareWorld } from "./careWorld.ts";
import { requestBodies } from "./serviceRequests.ts";

export type Target = "own" | "other";
export type Outcome = { own: number; other: number };
export const roles: Role[] = ["patient", "provider", "admin", "auditor", "service"];

/** The same answer whose ever the record is. */
const any = (status: number): Outcome => ({ own: status, other: status });
/** Allowed on the caller's own records (a patient's, a provider's patients'), refused on others'. */
const ownOnly = (status: number): Outcome => ({ own: status, other: 403 });
const refused = any(403);

export interface RouteCase {
  method: string;
  route: string;
  request: (world: CareWorld, target: Target) => { path: string; body?: unknown };
  expected: Record<Role, Outcome>;
  /**
   * Its call here leaves no audit event: provider profiles are not patient data, and an auditor's lookup of an
   * event that is not there is a 404, which writes nothing.
   */
  unaudited?: true;
  /** A patient calls it before they have a record (a registration): as a login without one (loginOf). */
  registers?: true;
}

const on = (world: CareWorld, target: Target) => world[target];

export const serviceRoutes: RouteCase[] = [
  {
    method: "POST",
    route: "/patients",
    // A patient registers themselves; naming another login is registering someone else.
    registers: true,
    request: (world, target) => ({
      path: "/patients",
      body: requestBodies.patient(target === "own" ? {} : { userId: world.other.newcomerUserId }),
    }),
    expected: {
      patient: ownOnly(201),
      provider: refused,
      admin: any(201),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "GET",
    route: "/patients/{id}",
    request: (world, target) => ({ path: `/patients/${on(world, target).patientId}` }),
    expected: {
      patient: ownOnly(200),
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "PATCH",
    route: "/patients/{id}",
    request: (world, target) => ({
      path: `/patients/${on(world, target).patientId}`,
      body: { phone: "+442071838750" },
    }),
    expected: {
      patient: ownOnly(200),
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "DELETE",
    route: "/patients/{id}",
    request: (world, target) => ({ path: `/patients/${on(world, target).patientId}` }),
    expected: { patient: refused, provider: refused, admin: any(204), auditor: refused, service: refused },
  },
  {
    method: "POST",
    route: "/patients/{id}/erasure",
    request: (world, target) => ({ path: `/patients/${on(world, target).patientId}/erasure` }),
    expected: { patient: refused, provider: refused, admin: any(200), auditor: refused, service: refused },
  },
  {
    method: "PUT",
    route: "/patients/{id}/consent",
    request: (world, target) => ({
      path: `/patients/${on(world, target).patientId}/consent`,
      body: { research: true },
    }),
    expected: {
      patient: ownOnly(200),
      provider: refused,
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/providers",
    request: () => ({ path: "/providers", body: requestBodies.provider() }),
    expected: { patient: refused, provider: refused, admin: any(201), auditor: refused, service: refused },
  },
  {
    method: "GET",
    route: "/providers/{id}",
    request: (world, target) => ({ path: `/providers/${on(world, target).providerId}` }),
    expected: { patient: any(200), provider: any(200), admin: any(200), auditor: refused, service: any(200) },
    unaudited: true,
  },
  {
    method: "PATCH",
    route: "/providers/{id}",
    request: (world, target) => ({
      path: `/providers/${on(world, target).providerId}`,
      body: { specialty: "cardiac surgery" },
    }),
    expected: {
      patient: refused,
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/appointments",
    request: (world, target) => ({
      path: "/appointments",
      body: requestBodies.booking(on(world, target).patientId, on(world, target).providerId),
    }),
    expected: {
      patient: ownOnly(201),
      provider: ownOnly(201),
      admin: any(201),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "GET",
    route: "/appointments/{id}",
    request: (world, target) => ({ path: `/appointments/${on(world, target).appointmentId}` }),
    expected: {
      patient: ownOnly(200),
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/appointments/{id}/cancel",
    request: (world, target) => ({
      path: `/appointments/${on(world, target).appointmentId}/cancel`,
      body: requestBodies.cancellation(),
    }),
    expected: {
      patient: ownOnly(200),
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/appointments/{id}/complete",
    request: (world, target) => ({ path: `/appointments/${on(world, target).appointmentId}/complete` }),
    expected: {
      patient: refused,
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/documents",
    request: (world, target) => ({
      path: "/documents",
      body: requestBodies.document(on(world, target).patientId),
    }),
    expected: {
      patient: ownOnly(201),
      provider: ownOnly(201),
      admin: any(201),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "GET",
    route: "/documents/{id}",
    request: (world, target) => ({ path: `/documents/${on(world, target).documentId}` }),
    expected: {
      patient: ownOnly(200),
      provider: ownOnly(200),
      admin: any(200),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "DELETE",
    route: "/documents/{id}",
    request: (world, target) => ({
      path: `/documents/${on(world, target).documentId}`,
      body: { reason: "duplicate" },
    }),
    expected: {
      patient: ownOnly(204),
      provider: ownOnly(204),
      admin: any(204),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/documents/{id}/consents",
    request: (world, target) => ({
      path: `/documents/${on(world, target).documentId}/consents`,
      body: requestBodies.consent(),
    }),
    expected: {
      patient: ownOnly(201),
      provider: refused,
      admin: any(201),
      auditor: refused,
      service: refused,
    },
  },
  {
    method: "POST",
    route: "/documents/{id}/processing-results",
    request: (world, target) => ({
      path: `/documents/${on(world, target).documentId}/processing-results`,
      body: requestBodies.processingResult(),
    }),
    expected: { patient: refused, provider: refused, admin: any(200), auditor: refused, service: any(200) },
  },
  ...(["email", "sms", "push"] as const).map(
    (channel): RouteCase => ({
      method: "POST",
      route: `/notifications/${channel}`,
      request: (world, target) => ({
        path: `/notifications/${channel}`,
        body: requestBodies[channel](on(world, target).patientId),
      }),
      expected: {
        patient: refused,
        provider: ownOnly(202),
        admin: any(202),
        auditor: refused,
        service: any(202),
      },
    }),
  ),
  {
    method: "POST",
    route: "/ai/models",
    request: () => ({ path: "/ai/models", body: requestBodies.model() }),
    expected: { patient: refused, provider: refused, admin: any(201), auditor: refused, service: any(201) },
  },
  {
    method: "POST",
    route: "/ai/models/{id}/performance",
    request: (world) => ({
      path: `/ai/models/${world.modelId}/performance`,
      body: requestBodies.performance(),
    }),
    expected: { patient: refused, provider: refused, admin: any(200), auditor: refused, service: any(200) },
  },
  {
    method: "POST",
    route: "/ai/predictions",
    request: (world, target) => ({
      path: "/ai/predictions",
      body: requestBodies.prediction(world.modelId, on(world, target).patientId),
    }),
    expected: { patient: refused, provider: refused, admin: any(201), auditor: refused, service: any(201) },
  },
  {
    method: "POST",
    route: "/ai/insights",
    request: (world, target) => ({
      path: "/ai/insights",
      body: requestBodies.insight(on(world, target).patientId),
    }),
    expected: { patient: refused, provider: refused, admin: any(201), auditor: refused, service: any(201) },
  },
  {
    method: "POST",
    route: "/internal/login-attempts",
    request: () => ({ path: "/internal/login-attempts", body: requestBodies.loginAttempt() }),
    expected: { patient: refused, provider: refused, admin: refused, auditor: refused, service: any(201) },
  },
  {
    method: "GET",
    route: "/audit/events",
    request: (world, target) => ({ path: `/audit/events?patientId=${on(world, target).patientId}` }),
    expected: { patient: refused, provider: refused, admin: refused, auditor: any(200), service: refused },
  },
  {
    method: "GET",
    route: "/audit/events/export",
    request: (world, target) => ({ path: `/audit/events/export?patientId=${on(world, target).patientId}` }),
    expected: { patient: refused, provider: refused, admin: refused, auditor: any(200), service: refused },
  },
  {
    method: "GET",
    route: "/audit/events/{eventId}",
    // The care world is written without events: the auditor is let in, and finds no such event.
    request: (world, target) => ({ path: `/audit/events/${on(world, target).documentId}` }),
    expected: { patient: refused, provider: refused, admin: refused, auditor: any(404), service: refused },
    unaudited: true,
  },
  {
    method: "GET",
    route: "/audit/verify",
    request: () => ({ path: "/audit/verify" }),
    expected: { patient: refused, provider: refused, admin: refused, auditor: any(200), service: refused },
  },
];
