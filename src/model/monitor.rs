//! What the monitor shows: runs of the consistency check, alerts, repairs and traffic.

use super::{ConsistencyReport, HealthStatus, Inconsistency, RepairedBalance};
use serde::{Deserialize, Serialize};

/// What an alert is about. At most one alert of each kind is open at a time.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Balances differed from the ledger.
    Inconsistency,
    /// A ledger row no longer matches its hash: history was edited behind the application.
    HashChain,
    /// Too many requests failed with a server error.
    ErrorRate,
    /// Requests were slow (p95 above the threshold).
    Latency,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::Inconsistency,
        AlertKind::HashChain,
        AlertKind::ErrorRate,
        AlertKind::Latency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Inconsistency => "inconsistency",
            AlertKind::HashChain => "hash_chain",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::Latency => "latency",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// The figures an alert's `details` JSON holds, as far as the interface words them (each kind
/// fills its own; an alert stored before a figure was recorded lacks it).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AlertFigures {
    /// Inconsistency: balances that differed, and orphan balances among them.
    pub inconsistent_students: Option<i64>,
    pub orphan_balances: Option<i64>,
    pub consistency_rate: Option<f64>,
    pub repaired: Option<i64>,
    pub auto_fix: Option<bool>,
    /// Hash chain: the first row whose hash did not match.
    pub first_broken_seq: Option<i64>,
    /// Error rate and latency: the window, its traffic and the threshold crossed.
    pub minutes: Option<i64>,
    pub requests: Option<i64>,
    pub errors: Option<i64>,
    pub error_rate: Option<f64>,
    pub threshold_percent: Option<f64>,
    pub p95_ms: Option<f64>,
    pub threshold_ms: Option<f64>,
}

impl AlertFigures {
    /// The figures in an alert's `details`; none when it is not the JSON object expected.
    pub fn of(details: &str) -> Self {
        serde_json::from_str(details).unwrap_or_default()
    }
}

/// A condition the monitor found, before it is stored as an [`Alert`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCondition {
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    /// Figures behind the message, as a JSON object.
    pub details: String,
}

/// An alert as stored: raised when its condition first appeared, resolved when a later run no
/// longer found it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    pub details: String,
    pub raised_at: String,
    pub resolved_at: Option<String>,
}

/// One consistency check as the run log keeps it: what it found, and what it fixed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorRun {
    pub id: i64,
    pub started_at: String,
    pub duration_ms: f64,
    /// background, manual or api.
    pub trigger: String,
    /// The status found, before any repair.
    pub status: HealthStatus,
    pub total_students: i64,
    pub inconsistent_students: i64,
    pub total_transactions: i64,
    pub chain_ok: bool,
    /// Balances this run repaired.
    pub fixed: i64,
}

/// A repair from the audit log, with names to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairEntry {
    pub id: i64,
    pub student_id: String,
    /// `None` when the student no longer exists (an orphan balance).
    pub student_name: Option<String>,
    pub old_points: Option<i64>,
    pub new_points: i64,
    /// The admin's name, or `system` for the background monitor.
    pub actor: String,
    pub reason: String,
    pub created_at: String,
}

/// Requests served in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficMinute {
    /// The minute's start, `2026-11-26T08:05Z`.
    pub minute: String,
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// Latency percentiles in milliseconds (`None` without requests).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl TrafficMinute {
    /// Percentage of requests that failed with a server error.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 * 100.0 / self.requests as f64
        }
    }
}

/// How the background monitor is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorSettings {
    /// Seconds between background checks; 0 when the background monitor is off.
    pub interval_seconds: u64,
    pub auto_fix: bool,
    /// Alert when more than this percentage of requests fail.
    pub error_rate_percent: f64,
    /// Alert when the p95 latency is above this many milliseconds.
    pub p95_ms: f64,
    pub webhook: bool,
}

/// A drifted balance with the student's name and class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InconsistentStudent {
    pub inconsistency: Inconsistency,
    pub name: String,
    pub class_name: String,
}

/// The writer's counters since the server started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriterFigures {
    pub queue_depth: usize,
    pub commits: u64,
    pub requests: u64,
    pub ledger_rows: u64,
    pub requests_per_commit: f64,
}

/// Everything the monitor page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorOverview {
    pub report: ConsistencyReport,
    pub inconsistent: Vec<InconsistentStudent>,
    pub runs: Vec<MonitorRun>,
    pub open_alerts: Vec<Alert>,
    pub recent_alerts: Vec<Alert>,
    pub repairs: Vec<RepairEntry>,
    /// The last hour, oldest first, one entry per minute.
    pub traffic: Vec<TrafficMinute>,
    pub settings: MonitorSettings,
    pub writer: WriterFigures,
    /// The school's offset from UTC, so times read as the school's clock.
    pub utc_offset_minutes: i32,
}

/// What one monitor run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: MonitorRun,
    pub repaired: Vec<RepairedBalance>,
    pub raised: Vec<Alert>,
    pub resolved: Vec<Alert>,
}
