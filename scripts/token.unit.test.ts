// `npm run token` signs tokens the platform takes: never longer-lived than JWT_MAX_LIFETIME_HOURS allows.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { createTokenVerifier } from "../apps/http/auth.ts";

const run = promisify(execFile);
const JWT_SECRET = "a-test-secret-of-at-least-32-characters";

function token(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ["--import", "tsx", "scripts/token.ts", ...args], {
    env: { PATH: process.env.PATH ?? "", JWT_SECRET, ...env },
  });
}

// Each test starts the command under tsx, a few seconds on a busy machine: the unit project's 5 s is too short.
describe("npm run token", { timeout: 60_000 }, () => {
  it("prints a token the platform takes, twelve hours long unless JWT_MAX_LIFETIME_HOURS is shorter", async () => {
    const { stdout } = await token(["--role", "auditor"]);
    const { iat, exp } = decodeJwt(stdout.trim());
    expect((exp ?? 0) - (iat ?? 0)).toBe(12 * 3600);
    const verify = createTokenVerifier({
      kind: "secret",
      secret: new TextEncoder().encode(JWT_SECRET),
      origin: "JWT_SECRET",
    });
    expect(await verify(stdout.trim())).toMatchObject({ role: "auditor" });

    const short = await token(["--role", "auditor"], { JWT_MAX_LIFETIME_HOURS: "2" });
    const claims = decodeJwt(short.stdout.trim());
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(2 * 3600);
  });

  it("refuses --expires longer than JWT_MAX_LIFETIME_HOURS with the usage, exit code 2, printing no token", async () => {
    const refusal = token(["--role", "admin", "--expires", "7d"]);
    await expect(refusal).rejects.toMatchObject({
      code: 2,
      stdout: "",
      stderr: expect.stringMatching(
        /^--expires 7d is longer than JWT_MAX_LIFETIME_HOURS \(24\): the platform would refuse the token\nusage: npm run token/,
      ),
    });
    const week = await token(["--role", "admin", "--expires", "7d"], { JWT_MAX_LIFETIME_HOURS: "168" });
    expect(week.stdout.trim().split(".")).toHaveLength(3);
  });

  it("refuses an --expires of no time, or not written as one, printing no token", async () => {
    for (const expires of ["0s", "00h", "012h", "1.5h"]) {
      await expect(token(["--role", "admin", "--expires", expires])).rejects.toMatchObject({
        code: 2,
        stdout: "",
        stderr: expect.stringContaining("--expires must be a duration above 0, like 30m, 12h or 7d"),
      });
    }
  });
});
