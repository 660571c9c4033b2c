-- An erasure committed before its patient.deleted left the request metadata out could leave the patient's name and
-- contact details in the patient directory for good: that event's metadata was sealed under the key the erasure had
-- just destroyed, and the directory skips an erased patient's event it cannot open. Each directory row still live
-- for a patient whose key is erased is made the tombstone the event would have left (personal fields cleared,
-- consents withdrawn, deleted when the key was). No patient is erased without their key, nor their key without them.
UPDATE "patient_directory" AS directory
   SET "first_name" = NULL, "last_name" = NULL, "email" = NULL, "phone" = NULL,
       "consent_data_sharing" = false, "consent_marketing" = false, "consent_research" = false,
       "deleted_at" = erased.erased_at
  FROM "patient_keys" AS erased
 WHERE erased.patient_id = directory.patient_id
   AND erased.erased_at IS NOT NULL
   AND directory.deleted_at IS NULL;
