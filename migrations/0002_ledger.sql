-- The points ledger and the school it belongs to.
--
-- Ids are opaque 15-character lowercase alphanumeric strings, like the old system's, so imported
-- ids keep working. Times are UTC, ISO 8601 with milliseconds ('2026-11-25T08:00:00.000Z'),
-- which sort correctly as text.

-- People who sign in: teachers and admins.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15 AND id NOT GLOB '*[^0-9a-z]*'),
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(username) BETWEEN 1 AND 64),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          TEXT NOT NULL CHECK (role IN ('teacher', 'admin')),
    password_hash TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE classes (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15 AND id NOT GLOB '*[^0-9a-z]*'),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    archived_at TEXT,
    created_at  TEXT NOT NULL
) STRICT;

-- Several teachers may share a class; a teacher acts only on classes listed here.
CREATE TABLE class_teachers (
    class_id   TEXT NOT NULL REFERENCES classes (id),
    teacher_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (class_id, teacher_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX class_teachers_teacher ON class_teachers (teacher_id);

CREATE TABLE students (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15 AND id NOT GLOB '*[^0-9a-z]*'),
    class_id    TEXT NOT NULL REFERENCES classes (id),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    student_no  TEXT CHECK (student_no IS NULL OR length(student_no) BETWEEN 1 AND 50),
    archived_at TEXT,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX students_class ON students (class_id);
CREATE UNIQUE INDEX students_class_no ON students (class_id, student_no) WHERE student_no IS NOT NULL;

-- Groups within a class (table names avoid the SQL keyword GROUPS).
CREATE TABLE student_groups (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 15 AND id NOT GLOB '*[^0-9a-z]*'),
    class_id   TEXT NOT NULL REFERENCES classes (id),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at TEXT NOT NULL,
    UNIQUE (class_id, name)
) STRICT;

CREATE TABLE student_group_members (
    group_id   TEXT NOT NULL REFERENCES student_groups (id),
    student_id TEXT NOT NULL REFERENCES students (id),
    PRIMARY KEY (group_id, student_id)
) STRICT, WITHOUT ROWID;

-- Balances: a cache of the ledger, written only in the same transaction as the ledger row that
-- changes it (the trigger below) or by an audited repair.
CREATE TABLE student_points (
    student_id TEXT PRIMARY KEY NOT NULL REFERENCES students (id),
    points     INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
) STRICT;

-- The ledger: the truth. Append-only; a mistake is undone by a reversal row pointing at the
-- original. `seq` orders the ledger and the hash chain; each `hash` covers the previous row's
-- hash and this row's fields, so edits behind the application's back are detectable.
CREATE TABLE point_transactions (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE CHECK (length(id) = 15 AND id NOT GLOB '*[^0-9a-z]*'),
    student_id       TEXT NOT NULL REFERENCES students (id),
    teacher_id       TEXT NOT NULL REFERENCES users (id),
    points_change    INTEGER NOT NULL CHECK (points_change <> 0),
    transaction_type TEXT NOT NULL
        CHECK (transaction_type IN ('add_points', 'deduct_points', 'redeem', 'reversal', 'legacy')),
    reason           TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    batch_id         TEXT,
    reverses_id      TEXT UNIQUE REFERENCES point_transactions (id),
    created_at       TEXT NOT NULL,
    hash             TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX point_transactions_student_time ON point_transactions (student_id, created_at);
-- Covering index for the consistency check's per-student sums (no table lookups).
CREATE INDEX point_transactions_student_sum ON point_transactions (student_id, points_change);
CREATE INDEX point_transactions_batch ON point_transactions (batch_id) WHERE batch_id IS NOT NULL;

CREATE TRIGGER point_transactions_append_only_update
BEFORE UPDATE ON point_transactions
BEGIN
    SELECT RAISE(ABORT, 'point_transactions is append-only: record a reversal instead');
END;

CREATE TRIGGER point_transactions_append_only_delete
BEFORE DELETE ON point_transactions
BEGIN
    SELECT RAISE(ABORT, 'point_transactions is append-only: record a reversal instead');
END;

-- Every ledger row moves its student's balance in the same statement, so no code path (nor raw
-- SQL) can add a ledger row without its balance change.
CREATE TRIGGER point_transactions_apply_balance
AFTER INSERT ON point_transactions
BEGIN
    INSERT INTO student_points (student_id, points, updated_at)
    VALUES (NEW.student_id, NEW.points_change, NEW.created_at)
    ON CONFLICT (student_id) DO UPDATE
        SET points = points + excluded.points, updated_at = excluded.updated_at;
END;

-- Exactly-once: a request id (Idempotency-Key) per actor, with a fingerprint of the request's
-- content and the result it produced, written in the same transaction as the result.
CREATE TABLE idempotency_keys (
    actor_id    TEXT NOT NULL,
    key         TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (actor_id, key)
) STRICT, WITHOUT ROWID;

-- Audit of every balance the repair changed.
CREATE TABLE repairs (
    id         INTEGER PRIMARY KEY,
    student_id TEXT NOT NULL,
    old_points INTEGER,
    new_points INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX repairs_student ON repairs (student_id);

-- One row per consistency check (background or on demand).
CREATE TABLE monitor_runs (
    id                    INTEGER PRIMARY KEY,
    started_at            TEXT NOT NULL,
    duration_ms           REAL NOT NULL,
    trigger               TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('healthy', 'degraded', 'unhealthy')),
    total_students        INTEGER NOT NULL,
    inconsistent_students INTEGER NOT NULL,
    total_transactions    INTEGER NOT NULL,
    chain_ok              INTEGER NOT NULL CHECK (chain_ok IN (0, 1)),
    fixed                 INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message     TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    raised_at   TEXT NOT NULL,
    resolved_at TEXT
) STRICT;
CREATE INDEX alerts_open ON alerts (kind) WHERE resolved_at IS NULL;
