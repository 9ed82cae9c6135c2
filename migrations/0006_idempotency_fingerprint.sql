-- Idempotency fingerprints keep 128 bits of their SHA-256 (32 hex characters) instead of 256:
-- every keyed request inserts a row at a random place in this table, so its row size is
-- write cost. Existing fingerprints are shortened the same way, so a retry after the upgrade
-- still matches its original request.
UPDATE idempotency_keys SET fingerprint = substr(fingerprint, 1, 32);
