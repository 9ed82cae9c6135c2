//! Reads: balances, history, settings. Plain queries on the read-only pool.

use crate::{
    error::AppError,
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

/// Tables whose rows [`require_exists`] can look up, with the noun used in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Record {
    Student,
    Class,
    Group,
}

impl Record {
    /// The existence query and the noun for errors.
    pub(crate) fn exists_query(self) -> (&'static str, &'static str) {
        match self {
            Record::Student => (
                "SELECT EXISTS (SELECT 1 FROM students WHERE id = ?)",
                "student",
            ),
            Record::Class => (
                "SELECT EXISTS (SELECT 1 FROM classes WHERE id = ?)",
                "class",
            ),
            Record::Group => (
                "SELECT EXISTS (SELECT 1 FROM student_groups WHERE id = ?)",
                "group",
            ),
        }
    }
}

/// `Ok` when the record exists, else a 404 naming it.
pub(crate) async fn require_exists<'e>(
    executor: impl SqliteExecutor<'e>,
    record: Record,
    id: &str,
) -> Result<(), AppError> {
    let (sql, noun) = record.exists_query();
    let exists: bool = sqlx::query_scalar(sql).bind(id).fetch_one(executor).await?;
    if exists {
        Ok(())
    } else {
        Err(AppError::NotFound {
            what: format!("{noun} {id}"),
        })
    }
}

async fn require_student(pool: &SqlitePool, student_id: &str) -> Result<(), AppError> {
    require_exists(pool, Record::Student, student_id).await
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
    limit: i64,
) -> Result<Vec<PointTransaction>, AppError> {
    require_student(pool, student_id).await?;
    let sql = format!(
        "SELECT {TRANSACTION_COLUMNS} FROM point_transactions WHERE student_id = ? \
         ORDER BY created_at DESC, seq DESC LIMIT ?"
    );
    sqlx::query(&sql)
        .bind(student_id)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(pool)
        .await?
        .iter()
        .map(transaction_from_row)
        .collect()
}
