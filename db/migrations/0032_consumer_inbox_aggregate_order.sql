-- Each inbox entry keeps its event's aggregate and version there, so that a consumer skips a record of an event
-- older than one of its aggregate it has applied from the same topic (a replayed copy of an event it parked in its
-- dead-letter topic) rather than apply it over the newer one; events on two topics have no order between them. The
-- entries kept so far take them from their outbox rows; those whose rows were archived keep none: they are older
-- than every event the outbox holds.
ALTER TABLE "consumer_inbox" ADD COLUMN "aggregate_type" text;--> statement-breakpoint
ALTER TABLE "consumer_inbox" ADD COLUMN "aggregate_id" text;--> statement-breakpoint
ALTER TABLE "consumer_inbox" ADD COLUMN "aggregate_version" bigint;--> statement-breakpoint
UPDATE "consumer_inbox" AS inbox
   SET "aggregate_type" = outbox.aggregate_type, "aggregate_id" = outbox.aggregate_id,
       "aggregate_version" = outbox.aggregate_version
  FROM outbox
 WHERE outbox.event_id = inbox.event_id AND outbox.aggregate_version IS NOT NULL;--> statement-breakpoint
CREATE INDEX "consumer_inbox_aggregate_order" ON "consumer_inbox" USING btree ("consumer","topic","aggregate_type","aggregate_id","aggregate_version") WHERE "consumer_inbox"."aggregate_version" IS NOT NULL;
