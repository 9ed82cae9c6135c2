//! The award sheet: the class's presets as one-tap buttons, a custom amount, and for one
//! student a redemption (points spent on a reward).

use super::{BoardState, Failure, Target, Writes, signed};
use crate::i18n::{t, t_string, use_i18n};
use crate::{model::Preset, ui::dialog::Dialog};
use leptos::prelude::*;

#[component]
pub(super) fn AwardSheet(state: BoardState, writes: Writes) -> impl IntoView {
    move || {
        state
            .open
            .get()
            .map(|target| view! { <Sheet target state writes/> })
    }
}

#[component]
fn Sheet(target: Target, state: BoardState, writes: Writes) -> impl IntoView {
    let i18n = use_i18n();
    let custom = RwSignal::new(String::new());
    // Deductions need a reason under the default rules, so the custom amount has one too.
    let custom_reason = RwSignal::new(String::new());
    // Redemptions are for one student at a time: a reward is one child's.
    let offer_redeem = matches!(target, Target::Student { .. }) && state.can_redeem.get_untracked();
    let (title, history) = match &target {
        Target::Student { id, name } => (name.clone(), Some(format!("/student/{id}"))),
        Target::Class => (t_string!(i18n, whole_class).to_owned(), None),
        Target::Selected(ids) => (format!("{} ✓", ids.len()), None),
        Target::Group { name, .. } => (name.clone(), None),
    };
    let close = move |_| state.open.set(None);
    let submit_custom = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match custom.get_untracked().trim().parse::<i64>() {
            Ok(points) if points != 0 => {
                let reason = custom_reason.get_untracked().trim().to_owned();
                custom.set(String::new());
                custom_reason.set(String::new());
                writes.press(state, Preset { reason, points }, false);
            }
            _ => state.failure.set(Some(Failure::message(t_string!(
                i18n,
                custom_points_invalid
            )))),
        }
    };
    view! {
        <Dialog labelled_by="sheet-title" on_close=move |()| state.open.set(None)>
            <h2 id="sheet-title">{title}</h2>
            {history
                .map(|href| {
                    view! {
                        <p>
                            <a href=href data-testid="history-link">{t!(i18n, history)}</a>
                        </p>
                    }
                })}
            <div class="presets">
                {move || {
                    state
                        .presets
                        .get()
                        .into_iter()
                        .map(|preset| {
                            let label = format!("{} {}", signed(preset.points), preset.reason);
                            let minus = preset.points < 0;
                            view! {
                                <button
                                    type="button"
                                    class="preset"
                                    class:minus=minus
                                    data-testid="preset"
                                    on:click=move |_| writes.press(state, preset.clone(), false)
                                >
                                    {label}
                                </button>
                            }
                        })
                        .collect_view()
                }}
            </div>
            <form class="custom" on:submit=submit_custom>
                <label>
                    {t!(i18n, custom)}
                    {points_input("custom-points", custom)}
                </label>
                <label>
                    {t!(i18n, why)}
                    {reason_input("custom-reason", custom_reason, false)}
                </label>
                <button type="submit">{t!(i18n, give)}</button>
                <button type="button" on:click=close>
                    {t!(i18n, cancel)}
                </button>
                <button
                    type="button"
                    class="link"
                    data-testid="edit-presets"
                    on:pointerenter=move |_| super::presets::preload_editor()
                    on:focus=move |_| super::presets::preload_editor()
                    on:click=move |_| {
                        state.open.set(None);
                        state.editing_presets.set(true);
                    }
                >
                    {t!(i18n, edit_presets)}
                </button>
            </form>
            {offer_redeem.then(|| view! { <RedeemForm state writes/> })}
        </Dialog>
    }
}

/// Spending a student's points on a reward: a positive number of points and what the reward is
/// (a redemption records `-points`; the rules keep a balance from going below their minimum).
#[component]
fn RedeemForm(state: BoardState, writes: Writes) -> impl IntoView {
    let i18n = use_i18n();
    let points = RwSignal::new(String::new());
    let reward = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match points.get_untracked().trim().parse::<i64>() {
            Ok(spent) if spent > 0 => {
                let reason = reward.get_untracked().trim().to_owned();
                writes.press(
                    state,
                    Preset {
                        reason,
                        points: -spent,
                    },
                    true,
                );
            }
            _ => state.failure.set(Some(Failure::message(t_string!(
                i18n,
                redeem_points_invalid
            )))),
        }
    };
    view! {
        <form class="custom redeem" data-testid="redeem-form" on:submit=submit>
            <label>
                {t!(i18n, redeem_points)}
                {points_input("redeem-points", points)}
            </label>
            <label>
                {t!(i18n, reward)}
                {reason_input("redeem-reward", reward, true)}
            </label>
            <button type="submit">{t!(i18n, redeem)}</button>
        </form>
    }
}

/// The sheet's amount box, bound both ways to `value` (read as a whole number on submit).
fn points_input(testid: &'static str, value: RwSignal<String>) -> impl IntoView {
    view! {
        <input
            type="number"
            name="points"
            data-testid=testid
            prop:value=move || value.get()
            on:input=move |ev| value.set(event_target_value(&ev))
        />
    }
}

/// The sheet's reason box, bound both ways to `value`, no longer than a ledger row keeps.
fn reason_input(testid: &'static str, value: RwSignal<String>, required: bool) -> impl IntoView {
    view! {
        <input
            type="text"
            name="reason"
            required=required
            maxlength=crate::rules::MAX_REASON_CHARS
            data-testid=testid
            prop:value=move || value.get()
            on:input=move |ev| value.set(event_target_value(&ev))
        />
    }
}
