// How a notification leaves the platform. A transport either sends the message, or fails saying whether it
// is sure the message did not go out: only then may it be tried again without risking a second message.
import type { PoolClient } from "pg";
import { DataFreeError } from "../../../events/dataFreeError.ts";

/** `patientId`: the patient the message concerns (null for staff), whose erasure must reach a kept copy. */
export type OutgoingMessage = { notificationId: string; patientId: string | null; to: string } & (
  | { channel: "email"; subject: string; text: string }
  | { channel: "sms"; body: string }
);

export interface NotificationTransport {
  /** Recorded with each delivery, e.g. `smtp` or `recording`. */
  readonly name: string;
  /** Resolves with the transport's id for the message; rejects with NotSentError when nothing went out. */
  send(message: OutgoingMessage): Promise<{ transportMessageId: string | null }>;
  /**
   * For a transport whose send is a write to the platform's own database (the recording transport): the same
   * send, inside the caller's open transaction on `client`, in which the delivery is also claimed and finished.
   * The three commit together or not at all, so a process that dies mid-send leaves nothing half done: the
   * redelivered request sends it then, once. A transport that hands the message to another system cannot.
   */
  sendInTransaction?(
    client: PoolClient,
    message: OutgoingMessage,
  ): Promise<{ transportMessageId: string | null }>;
  close?(): Promise<void>;
}

/** The transport knows the message was not handed over (refused, or no connection): safe to retry. */
export class NotSentError extends DataFreeError {
  override name = "NotSentError";
  constructor(
    message: string,
    /** A code without personal data for the delivery ledger, e.g. `smtp-550` or `ECONNECTION`. */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
