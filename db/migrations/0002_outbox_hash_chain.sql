-- Rows written before the chain existed get an empty hash, which verification reports as unchained.
ALTER TABLE "aggregate_versions" ADD COLUMN "last_hash" "bytea" NOT NULL DEFAULT '\x';--> statement-breakpoint
ALTER TABLE "aggregate_versions" ALTER COLUMN "last_hash" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "previous_hash" "bytea";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "hash" "bytea" NOT NULL DEFAULT '\x';--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "hash" DROP DEFAULT;
