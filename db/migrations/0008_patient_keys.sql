CREATE TABLE "patient_keys" (
	"patient_id" uuid PRIMARY KEY NOT NULL,
	"master_key_id" text,
	"wrapped_key" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"erased_at" timestamp with time zone,
	CONSTRAINT "patient_keys_live_or_erased" CHECK (("patient_keys"."erased_at" IS NULL) = ("patient_keys"."wrapped_key" IS NOT NULL AND "patient_keys"."master_key_id" IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX "outbox_correlation_history" ON "outbox" USING btree ("correlation_id","tx_id","position");--> statement-breakpoint
CREATE INDEX "outbox_event_type_history" ON "outbox" USING btree ("event_type","tx_id","position");