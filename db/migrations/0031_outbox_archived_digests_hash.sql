-- Each archive's digests become its own and covered by its signature: a digest belongs to the archive that kept
-- it, and the archive signs a SHA-256 over its digests (audit/archive.ts DigestsHash), so a digest changed in
-- place, swapped, added or removed by an administrator who turns the triggers off is found by audit:verify.
-- The digests kept before this migration belong to no archive (NULL), and their archives have no hash (NULL):
-- no migration can sign, and nothing says which archive kept which digest.
ALTER TABLE "outbox_archived_digests" ADD COLUMN "archive_sequence" bigint;--> statement-breakpoint
ALTER TABLE "outbox_archives" ADD COLUMN "digests_hash" "bytea";--> statement-breakpoint
ALTER TABLE "outbox_archived_digests" ADD CONSTRAINT "outbox_archived_digests_archive_sequence_outbox_archives_sequence_fk" FOREIGN KEY ("archive_sequence") REFERENCES "public"."outbox_archives"("sequence") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "outbox_archived_digests_archive" ON "outbox_archived_digests" USING btree ("archive_sequence","event_id");--> statement-breakpoint
-- Every archive recorded from now on keeps its digests and signs their hash.
CREATE OR REPLACE FUNCTION outbox_archive_keeps_digests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT NEW.digests_kept THEN
    RAISE EXCEPTION 'archive % must keep its events'' digests (outbox_archived_digests)', NEW.sequence;
  END IF;
  IF NEW.digests_hash IS NULL THEN
    RAISE EXCEPTION 'archive % must sign the hash of its events'' digests (digests_hash)', NEW.sequence
      USING HINT = 'npm run audit:archive records archives; a version older than migration 0031 cannot';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
-- A digest is kept only with the archive its transaction records: that archive's hash covers it.
CREATE OR REPLACE FUNCTION outbox_archived_digest_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.archive_sequence IS NULL OR NOT EXISTS (
       SELECT 1 FROM outbox o
         JOIN outbox_archives a ON a.sequence = NEW.archive_sequence
                               AND a.xmin = pg_current_xact_id()::xid
                               AND (o.tx_id, o.position) <= (a.up_to_tx_id, a.up_to_position)
        WHERE o.event_id = NEW.event_id
          AND sha256(convert_to(o.payload::text, 'UTF8')) = NEW.payload_sha256) THEN
    RAISE EXCEPTION 'outbox_archived_digests keeps the digests of the events archived by this transaction, with the archive it records: event % is none, its payload has another digest, or archive % is not the one this transaction records', NEW.event_id, coalesce(NEW.archive_sequence::text, 'NULL')
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'only npm run audit:archive adds to it, for the rows it archives';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
-- The outbox deletes an archived row only once its digest is kept with the archive its transaction records.
CREATE OR REPLACE FUNCTION outbox_refuse_rewrite_unless_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (
       SELECT 1 FROM outbox_archives a
        WHERE a.xmin = pg_current_xact_id()::xid
          AND (OLD.tx_id, OLD.position) <= (a.up_to_tx_id, a.up_to_position)) THEN
    IF NOT EXISTS (
         SELECT 1 FROM outbox_archived_digests d
           JOIN outbox_archives a ON a.sequence = d.archive_sequence AND a.xmin = pg_current_xact_id()::xid
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
