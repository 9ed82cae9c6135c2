//! The classroom board: every student as a card; tap a card, tap a preset, done.

use super::request_id::{new_request_id, random_below};
use crate::error::AppError;
use crate::i18n::{t, t_string, use_i18n};
use crate::{
    api::board::{Award, AwardClass, AwardMany, SaveGroup, Undo, class_board},
    model::{Awarded, Board, Preset, RandomPicker, StudentInfo},
};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use std::collections::HashMap;

/// Whom the open award sheet is for.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Student { id: String, name: String },
    Class,
    Selected(Vec<String>),
    Group { id: String, name: String },
}

/// The last write, for the undo toast.
#[derive(Debug, Clone, PartialEq)]
struct Done {
    message: String,
    transaction_id: Option<String>,
    batch_id: Option<String>,
}

/// A write that did not go through; a retry resends the same request (same request id).
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    message: String,
    retryable: bool,
}

impl Failure {
    fn from(error: &AppError) -> Self {
        Failure {
            message: error.to_string(),
            // The network or the server failed: the write may or may not have happened, and
            // resending the same request id is safe either way.
            retryable: matches!(
                error,
                AppError::Unavailable { .. } | AppError::Internal { .. }
            ),
        }
    }

    fn message(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: false,
        }
    }
}

/// One press of a preset, kept so that a retry sends exactly the same request.
#[derive(Debug, Clone)]
enum Press {
    One(Award),
    Class(AwardClass),
    Many(AwardMany),
}

/// Students in display order: by name, or by points (highest first, then name).
fn sorted(mut students: Vec<StudentInfo>, by_points: bool) -> Vec<StudentInfo> {
    if by_points {
        students.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.name.cmp(&b.name)));
    } else {
        students.sort_by(|a, b| a.name.cmp(&b.name));
    }
    students
}

/// What a card shows for a balance; projector mode may hide negative balances.
fn shown_points(points: i64, hide_negative: bool) -> String {
    if hide_negative && points < 0 {
        "–".to_owned()
    } else {
        points.to_string()
    }
}

fn signed(points: i64) -> String {
    if points > 0 {
        format!("+{points}")
    } else {
        points.to_string()
    }
}

#[component]
pub fn BoardPage() -> impl IntoView {
    let params = use_params_map();
    let class_id = move || params.read().get("id").unwrap_or_default();
    let board = Resource::new(class_id, class_board);
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                board
                    .get()
                    .map(|result| match result {
                        Err(e) => super::load_failed(e),
                        Ok(board) => view! { <ClassBoard board/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn ClassBoard(board: Board) -> impl IntoView {
    let i18n = use_i18n();
    let class_id = board.class.id.clone();
    let names: HashMap<String, String> = board
        .students
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let students = RwSignal::new(board.students);
    let presets = board.presets;
    // Projector mode and its options come from the URL (?view=projector&hide_negative=1&
    // hide_ranking=1), so a classroom projector can keep a bookmark.
    let query = use_query_map();
    let flag = move |name: &str| query.with_untracked(|q| q.get(name).is_some_and(|v| v == "1"));
    let projector =
        RwSignal::new(query.with_untracked(|q| q.get("view").as_deref() == Some("projector")));
    let hide_negative = RwSignal::new(flag("hide_negative"));
    let hide_ranking = RwSignal::new(flag("hide_ranking"));
    let by_points = RwSignal::new(false);
    let open = RwSignal::new(None::<Target>);
    let done = RwSignal::new(None::<Done>);
    let failure = RwSignal::new(None::<Failure>);

    let award = ServerAction::<Award>::new();
    let award_class = ServerAction::<AwardClass>::new();
    let award_many = ServerAction::<AwardMany>::new();
    let save_group = ServerAction::<SaveGroup>::new();
    let groups = RwSignal::new(board.groups);
    let selecting = RwSignal::new(false);
    let selected = RwSignal::new(Vec::<String>::new());
    let group_name = RwSignal::new(String::new());
    let picker = StoredValue::new(RandomPicker::default());
    let picked = RwSignal::new(None::<String>);
    Effect::new(move |_| match save_group.value().get() {
        Some(Ok(group)) => {
            groups.update(|list| list.push(group));
            selected.set(vec![]);
            selecting.set(false);
            group_name.set(String::new());
        }
        Some(Err(e)) => failure.set(Some(Failure::from(&e))),
        None => {}
    });
    let undo = ServerAction::<Undo>::new();

    // New balances from any write go straight onto the cards.
    let apply = move |awarded: &Awarded| {
        students.update(|list| {
            for balance in &awarded.balances {
                if let Some(s) = list.iter_mut().find(|s| s.id == balance.student_id) {
                    s.points = balance.points;
                }
            }
        });
    };
    let describe = move |awarded: &Awarded| -> String {
        let Some(first) = awarded.transactions.first() else {
            return String::new();
        };
        let who = if awarded.transactions.len() > 1 {
            format!("{} students", awarded.transactions.len())
        } else {
            names.get(&first.student_id).cloned().unwrap_or_default()
        };
        format!("{who} {} {}", signed(first.points_change), first.reason)
    };
    let describe = StoredValue::new(describe);
    for action in [award.value(), award_class.value(), award_many.value()] {
        Effect::new(move |_| match action.get() {
            Some(Ok(awarded)) => {
                apply(&awarded);
                failure.set(None);
                done.set(Some(Done {
                    message: describe.with_value(|d| d(&awarded)),
                    transaction_id: (awarded.transactions.len() == 1)
                        .then(|| awarded.transactions[0].id.clone()),
                    batch_id: awarded.batch_id.clone(),
                }));
            }
            Some(Err(e)) => failure.set(Some(Failure::from(&e))),
            None => {}
        });
    }
    Effect::new(move |_| match undo.value().get() {
        Some(Ok(awarded)) => {
            apply(&awarded);
            done.set(None);
        }
        Some(Err(e)) => failure.set(Some(Failure::from(&e))),
        None => {}
    });

    // Live: changes made on other devices arrive as they commit; on every (re)connect the
    // whole board is fetched again, so nothing missed while disconnected stays missing.
    let class_for_live = class_id.clone();
    Effect::new(move |_| {
        let resync_class = class_for_live.clone();
        let resync = move || {
            let class_id = resync_class.clone();
            leptos::task::spawn_local(async move {
                if let Ok(board) = class_board(class_id).await {
                    students.set(board.students);
                }
            });
        };
        let reload = resync.clone();
        super::live::follow(
            &class_for_live,
            move |update| {
                if update.reload {
                    reload();
                } else {
                    apply(&Awarded {
                        batch_id: None,
                        transactions: vec![],
                        balances: update.balances,
                    });
                }
            },
            resync,
        );
    });
    let class_for_press = StoredValue::new(class_id);
    let last_press = StoredValue::new(None::<Press>);
    let send = move |press: Press| {
        failure.set(None);
        last_press.set_value(Some(press.clone()));
        match press {
            Press::One(input) => {
                award.dispatch(input);
            }
            Press::Class(input) => {
                award_class.dispatch(input);
            }
            Press::Many(input) => {
                award_many.dispatch(input);
            }
        }
    };
    // One press: close the sheet first (a second click of a double click finds no button),
    // then send the write with a new request id.
    let press = move |preset: Preset| {
        let Some(target) = open.get_untracked() else {
            return;
        };
        open.set(None);
        let request_id = new_request_id();
        send(match target {
            Target::Student { id, .. } => Press::One(Award {
                student_id: id,
                points_change: preset.points,
                reason: preset.reason,
                request_id,
            }),
            Target::Class => Press::Class(AwardClass {
                class_id: class_for_press.get_value(),
                points_change: preset.points,
                reason: preset.reason,
                request_id,
            }),
            Target::Selected(student_ids) => {
                selected.set(vec![]);
                selecting.set(false);
                Press::Many(AwardMany {
                    student_ids,
                    group_id: None,
                    points_change: preset.points,
                    reason: preset.reason,
                    request_id,
                })
            }
            Target::Group { id, .. } => Press::Many(AwardMany {
                student_ids: vec![],
                group_id: Some(id),
                points_change: preset.points,
                reason: preset.reason,
                request_id,
            }),
        });
    };
    // Tapping a card awards that student, or in select mode toggles the selection.
    let tap = move |target: Target| {
        if let (true, Target::Student { id, .. }) = (selecting.get_untracked(), &target) {
            selected.update(|list| {
                if let Some(at) = list.iter().position(|s| s == id) {
                    list.remove(at);
                } else {
                    list.push(id.clone());
                }
            });
        } else {
            open.set(Some(target));
        }
    };
    let pick_random = move |_| {
        let everyone: Vec<String> = sorted(students.get_untracked(), false)
            .into_iter()
            .map(|s| s.id)
            .collect();
        let next = picker
            .try_update_value(|p| p.next(&everyone, random_below))
            .flatten();
        if let Some(id) = next {
            let name = students
                .with_untracked(|list| list.iter().find(|s| s.id == id).map(|s| s.name.clone()))
                .unwrap_or_default();
            picked.set(Some(id.clone()));
            open.set(Some(Target::Student { id, name }));
        }
    };
    // Escape closes the award sheet.
    let _escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            open.set(None);
        }
    });
    let custom = RwSignal::new(String::new());
    let presets = StoredValue::new(presets);

    view! {
        <section class="board" class:projector=move || projector.get() aria-labelledby="board-title">
            <header class="board-header">
                <h1 id="board-title">{board.class.name}</h1>
                <div class="board-tools">
                    <button
                        type="button"
                        data-testid="projector"
                        aria-pressed=move || projector.get().to_string()
                        on:click=move |_| projector.update(|p| *p = !*p)
                    >
                        {t!(i18n, projector)}
                    </button>
                    <Show when=move || projector.get()>
                        <label class="toggle">
                            <input
                                type="checkbox"
                                data-testid="hide-negative"
                                prop:checked=move || hide_negative.get()
                                on:change=move |ev| hide_negative.set(event_target_checked(&ev))
                            />
                            {t!(i18n, hide_negative)}
                        </label>
                        <label class="toggle">
                            <input
                                type="checkbox"
                                data-testid="hide-ranking"
                                prop:checked=move || hide_ranking.get()
                                on:change=move |ev| hide_ranking.set(event_target_checked(&ev))
                            />
                            {t!(i18n, hide_ranking)}
                        </label>
                    </Show>
                    <button
                        type="button"
                        data-testid="sort"
                        hidden=move || hide_ranking.get()
                        aria-pressed=move || by_points.get().to_string()
                        on:click=move |_| by_points.update(|b| *b = !*b)
                    >
                        {move || {
                            if by_points.get() {
                                t!(i18n, sort_by_name).into_any()
                            } else {
                                t!(i18n, sort_by_points).into_any()
                            }
                        }}
                    </button>
                    <button type="button" data-testid="random" on:click=pick_random>
                        {t!(i18n, random)}
                    </button>
                    <button
                        type="button"
                        data-testid="select-mode"
                        aria-pressed=move || selecting.get().to_string()
                        on:click=move |_| {
                            selecting.update(|s| *s = !*s);
                            selected.set(vec![]);
                        }
                    >
                        {t!(i18n, select)}
                    </button>
                    <button
                        type="button"
                        class="primary"
                        data-testid="award-class"
                        on:click=move |_| open.set(Some(Target::Class))
                    >
                        {t!(i18n, whole_class)}
                    </button>
                </div>
            </header>
            <Show when=move || !groups.get().is_empty()>
                <ul class="groups" role="list">
                    {move || {
                        groups
                            .get()
                            .into_iter()
                            .map(|g| {
                                let target = Target::Group {
                                    id: g.id.clone(),
                                    name: g.name.clone(),
                                };
                                view! {
                                    <li>
                                        <button
                                            type="button"
                                            class="chip"
                                            data-testid="group"
                                            on:click=move |_| open.set(Some(target.clone()))
                                        >
                                            {format!("{} · {}", g.name, g.student_ids.len())}
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
            </Show>
            <Show when=move || selecting.get()>
                <div class="selection-bar" data-testid="selection-bar">
                    <span>{move || format!("{} ✓", selected.get().len())}</span>
                    <button
                        type="button"
                        class="primary"
                        data-testid="award-selected"
                        disabled=move || selected.get().is_empty()
                        on:click=move |_| open.set(Some(Target::Selected(selected.get_untracked())))
                    >
                        {t!(i18n, award_selected)}
                    </button>
                    <label>
                        <span class="visually-hidden">{t!(i18n, group_name)}</span>
                        <input
                            type="text"
                            data-testid="group-name"
                            placeholder=move || t_string!(i18n, group_name)
                            prop:value=move || group_name.get()
                            on:input=move |ev| group_name.set(event_target_value(&ev))
                        />
                    </label>
                    <button
                        type="button"
                        data-testid="save-group"
                        disabled=move || selected.get().is_empty() || group_name.get().trim().is_empty()
                        on:click=move |_| {
                            save_group.dispatch(SaveGroup {
                                class_id: class_for_press.get_value(),
                                name: group_name.get_untracked(),
                                student_ids: selected.get_untracked(),
                            });
                        }
                    >
                        {t!(i18n, save_group)}
                    </button>
                </div>
            </Show>
            <ul class="cards" role="list">
                <For
                    each=move || sorted(students.get(), by_points.get() && !hide_ranking.get())
                    key=|s| (s.id.clone(), s.points)
                    children=move |s| {
                        let target = Target::Student {
                            id: s.id.clone(),
                            name: s.name.clone(),
                        };
                        let shown = move || shown_points(s.points, hide_negative.get());
                        let name = s.name.clone();
                        let label_name = s.name.clone();
                        let label = move || {
                            if hide_negative.get() && s.points < 0 {
                                label_name.clone()
                            } else {
                                format!("{label_name}, {} points", s.points)
                            }
                        };
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="card"
                                    class:selected={
                                        let id = s.id.clone();
                                        move || selected.with(|list| list.contains(&id))
                                    }
                                    class:picked={
                                        let id = s.id.clone();
                                        move || picked.with(|p| p.as_ref() == Some(&id))
                                    }
                                    class:negative=move || s.points < 0 && !hide_negative.get()
                                    data-student=s.id.clone()
                                    data-name=s.name.clone()
                                    aria-label=label
                                    on:click=move |_| tap(target.clone())
                                >
                                    <span class="name">{name}</span>
                                    <span class="points">{shown}</span>
                                </button>
                            </li>
                        }
                    }
                />
            </ul>
            {move || {
                open.get()
                    .map(|target| {
                        let (title, history) = match &target {
                            Target::Student { id, name } => {
                                (name.clone(), Some(format!("/student/{id}")))
                            }
                            Target::Class => (t_string!(i18n, whole_class).to_owned(), None),
                            Target::Selected(ids) => (format!("{} ✓", ids.len()), None),
                            Target::Group { name, .. } => (name.clone(), None),
                        };
                        view! {
                            <div class="sheet-backdrop" on:click=move |_| open.set(None)></div>
                            <div class="sheet" role="dialog" aria-modal="true" aria-labelledby="sheet-title">
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
                                    {presets
                                        .get_value()
                                        .into_iter()
                                        .map(|preset| {
                                            let label = format!("{} {}", signed(preset.points), preset.reason);
                                            let value = preset.clone();
                                            view! {
                                                <button
                                                    type="button"
                                                    class="preset"
                                                    class:minus=preset.points < 0
                                                    data-testid="preset"
                                                    on:click=move |_| press(value.clone())
                                                >
                                                    {label}
                                                </button>
                                            }
                                        })
                                        .collect_view()}
                                </div>
                                <form
                                    class="custom"
                                    on:submit=move |ev| {
                                        ev.prevent_default();
                                        match custom.get_untracked().trim().parse::<i64>() {
                                            Ok(points) if points != 0 => {
                                                custom.set(String::new());
                                                press(Preset { reason: String::new(), points });
                                            }
                                            _ => {
                                                failure.set(Some(Failure::message("Enter a whole number other than 0")))
                                            }
                                        }
                                    }
                                >
                                    <label>
                                        {t!(i18n, custom)}
                                        <input
                                            type="number"
                                            name="points"
                                            data-testid="custom-points"
                                            prop:value=move || custom.get()
                                            on:input=move |ev| custom.set(event_target_value(&ev))
                                        />
                                    </label>
                                    <button type="submit">{t!(i18n, give)}</button>
                                    <button type="button" on:click=move |_| open.set(None)>
                                        {t!(i18n, cancel)}
                                    </button>
                                </form>
                            </div>
                        }
                    })
            }}
            <div class="toasts" aria-live="polite">
                {move || {
                    failure
                        .get()
                        .map(|failed| {
                            view! {
                                <p class="toast error" role="alert">
                                    <span>{failed.message}</span>
                                    {failed
                                        .retryable
                                        .then(|| {
                                            view! {
                                                <button
                                                    type="button"
                                                    data-testid="retry"
                                                    on:click=move |_| {
                                                        if let Some(press) = last_press.get_value() {
                                                            send(press);
                                                        }
                                                    }
                                                >
                                                    {t!(i18n, retry)}
                                                </button>
                                            }
                                        })}
                                </p>
                            }
                        })
                }}
                {move || {
                    done.get()
                        .map(|last| {
                            let again = last.clone();
                            view! {
                                <p class="toast" data-testid="toast">
                                    <span>{last.message}</span>
                                    <button
                                        type="button"
                                        data-testid="undo"
                                        disabled=move || undo.pending().get()
                                        on:click=move |_| {
                                            undo.dispatch(Undo {
                                                transaction_id: again.transaction_id.clone(),
                                                batch_id: again.batch_id.clone(),
                                                request_id: new_request_id(),
                                            });
                                        }
                                    >
                                        {t!(i18n, undo)}
                                    </button>
                                </p>
                            }
                        })
                }}
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(name: &str, points: i64) -> StudentInfo {
        StudentInfo {
            id: name.to_owned(),
            class_id: "c".into(),
            name: name.to_owned(),
            student_no: None,
            points,
            archived: false,
        }
    }

    #[test]
    fn boards_sort_by_name_or_by_points_then_name() {
        let list = vec![student("Cai", 3), student("Ann", 1), student("Bo", 3)];
        let names = |v: Vec<StudentInfo>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(names(sorted(list.clone(), false)), ["Ann", "Bo", "Cai"]);
        assert_eq!(names(sorted(list, true)), ["Bo", "Cai", "Ann"]);
    }

    #[test]
    fn projector_can_hide_negative_balances_only() {
        assert_eq!(shown_points(-3, true), "–");
        assert_eq!(shown_points(-3, false), "-3");
        assert_eq!(shown_points(0, true), "0");
        assert_eq!(shown_points(5, true), "5");
        assert_eq!(signed(2), "+2");
        assert_eq!(signed(-1), "-1");
    }
}
