CREATE TABLE "compliance_watch_alerts" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"rule" text NOT NULL,
	"subject" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"raised_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "compliance_watch_observations" (
	"rule" text NOT NULL,
	"subject" text NOT NULL,
	"event_id" uuid NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"counted" text NOT NULL,
	CONSTRAINT "compliance_watch_observations_rule_subject_event_id_pk" PRIMARY KEY("rule","subject","event_id")
);
--> statement-breakpoint
CREATE TABLE "compliance_watch_subjects" (
	"rule" text NOT NULL,
	"subject" text NOT NULL,
	"observations" bigint NOT NULL,
	"alerted_until" timestamp with time zone,
	CONSTRAINT "compliance_watch_subjects_rule_subject_pk" PRIMARY KEY("rule","subject")
);
--> statement-breakpoint
CREATE INDEX "compliance_watch_alerts_rule" ON "compliance_watch_alerts" USING btree ("rule");--> statement-breakpoint
CREATE INDEX "compliance_watch_observations_window" ON "compliance_watch_observations" USING btree ("rule","subject","occurred_at");