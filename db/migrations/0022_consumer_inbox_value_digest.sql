-- The SHA-256 of the record value each inbox entry was processed with: a later record with the same event id
-- and another value is refused (event-id-reused) instead of being acknowledged as a duplicate. Entries recorded
-- before this column have none, and are compared by event type only.
ALTER TABLE "consumer_inbox" ADD COLUMN "value_sha256" "bytea";
