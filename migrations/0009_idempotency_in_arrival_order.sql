-- Request ids stored in the order they arrive. The table was keyed by (actor_id, key)
-- WITHOUT ROWID, with a second index on created_at for pruning. Read off the writer's WAL under
-- load (scripts/wal-frames.py, BENCHMARKS.md), the two together were ~9 of the ~38 pages each
-- group commit rewrote: rows of ~190 bytes arriving in a key b-tree, whose full pages SQLite
-- rebalances with their neighbours (its cheap append-at-the-end split is for rowid tables
-- only), plus the created_at index's own pages. Now rows are appended to a rowid table, the
-- (actor_id, key) lookup is a narrow unique index, and pruning walks the oldest rows by `seq`,
-- which needs no index: ~5.5 pages per commit. Rows are copied in the order they were
-- recorded, so the oldest are still pruned first.
CREATE TABLE idempotency_keys_by_arrival (
    seq         INTEGER PRIMARY KEY,
    actor_id    TEXT NOT NULL,
    key         TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

INSERT INTO idempotency_keys_by_arrival (actor_id, key, fingerprint, response, created_at)
SELECT actor_id, key, fingerprint, response, created_at
FROM idempotency_keys
ORDER BY created_at;

DROP TABLE idempotency_keys;

ALTER TABLE idempotency_keys_by_arrival RENAME TO idempotency_keys;

CREATE UNIQUE INDEX idempotency_keys_key ON idempotency_keys (actor_id, key);
