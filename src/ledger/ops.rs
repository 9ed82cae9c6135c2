//! Applying one request inside the writer's open transaction. Everything a request writes
//! happens here, after every check it needs has passed; the writer wraps each request in a
//! savepoint so a failure leaves no trace.

use super::{
    Actor, BatchChange, BatchTarget, Command, Executed, LedgerEvent, Outcome, PointChange,
    RepairScope, Request, Reversal, ReversalTarget,
    chain::{ChainRow, hash_row},
    check, clock,
    ids::new_id,
    queries::{self, RULES_KEY, Record, TRANSACTION_COLUMNS},
    roster,
};
use crate::{
    error::AppError,
    model::{
        PointTransaction, RepairedBalance, Role, StudentBalance, TransactionType, validate_id,
    },
    rules::{self, ProposedChange, Rules},
};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;
use std::{collections::BTreeMap, sync::Arc};

/// Most students one batch request may touch.
pub const MAX_BATCH_STUDENTS: usize = 1000;
/// Longest accepted idempotency key.
pub const MAX_KEY_LEN: usize = 200;

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
    pub async fn load(conn: &mut SqliteConnection) -> Result<Self, AppError> {
        let last: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT seq, hash, created_at FROM point_transactions ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?;
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
            rules: Arc::new(queries::rules(&mut *conn).await?),
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

pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    ctx: &mut BatchContext,
    request: &Request,
) -> Result<Applied, AppError> {
    let Some(key) = &request.idempotency_key else {
        let (outcome, event) = dispatch(conn, ctx, &request.actor, &request.command).await?;
        return Ok(Applied {
            executed: Executed {
                outcome,
                replayed: false,
            },
            event,
        });
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::validation(
            "idempotency_key",
            format!("must be 1–{MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    let fingerprint = fingerprint(&request.command)?;
    let scope = request.actor.scope();
    let stored: Option<(String, String)> = sqlx::query_as(
        "SELECT fingerprint, response FROM idempotency_keys WHERE actor_id = ? AND key = ?",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((stored_fingerprint, response)) = stored {
        if stored_fingerprint != fingerprint {
            return Err(AppError::Conflict {
                message: format!(
                    "idempotency key {key} was already used for a different request; \
                     use a new key for a new request"
                ),
            });
        }
        let outcome = serde_json::from_str(&response).map_err(|error| {
            tracing::error!(%error, key, "stored idempotent response cannot be read");
            AppError::internal("stored response cannot be read")
        })?;
        return Ok(Applied {
            executed: Executed {
                outcome,
                replayed: true,
            },
            event: None,
        });
    }
    let (outcome, event) = dispatch(conn, ctx, &request.actor, &request.command).await?;
    let response = serde_json::to_string(&outcome)
        .map_err(|e| AppError::internal(format!("cannot store response: {e}")))?;
    sqlx::query(
        "INSERT INTO idempotency_keys (actor_id, key, fingerprint, response, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(scope)
    .bind(key)
    .bind(&fingerprint)
    .bind(response)
    .bind(clock::format(ctx.now))
    .execute(&mut *conn)
    .await?;
    Ok(Applied {
        executed: Executed {
            outcome,
            replayed: false,
        },
        event,
    })
}

/// Identifies a request's content: the same command always has the same fingerprint.
fn fingerprint(command: &Command) -> Result<String, AppError> {
    let bytes = serde_json::to_vec(command)
        .map_err(|e| AppError::internal(format!("cannot fingerprint request: {e}")))?;
    Ok(format!("{:x}", Sha256::digest(bytes)))
}

async fn dispatch(
    conn: &mut SqliteConnection,
    ctx: &mut BatchContext,
    actor: &Actor,
    command: &Command,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    let roster_done = |id: String| {
        let event = LedgerEvent::RosterChanged { id: id.clone() };
        Ok((Outcome::Roster { id }, Some(event)))
    };
    match command {
        Command::Change(change) => change_one(conn, ctx, actor, change).await,
        Command::ChangeMany(batch) => change_many(conn, ctx, actor, batch).await,
        Command::Reverse(reversal) => reverse(conn, ctx, actor, reversal).await,
        Command::Repair(scope) => repair(conn, ctx, actor, scope).await,
        Command::SetRules(new_rules) => {
            roster::require_admin(actor, "change the rules")?;
            new_rules.validate()?;
            let json = serde_json::to_string(new_rules)
                .map_err(|e| AppError::internal(format!("cannot store rules: {e}")))?;
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(RULES_KEY)
            .bind(json)
            .bind(clock::format(ctx.now))
            .execute(&mut *conn)
            .await?;
            ctx.rules = Arc::new(new_rules.clone());
            Ok((
                Outcome::RulesSet {
                    rules: new_rules.clone(),
                },
                Some(LedgerEvent::RulesChanged),
            ))
        }
        Command::CreateUser(user) => roster_done(roster::create_user(conn, actor, user).await?),
        Command::CreateClass(class) => roster_done(roster::create_class(conn, actor, class).await?),
        Command::AddClassTeacher {
            class_id,
            teacher_id,
        } => roster_done(roster::add_class_teacher(conn, actor, class_id, teacher_id).await?),
        Command::CreateStudent(student) => {
            roster_done(roster::create_student(conn, actor, student).await?)
        }
        Command::CreateGroup(group) => roster_done(roster::create_group(conn, actor, group).await?),
        Command::SetGroupMembers {
            group_id,
            student_ids,
        } => roster_done(roster::set_group_members(conn, actor, group_id, student_ids).await?),
    }
}

/// The acting user, for writes that record who did them.
fn acting_user(actor: &Actor) -> Result<(&str, Role), AppError> {
    match actor {
        Actor::User { id, role } => Ok((id, *role)),
        Actor::System => Err(AppError::Forbidden {
            message: "points are recorded by a teacher or an admin".into(),
        }),
    }
}

/// What the writer needs to know about a student before changing their points.
struct StudentState {
    class_id: String,
    archived: bool,
    balance: i64,
    actor_teaches_class: bool,
}

async fn student_state(
    conn: &mut SqliteConnection,
    student_id: &str,
    actor_id: &str,
) -> Result<StudentState, AppError> {
    let row: Option<(String, bool, Option<i64>, bool)> = sqlx::query_as(
        "SELECT s.class_id, s.archived_at IS NOT NULL, sp.points, \
                EXISTS (SELECT 1 FROM class_teachers ct \
                        WHERE ct.class_id = s.class_id AND ct.teacher_id = ?2) \
         FROM students s LEFT JOIN student_points sp ON sp.student_id = s.id \
         WHERE s.id = ?1",
    )
    .bind(student_id)
    .bind(actor_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (class_id, archived, balance, actor_teaches_class) =
        row.ok_or_else(|| AppError::NotFound {
            what: format!("student {student_id}"),
        })?;
    Ok(StudentState {
        class_id,
        archived,
        balance: balance.unwrap_or(0),
        actor_teaches_class,
    })
}

/// One row to append, before it gets its id, time and hash.
struct NewRow<'a> {
    student_id: &'a str,
    teacher_id: &'a str,
    points_change: i64,
    transaction_type: TransactionType,
    reason: &'a str,
    batch_id: Option<&'a str>,
    reverses_id: Option<&'a str>,
}

/// Appends one ledger row, extending the hash chain. The insert trigger moves the balance.
async fn append(
    conn: &mut SqliteConnection,
    ctx: &mut BatchContext,
    row: NewRow<'_>,
) -> Result<PointTransaction, AppError> {
    let seq = ctx.head.seq + 1;
    let id = new_id();
    let created_at = ctx.timestamp();
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
    sqlx::query(
        "INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
         transaction_type, reason, batch_id, reverses_id, created_at, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(&id)
    .bind(row.student_id)
    .bind(row.teacher_id)
    .bind(row.points_change)
    .bind(row.transaction_type.as_str())
    .bind(row.reason)
    .bind(row.batch_id)
    .bind(row.reverses_id)
    .bind(&created_at)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
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
async fn awarded_today(
    conn: &mut SqliteConnection,
    ctx: &BatchContext,
    student_id: &str,
) -> Result<i64, AppError> {
    let since = clock::day_start(ctx.now, ctx.rules.utc_offset_minutes);
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(SUM(t.points_change), 0) FROM point_transactions t \
         WHERE t.student_id = ? AND t.created_at >= ? AND t.transaction_type = 'add_points' \
         AND NOT EXISTS (SELECT 1 FROM point_transactions r WHERE r.reverses_id = t.id)",
    )
    .bind(student_id)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?)
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
async fn change_student(
    conn: &mut SqliteConnection,
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
    let student = student_state(conn, student_id, actor_id).await?;
    if role == Role::Teacher && !student.actor_teaches_class {
        return Err(AppError::Forbidden {
            message: format!(
                "you are not a teacher of class {} (student {student_id})",
                student.class_id
            ),
        });
    }
    if student.archived {
        return Err(AppError::validation(
            "student_id",
            format!("student {student_id} is archived"),
        ));
    }
    let awarded_today =
        if transaction_type == TransactionType::AddPoints && ctx.rules.daily_award_cap.is_some() {
            awarded_today(conn, ctx, student_id).await?
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
    )
    .await?;
    written.push(row, student.balance + points_change, student.class_id);
    Ok(())
}

async fn change_one(
    conn: &mut SqliteConnection,
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
    )
    .await?;
    Ok(written.finish(None))
}

/// Prefixes an error with the student it concerns, keeping its kind (and the rule's name).
fn about_student(student_id: &str, error: AppError) -> AppError {
    match error {
        AppError::RuleViolation { rule, message } => AppError::RuleViolation {
            rule,
            message: format!("student {student_id}: {message}"),
        },
        AppError::Validation { field, message } => AppError::Validation {
            field,
            message: format!("student {student_id}: {message}"),
        },
        other => other,
    }
}

async fn batch_students(
    conn: &mut SqliteConnection,
    target: &BatchTarget,
) -> Result<Vec<String>, AppError> {
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
            queries::require_exists(&mut *conn, Record::Class, class_id).await?;
            sqlx::query_scalar(
                "SELECT id FROM students WHERE class_id = ? AND archived_at IS NULL ORDER BY name, id",
            )
            .bind(class_id)
            .fetch_all(&mut *conn)
            .await?
        }
        BatchTarget::Group { group_id } => {
            validate_id("group_id", group_id)?;
            queries::require_exists(&mut *conn, Record::Group, group_id).await?;
            sqlx::query_scalar(
                "SELECT s.id FROM student_group_members m JOIN students s ON s.id = m.student_id \
                 WHERE m.group_id = ? AND s.archived_at IS NULL ORDER BY s.name, s.id",
            )
            .bind(group_id)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    if students.is_empty() {
        return Err(AppError::validation("target", "selects no students"));
    }
    if students.len() > MAX_BATCH_STUDENTS {
        return Err(AppError::validation(
            "target",
            format!("selects more than {MAX_BATCH_STUDENTS} students"),
        ));
    }
    Ok(students)
}

async fn change_many(
    conn: &mut SqliteConnection,
    ctx: &mut BatchContext,
    actor: &Actor,
    batch: &BatchChange,
) -> Result<(Outcome, Option<LedgerEvent>), AppError> {
    let actor = acting_user(actor)?;
    let reason =
        rules::validate_change(batch.transaction_type, batch.points_change, &batch.reason)?;
    let students = batch_students(conn, &batch.target).await?;
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
        .await
        .map_err(|e| about_student(student_id, e))?;
    }
    Ok(written.finish(Some(batch_id)))
}

async fn reverse(
    conn: &mut SqliteConnection,
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
            let row = sqlx::query(&sql)
                .bind(transaction_id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| AppError::NotFound {
                    what: format!("transaction {transaction_id}"),
                })?;
            (vec![queries::transaction_from_row(&row)?], None)
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
            let rows = sqlx::query(&sql)
                .bind(batch_id)
                .fetch_all(&mut *conn)
                .await?;
            if rows.is_empty() {
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM point_transactions WHERE batch_id = ?)",
                )
                .bind(batch_id)
                .fetch_one(&mut *conn)
                .await?;
                return Err(if exists {
                    AppError::Conflict {
                        message: format!("batch {batch_id} was already undone"),
                    }
                } else {
                    AppError::NotFound {
                        what: format!("batch {batch_id}"),
                    }
                });
            }
            let originals = rows
                .iter()
                .map(queries::transaction_from_row)
                .collect::<Result<Vec<_>, _>>()?;
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
        let undone_by: Option<String> =
            sqlx::query_scalar("SELECT id FROM point_transactions WHERE reverses_id = ?")
                .bind(&original.id)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(undone_by) = undone_by {
            return Err(AppError::Conflict {
                message: format!(
                    "transaction {} was already undone by {undone_by}",
                    original.id
                ),
            });
        }
        let student = student_state(conn, &original.student_id, actor_id).await?;
        if role == Role::Teacher && !student.actor_teaches_class {
            return Err(AppError::Forbidden {
                message: format!("you are not a teacher of class {}", student.class_id),
            });
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
        )
        .await?;
        written.push(row, student.balance + points_change, student.class_id);
    }
    Ok(written.finish(batch_id))
}

async fn repair(
    conn: &mut SqliteConnection,
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
    for drift in check::drift(&mut *conn, scope.student_id.as_deref()).await? {
        sqlx::query(
            "INSERT INTO student_points (student_id, points, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (student_id) DO UPDATE SET points = excluded.points, updated_at = excluded.updated_at",
        )
        .bind(&drift.student_id)
        .bind(drift.expected)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO repairs (student_id, old_points, new_points, actor, reason, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&drift.student_id)
        .bind(drift.actual)
        .bind(drift.expected)
        .bind(actor.label())
        .bind(&reason)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
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
