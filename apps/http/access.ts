// Authorization refusals: a route admits some roles, a record admits some principals; anything else is a 403
// problem, and the refusal is recorded as an audit.compliance.violation in a transaction of its own (the
// request's own transaction, if any, rolls back: a refused request changes nothing else).
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { type Database, writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { Logger } from "../../observability/logger.ts";
import { type AuditedResource, complianceViolation, type ViolationSeverity } from "./auditEvents.ts";
import type { AuthEnv, Principal, Role } from "./auth.ts";
import { eventContext, type SealingEnv } from "./eventContext.ts";
import { anyCaseUuid } from "./ids.ts";
import { documentedPath, HttpProblem } from "./problem.ts";
import type { RequestContextEnv } from "./requestContext.ts";

/** The rules a refusal can break, as auditors filter them (`rule` of audit.compliance.violation). */
const RULES = {
  "role-not-permitted": "MEDIUM",
  "own-records-only": "HIGH",
  "treating-provider-only": "HIGH",
  "own-profile-only": "MEDIUM",
} as const satisfies Record<string, ViolationSeverity>;

export type AccessRule = keyof typeof RULES;

export class AccessRefused extends HttpProblem {
  constructor(
    /** The service that refused, the source of the violation event. */
    readonly source: string,
    readonly principal: Principal,
    readonly resource: AuditedResource,
    readonly rule: AccessRule,
    /** Said to the client and recorded: it must name no personal data. */
    reason: string,
  ) {
    super(403, "Forbidden", reason);
    this.name = "AccessRefused";
  }

  violation() {
    return complianceViolation(this.principal, this.resource, {
      rule: this.rule,
      reason: this.detail ?? this.title,
      severity: RULES[this.rule],
    });
  }
}

type AccessEnv = RequestContextEnv & AuthEnv & SealingEnv;

/**
 * Route middleware, run before the request is validated: a principal of another role is refused without
 * learning anything about the route's input rules. The refused resource is the record the path names, or
 * the route itself (`/providers`) for collections.
 */
export function allowRoles(
  source: string,
  resourceType: string,
  allowed: readonly Role[],
): MiddlewareHandler<AccessEnv> {
  return async (c, next) => {
    const principal = c.get("principal");
    if (!allowed.includes(principal.role)) {
      throw new AccessRefused(
        source,
        principal,
        routeResource(c, resourceType),
        "role-not-permitted",
        `The ${principal.role} role may not ${c.req.method} ${documentedPath(routePath(c))}; allowed: ${allowed.join(", ")}.`,
      );
    }
    await next();
  };
}

function routeResource(c: Context, type: string): AuditedResource {
  const id = anyCaseUuid.safeParse(c.req.param("id")).data;
  const named = id !== undefined;
  return {
    type,
    // The pattern, not the raw path: bounded in length, and free of whatever a client put in it; spelt as the
    // refusal's detail spells it, the OpenAPI document's way.
    id: named ? id : documentedPath(routePath(c)),
    patientId: named && type === "patient" ? id : null,
  };
}

/**
 * Frame middleware: after a request was refused, records the violation. If that fails the refusal still
 * stands, and the log keeps what the event would have said (it holds no PHI: ids, roles, the rule).
 */
export function recordRefusals(db: Database, log: Logger): MiddlewareHandler<AccessEnv> {
  return async (c, next) => {
    await next();
    const refusal = c.error;
    if (!(refusal instanceof AccessRefused)) return;
    const violation = refusal.violation();
    try {
      await writeTransaction(db, (tx) => appendEvents(tx, eventContext(c, refusal.source), [violation]));
    } catch (error) {
      log.error(
        {
          violation: violation.data,
          err: { type: (error as Error).name, code: (error as { code?: string }).code },
        },
        "a compliance violation could not be recorded",
      );
    }
  };
}
