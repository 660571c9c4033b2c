// The notification service: requests to send an e-mail, a text message or a push notification, each
// appended as its notification-events request (a sender delivers it; consumers/). A request is accepted
// (202), not sent: it has no state of its own besides its event. A request about a patient is a use of their
// contact data, so it is authorized like any access to the patient and audited as a created record.
import { randomUUID } from "node:crypto";
import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Database } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { NewEvent } from "../../events/index.ts";
import { AccessRefused } from "../http/access.ts";
import { dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce, idempotencyKeyHeader } from "../http/idempotency.ts";
import { json, problem, securedRoute } from "../http/openapi.ts";
import { assertReachesPatient, requirePatientOwner } from "../http/patientAccess.ts";
import type { ServiceEnv } from "../http/service.ts";
import { createRouter } from "../http/service.ts";
import { emailRequestBody, notificationAccepted, pushRequestBody, smsRequestBody } from "./schemas.ts";

export const NOTIFICATION_SERVICE = "notification-service";

const ROLES: readonly Role[] = ["provider", "admin", "service"];
const RULE = "A provider sends only about the patients who have an appointment with them.";

function requestRoute<Path extends string, Body extends z.ZodType>(path: Path, summary: string, body: Body) {
  return securedRoute(
    { source: NOTIFICATION_SERVICE, resource: "notification", roles: ROLES, rule: RULE },
    {
      method: "post",
      path,
      summary,
      request: { headers: idempotencyKeyHeader, body: { content: json(body), required: true } },
      responses: {
        202: { description: "Accepted for sending", content: json(notificationAccepted) },
        400: problem("Invalid input (address, E.164 phone number, ...)"),
        404: problem("Unknown patient"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
  );
}

const routes = {
  email: requestRoute(
    "/notifications/email",
    "Request an e-mail (emits notification.email.requested)",
    emailRequestBody,
  ),
  sms: requestRoute(
    "/notifications/sms",
    "Request a text message to an E.164 number (emits notification.sms.requested)",
    smsRequestBody,
  ),
  push: requestRoute(
    "/notifications/push",
    "Request a push notification to a user's devices (emits notification.push.requested)",
    pushRequestBody,
  ),
};

type Channel = "email" | "sms" | "push";

export function notificationRoutes(db: Database) {
  return createRouter()
    .openapi(routes.email, (c) =>
      accept(c, db, "email", c.req.valid("json").patientId, (notificationId) => ({
        type: "notification.email.requested",
        data: { notificationId, ...c.req.valid("json") },
      })),
    )
    .openapi(routes.sms, (c) =>
      accept(c, db, "sms", c.req.valid("json").patientId, (notificationId) => ({
        type: "notification.sms.requested",
        data: { notificationId, ...c.req.valid("json") },
      })),
    )
    .openapi(routes.push, (c) =>
      accept(c, db, "push", c.req.valid("json").patientId, (notificationId) => ({
        type: "notification.push.requested",
        data: { notificationId, ...c.req.valid("json") },
      })),
    );
}

async function accept(
  c: Context<ServiceEnv>,
  db: Database,
  channel: Channel,
  patientId: string | null,
  request: (notificationId: string) => NewEvent,
) {
  const principal = c.get("principal");
  const notificationId = randomUUID();
  const resource = { type: "notification", id: notificationId, patientId };
  if (principal.role === "provider" && patientId === null) {
    throw new AccessRefused(NOTIFICATION_SERVICE, principal, resource, "treating-provider-only", RULE);
  }
  const answer = await answerOnce(c, db, NOTIFICATION_SERVICE, async (tx) => {
    if (patientId !== null) {
      const patient = await requirePatientOwner(tx, patientId);
      await assertReachesPatient(tx, principal, patient, { source: NOTIFICATION_SERVICE, resource });
    }
    await appendEvents(tx, eventContext(c, NOTIFICATION_SERVICE), [
      request(notificationId),
      dataModified(principal, resource, "CREATE"),
    ]);
    return { status: 202 as const, body: { notificationId, channel }, patientId };
  });
  return c.json(answer.body, answer.status);
}
