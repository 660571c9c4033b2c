CREATE TABLE "erased_login_key" (
	"singleton" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"master_key_id" text NOT NULL,
	"wrapped_key" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "erased_login_key_singleton_check" CHECK ("erased_login_key"."singleton")
);
--> statement-breakpoint
CREATE TABLE "erased_logins" (
	"email_hash" "bytea" PRIMARY KEY NOT NULL,
	"erased_at" timestamp with time zone NOT NULL
);
