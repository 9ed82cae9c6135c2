//! Business rules for point changes, as plain data and plain functions (no database here), so
//! the same code validates in the writer, in the admin page and in unit tests.

use crate::{
    error::{AppError, Problem, RuleDetails},
    model::{Role, TransactionType},
};
use serde::{Deserialize, Serialize};

/// Largest |points_change| accepted at all, whatever the configured rules say.
pub const HARD_MAX_ABS_CHANGE: i64 = 1_000_000;
/// Longest reason kept with a ledger row, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// The school's time zone as minutes from UTC: the world's zones lie within ±14 hours.
pub const UTC_OFFSETS: std::ops::RangeInclusive<i32> = -14 * 60..=14 * 60;

/// The configurable rules engine settings (stored in `settings` under `rules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Maximum |points_change| of one ledger row.
    pub max_abs_change: i64,
    /// Maximum points one student may be awarded (add_points, not undone) per school day.
    pub daily_award_cap: Option<i64>,
    /// No negative change may take a balance below this (no overdraft); `None` allows any.
    pub min_balance: Option<i64>,
    /// Deductions and redemptions must say why.
    pub reason_required_for_deductions: bool,
    /// The school's offset from UTC in minutes; the school day starts at local midnight.
    pub utc_offset_minutes: i32,
    /// Transaction types teachers may record (reversal = may undo).
    pub teacher_types: Vec<TransactionType>,
    /// Transaction types admins may record.
    pub admin_types: Vec<TransactionType>,
}

impl Default for Rules {
    fn default() -> Self {
        let everyday = vec![
            TransactionType::AddPoints,
            TransactionType::DeductPoints,
            TransactionType::Redeem,
            TransactionType::Reversal,
        ];
        Self {
            max_abs_change: 1000,
            daily_award_cap: None,
            min_balance: Some(0),
            reason_required_for_deductions: true,
            utc_offset_minutes: 8 * 60,
            teacher_types: everyday.clone(),
            admin_types: everyday,
        }
    }
}

impl Rules {
    /// Checks the settings themselves before they are stored.
    pub fn validate(&self) -> Result<(), AppError> {
        if !(1..=HARD_MAX_ABS_CHANGE).contains(&self.max_abs_change) {
            return Err(AppError::invalid(
                "max_abs_change",
                Problem::OutOfRange {
                    min: 1,
                    max: HARD_MAX_ABS_CHANGE,
                },
            ));
        }
        if let Some(cap) = self.daily_award_cap
            && !(1..=HARD_MAX_ABS_CHANGE).contains(&cap)
        {
            return Err(AppError::invalid(
                "daily_award_cap",
                Problem::OutOfRangeOrNull {
                    min: 1,
                    max: HARD_MAX_ABS_CHANGE,
                },
            ));
        }
        if let Some(min) = self.min_balance
            && min.abs() > HARD_MAX_ABS_CHANGE
        {
            return Err(AppError::invalid(
                "min_balance",
                Problem::OutOfRange {
                    min: -HARD_MAX_ABS_CHANGE,
                    max: HARD_MAX_ABS_CHANGE,
                },
            ));
        }
        if !UTC_OFFSETS.contains(&self.utc_offset_minutes) {
            return Err(AppError::invalid(
                "utc_offset_minutes",
                Problem::OutOfRange {
                    min: i64::from(*UTC_OFFSETS.start()),
                    max: i64::from(*UTC_OFFSETS.end()),
                },
            ));
        }
        for (field, types) in [
            ("teacher_types", &self.teacher_types),
            ("admin_types", &self.admin_types),
        ] {
            if types.contains(&TransactionType::Legacy) {
                return Err(AppError::validation(
                    field,
                    "legacy rows come only from import and cannot be allowed here",
                ));
            }
        }
        Ok(())
    }

    pub fn allowed_types(&self, role: Role) -> &[TransactionType] {
        match role {
            Role::Teacher => &self.teacher_types,
            Role::Admin => &self.admin_types,
        }
    }
}

/// Checks the shape of a requested change, whatever the rules: type, sign, size and reason.
/// Returns the reason trimmed.
pub fn validate_change(
    transaction_type: TransactionType,
    points_change: i64,
    reason: &str,
) -> Result<String, AppError> {
    if !transaction_type.is_direct() {
        return Err(AppError::validation(
            "transaction_type",
            "must be add_points, deduct_points or redeem (undo records reversals itself)",
        ));
    }
    if points_change == 0 {
        return Err(AppError::invalid("points_change", Problem::Zero));
    }
    if points_change.unsigned_abs() > HARD_MAX_ABS_CHANGE as u64 {
        return Err(AppError::invalid(
            "points_change",
            Problem::OutOfRange {
                min: -HARD_MAX_ABS_CHANGE,
                max: HARD_MAX_ABS_CHANGE,
            },
        ));
    }
    let positive = transaction_type == TransactionType::AddPoints;
    if positive != (points_change > 0) {
        return Err(AppError::validation(
            "points_change",
            format!(
                "must be {} for {} (got {points_change})",
                if positive { "positive" } else { "negative" },
                transaction_type.as_str()
            ),
        ));
    }
    validate_reason(reason)
}

/// Trims a reason and checks its length.
pub fn validate_reason(reason: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::invalid(
            "reason",
            Problem::TooLong {
                max_chars: MAX_REASON_CHARS,
            },
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err(AppError::invalid("reason", Problem::ControlCharacters));
    }
    Ok(reason.to_owned())
}

/// What the rules need to know about one proposed ledger row.
#[derive(Debug, Clone, Copy)]
pub struct ProposedChange<'a> {
    pub role: Role,
    pub transaction_type: TransactionType,
    pub points_change: i64,
    pub reason: &'a str,
    /// The student's balance before this row.
    pub balance_before: i64,
    /// Points awarded to the student so far in the school day (add_points not undone).
    pub awarded_today: i64,
}

/// Applies the configured rules; a violation names the rule and changes nothing.
pub fn check_change(rules: &Rules, change: &ProposedChange<'_>) -> Result<(), AppError> {
    let violation = |rule: &str, message: String| AppError::RuleViolation {
        rule: rule.to_owned(),
        message,
        details: RuleDetails::default(),
    };
    let over_limit =
        |rule: &str, message: String, limit: i64, actual: i64| AppError::RuleViolation {
            rule: rule.to_owned(),
            message,
            details: RuleDetails {
                limit: Some(limit),
                actual: Some(actual),
                student_id: None,
            },
        };
    if !rules
        .allowed_types(change.role)
        .contains(&change.transaction_type)
    {
        return Err(violation(
            "allowed_types",
            format!(
                "a {} may not record {}",
                change.role.as_str(),
                change.transaction_type.as_str()
            ),
        ));
    }
    // Reversals undo an earlier row exactly, so its size was already checked when it was made.
    if change.transaction_type != TransactionType::Reversal
        && change.points_change.abs() > rules.max_abs_change
    {
        return Err(over_limit(
            "max_abs_change",
            format!(
                "|points_change| is at most {} per transaction (got {})",
                rules.max_abs_change, change.points_change
            ),
            rules.max_abs_change,
            change.points_change,
        ));
    }
    let is_deduction = matches!(
        change.transaction_type,
        TransactionType::DeductPoints | TransactionType::Redeem
    );
    if is_deduction && rules.reason_required_for_deductions && change.reason.is_empty() {
        return Err(violation(
            "reason_required",
            format!("{} needs a reason", change.transaction_type.as_str()),
        ));
    }
    if change.transaction_type == TransactionType::AddPoints
        && let Some(cap) = rules.daily_award_cap
        && change.awarded_today + change.points_change > cap
    {
        return Err(over_limit(
            "daily_award_cap",
            format!(
                "at most {cap} points per student per day; {} already awarded today",
                change.awarded_today
            ),
            cap,
            change.awarded_today,
        ));
    }
    if change.points_change < 0
        && let Some(min) = rules.min_balance
        && change.balance_before + change.points_change < min
    {
        let balance_after = change.balance_before + change.points_change;
        return Err(over_limit(
            "min_balance",
            format!("balance {balance_after} would fall below the minimum {min}"),
            min,
            balance_after,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionType::*;

    fn change(transaction_type: TransactionType, points_change: i64) -> ProposedChange<'static> {
        ProposedChange {
            role: Role::Teacher,
            transaction_type,
            points_change,
            reason: "ok",
            balance_before: 10,
            awarded_today: 0,
        }
    }

    fn rule_of(result: Result<(), AppError>) -> String {
        match result {
            Err(AppError::RuleViolation { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn the_specification_example_passes_default_rules() {
        assert_eq!(validate_change(AddPoints, 100, " 测试 ").unwrap(), "测试");
        check_change(&Rules::default(), &change(AddPoints, 100)).unwrap();
    }

    #[test]
    fn sign_zero_size_and_type_are_validated_naming_the_field() {
        let field_of = |r: Result<String, AppError>| match r {
            Err(AppError::Validation { field, .. }) => field,
            other => panic!("expected validation error, got {other:?}"),
        };
        assert_eq!(field_of(validate_change(AddPoints, 0, "")), "points_change");
        assert_eq!(
            field_of(validate_change(AddPoints, -1, "")),
            "points_change"
        );
        assert_eq!(
            field_of(validate_change(DeductPoints, 1, "")),
            "points_change"
        );
        assert_eq!(field_of(validate_change(Redeem, 5, "")), "points_change");
        assert_eq!(
            field_of(validate_change(AddPoints, HARD_MAX_ABS_CHANGE + 1, "")),
            "points_change"
        );
        assert_eq!(
            field_of(validate_change(AddPoints, i64::MIN, "")),
            "points_change"
        );
        assert_eq!(
            field_of(validate_change(Reversal, -1, "")),
            "transaction_type"
        );
        assert_eq!(field_of(validate_change(Legacy, 1, "")), "transaction_type");
        assert_eq!(
            field_of(validate_change(AddPoints, 1, &"x".repeat(201))),
            "reason"
        );
        assert_eq!(field_of(validate_change(AddPoints, 1, "a\u{0}b")), "reason");
        assert!(
            validate_change(AddPoints, 1, &"字".repeat(200)).is_ok(),
            "limit counts characters"
        );
    }

    #[test]
    fn max_abs_change_applies_to_both_directions_but_not_to_reversals() {
        let rules = Rules {
            max_abs_change: 5,
            min_balance: None,
            ..Rules::default()
        };
        check_change(&rules, &change(AddPoints, 5)).unwrap();
        assert_eq!(
            rule_of(check_change(&rules, &change(AddPoints, 6))),
            "max_abs_change"
        );
        assert_eq!(
            rule_of(check_change(&rules, &change(DeductPoints, -6))),
            "max_abs_change"
        );
        check_change(&rules, &change(Reversal, -50)).unwrap();
    }

    #[test]
    fn daily_cap_counts_what_was_awarded_today() {
        let rules = Rules {
            daily_award_cap: Some(10),
            ..Rules::default()
        };
        let mut c = change(AddPoints, 4);
        c.awarded_today = 6;
        check_change(&rules, &c).unwrap();
        c.awarded_today = 7;
        assert_eq!(rule_of(check_change(&rules, &c)), "daily_award_cap");
        // Deductions are not awards.
        let mut d = change(DeductPoints, -1);
        d.awarded_today = 100;
        check_change(&rules, &d).unwrap();
    }

    #[test]
    fn min_balance_stops_overdraft_on_any_negative_change() {
        let rules = Rules::default();
        check_change(&rules, &change(Redeem, -10)).unwrap();
        assert_eq!(
            rule_of(check_change(&rules, &change(Redeem, -11))),
            "min_balance"
        );
        assert_eq!(
            rule_of(check_change(&rules, &change(DeductPoints, -11))),
            "min_balance"
        );
        assert_eq!(
            rule_of(check_change(&rules, &change(Reversal, -11))),
            "min_balance"
        );
        // Positive changes are always allowed, even below the minimum.
        let mut below = change(AddPoints, 1);
        below.balance_before = -50;
        check_change(&rules, &below).unwrap();
        let open = Rules {
            min_balance: None,
            ..Rules::default()
        };
        check_change(&open, &change(DeductPoints, -500)).unwrap();
    }

    /// The bounded rules hand their figures over with the refusal (the interface words it in
    /// the teacher's language from them); the others hand none.
    #[test]
    fn refusals_carry_the_limit_and_the_figure_that_broke_it() {
        let details = |rules: &Rules, c: &ProposedChange<'_>| match check_change(rules, c) {
            Err(AppError::RuleViolation { details, .. }) => (details.limit, details.actual),
            other => panic!("{other:?}"),
        };
        let rules = Rules {
            max_abs_change: 5,
            daily_award_cap: Some(10),
            ..Rules::default()
        };
        assert_eq!(details(&rules, &change(AddPoints, 6)), (Some(5), Some(6)));
        assert_eq!(
            details(&rules, &change(DeductPoints, -6)),
            (Some(5), Some(-6))
        );
        let mut capped = change(AddPoints, 4);
        capped.awarded_today = 7;
        assert_eq!(details(&rules, &capped), (Some(10), Some(7)));
        assert_eq!(
            details(&Rules::default(), &change(Redeem, -13)),
            (Some(0), Some(-3))
        );
        let mut no_reason = change(DeductPoints, -1);
        no_reason.reason = "";
        assert_eq!(details(&Rules::default(), &no_reason), (None, None));
    }

    #[test]
    fn deductions_need_a_reason_when_configured() {
        let mut c = change(DeductPoints, -1);
        c.reason = "";
        assert_eq!(
            rule_of(check_change(&Rules::default(), &c)),
            "reason_required"
        );
        let relaxed = Rules {
            reason_required_for_deductions: false,
            ..Rules::default()
        };
        check_change(&relaxed, &c).unwrap();
        let mut award = change(AddPoints, 1);
        award.reason = "";
        check_change(&Rules::default(), &award).unwrap();
    }

    #[test]
    fn roles_may_use_only_their_types() {
        let rules = Rules {
            teacher_types: vec![AddPoints],
            ..Rules::default()
        };
        assert_eq!(
            rule_of(check_change(&rules, &change(Redeem, -1))),
            "allowed_types"
        );
        assert_eq!(
            rule_of(check_change(&rules, &change(Reversal, -1))),
            "allowed_types"
        );
        let mut admin = change(Redeem, -1);
        admin.role = Role::Admin;
        check_change(&rules, &admin).unwrap();
    }

    #[test]
    fn settings_are_validated_before_storing() {
        Rules::default().validate().unwrap();
        let bad = [
            Rules {
                max_abs_change: 0,
                ..Rules::default()
            },
            Rules {
                daily_award_cap: Some(0),
                ..Rules::default()
            },
            Rules {
                utc_offset_minutes: 900,
                ..Rules::default()
            },
            Rules {
                teacher_types: vec![Legacy],
                ..Rules::default()
            },
        ];
        for rules in bad {
            assert!(
                matches!(rules.validate(), Err(AppError::Validation { .. })),
                "{rules:?}"
            );
        }
    }

    #[test]
    fn stored_rules_fill_missing_fields_with_defaults_and_refuse_unknown_ones() {
        let rules: Rules = serde_json::from_str(r#"{"daily_award_cap": 20}"#).unwrap();
        assert_eq!(rules.daily_award_cap, Some(20));
        assert_eq!(rules.max_abs_change, Rules::default().max_abs_change);
        assert!(serde_json::from_str::<Rules>(r#"{"max_change": 5}"#).is_err());
    }
}
