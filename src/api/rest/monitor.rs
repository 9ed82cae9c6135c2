//! `/api/points/monitor`: the old system's health check and auto-fix, for admins.

use super::extract::{ApiQuery, Auth};
use crate::{
    error::AppError,
    ledger::{Actor, Command, Ledger, Outcome, RepairScope},
    model::ConsistencyReport,
    server::AppState,
};
use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// The report in the specification's shape (`health`, camelCase `summary`, `inconsistencies`),
/// plus the hash chain and the writer's figures.
pub fn report_json(ledger: &Ledger, report: &ConsistencyReport) -> Value {
    let stats = ledger.stats();
    let batches = stats.batches.load(Ordering::Relaxed);
    let requests = stats.requests.load(Ordering::Relaxed);
    json!({
        "health": {
            "status": report.status.as_str(),
            "checkedAt": report.checked_at,
            "chain": report.chain,
        },
        "summary": {
            "totalStudents": report.total_students,
            "consistentStudents": report.consistent_students,
            "inconsistentStudents": report.inconsistent_students,
            "consistencyRate": report.consistency_rate,
            "totalTransactions": report.total_transactions,
            "orphanBalances": report.orphan_balances,
        },
        "inconsistencies": report.inconsistencies,
        "performance": {
            "checkDurationMs": report.duration_ms,
            "writerQueueDepth": ledger.queue_depth(),
            "writerCommits": batches,
            "writerRequests": requests,
            "requestsPerCommit": if batches == 0 { 0.0 } else { requests as f64 / batches as f64 },
            "busyRetries": stats.busy_retries.load(Ordering::Relaxed),
        },
    })
}

#[derive(Deserialize)]
pub struct ReportQuery {
    student_id: Option<String>,
    /// Re-hash the whole ledger instead of only rows added since the last check.
    #[serde(default)]
    full: bool,
}

/// `GET /api/points/monitor` (admin) → health, summary, inconsistencies, performance.
/// With `student_id`, that one student: `{student_id, points, expected, consistent, …}`.
pub async fn report(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, AppError> {
    auth.require_admin()?;
    if let Some(student_id) = query.student_id {
        crate::model::validate_id("student_id", &student_id)?;
        let drift = state.ledger.check_student(&student_id).await?;
        let points = state.ledger.balance(&student_id).await?;
        let transactions = state.ledger.history(&student_id, 1000).await?.len();
        return Ok(Json(json!({
            "student_id": student_id,
            "points": points,
            "expected": drift.as_ref().map_or(points, |d| d.expected),
            "consistent": drift.is_none(),
            "inconsistency": drift,
            "recentTransactions": transactions,
        })));
    }
    let report = state.ledger.check(query.full).await?;
    Ok(Json(report_json(&state.ledger, &report)))
}

#[derive(Deserialize)]
pub struct FixQuery {
    #[serde(default)]
    auto_fix: bool,
    student_id: Option<String>,
}

/// Repairs drifted balances (through the writer, with an audit row each) and reports.
pub async fn repair(
    ledger: &Ledger,
    actor: Actor,
    student_id: Option<String>,
) -> Result<Value, AppError> {
    let outcome = ledger
        .run(
            actor,
            Command::Repair(RepairScope {
                student_id,
                reason: "auto-fix requested through the monitor".into(),
            }),
        )
        .await?;
    let Outcome::Repaired { repaired } = outcome else {
        return Err(AppError::internal("repair returned another outcome"));
    };
    let after = ledger.check(false).await?;
    Ok(json!({
        "message": match repaired.len() {
            0 => "all balances already match the ledger; nothing to fix".to_owned(),
            n => format!("fixed {n} balance(s) to match the ledger"),
        },
        "fixed": repaired.len(),
        "repaired": repaired,
        "health": { "status": after.status.as_str() },
        "summary": report_json(ledger, &after)["summary"].clone(),
    }))
}

/// `POST /api/points/monitor?auto_fix=true` (admin) → `{message, fixed, repaired, …}`.
/// Without `auto_fix=true` it only checks, like GET.
pub async fn fix(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<FixQuery>,
) -> Result<Json<Value>, AppError> {
    auth.require_admin()?;
    if !query.auto_fix {
        let report = state.ledger.check(false).await?;
        return Ok(Json(report_json(&state.ledger, &report)));
    }
    Ok(Json(
        repair(&state.ledger, auth.0.actor(), query.student_id).await?,
    ))
}
