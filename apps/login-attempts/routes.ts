// The internal endpoint through which the (external) auth service records login attempts as
// audit.login.attempt events. Only the service role reaches it; the attempt itself is the record.
import { randomUUID } from "node:crypto";
import { z } from "@hono/zod-openapi";
import type { Database } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { loginAttemptSchema } from "../../events/audit.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce, idempotencyKeyHeader } from "../http/idempotency.ts";
import { anyCaseUuid } from "../http/ids.ts";
import { json, problem, securedRoute } from "../http/openapi.ts";
import { createRouter } from "../http/service.ts";

export const LOGIN_AUDIT_SERVICE = "login-audit-service";

const recorded = z.object({ eventId: z.uuid() });

const loginAttemptBody = loginAttemptSchema.safeExtend({ userId: anyCaseUuid.nullable() });

const routes = {
  record: securedRoute(
    {
      source: LOGIN_AUDIT_SERVICE,
      resource: "login_attempt",
      roles: ["service"],
      rule: "Called by the auth service, with a service token.",
    },
    {
      method: "post",
      path: "/internal/login-attempts",
      summary: "Record a login attempt (emits audit.login.attempt)",
      request: { headers: idempotencyKeyHeader, body: { content: json(loginAttemptBody), required: true } },
      responses: {
        201: { description: "Recorded", content: json(recorded) },
        400: problem("Invalid input, e.g. a failed attempt without a reason"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
  ),
};

export function loginAttemptRoutes(db: Database) {
  return createRouter().openapi(routes.record, async (c) => {
    const attempt = c.req.valid("json");
    const answer = await answerOnce(c, db, async (tx) => {
      const [appended] = await appendEvents(tx, eventContext(c, LOGIN_AUDIT_SERVICE), [
        { type: "audit.login.attempt", data: attempt },
      ]);
      return { status: 201 as const, body: { eventId: appended?.eventId ?? randomUUID() } };
    });
    return c.json(answer.body, answer.status);
  });
}
