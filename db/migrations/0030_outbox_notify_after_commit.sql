-- The relay is no longer woken from inside the writing transaction: PostgreSQL serializes the commits of all
-- transactions that sent a NOTIFY, holding one lock across each commit's WAL flush, so this trigger made every
-- write wait for the flush of the one before it. The writer's process sends the NOTIFY after its commit instead,
-- in a transaction of its own (db/outbox/relayWakeup.ts); a writer that sends none is found by the relay's idle
-- poll.
DROP TRIGGER outbox_notify ON outbox;
--> statement-breakpoint
DROP FUNCTION outbox_notify();
