// E-mail over SMTP with nodemailer. Its failures are sorted into "not sent" (the server refused, or there
// was never a connection to hand the message to) and everything else, after which the message may or may
// not have gone out and must not be sent again.
import { createTransport } from "nodemailer";
import { type NotificationTransport, NotSentError, type OutgoingMessage } from "./transport.ts";

/** nodemailer codes for failures before the message was handed over. */
const BEFORE_HANDOVER = new Set([
  "ECONNECTION",
  "EDNS",
  "ETLS",
  "EREQUIRETLS",
  "EAUTH",
  "ENOAUTH",
  "ECONFIG",
  "EENVELOPE",
  "EPROXY",
]);

export interface SmtpTransportOptions {
  /** `smtp://user:pass@host:587` or `smtps://...`. */
  url: string;
  /** The From header, e.g. `Healthcare Platform <no-reply@example.org>`. */
  sender: string;
  /** The domain of the Message-ID, which is derived from the notification id. */
  messageIdDomain?: string;
}

export function smtpTransport(options: SmtpTransportOptions): NotificationTransport {
  const mailer = createTransport(options.url);
  const domain = options.messageIdDomain ?? "healthcare-platform.invalid";
  return {
    name: "smtp",
    async send(message: OutgoingMessage) {
      if (message.channel !== "email") {
        throw new NotSentError("the SMTP transport sends e-mail only", "unsupported-channel");
      }
      try {
        const info = await mailer.sendMail({
          from: options.sender,
          to: message.to,
          subject: message.subject,
          text: message.text,
          // The same notification always has the same Message-ID, which lets mail systems drop a duplicate.
          messageId: `<${message.notificationId}@${domain}>`,
        });
        return { transportMessageId: info.messageId ?? null };
      } catch (error) {
        const { code, responseCode } = error as { code?: string; responseCode?: number };
        // A 4xx or 5xx reply is the server refusing what it was given: it has not taken the message.
        if (typeof responseCode === "number" && responseCode >= 400) {
          throw new NotSentError("the SMTP server refused the message", `smtp-${responseCode}`, {
            cause: error,
          });
        }
        if (code !== undefined && BEFORE_HANDOVER.has(code)) {
          throw new NotSentError("no SMTP session to hand the message to", code, { cause: error });
        }
        throw error;
      }
    },
    async close() {
      mailer.close();
    },
  };
}
