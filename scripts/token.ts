// `npm run token -- --role <role> [--sub <uuid>] [--session <uuid>] [--expires 12h]` prints a bearer token
// that the local platform accepts: signed with JWT_SECRET, or with the development secret under .data/.
import { decodeJwt } from "jose";
import { z } from "zod";
import { roles } from "../apps/http/auth.ts";
import { ANY_CASE_UUID } from "../apps/http/ids.ts";
import { issueToken } from "../apps/http/issueToken.ts";
import { signingKeys } from "../apps/http/signingKeys.ts";
import { parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadEnv } from "../config/env.ts";

const usage = `usage: npm run token -- --role <${roles.join("|")}> [--sub <uuid>] [--session <uuid>] [--expires 12h]
  prints a bearer token the local platform accepts (signed with JWT_SECRET or the development secret)`;

const options = z.object({
  role: z.enum(roles, { error: `--role must be one of ${roles.join(", ")}` }),
  // In any case, as the services take a token's; written into the token in lower case.
  sub: z.stringFormat("uuid", ANY_CASE_UUID, { error: "--sub must be a UUID" }).toLowerCase().optional(),
  session: z
    .stringFormat("uuid", ANY_CASE_UUID, { error: "--session must be a UUID" })
    .toLowerCase()
    .optional(),
  expires: z
    .string()
    // No 0s: a token that has expired as it is printed is refused by every service it is shown to.
    .regex(/^[1-9]\d*[smhd]$/, "--expires must be a duration above 0, like 30m, 12h or 7d")
    .optional(),
});

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const seconds = (duration: string) =>
  Number.parseInt(duration, 10) * SECONDS_PER_UNIT[duration.at(-1) as keyof typeof SECONDS_PER_UNIT];

const { values, refuse } = parseCommand({
  usage,
  options: {
    role: { type: "string" },
    sub: { type: "string" },
    session: { type: "string" },
    expires: { type: "string" },
  },
});
const parsed = options.safeParse(values);
const wanted = parsed.success
  ? parsed.data
  : refuse(parsed.error.issues.map((issue) => issue.message).join("\n"));
try {
  const env = loadEnv();
  const keys = signingKeys(env);
  if (keys.kind !== "secret") {
    throw new Error("JWT_JWKS_URL is set: tokens come from that identity provider, not from this script.");
  }
  // Twelve hours, or less when the platform takes no token that long (JWT_MAX_LIFETIME_HOURS).
  const expires = wanted.expires ?? `${Math.min(12, env.JWT_MAX_LIFETIME_HOURS)}h`;
  // The argument's mistake (exit 2, with the usage), as any other --expires the platform would refuse.
  if (seconds(expires) > env.JWT_MAX_LIFETIME_HOURS * 3600) {
    refuse(
      `--expires ${expires} is longer than JWT_MAX_LIFETIME_HOURS (${env.JWT_MAX_LIFETIME_HOURS}): the platform would refuse the token`,
    );
  }
  const token = await issueToken(keys.secret, {
    role: wanted.role,
    sub: wanted.sub,
    sessionId: wanted.session,
    expiresIn: expires,
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
  });
  console.log(token);
  // On stderr, so that `TOKEN=$(npm run --silent token -- --role admin)` captures the token alone.
  const { sub, session_id } = decodeJwt(token);
  console.error(`${wanted.role} token: sub ${sub}, session ${session_id}, expires in ${expires}`);
} catch (error) {
  process.exit(reportFailure(error));
}
