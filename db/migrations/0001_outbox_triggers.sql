-- Wake the polling relay as soon as events commit: NOTIFY is delivered at commit, once per transaction
-- and channel, so one statement-level trigger costs one notification per writing transaction.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
--> statement-breakpoint
-- The outbox is the permanent audit history: rows are appended, never changed or removed.
CREATE FUNCTION outbox_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the outbox is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_append_only BEFORE UPDATE OR DELETE ON outbox
  FOR EACH ROW EXECUTE FUNCTION outbox_refuse_rewrite();
--> statement-breakpoint
CREATE TRIGGER outbox_no_truncate BEFORE TRUNCATE ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_refuse_rewrite();
