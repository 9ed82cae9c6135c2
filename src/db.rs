//! Opening the SQLite database (server only): pragmas, migrations, and read-only queries that
//! are not part of the ledger.

use crate::{
    error::AppError,
    model::{BackupDownload, SystemStatus, TableRows},
};
use sqlx::{
    ConnectOptions, Connection, Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use std::{path::PathBuf, str::FromStr, time::Duration};

/// How long a connection waits for another process's lock before SQLite reports SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The writer waits less per attempt: it retries with backoff itself (see `ledger::writer`), and
/// every request queued behind it waits too.
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Process-wide SQLite settings, for the start of `main`.
///
/// SQLite keeps global memory statistics by default, which takes a process-wide mutex on
/// every allocation and free inside SQLite; nothing here reads them. Settings apply only
/// before SQLite initialises (on the first database opened); later this returns SQLITE_MISUSE
/// and changes nothing.
///
/// # Safety
/// `sqlite3_config` is not thread-safe: no other thread may use SQLite while this runs.
pub unsafe fn configure_sqlite_for_process() {
    use rusqlite::ffi;
    // SAFETY: the caller guarantees no other thread uses SQLite now; the variadic argument
    // is the int SQLITE_CONFIG_MEMSTATUS takes.
    let code = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
    if code != ffi::SQLITE_OK {
        tracing::warn!(
            code,
            "SQLite was already in use: its memory statistics stay on"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("DATABASE_URL {url:?} is not a valid SQLite URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot create the database directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Connect { path: PathBuf, source: sqlx::Error },
    #[error("cannot open the database {path} for writing: {source}")]
    Writer {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot open the database {path} for reading: {source}")]
    Reader {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot migrate the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot use the lock file {lock}: {source}")]
    Lock {
        lock: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is in use by a running classpoints server (it holds {lock}): {what}")]
    ServerRunning {
        path: PathBuf,
        lock: PathBuf,
        what: &'static str,
    },
}

/// How many of the latest backup downloads the status page lists.
const BACKUP_DOWNLOADS_SHOWN: i64 = 10;

/// How the names of the server's temporary backup copies begin (hidden, beside the database).
pub const BACKUP_COPY_PREFIX: &str = ".classpoints-backup-";

/// A running server's hold on its database, released when dropped (or when the process ends,
/// however it ends). Caches in the server (sign-ins, the hash chain's last verified row) assume
/// that changes reach the file through it or through SQLite transactions beside it: a second
/// server would not see the first one's sign-outs, and a restore swaps the whole file under
/// it. Both take this lock and refuse when they cannot.
#[derive(Debug)]
pub struct ServerLock {
    _file: std::fs::File,
}

/// The application's SQLite database: a pool of read-only connections for queries. Writes go
/// through one dedicated connection ([`Db::connect_writer`]) owned by the ledger's writer thread.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
    path: PathBuf,
}

/// Connection settings every connection shares: WAL so readers never block the writer,
/// `synchronous=FULL` so a committed transaction survives power loss, foreign keys enforced.
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, OpenError> {
    let invalid = |reason: String| OpenError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    // sqlx would read any other scheme as a relative file name; refuse it instead.
    if !url.starts_with("sqlite:") {
        return Err(invalid(
            "it must start with sqlite: (e.g. sqlite://data/classpoints.db)".into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url).map_err(|e| invalid(e.to_string()))?;
    Ok(options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT))
}

/// The schema migrations in `migrations/`, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The embedded migrations not yet applied to the database behind `conn`, as
/// "version description".
async fn pending_migrations(
    conn: &mut sqlx::SqliteConnection,
) -> Result<Vec<String>, sqlx::migrate::MigrateError> {
    use sqlx::migrate::Migrate;
    conn.ensure_migrations_table().await?;
    let applied: std::collections::HashSet<i64> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect())
}

impl Db {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let write_options = connect_options(url)?;
        let path = write_options.get_filename().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let connect_error = |source| OpenError::Connect {
            path: path.clone(),
            source,
        };
        let mut migrator = write_options.connect().await.map_err(connect_error)?;
        let migrate_error = |source| OpenError::Migrate {
            path: path.clone(),
            source,
        };
        let pending = pending_migrations(&mut migrator)
            .await
            .map_err(migrate_error)?;
        // Some migrations rebuild a table (0008: ~11 s per million ledger rows), so an
        // operator watching the log sees why the server is not listening yet.
        let started = std::time::Instant::now();
        if !pending.is_empty() {
            tracing::info!(pending = ?pending, "applying database migrations");
        }
        MIGRATOR.run(&mut migrator).await.map_err(migrate_error)?;
        if !pending.is_empty() {
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "database migrations applied"
            );
        }
        migrator.close().await.map_err(connect_error)?;
        // Read-only at the SQLite level, so no query path can write behind the writer's back.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(write_options.clone().read_only(true))
            .await
            .map_err(connect_error)?;
        Ok(Self { pool, path })
    }

    /// Opens the single read-write connection the ledger's writer thread owns, with the same
    /// durability settings as every other connection.
    pub fn connect_writer(&self) -> Result<rusqlite::Connection, OpenError> {
        let open = || -> rusqlite::Result<rusqlite::Connection> {
            let conn = rusqlite::Connection::open(&self.path)?;
            conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
            // An 8 MB page cache holds the hot index pages; other pages come from the OS page
            // cache with a read(). Memory-mapped reads were tried: they made no measurable
            // difference to throughput and added the mapped part of the file (17 MB after a
            // 10 s load) to the server's resident memory (BENCHMARKS.md). Checkpoints run on
            // their own connection (see `connect_checkpointer`), so the writer's automatic
            // checkpoint is only a backstop for a WAL that grows past ~80 MB.
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 20000;",
            )?;
            conn.set_prepared_statement_cache_capacity(128);
            Ok(conn)
        };
        open().map_err(|source| OpenError::Writer {
            path: self.path.clone(),
            source,
        })
    }

    /// A read-only synchronous connection, for long reads that would pay sqlx's per-row
    /// round trip (the hash-chain verification). Read-only at the SQLite level like the pool.
    pub fn connect_reader(&self) -> Result<rusqlite::Connection, OpenError> {
        let open = || -> rusqlite::Result<rusqlite::Connection> {
            let conn = rusqlite::Connection::open_with_flags(
                &self.path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            Ok(conn)
        };
        open().map_err(|source| OpenError::Reader {
            path: self.path.clone(),
            source,
        })
    }

    /// A connection that only copies the WAL back into the database file (checkpoints), off
    /// the writer's thread.
    pub fn connect_checkpointer(&self) -> Result<rusqlite::Connection, OpenError> {
        let open = || -> rusqlite::Result<rusqlite::Connection> {
            let conn = rusqlite::Connection::open(&self.path)?;
            conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
            conn.execute_batch("PRAGMA synchronous = FULL;")?;
            Ok(conn)
        };
        open().map_err(|source| OpenError::Writer {
            path: self.path.clone(),
            source,
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Takes the [`ServerLock`] on this database: an advisory lock on `<database>.lock` (the
    /// database file itself keeps only SQLite's own locks). `what` tells the operator what to do
    /// when a server holds it.
    pub fn lock_as_server(&self, what: &'static str) -> Result<ServerLock, OpenError> {
        let mut lock = self.path.clone().into_os_string();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| OpenError::Lock {
                lock: lock.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(ServerLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::ServerRunning {
                path: self.path.clone(),
                lock,
                what,
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(OpenError::Lock { lock, source }),
        }
    }

    /// The directory the database lives in, where the server keeps its backup copies.
    pub fn directory(&self) -> &std::path::Path {
        self.path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
    }

    /// Removes the backup copies ([`BACKUP_COPY_PREFIX`]) a server stopped in the middle of a
    /// download left in [`Db::directory`]: a copy's name goes once the copy is open, but until
    /// then a kill leaves the file. Only the server holding the [`ServerLock`] makes such
    /// copies, so while it is held none of them is in use. Returns how many were removed.
    pub fn remove_backup_leftovers(&self, _held: &ServerLock) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.directory())? {
            let entry = entry?;
            let is_copy = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with(BACKUP_COPY_PREFIX));
            if is_copy && entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Copies the database into the new file `target` while writers carry on: one consistent
    /// snapshot, left in rollback-journal mode so that it stays one file (opening it later
    /// leaves no `-wal`/`-shm` beside it; `restore` puts it back in WAL mode). Blocking.
    ///
    /// The copy is SQLite's online backup done in a single step, inside one read transaction:
    /// WAL lets the writer go on meanwhile. Done in steps of 100 pages (rusqlite's
    /// `Connection::backup`), a backup starts over whenever another connection commits between
    /// two steps, so the busier the school, the longer it takes (a 24 MB database under a write
    /// storm: 0.55 – 1.6 s stepwise, 0.24 – 0.42 s in one step, the CLI's start included).
    pub fn backup_into(&self, target: &std::path::Path) -> rusqlite::Result<()> {
        let source = rusqlite::Connection::open(&self.path)?;
        source.busy_timeout(WRITER_BUSY_TIMEOUT)?;
        let mut copy = rusqlite::Connection::open(target)?;
        {
            let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => {}
                other => {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some(format!(
                            "the backup could not read the database ({other:?})"
                        )),
                    ));
                }
            }
        }
        copy.pragma_update(None, "journal_mode", "DELETE")
    }

    /// The latest `limit` downloads of the whole database, newest first.
    pub async fn backup_downloads(&self, limit: i64) -> Result<Vec<BackupDownload>, AppError> {
        read_backup_downloads(&self.pool, limit).await
    }

    /// What the database holds; times are to be read at `utc_offset_minutes` (the school's
    /// rules, which live in the ledger).
    pub async fn status(&self, utc_offset_minutes: i32) -> Result<SystemStatus, AppError> {
        let mut conn = self.pool.acquire().await?;
        let (sqlite_version, checked_at): (String, String) =
            sqlx::query_as("SELECT sqlite_version(), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
                .fetch_one(&mut *conn)
                .await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let applied_migrations: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut *conn)
                .await?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(&mut *conn)
        .await?;
        let backup_downloads = read_backup_downloads(&mut *conn, BACKUP_DOWNLOADS_SHOWN).await?;
        let mut tables = Vec::with_capacity(names.len());
        for table in names {
            // Names come from sqlite_schema, not from a client; quoting keeps odd names valid.
            let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
            let rows: i64 = sqlx::query(&sql).fetch_one(&mut *conn).await?.get(0);
            tables.push(TableRows { table, rows });
        }
        Ok(SystemStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            database_path: self.path.display().to_string(),
            sqlite_version,
            journal_mode,
            applied_migrations,
            tables,
            checked_at,
            utc_offset_minutes,
            backup_downloads,
        })
    }
}

/// The latest `limit` downloads of the whole database, newest first.
async fn read_backup_downloads<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    limit: i64,
) -> Result<Vec<BackupDownload>, AppError> {
    let rows: Vec<(i64, String, String, i64, String)> = sqlx::query_as(
        "SELECT b.id, b.user_id, COALESCE(u.name, b.user_id), b.bytes, b.taken_at \
         FROM backup_downloads b LEFT JOIN users u ON u.id = b.user_id \
         ORDER BY b.id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, user_id, taken_by, bytes, taken_at)| BackupDownload {
            id,
            user_id,
            taken_by,
            bytes,
            taken_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_creates_directory_migrates_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/dir/test.db", dir.path().display());
        let db = Db::open(&url).await.unwrap();
        assert!(db.path().exists(), "database file created");

        let status = db.status(0).await.unwrap();
        assert_eq!(status.journal_mode, "wal");
        assert!(status.applied_migrations >= 1);
        let settings = status
            .tables
            .iter()
            .find(|t| t.table == "settings")
            .unwrap();
        assert_eq!(settings.rows, 1, "migration seeds database_created_at");
        assert!(
            !status.tables.iter().any(|t| t.table.starts_with("_sqlx")),
            "bookkeeping tables are not listed"
        );

        let writer = db.connect_writer().unwrap();
        let pragma = |name: &str| -> i64 {
            writer
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(pragma("synchronous"), 2, "synchronous=FULL");
        assert_eq!(pragma("foreign_keys"), 1);
        let refused = sqlx::query("INSERT INTO settings (key, value) VALUES ('x', 'y')")
            .execute(db.pool())
            .await;
        assert!(refused.is_err(), "the query pool is read-only");
    }

    #[tokio::test]
    async fn pending_migrations_are_the_ones_open_has_not_applied_yet() {
        use sqlx::ConnectOptions;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let mut conn = connect_options(&url).unwrap().connect().await.unwrap();
        let fresh = pending_migrations(&mut conn).await.unwrap();
        assert_eq!(fresh.len(), MIGRATOR.iter().count(), "{fresh:?}");
        assert_eq!(fresh[0], "0001 settings");
        assert!(
            fresh.contains(&"0008 ledger row checks".to_owned()),
            "{fresh:?}"
        );
        Db::open(&url).await.unwrap();
        assert_eq!(
            pending_migrations(&mut conn).await.unwrap(),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn reopening_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let first = Db::open(&url).await.unwrap().status(0).await.unwrap();
        let second = Db::open(&url).await.unwrap().status(0).await.unwrap();
        assert_eq!(first.applied_migrations, second.applied_migrations);
        assert_eq!(first.tables, second.tables);
    }

    #[tokio::test]
    async fn invalid_url_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("postgres://{}/x", dir.path().display());
        let error = Db::open(&url).await.unwrap_err();
        assert!(error.to_string().contains("DATABASE_URL"), "{error}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing was created"
        );
    }
}
