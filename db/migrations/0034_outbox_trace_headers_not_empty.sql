-- A trace header is a value or none. The polling relay leaves out a header it has no value for, while Debezium's
-- router would send an empty one: a row whose traceparent or tracestate holds '' would be relayed two ways. The
-- write path stores NULL for an absent header; a row written by hand is now held to the same. NOT VALID: the
-- history already written is not scanned (and not refused); every row from here on is checked.
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_trace_headers_not_empty" CHECK ("outbox"."traceparent" <> '' AND "outbox"."tracestate" <> '') NOT VALID;
