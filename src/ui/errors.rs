//! Errors as the interface shows them, in the interface's language.
//!
//! The server words its errors in English for API clients and logs. The interface words them
//! again from what the error carries (its kind, the field, the rule and the rule's figures), so
//! a zh-CN board says why an award was refused in Chinese. A refused field's problems
//! (empty, too long, out of range, not a number, not an id…), the record that was not found,
//! and the common refusals and clashes are worded too; the free-text details left (what only
//! API clients can send wrong, such as a malformed timestamp or a student listed twice) are
//! still the server's words.

use crate::error::{AppError, Clash, Denial, Missing, Problem, Record, RuleDetails};
use crate::i18n::{Locale, td_string};

/// `error` in `locale` (callers pass the interface's, `i18n.get_locale()`).
pub(crate) fn error_text(locale: Locale, error: &AppError) -> String {
    error_text_naming(locale, error, |_| None)
}

/// Like [`error_text`], with `name_of` turning the student id a batch refusal names into the
/// student's name (the board knows its students).
pub(crate) fn error_text_naming(
    locale: Locale,
    error: &AppError,
    name_of: impl Fn(&str) -> Option<String>,
) -> String {
    // The server's free text goes in last, so braces in it are never taken for placeholders.
    let fill = |template: &str, detail: &str| template.replace("{detail}", detail);
    match error {
        AppError::Validation {
            field,
            message,
            problem,
        } => {
            let why = match problem {
                Some(problem) => problem_text(locale, problem),
                None => message.clone(),
            };
            match field_label(locale, field) {
                Some(label) => fill(
                    &td_string!(locale, error_validation_labelled)
                        .replace("{label}", &label)
                        .replace("{field}", field),
                    &why,
                ),
                None => fill(
                    &td_string!(locale, error_validation).replace("{field}", field),
                    &why,
                ),
            }
        }
        AppError::NotFound {
            missing: Some(Missing { record, id }),
            ..
        } => td_string!(locale, error_not_found_record)
            .replace("{record}", record_noun(locale, *record))
            .replace("{id}", id),
        AppError::NotFound { what, .. } => fill(td_string!(locale, error_not_found), what),
        AppError::Unauthorized { .. } => td_string!(locale, error_signed_out).to_owned(),
        AppError::Forbidden {
            denial: Some(denial),
            ..
        } => fill(
            td_string!(locale, error_forbidden),
            denial_text(locale, *denial),
        ),
        AppError::Forbidden { message, .. } => fill(td_string!(locale, error_forbidden), message),
        AppError::Conflict {
            clash: Some(clash), ..
        } => clash_text(locale, *clash).to_owned(),
        AppError::Conflict { message, .. } => fill(td_string!(locale, error_conflict), message),
        AppError::RuleViolation {
            rule,
            message,
            details,
        } => match (rule_text(locale, rule, details), &details.student_id) {
            (Some(refusal), Some(id)) => fill(
                &td_string!(locale, error_about_student)
                    .replace("{name}", &name_of(id).unwrap_or_else(|| id.clone())),
                &refusal,
            ),
            (Some(refusal), None) => refusal,
            // A rule this interface does not know: the server's words (which already name a
            // batch's student) under the rule's name.
            (None, _) => fill(
                &td_string!(locale, error_rule).replace("{rule}", rule),
                message,
            ),
        },
        AppError::TooManyAttempts {
            retry_after_seconds,
            ..
        } => td_string!(locale, error_too_many_attempts)
            .replace("{wait}", &wait_text(locale, *retry_after_seconds)),
        AppError::Unavailable { message } => fill(td_string!(locale, error_unavailable), message),
        AppError::Internal { .. } => td_string!(locale, error_internal).to_owned(),
    }
}

/// What the interface calls a request field that people type into, where it has a short name
/// for it (the field's own name is shown beside it, as the API knows it).
fn field_label(locale: Locale, field: &str) -> Option<String> {
    // A preset in the editor's list: `presets[1].points` is the second preset's points.
    if let Some((index, part)) = field
        .strip_prefix("presets[")
        .and_then(|rest| rest.split_once("]."))
    {
        let number = index.parse::<usize>().ok()? + 1;
        return Some(
            td_string!(locale, preset_field)
                .replace("{n}", &number.to_string())
                .replace("{part}", &field_label(locale, part)?),
        );
    }
    Some(
        match field {
            "points_change" | "points" => td_string!(locale, points),
            "reason" => td_string!(locale, reason),
            "username" => td_string!(locale, username),
            "password" => td_string!(locale, password),
            "name" => td_string!(locale, name),
            "student_no" => td_string!(locale, student_no),
            "class_name" | "class" => td_string!(locale, class_name),
            "max_abs_change" => td_string!(locale, max_abs_change),
            "presets" => td_string!(locale, presets_title),
            "daily_award_cap" => td_string!(locale, daily_award_cap),
            "min_balance" => td_string!(locale, min_balance),
            "utc_offset_minutes" => td_string!(locale, utc_offset),
            "student_id" => td_string!(locale, student),
            "class_id" => td_string!(locale, class),
            "target" => td_string!(locale, award_target),
            _ => return None,
        }
        .to_owned(),
    )
}

/// Why a field was refused, in `locale`.
fn problem_text(locale: Locale, problem: &Problem) -> String {
    match *problem {
        Problem::Empty => td_string!(locale, problem_empty).to_owned(),
        Problem::TooLong { max_chars } => {
            td_string!(locale, problem_too_long).replace("{max}", &max_chars.to_string())
        }
        Problem::TooShort { min_chars } => {
            td_string!(locale, problem_too_short).replace("{min}", &min_chars.to_string())
        }
        Problem::ControlCharacters => td_string!(locale, problem_control_characters).to_owned(),
        Problem::Zero => td_string!(locale, problem_zero).to_owned(),
        Problem::OutOfRange { min, max } => td_string!(locale, problem_out_of_range)
            .replace("{min}", &min.to_string())
            .replace("{max}", &max.to_string()),
        Problem::TooFew { min_items } => {
            td_string!(locale, problem_too_few).replace("{min}", &min_items.to_string())
        }
        Problem::TooMany { max_items } => {
            td_string!(locale, problem_too_many).replace("{max}", &max_items.to_string())
        }
        Problem::OutOfRangeOrNull { min, max } => td_string!(locale, problem_out_of_range_or_null)
            .replace("{min}", &min.to_string())
            .replace("{max}", &max.to_string()),
        Problem::NotWholeNumber => td_string!(locale, problem_not_whole_number).to_owned(),
        Problem::NotWholeNumberOrEmpty => {
            td_string!(locale, problem_not_whole_number_or_empty).to_owned()
        }
        Problem::NotAnId { len } => {
            td_string!(locale, problem_not_an_id).replace("{len}", &len.to_string())
        }
        Problem::NotAUsername => td_string!(locale, problem_not_a_username).to_owned(),
        Problem::TooLarge { max_kib } => {
            td_string!(locale, problem_too_large).replace("{max}", &max_kib.to_string())
        }
        Problem::NoRosterColumns => td_string!(locale, problem_no_roster_columns).to_owned(),
        Problem::Archived => td_string!(locale, problem_archived).to_owned(),
        Problem::NoStudents => td_string!(locale, problem_no_students).to_owned(),
    }
}

/// What the interface calls a kind of record.
fn record_noun(locale: Locale, record: Record) -> &'static str {
    match record {
        Record::Student => td_string!(locale, record_student),
        Record::Class => td_string!(locale, record_class),
        Record::Group => td_string!(locale, record_group),
        Record::User => td_string!(locale, record_user),
        Record::Transaction => td_string!(locale, record_transaction),
        Record::Batch => td_string!(locale, record_batch),
    }
}

fn denial_text(locale: Locale, denial: Denial) -> &'static str {
    match denial {
        Denial::NotClassTeacher => td_string!(locale, denial_not_class_teacher),
        Denial::AdminOnly => td_string!(locale, denial_admin_only),
    }
}

fn clash_text(locale: Locale, clash: Clash) -> &'static str {
    match clash {
        Clash::IdTaken => td_string!(locale, clash_id_taken),
        Clash::AlreadyUndone => td_string!(locale, clash_already_undone),
        Clash::GroupNameTaken => td_string!(locale, clash_group_name_taken),
        Clash::StudentNoTaken => td_string!(locale, clash_student_no_taken),
        Clash::UsernameTaken => td_string!(locale, clash_username_taken),
        Clash::LastActiveAdmin => td_string!(locale, clash_last_active_admin),
    }
}

/// A rule's refusal worded from its figures, for the rules this interface knows.
fn rule_text(locale: Locale, rule: &str, details: &RuleDetails) -> Option<String> {
    let with_figures = |template: &str| {
        let (limit, actual) = (details.limit?, details.actual?);
        Some(
            template
                .replace("{limit}", &limit.to_string())
                .replace("{actual}", &actual.to_string()),
        )
    };
    match rule {
        "allowed_types" => Some(td_string!(locale, error_rule_allowed_types).to_owned()),
        "reason_required" => Some(td_string!(locale, error_rule_reason_required).to_owned()),
        "max_abs_change" => with_figures(td_string!(locale, error_rule_max_abs_change)),
        "daily_award_cap" => with_figures(td_string!(locale, error_rule_daily_award_cap)),
        "min_balance" => with_figures(td_string!(locale, error_rule_min_balance)),
        _ => None,
    }
}

/// How long a locked account waits: seconds under a minute and a half, else whole minutes.
fn wait_text(locale: Locale, seconds: u64) -> String {
    if seconds < 90 {
        td_string!(locale, error_wait_seconds).replace("{n}", &seconds.to_string())
    } else {
        td_string!(locale, error_wait_minutes).replace("{n}", &seconds.div_ceil(60).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProblemKind;
    use leptos_i18n::Locale as _;
    use strum::IntoEnumIterator;

    fn refusal(rule: &str, limit: i64, actual: i64, student_id: Option<&str>) -> AppError {
        AppError::RuleViolation {
            rule: rule.into(),
            message: "the server's words".into(),
            details: RuleDetails {
                limit: Some(limit),
                actual: Some(actual),
                student_id: student_id.map(Into::into),
            },
        }
    }

    #[test]
    fn refusals_are_worded_from_their_figures_in_each_language() {
        let overdraw = refusal("min_balance", 0, -3, None);
        assert_eq!(
            error_text(Locale::zh_CN, &overdraw),
            "积分将降至 -3，低于允许的下限 0"
        );
        assert_eq!(
            error_text(Locale::en, &overdraw),
            "the balance would fall to -3, below the lowest allowed (0)"
        );
        let capped = refusal("daily_award_cap", 10, 8, None);
        assert_eq!(
            error_text(Locale::zh_CN, &capped),
            "每名学生每天最多加 10 分，今天已加 8 分"
        );
        let too_big = refusal("max_abs_change", 5, -6, None);
        assert_eq!(
            error_text(Locale::zh_CN, &too_big),
            "每次最多变动 5 分（本次 -6 分）"
        );
    }

    #[test]
    fn a_batch_refusal_names_the_student_by_name_where_the_caller_knows_it() {
        let error = refusal("min_balance", 0, -1, Some("s7"));
        let names = |id: &str| (id == "s7").then(|| "王子涵".to_owned());
        assert_eq!(
            error_text_naming(Locale::zh_CN, &error, names),
            "王子涵：积分将降至 -1，低于允许的下限 0"
        );
        assert!(error_text(Locale::en, &error).starts_with("s7: the balance"));
    }

    #[test]
    fn unknown_rules_and_missing_figures_keep_the_servers_words() {
        let unknown = AppError::RuleViolation {
            rule: "weekend_quiet".into(),
            message: "student s7: no awards on Sundays".into(),
            details: RuleDetails {
                student_id: Some("s7".into()),
                ..RuleDetails::default()
            },
        };
        assert_eq!(
            error_text(Locale::zh_CN, &unknown),
            "规则 weekend_quiet 拒绝了此操作：student s7: no awards on Sundays"
        );
        let no_figures = AppError::RuleViolation {
            rule: "min_balance".into(),
            message: "balance -1 would fall below the minimum 0".into(),
            details: RuleDetails::default(),
        };
        assert!(error_text(Locale::zh_CN, &no_figures).ends_with("below the minimum 0"));
    }

    #[test]
    fn a_refused_fields_common_problems_are_worded_in_each_language() {
        let long = AppError::invalid("name", Problem::TooLong { max_chars: 100 });
        let range = AppError::invalid(
            "points_change",
            Problem::OutOfRange {
                min: -1000,
                max: 1000,
            },
        );
        let preset = AppError::invalid("presets[1].points", Problem::Zero);
        let mistyped_link = AppError::invalid("class_id", Problem::NotAnId { len: 15 });
        let archived =
            AppError::invalid_saying("student_id", Problem::Archived, "student s1 is archived");
        let past_the_labels = AppError::invalid("presets[x].points", Problem::Zero);
        let expected = [
            (
                Locale::zh_CN,
                &long,
                "「姓名」（name）有误：不能超过 100 个字符",
            ),
            (
                Locale::en,
                &long,
                "Name (name): must be at most 100 characters",
            ),
            (
                Locale::zh_CN,
                &range,
                "「积分」（points_change）有误：须在 -1000 到 1000 之间",
            ),
            (
                Locale::zh_CN,
                &preset,
                "「第 2 个预设的积分」（presets[1].points）有误：不能为 0",
            ),
            (
                Locale::en,
                &preset,
                "Preset 2, Points (presets[1].points): must not be zero",
            ),
            (
                Locale::en,
                &past_the_labels,
                "presets[x].points: must not be zero",
            ),
            (
                Locale::zh_CN,
                &mistyped_link,
                "「班级」（class_id）有误：须为 15 位小写字母或数字组成的编号",
            ),
            (
                Locale::zh_CN,
                &archived,
                "「学生」（student_id）有误：已归档",
            ),
        ];
        for (locale, error, text) in expected {
            assert_eq!(error_text(locale, error), text, "{locale:?} {error:?}");
        }
        let problems = [
            Problem::Empty,
            Problem::TooLong { max_chars: 50 },
            Problem::TooShort { min_chars: 8 },
            Problem::ControlCharacters,
            Problem::Zero,
            Problem::OutOfRange { min: 1, max: 1000 },
            Problem::OutOfRangeOrNull { min: 1, max: 1000 },
            Problem::TooFew { min_items: 1 },
            Problem::TooMany { max_items: 12 },
            Problem::NotWholeNumber,
            Problem::NotWholeNumberOrEmpty,
            Problem::NotAnId { len: 15 },
            Problem::NotAUsername,
            Problem::TooLarge { max_kib: 1024 },
            Problem::NoRosterColumns,
            Problem::Archived,
            Problem::NoStudents,
        ];
        crate::error::assert_a_sample_of_each(
            ProblemKind::iter(),
            problems.iter().map(ProblemKind::from),
        );
        for problem in problems {
            let error = AppError::invalid("csv", problem);
            // English says what the server says; Chinese says it in Chinese.
            assert_eq!(error_text(Locale::en, &error), error.to_string());
            let chinese = error_text(Locale::zh_CN, &error);
            assert!(!chinese.contains("must"), "{problem:?}: {chinese}");
        }
    }

    #[test]
    fn what_was_not_found_refused_or_clashed_is_worded_in_each_language() {
        let expected = [
            (
                AppError::not_found(Record::Group, "g1"),
                "找不到该小组（g1）",
                "not found: group g1",
            ),
            (
                AppError::not_class_teacher("c1"),
                "无权执行此操作：你不是这个班级的老师",
                "not allowed: you do not teach this class",
            ),
            (
                AppError::admin_only("change the rules"),
                "无权执行此操作：只有管理员可以这样做",
                "not allowed: only an admin may do this",
            ),
            (
                AppError::clash(Clash::AlreadyUndone, "transaction t1 was already undone"),
                "这条记录已经撤销过了",
                "this was already undone",
            ),
        ];
        for (error, chinese, english) in expected {
            assert_eq!(error_text(Locale::zh_CN, &error), chinese);
            assert_eq!(error_text(Locale::en, &error), english);
        }
        let denied = |denial| AppError::Forbidden {
            message: "the server's words".into(),
            denial: Some(denial),
        };
        let errors = Record::iter()
            .map(|record| AppError::not_found(record, "x1"))
            .chain(Denial::iter().map(denied))
            .chain(Clash::iter().map(|clash| AppError::clash(clash, "the server's words")));
        for error in errors {
            let chinese = error_text(Locale::zh_CN, &error);
            assert!(
                !chinese.is_ascii() && !chinese.contains("server"),
                "{error:?}: {chinese}"
            );
        }
    }

    #[test]
    fn a_locked_account_is_told_how_long_to_wait() {
        let locked = |seconds| AppError::TooManyAttempts {
            message: "try later".into(),
            retry_after_seconds: seconds,
        };
        assert_eq!(
            error_text(Locale::zh_CN, &locked(60)),
            "该账号登录失败次数过多，请在 60 秒后再试"
        );
        assert!(error_text(Locale::en, &locked(601)).ends_with("try again in 11 min"));
    }

    /// Every kind has wording in every language, with nothing left unfilled; English keeps the
    /// server's wording where the interface has nothing more specific.
    #[test]
    fn every_kind_is_worded_in_every_language() {
        let rule_without_figures = |rule: &str| AppError::RuleViolation {
            rule: rule.into(),
            message: "the server's words".into(),
            details: RuleDetails::default(),
        };
        let mut every_kind = crate::error::one_of_each_kind();
        every_kind.extend(["reason_required", "allowed_types"].map(rule_without_figures));
        for locale in Locale::get_all() {
            for error in &every_kind {
                let text = error_text(*locale, error);
                assert!(
                    !text.is_empty() && !text.contains(['{', '}']),
                    "{locale:?} {error:?}: {text}"
                );
            }
        }
        let braces = AppError::validation("reason", "not {field} or {label}");
        assert_eq!(
            error_text(Locale::en, &braces),
            "Reason (reason): not {field} or {label}"
        );
        let unnamed = AppError::validation("transaction_id", "must be an id");
        assert_eq!(error_text(Locale::en, &unnamed), unnamed.to_string());
        for error in &every_kind {
            if let AppError::NotFound { missing: None, .. }
            | AppError::Forbidden { denial: None, .. }
            | AppError::Conflict { clash: None, .. }
            | AppError::Unavailable { .. } = error
            {
                assert_eq!(error_text(Locale::en, error), error.to_string());
            }
        }
        assert_eq!(
            error_text(
                Locale::zh_CN,
                &AppError::validation("points_change", "must not be zero")
            ),
            "「积分」（points_change）有误：must not be zero"
        );
        assert_eq!(
            error_text(Locale::zh_CN, &unnamed),
            "「transaction_id」有误：must be an id"
        );
        assert_eq!(
            error_text(Locale::en, &AppError::validation("reason", "too long")),
            "Reason (reason): too long"
        );
    }
}
