// The notification service: requests to send an e-mail, a text message or a push notification, each
// appended as its notification-events request (a sender delivers it; consumers/). A request is accepted
// (202), not sent: it has no state of its own besides its event. Every request is about a patient and goes
// to that patient's own contact on file (so no one can use the platform to mail an address of their choosing);
// it is a use of their contact data, so it is authorized like any access to the patient and audited as a
// created record.
import { randomUUID } from "node:crypto";
import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Database } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { NewEvent } from "../../events/index.ts";
import { dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce } from "../http/idempotency.ts";
import { json, problem, securedRoute } from "../http/openapi.ts";
import { assertReachesPatient, patientAggregate } from "../http/patientAccess.ts";
import { HttpProblem } from "../http/problem.ts";
import type { ServiceEnv } from "../http/service.ts";
import { createRouter } from "../http/service.ts";
import { findPatient, type PatientRow } from "../patient/store.ts";
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
      request: { body: { content: json(body), required: true } },
      responses: {
        202: { description: "Accepted for sending", content: json(notificationAccepted) },
        400: problem("Invalid input (no patientId, an address that is not one, ...)"),
        404: problem("Unknown patient"),
        422: problem(
          "A recipient other than the patient's own contact on file, a patient with no such contact, or an Idempotency-Key reused for another request",
        ),
      },
    },
  );
}

const routes = {
  email: requestRoute(
    "/notifications/email",
    "Request an e-mail to the patient's address on file (emits notification.email.requested)",
    emailRequestBody,
  ),
  sms: requestRoute(
    "/notifications/sms",
    "Request a text message to the patient's phone number on file (emits notification.sms.requested)",
    smsRequestBody,
  ),
  push: requestRoute(
    "/notifications/push",
    "Request a push notification to the patient's own devices (emits notification.push.requested, for a push gateway outside the platform: the platform's own sender handles e-mail and SMS only)",
    pushRequestBody,
  ),
};

type Channel = "email" | "sms" | "push";

export function notificationRoutes(db: Database) {
  return createRouter()
    .openapi(routes.email, (c) => {
      const { to, ...body } = c.req.valid("json");
      return accept(c, db, "email", body.patientId, (notificationId, patient) => ({
        type: "notification.email.requested",
        data: { notificationId, ...body, to: ownContact("to", to, patient.email, sameAddress) },
      }));
    })
    .openapi(routes.sms, (c) => {
      const { to, ...body } = c.req.valid("json");
      return accept(c, db, "sms", body.patientId, (notificationId, patient) => ({
        type: "notification.sms.requested",
        data: { notificationId, ...body, to: ownContact("to", to, patient.phone) },
      }));
    })
    .openapi(routes.push, (c) => {
      const { userId, ...body } = c.req.valid("json");
      return accept(c, db, "push", body.patientId, (notificationId, patient) => ({
        type: "notification.push.requested",
        data: { notificationId, ...body, userId: ownContact("userId", userId, patient.userId) },
      }));
    });
}

async function accept(
  c: Context<ServiceEnv>,
  db: Database,
  channel: Channel,
  patientId: string,
  request: (notificationId: string, patient: PatientRow) => NewEvent,
) {
  const principal = c.get("principal");
  const notificationId = randomUUID();
  const resource = { type: "notification", id: notificationId, patientId };
  const answer = await answerOnce(
    c,
    db,
    NOTIFICATION_SERVICE,
    async (tx) => {
      const patient = await findPatient(tx, patientId);
      if (!patient) throw HttpProblem.notFound(`There is no patient ${patientId}.`);
      // Authorized before the recipient is compared, so that no one learns a stranger's contact by guessing.
      await assertReachesPatient(tx, principal, patient, { source: NOTIFICATION_SERVICE, resource });
      await appendEvents(tx, eventContext(c, NOTIFICATION_SERVICE), [
        request(notificationId, patient),
        dataModified(principal, resource, "CREATE"),
      ]);
      return { status: 202 as const, body: { notificationId, channel }, patientId };
    },
    {
      lockAggregate: patientAggregate(patientId),
      appendsTo: { aggregateType: "notification", aggregateId: notificationId },
    },
  );
  return c.json(answer.body, answer.status);
}

/**
 * The recipient: the patient's own contact on file. A body may name it (clients written against the older
 * API do), but a different one is refused, naming the field; the problem never shows what is on file.
 */
function ownContact<T extends string>(
  field: "to" | "userId",
  given: T | undefined,
  onFile: T | null,
  same: (a: string, b: string) => boolean = (a, b) => a === b,
): T {
  if (onFile === null) {
    throw unprocessable({ field: "body.patientId", message: "the patient has no login to notify" });
  }
  if (given !== undefined && !same(given, onFile)) {
    throw unprocessable({
      field: `body.${field}`,
      message: "must be the patient's own contact on file (leave it out to use it)",
    });
  }
  return onFile;
}

/** E-mail addresses are compared as people write them: the case of a letter does not make another mailbox. */
const sameAddress = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function unprocessable(error: { field: string; message: string }): HttpProblem {
  return new HttpProblem(
    422,
    "Unprocessable Content",
    "A notification goes only to the patient's own contact on file.",
    [error],
  );
}
