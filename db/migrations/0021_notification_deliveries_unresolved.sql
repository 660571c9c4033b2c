-- The deliveries whose outcome nobody knows yet: claimed and never finished (a process died mid-send), or
-- finished as unknown. notification_deliveries_unresolved counts them at every scrape, without reading the
-- deliveries that ended.
CREATE INDEX "notification_deliveries_unresolved" ON "notification_deliveries" USING btree ("claimed_at") WHERE "notification_deliveries"."status" IN ('sending', 'unknown');