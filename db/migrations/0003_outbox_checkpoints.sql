CREATE TABLE "outbox_checkpoints" (
	"sequence" bigint PRIMARY KEY NOT NULL,
	"up_to_tx_id" "xid8" NOT NULL,
	"up_to_position" bigint NOT NULL,
	"row_count" bigint NOT NULL,
	"chain_hash" "bytea" NOT NULL,
	"key_id" text NOT NULL,
	"signature" "bytea" NOT NULL,
	"sealed_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION outbox_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_checkpoints_append_only BEFORE UPDATE OR DELETE ON outbox_checkpoints
  FOR EACH ROW EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE TRIGGER outbox_checkpoints_no_truncate BEFORE TRUNCATE ON outbox_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_refuse_rewrite();
