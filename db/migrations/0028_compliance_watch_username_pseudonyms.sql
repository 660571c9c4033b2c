-- The compliance watch now counts and reports a username by its keyed pseudonym (consumers/complianceWatch),
-- never as typed: one that named nobody may be a patient's address or number all the same, and no erasure
-- reaches these tables. The pseudonym's key never leaves the platform's processes, so rows counted under the
-- username itself cannot be carried over: their windows start afresh.
DELETE FROM "compliance_watch_observations" WHERE "subject" LIKE 'username:%';
--> statement-breakpoint
DELETE FROM "compliance_watch_subjects" WHERE "subject" LIKE 'username:%';
--> statement-breakpoint
-- An alert already raised stays counted (compliance_alerts_total); its event in the history still names the
-- username, as the history is append-only.
UPDATE "compliance_watch_alerts" SET "subject" = 'username-withheld' WHERE "subject" LIKE 'username:%';
