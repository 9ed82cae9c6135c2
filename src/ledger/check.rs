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
/// filter (one student, or a range of student ids) to the ledger scan and to the students.
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
const DRIFT_BETWEEN: &str = drift_sql!(
    "WHERE student_id >= ?1 AND student_id < ?2",
    "AND s.id >= ?1 AND s.id < ?2"
);
const DRIFT_FROM: &str = drift_sql!("WHERE student_id >= ?1", "AND s.id >= ?1");

/// How many parts the whole-school drift query is split into: one per core, up to four.
fn drift_parts() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

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

/// Everyone's drifted balances, the students split by id into `parts` ranges of about equal
/// size whose queries run at once on separate read connections. The query's time is CPU per
/// ledger row (~130 ns here, so ~130 ms at a million rows), so with cores to spare the parts
/// finish in well under the time of one query (BENCHMARKS.md). Each part reads its own
/// snapshot; that is still exact per student, because a student's ledger rows and balance
/// change together in one transaction, and every student falls in exactly one part. Sorted by
/// student id like [`drift`]'s answer.
pub(crate) async fn drift_everyone(
    pool: &SqlitePool,
    parts: usize,
) -> Result<Vec<Inconsistency>, AppError> {
    if parts <= 1 {
        return drift(pool, None).await;
    }
    let students: i64 = sqlx::query_scalar("SELECT count(*) FROM students")
        .fetch_one(pool)
        .await?;
    // The first part starts below every id (the empty string), so a student added after the
    // pivots were read still falls in a part; the last part has no upper bound for the same
    // reason.
    let mut bounds = vec![String::new()];
    for part in 1..parts as i64 {
        let pivot: Option<String> =
            sqlx::query_scalar("SELECT id FROM students ORDER BY id LIMIT 1 OFFSET ?1")
                .bind(part * students / parts as i64)
                .fetch_optional(pool)
                .await?;
        match pivot {
            Some(pivot) if bounds.last() < Some(&pivot) => bounds.push(pivot),
            _ => {}
        }
    }
    let queries = bounds.iter().enumerate().map(|(i, from)| {
        let query = match bounds.get(i + 1) {
            Some(until) => sqlx::query_as::<Sqlite, (String, i64, Option<i64>)>(DRIFT_BETWEEN)
                .bind(from)
                .bind(until),
            None => sqlx::query_as(DRIFT_FROM).bind(from),
        };
        query.fetch_all(pool)
    });
    let found = futures::future::try_join_all(queries).await?;
    Ok(found.into_iter().flatten().map(inconsistency).collect())
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
    // The parts of the check read separately and run at once: the drift query's ranges, the
    // orphans, the counts (a pass over an index of the ledger of its own) and the chain.
    let orphans = sqlx::query_scalar(
        "SELECT student_id FROM student_points \
         WHERE student_id NOT IN (SELECT id FROM students) ORDER BY student_id",
    )
    .fetch_all(pool);
    let counts = sqlx::query_as(
        "SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM point_transactions)",
    )
    .fetch_one(pool);
    let (inconsistencies, orphan_balances, (total_students, total_transactions), chain): (
        _,
        Vec<String>,
        (i64, i64),
        _,
    ) = tokio::try_join!(
        drift_everyone(pool, drift_parts()),
        async { Ok(orphans.await?) },
        async { Ok(counts.await?) },
        chain::verify(db, checkpoint, full_chain),
    )?;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db::Db, ledger::ids::new_id};

    /// A school of `students` students with ledger rows each but `without_rows`, whose
    /// balances are then moved behind the ledger's back for `drifted` (and deleted for
    /// `deleted`). Returns the database and the students' ids in index order.
    async fn school_with_drift(
        dir: &std::path::Path,
        students: usize,
        without_rows: &[usize],
        drifted: &[usize],
        deleted: &[usize],
    ) -> (Db, Vec<String>) {
        let db = Db::open(&format!("sqlite://{}/check.db", dir.display()))
            .await
            .unwrap();
        let conn = db.connect_writer().unwrap();
        let now = crate::ledger::clock::now();
        let (teacher, class) = (new_id(), new_id());
        conn.execute(
            "INSERT INTO users (id, username, name, role, created_at) VALUES (?1, 't', 'T', 'teacher', ?2)",
            [&teacher, &now],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO classes (id, name, created_at) VALUES (?1, 'C', ?2)",
            [&class, &now],
        )
        .unwrap();
        let ids: Vec<String> = (0..students).map(|_| new_id()).collect();
        let mut seq = 0;
        for (i, id) in ids.iter().enumerate() {
            conn.execute(
                "INSERT INTO students (id, class_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                [id, &class, &format!("S{i}"), &now],
            )
            .unwrap();
            if without_rows.contains(&i) {
                continue;
            }
            for points in [i as i64 + 1, -1, 3] {
                seq += 1;
                conn.execute(
                    "INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
                     transaction_type, reason, created_at, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'add_points', '', ?6, ?7)",
                    rusqlite::params![seq, new_id(), id, teacher, points, now, "0".repeat(64)],
                )
                .unwrap();
            }
        }
        for &i in drifted {
            conn.execute(
                "UPDATE student_points SET points = points + 10 WHERE student_id = ?1",
                [&ids[i]],
            )
            .unwrap();
        }
        for &i in deleted {
            conn.execute(
                "DELETE FROM student_points WHERE student_id = ?1",
                [&ids[i]],
            )
            .unwrap();
        }
        (db, ids)
    }

    #[tokio::test]
    async fn the_drift_split_into_parts_finds_exactly_what_one_query_finds() {
        let dir = tempfile::tempdir().unwrap();
        // Drift at both ends of the id order and in between, wherever the pivots fall.
        let (drifted, deleted) = ([0, 3, 4, 9, 16, 22], [12]);
        let (db, ids) = school_with_drift(dir.path(), 23, &[7, 15], &drifted, &deleted).await;
        let mut expected: Vec<&String> = drifted.iter().chain(&deleted).map(|&i| &ids[i]).collect();
        expected.sort();

        let whole = drift(db.pool(), None).await.unwrap();
        let found: Vec<&String> = whole.iter().map(|d| &d.student_id).collect();
        assert_eq!(found, expected);
        for parts in [2, 3, 4, 5, 22, 23, 24, 100] {
            assert_eq!(
                drift_everyone(db.pool(), parts).await.unwrap(),
                whole,
                "split into {parts} parts"
            );
        }
    }

    #[tokio::test]
    async fn the_drift_split_into_parts_of_an_empty_school_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = school_with_drift(dir.path(), 0, &[], &[], &[]).await;
        for parts in [1, 2, 4] {
            assert!(drift_everyone(db.pool(), parts).await.unwrap().is_empty());
        }
    }
}
