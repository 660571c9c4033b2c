// The provider service: the clinicians that appointments are booked with. Admins register them; a provider
// keeps their own profile up to date. Profiles are not patient data: reads leave no audit event, every
// change leaves an audit.data.modified.
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Context } from "hono";
import { type Database, writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { AccessRefused } from "../http/access.ts";
import { type AuditedResource, dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { refusingConflicts } from "../http/constraintViolation.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce } from "../http/idempotency.ts";
import { createdAt, json, problem, securedRoute } from "../http/openapi.ts";
import { assertWriteConditions } from "../http/preconditions.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";
import {
  createProviderBody,
  type ProviderResponse,
  providerIdParam,
  providerResponse,
  updateProviderBody,
} from "./schemas.ts";
import {
  findProvider,
  insertProvider,
  lockProvider,
  ONE_PROFILE_PER_LOGIN,
  type ProviderRow,
  updateProvider,
} from "./store.ts";

export const PROVIDER_SERVICE = "provider-service";

const access = (roles: readonly Role[], rule?: string) => ({
  source: PROVIDER_SERVICE,
  resource: "provider",
  roles,
  rule,
});

const routes = {
  create: securedRoute(
    access(["admin"]),
    {
      method: "post",
      path: "/providers",
      summary: "Register a provider",
      request: {
        body: { content: json(createProviderBody), required: true },
      },
      responses: {
        201: createdAt("Created", providerResponse, "/providers/{id}"),
        400: problem("Invalid input"),
        409: problem("The login already has a provider profile"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { creates: true },
  ),
  get: securedRoute(access(["patient", "provider", "admin", "service"]), {
    method: "get",
    path: "/providers/{id}",
    summary: "Read a provider's profile",
    request: { params: providerIdParam },
    responses: {
      200: { description: "The provider", content: json(providerResponse) },
      404: problem("Unknown provider"),
    },
  }),
  update: securedRoute(
    access(["provider", "admin"], "A provider changes their own profile; only an admin changes userId."),
    {
      method: "patch",
      path: "/providers/{id}",
      summary: "Change some of a provider's fields",
      request: { params: providerIdParam, body: { content: json(updateProviderBody), required: true } },
      responses: {
        200: { description: "The provider after the change", content: json(providerResponse) },
        400: problem("Invalid input"),
        404: problem("Unknown provider"),
        409: problem("The login already has a provider profile"),
      },
    },
  ),
};

export function providerRoutes(db: Database) {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const body = c.req.valid("json");
      const id = randomUUID();
      const answer = await answerOnce(c, db, PROVIDER_SERVICE, async (tx) => {
        const row = await oneProfilePerLogin(() => insertProvider(tx, { id, ...body }));
        await appendEvents(tx, eventContext(c, PROVIDER_SERVICE), [
          dataModified(c.get("principal"), providerResource(id), "CREATE"),
        ]);
        return {
          status: 201 as const,
          body: toResponse(row),
          headers: { Location: `/providers/${id}` },
          patientId: null,
        };
      });
      return c.json(answer.body, answer.status, answer.headers);
    })
    .openapi(routes.get, async (c) => {
      const { id } = c.req.valid("param");
      const row = await writeTransaction(db, (tx) => findProvider(tx, id));
      if (!row) throw unknownProvider(id);
      return c.json(toResponse(row), 200);
    })
    .openapi(routes.update, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const answer = await answerOnce(c, db, PROVIDER_SERVICE, async (tx) => {
        const current = await lockProvider(tx, id);
        if (!current) throw unknownProvider(id);
        const changedFields = (Object.keys(body) as Array<keyof typeof body>).filter(
          (field) => !isDeepStrictEqual(current[field] ?? null, body[field] ?? null),
        );
        // Sending back the userId a GET returned changes nothing, and is no attempt at anything.
        assertMayEdit(c, current, changedFields.includes("userId"));
        assertWriteConditions(c, toResponse(current));
        if (changedFields.length === 0)
          return { status: 200 as const, body: toResponse(current), patientId: null };
        const changes = Object.fromEntries(changedFields.map((field) => [field, body[field]]));
        const updated = await oneProfilePerLogin(() => updateProvider(tx, id, changes));
        await appendEvents(tx, eventContext(c, PROVIDER_SERVICE), [
          dataModified(c.get("principal"), providerResource(id), "UPDATE", changedFields),
        ]);
        return { status: 200 as const, body: toResponse(updated), patientId: null };
      });
      return c.json(answer.body, answer.status);
    });
}

/** A provider edits their own profile only, and never moves it to another login. */
function assertMayEdit(c: Context<ServiceEnv>, provider: ProviderRow, changesLogin: boolean): void {
  const principal = c.get("principal");
  if (principal.role === "admin") return;
  if (provider.userId !== principal.userId) {
    throw new AccessRefused(
      PROVIDER_SERVICE,
      principal,
      providerResource(provider.id),
      "own-profile-only",
      "A provider changes only their own profile.",
    );
  }
  if (changesLogin) {
    throw new AccessRefused(
      PROVIDER_SERVICE,
      principal,
      providerResource(provider.id),
      "role-not-permitted",
      "Only an admin may change which login a provider profile belongs to (userId).",
    );
  }
}

const oneProfilePerLogin = (write: () => Promise<ProviderRow>) =>
  refusingConflicts(write, {
    [ONE_PROFILE_PER_LOGIN]: "That login (userId) already has a provider profile.",
  });

const providerResource = (id: string): AuditedResource => ({ type: "provider", id, patientId: null });

function unknownProvider(id: string): HttpProblem {
  return HttpProblem.notFound(`There is no provider ${id}.`);
}

function toResponse(row: ProviderRow): ProviderResponse {
  return {
    id: row.id,
    userId: row.userId,
    firstName: row.firstName,
    lastName: row.lastName,
    specialty: row.specialty,
    email: row.email,
    phone: row.phone,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
