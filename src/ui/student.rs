//! A student's page: history (who, what, why, when; undone rows struck through, with undo)
//! and the balance over time.

use super::request_id::new_request_id;
use crate::i18n::{t, use_i18n};
use crate::{
    api::board::{Undo, load_student},
    model::{HistoryEntry, StudentHistory, TransactionType, balance_series},
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn StudentPage() -> impl IntoView {
    let params = use_params_map();
    let student_id = move || params.read().get("id").unwrap_or_default();
    let undo = ServerAction::<Undo>::new();
    // Reload after an undo so both rows (the original, struck through, and its reversal) show.
    let history = Resource::new(
        move || (student_id(), undo.version().get()),
        |(id, _)| load_student(id),
    );
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                history
                    .get()
                    .map(|result| match result {
                        Err(e) => super::load_failed(e),
                        Ok(history) => view! { <History history undo/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

fn kind_label(kind: TransactionType) -> &'static str {
    match kind {
        TransactionType::AddPoints => "award",
        TransactionType::DeductPoints => "deduction",
        TransactionType::Redeem => "redemption",
        TransactionType::Reversal => "undo",
        TransactionType::Legacy => "imported",
    }
}

#[component]
fn History(history: StudentHistory, undo: ServerAction<Undo>) -> impl IntoView {
    let i18n = use_i18n();
    let series = balance_series(history.student.points, &history.entries);
    let back = format!("/class/{}", history.student.class_id);
    view! {
        <section class="student" aria-labelledby="student-title">
            <p>
                <a href=back>{format!("← {}", history.class_name)}</a>
            </p>
            <h1 id="student-title">{history.student.name.clone()}</h1>
            <p class="balance">
                <span class="muted">{t!(i18n, points)} " "</span>
                <strong data-testid="balance">{history.student.points}</strong>
            </p>
            <Chart series/>
            <table class="history">
                <caption>{t!(i18n, history)}</caption>
                <thead>
                    <tr>
                        <th scope="col">{t!(i18n, when)}</th>
                        <th scope="col">{t!(i18n, who)}</th>
                        <th scope="col">{t!(i18n, points)}</th>
                        <th scope="col">{t!(i18n, why)}</th>
                        <th scope="col">
                            <span class="visually-hidden">{t!(i18n, undo)}</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {history
                        .entries
                        .into_iter()
                        .map(|entry| view! { <Row entry undo/> })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Row(entry: HistoryEntry, undo: ServerAction<Undo>) -> impl IntoView {
    let i18n = use_i18n();
    let tx = entry.transaction;
    let undoable = entry.undone_by.is_none() && tx.transaction_type != TransactionType::Reversal;
    let id = tx.id.clone();
    let when = tx
        .created_at
        .replace('T', " ")
        .trim_end_matches('Z')
        .chars()
        .take(16)
        .collect::<String>();
    let change = if tx.points_change > 0 {
        format!("+{}", tx.points_change)
    } else {
        tx.points_change.to_string()
    };
    view! {
        <tr class:reversed=entry.undone_by.is_some() data-transaction=tx.id.clone()>
            <td>
                <time datetime=tx.created_at.clone()>{when}</time>
            </td>
            <td>{entry.teacher_name}</td>
            <td class="num">
                {change} <span class="muted">{format!(" {}", kind_label(tx.transaction_type))}</span>
            </td>
            <td>{tx.reason}</td>
            <td>
                {undoable
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                data-testid="undo-row"
                                disabled=move || undo.pending().get()
                                on:click=move |_| {
                                    undo.dispatch(Undo {
                                        transaction_id: Some(id.clone()),
                                        batch_id: None,
                                        request_id: new_request_id(),
                                    });
                                }
                            >
                                {t!(i18n, undo)}
                            </button>
                        }
                    })}
            </td>
        </tr>
    }
}

/// Balance over time as a line (plain SVG; no chart library in the bundle).
#[component]
fn Chart(series: Vec<(String, i64)>) -> impl IntoView {
    const WIDTH: f64 = 600.0;
    const HEIGHT: f64 = 160.0;
    if series.len() < 2 {
        return view! { <p class="muted">"Not enough history for a chart yet."</p> }.into_any();
    }
    let (low, high) = series
        .iter()
        .fold((0i64, 0i64), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let span = (high - low).max(1) as f64;
    let step = WIDTH / (series.len() - 1) as f64;
    let points = series
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let x = i as f64 * step;
            let y = HEIGHT - ((*v - low) as f64 / span) * (HEIGHT - 10.0) - 5.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let last = series.last().map(|(_, v)| *v).unwrap_or(0);
    let summary = format!(
        "Balance over the last {} changes, from {} to {last}; lowest {low}, highest {high}",
        series.len(),
        series[0].1
    );
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=summary.clone()
                preserveAspectRatio="none"
            >
                <polyline points=points fill="none" stroke="currentColor" stroke-width="2"></polyline>
            </svg>
            <figcaption class="muted">{summary}</figcaption>
        </figure>
    }
    .into_any()
}
