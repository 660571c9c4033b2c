DROP INDEX "ai_models_name_version";--> statement-breakpoint
CREATE UNIQUE INDEX "ai_models_name_version" ON "ai_models" USING btree (normalize("name", NFC),"version");