ALTER TABLE "outbox" ADD COLUMN "patient_id" uuid;--> statement-breakpoint
CREATE INDEX "outbox_patient_history" ON "outbox" USING btree ("patient_id","tx_id","position");--> statement-breakpoint
CREATE INDEX "outbox_user_history" ON "outbox" USING btree ((("payload"::jsonb -> 'metadata' ->> 'userId')),"tx_id","position");