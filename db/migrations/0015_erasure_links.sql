ALTER TABLE "idempotency_keys" ADD COLUMN "patient_id" uuid;--> statement-breakpoint
ALTER TABLE "recorded_notifications" ADD COLUMN "patient_id" uuid;--> statement-breakpoint
CREATE INDEX "idempotency_keys_patient" ON "idempotency_keys" USING btree ("patient_id");--> statement-breakpoint
CREATE INDEX "patients_email_lower" ON "patients" USING btree (lower("email"));--> statement-breakpoint
CREATE INDEX "recorded_notifications_patient" ON "recorded_notifications" USING btree ("patient_id");--> statement-breakpoint
-- Responses kept before this migration (at most a day's): linked to the patient whose id they quote.
UPDATE "idempotency_keys" SET "patient_id" = "patients"."id" FROM "patients"
 WHERE strpos("idempotency_keys"."response_body", "patients"."id"::text) > 0;
--> statement-breakpoint
-- Messages recorded before it: linked through the request event, whose aggregate is the notification.
UPDATE "recorded_notifications" SET "patient_id" = "outbox"."patient_id" FROM "outbox"
 WHERE "outbox"."aggregate_type" = 'notification' AND "outbox"."aggregate_id" = "recorded_notifications"."notification_id"::text
   AND "outbox"."patient_id" IS NOT NULL;
