-- Archiving (audit/archiveHistory.ts) is the one deliberate exception to the append-only outbox. Archives and
-- their chain heads are themselves append-only, and an archive can only be recorded as the next one, cut
-- exactly at a sealed checkpoint's cursor, holding exactly the rows between that checkpoint and the last cut.
CREATE TRIGGER outbox_archives_append_only BEFORE UPDATE OR DELETE ON outbox_archives
  FOR EACH ROW EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE TRIGGER outbox_archives_no_truncate BEFORE TRUNCATE ON outbox_archives
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE TRIGGER outbox_archive_heads_append_only BEFORE UPDATE OR DELETE ON outbox_archive_heads
  FOR EACH ROW EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE TRIGGER outbox_archive_heads_no_truncate BEFORE TRUNCATE ON outbox_archive_heads
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE FUNCTION outbox_archive_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  previous outbox_archives;
  cut outbox_checkpoints;
  start_count bigint := 0;
BEGIN
  -- One archiver at a time: the next sequence and the last cut cannot change under this one.
  LOCK TABLE outbox_archives IN SHARE ROW EXCLUSIVE MODE;
  SELECT * INTO previous FROM outbox_archives ORDER BY sequence DESC LIMIT 1;
  IF NEW.sequence <> coalesce(previous.sequence, 0) + 1 THEN
    RAISE EXCEPTION 'archive % is not the next one (%)', NEW.sequence, coalesce(previous.sequence, 0) + 1;
  END IF;
  IF NEW.after_checkpoint_sequence <> coalesce(previous.checkpoint_sequence, 0) THEN
    RAISE EXCEPTION 'archive % must begin where archive % ended, after checkpoint %',
      NEW.sequence, previous.sequence, coalesce(previous.checkpoint_sequence, 0);
  END IF;
  SELECT * INTO cut FROM outbox_checkpoints WHERE sequence = NEW.checkpoint_sequence;
  IF NOT FOUND OR (cut.up_to_tx_id, cut.up_to_position) <> (NEW.up_to_tx_id, NEW.up_to_position)
     OR NEW.checkpoint_sequence <= NEW.after_checkpoint_sequence THEN
    RAISE EXCEPTION 'archive % must end exactly at a sealed checkpoint after checkpoint %',
      NEW.sequence, NEW.after_checkpoint_sequence;
  END IF;
  IF NEW.after_checkpoint_sequence > 0 THEN
    SELECT row_count INTO start_count FROM outbox_checkpoints WHERE sequence = NEW.after_checkpoint_sequence;
  END IF;
  IF NEW.row_count <> cut.row_count - start_count THEN
    RAISE EXCEPTION 'archive % holds % rows, but checkpoints % to % cover %',
      NEW.sequence, NEW.row_count, NEW.after_checkpoint_sequence, cut.sequence, cut.row_count - start_count;
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_archives_next_cut BEFORE INSERT ON outbox_archives
  FOR EACH ROW EXECUTE FUNCTION outbox_archive_check();
--> statement-breakpoint
-- The outbox refuses UPDATE and TRUNCATE as before, and DELETE except of rows at or before the cut of an
-- archive recorded by the deleting transaction itself: no archive record, no deletion.
CREATE FUNCTION outbox_refuse_rewrite_unless_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (
       SELECT 1 FROM outbox_archives a
        WHERE a.xmin = pg_current_xact_id()::xid
          AND (OLD.tx_id, OLD.position) <= (a.up_to_tx_id, a.up_to_position)) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'the outbox is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = CASE WHEN TG_OP = 'DELETE'
                      THEN 'only npm run audit:archive deletes, rows at or before the cut it records' END;
END;
$$;
--> statement-breakpoint
DROP TRIGGER outbox_append_only ON outbox;
--> statement-breakpoint
CREATE TRIGGER outbox_append_only BEFORE UPDATE OR DELETE ON outbox
  FOR EACH ROW EXECUTE FUNCTION outbox_refuse_rewrite_unless_archived();
