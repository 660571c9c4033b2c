-- Two tables that used to be created at run time (by relay:switch and before each Debezium registration), now
-- here like every other piece of DDL. IF NOT EXISTS: a database switched before this migration has them already.
CREATE TABLE IF NOT EXISTS "debezium_heartbeat" (
	"id" integer PRIMARY KEY NOT NULL,
	"beat_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
COMMENT ON TABLE "debezium_heartbeat" IS
  'One row that Debezium updates every heartbeat so its replication slot keeps advancing while the outbox is quiet';
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "relay_mode" (
	"singleton" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"mode" text NOT NULL,
	"handover" jsonb,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "relay_mode_singleton_check" CHECK ("relay_mode"."singleton"),
	CONSTRAINT "relay_mode_mode_check" CHECK ("relay_mode"."mode" IN ('polling', 'debezium'))
);
