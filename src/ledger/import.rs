//! Bringing data in: a roster from CSV, and the old system's ledger (server only).

use super::{Actor, Command, Ledger, NewClass, NewStudent, clock, ids::new_id, roster};
use crate::{
    error::{AppError, Clash, Problem},
    model::{TransactionType, validate_id},
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use crate::model::{RosterReport, RosterRow, RowError};

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

/// Reads a roster CSV with a header naming `class` (or 班级) and `name` (or 姓名), and
/// optionally `student_no` (学号) and `id`. Bad lines are reported, good ones returned.
pub fn parse_roster(text: &str) -> Result<(Vec<RosterRow>, Vec<RowError>), AppError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| AppError::validation("csv", format!("cannot read the header line: {e}")))?
        .clone();
    let class = column(&headers, &["class", "class_name", "班级"]);
    let name = column(&headers, &["name", "student_name", "姓名"]);
    let (Some(class), Some(name)) = (class, name) else {
        return Err(AppError::invalid("csv", Problem::NoRosterColumns));
    };
    let number = column(&headers, &["student_no", "number", "学号"]);
    let id = column(&headers, &["id", "student_id"]);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                errors.push(RowError {
                    line,
                    message: e.to_string(),
                    error: None,
                    row: None,
                });
                continue;
            }
        };
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(|v| super::export::without_formula_guard(v).to_owned())
                .filter(|v| !v.is_empty())
        };
        let row = RosterRow {
            line,
            class: field(Some(class)).unwrap_or_default(),
            name: field(Some(name)).unwrap_or_default(),
            student_no: field(number),
            id: field(id),
        };
        let problem = if row.class.is_empty() {
            Some(AppError::invalid("class", Problem::Empty))
        } else if let Err(e) = roster::validate_name("name", &row.name) {
            Some(e)
        } else if let Some(Err(e)) = row.id.as_deref().map(|id| validate_id("id", id)) {
            Some(e)
        } else {
            None
        };
        match problem {
            Some(error) => errors.push(RowError::refused(&row, error)),
            None => rows.push(row),
        }
    }
    Ok((rows, errors))
}

/// Imports roster lines in one transaction: missing classes are created by name (the actor
/// teaches them when a teacher), then each student under its own savepoint, so a bad line is
/// reported and the rest imported. With `dry_run` the same work is done and then rolled back:
/// the report is exactly what the import would do.
pub async fn import_roster(
    ledger: &Ledger,
    actor: &Actor,
    text: &str,
    dry_run: bool,
) -> Result<RosterReport, AppError> {
    let (rows, errors) = parse_roster(text)?;
    let outcome = ledger
        .run(
            actor.clone(),
            Command::ImportRoster(RosterImport {
                rows,
                errors,
                dry_run,
            }),
        )
        .await?;
    match outcome {
        super::Outcome::RosterImported { report } => Ok(report),
        other => Err(AppError::internal(format!(
            "roster import returned {other:?}"
        ))),
    }
}

/// Parsed roster lines, and the lines parsing already refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterImport {
    pub rows: Vec<RosterRow>,
    pub errors: Vec<RowError>,
    pub dry_run: bool,
}

/// Writer side of [`import_roster`].
pub(crate) fn apply_roster(
    conn: &Connection,
    actor: &Actor,
    import: &RosterImport,
) -> Result<RosterReport, AppError> {
    let mut report = RosterReport {
        errors: import.errors.clone(),
        ..RosterReport::default()
    };
    let teacher = match actor {
        Actor::User {
            id,
            role: crate::model::Role::Teacher,
        } => Some(id.as_str()),
        _ => None,
    };
    // Class name → id, for classes found or created by earlier lines.
    let mut classes: HashMap<String, String> = HashMap::new();
    conn.execute_batch("SAVEPOINT roster_import")?;
    for row in &import.rows {
        conn.execute_batch("SAVEPOINT roster_line")?;
        let mut created_class = false;
        let line = (|| -> Result<(), AppError> {
            let class_id = match classes.get(&row.class) {
                Some(id) => id.clone(),
                None => match visible_class_named(conn, teacher, &row.class)? {
                    Some(id) => id,
                    None => {
                        created_class = true;
                        let new_class = NewClass {
                            id: None,
                            name: row.class.clone(),
                            teacher_id: None,
                        };
                        roster::create_class(conn, actor, &new_class)?
                    }
                },
            };
            roster::create_student(
                conn,
                actor,
                &NewStudent {
                    id: row.id.clone(),
                    class_id: class_id.clone(),
                    name: row.name.clone(),
                    student_no: row.student_no.clone(),
                },
            )?;
            classes.insert(row.class.clone(), class_id);
            Ok(())
        })();
        match line {
            Ok(()) => {
                report.students_created += 1;
                if created_class {
                    report.classes_created.push(row.class.clone());
                }
                conn.execute_batch("RELEASE roster_line")?;
            }
            // The database failed: stop, and let the writer roll everything back.
            Err(error @ AppError::Internal { .. }) => return Err(error),
            Err(error) => {
                // The line's savepoint takes its class with it, if the line created one.
                conn.execute_batch("ROLLBACK TO roster_line; RELEASE roster_line")?;
                report.errors.push(RowError::refused(row, error));
            }
        }
    }
    if import.dry_run {
        conn.execute_batch("ROLLBACK TO roster_import")?;
    }
    conn.execute_batch("RELEASE roster_import")?;
    report.errors.sort_by_key(|e| e.line);
    Ok(report)
}

/// An active class with this name that the teacher teaches (any, for admins).
fn visible_class_named(
    conn: &Connection,
    teacher: Option<&str>,
    name: &str,
) -> Result<Option<String>, AppError> {
    Ok(conn
        .prepare_cached(
            "SELECT c.id FROM classes c WHERE c.name = ?1 AND c.archived_at IS NULL \
             AND (?2 IS NULL OR EXISTS (SELECT 1 FROM class_teachers ct \
                  WHERE ct.class_id = c.id AND ct.teacher_id = ?2)) \
             ORDER BY c.created_at LIMIT 1",
        )?
        .query_row(params![name, teacher], |r| r.get(0))
        .optional()?)
}

/// One row of the old system's `point_transactions` export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyTransaction {
    pub id: String,
    pub student_id: String,
    pub teacher_id: String,
    pub points_change: i64,
    pub transaction_type: String,
    pub reason: String,
    pub created_at: String,
}

/// The old system's export: its ledger and the balances it believed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyImport {
    pub transactions: Vec<LegacyTransaction>,
    /// `student_points` as exported: student id → points.
    pub balances: BTreeMap<String, i64>,
}

/// A student whose old balance disagreed with the old ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceDisagreement {
    pub student_id: String,
    pub old_points: i64,
    pub ledger_points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyReport {
    pub transactions: usize,
    pub students_created: usize,
    pub teachers_created: usize,
    pub disagreements: Vec<BalanceDisagreement>,
}

/// Writer side: appends the old ledger with its ids and times, creating placeholder students
/// (class "Imported") and inactive teachers for ids this school does not know yet. All or
/// nothing; balances come from the ledger (the insert trigger), never from the old
/// `student_points`, which is only compared.
pub(crate) fn apply_legacy(
    conn: &Connection,
    ctx: &mut super::ops::BatchContext,
    actor: &Actor,
    import: &LegacyImport,
) -> Result<LegacyReport, AppError> {
    roster::require_admin(actor, "import the old system's data")?;
    let now = clock::now();
    let mut students_created = 0;
    let mut teachers_created = 0;
    let mut imported_class: Option<String> = None;
    let mut rows: Vec<&LegacyTransaction> = import.transactions.iter().collect();
    rows.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let students: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r.student_id.as_str())
        .chain(import.balances.keys().map(String::as_str))
        .collect();
    for student in students {
        validate_id("student_id", student)?;
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM students WHERE id = ?)")?
            .query_row([student], |r| r.get(0))?;
        if exists {
            continue;
        }
        let class_id = match &imported_class {
            Some(id) => id.clone(),
            None => {
                let existing: Option<String> = conn
                    .prepare_cached("SELECT id FROM classes WHERE name = 'Imported' LIMIT 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?;
                let id = existing.unwrap_or_else(new_id);
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO classes (id, name, created_at) VALUES (?, 'Imported', ?)",
                )?
                .execute([&id, &now])?;
                imported_class = Some(id.clone());
                id
            }
        };
        conn.prepare_cached(
            "INSERT INTO students (id, class_id, name, created_at) VALUES (?, ?, ?, ?)",
        )?
        .execute([student, &class_id, &format!("Student {student}"), &now])?;
        students_created += 1;
    }
    for teacher in rows
        .iter()
        .map(|r| r.teacher_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        validate_id("teacher_id", teacher)?;
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)")?
            .query_row([teacher], |r| r.get(0))?;
        if !exists {
            conn.prepare_cached(
                "INSERT INTO users (id, username, name, role, active, created_at) \
                 VALUES (?, ?, ?, 'teacher', 0, ?)",
            )?
            .execute(params![
                teacher,
                format!("legacy-{teacher}"),
                format!("Teacher {teacher}"),
                now
            ])?;
            teachers_created += 1;
        }
    }
    for row in &rows {
        validate_id("id", &row.id)?;
        if row.points_change == 0 {
            return Err(AppError::validation(
                "points_change",
                format!("transaction {} changes nothing", row.id),
            ));
        }
        let created_at = clock::normalize(&row.created_at).ok_or_else(|| {
            AppError::validation(
                "created_at",
                format!(
                    "transaction {}: {:?} is not an RFC 3339 time",
                    row.id, row.created_at
                ),
            )
        })?;
        let reason = crate::rules::validate_reason(&row.reason)
            .map_err(|e| AppError::validation("reason", format!("transaction {}: {e}", row.id)))?;
        // Known kinds keep their name; anything else is kept as a legacy row.
        let kind = match TransactionType::parse(&row.transaction_type) {
            Some(t) if t.is_direct() => t,
            _ => TransactionType::Legacy,
        };
        let known: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM point_transactions WHERE id = ?)")?
            .query_row([&row.id], |r| r.get(0))?;
        if known {
            return Err(AppError::clash(
                Clash::IdTaken,
                format!("transaction {} is already in this ledger", row.id),
            ));
        }
        super::ops::append_imported(
            conn,
            ctx,
            &row.id,
            &created_at,
            super::ops::NewRow {
                student_id: &row.student_id,
                teacher_id: &row.teacher_id,
                points_change: row.points_change,
                transaction_type: kind,
                reason: &reason,
                batch_id: None,
                reverses_id: None,
            },
        )?;
    }
    let mut disagreements = Vec::new();
    for (student_id, old_points) in &import.balances {
        let ledger_points: i64 = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(points_change), 0) FROM point_transactions WHERE student_id = ?",
            )?
            .query_row([student_id], |r| r.get(0))?;
        if ledger_points != *old_points {
            disagreements.push(BalanceDisagreement {
                student_id: student_id.clone(),
                old_points: *old_points,
                ledger_points,
            });
        }
    }
    Ok(LegacyReport {
        transactions: rows.len(),
        students_created,
        teachers_created,
        disagreements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_csv_accepts_english_or_chinese_headers_and_reports_bad_lines() {
        let text = "\u{feff}班级,姓名,学号\n三年级一班,王子涵,01\n三年级一班,,02\n,李欣怡,03\n三年级二班, 张浩然 ,\n";
        let (rows, errors) = parse_roster(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].class, "三年级一班");
        assert_eq!(rows[0].student_no.as_deref(), Some("01"));
        assert_eq!(rows[1].name, "张浩然");
        assert_eq!(rows[1].student_no, None);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(errors[0].message.contains("name"), "{:?}", errors[0]);

        let (rows, errors) =
            parse_roster("class,name,id\nA,Ann,BAD-ID\nA,Bob,abcdefghijklmno\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id.as_deref(), Some("abcdefghijklmno"));
        assert_eq!(errors[0].line, 2);

        assert!(matches!(
            parse_roster("student,score\nA,1\n"),
            Err(AppError::Validation { field, .. }) if field == "csv"
        ));
    }
}
