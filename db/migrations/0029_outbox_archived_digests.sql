-- Each archived event's id and payload digest, so that a consumer can still tell a record of an archived event
-- from a forgery (consumers/runtime/inbox.ts): kept by the transaction that archives the event, in the same
-- transaction as its row's deletion.
CREATE TABLE "outbox_archived_digests" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"payload_sha256" "bytea" NOT NULL
);
--> statement-breakpoint
-- The archives recorded before this migration deleted their rows without keeping digests, and the rows are gone:
-- they say so (false), every later one keeps them (the default, and the triggers below).
ALTER TABLE "outbox_archives" ADD COLUMN "digests_kept" boolean DEFAULT false NOT NULL;
--> statement-breakpoint
ALTER TABLE "outbox_archives" ALTER COLUMN "digests_kept" SET DEFAULT true;
--> statement-breakpoint
CREATE FUNCTION outbox_archive_keeps_digests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT NEW.digests_kept THEN
    RAISE EXCEPTION 'archive % must keep its events'' digests (outbox_archived_digests)', NEW.sequence;
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_archives_keep_digests BEFORE INSERT ON outbox_archives
  FOR EACH ROW EXECUTE FUNCTION outbox_archive_keeps_digests();
--> statement-breakpoint
-- Append-only, as the outbox and the archives are: a digest changed or removed would refuse an archived event,
-- one added would let a forged record pass as archived.
CREATE TRIGGER outbox_archived_digests_append_only BEFORE UPDATE OR DELETE ON outbox_archived_digests
  FOR EACH ROW EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE TRIGGER outbox_archived_digests_no_truncate BEFORE TRUNCATE ON outbox_archived_digests
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
-- And only an archiving transaction adds to it: the digest of an outbox row at or before the cut of an archive
-- that transaction recorded, the row's payload as consumers digest it (its text as stored, in UTF-8).
CREATE FUNCTION outbox_archived_digest_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (
       SELECT 1 FROM outbox o
         JOIN outbox_archives a ON a.xmin = pg_current_xact_id()::xid
                               AND (o.tx_id, o.position) <= (a.up_to_tx_id, a.up_to_position)
        WHERE o.event_id = NEW.event_id
          AND sha256(convert_to(o.payload::text, 'UTF8')) = NEW.payload_sha256) THEN
    RAISE EXCEPTION 'outbox_archived_digests keeps the digests of the events archived by this transaction: event % is none, or its payload has another digest', NEW.event_id
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'only npm run audit:archive adds to it, for the rows it archives';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_archived_digests_archived_only BEFORE INSERT ON outbox_archived_digests
  FOR EACH ROW EXECUTE FUNCTION outbox_archived_digest_check();
--> statement-breakpoint
-- The outbox deletes a row, as before, only at or before the cut of an archive its transaction recorded, and now
-- only once the row's digest is kept: no archived event that a consumer cannot check.
CREATE OR REPLACE FUNCTION outbox_refuse_rewrite_unless_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (
       SELECT 1 FROM outbox_archives a
        WHERE a.xmin = pg_current_xact_id()::xid
          AND (OLD.tx_id, OLD.position) <= (a.up_to_tx_id, a.up_to_position)) THEN
    IF NOT EXISTS (
         SELECT 1 FROM outbox_archived_digests d
          WHERE d.event_id = OLD.event_id
            AND d.payload_sha256 = sha256(convert_to(OLD.payload::text, 'UTF8'))) THEN
      RAISE EXCEPTION 'the outbox deletes an archived event only once its digest is kept: event % has none in outbox_archived_digests', OLD.event_id
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'npm run audit:archive keeps the digests of the rows it archives before it deletes them';
    END IF;
    RETURN OLD;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'the outbox is append-only: DELETE is not allowed'
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'only npm run audit:archive deletes, rows at or before the cut it records';
  END IF;
  RAISE EXCEPTION 'the outbox is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
