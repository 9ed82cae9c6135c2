//! Taking data out: students and their points as CSV, in the columns the roster import reads
//! back (`class`, `student_no`, `name`, `id`), so an export doubles as a roster.

use crate::{
    error::AppError,
    model::{ClassInfo, StudentInfo},
};
use std::collections::HashMap;

/// The students, one line each: class name, student number, name, points, archived, id.
/// Starts with a byte order mark, which spreadsheet programs need to read UTF-8 (Chinese
/// names) rather than the system's code page. A text cell that a spreadsheet would take for a
/// formula (`=`, `+`, `-`, `@` first) gets a leading apostrophe, so opening the file never
/// runs what someone typed as a name.
pub fn students_csv(classes: &[ClassInfo], students: &[StudentInfo]) -> Result<String, AppError> {
    let class_names: HashMap<&str, &str> = classes
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| AppError::internal(format!("writing CSV: {e}"));
    out.write_record(["class", "student_no", "name", "points", "archived", "id"])
        .map_err(failed)?;
    for student in students {
        let class = class_names.get(student.class_id.as_str()).copied();
        out.write_record([
            text_cell(class.unwrap_or_default()).as_str(),
            text_cell(student.student_no.as_deref().unwrap_or_default()).as_str(),
            text_cell(&student.name).as_str(),
            &student.points.to_string(),
            if student.archived { "true" } else { "false" },
            &student.id,
        ])
        .map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| AppError::internal(format!("writing CSV: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| AppError::internal(format!("CSV is not UTF-8: {e}")))?;
    Ok(format!("\u{feff}{text}"))
}

fn text_cell(value: &str) -> String {
    if needs_formula_guard(value) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// Whether a cell starts like a formula, under any apostrophes already in front of it: a
/// value that itself starts with the guard is guarded again, so [`without_formula_guard`]
/// gives back exactly what was written.
fn needs_formula_guard(value: &str) -> bool {
    value
        .trim_start_matches('\'')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell as it was before [`students_csv`] guarded it; how the roster import reads an
/// exported file back.
pub(super) fn without_formula_guard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(guarded) if needs_formula_guard(guarded) => guarded,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(name: &str, points: i64) -> StudentInfo {
        StudentInfo {
            id: "aaaaaaaaaaaaaaa".into(),
            class_id: "ccccccccccccccc".into(),
            name: name.into(),
            student_no: Some("07".into()),
            points,
            archived: false,
        }
    }

    fn class() -> ClassInfo {
        ClassInfo {
            id: "ccccccccccccccc".into(),
            name: "三年级一班".into(),
            archived: false,
            students: 2,
            teacher_ids: vec![],
        }
    }

    #[test]
    fn students_export_with_their_class_names_and_read_back_as_a_roster() {
        let csv =
            students_csv(&[class()], &[student("王小明", 12), student("Li, Hua", -3)]).unwrap();
        assert!(csv.starts_with('\u{feff}'));
        assert_eq!(
            csv.trim_start_matches('\u{feff}'),
            "class,student_no,name,points,archived,id\n\
             三年级一班,07,王小明,12,false,aaaaaaaaaaaaaaa\n\
             三年级一班,07,\"Li, Hua\",-3,false,aaaaaaaaaaaaaaa\n"
        );
        let (rows, errors) = super::super::import::parse_roster(&csv).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "Li, Hua");
        assert_eq!(rows[0].class, "三年级一班");
    }

    #[test]
    fn a_name_a_spreadsheet_would_run_is_written_as_text() {
        let csv = students_csv(&[], &[student("=HYPERLINK(\"x\")", 0), student("-1", 0)]).unwrap();
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
        assert!(csv.contains(",'-1,"), "{csv}");
    }

    #[test]
    fn guarded_cells_read_back_as_written() {
        for name in [
            "=1+1", "-1", "'=1", "''@x", "'quoted'", "O'Brien", "+", "plain",
        ] {
            let csv = students_csv(&[class()], &[student(name, 0)]).unwrap();
            let (rows, errors) = super::super::import::parse_roster(&csv).unwrap();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert_eq!(rows[0].name, name, "{csv}");
        }
    }
}
