//! The rules engine's settings and the school's presets.

use super::{AdminTabs, Outcome};
use crate::i18n::{t, t_string, use_i18n};
use crate::{
    api::admin::{SaveRules, SaveSchoolPresets, SchoolRules, load_school_rules},
    error::{AppError, Problem},
    model::TransactionType,
    rules::Rules,
    ui::preset_list::{PresetLines, PresetListEditor},
    ui::time::{ZONE_OFFSETS, utc_offset_label},
};
use leptos::prelude::*;

/// The zones the time zone choice offers: the world's, and the school's own offset if it is
/// another (set through the API), so the form shows what is stored.
fn zone_choices(current: i32) -> Vec<i32> {
    let mut zones = ZONE_OFFSETS.to_vec();
    if let Err(at) = zones.binary_search(&current) {
        zones.insert(at, current);
    }
    zones
}

/// Types an admin may allow (legacy rows come only from import).
const CHOOSABLE: [TransactionType; 4] = [
    TransactionType::AddPoints,
    TransactionType::DeductPoints,
    TransactionType::Redeem,
    TransactionType::Reversal,
];

#[component]
pub fn RulesPage() -> impl IntoView {
    let loaded = crate::ui::load(|| (), |_| load_school_rules());
    view! {
        <AdminTabs/>
        {crate::ui::loaded(loaded, |school| view! { <RulesForms school/> }.into_any())}
    }
}

/// A number field's text as an optional whole number: empty is `None`.
fn optional_number(field: &str, text: &str) -> Result<Option<i64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| AppError::invalid(field, Problem::NotWholeNumberOrEmpty))
}

/// A number field's text as a whole number that must be given (and fit `T`).
fn required_number<T: TryFrom<i64>>(field: &str, text: &str) -> Result<T, AppError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| AppError::invalid(field, Problem::NotWholeNumber))
}

/// The form's fields as rules; the server validates them again.
struct RulesFields {
    max_abs_change: RwSignal<String>,
    daily_award_cap: RwSignal<String>,
    min_balance: RwSignal<String>,
    reason_required: RwSignal<bool>,
    utc_offset: RwSignal<String>,
    teacher_types: RwSignal<Vec<TransactionType>>,
    admin_types: RwSignal<Vec<TransactionType>>,
}

impl RulesFields {
    fn new(rules: &Rules) -> Self {
        let text = |v: Option<i64>| RwSignal::new(v.map(|v| v.to_string()).unwrap_or_default());
        Self {
            max_abs_change: RwSignal::new(rules.max_abs_change.to_string()),
            daily_award_cap: text(rules.daily_award_cap),
            min_balance: text(rules.min_balance),
            reason_required: RwSignal::new(rules.reason_required_for_deductions),
            utc_offset: RwSignal::new(rules.utc_offset_minutes.to_string()),
            teacher_types: RwSignal::new(rules.teacher_types.clone()),
            admin_types: RwSignal::new(rules.admin_types.clone()),
        }
    }

    fn rules(&self) -> Result<Rules, AppError> {
        let max_abs_change =
            required_number("max_abs_change", &self.max_abs_change.get_untracked())?;
        let utc_offset_minutes =
            required_number("utc_offset_minutes", &self.utc_offset.get_untracked())?;
        let rules = Rules {
            max_abs_change,
            daily_award_cap: optional_number(
                "daily_award_cap",
                &self.daily_award_cap.get_untracked(),
            )?,
            min_balance: optional_number("min_balance", &self.min_balance.get_untracked())?,
            reason_required_for_deductions: self.reason_required.get_untracked(),
            utc_offset_minutes,
            teacher_types: self.teacher_types.get_untracked(),
            admin_types: self.admin_types.get_untracked(),
        };
        rules.validate()?;
        Ok(rules)
    }
}

fn type_label(
    i18n: leptos_i18n::I18nContext<crate::i18n::Locale>,
    kind: TransactionType,
) -> String {
    match kind {
        TransactionType::AddPoints => t_string!(i18n, type_add_points),
        TransactionType::DeductPoints => t_string!(i18n, type_deduct_points),
        TransactionType::Redeem => t_string!(i18n, type_redeem),
        _ => t_string!(i18n, type_reversal),
    }
    .to_owned()
}

/// Checkboxes for the transaction types one role may record.
#[component]
fn TypeChoice(
    legend: AnyView,
    chosen: RwSignal<Vec<TransactionType>>,
    testid: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <fieldset data-testid=testid>
            <legend>{legend}</legend>
            {CHOOSABLE
                .into_iter()
                .map(|kind| {
                    view! {
                        <label class="toggle">
                            <input
                                type="checkbox"
                                data-type=kind.as_str()
                                prop:checked=move || chosen.with(|c| c.contains(&kind))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|c| {
                                        c.retain(|k| *k != kind);
                                        if on {
                                            c.push(kind);
                                        }
                                    });
                                }
                            />
                            {move || type_label(i18n, kind)}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

#[component]
fn RulesForms(school: SchoolRules) -> impl IntoView {
    let i18n = use_i18n();
    let fields = RulesFields::new(&school.rules);
    let save = ServerAction::<SaveRules>::new();
    let rules_outcome = RwSignal::new(None);
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            rules_outcome.set(Some(
                result
                    .map(|_| t_string!(i18n, saved).to_owned())
                    .map_err(|e| crate::ui::error_text(i18n.get_locale_untracked(), &e)),
            ));
        }
    });
    let presets = PresetLines::new(&school.presets);
    let save_presets = ServerAction::<SaveSchoolPresets>::new();
    let presets_outcome = RwSignal::new(None);
    Effect::new(move |_| {
        if let Some(result) = save_presets.value().get() {
            presets_outcome.set(Some(match result {
                Ok(saved) => {
                    presets.reset(&saved);
                    Ok(t_string!(i18n, saved).to_owned())
                }
                Err(e) => Err(crate::ui::error_text(i18n.get_locale_untracked(), &e)),
            }));
        }
    });
    let (max, cap, min, offset) = (
        fields.max_abs_change,
        fields.daily_award_cap,
        fields.min_balance,
        fields.utc_offset,
    );
    let (reason_required, teacher_types, admin_types) = (
        fields.reason_required,
        fields.teacher_types,
        fields.admin_types,
    );
    let fields = StoredValue::new(fields);
    let number = |label: AnyView, signal: RwSignal<String>, name: &'static str| {
        view! {
            <label>
                {label}
                <input
                    type="number"
                    name=name
                    data-testid=name
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev))
                />
            </label>
        }
    };
    view! {
        <section aria-labelledby="rules-title">
            <h1 id="rules-title">{t!(i18n, rules_title)}</h1>
            <form
                class="stacked-form"
                data-testid="rules-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    match fields.with_value(RulesFields::rules) {
                        Ok(rules) => {
                            save.dispatch(SaveRules { rules });
                        }
                        Err(e) => rules_outcome.set(Some(Err(crate::ui::error_text(i18n.get_locale_untracked(), &e)))),
                    }
                }
            >
                {number(t!(i18n, max_abs_change).into_any(), max, "max_abs_change")}
                {number(t!(i18n, daily_award_cap).into_any(), cap, "daily_award_cap")}
                {number(t!(i18n, min_balance).into_any(), min, "min_balance")}
                <label>
                    {t!(i18n, utc_offset)}
                    <select
                        name="utc_offset_minutes"
                        data-testid="utc_offset_minutes"
                        on:change=move |ev| offset.set(event_target_value(&ev))
                    >
                        {zone_choices(school.rules.utc_offset_minutes)
                            .into_iter()
                            .map(|minutes| {
                                let value = minutes.to_string();
                                let chosen = value.clone();
                                view! {
                                    <option
                                        value=value
                                        selected=move || offset.with(|o| *o == chosen)
                                    >
                                        {utc_offset_label(minutes).unwrap_or_else(|| minutes.to_string())}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="toggle">
                    <input
                        type="checkbox"
                        data-testid="reason_required"
                        prop:checked=move || reason_required.get()
                        on:change=move |ev| reason_required.set(event_target_checked(&ev))
                    />
                    {t!(i18n, reason_required)}
                </label>
                <TypeChoice legend=t!(i18n, teacher_types).into_any() chosen=teacher_types testid="teacher-types"/>
                <TypeChoice legend=t!(i18n, admin_types).into_any() chosen=admin_types testid="admin-types"/>
                <button type="submit" class="primary" data-testid="save-rules" disabled=move || save.pending().get()>
                    {t!(i18n, save)}
                </button>
                <Outcome message=rules_outcome/>
            </form>
        </section>
        <section aria-labelledby="school-presets-title">
            <h2 id="school-presets-title">{t!(i18n, school_presets)}</h2>
            <p class="muted">{t!(i18n, school_presets_help)}</p>
            <form
                class="preset-editor"
                data-testid="school-presets"
                on:submit=move |ev| {
                    ev.prevent_default();
                    match presets.presets() {
                        Ok(list) => {
                            save_presets.dispatch(SaveSchoolPresets { presets: list });
                        }
                        Err(e) => presets_outcome.set(Some(Err(crate::ui::error_text(i18n.get_locale_untracked(), &e)))),
                    }
                }
            >
                <PresetListEditor lines=presets/>
                <div class="editor-actions">
                    <button type="submit" class="primary" data-testid="save-school-presets">
                        {t!(i18n, save)}
                    </button>
                </div>
                <Outcome message=presets_outcome/>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{AppError, ZONE_OFFSETS, optional_number, zone_choices};

    #[test]
    fn the_schools_own_offset_is_always_a_choice() {
        assert_eq!(zone_choices(480), ZONE_OFFSETS);
        let odd = zone_choices(481);
        assert_eq!(odd.len(), ZONE_OFFSETS.len() + 1);
        assert!(odd.windows(2).all(|w| w[0] < w[1]) && odd.contains(&481));
    }

    #[test]
    fn empty_number_fields_mean_no_limit() {
        assert_eq!(optional_number("f", " "), Ok(None));
        assert_eq!(optional_number("f", "-5"), Ok(Some(-5)));
        assert!(matches!(
            optional_number("daily_award_cap", "2.5"),
            Err(AppError::Validation { field, .. }) if field == "daily_award_cap"
        ));
    }
}
