-- No patient has two live appointments whose times overlap, whichever providers they are with: a person is at
-- one visit at a time. Enforced by Postgres as the providers' slots are (0006): concurrent bookings cannot
-- both commit. Cancelled appointments free the time; times are half-open, so back-to-back visits are allowed.
ALTER TABLE appointments ADD CONSTRAINT appointments_patient_in_one_place
  EXCLUDE USING gist (patient_id WITH =, tstzrange(scheduled_at, ends_at) WITH &&)
  WHERE (status <> 'CANCELLED');
