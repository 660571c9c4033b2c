// Notification ids derived from what caused them: the same source event and message kind always give the
// same id, so even a request written twice (which the inbox prevents) would be delivered once.
import { createHash } from "node:crypto";

/** An RFC 9562 version 5 (name-based, SHA-1) UUID of `name` in this platform's notification namespace. */
export function notificationId(sourceEventId: string, message: string): string {
  const namespace = Buffer.from("6f1c2a3e7b8d4e9fa0b1c2d3e4f50617", "hex");
  const hash = createHash("sha1").update(namespace).update(`${sourceEventId}/${message}`).digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50; // version 5
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
