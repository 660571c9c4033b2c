CREATE TABLE "patient_former_logins" (
	"email_hash" "bytea" NOT NULL,
	"patient_id" uuid NOT NULL,
	"replaced_at" timestamp with time zone NOT NULL,
	CONSTRAINT "patient_former_logins_email_hash_patient_id_pk" PRIMARY KEY("email_hash","patient_id")
);
--> statement-breakpoint
ALTER TABLE "patient_former_logins" ADD CONSTRAINT "patient_former_logins_patient_id_patients_id_fk" FOREIGN KEY ("patient_id") REFERENCES "public"."patients"("id") ON DELETE cascade ON UPDATE no action;