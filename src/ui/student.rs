//! A student's page: history (who, what, why, when; undone rows struck through, with undo)
//! and the balance over time.

use super::request_id::new_request_id;
use crate::i18n::{Locale, t, t_string, use_i18n};
use crate::{
    api::board::{Undo, load_older_history, load_student},
    model::{HistoryEntry, StudentHistory, TransactionType, balance_series},
    ui::time::SchoolTime,
};
use leptos::prelude::*;
use leptos_i18n::I18nContext;
use leptos_router::hooks::use_params_map;

#[component]
pub fn StudentPage() -> impl IntoView {
    let params = use_params_map();
    let student_id = move || params.read().get("id").unwrap_or_default();
    let undo = ServerAction::<Undo>::new();
    let shown = ShownRows::default();
    // Reload after an undo so both rows (the original, struck through, and its reversal) show,
    // as deep as "Show older" had gone: the undone row may be one of those.
    let history = crate::ui::load(
        move || {
            let id = student_id();
            let version = undo.version().get();
            let rows = shown.to_reload(&id);
            (id, version, rows)
        },
        |(id, _, rows)| load_student(id, rows),
    );
    let i18n = use_i18n();
    // A refused undo (undone meanwhile on another device, say) is said, not swallowed; the
    // reload above shows the row as it now is.
    let refusal = move || match undo.value().get() {
        Some(Err(error)) => Some(view! {
            <p class="error" role="alert" data-testid="undo-error">
                {crate::ui::error_text(i18n.get_locale(), &error)}
            </p>
        }),
        _ => None,
    };
    view! {
        {refusal}
        {super::loaded(history, move |history| {
            view! { <History history undo shown/> }.into_any()
        })}
    }
}

fn kind_label(i18n: I18nContext<Locale>, kind: TransactionType) -> &'static str {
    match kind {
        TransactionType::AddPoints => t_string!(i18n, kind_add_points),
        TransactionType::DeductPoints => t_string!(i18n, kind_deduct_points),
        TransactionType::Redeem => t_string!(i18n, kind_redeem),
        TransactionType::Reversal => t_string!(i18n, kind_reversal),
        TransactionType::Legacy => t_string!(i18n, kind_legacy),
    }
}

#[component]
fn History(history: StudentHistory, undo: ServerAction<Undo>, shown: ShownRows) -> impl IntoView {
    let i18n = use_i18n();
    let offset = history.utc_offset_minutes;
    let points = history.student.points;
    let first_page = StoredValue::new(history.page.entries.clone());
    let back = format!("/class/{}", history.student.class_id);
    let older = OlderRows::new(history.student.id.clone(), &history.page, shown);
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
            // Rows "Show older" brings in extend the chart back in time, as they do the table.
            {move || {
                let series = first_page
                    .with_value(|first| older.rows.with(|older| balance_series(points, first.iter().chain(older))));
                view! { <Chart series/> }
            }}
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
                        .page
                        .entries
                        .into_iter()
                        .map(|entry| view! { <Row entry offset undo/> })
                        .collect_view()}
                    {move || {
                        older
                            .rows
                            .get()
                            .into_iter()
                            .map(|entry| view! { <Row entry offset undo/> })
                            .collect_view()
                    }}
                </tbody>
            </table>
            {move || {
                older
                    .failed
                    .get()
                    .map(|error| {
                        view! {
                            <p class="error" role="alert" data-testid="older-error">
                                {crate::ui::error_text(i18n.get_locale(), &error)}
                            </p>
                        }
                    })
            }}
            {move || {
                older
                    .more
                    .get()
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="show-older"
                                data-testid="show-older"
                                disabled=move || older.loading.get()
                                on:click=move |_| older.load()
                            >
                                {move || {
                                    if older.loading.get() {
                                        t_string!(i18n, loading)
                                    } else {
                                        t_string!(i18n, show_older)
                                    }
                                }}
                            </button>
                        }
                    })
            }}
        </section>
    }
}

/// How many history rows the page shows, and for which student; outlives a reload.
#[derive(Clone, Copy, Default)]
struct ShownRows(StoredValue<Option<(String, usize)>>);

impl ShownRows {
    /// Rows to ask for when reloading `student_id`'s page: one more than shown, as the undo's
    /// reversal becomes the newest row; `None` (the first page) for a page not shown yet.
    fn to_reload(self, student_id: &str) -> Option<u32> {
        self.0.with_value(|shown| match shown {
            Some((id, rows)) if id == student_id => u32::try_from(rows + 1).ok(),
            _ => None,
        })
    }

    fn record(self, student_id: &str, rows: usize) {
        self.0.set_value(Some((student_id.to_owned(), rows)));
    }
}

/// The rows "Show older" brought in, after the first page, and where the next page starts.
#[derive(Clone, Copy)]
struct OlderRows {
    student_id: StoredValue<String>,
    first_page_rows: usize,
    shown: ShownRows,
    /// The oldest row shown so far: the next page starts after it.
    last_id: StoredValue<Option<String>>,
    rows: RwSignal<Vec<HistoryEntry>>,
    more: RwSignal<bool>,
    loading: RwSignal<bool>,
    failed: RwSignal<Option<crate::error::AppError>>,
}

impl OlderRows {
    fn new(student_id: String, first: &crate::model::HistoryPage, shown: ShownRows) -> Self {
        shown.record(&student_id, first.entries.len());
        Self {
            student_id: StoredValue::new(student_id),
            first_page_rows: first.entries.len(),
            shown,
            last_id: StoredValue::new(first.entries.last().map(|e| e.transaction.id.clone())),
            rows: RwSignal::new(Vec::new()),
            more: RwSignal::new(first.older),
            loading: RwSignal::new(false),
            failed: RwSignal::new(None),
        }
    }

    fn load(self) {
        let Some(before) = self.last_id.get_value() else {
            return;
        };
        self.loading.set(true);
        self.failed.set(None);
        let student_id = self.student_id.get_value();
        leptos::task::spawn_local(async move {
            match load_older_history(student_id, before).await {
                Ok(page) => {
                    if let Some(last) = page.entries.last() {
                        self.last_id.set_value(Some(last.transaction.id.clone()));
                    }
                    self.more.set(page.older);
                    self.rows.update(|rows| rows.extend(page.entries));
                    let total = self.first_page_rows + self.rows.with_untracked(Vec::len);
                    self.student_id
                        .with_value(|student_id| self.shown.record(student_id, total));
                }
                Err(error) => self.failed.set(Some(error)),
            }
            self.loading.set(false);
        });
    }
}

#[component]
fn Row(entry: HistoryEntry, offset: i32, undo: ServerAction<Undo>) -> impl IntoView {
    let i18n = use_i18n();
    let tx = entry.transaction;
    let undoable = entry.undone_by.is_none() && tx.transaction_type != TransactionType::Reversal;
    let id = tx.id.clone();
    let change = if tx.points_change > 0 {
        format!("+{}", tx.points_change)
    } else {
        tx.points_change.to_string()
    };
    view! {
        <tr class:reversed=entry.undone_by.is_some() data-transaction=tx.id.clone()>
            <td>
                <SchoolTime at=tx.created_at.clone() offset to_the_minute=true/>
            </td>
            <td>{entry.teacher_name}</td>
            <td class="num">
                {change} <span class="muted">{format!(" {}", kind_label(i18n, tx.transaction_type))}</span>
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

/// Balance over time.
#[component]
fn Chart(series: Vec<(String, i64)>) -> impl IntoView {
    let i18n = use_i18n();
    if series.len() < 2 {
        return view! { <p class="muted">{t!(i18n, chart_too_short)}</p> }.into_any();
    }
    let (low, high) = series
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let last = series.last().map_or(0, |(_, v)| *v);
    let summary = t_string!(i18n, chart_balance_summary)
        .replace("{n}", &series.len().to_string())
        .replace("{first}", &series[0].1.to_string())
        .replace("{last}", &last.to_string())
        .replace("{low}", &low.to_string())
        .replace("{high}", &high.to_string());
    let line = super::chart::Line {
        name: "balance".into(),
        class: "line-balance",
        values: series.iter().map(|(_, v)| Some(*v as f64)).collect(),
    };
    view! { <super::chart::LineChart lines=vec![line] summary/> }.into_any()
}
