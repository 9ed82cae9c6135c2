//! The single writer: a dedicated thread that owns the read-write connection and commits
//! requests in groups.
//!
//! It takes everything queued (up to [`MAX_BATCH`]), runs it in one `BEGIN IMMEDIATE`
//! transaction, commits once, and only then answers each request and publishes its event. A
//! rejected request leaves no trace and does not sink its neighbours: almost every refusal
//! happens before a request writes anything, so requests run without savepoints; when one
//! fails after writing, the group is rolled back and run again with a savepoint per request.
//! One fsync per group instead of per request; writes are serialised without any lock table
//! because there is only one writer. Statements run synchronously on this thread, which
//! is what makes a group cheap (see BENCHMARKS.md).

use super::{
    Executed, LedgerEvent, Outcome, Request, WriterStats,
    ops::{self, BatchContext},
};
use crate::error::AppError;
use rusqlite::Connection;
use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Requests that may wait for the writer before senders are made to wait.
pub const QUEUE_CAPACITY: usize = 8192;
/// Most requests committed in one transaction.
pub const MAX_BATCH: usize = 512;
/// Retries of `BEGIN IMMEDIATE` when another process holds the write lock (after SQLite's own
/// busy timeout), with exponential backoff starting at [`FIRST_BACKOFF`].
pub const MAX_BUSY_RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

pub struct Job {
    pub request: Request,
    pub reply: oneshot::Sender<Result<Executed, AppError>>,
}

/// What the writer shares with the rest of the ledger.
pub struct Shared {
    /// Committed changes, for live views.
    pub events: broadcast::Sender<LedgerEvent>,
    pub stats: Arc<WriterStats>,
    /// Emptied whenever a committed request changed tokens or accounts.
    pub tokens: Arc<super::access::TokenCache>,
    /// A new password set by an admin lifts the account's sign-in lock.
    pub sign_in_throttle: Arc<super::throttle::SignInThrottle>,
}

pub fn spawn(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    shared: Shared,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || run(conn, queue, shared))
}

/// Whether committing this command may change who a token signs in.
fn changes_access(command: &super::Command) -> bool {
    matches!(
        command,
        super::Command::RevokeToken { .. } | super::Command::UpdateUser(_)
    )
}

fn run(conn: Connection, mut queue: mpsc::Receiver<Job>, shared: Shared) {
    let Shared {
        events,
        stats,
        tokens,
        sign_in_throttle,
    } = shared;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // Ends when every sender (every Ledger handle) is gone.
    while let Some(first) = queue.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        stats.record_group(jobs.len());
        // A bug that panics while a group is written must not take the writer, and with it
        // every later write, down: the group fails like any other (rolled back below, nothing
        // of it saved) and the writer goes on. Nothing after COMMIT runs inside the guard.
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit(&conn, &jobs, &stats)
        }))
        .unwrap_or_else(|panic| {
            tracing::error!(
                panic = crate::error::panic_message(panic.as_ref()),
                requests = jobs.len(),
                "the writer panicked while writing a group"
            );
            Err(AppError::internal(
                "the server failed while writing this request; nothing of it was saved",
            ))
        });
        let results = match committed {
            Ok(results) => results,
            Err(error) => {
                // Nothing of this group was committed: make sure the transaction is gone and
                // tell every request so.
                if !conn.is_autocommit()
                    && let Err(rollback_error) = conn.execute_batch("ROLLBACK")
                {
                    tracing::error!(%rollback_error, "rollback after a failed group");
                }
                tracing::warn!(%error, requests = jobs.len(), "group not committed");
                jobs.iter().map(|_| Err(error.clone())).collect()
            }
        };
        // Before anyone hears of a revoke, a deactivation or a new password, no cached sign-in
        // survives it, and a new password lifts the account's sign-in lock.
        let mut access_changed = false;
        for (job, result) in jobs.iter().zip(&results) {
            if result.is_err() || !changes_access(&job.request.command) {
                continue;
            }
            access_changed = true;
            if let super::Command::UpdateUser(update) = &job.request.command
                && update.password_hash.is_some()
            {
                lift_sign_in_lock(&conn, &sign_in_throttle, &update.user_id);
            }
        }
        if access_changed {
            tokens.invalidate();
        }
        for (job, result) in jobs.drain(..).zip(results) {
            let answer = result.map(|applied| {
                if let (false, Outcome::Points { transactions, .. }) =
                    (applied.executed.replayed, &applied.executed.outcome)
                {
                    stats.record_rows(transactions);
                }
                if let Some(event) = applied.event {
                    // No subscribers is fine: nobody is watching.
                    let _ = events.send(event);
                }
                applied.executed
            });
            // The caller may have gone away; the write stands and a retry will replay it.
            let _ = job.reply.send(answer);
        }
    }
    tracing::info!("ledger writer stopped");
}

/// Clears the failed sign-ins of the account `user_id`: whoever set its new password vouches
/// for the person who will use it.
fn lift_sign_in_lock(conn: &Connection, throttle: &super::throttle::SignInThrottle, user_id: &str) {
    match conn
        .prepare_cached("SELECT username FROM users WHERE id = ?")
        .and_then(|mut statement| statement.query_row([user_id], |row| row.get::<_, String>(0)))
    {
        Ok(username) => throttle.clear(&username),
        Err(error) => tracing::warn!(%error, user_id, "cannot lift the sign-in lock"),
    }
}

/// Runs one group in one transaction; `Err` means nothing of it was committed.
fn commit(
    conn: &Connection,
    jobs: &[Job],
    stats: &WriterStats,
) -> Result<Vec<Result<ops::Applied, AppError>>, AppError> {
    match run_group(conn, jobs, stats, Isolation::Optimistic)? {
        Some(results) => Ok(results),
        None => {
            // A request failed after writing: nothing of the first attempt may stay.
            conn.execute_batch("ROLLBACK")?;
            stats.group_reruns.fetch_add(1, Ordering::Relaxed);
            // With a savepoint per request every failure is undone, so this attempt is final.
            run_group(conn, jobs, stats, Isolation::SavepointEach)?
                .ok_or_else(|| AppError::internal("a group with savepoints asked to be rerun"))
        }
    }
}

/// How one group keeps a failed request's writes out of the transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints. A request that fails after changing a row abandons the attempt.
    Optimistic,
    /// A savepoint around every request (what a savepoint costs: a sub-journal of every page
    /// the request touches, ~10 % of the writer's time under load).
    SavepointEach,
}

/// One attempt at a group: `Ok(None)` when an optimistic attempt must be rolled back.
fn run_group(
    conn: &Connection,
    jobs: &[Job],
    stats: &WriterStats,
    isolation: Isolation,
) -> Result<Option<Vec<Result<ops::Applied, AppError>>>, AppError> {
    begin_immediate(conn, stats)?;
    let mut ctx = BatchContext::load(conn)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        if isolation == Isolation::SavepointEach {
            conn.prepare_cached("SAVEPOINT request")?.execute([])?;
        }
        let before = ctx.clone();
        // Counts rows written by statements that completed, triggers included; a statement
        // that fails undoes its own changes.
        let changes_before = conn.total_changes();
        let result = ops::apply(conn, &mut ctx, &job.request);
        #[cfg(test)]
        tests::panic_if_asked(&job.request);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back itself (disk full, I/O error).
            return Err(result.err().unwrap_or_else(|| {
                AppError::internal("the group's transaction ended unexpectedly")
            }));
        }
        if result.is_err() {
            if isolation == Isolation::SavepointEach {
                conn.prepare_cached("ROLLBACK TO request")?.execute([])?;
            } else if conn.total_changes() != changes_before {
                return Ok(None);
            }
            ctx = before;
        }
        if isolation == Isolation::SavepointEach {
            conn.prepare_cached("RELEASE request")?.execute([])?;
        }
        results.push(result);
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(Some(results))
}

pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn begin_immediate(conn: &Connection, stats: &WriterStats) -> Result<(), AppError> {
    let mut backoff = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(error) if is_busy(&error) && retries < MAX_BUSY_RETRIES => {
                retries += 1;
                stats.busy_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(retries, ?backoff, "database busy; retrying");
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            Err(error) if is_busy(&error) => {
                return Err(AppError::Unavailable {
                    message: format!(
                        "the database is locked by another process; gave up after {MAX_BUSY_RETRIES} retries"
                    ),
                });
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// How often a checkpoint that keeps failing is logged.
const CHECKPOINT_FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Runs passive checkpoints on their own connection until `stop` is dropped, so the writer's
/// commits never pay for copying the WAL back into the database file. A passive checkpoint
/// never waits for or blocks the writer or readers.
pub fn spawn_checkpointer(
    conn: Connection,
    stop: std::sync::mpsc::Receiver<()>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wal-checkpointer".into())
        .spawn(move || {
            // While checkpoints keep failing (a full disk), say so once a minute rather than
            // five times a second, and say when they work again.
            let mut last_failure_logged: Option<std::time::Instant> = None;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stop.recv_timeout(CHECKPOINT_EVERY)
            {
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    Err(error)
                        if !is_busy(&error)
                            && last_failure_logged.is_none_or(|logged| {
                                logged.elapsed() >= CHECKPOINT_FAILURE_LOG_EVERY
                            }) =>
                    {
                        tracing::warn!(%error, "checkpoint failed");
                        last_failure_logged = Some(std::time::Instant::now());
                    }
                    Ok(()) if last_failure_logged.take().is_some() => {
                        tracing::info!("checkpoints work again");
                    }
                    _ => {}
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use crate::{
        db::Db,
        error::AppError,
        ledger::{Actor, Command, Ledger, NewUser, Request},
        model::Role,
    };

    /// The username whose creation panics inside the writer, after its row was written.
    const PANICS: &str = "panics-in-the-writer";

    pub(super) fn panic_if_asked(request: &Request) {
        if let Command::CreateUser(user) = &request.command
            && user.username == PANICS
        {
            panic!("asked to by the test");
        }
    }

    fn create(username: &str) -> Command {
        Command::CreateUser(NewUser {
            id: None,
            username: username.into(),
            name: username.into(),
            role: Role::Teacher,
            password_hash: None,
        })
    }

    #[tokio::test]
    async fn a_panic_while_writing_fails_its_group_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/writer.db", dir.path().display()))
            .await
            .unwrap();
        let ledger = Ledger::start(db).await.unwrap();
        let panicked = ledger
            .execute(Request::new(Actor::System, create(PANICS)))
            .await;
        assert!(
            matches!(panicked, Err(AppError::Internal { .. })),
            "{panicked:?}"
        );
        ledger
            .execute(Request::new(Actor::System, create("after-the-panic")))
            .await
            .expect("the writer still writes");
        let users: Vec<String> = ledger
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|user| user.username)
            .collect();
        assert_eq!(
            users,
            ["after-the-panic"],
            "the panicking group was rolled back"
        );
    }
}
