//! The API's response bodies, as types: handlers return them and the OpenAPI document
//! describes the same types, so the two cannot disagree.

use crate::{
    ledger::access::SignedIn,
    model::{
        BackupDownload, ChainStatus, ClassInfo, GroupInfo, Inconsistency, PointTransaction, Preset,
        RepairedBalance, SignInLock, StudentBalance, StudentInfo, UserInfo,
    },
};
use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// 201 with `body`; a replay of an earlier request with the same `Idempotency-Key` says so in
/// the `Idempotent-Replayed: true` header.
pub fn created(body: impl Serialize, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// `{"error": {...}}`, the body of every 4xx and 5xx.
#[derive(Serialize, ToSchema)]
pub struct ErrorReply {
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// validation, not_found, unauthorized, forbidden, conflict, rule_violation,
    /// too_many_attempts, unavailable or internal.
    pub code: String,
    pub message: String,
    /// The request field to fix (validation errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The rule that refused the change (rule violations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The rule's bound: the largest change, the daily cap or the lowest balance (rule
    /// violations of those rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The figure that broke the bound: the change asked for, the points already awarded
    /// today, or the balance the change would leave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<i64>,
    /// In a batch, the student the refusal is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student_id: Option<String>,
    /// The kind of record not found: student, class, group, user, transaction or batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The id not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why, where it is a common refusal or conflict: not_class_teacher, admin_only;
    /// already_undone, id_taken, group_name_taken, student_no_taken, username_taken,
    /// last_active_admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/points`: the transaction and the student's balance after it.
#[derive(Serialize, ToSchema)]
pub struct CreatedTransaction {
    pub transaction: PointTransaction,
    pub student_id: String,
    pub points: i64,
}

/// Rows written by a batch or an undo, and each touched student's balance after them.
#[derive(Serialize, ToSchema)]
pub struct PointsWritten {
    pub batch_id: Option<String>,
    pub transactions: Vec<PointTransaction>,
    pub balances: Vec<StudentBalance>,
}

/// `GET /api/points?student_id=…`: one student's points (and transactions when asked).
#[derive(Serialize, ToSchema)]
pub struct StudentPoints {
    pub student_id: String,
    pub points: i64,
    /// Newest first; present when `transactions=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<PointTransaction>>,
}

/// `GET /api/points` without `student_id`: every student the caller may see.
#[derive(Serialize, ToSchema)]
pub struct Balances {
    pub balances: Vec<StudentInfo>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PointsReply {
    Student(StudentPoints),
    All(Balances),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitorHealth {
    /// healthy, degraded or unhealthy.
    pub status: String,
    pub checked_at: String,
    pub chain: ChainStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitorSummary {
    pub total_students: i64,
    pub consistent_students: i64,
    pub inconsistent_students: i64,
    /// Percent, 0–100.
    pub consistency_rate: f64,
    pub total_transactions: i64,
    /// Balance rows whose student does not exist.
    pub orphan_balances: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitorPerformance {
    pub check_duration_ms: f64,
    pub writer_queue_depth: usize,
    pub writer_commits: u64,
    pub writer_requests: u64,
    pub requests_per_commit: f64,
    pub busy_retries: u64,
}

/// `GET /api/points/monitor`, in the old system's shape.
#[derive(Serialize, ToSchema)]
pub struct MonitorReport {
    pub health: MonitorHealth,
    pub summary: MonitorSummary,
    pub inconsistencies: Vec<Inconsistency>,
    pub performance: MonitorPerformance,
}

/// `GET /api/points/monitor?student_id=…`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StudentCheck {
    #[serde(rename = "student_id")]
    pub student_id: String,
    pub points: i64,
    /// The sum of the student's ledger.
    pub expected: i64,
    pub consistent: bool,
    pub inconsistency: Option<Inconsistency>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusOnly {
    pub status: String,
}

/// `POST /api/points/monitor?auto_fix=true`.
#[derive(Serialize, ToSchema)]
pub struct FixReport {
    pub message: String,
    pub fixed: usize,
    pub repaired: Vec<RepairedBalance>,
    pub health: StatusOnly,
    pub summary: MonitorSummary,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum MonitorReply {
    Report(MonitorReport),
    Student(StudentCheck),
    Fixed(FixReport),
}

#[derive(Serialize, ToSchema)]
pub struct LoginReply {
    pub token: String,
    pub user: SignedIn,
}

#[derive(Serialize, ToSchema)]
pub struct TokenReply {
    pub id: String,
    /// Shown once; only its hash is stored.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Users {
    pub users: Vec<UserInfo>,
    /// Accounts refusing sign-in for now after too many wrong passwords.
    pub sign_in_locks: Vec<SignInLock>,
}

#[derive(Serialize, ToSchema)]
pub struct Classes {
    pub classes: Vec<ClassInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct Students {
    pub students: Vec<StudentInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct Groups {
    pub groups: Vec<GroupInfo>,
}

/// The presets a class's award sheet shows.
#[derive(Serialize, ToSchema)]
pub struct ClassPresets {
    pub presets: Vec<Preset>,
    /// `true`: the class's own; `false`: the school's.
    pub own: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SchoolPresets {
    pub presets: Vec<Preset>,
}

/// `Content-Disposition` for a download named `name.ext`: a plain ASCII name for old clients
/// and the real one (a class name is often Chinese) percent-encoded as RFC 6266 allows.
pub fn attachment(name: &str, ext: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = format!("{name}.{ext}")
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}.{ext}\"; filename*=UTF-8''{encoded}")
}

/// `GET /api/backup/downloads`: the latest copies of the whole database admins downloaded.
#[derive(Serialize, ToSchema)]
pub struct BackupDownloads {
    /// Newest first.
    pub downloads: Vec<BackupDownload>,
}
