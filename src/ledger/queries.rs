//! Reads: balances, history, settings. Plain queries on the read-only pool.

use crate::{
    error::{self, AppError},
    model::{PointTransaction, TransactionType},
    rules::Rules,
};
use sqlx::{Row, SqliteExecutor, SqlitePool, sqlite::SqliteRow};

/// Columns of `point_transactions` as [`transaction_from_row`] reads them.
pub(crate) const TRANSACTION_COLUMNS: &str = "id, student_id, teacher_id, points_change, \
     transaction_type, reason, batch_id, reverses_id, created_at";

pub(crate) fn parse_transaction_type(kind: &str) -> Result<TransactionType, AppError> {
    TransactionType::parse(kind).ok_or_else(|| {
        tracing::error!(%kind, "unknown transaction_type stored in the ledger");
        AppError::internal("unknown transaction type in the ledger")
    })
}

pub(crate) fn transaction_from_row(row: &SqliteRow) -> Result<PointTransaction, AppError> {
    let transaction_type = parse_transaction_type(row.try_get("transaction_type")?)?;
    Ok(PointTransaction {
        id: row.try_get("id")?,
        student_id: row.try_get("student_id")?,
        teacher_id: row.try_get("teacher_id")?,
        points_change: row.try_get("points_change")?,
        transaction_type,
        reason: row.try_get("reason")?,
        batch_id: row.try_get("batch_id")?,
        reverses_id: row.try_get("reverses_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `settings` key of the stored rules (the SQL below spells it too).
pub(crate) const RULES_KEY: &str = "rules";

const RULES_SQL: &str = "SELECT value FROM settings WHERE key = 'rules'";

/// The stored rules, or the defaults when none were set.
pub(crate) async fn rules<'e>(executor: impl SqliteExecutor<'e>) -> Result<Rules, AppError> {
    rules_from_stored(
        sqlx::query_scalar(RULES_SQL)
            .fetch_optional(executor)
            .await?,
    )
}

/// The writer's read of the stored rules.
pub(crate) fn rules_on_writer(conn: &rusqlite::Connection) -> Result<Rules, AppError> {
    use rusqlite::OptionalExtension;
    rules_from_stored(
        conn.prepare_cached(RULES_SQL)?
            .query_row([], |r| r.get(0))
            .optional()?,
    )
}

fn rules_from_stored(stored: Option<String>) -> Result<Rules, AppError> {
    match stored {
        None => Ok(Rules::default()),
        Some(json) => serde_json::from_str(&json).map_err(|error| {
            tracing::error!(%error, "stored rules are not valid JSON for this version");
            AppError::internal("stored rules cannot be read")
        }),
    }
}

/// Tables whose rows [`require_exists`] can look up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Student,
    Class,
    Group,
}

impl Table {
    /// The existence query and the record as errors name it.
    pub(crate) fn exists_query(self) -> (&'static str, error::Record) {
        match self {
            Table::Student => (
                "SELECT EXISTS (SELECT 1 FROM students WHERE id = ?)",
                error::Record::Student,
            ),
            Table::Class => (
                "SELECT EXISTS (SELECT 1 FROM classes WHERE id = ?)",
                error::Record::Class,
            ),
            Table::Group => (
                "SELECT EXISTS (SELECT 1 FROM student_groups WHERE id = ?)",
                error::Record::Group,
            ),
        }
    }
}

/// `Ok` when the record exists, else a 404 naming it.
pub(crate) async fn require_exists<'e>(
    executor: impl SqliteExecutor<'e>,
    table: Table,
    id: &str,
) -> Result<(), AppError> {
    let (sql, record) = table.exists_query();
    let exists: bool = sqlx::query_scalar(sql).bind(id).fetch_one(executor).await?;
    if exists {
        Ok(())
    } else {
        Err(AppError::not_found(record, id))
    }
}

async fn require_student(pool: &SqlitePool, student_id: &str) -> Result<(), AppError> {
    require_exists(pool, Table::Student, student_id).await
}

pub(crate) async fn balance(pool: &SqlitePool, student_id: &str) -> Result<i64, AppError> {
    require_student(pool, student_id).await?;
    let points: Option<i64> =
        sqlx::query_scalar("SELECT points FROM student_points WHERE student_id = ?")
            .bind(student_id)
            .fetch_optional(pool)
            .await?;
    Ok(points.unwrap_or(0))
}

pub(crate) async fn balance_as_of(
    pool: &SqlitePool,
    student_id: &str,
    at: &str,
) -> Result<i64, AppError> {
    require_student(pool, student_id).await?;
    let at = super::clock::normalize(at)
        .ok_or_else(|| AppError::validation("at", "must be an RFC 3339 timestamp"))?;
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(SUM(points_change), 0) FROM point_transactions \
         WHERE student_id = ? AND created_at <= ?",
    )
    .bind(student_id)
    .bind(at)
    .fetch_one(pool)
    .await?)
}

pub(crate) async fn history(
    pool: &SqlitePool,
    student_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<PointTransaction>, AppError> {
    require_student(pool, student_id).await?;
    Ok(history_entries(pool, student_id, before, limit)
        .await?
        .into_iter()
        .map(|entry| entry.transaction)
        .collect())
}

/// Who is reading: admins see everything, teachers their classes.
fn teacher_filter(actor: &super::Actor) -> Option<&str> {
    match actor {
        super::Actor::User {
            id,
            role: crate::model::Role::Teacher,
        } => Some(id),
        _ => None,
    }
}

/// The class of a student, if the reader may see it (404 when absent, 403 when not theirs).
pub(crate) async fn visible_student_class(
    pool: &SqlitePool,
    actor: &super::Actor,
    student_id: &str,
) -> Result<String, AppError> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT s.class_id, ?2 IS NULL OR EXISTS (SELECT 1 FROM class_teachers ct \
                WHERE ct.class_id = s.class_id AND ct.teacher_id = ?2) \
         FROM students s WHERE s.id = ?1",
    )
    .bind(student_id)
    .bind(teacher_filter(actor))
    .fetch_optional(pool)
    .await?;
    match row {
        None => Err(AppError::not_found(error::Record::Student, student_id)),
        Some((class_id, true)) => Ok(class_id),
        Some((class_id, false)) => Err(AppError::not_class_teacher(&class_id)),
    }
}

pub(crate) async fn classes(
    pool: &SqlitePool,
    actor: &super::Actor,
) -> Result<Vec<crate::model::ClassInfo>, AppError> {
    let rows: Vec<(String, String, bool, i64, Option<String>)> = sqlx::query_as(
        "SELECT c.id, c.name, c.archived_at IS NOT NULL, \
                (SELECT count(*) FROM students s WHERE s.class_id = c.id AND s.archived_at IS NULL), \
                (SELECT group_concat(teacher_id) FROM class_teachers ct WHERE ct.class_id = c.id) \
         FROM classes c \
         WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM class_teachers ct \
               WHERE ct.class_id = c.id AND ct.teacher_id = ?1) \
         ORDER BY c.name, c.id",
    )
    .bind(teacher_filter(actor))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, archived, students, teachers)| crate::model::ClassInfo {
                id,
                name,
                archived,
                students,
                teacher_ids: teachers
                    .map(|t| t.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
            },
        )
        .collect())
}

/// id, class_id, name, student_no, points, archived
type StudentRow = (String, String, String, Option<String>, Option<i64>, bool);

/// The columns of a [`StudentRow`], from `students s LEFT JOIN student_points sp` (a macro, so
/// each query stays one string written at compile time).
macro_rules! student_columns {
    () => {
        "s.id, s.class_id, s.name, s.student_no, sp.points, s.archived_at IS NOT NULL"
    };
}

fn student_info(
    (id, class_id, name, student_no, points, archived): StudentRow,
) -> crate::model::StudentInfo {
    crate::model::StudentInfo {
        id,
        class_id,
        name,
        student_no,
        points: points.unwrap_or(0),
        archived,
    }
}

/// Students (with balances) the reader may see, optionally of one class.
pub(crate) async fn students(
    pool: &SqlitePool,
    actor: &super::Actor,
    class_id: Option<&str>,
) -> Result<Vec<crate::model::StudentInfo>, AppError> {
    let rows: Vec<StudentRow> = sqlx::query_as(concat!(
        "SELECT ",
        student_columns!(),
        " FROM students s LEFT JOIN student_points sp ON sp.student_id = s.id \
         WHERE (?1 IS NULL OR s.class_id = ?1) \
           AND (?2 IS NULL OR EXISTS (SELECT 1 FROM class_teachers ct \
                WHERE ct.class_id = s.class_id AND ct.teacher_id = ?2)) \
         ORDER BY s.class_id, s.name, s.id"
    ))
    .bind(class_id)
    .bind(teacher_filter(actor))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(student_info).collect())
}

/// One student with their balance, whoever may see them (callers check that first, see
/// [`visible_student_class`]).
pub(crate) async fn student(
    pool: &SqlitePool,
    student_id: &str,
) -> Result<Option<crate::model::StudentInfo>, AppError> {
    let row: Option<StudentRow> = sqlx::query_as(concat!(
        "SELECT ",
        student_columns!(),
        " FROM students s LEFT JOIN student_points sp ON sp.student_id = s.id WHERE s.id = ?1"
    ))
    .bind(student_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(student_info))
}

/// id, username, name, role, active
type UserRow = (String, String, String, String, bool);

fn user_info((id, username, name, role, active): UserRow) -> Option<crate::model::UserInfo> {
    crate::model::Role::parse(&role).map(|role| crate::model::UserInfo {
        id,
        username,
        name,
        role,
        active,
    })
}

pub(crate) async fn users(pool: &SqlitePool) -> Result<Vec<crate::model::UserInfo>, AppError> {
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT id, username, name, role, active FROM users ORDER BY role, username",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(user_info).collect())
}

pub(crate) async fn user(
    pool: &SqlitePool,
    id: &str,
) -> Result<Option<crate::model::UserInfo>, AppError> {
    let row: Option<UserRow> =
        sqlx::query_as("SELECT id, username, name, role, active FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(user_info))
}

/// Every ledger row in ledger order, streamed to `each` (for exports of any size).
pub(crate) async fn for_each_transaction(
    pool: &SqlitePool,
    mut each: impl FnMut(PointTransaction) -> Result<(), AppError>,
) -> Result<u64, AppError> {
    use futures::TryStreamExt;
    let sql = format!("SELECT {TRANSACTION_COLUMNS} FROM point_transactions ORDER BY seq");
    let mut rows = sqlx::query(&sql).fetch(pool);
    let mut count = 0;
    while let Some(row) = rows.try_next().await? {
        each(transaction_from_row(&row)?)?;
        count += 1;
    }
    Ok(count)
}

/// A student's ledger with teacher names and undo links, newest first: the newest `limit`
/// rows, or with `before` (one of the student's transaction ids) the `limit` rows recorded
/// before that one. Pages follow the ledger's order (time, then arrival), so rows recorded in
/// the same millisecond are neither repeated nor skipped from one page to the next.
pub(crate) async fn history_entries(
    pool: &SqlitePool,
    student_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::model::HistoryEntry>, AppError> {
    let cursor: Option<(String, i64)> = match before {
        None => None,
        Some(id) => Some(
            sqlx::query_as(
                "SELECT created_at, seq FROM point_transactions WHERE id = ? AND student_id = ?",
            )
            .bind(id)
            .bind(student_id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| AppError::not_found(error::Record::Transaction, id))?,
        ),
    };
    let sql = format!(
        "SELECT {}, u.name AS teacher_name, r.id AS undone_by \
         FROM point_transactions t JOIN users u ON u.id = t.teacher_id \
         LEFT JOIN point_transactions r ON r.reverses_id = t.id \
         WHERE t.student_id = ? {} ORDER BY t.created_at DESC, t.seq DESC LIMIT ?",
        TRANSACTION_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        // The bound on created_at alone lets the per-student index start the walk there.
        if cursor.is_some() {
            "AND t.created_at <= ? AND (t.created_at < ? OR t.seq < ?)"
        } else {
            ""
        }
    );
    let mut query = sqlx::query(&sql).bind(student_id);
    if let Some((created_at, seq)) = &cursor {
        query = query.bind(created_at).bind(created_at).bind(seq);
    }
    query
        .bind(limit.clamp(1, 10_000))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(crate::model::HistoryEntry {
                transaction: transaction_from_row(row)?,
                teacher_name: row.try_get("teacher_name")?,
                undone_by: row.try_get("undone_by")?,
            })
        })
        .collect()
}

/// Groups with their members as (id, name, comma-separated member ids); a `WHERE` follows.
const GROUP_ROWS: &str = "SELECT g.id, g.name, \
        (SELECT group_concat(student_id) FROM student_group_members m WHERE m.group_id = g.id) \
     FROM student_groups g";

/// The groups of a class with their members.
pub(crate) async fn groups(
    pool: &SqlitePool,
    class_id: &str,
) -> Result<Vec<crate::model::GroupInfo>, AppError> {
    let rows = sqlx::query_as(&format!(
        "{GROUP_ROWS} WHERE g.class_id = ? ORDER BY g.name"
    ))
    .bind(class_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(group_info).collect())
}

/// One group with its members.
pub(crate) async fn group(
    pool: &SqlitePool,
    group_id: &str,
) -> Result<Option<crate::model::GroupInfo>, AppError> {
    let row = sqlx::query_as(&format!("{GROUP_ROWS} WHERE g.id = ?"))
        .bind(group_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(group_info))
}

/// A group from its id, name and comma-separated member ids.
fn group_info((id, name, members): (String, String, Option<String>)) -> crate::model::GroupInfo {
    crate::model::GroupInfo {
        id,
        name,
        student_ids: members
            .map(|m| m.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// The presets a class uses: its own, else the school's, else the built-in ones; and whether
/// they are the class's own. `None` asks for the school's.
pub(crate) async fn presets(
    pool: &SqlitePool,
    class_id: Option<&str>,
) -> Result<(Vec<crate::model::Preset>, bool), AppError> {
    let (own, school): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT presets FROM class_presets WHERE class_id = ?1), \
                (SELECT value FROM settings WHERE key = 'presets')",
    )
    .bind(class_id)
    .fetch_one(pool)
    .await?;
    let parse = |json: &str| {
        serde_json::from_str(json).map_err(|error| {
            tracing::error!(%error, "stored presets cannot be read");
            AppError::internal("stored presets cannot be read")
        })
    };
    match (own, school) {
        (Some(own), _) => Ok((parse(&own)?, true)),
        (None, Some(school)) => Ok((parse(&school)?, false)),
        (None, None) => Ok((crate::model::default_presets(), false)),
    }
}

/// Names and class names of the given students (those that exist).
pub(crate) async fn student_labels(
    pool: &SqlitePool,
    student_ids: &[String],
) -> Result<std::collections::HashMap<String, (String, String)>, AppError> {
    if student_ids.is_empty() {
        return Ok(Default::default());
    }
    let ids = serde_json::to_string(student_ids)
        .map_err(|e| AppError::internal(format!("cannot list students: {e}")))?;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT s.id, s.name, c.name FROM students s JOIN classes c ON c.id = s.class_id \
         WHERE s.id IN (SELECT value FROM json_each(?))",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, class_name)| (id, (name, class_name)))
        .collect())
}
