//! Applying one request inside the writer's open transaction. Everything a request writes
//! happens here, after every check it needs has passed; when a request fails after writing,
//! the writer undoes its rows (see `writer::run_group`), so a failure leaves no trace.

use super::{
    Actor, BatchChange, BatchTarget, Command, Executed, LedgerEvent, Outcome, PointChange,
    RepairScope, Request, Reversal, ReversalTarget, access,
    chain::{ChainRow, hash_row},
    check, clock, idempotency,
    ids::new_id,
    queries::{self, RULES_KEY, TRANSACTION_COLUMNS, Table},
    roster,
};
use crate::{
    error::{AppError, Clash, Denial, Problem, Record, RuleDetails},
    model::{
        PointTransaction, RepairedBalance, Role, StudentBalance, TransactionType, validate_id,
    },
    rules::{self, ProposedChange, Rules},
};
use rusqlite::{Connection, OptionalExtension, params};
use std::{collections::BTreeMap, sync::Arc};

/// Most students one batch request may touch.
pub const MAX_BATCH_STUDENTS: usize = 1000;

/// The end of the hash chain, as the writer extends it.
#[derive(Debug, Clone)]
pub(crate) struct ChainHead {
    pub seq: i64,
    pub hash: String,
    pub last_created_at: String,
}

/// State the writer carries through one transaction.
#[derive(Debug, Clone)]
pub(crate) struct BatchContext {
    pub head: ChainHead,
    pub rules: Arc<Rules>,
    /// Timestamp given to rows written in this transaction (never before the last row's).
    pub now: chrono::DateTime<chrono::Utc>,
}

impl BatchContext {
    pub fn load(conn: &Connection) -> Result<Self, AppError> {
        let last: Option<(i64, String, String)> = conn
            .prepare_cached(
                "SELECT seq, hash, created_at FROM point_transactions ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let head = match last {
            Some((seq, hash, last_created_at)) => ChainHead {
                seq,
                hash,
                last_created_at,
            },
            None => ChainHead {
                seq: 0,
                hash: super::GENESIS_HASH.to_owned(),
                last_created_at: String::new(),
            },
        };
        Ok(Self {
            head,
            rules: Arc::new(queries::rules_on_writer(conn)?),
            now: chrono::Utc::now(),
        })
    }

    fn timestamp(&self) -> String {
        let now = clock::format(self.now);
        if now < self.head.last_created_at {
            self.head.last_created_at.clone()
        } else {
            now
        }
    }
}

/// A request's result plus the event to publish once it is committed.
pub(crate) struct Applied {
    pub executed: Executed,
    pub event: Option<LedgerEvent>,
}

pub(crate) fn apply(
    conn: &Connection,
    ctx: &mut BatchContext,
    request: &Request,
) -> Result<Applied, AppError> {
    let Some(key) = &request.idempotency_key else {
        let (outcome, event) = dispatch(conn, ctx, &request.actor, &request.command)?;
        return Ok(Applied {
            executed: Executed {
                outcome,
                replayed: false,
            },
            event,
        });
    };
    idempotency::validate_key(key)?;
    let fingerprint = idempotency::fingerprint(&request.command)?;
    let scope = request.actor.scope();
    if let Some(outcome) = idempotency::replay(conn, scope, key, &fingerprint)? {
        return Ok(Applied {
            executed: Executed {
                outcome,
                replayed: true,
            },
            event: None,
        });
    }
    let seq_before = ctx.head.seq;
    let (outcome, event) = dispatch(conn, ctx, &request.actor, &request.command)?;
    idempotency::remember(
        conn,
        scope,
        key,
        &fingerprint,
        &outcome,
        (seq_before, ctx.head.seq),
        &clock::format(ctx.now),
    )?;
    Ok(Applied {
        executed: Executed {
            outcome,
            replayed: false,
        },
        event,
    })
}

fn dispatch(
    conn: &Connection,
    ctx: &mut BatchContext,
    actor: &Actor,
    command: &Command,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    let roster_done = |id: String| {
        let event = LedgerEvent::RosterChanged { id: id.clone() };
        Ok((Outcome::Roster { id }, Some(event)))
    };
    match command {
        Command::Change(change) => change_one(conn, ctx, actor, change),
        Command::ChangeMany(batch) => change_many(conn, ctx, actor, batch),
        Command::Reverse(reversal) => reverse(conn, ctx, actor, reversal),
        Command::Repair(scope) => repair(conn, ctx, actor, scope),
        Command::SetRules(new_rules) => {
            roster::require_admin(actor, "change the rules")?;
            new_rules.validate()?;
            let json = serde_json::to_string(new_rules)
                .map_err(|e| AppError::internal(format!("cannot store rules: {e}")))?;
            conn.prepare_cached(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![RULES_KEY, json, clock::format(ctx.now)])?;
            ctx.rules = Arc::new(new_rules.clone());
            Ok((
                Outcome::RulesSet {
                    rules: new_rules.clone(),
                },
                Some(LedgerEvent::RulesChanged),
            ))
        }
        Command::CreateUser(user) => roster_done(roster::create_user(conn, actor, user)?),
        Command::CreateClass(class) => roster_done(roster::create_class(conn, actor, class)?),
        Command::AddClassTeacher {
            class_id,
            teacher_id,
        } => roster_done(roster::add_class_teacher(
            conn, actor, class_id, teacher_id,
        )?),
        Command::CreateStudent(student) => {
            roster_done(roster::create_student(conn, actor, student)?)
        }
        Command::UpdateStudent(update) => roster_done(roster::update_student(conn, actor, update)?),
        Command::UpdateClass(update) => roster_done(roster::update_class(conn, actor, update)?),
        Command::CreateGroup(group) => roster_done(roster::create_group(conn, actor, group)?),
        Command::SetGroupMembers {
            group_id,
            student_ids,
        } => roster_done(roster::set_group_members(
            conn,
            actor,
            group_id,
            student_ids,
        )?),
        Command::UpdateGroup(update) => roster_done(roster::update_group(conn, actor, update)?),
        Command::DeleteGroup { group_id } => {
            roster_done(roster::delete_group(conn, actor, group_id)?)
        }
        Command::SetPresets(update) => roster_done(roster::set_presets(conn, actor, update)?),
        Command::UpdateUser(update) => {
            // Not part of any live view.
            let id = roster::update_user(conn, actor, update)?;
            Ok((Outcome::Roster { id }, None))
        }
        Command::ImportRoster(import) => {
            let report = super::import::apply_roster(conn, actor, import)?;
            // A dry run changed nothing; a real one changed the roster.
            let event = (!import.dry_run && report.students_created > 0).then(|| {
                LedgerEvent::RosterChanged {
                    id: "import".into(),
                }
            });
            Ok((Outcome::RosterImported { report }, event))
        }
        Command::RecordMonitorRun { run, alerts } => {
            let (run_id, changes) = super::monitor_log::record_run(conn, actor, run, alerts)?;
            let event = LedgerEvent::Monitored {
                run_id,
                changes: changes.clone(),
            };
            Ok((Outcome::Monitored { run_id, changes }, Some(event)))
        }
        Command::ImportLegacy(import) => {
            let report = super::import::apply_legacy(conn, ctx, actor, import)?;
            Ok((Outcome::Imported { report }, Some(LedgerEvent::Imported)))
        }
        Command::IssueToken(token) => {
            // No event: tokens are not part of any live view.
            let id = access::issue_token(conn, actor, token)?;
            Ok((Outcome::Roster { id }, None))
        }
        Command::RevokeToken { token_hash } => {
            let id = access::revoke_token(conn, actor, token_hash)?;
            Ok((Outcome::Roster { id }, None))
        }
        Command::RecordBackupDownload { bytes } => {
            // No event: downloads are not part of any live view.
            let download =
                super::monitor_log::record_backup_download(conn, actor, *bytes, ctx.now)?;
            Ok((Outcome::BackupDownloadRecorded(download), None))
        }
        Command::ForgetRequestIds { before, limit } => {
            if !matches!(actor, Actor::System) {
                return Err(AppError::forbidden(
                    "only the server itself forgets request ids",
                ));
            }
            let count = idempotency::forget_before(conn, before, *limit)?;
            Ok((Outcome::Forgotten { count }, None))
        }
    }
}

/// The acting user, for writes that record who did them.
fn acting_user(actor: &Actor) -> Result<(&str, Role), AppError> {
    match actor {
        Actor::User { id, role } => Ok((id, *role)),
        Actor::System => Err(AppError::forbidden(
            "points are recorded by a teacher or an admin",
        )),
    }
}

/// What the writer needs to know about a student before changing their points.
struct StudentState {
    class_id: String,
    archived: bool,
    balance: i64,
    actor_teaches_class: bool,
}

fn student_state(
    conn: &Connection,
    student_id: &str,
    actor_id: &str,
) -> Result<StudentState, AppError> {
    let row: Option<(String, bool, Option<i64>, bool)> = conn
        .prepare_cached(
            "SELECT s.class_id, s.archived_at IS NOT NULL, sp.points, \
                    EXISTS (SELECT 1 FROM class_teachers ct \
                            WHERE ct.class_id = s.class_id AND ct.teacher_id = ?2) \
             FROM students s LEFT JOIN student_points sp ON sp.student_id = s.id \
             WHERE s.id = ?1",
        )?
        .query_row(params![student_id, actor_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let (class_id, archived, balance, actor_teaches_class) =
        row.ok_or_else(|| AppError::not_found(Record::Student, student_id))?;
    Ok(StudentState {
        class_id,
        archived,
        balance: balance.unwrap_or(0),
        actor_teaches_class,
    })
}

/// One row to append, before it gets its id, time and hash.
pub(crate) struct NewRow<'a> {
    pub student_id: &'a str,
    pub teacher_id: &'a str,
    pub points_change: i64,
    pub transaction_type: TransactionType,
    pub reason: &'a str,
    pub batch_id: Option<&'a str>,
    pub reverses_id: Option<&'a str>,
}

/// Appends one ledger row, extending the hash chain. The insert trigger moves the balance.
fn append(
    conn: &Connection,
    ctx: &mut BatchContext,
    row: NewRow<'_>,
) -> Result<PointTransaction, AppError> {
    let created_at = ctx.timestamp();
    append_row(conn, ctx, new_id(), created_at, row)
}

/// Appends a row imported from the old system, keeping its id and time (the chain still
/// follows ledger order, so it covers the row like any other).
pub(crate) fn append_imported(
    conn: &Connection,
    ctx: &mut BatchContext,
    id: &str,
    created_at: &str,
    row: NewRow<'_>,
) -> Result<PointTransaction, AppError> {
    let last = ctx.head.last_created_at.clone();
    let appended = append_row(conn, ctx, id.to_owned(), created_at.to_owned(), row)?;
    // New rows must never be stamped before a row already in the ledger.
    if last > ctx.head.last_created_at {
        ctx.head.last_created_at = last;
    }
    Ok(appended)
}

fn append_row(
    conn: &Connection,
    ctx: &mut BatchContext,
    id: String,
    created_at: String,
    row: NewRow<'_>,
) -> Result<PointTransaction, AppError> {
    let seq = ctx.head.seq + 1;
    let hash = hash_row(
        &ctx.head.hash,
        &ChainRow {
            seq,
            id: &id,
            student_id: row.student_id,
            teacher_id: row.teacher_id,
            points_change: row.points_change,
            transaction_type: row.transaction_type.as_str(),
            reason: row.reason,
            batch_id: row.batch_id,
            reverses_id: row.reverses_id,
            created_at: &created_at,
        },
    );
    conn.prepare_cached(
        "INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
         transaction_type, reason, batch_id, reverses_id, created_at, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        seq,
        id,
        row.student_id,
        row.teacher_id,
        row.points_change,
        row.transaction_type.as_str(),
        row.reason,
        row.batch_id,
        row.reverses_id,
        created_at,
        hash,
    ])?;
    ctx.head = ChainHead {
        seq,
        hash,
        last_created_at: created_at.clone(),
    };
    Ok(PointTransaction {
        id,
        student_id: row.student_id.to_owned(),
        teacher_id: row.teacher_id.to_owned(),
        points_change: row.points_change,
        transaction_type: row.transaction_type,
        reason: row.reason.to_owned(),
        batch_id: row.batch_id.map(str::to_owned),
        reverses_id: row.reverses_id.map(str::to_owned),
        created_at,
    })
}

/// Points awarded today and not undone, for the daily cap.
fn awarded_today(conn: &Connection, ctx: &BatchContext, student_id: &str) -> Result<i64, AppError> {
    let since = clock::day_start(ctx.now, ctx.rules.utc_offset_minutes);
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(t.points_change), 0) FROM point_transactions t \
             WHERE t.student_id = ? AND t.created_at >= ? AND t.transaction_type = 'add_points' \
             AND NOT EXISTS (SELECT 1 FROM point_transactions r WHERE r.reverses_id = t.id)",
        )?
        .query_row(params![student_id, since], |r| r.get(0))?)
}

/// Collects the rows a request wrote and the balances after them.
#[derive(Default)]
struct Written {
    transactions: Vec<PointTransaction>,
    balances: BTreeMap<String, i64>,
    class_ids: Vec<String>,
}

impl Written {
    fn push(&mut self, row: PointTransaction, balance_after: i64, class_id: String) {
        self.balances.insert(row.student_id.clone(), balance_after);
        if !self.class_ids.contains(&class_id) {
            self.class_ids.push(class_id);
        }
        self.transactions.push(row);
    }

    fn finish(self, batch_id: Option<String>) -> (Outcome, Option<LedgerEvent>) {
        let balances: Vec<StudentBalance> = self
            .balances
            .into_iter()
            .map(|(student_id, points)| StudentBalance { student_id, points })
            .collect();
        let event = LedgerEvent::Points {
            class_ids: self.class_ids,
            transactions: self.transactions.clone(),
            balances: balances.clone(),
        };
        (
            Outcome::Points {
                batch_id,
                transactions: self.transactions,
                balances,
            },
            Some(event),
        )
    }
}

/// Checks and appends one change for one student.
#[allow(clippy::too_many_arguments)]
fn change_student(
    conn: &Connection,
    ctx: &mut BatchContext,
    written: &mut Written,
    actor: (&str, Role),
    student_id: &str,
    points_change: i64,
    transaction_type: TransactionType,
    reason: &str,
    batch_id: Option<&str>,
) -> Result<(), AppError> {
    let (actor_id, role) = actor;
    let student = student_state(conn, student_id, actor_id)?;
    if role == Role::Teacher && !student.actor_teaches_class {
        return Err(AppError::Forbidden {
            message: format!(
                "you are not a teacher of class {} (student {student_id})",
                student.class_id
            ),
            denial: Some(Denial::NotClassTeacher),
        });
    }
    if student.archived {
        return Err(AppError::invalid_saying(
            "student_id",
            Problem::Archived,
            format!("student {student_id} is archived"),
        ));
    }
    let awarded_today =
        if transaction_type == TransactionType::AddPoints && ctx.rules.daily_award_cap.is_some() {
            awarded_today(conn, ctx, student_id)?
        } else {
            0
        };
    rules::check_change(
        &ctx.rules,
        &ProposedChange {
            role,
            transaction_type,
            points_change,
            reason,
            balance_before: student.balance,
            awarded_today,
        },
    )?;
    let row = append(
        conn,
        ctx,
        NewRow {
            student_id,
            teacher_id: actor_id,
            points_change,
            transaction_type,
            reason,
            batch_id,
            reverses_id: None,
        },
    )?;
    written.push(row, student.balance + points_change, student.class_id);
    Ok(())
}

fn change_one(
    conn: &Connection,
    ctx: &mut BatchContext,
    actor: &Actor,
    change: &PointChange,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    let actor = acting_user(actor)?;
    validate_id("student_id", &change.student_id)?;
    let reason = rules::validate_change(
        change.transaction_type,
        change.points_change,
        &change.reason,
    )?;
    let mut written = Written::default();
    change_student(
        conn,
        ctx,
        &mut written,
        actor,
        &change.student_id,
        change.points_change,
        change.transaction_type,
        &reason,
        None,
    )?;
    Ok(written.finish(None))
}

/// Prefixes an error with the student it concerns, keeping its kind (and the rule's name).
fn about_student(student_id: &str, error: AppError) -> AppError {
    match error {
        AppError::RuleViolation {
            rule,
            message,
            details,
        } => AppError::RuleViolation {
            rule,
            message: format!("student {student_id}: {message}"),
            details: RuleDetails {
                student_id: Some(student_id.to_owned()),
                ..details
            },
        },
        AppError::Validation {
            field,
            message,
            problem,
        } => AppError::Validation {
            field,
            message: format!("student {student_id}: {message}"),
            problem,
        },
        other => other,
    }
}

fn batch_students(conn: &Connection, target: &BatchTarget) -> Result<Vec<String>, AppError> {
    let students = match target {
        BatchTarget::Students { student_ids } => {
            let mut seen = std::collections::HashSet::new();
            for id in student_ids {
                validate_id("student_ids", id)?;
                if !seen.insert(id) {
                    return Err(AppError::validation(
                        "student_ids",
                        format!("student {id} is listed twice"),
                    ));
                }
            }
            student_ids.clone()
        }
        BatchTarget::Class { class_id } => {
            validate_id("class_id", class_id)?;
            require_exists(conn, Table::Class, class_id)?;
            ids(
                conn,
                "SELECT id FROM students WHERE class_id = ? AND archived_at IS NULL ORDER BY name, id",
                class_id,
            )?
        }
        BatchTarget::Group { group_id } => {
            validate_id("group_id", group_id)?;
            require_exists(conn, Table::Group, group_id)?;
            ids(
                conn,
                "SELECT s.id FROM student_group_members m JOIN students s ON s.id = m.student_id \
                 WHERE m.group_id = ? AND s.archived_at IS NULL ORDER BY s.name, s.id",
                group_id,
            )?
        }
    };
    if students.is_empty() {
        return Err(AppError::invalid("target", Problem::NoStudents));
    }
    if students.len() > MAX_BATCH_STUDENTS {
        return Err(AppError::validation(
            "target",
            format!("selects more than {MAX_BATCH_STUDENTS} students"),
        ));
    }
    Ok(students)
}

fn change_many(
    conn: &Connection,
    ctx: &mut BatchContext,
    actor: &Actor,
    batch: &BatchChange,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    let actor = acting_user(actor)?;
    let reason =
        rules::validate_change(batch.transaction_type, batch.points_change, &batch.reason)?;
    let students = batch_students(conn, &batch.target)?;
    let batch_id = new_id();
    let mut written = Written::default();
    for student_id in &students {
        change_student(
            conn,
            ctx,
            &mut written,
            actor,
            student_id,
            batch.points_change,
            batch.transaction_type,
            &reason,
            Some(&batch_id),
        )
        .map_err(|e| about_student(student_id, e))?;
    }
    Ok(written.finish(Some(batch_id)))
}

fn reverse(
    conn: &Connection,
    ctx: &mut BatchContext,
    actor: &Actor,
    reversal: &Reversal,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    let (actor_id, role) = acting_user(actor)?;
    let reason = rules::validate_reason(&reversal.reason)?;
    let (originals, batch_id) = match &reversal.target {
        ReversalTarget::Transaction { transaction_id } => {
            validate_id("transaction_id", transaction_id)?;
            let sql = format!("SELECT {TRANSACTION_COLUMNS} FROM point_transactions WHERE id = ?");
            let row = conn
                .prepare_cached(&sql)?
                .query_row([transaction_id], stored_transaction)
                .optional()?
                .ok_or_else(|| AppError::not_found(Record::Transaction, transaction_id))?;
            (vec![row?], None)
        }
        ReversalTarget::Batch { batch_id } => {
            validate_id("batch_id", batch_id)?;
            // Rows of the batch not yet undone one by one.
            let sql = format!(
                "SELECT {TRANSACTION_COLUMNS} FROM point_transactions t WHERE batch_id = ? \
                 AND transaction_type <> 'reversal' \
                 AND NOT EXISTS (SELECT 1 FROM point_transactions r WHERE r.reverses_id = t.id) \
                 ORDER BY seq"
            );
            let rows = conn
                .prepare_cached(&sql)?
                .query_map([batch_id], stored_transaction)?
                .collect::<Result<Vec<_>, _>>()?;
            if rows.is_empty() {
                let exists: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM point_transactions WHERE batch_id = ?)",
                    )?
                    .query_row([batch_id], |r| r.get(0))?;
                return Err(if exists {
                    AppError::clash(
                        Clash::AlreadyUndone,
                        format!("batch {batch_id} was already undone"),
                    )
                } else {
                    AppError::not_found(Record::Batch, batch_id)
                });
            }
            let originals = rows.into_iter().collect::<Result<Vec<_>, _>>()?;
            (originals, Some(new_id()))
        }
    };

    let mut written = Written::default();
    for original in &originals {
        if original.transaction_type == TransactionType::Reversal {
            return Err(AppError::validation(
                "transaction_id",
                format!("{} is itself an undo and cannot be undone", original.id),
            ));
        }
        let undone_by: Option<String> = conn
            .prepare_cached("SELECT id FROM point_transactions WHERE reverses_id = ?")?
            .query_row([&original.id], |r| r.get(0))
            .optional()?;
        if let Some(undone_by) = undone_by {
            return Err(AppError::clash(
                Clash::AlreadyUndone,
                format!(
                    "transaction {} was already undone by {undone_by}",
                    original.id
                ),
            ));
        }
        let student = student_state(conn, &original.student_id, actor_id)?;
        if role == Role::Teacher && !student.actor_teaches_class {
            return Err(AppError::not_class_teacher(&student.class_id));
        }
        let points_change = -original.points_change;
        rules::check_change(
            &ctx.rules,
            &ProposedChange {
                role,
                transaction_type: TransactionType::Reversal,
                points_change,
                reason: &reason,
                balance_before: student.balance,
                awarded_today: 0,
            },
        )
        .map_err(|e| about_student(&original.student_id, e))?;
        let row = append(
            conn,
            ctx,
            NewRow {
                student_id: &original.student_id,
                teacher_id: actor_id,
                points_change,
                transaction_type: TransactionType::Reversal,
                reason: &reason,
                batch_id: batch_id.as_deref(),
                reverses_id: Some(&original.id),
            },
        )?;
        written.push(row, student.balance + points_change, student.class_id);
    }
    Ok(written.finish(batch_id))
}

fn repair(
    conn: &Connection,
    ctx: &mut BatchContext,
    actor: &Actor,
    scope: &RepairScope,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    roster::require_admin(actor, "repair balances")?;
    if let Some(id) = &scope.student_id {
        validate_id("student_id", id)?;
    }
    let reason = rules::validate_reason(&scope.reason)?;
    let reason = if reason.is_empty() {
        "balance differed from the ledger".to_owned()
    } else {
        reason
    };
    let now = clock::format(ctx.now);
    let mut repaired = Vec::new();
    for drift in check::drift_on_writer(conn, scope.student_id.as_deref())? {
        conn.prepare_cached(
            "INSERT INTO student_points (student_id, points, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (student_id) DO UPDATE SET points = excluded.points, updated_at = excluded.updated_at",
        )?
        .execute(params![drift.student_id, drift.expected, now])?;
        conn.prepare_cached(
            "INSERT INTO repairs (student_id, old_points, new_points, actor, reason, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            drift.student_id,
            drift.actual,
            drift.expected,
            actor.label(),
            reason,
            now
        ])?;
        repaired.push(RepairedBalance {
            student_id: drift.student_id,
            old_points: drift.actual,
            new_points: drift.expected,
        });
    }
    let event = (!repaired.is_empty()).then(|| LedgerEvent::Repaired {
        repaired: repaired.clone(),
    });
    Ok((Outcome::Repaired { repaired }, event))
}

/// Reads a ledger row selected with [`TRANSACTION_COLUMNS`]; the inner `Result` reports a
/// stored transaction type this version does not know.
pub(crate) fn stored_transaction(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<PointTransaction, AppError>> {
    let kind: String = row.get(4)?;
    let (id, student_id, teacher_id, points_change) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    let (reason, batch_id, reverses_id, created_at) =
        (row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?);
    Ok(
        queries::parse_transaction_type(&kind).map(|transaction_type| PointTransaction {
            id,
            student_id,
            teacher_id,
            points_change,
            transaction_type,
            reason,
            batch_id,
            reverses_id,
            created_at,
        }),
    )
}

/// The ids a one-parameter query returns.
fn ids(conn: &Connection, sql: &str, param: &str) -> Result<Vec<String>, AppError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map([param], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?)
}

/// The writer's counterpart of [`queries::require_exists`].
pub(crate) fn require_exists(conn: &Connection, table: Table, id: &str) -> Result<(), AppError> {
    let (sql, record) = table.exists_query();
    let exists: bool = conn.prepare_cached(sql)?.query_row([id], |r| r.get(0))?;
    if exists {
        Ok(())
    } else {
        Err(AppError::not_found(record, id))
    }
}
