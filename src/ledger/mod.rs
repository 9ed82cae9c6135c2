//! The domain core (server only, no HTTP here): an append-only points ledger with one writer
//! thread and group commit, rules, exactly-once requests, consistency check and audited repair.
//!
//! Every write is a [`Request`] sent to the writer through [`Ledger::execute`]; it answers only
//! after the transaction holding the write has committed. Reads go straight to the read-only
//! pool. The invariants this module keeps are listed in DESIGN.md and asserted by the tests in
//! `tests/ledger_*.rs`.

pub mod access;
mod chain;
mod check;
pub mod clock;
pub mod export;
mod idempotency;
pub use idempotency::{check_key, key_reused};
pub mod ids;
pub mod import;
pub mod monitor_log;
mod ops;
mod queries;
mod roster;
pub mod throttle;
mod writer;

use crate::{
    db::{Db, OpenError},
    error::AppError,
    model::{
        ChainStatus, ConsistencyReport, PointTransaction, RepairedBalance, Role, StudentBalance,
        TransactionType,
    },
    rules::Rules,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use chain::{ChainRow, GENESIS_HASH, hash_row};
pub use roster::{
    ClassUpdate, GroupUpdate, NewClass, NewGroup, NewStudent, NewUser, PresetsUpdate,
    StudentUpdate, UserUpdate,
};

/// Who asks for a write. Adapters authenticate; the core authorises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    User {
        id: String,
        role: Role,
    },
    /// The server itself: the background monitor, the demo seeder, the CLI's maintenance.
    System,
}

impl Actor {
    pub fn teacher(id: impl Into<String>) -> Self {
        Actor::User {
            id: id.into(),
            role: Role::Teacher,
        }
    }

    pub fn admin(id: impl Into<String>) -> Self {
        Actor::User {
            id: id.into(),
            role: Role::Admin,
        }
    }

    /// Key under which this actor's idempotency keys are kept.
    fn scope(&self) -> &str {
        match self {
            Actor::User { id, .. } => id,
            Actor::System => "system",
        }
    }

    fn label(&self) -> String {
        match self {
            Actor::User { id, .. } => id.clone(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// One write, with the request id that makes it safe to retry.
#[derive(Debug, Clone)]
pub struct Request {
    pub actor: Actor,
    /// Client-chosen id (the `Idempotency-Key`). A repeat with the same command replays the
    /// original outcome; the same id with another command is a conflict.
    pub idempotency_key: Option<String>,
    pub command: Command,
}

impl Request {
    pub fn new(actor: Actor, command: Command) -> Self {
        Self {
            actor,
            idempotency_key: None,
            command,
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Award, deduct or redeem for one student.
    Change(PointChange),
    /// The same change for several students, all or nothing.
    ChangeMany(BatchChange),
    /// Undo a row, or every row of a batch, by appending reversals.
    Reverse(Reversal),
    /// Set every drifted balance to its ledger sum, with an audit row per change.
    Repair(RepairScope),
    SetRules(Rules),
    CreateUser(NewUser),
    CreateClass(NewClass),
    AddClassTeacher {
        class_id: String,
        teacher_id: String,
    },
    CreateStudent(NewStudent),
    /// Rename, renumber, archive or restore a student (their ledger stays as it is).
    UpdateStudent(StudentUpdate),
    /// Rename, archive or restore a class.
    UpdateClass(ClassUpdate),
    CreateGroup(NewGroup),
    SetGroupMembers {
        group_id: String,
        student_ids: Vec<String>,
    },
    /// Rename a group or replace its members.
    UpdateGroup(GroupUpdate),
    /// Delete a group (the ledger keeps every award it received).
    DeleteGroup {
        group_id: String,
    },
    /// A class's award presets, or the school's.
    SetPresets(PresetsUpdate),
    /// Rename an account, set its password, deactivate or reactivate it (admin).
    UpdateUser(UserUpdate),
    /// Students from a roster file, each line on its own (a bad line is reported, the rest
    /// imported); or, as a dry run, the report of what the import would do.
    ImportRoster(import::RosterImport),
    /// Store a consistency run and raise or resolve alerts by what it found (admin, system).
    RecordMonitorRun {
        run: monitor_log::RunRecord,
        alerts: Vec<crate::model::AlertCondition>,
    },
    /// The old system's ledger, with its ids and times (admin; all or nothing).
    ImportLegacy(import::LegacyImport),
    IssueToken(access::NewToken),
    RevokeToken {
        token_hash: String,
    },
    /// Record that the acting admin downloaded a copy of the whole database of `bytes` bytes.
    RecordBackupDownload {
        bytes: u64,
    },
    /// Forget up to `limit` request ids (idempotency keys) recorded before `before`, oldest
    /// first; a repeat of such a request is then a new request (system only).
    ForgetRequestIds {
        before: String,
        limit: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointChange {
    pub student_id: String,
    pub points_change: i64,
    pub transaction_type: TransactionType,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BatchTarget {
    Students {
        student_ids: Vec<String>,
    },
    /// Every active student of the class.
    Class {
        class_id: String,
    },
    Group {
        group_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchChange {
    pub target: BatchTarget,
    pub points_change: i64,
    pub transaction_type: TransactionType,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReversalTarget {
    Transaction { transaction_id: String },
    Batch { batch_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    pub target: ReversalTarget,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairScope {
    /// Only this student, or everyone.
    pub student_id: Option<String>,
    pub reason: String,
}

/// What a committed command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Ledger rows written, and each touched student's balance after them.
    Points {
        batch_id: Option<String>,
        transactions: Vec<PointTransaction>,
        balances: Vec<StudentBalance>,
    },
    Repaired {
        repaired: Vec<RepairedBalance>,
    },
    RulesSet {
        rules: Rules,
    },
    /// A roster record was created (or, for memberships, updated).
    Roster {
        id: String,
    },
    Imported {
        report: import::LegacyReport,
    },
    Monitored {
        run_id: i64,
        changes: monitor_log::AlertChanges,
    },
    RosterImported {
        report: crate::model::RosterReport,
    },
    /// Request ids forgotten.
    Forgotten {
        count: usize,
    },
    /// A backup download recorded, as the listing shows it.
    BackupDownloadRecorded(crate::model::BackupDownload),
}

impl Outcome {
    /// The id a roster command created or changed.
    pub fn into_roster_id(self) -> Result<String, AppError> {
        match self {
            Outcome::Roster { id } => Ok(id),
            other => Err(AppError::internal(format!(
                "expected a roster outcome, got {other:?}"
            ))),
        }
    }
}

/// An outcome, and whether it was replayed from an earlier request with the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub outcome: Outcome,
    pub replayed: bool,
}

/// Published after each commit, for live views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LedgerEvent {
    Points {
        class_ids: Vec<String>,
        transactions: Vec<PointTransaction>,
        balances: Vec<StudentBalance>,
    },
    Repaired {
        repaired: Vec<RepairedBalance>,
    },
    RulesChanged,
    RosterChanged {
        id: String,
    },
    /// Data arrived from an import; live views should reload.
    Imported,
    /// A monitor run was stored (and perhaps raised or resolved alerts).
    Monitored {
        run_id: i64,
        changes: monitor_log::AlertChanges,
    },
}

/// Upper bounds of the writer's group-size histogram buckets (the last is everything else).
pub const GROUP_SIZE_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Counters the writer keeps, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed (groups).
    pub batches: std::sync::atomic::AtomicU64,
    pub requests: std::sync::atomic::AtomicU64,
    pub busy_retries: std::sync::atomic::AtomicU64,
    /// Groups run a second time with a savepoint per request, because a request failed after
    /// writing (see the writer).
    pub group_reruns: std::sync::atomic::AtomicU64,
    /// Ledger rows appended by committed requests, by type (in [`TransactionType::ALL`]'s
    /// order).
    pub rows_by_type: [std::sync::atomic::AtomicU64; TransactionType::ALL.len()],
    /// Groups by size: `group_sizes[i]` counts groups of at most `GROUP_SIZE_BOUNDS[i]`
    /// requests that did not fit a smaller bucket.
    pub group_sizes: [std::sync::atomic::AtomicU64; GROUP_SIZE_BOUNDS.len()],
}

impl WriterStats {
    /// Ledger rows appended since start, of every type.
    pub fn ledger_rows(&self) -> u64 {
        self.rows_by_type
            .iter()
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn record_rows(&self, rows: &[PointTransaction]) {
        for row in rows {
            if let Some(i) = TransactionType::ALL
                .iter()
                .position(|t| *t == row.transaction_type)
            {
                self.rows_by_type[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn record_group(&self, size: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.batches.fetch_add(1, Relaxed);
        self.requests.fetch_add(size as u64, Relaxed);
        let bucket = GROUP_SIZE_BOUNDS
            .iter()
            .position(|&bound| size as u64 <= bound)
            .unwrap_or(GROUP_SIZE_BOUNDS.len() - 1);
        self.group_sizes[bucket].fetch_add(1, Relaxed);
    }
}

/// Handle to the ledger: cheap to clone, shared by every adapter.
#[derive(Clone)]
pub struct Ledger {
    db: Db,
    jobs: mpsc::Sender<writer::Job>,
    events: broadcast::Sender<LedgerEvent>,
    stats: Arc<WriterStats>,
    tokens: Arc<access::TokenCache>,
    sign_in_throttle: Arc<throttle::SignInThrottle>,
    /// Keeps the checkpointer running; it stops when the last handle is gone.
    _checkpoints: Arc<std::sync::mpsc::Sender<()>>,
    chain_checkpoint: Arc<tokio::sync::Mutex<chain::ChainState>>,
}

impl Ledger {
    /// Starts the writer task on its own connection to `db`.
    pub async fn start(db: Db) -> Result<Self, OpenError> {
        let connection = db.connect_writer()?;
        let (jobs, queue) = mpsc::channel(writer::QUEUE_CAPACITY);
        let (events, _) = broadcast::channel(1024);
        let stats = Arc::new(WriterStats::default());
        let tokens = Arc::new(access::TokenCache::default());
        let sign_in_throttle = Arc::new(throttle::SignInThrottle::default());
        let shared = writer::Shared {
            events: events.clone(),
            stats: Arc::clone(&stats),
            tokens: Arc::clone(&tokens),
            sign_in_throttle: Arc::clone(&sign_in_throttle),
        };
        writer::spawn(connection, queue, shared).map_err(|source| OpenError::Thread {
            what: "ledger writer",
            source,
        })?;
        let (checkpoints, stop_checkpoints) = std::sync::mpsc::channel();
        writer::spawn_checkpointer(db.connect_checkpointer()?, stop_checkpoints).map_err(
            |source| OpenError::Thread {
                what: "WAL checkpointer",
                source,
            },
        )?;
        Ok(Self {
            db,
            jobs,
            events,
            stats,
            tokens,
            sign_in_throttle,
            _checkpoints: Arc::new(checkpoints),
            chain_checkpoint: Arc::default(),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// The user a sign-in token belongs to, if it is valid now (cached; see
    /// [`access::TokenCache`]).
    pub async fn signed_in(&self, token: &str) -> Result<Option<access::SignedIn>, AppError> {
        access::user_for_token(self.db.pool(), &self.tokens, token).await
    }

    /// Failed sign-in attempts per account ([`throttle::SignInThrottle`]).
    pub fn sign_in_throttle(&self) -> &throttle::SignInThrottle {
        &self.sign_in_throttle
    }

    /// Requests waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        writer::QUEUE_CAPACITY - self.jobs.capacity()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LedgerEvent> {
        self.events.subscribe()
    }

    /// Runs one write through the writer; returns after its transaction committed.
    pub async fn execute(&self, request: Request) -> Result<Executed, AppError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(writer::Job { request, reply })
            .await
            .map_err(|_| AppError::Unavailable {
                message: "the ledger writer has stopped".into(),
            })?;
        answer.await.map_err(|_| AppError::Unavailable {
            message: "the ledger writer stopped before answering".into(),
        })?
    }

    /// Forgets the request ids recorded before `before` (a stored timestamp), in bounded
    /// steps so other writes go on in between; returns how many were forgotten.
    pub async fn forget_request_ids(&self, before: &str) -> Result<usize, AppError> {
        const STEP: u32 = 5_000;
        let mut total = 0;
        loop {
            let command = Command::ForgetRequestIds {
                before: before.to_owned(),
                limit: STEP,
            };
            match self.run(Actor::System, command).await? {
                Outcome::Forgotten { count } => {
                    total += count;
                    if count < STEP as usize {
                        return Ok(total);
                    }
                }
                other => {
                    return Err(AppError::internal(format!(
                        "expected a forgotten count, got {other:?}"
                    )));
                }
            }
        }
    }

    /// Keeps request ids for `retention`, forgetting older ones at start and every ten
    /// minutes; without it the key table (and the index every keyed write inserts into at
    /// a random place) would only grow. A retry later than `retention` is a new request.
    pub fn spawn_request_id_pruner(&self, retention: std::time::Duration) {
        let ledger = self.clone();
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            tracing::warn!("request-id retention is out of range; keeping them all");
            return;
        };
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(600));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // None: a retention reaching back before the calendar's start keeps them all.
                let Some(cutoff) = chrono::Utc::now().checked_sub_signed(retention) else {
                    continue;
                };
                let before = clock::format(cutoff);
                match ledger.forget_request_ids(&before).await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, before, "forgot old request ids"),
                    Err(error) => tracing::error!(%error, "forgetting old request ids failed"),
                }
            }
        });
    }

    /// Convenience for [`Ledger::execute`] without an idempotency key.
    pub async fn run(&self, actor: Actor, command: Command) -> Result<Outcome, AppError> {
        Ok(self.execute(Request::new(actor, command)).await?.outcome)
    }

    pub async fn rules(&self) -> Result<Rules, AppError> {
        queries::rules(self.db.pool()).await
    }

    pub async fn balance(&self, student_id: &str) -> Result<i64, AppError> {
        queries::balance(self.db.pool(), student_id).await
    }

    /// Balance as of a moment (inclusive), computed from the ledger.
    pub async fn balance_as_of(&self, student_id: &str, at: &str) -> Result<i64, AppError> {
        queries::balance_as_of(self.db.pool(), student_id, at).await
    }

    /// A student's ledger rows, newest first: the newest `limit`, or the `limit` recorded
    /// before the transaction `before` (which must be the student's).
    pub async fn history(
        &self,
        student_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PointTransaction>, AppError> {
        queries::history(self.db.pool(), student_id, before, limit).await
    }

    /// Full consistency check: balances against the ledger, orphans, and the hash chain
    /// (rows added since the last verification, or all of them when `full_chain`).
    pub async fn check(&self, full_chain: bool) -> Result<ConsistencyReport, AppError> {
        check::check_all(&self.db, &self.chain_checkpoint, full_chain).await
    }

    /// One student's balance against their ledger; `None` when consistent.
    pub async fn check_student(
        &self,
        student_id: &str,
    ) -> Result<Option<crate::model::Inconsistency>, AppError> {
        check::check_student(self.db.pool(), student_id).await
    }

    /// The student's class, when `actor` may see the student (404 / 403 otherwise).
    pub async fn visible_student_class(
        &self,
        actor: &Actor,
        student_id: &str,
    ) -> Result<String, AppError> {
        queries::visible_student_class(self.db.pool(), actor, student_id).await
    }

    /// Classes `actor` may see (admins: all; teachers: theirs).
    pub async fn classes(&self, actor: &Actor) -> Result<Vec<crate::model::ClassInfo>, AppError> {
        queries::classes(self.db.pool(), actor).await
    }

    /// One class, if `actor` may see it.
    pub async fn visible_class(
        &self,
        actor: &Actor,
        class_id: &str,
    ) -> Result<Option<crate::model::ClassInfo>, AppError> {
        Ok(self
            .classes(actor)
            .await?
            .into_iter()
            .find(|c| c.id == class_id))
    }

    /// One class `actor` may see: 404 when there is no such class, 403 when it is not theirs
    /// (the answers a write to the class gives).
    pub async fn require_class_reader(
        &self,
        actor: &Actor,
        class_id: &str,
    ) -> Result<crate::model::ClassInfo, AppError> {
        if let Some(class) = self.visible_class(actor, class_id).await? {
            return Ok(class);
        }
        queries::require_exists(self.db.pool(), queries::Table::Class, class_id).await?;
        Err(AppError::not_class_teacher(class_id))
    }

    /// Students with balances that `actor` may see, optionally of one class.
    pub async fn students(
        &self,
        actor: &Actor,
        class_id: Option<&str>,
    ) -> Result<Vec<crate::model::StudentInfo>, AppError> {
        queries::students(self.db.pool(), actor, class_id).await
    }

    /// One student with their balance, for a reader already known to see them (see
    /// [`Self::visible_student_class`]).
    pub async fn student(
        &self,
        student_id: &str,
    ) -> Result<Option<crate::model::StudentInfo>, AppError> {
        queries::student(self.db.pool(), student_id).await
    }

    /// The award presets a class uses, and whether they are its own.
    pub async fn presets(
        &self,
        class_id: Option<&str>,
    ) -> Result<(Vec<crate::model::Preset>, bool), AppError> {
        queries::presets(self.db.pool(), class_id).await
    }

    /// The groups of a class (callers check the reader may see the class).
    pub async fn groups(&self, class_id: &str) -> Result<Vec<crate::model::GroupInfo>, AppError> {
        queries::groups(self.db.pool(), class_id).await
    }

    /// One group (callers check the reader may see its class).
    pub async fn group(&self, group_id: &str) -> Result<Option<crate::model::GroupInfo>, AppError> {
        queries::group(self.db.pool(), group_id).await
    }

    pub async fn user(&self, id: &str) -> Result<Option<crate::model::UserInfo>, AppError> {
        queries::user(self.db.pool(), id).await
    }

    /// Names and class names of these students, by id (unknown ids are left out).
    pub async fn student_labels(
        &self,
        student_ids: &[String],
    ) -> Result<std::collections::HashMap<String, (String, String)>, AppError> {
        queries::student_labels(self.db.pool(), student_ids).await
    }

    /// The latest monitor runs, newest first.
    pub async fn monitor_runs(
        &self,
        limit: i64,
    ) -> Result<Vec<crate::model::MonitorRun>, AppError> {
        monitor_log::runs(self.db.pool(), limit).await
    }

    /// Open alerts, or the latest alerts of any state; newest first.
    pub async fn alerts(
        &self,
        open_only: bool,
        limit: i64,
    ) -> Result<Vec<crate::model::Alert>, AppError> {
        monitor_log::alerts(self.db.pool(), open_only, limit).await
    }

    /// The latest audited repairs, newest first.
    pub async fn repairs(&self, limit: i64) -> Result<Vec<crate::model::RepairEntry>, AppError> {
        monitor_log::repairs(self.db.pool(), limit).await
    }

    pub async fn users(&self) -> Result<Vec<crate::model::UserInfo>, AppError> {
        queries::users(self.db.pool()).await
    }

    /// Every account, with those locked after failed sign-ins.
    pub async fn accounts(&self) -> Result<crate::model::AccountList, AppError> {
        let users = self.users().await?;
        let mut sign_in_locks: Vec<_> = self
            .sign_in_throttle
            .locked(std::time::Instant::now())
            .into_iter()
            .filter_map(|(key, failed_attempts, left)| {
                // Locks on usernames nobody has are guesses at accounts that do not exist.
                let user = users
                    .iter()
                    .find(|user| throttle::SignInThrottle::key(&user.username) == key)?;
                Some(crate::model::SignInLock {
                    user_id: user.id.clone(),
                    username: user.username.clone(),
                    failed_attempts,
                    retry_after_seconds: left.as_secs_f64().ceil() as u64,
                })
            })
            .collect();
        sign_in_locks.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(crate::model::AccountList {
            users,
            sign_in_locks,
        })
    }

    /// Lets the account `user_id` sign in again at once, whatever failed before (the admin's
    /// answer to a teacher locked out by someone guessing). Lifting no lock is not an error.
    pub async fn lift_sign_in_lock(
        &self,
        actor: &Actor,
        user_id: &str,
    ) -> Result<crate::model::UserInfo, AppError> {
        roster::require_admin(actor, "lift sign-in locks")?;
        crate::model::validate_id("user_id", user_id)?;
        let user = self
            .user(user_id)
            .await?
            .ok_or_else(|| AppError::not_found(crate::error::Record::User, user_id))?;
        self.sign_in_throttle.clear(&user.username);
        tracing::info!(user_id, username = %user.username, by = ?actor, "sign-in lock lifted");
        Ok(user)
    }

    /// A student's ledger with teacher names and undo links, newest first; paged like
    /// [`Ledger::history`].
    pub async fn history_entries(
        &self,
        student_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::model::HistoryEntry>, AppError> {
        queries::history_entries(self.db.pool(), student_id, before, limit).await
    }

    /// Streams every ledger row, oldest first; returns how many.
    pub async fn for_each_transaction(
        &self,
        each: impl FnMut(PointTransaction) -> Result<(), AppError>,
    ) -> Result<u64, AppError> {
        queries::for_each_transaction(self.db.pool(), each).await
    }

    /// Re-hashes the whole chain.
    pub async fn verify_chain(&self) -> Result<ChainStatus, AppError> {
        chain::verify(&self.db, &self.chain_checkpoint, true).await
    }
}
