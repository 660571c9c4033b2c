// The patient service: each write changes the patient's row and appends its event in one transaction.
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type Database, writeTransaction } from "../../db/client.ts";
import { appendEvents, type EventContext } from "../../db/outbox/appendEvents.ts";
import type { NewEvent } from "../../events/index.ts";
import type { PatientField } from "../../events/patient.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";
import {
  consentBody,
  consentState,
  createPatientBody,
  type PatientResponse,
  patientIdParam,
  patientResponse,
  updatePatientBody,
} from "./schemas.ts";
import { findPatient, insertPatient, lockPatient, type PatientRow, updatePatient } from "./store.ts";

export const PATIENT_SERVICE = "patient-service";

const problem = {
  "application/problem+json": { schema: z.object({ title: z.string(), status: z.number() }) },
};
const json = <T extends z.ZodType>(schema: T) => ({ "application/json": { schema } });

const routes = {
  create: createRoute({
    method: "post",
    path: "/patients",
    summary: "Register a patient (emits patient.created)",
    request: { body: { content: json(createPatientBody), required: true } },
    responses: {
      201: { description: "Created", content: json(patientResponse) },
      400: { description: "Invalid input", content: problem },
    },
  }),
  get: createRoute({
    method: "get",
    path: "/patients/{id}",
    summary: "Read a patient",
    request: { params: patientIdParam },
    responses: {
      200: { description: "The patient", content: json(patientResponse) },
      404: { description: "Unknown or deleted patient", content: problem },
    },
  }),
  update: createRoute({
    method: "patch",
    path: "/patients/{id}",
    summary: "Change some of a patient's fields (emits patient.updated when something changed)",
    request: { params: patientIdParam, body: { content: json(updatePatientBody), required: true } },
    responses: {
      200: { description: "The patient after the change", content: json(patientResponse) },
      400: { description: "Invalid input", content: problem },
      404: { description: "Unknown or deleted patient", content: problem },
    },
  }),
  remove: createRoute({
    method: "delete",
    path: "/patients/{id}",
    summary: "Delete a patient (emits patient.deleted)",
    request: { params: patientIdParam },
    responses: {
      204: { description: "Deleted" },
      404: { description: "Unknown or deleted patient", content: problem },
    },
  }),
  consent: createRoute({
    method: "put",
    path: "/patients/{id}/consent",
    summary: "Grant or withdraw consents (one patient.consent.changed per consent that changed)",
    request: { params: patientIdParam, body: { content: json(consentBody), required: true } },
    responses: {
      200: { description: "The patient's consents after the change", content: json(consentState) },
      400: { description: "Invalid input", content: problem },
      404: { description: "Unknown or deleted patient", content: problem },
    },
  }),
};

export function patientRoutes(db: Database) {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const body = c.req.valid("json");
      const patientId = randomUUID();
      const row = await writeTransaction(db, async (tx) => {
        const inserted = await insertPatient(tx, { id: patientId, ...body });
        await appendEvents(tx, eventContext(c), [{ type: "patient.created", data: { patientId, ...body } }]);
        return inserted;
      });
      c.header("Location", `/patients/${patientId}`);
      return c.json(toResponse(row), 201);
    })
    .openapi(routes.get, async (c) => {
      const { id } = c.req.valid("param");
      const row = await findPatient(db, id);
      if (!row) throw unknownPatient(id);
      return c.json(toResponse(row), 200);
    })
    .openapi(routes.update, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const row = await writeTransaction(db, async (tx) => {
        const current = await lockPatient(tx, id);
        if (!current) throw unknownPatient(id);
        const changedFields = (Object.keys(body) as PatientField[]).filter(
          (field) => !sameValue(current[field], body[field]),
        );
        // A PATCH that changes nothing is answered, but it is not an event.
        if (changedFields.length === 0) return current;
        const changes = Object.fromEntries(changedFields.map((field) => [field, body[field]]));
        const updated = await updatePatient(tx, id, changes);
        await appendEvents(tx, eventContext(c), [
          { type: "patient.updated", data: { patientId: id, changedFields, changes } },
        ]);
        return updated;
      });
      return c.json(toResponse(row), 200);
    })
    .openapi(routes.remove, async (c) => {
      const { id } = c.req.valid("param");
      await writeTransaction(db, async (tx) => {
        if (!(await lockPatient(tx, id))) throw unknownPatient(id);
        const deleted = await updatePatient(tx, id, { deletedAt: new Date() });
        await appendEvents(tx, eventContext(c), [
          {
            type: "patient.deleted",
            data: { patientId: id, deletedAt: (deleted.deletedAt as Date).toISOString() },
          },
        ]);
      });
      return c.body(null, 204);
    })
    .openapi(routes.consent, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const row = await writeTransaction(db, async (tx) => {
        const current = await lockPatient(tx, id);
        if (!current) throw unknownPatient(id);
        const changedAt = new Date();
        const events: NewEvent[] = [];
        const columns = {
          dataSharing: "consentDataSharing",
          marketing: "consentMarketing",
          research: "consentResearch",
        } as const;
        const changes: Partial<PatientRow> = {};
        for (const [consentType, column] of Object.entries(columns) as Array<
          [keyof typeof columns, (typeof columns)[keyof typeof columns]]
        >) {
          const granted = body[consentType];
          if (granted === undefined || granted === current[column]) continue;
          changes[column] = granted;
          events.push({
            type: "patient.consent.changed",
            data: { patientId: id, consentType, granted, changedAt: changedAt.toISOString() },
          });
        }
        if (events.length === 0) return current;
        const updated = await updatePatient(tx, id, { ...changes, consentUpdatedAt: changedAt });
        await appendEvents(tx, eventContext(c), events);
        return updated;
      });
      return c.json(toResponse(row).consent, 200);
    });
}

function eventContext(c: Context<ServiceEnv>): EventContext {
  const { metadata, traceparent } = c.get("requestContext");
  return { source: PATIENT_SERVICE, metadata, traceparent };
}

function unknownPatient(id: string): HttpProblem {
  return HttpProblem.notFound(`There is no patient ${id}.`);
}

/** Dates are strings on both sides; objects (insurance) compare by content, whatever their key order. */
function sameValue(stored: unknown, requested: unknown): boolean {
  return isDeepStrictEqual(stored ?? null, requested ?? null);
}

function toResponse(row: PatientRow): PatientResponse {
  return {
    id: row.id,
    userId: row.userId,
    firstName: row.firstName,
    lastName: row.lastName,
    dateOfBirth: row.dateOfBirth,
    email: row.email,
    phone: row.phone,
    insuranceInfo: row.insuranceInfo ?? null,
    medicalConditions: row.medicalConditions,
    allergies: row.allergies,
    consent: {
      dataSharing: row.consentDataSharing,
      marketing: row.consentMarketing,
      research: row.consentResearch,
      updatedAt: row.consentUpdatedAt?.toISOString() ?? null,
    },
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
