-- 0010's refusal set a HINT only for DELETE, and RAISE refuses a NULL option: an UPDATE was refused with
-- "RAISE statement option cannot be null" instead of the append-only error. Same rule, the right message.
CREATE OR REPLACE FUNCTION outbox_refuse_rewrite_unless_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (
       SELECT 1 FROM outbox_archives a
        WHERE a.xmin = pg_current_xact_id()::xid
          AND (OLD.tx_id, OLD.position) <= (a.up_to_tx_id, a.up_to_position)) THEN
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
--> statement-breakpoint
-- And name the checkpoint an archive must begin after without printing a missing previous archive as NULL.
CREATE OR REPLACE FUNCTION outbox_archive_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RAISE EXCEPTION 'archive % must begin where the history left in archives ends, after checkpoint %',
      NEW.sequence, coalesce(previous.checkpoint_sequence, 0);
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
