// How services declare routes for @hono/zod-openapi: JSON and problem bodies, and `securedRoute`, which gives
// a route its roles (checked before the input is), its bearer-token security and its 401/403 answers.
import { createRoute, type RouteConfig, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { allowRoles } from "./access.ts";
import type { Role } from "./auth.ts";
import { HttpProblem } from "./problem.ts";
import { BEARER_AUTH } from "./service.ts";

export const json = <T extends z.ZodType>(schema: T) => ({ "application/json": { schema } });

const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

export const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: problemSchema } },
});

export interface RouteAccess {
  /** The service that answers, recorded as the source of a refusal's violation event. */
  source: string;
  /** What the route reads or writes, as audit events name it: `patient`, `appointment`, ... */
  resource: string;
  roles: readonly Role[];
  /** Which records of the resource each role reaches, for the reader of the API document. */
  rule?: string;
}

type UnsecuredRoute<P extends string> = Omit<RouteConfig, "path" | "middleware" | "security"> & { path: P };

export function securedRoute<P extends string, R extends UnsecuredRoute<P>>(access: RouteAccess, route: R) {
  const roles = `Roles: ${access.roles.join(", ")}.${access.rule ? ` ${access.rule}` : ""}`;
  return createRoute({
    ...route,
    description: route.description ? `${route.description}\n\n${roles}` : roles,
    middleware: route.request?.body
      ? allowRoles(access.source, access.resource, access.roles)
      : [allowRoles(access.source, access.resource, access.roles), noBody],
    security: [{ [BEARER_AUTH]: [] }],
    responses: {
      ...route.responses,
      401: problem("No valid bearer token"),
      403: problem("The role or the record is not the caller's (recorded as audit.compliance.violation)"),
    },
  });
}

/** A route that declares no body refuses one, as a route with a body refuses fields it does not know. */
const noBody: MiddlewareHandler = async (c, next) => {
  if ((await c.req.text()).length > 0) {
    throw HttpProblem.invalid([{ field: "body", message: "must be empty: this route takes no body" }]);
  }
  await next();
};
