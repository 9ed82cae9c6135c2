-- Who took a copy of the whole database from the server (`GET /api/backup`), and when: the
-- file holds every account's password hash, so a school wants to know. Kept like the ledger:
-- rows are only ever added.
CREATE TABLE backup_downloads (
    id       INTEGER PRIMARY KEY,
    user_id  TEXT NOT NULL REFERENCES users (id),
    bytes    INTEGER NOT NULL CHECK (bytes >= 0),
    taken_at TEXT NOT NULL
) STRICT;

CREATE TRIGGER backup_downloads_append_only_update
BEFORE UPDATE ON backup_downloads
BEGIN
    SELECT RAISE(ABORT, 'backup_downloads is append-only');
END;

CREATE TRIGGER backup_downloads_append_only_delete
BEFORE DELETE ON backup_downloads
BEGIN
    SELECT RAISE(ABORT, 'backup_downloads is append-only');
END;
