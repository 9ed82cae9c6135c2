-- Request ids are kept for a retention period (`CLASSPOINTS_IDEMPOTENCY_RETENTION_HOURS`), then
-- forgotten oldest first; this index finds the oldest without reading the whole table.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
