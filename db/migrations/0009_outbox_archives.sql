CREATE TABLE "outbox_archive_heads" (
	"archive_sequence" bigint NOT NULL,
	"position" bigint NOT NULL,
	"aggregate_type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"version" bigint NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "outbox_archive_heads_archive_sequence_position_pk" PRIMARY KEY("archive_sequence","position")
);
--> statement-breakpoint
CREATE TABLE "outbox_archives" (
	"sequence" bigint PRIMARY KEY NOT NULL,
	"checkpoint_sequence" bigint NOT NULL,
	"after_checkpoint_sequence" bigint NOT NULL,
	"up_to_tx_id" "xid8" NOT NULL,
	"up_to_position" bigint NOT NULL,
	"row_count" bigint NOT NULL,
	"head_count" bigint NOT NULL,
	"heads_hash" "bytea" NOT NULL,
	"file_name" text NOT NULL,
	"file_sha256" "bytea" NOT NULL,
	"created_before" timestamp with time zone NOT NULL,
	"key_id" text NOT NULL,
	"signature" "bytea" NOT NULL,
	"archived_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "outbox_archives" ADD CONSTRAINT "outbox_archives_checkpoint_sequence_outbox_checkpoints_sequence_fk" FOREIGN KEY ("checkpoint_sequence") REFERENCES "public"."outbox_checkpoints"("sequence") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_archive_heads_aggregate_version" ON "outbox_archive_heads" USING btree ("aggregate_type","aggregate_id","version");