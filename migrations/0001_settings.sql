-- Instance-wide settings (key/value). Later migrations and the rules engine keep their
-- configuration here; the first row records when this database was created.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 100),
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

INSERT INTO settings (key, value) VALUES ('database_created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
