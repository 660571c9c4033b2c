// Who runs a command that an audit event records (`npm run replay`, `events:tail --decrypt`): an operator has
// no platform account, so the record names the login name on the machine the command ran on.
import { userInfo } from "node:os";

/** The login name, as an event's `identifier` allows it (any other character becomes `_`). */
export function operatorName(): string {
  return userInfo().username.replace(/[^A-Za-z0-9._:@/-]/g, "_") || "unknown";
}
