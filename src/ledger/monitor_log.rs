//! The monitor's records: one row per consistency run, alerts raised and resolved by the runs,
//! the repairs' audit, and the record of backup downloads. Written by the writer like
//! everything else; read from the pool.

use super::{Actor, clock, roster::require_admin};
use crate::{
    error::AppError,
    model::{Alert, AlertCondition, AlertKind, HealthStatus, MonitorRun, RepairEntry, Severity},
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

/// A finished run, to be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub started_at: String,
    pub duration_micros: i64,
    pub trigger: String,
    pub status: HealthStatus,
    pub total_students: i64,
    pub inconsistent_students: i64,
    pub total_transactions: i64,
    pub chain_ok: bool,
    pub fixed: i64,
}

/// What storing a run changed in the alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertChanges {
    pub raised: Vec<Alert>,
    pub resolved: Vec<Alert>,
}

const ALERT_COLUMNS: &str = "id, kind, severity, message, details, raised_at, resolved_at";

type AlertRow = (i64, String, String, String, String, String, Option<String>);

fn alert_from(
    (id, kind, severity, message, details, raised_at, resolved_at): AlertRow,
) -> Option<Alert> {
    Some(Alert {
        id,
        kind: AlertKind::parse(&kind)?,
        severity: Severity::parse(&severity)?,
        message,
        details,
        raised_at,
        resolved_at,
    })
}

/// Stores a run and reconciles the alerts with what it found: a condition without an open
/// alert of its kind raises one; an open alert whose condition is gone is resolved.
pub(crate) fn record_run(
    conn: &Connection,
    actor: &Actor,
    run: &RunRecord,
    conditions: &[AlertCondition],
) -> Result<(i64, AlertChanges), AppError> {
    require_admin(actor, "record monitor runs")?;
    conn.prepare_cached(
        "INSERT INTO monitor_runs (started_at, duration_ms, trigger, status, total_students, \
         inconsistent_students, total_transactions, chain_ok, fixed) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        run.started_at,
        run.duration_micros as f64 / 1000.0,
        run.trigger,
        run.status.as_str(),
        run.total_students,
        run.inconsistent_students,
        run.total_transactions,
        run.chain_ok,
        run.fixed
    ])?;
    let run_id = conn.last_insert_rowid();
    let now = clock::now();
    let mut changes = AlertChanges::default();
    for kind in AlertKind::ALL {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE kind = ? AND resolved_at IS NULL \
             ORDER BY id DESC LIMIT 1"
        );
        let open: Option<AlertRow> = conn
            .prepare_cached(&sql)?
            .query_row([kind.as_str()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .optional()?;
        let open = open.and_then(alert_from);
        let condition = conditions.iter().find(|c| c.kind == kind);
        match (condition, open) {
            (Some(found), None) => {
                conn.prepare_cached(
                    "INSERT INTO alerts (kind, severity, message, details, raised_at) \
                     VALUES (?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    kind.as_str(),
                    found.severity.as_str(),
                    found.message,
                    found.details,
                    now
                ])?;
                changes.raised.push(Alert {
                    id: conn.last_insert_rowid(),
                    kind,
                    severity: found.severity,
                    message: found.message.clone(),
                    details: found.details.clone(),
                    raised_at: now.clone(),
                    resolved_at: None,
                });
            }
            (None, Some(mut open)) => {
                conn.prepare_cached("UPDATE alerts SET resolved_at = ? WHERE id = ?")?
                    .execute(params![now, open.id])?;
                open.resolved_at = Some(now.clone());
                changes.resolved.push(open);
            }
            // Still there (the open alert stands), or still absent.
            _ => {}
        }
    }
    Ok((run_id, changes))
}

type RunRow = (i64, String, f64, String, String, i64, i64, i64, bool, i64);

pub(crate) async fn runs(pool: &SqlitePool, limit: i64) -> Result<Vec<MonitorRun>, AppError> {
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT id, started_at, duration_ms, trigger, status, total_students, \
         inconsistent_students, total_transactions, chain_ok, fixed \
         FROM monitor_runs ORDER BY id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                id,
                started_at,
                duration_ms,
                trigger,
                status,
                total,
                inconsistent,
                transactions,
                chain_ok,
                fixed,
            )| {
                let status = match status.as_str() {
                    "healthy" => HealthStatus::Healthy,
                    "degraded" => HealthStatus::Degraded,
                    "unhealthy" => HealthStatus::Unhealthy,
                    _ => return None,
                };
                Some(MonitorRun {
                    id,
                    started_at,
                    duration_ms,
                    trigger,
                    status,
                    total_students: total,
                    inconsistent_students: inconsistent,
                    total_transactions: transactions,
                    chain_ok,
                    fixed,
                })
            },
        )
        .collect())
}

/// Open alerts (newest first), or the latest alerts whatever their state.
pub(crate) async fn alerts(
    pool: &SqlitePool,
    open_only: bool,
    limit: i64,
) -> Result<Vec<Alert>, AppError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE NOT ? OR resolved_at IS NULL \
         ORDER BY id DESC LIMIT ?"
    );
    let rows: Vec<AlertRow> = sqlx::query_as(&sql)
        .bind(open_only)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().filter_map(alert_from).collect())
}

/// The latest repairs, with the student's and the admin's names.
pub(crate) async fn repairs(pool: &SqlitePool, limit: i64) -> Result<Vec<RepairEntry>, AppError> {
    type Row = (
        i64,
        String,
        Option<String>,
        Option<i64>,
        i64,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.id, r.student_id, s.name, r.old_points, r.new_points, \
                COALESCE(u.name, r.actor), r.reason, r.created_at \
         FROM repairs r LEFT JOIN students s ON s.id = r.student_id \
         LEFT JOIN users u ON u.id = r.actor ORDER BY r.id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, student_id, student_name, old_points, new_points, actor, reason, created_at)| {
                RepairEntry {
                    id,
                    student_id,
                    student_name,
                    old_points,
                    new_points,
                    actor,
                    reason,
                    created_at,
                }
            },
        )
        .collect())
}

/// Records a download of the whole database by the acting admin, and answers the record as
/// `Db::backup_downloads` lists it.
pub(crate) fn record_backup_download(
    conn: &Connection,
    actor: &Actor,
    bytes: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<crate::model::BackupDownload, AppError> {
    require_admin(actor, "download a backup")?;
    let Actor::User { id: user_id, .. } = actor else {
        return Err(AppError::forbidden(
            "a backup download is recorded for the admin who took it",
        ));
    };
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    let taken_at = clock::format(now);
    conn.prepare_cached(
        "INSERT INTO backup_downloads (user_id, bytes, taken_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![user_id, bytes, taken_at])?;
    let taken_by = conn
        .prepare_cached("SELECT COALESCE((SELECT name FROM users WHERE id = ?1), ?1)")?
        .query_row(params![user_id], |row| row.get(0))?;
    Ok(crate::model::BackupDownload {
        id: conn.last_insert_rowid(),
        user_id: user_id.clone(),
        taken_by,
        bytes,
        taken_at,
    })
}
