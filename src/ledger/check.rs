//! Consistency: every balance must equal the sum of its student's ledger rows.

use super::chain::{self, ChainState};
use crate::{
    error::AppError,
    model::{ConsistencyReport, HealthStatus, Inconsistency, consistency_rate},
};
use sqlx::{Sqlite, SqliteExecutor, SqlitePool};
use std::time::Instant;
use tokio::sync::Mutex;

/// Builds the drift query: one aggregate pass over the ledger (through its covering index)
/// joined to the balances. A balance drifted when it differs from its ledger sum, or when a
/// student has ledger rows but no balance row. `$ledger` and `$student` add the optional
/// one-student filter to the ledger scan and to the students.
macro_rules! drift_sql {
    ($ledger:literal, $student:literal) => {
        concat!(
            "WITH ledger AS (SELECT student_id, SUM(points_change) AS total ",
            "FROM point_transactions ",
            $ledger,
            " GROUP BY student_id) ",
            "SELECT s.id, COALESCE(l.total, 0), sp.points FROM students s ",
            "LEFT JOIN ledger l ON l.student_id = s.id ",
            "LEFT JOIN student_points sp ON sp.student_id = s.id ",
            "WHERE ((l.total IS NOT NULL AND sp.points IS NULL) ",
            "OR sp.points <> COALESCE(l.total, 0)) ",
            $student,
            " ORDER BY s.id"
        )
    };
}
const DRIFT_ALL: &str = drift_sql!("", "");
const DRIFT_ONE: &str = drift_sql!("WHERE student_id = ?1", "AND s.id = ?1");

fn inconsistency((student_id, expected, actual): (String, i64, Option<i64>)) -> Inconsistency {
    Inconsistency {
        student_id,
        expected,
        actual,
        difference: actual.unwrap_or(0) - expected,
    }
}

/// Balances that disagree with the ledger: everyone's, or one student's.
pub(crate) async fn drift<'e>(
    executor: impl SqliteExecutor<'e>,
    student_id: Option<&str>,
) -> Result<Vec<Inconsistency>, AppError> {
    let rows: Vec<(String, i64, Option<i64>)> = match student_id {
        None => {
            sqlx::query_as::<Sqlite, _>(DRIFT_ALL)
                .fetch_all(executor)
                .await?
        }
        Some(id) => {
            sqlx::query_as::<Sqlite, _>(DRIFT_ONE)
                .bind(id)
                .fetch_all(executor)
                .await?
        }
    };
    Ok(rows.into_iter().map(inconsistency).collect())
}

/// [`drift`] inside the writer's transaction, for the repair.
pub(crate) fn drift_on_writer(
    conn: &rusqlite::Connection,
    student_id: Option<&str>,
) -> Result<Vec<Inconsistency>, AppError> {
    let read = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let rows = match student_id {
        None => conn
            .prepare_cached(DRIFT_ALL)?
            .query_map([], read)?
            .collect::<Result<Vec<_>, _>>()?,
        Some(id) => conn
            .prepare_cached(DRIFT_ONE)?
            .query_map([id], read)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows.into_iter().map(inconsistency).collect())
}

pub(crate) async fn check_all(
    db: &crate::db::Db,
    checkpoint: &Mutex<ChainState>,
    full_chain: bool,
) -> Result<ConsistencyReport, AppError> {
    let pool = db.pool();
    let started = Instant::now();
    let checked_at = super::clock::now();
    let inconsistencies = drift(pool, None).await?;
    let orphan_balances: Vec<String> = sqlx::query_scalar(
        "SELECT student_id FROM student_points \
         WHERE student_id NOT IN (SELECT id FROM students) ORDER BY student_id",
    )
    .fetch_all(pool)
    .await?;
    let (total_students, total_transactions): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM point_transactions)",
    )
    .fetch_one(pool)
    .await?;
    let chain = chain::verify(db, checkpoint, full_chain).await?;

    let inconsistent_students = inconsistencies.len() as i64;
    Ok(ConsistencyReport {
        status: HealthStatus::from_findings(
            total_students,
            inconsistent_students + orphan_balances.len() as i64,
            chain.ok,
        ),
        total_students,
        consistent_students: total_students - inconsistent_students,
        inconsistent_students,
        consistency_rate: consistency_rate(total_students, inconsistent_students),
        total_transactions,
        inconsistencies,
        orphan_balances,
        chain,
        checked_at,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

pub(crate) async fn check_student(
    pool: &SqlitePool,
    student_id: &str,
) -> Result<Option<Inconsistency>, AppError> {
    super::queries::require_exists(pool, super::queries::Table::Student, student_id).await?;
    Ok(drift(pool, Some(student_id)).await?.into_iter().next())
}
