-- No provider has two live appointments whose slots overlap, enforced by Postgres rather than by a read before
-- the write: concurrent bookings of one slot cannot both commit, whatever the isolation level. Cancelled
-- appointments free their slot; slots are half-open ([start, end)), so back-to-back visits are allowed.
-- btree_gist lets the GiST index compare provider ids with `=` next to the range's `&&`; it is a trusted
-- extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;
--> statement-breakpoint
ALTER TABLE appointments ADD CONSTRAINT appointments_no_double_booking
  EXCLUDE USING gist (provider_id WITH =, tstzrange(scheduled_at, ends_at) WITH &&)
  WHERE (status <> 'CANCELLED');
