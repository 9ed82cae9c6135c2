//! `/api/points/monitor`: the old system's health check and auto-fix, for admins.

use super::{
    extract::{ApiQuery, Auth},
    replies::{
        ErrorReply, FixReport, MonitorHealth, MonitorPerformance, MonitorReply, MonitorReport,
        MonitorSummary, StatusOnly, StudentCheck,
    },
};
use crate::{
    error::AppError,
    ledger::{Actor, Command, Ledger, Outcome, RepairScope},
    model::ConsistencyReport,
    server::AppState,
};
use axum::{Json, extract::State};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use utoipa::IntoParams;

fn summary(report: &ConsistencyReport) -> MonitorSummary {
    MonitorSummary {
        total_students: report.total_students,
        consistent_students: report.consistent_students,
        inconsistent_students: report.inconsistent_students,
        consistency_rate: report.consistency_rate,
        total_transactions: report.total_transactions,
        orphan_balances: report.orphan_balances.clone(),
    }
}

/// The report in the specification's shape (`health`, camelCase `summary`, `inconsistencies`),
/// plus the hash chain and the writer's figures.
pub fn monitor_report(ledger: &Ledger, report: ConsistencyReport) -> MonitorReport {
    let stats = ledger.stats();
    let commits = stats.batches.load(Ordering::Relaxed);
    let requests = stats.requests.load(Ordering::Relaxed);
    MonitorReport {
        summary: summary(&report),
        performance: MonitorPerformance {
            check_duration_ms: report.duration_ms,
            writer_queue_depth: ledger.queue_depth(),
            writer_commits: commits,
            writer_requests: requests,
            requests_per_commit: if commits == 0 {
                0.0
            } else {
                requests as f64 / commits as f64
            },
            busy_retries: stats.busy_retries.load(Ordering::Relaxed),
        },
        health: MonitorHealth {
            status: report.status.as_str().to_owned(),
            checked_at: report.checked_at,
            chain: report.chain,
        },
        inconsistencies: report.inconsistencies,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Report only this student.
    student_id: Option<String>,
    /// Re-hash the whole ledger instead of only rows added since the last check.
    #[serde(default)]
    full: bool,
}

/// Health check: every balance against its ledger, orphans and the hash chain (admin).
#[utoipa::path(get, path = "/api/points/monitor", tag = "monitor", params(ReportQuery),
    responses((status = 200, body = MonitorReply, description = "MonitorReport, or StudentCheck with student_id"),
        (status = 401, body = ErrorReply), (status = 403, body = ErrorReply), (status = 404, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<MonitorReply>, AppError> {
    auth.require_admin()?;
    if let Some(student_id) = query.student_id {
        crate::model::validate_id("student_id", &student_id)?;
        let drift = state.ledger.check_student(&student_id).await?;
        let points = state.ledger.balance(&student_id).await?;
        return Ok(Json(MonitorReply::Student(StudentCheck {
            expected: drift.as_ref().map_or(points, |d| d.expected),
            consistent: drift.is_none(),
            inconsistency: drift,
            student_id,
            points,
        })));
    }
    let outcome = state
        .monitor
        .run(auth.0.actor(), "api", false, query.full)
        .await?;
    Ok(Json(MonitorReply::Report(monitor_report(
        &state.ledger,
        outcome.found,
    ))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FixQuery {
    /// `true` repairs; without it this only checks, like GET.
    #[serde(default)]
    auto_fix: bool,
    /// Repair only this student.
    student_id: Option<String>,
}

/// Repairs drifted balances (through the writer, with an audit row each) and reports.
pub async fn repair(
    ledger: &Ledger,
    actor: Actor,
    student_id: Option<String>,
) -> Result<FixReport, AppError> {
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
    Ok(FixReport {
        message: fix_message(repaired.len()),
        fixed: repaired.len(),
        repaired,
        health: StatusOnly {
            status: after.status.as_str().to_owned(),
        },
        summary: summary(&after),
    })
}

/// Auto-fix: set every drifted balance to its ledger sum, with an audit row each (admin).
/// Running it again fixes 0.
#[utoipa::path(post, path = "/api/points/monitor", tag = "monitor", params(FixQuery),
    responses((status = 200, body = MonitorReply, description = "FixReport with auto_fix=true, else MonitorReport"),
        (status = 401, body = ErrorReply), (status = 403, body = ErrorReply)),
    security(("bearer" = [])))]
pub async fn fix(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<FixQuery>,
) -> Result<Json<MonitorReply>, AppError> {
    auth.require_admin()?;
    if query.student_id.is_some() && query.auto_fix {
        let fixed = repair(&state.ledger, auth.0.actor(), query.student_id).await?;
        return Ok(Json(MonitorReply::Fixed(fixed)));
    }
    // A whole-school run, recorded in the run log with its alerts.
    let outcome = state
        .monitor
        .run(auth.0.actor(), "api", query.auto_fix, false)
        .await?;
    if !query.auto_fix {
        return Ok(Json(MonitorReply::Report(monitor_report(
            &state.ledger,
            outcome.found,
        ))));
    }
    let repaired = outcome.summary.repaired;
    Ok(Json(MonitorReply::Fixed(FixReport {
        message: fix_message(repaired.len()),
        fixed: repaired.len(),
        repaired,
        health: StatusOnly {
            status: outcome.after.status.as_str().to_owned(),
        },
        summary: summary(&outcome.after),
    })))
}

fn fix_message(fixed: usize) -> String {
    match fixed {
        0 => "all balances already match the ledger; nothing to fix".to_owned(),
        n => format!("fixed {n} balance(s) to match the ledger"),
    }
}
