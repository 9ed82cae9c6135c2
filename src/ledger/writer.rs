//! The single writer: owns the read-write connection and commits requests in groups.
//!
//! It takes everything queued (up to [`MAX_BATCH`]), runs it in one `BEGIN IMMEDIATE`
//! transaction with a savepoint per request (a rejected request leaves no trace and does not
//! sink its neighbours), commits once, and only then answers each request and publishes its
//! event. One fsync per group instead of per request; writes are serialised without any lock
//! table because there is only one writer.

use super::{
    Executed, LedgerEvent, Request, WriterStats,
    ops::{self, BatchContext},
};
use crate::error::AppError;
use sqlx::SqliteConnection;
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

pub async fn run(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Job>,
    events: broadcast::Sender<LedgerEvent>,
    stats: Arc<WriterStats>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .requests
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        let results = match commit(&mut conn, &jobs, &stats).await {
            Ok(results) => results,
            Err(error) => {
                // Nothing of this group was committed: make sure the transaction is gone and
                // tell every request so.
                if let Err(rollback_error) = sqlx::query("ROLLBACK").execute(&mut conn).await {
                    tracing::debug!(%rollback_error, "rollback after a failed group");
                }
                tracing::warn!(%error, requests = jobs.len(), "group not committed");
                jobs.iter().map(|_| Err(error.clone())).collect()
            }
        };
        for (job, result) in jobs.drain(..).zip(results) {
            let answer = result.map(|applied| {
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

/// Runs one group in one transaction; `Err` means nothing of it was committed.
async fn commit(
    conn: &mut SqliteConnection,
    jobs: &[Job],
    stats: &WriterStats,
) -> Result<Vec<Result<ops::Applied, AppError>>, AppError> {
    begin_immediate(conn, stats).await?;
    let mut ctx = BatchContext::load(conn).await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        sqlx::query("SAVEPOINT request").execute(&mut *conn).await?;
        let before = ctx.clone();
        let result = ops::apply(conn, &mut ctx, &job.request).await;
        if result.is_err() {
            sqlx::query("ROLLBACK TO request")
                .execute(&mut *conn)
                .await?;
            ctx = before;
        }
        sqlx::query("RELEASE request").execute(&mut *conn).await?;
        results.push(result);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(results)
}

fn is_busy(error: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), including their extended codes.
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

async fn begin_immediate(conn: &mut SqliteConnection, stats: &WriterStats) -> Result<(), AppError> {
    let mut backoff = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        match sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            Ok(_) => return Ok(()),
            Err(error) if is_busy(&error) && retries < MAX_BUSY_RETRIES => {
                retries += 1;
                stats.busy_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(retries, ?backoff, "database busy; retrying");
                tokio::time::sleep(backoff).await;
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
