// Postgres constraint violations that a service turns into a client's problem (a 409), recognised by the
// constraint's name; drizzle wraps the driver's error, so the name may sit on its cause.
export function violatesConstraint(error: unknown, constraint: string): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ((current as { constraint?: string }).constraint === constraint) return true;
  }
  return false;
}
