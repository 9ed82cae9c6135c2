//! Plain data shared by the server and the browser.

mod monitor;

pub use monitor::*;
use serde::{Deserialize, Serialize};

/// What the status page shows: which database the server uses and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    pub version: String,
    pub database_path: String,
    pub sqlite_version: String,
    pub journal_mode: String,
    pub applied_migrations: i64,
    pub tables: Vec<TableRows>,
    pub checked_at: String,
    /// The school's clock (its rules), which the page reads `checked_at` on.
    pub utc_offset_minutes: i32,
    /// The latest copies of the whole database admins downloaded, newest first.
    pub backup_downloads: Vec<BackupDownload>,
}

/// A copy of the whole database an admin downloaded (`GET /api/backup`): who and when, since
/// the file holds every account's password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BackupDownload {
    pub id: i64,
    /// The admin's account id.
    pub user_id: String,
    /// The admin's name (their id if the account is gone).
    pub taken_by: String,
    pub bytes: i64,
    /// UTC, RFC 3339.
    pub taken_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

/// Validates an opaque record id: 15 lowercase ASCII letters or digits, like the old system's.
pub fn validate_id(field: &str, value: &str) -> Result<(), crate::error::AppError> {
    if value.len() == ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(crate::error::AppError::invalid(
            field,
            crate::error::Problem::NotAnId { len: ID_LEN },
        ))
    }
}

pub const ID_LEN: usize = 15;

/// Who may do what. Stored as `users.role`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Teacher,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "teacher" => Some(Role::Teacher),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Kinds of ledger rows (`point_transactions.transaction_type`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionType {
    /// Points given; `points_change` > 0.
    AddPoints,
    /// Points taken away (e.g. homework missing); `points_change` < 0.
    DeductPoints,
    /// Points spent on a reward; `points_change` < 0.
    Redeem,
    /// Undo of an earlier row; the exact opposite of the row it reverses.
    Reversal,
    /// A row imported from the old system as it was.
    Legacy,
}

impl TransactionType {
    pub const ALL: [TransactionType; 5] = [
        TransactionType::AddPoints,
        TransactionType::DeductPoints,
        TransactionType::Redeem,
        TransactionType::Reversal,
        TransactionType::Legacy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::AddPoints => "add_points",
            TransactionType::DeductPoints => "deduct_points",
            TransactionType::Redeem => "redeem",
            TransactionType::Reversal => "reversal",
            TransactionType::Legacy => "legacy",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// The type a change implies when the client names none: awards are positive.
    pub fn implied_by(points_change: i64) -> Self {
        if points_change < 0 {
            TransactionType::DeductPoints
        } else {
            TransactionType::AddPoints
        }
    }

    /// Types a client may request directly; reversals come from undo, legacy rows from import.
    pub fn is_direct(self) -> bool {
        matches!(
            self,
            TransactionType::AddPoints | TransactionType::DeductPoints | TransactionType::Redeem
        )
    }
}

/// One ledger row as clients see it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointTransaction {
    pub id: String,
    pub student_id: String,
    pub teacher_id: String,
    pub points_change: i64,
    pub transaction_type: TransactionType,
    pub reason: String,
    pub batch_id: Option<String>,
    pub reverses_id: Option<String>,
    pub created_at: String,
}

/// A student's balance after a change.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentBalance {
    pub student_id: String,
    pub points: i64,
}

/// Overall verdict of a consistency check.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every balance equals its ledger and the hash chain is intact.
    Healthy,
    /// Some balances drifted, but at least 99 % are consistent.
    Degraded,
    /// The hash chain is broken or fewer than 99 % of balances are consistent.
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The verdict for a check's findings. The 99 % line is the specification's
    /// "数据一致性 > 99%" target.
    pub fn from_findings(total_students: i64, inconsistent: i64, chain_ok: bool) -> Self {
        if !chain_ok {
            return HealthStatus::Unhealthy;
        }
        if inconsistent == 0 {
            return HealthStatus::Healthy;
        }
        if consistency_rate(total_students, inconsistent) >= 99.0 {
            HealthStatus::Degraded
        } else {
            HealthStatus::Unhealthy
        }
    }
}

/// Percentage (0–100) of students whose balance equals their ledger; 100 with no students.
pub fn consistency_rate(total_students: i64, inconsistent: i64) -> f64 {
    if total_students <= 0 {
        100.0
    } else {
        let consistent = (total_students - inconsistent).max(0);
        (consistent as f64) * 100.0 / (total_students as f64)
    }
}

/// A balance that disagrees with its ledger.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inconsistency {
    pub student_id: String,
    /// Sum of the student's ledger rows.
    pub expected: i64,
    /// Stored balance; `None` when the balance row is missing.
    pub actual: Option<i64>,
    /// `actual - expected` (a missing balance counts as 0).
    pub difference: i64,
}

/// Result of verifying the ledger's hash chain.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    pub ok: bool,
    /// Rows hashed by this verification (only rows added since the last one, unless full).
    pub verified_rows: i64,
    pub full: bool,
    /// First row (by ledger order) whose hash does not match, if any.
    pub first_broken_seq: Option<i64>,
    pub message: Option<String>,
}

/// Everything a consistency check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyReport {
    pub status: HealthStatus,
    pub total_students: i64,
    pub consistent_students: i64,
    pub inconsistent_students: i64,
    /// Percent, 0–100.
    pub consistency_rate: f64,
    pub total_transactions: i64,
    pub inconsistencies: Vec<Inconsistency>,
    /// Balance rows whose student does not exist.
    pub orphan_balances: Vec<String>,
    pub chain: ChainStatus,
    pub checked_at: String,
    pub duration_ms: f64,
}

/// One balance the repair changed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairedBalance {
    pub student_id: String,
    pub old_points: Option<i64>,
    pub new_points: i64,
}

/// A class as listed to the people who may see it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassInfo {
    pub id: String,
    pub name: String,
    pub archived: bool,
    pub students: i64,
    pub teacher_ids: Vec<String>,
}

/// A student with their balance.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentInfo {
    pub id: String,
    pub class_id: String,
    pub name: String,
    pub student_no: Option<String>,
    pub points: i64,
    pub archived: bool,
}

/// A user account as admins see it (never with its password hash).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
}

/// An account that refuses sign-in for now: too many wrong passwords were tried for it. An
/// admin can lift the lock (or set a new password, which lifts it too).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLock {
    pub user_id: String,
    pub username: String,
    /// Wrong passwords counted against the account.
    pub failed_attempts: u32,
    /// Seconds until the account accepts a sign-in again.
    pub retry_after_seconds: u64,
}

/// Every account, and those of them locked after failed sign-ins (the admin's accounts page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    pub users: Vec<UserInfo>,
    pub sign_in_locks: Vec<SignInLock>,
}

/// A one-tap award button: a reason and a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Preset {
    pub reason: String,
    pub points: i64,
}

/// Most presets one class may have (they must fit the award sheet).
pub const MAX_PRESETS: usize = 12;
/// Longest preset reason, in characters (it is a button label).
pub const MAX_PRESET_REASON_CHARS: usize = 40;

/// What is wrong with a required line of text (a name, a preset's reason), if anything.
pub fn text_problem(value: &str, max_chars: usize) -> Option<crate::error::Problem> {
    use crate::error::Problem;
    let chars = value.chars().count();
    if chars == 0 {
        Some(Problem::Empty)
    } else if chars > max_chars {
        Some(Problem::TooLong { max_chars })
    } else if value.chars().any(char::is_control) {
        Some(Problem::ControlCharacters)
    } else {
        None
    }
}

/// Checks a list of presets before it is stored: 1–[`MAX_PRESETS`] entries, each with a
/// reason of 1–[`MAX_PRESET_REASON_CHARS`] characters and a non-zero value within the hard
/// limit. Errors name the entry (`presets[2].points`). Returns the list with reasons trimmed.
pub fn validate_presets(presets: &[Preset]) -> Result<Vec<Preset>, crate::error::AppError> {
    use crate::error::{AppError, Problem};
    if presets.is_empty() {
        return Err(AppError::invalid(
            "presets",
            Problem::TooFew { min_items: 1 },
        ));
    }
    if presets.len() > MAX_PRESETS {
        return Err(AppError::invalid(
            "presets",
            Problem::TooMany {
                max_items: MAX_PRESETS,
            },
        ));
    }
    presets
        .iter()
        .enumerate()
        .map(|(i, preset)| {
            let reason = preset.reason.trim();
            if let Some(problem) = text_problem(reason, MAX_PRESET_REASON_CHARS) {
                return Err(AppError::invalid(format!("presets[{i}].reason"), problem));
            }
            let limit = crate::rules::HARD_MAX_ABS_CHANGE;
            let points_problem = if preset.points == 0 {
                Some(Problem::Zero)
            } else if preset.points.abs() > limit {
                Some(Problem::OutOfRange {
                    min: -limit,
                    max: limit,
                })
            } else {
                None
            };
            if let Some(problem) = points_problem {
                return Err(AppError::invalid(format!("presets[{i}].points"), problem));
            }
            Ok(Preset {
                reason: reason.to_owned(),
                points: preset.points,
            })
        })
        .collect()
}

/// The presets every class starts with.
pub fn default_presets() -> Vec<Preset> {
    [
        ("课堂表现优秀", 1),
        ("积极发言", 1),
        ("作业优秀", 2),
        ("帮助同学", 1),
        ("未交作业", -1),
        ("迟到", -1),
    ]
    .into_iter()
    .map(|(reason, points)| Preset {
        reason: reason.to_owned(),
        points,
    })
    .collect()
}

/// Everything the classroom board shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub class: ClassInfo,
    pub students: Vec<StudentInfo>,
    pub groups: Vec<GroupInfo>,
    pub presets: Vec<Preset>,
    /// Whether the class has presets of its own (else the school's are shown).
    pub custom_presets: bool,
    /// Whether the signed-in user may record redemptions (the rules page can forbid it), so the
    /// board offers only what the server will take.
    pub can_redeem: bool,
}

/// What a write from the board produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Awarded {
    pub batch_id: Option<String>,
    pub transactions: Vec<PointTransaction>,
    pub balances: Vec<StudentBalance>,
}

/// What a live board receives when its class changes elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveUpdate {
    /// New balances to show.
    pub balances: Vec<StudentBalance>,
    /// The roster or much else changed (or updates were missed): reload the board.
    pub reload: bool,
}

/// One line of a student's history: the row, who recorded it, and what undid it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub transaction: PointTransaction,
    pub teacher_name: String,
    /// The reversal that undid this row, if any.
    pub undone_by: Option<String>,
}

/// A page of a student's history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Whether older rows lie beyond the last entry.
    pub older: bool,
}

/// A student's page: who they are and the newest page of their ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentHistory {
    pub student: StudentInfo,
    pub class_name: String,
    pub page: HistoryPage,
    /// The school's offset from UTC, so times read as the school's clock.
    pub utc_offset_minutes: i32,
}

/// Balance after each row, oldest first, from the current balance and the newest-first
/// history (which may be only the latest part of the ledger).
pub fn balance_series<'a>(
    current: i64,
    newest_first: impl IntoIterator<Item = &'a HistoryEntry>,
) -> Vec<(String, i64)> {
    let mut balance = current;
    let mut series: Vec<(String, i64)> = newest_first
        .into_iter()
        .map(|entry| {
            let point = (entry.transaction.created_at.clone(), balance);
            balance -= entry.transaction.points_change;
            point
        })
        .collect();
    series.reverse();
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(points_change: i64, at: &str) -> HistoryEntry {
        HistoryEntry {
            transaction: PointTransaction {
                id: "t".into(),
                student_id: "s".into(),
                teacher_id: "u".into(),
                points_change,
                transaction_type: TransactionType::implied_by(points_change),
                reason: String::new(),
                batch_id: None,
                reverses_id: None,
                created_at: at.into(),
            },
            teacher_name: "T".into(),
            undone_by: None,
        }
    }

    #[test]
    fn balance_series_runs_forward_from_the_oldest_listed_row() {
        // Newest first: +2 (balance 5), -1 (balance 3), +4 (balance 4): started at 0.
        let newest_first = [entry(2, "c"), entry(-1, "b"), entry(4, "a")];
        assert_eq!(
            balance_series(5, &newest_first),
            vec![("a".into(), 4), ("b".into(), 3), ("c".into(), 5)]
        );
        assert!(balance_series(7, &[]).is_empty());
    }

    #[test]
    fn health_follows_the_ninety_nine_percent_line() {
        assert_eq!(
            HealthStatus::from_findings(100, 0, true),
            HealthStatus::Healthy
        );
        assert_eq!(
            HealthStatus::from_findings(100, 1, true),
            HealthStatus::Degraded
        );
        assert_eq!(
            HealthStatus::from_findings(100, 2, true),
            HealthStatus::Unhealthy
        );
        assert_eq!(
            HealthStatus::from_findings(100, 0, false),
            HealthStatus::Unhealthy
        );
        assert_eq!(consistency_rate(0, 0), 100.0);
        assert_eq!(consistency_rate(4, 1), 75.0);
    }

    #[test]
    fn presets_are_checked_entry_by_entry() {
        let preset = |reason: &str, points| Preset {
            reason: reason.into(),
            points,
        };
        assert_eq!(
            validate_presets(&[preset("  朗读  ", 2)]).unwrap(),
            vec![preset("朗读", 2)]
        );
        let field = |list: &[Preset]| match validate_presets(list) {
            Err(crate::error::AppError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(field(&[]), "presets");
        assert_eq!(field(&vec![preset("a", 1); MAX_PRESETS + 1]), "presets");
        assert_eq!(
            field(&[preset("a", 1), preset(" ", 1)]),
            "presets[1].reason"
        );
        assert_eq!(field(&[preset(&"长".repeat(41), 1)]), "presets[0].reason");
        assert_eq!(
            field(&[preset("a", 1), preset("b", 0)]),
            "presets[1].points"
        );
        assert_eq!(field(&[preset("a", 2_000_000)]), "presets[0].points");
        assert!(validate_presets(&default_presets()).is_ok());
    }

    #[test]
    fn ids_are_fifteen_lowercase_letters_or_digits() {
        assert!(validate_id("id", "76o50j4kfqnjk0g").is_ok());
        for bad in [
            "",
            "76o50j4kfqnjk0",
            "76o50j4kfqnjk0gg",
            "76O50J4KFQNJK0G",
            "76o50j4kfqnjk0-",
        ] {
            assert!(validate_id("id", bad).is_err(), "{bad}");
        }
    }
}

/// One student line of a roster CSV.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterRow {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    pub class: String,
    pub name: String,
    pub student_no: Option<String>,
    pub id: Option<String>,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: usize,
    pub message: String,
    /// The refusal itself, for the interface to word in its own language (absent when the
    /// CSV reader could not read the line).
    #[serde(default)]
    pub error: Option<crate::error::AppError>,
    /// The line as read (class, name, number), so a list of refused lines shows whom each
    /// is about and which value clashed; absent when the line could not be read.
    #[serde(default)]
    pub row: Option<RosterRow>,
}

impl RowError {
    /// `row`, refused for `error`.
    pub fn refused(row: &RosterRow, error: crate::error::AppError) -> Self {
        Self {
            line: row.line,
            message: error.to_string(),
            error: Some(error),
            row: Some(row.clone()),
        }
    }
}

/// What a roster import did (or, for a preview, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterReport {
    pub classes_created: Vec<String>,
    pub students_created: usize,
    pub errors: Vec<RowError>,
}

/// What a roster import would do: the lines it would import, the lines it would refuse, and
/// the classes it would create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterPreview {
    pub rows: Vec<RosterRow>,
    pub errors: Vec<RowError>,
    pub new_classes: Vec<String>,
}

/// A group of students within a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    pub student_ids: Vec<String>,
}

/// Draws students at random without repeating anyone until everyone has been drawn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RandomPicker {
    drawn: Vec<String>,
}

impl RandomPicker {
    /// The next student, from those not drawn in this round; `random(n)` returns 0..n.
    pub fn next(
        &mut self,
        everyone: &[String],
        mut random: impl FnMut(usize) -> usize,
    ) -> Option<String> {
        self.drawn.retain(|id| everyone.contains(id));
        if self.drawn.len() >= everyone.len() {
            self.drawn.clear();
        }
        let left: Vec<&String> = everyone
            .iter()
            .filter(|id| !self.drawn.contains(id))
            .collect();
        let pick = left.get(random(left.len()).min(left.len().saturating_sub(1)))?;
        self.drawn.push((*pick).clone());
        Some((*pick).clone())
    }
}

#[cfg(test)]
mod picker_tests {
    use super::RandomPicker;

    #[test]
    fn nobody_is_drawn_twice_until_everyone_was_drawn() {
        let everyone: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        let mut picker = RandomPicker::default();
        let mut seed = 7usize;
        let mut random = move |n: usize| {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            (seed >> 8) % n.max(1)
        };
        for _round in 0..3 {
            let mut round: Vec<String> = (0..5)
                .map(|_| picker.next(&everyone, &mut random).unwrap())
                .collect();
            round.sort();
            assert_eq!(round, everyone, "each round draws everyone once");
        }
        assert_eq!(RandomPicker::default().next(&[], |_| 0), None);
    }
}
