//! The classroom board: every student as a card; tap a card, tap a preset, done.
//!
//! The page is split by what the teacher is doing: the cards (here), the award sheet
//! (`sheet`), groups and selections (`groups`), and the presets editor (`presets`). They share
//! one [`BoardState`] of signals and one [`Writes`] that sends every write with its request id.

mod groups;
mod presets;
mod projector_mode;
mod sheet;

use super::request_id::{new_request_id, random_below};
use crate::error::AppError;
use crate::i18n::{Locale, t, t_string, td_string, use_i18n};
use crate::{
    api::board::{Award, AwardClass, AwardMany, Undo, class_board},
    model::{Awarded, Board, GroupInfo, Preset, RandomPicker, StudentInfo, TransactionType},
};
use leptos::prelude::*;
use leptos_i18n::I18nContext;
use leptos_router::hooks::{use_params_map, use_query_map};

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
    /// `error` worded for the teacher as `message`.
    fn of(message: String, error: &AppError) -> Self {
        Failure {
            message,
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
    let board = crate::ui::load(class_id, class_board);
    super::loaded(board, |board| view! { <ClassBoard board/> }.into_any())
}

/// Everything the parts of the board share. Signals are `Copy`, so each part holds the same
/// handles.
#[derive(Clone, Copy)]
struct BoardState {
    class_id: StoredValue<String>,
    students: RwSignal<Vec<StudentInfo>>,
    groups: RwSignal<Vec<GroupInfo>>,
    presets: RwSignal<Vec<Preset>>,
    /// Whether the presets are the class's own (else the school's).
    custom_presets: RwSignal<bool>,
    /// Whether the sheet offers a redemption (the rules may forbid it).
    can_redeem: RwSignal<bool>,
    /// The award sheet, when open.
    open: RwSignal<Option<Target>>,
    editing_presets: RwSignal<bool>,
    failure: RwSignal<Option<Failure>>,
    selecting: RwSignal<bool>,
    selected: RwSignal<Vec<String>>,
    /// The group whose name and members the selection is editing, if any.
    editing_group: RwSignal<Option<String>>,
    group_name: RwSignal<String>,
    i18n: I18nContext<Locale>,
}

impl BoardState {
    fn new(board: &Board, i18n: I18nContext<Locale>) -> Self {
        Self {
            class_id: StoredValue::new(board.class.id.clone()),
            students: RwSignal::new(board.students.clone()),
            groups: RwSignal::new(board.groups.clone()),
            presets: RwSignal::new(board.presets.clone()),
            custom_presets: RwSignal::new(board.custom_presets),
            can_redeem: RwSignal::new(board.can_redeem),
            open: RwSignal::new(None),
            editing_presets: RwSignal::new(false),
            failure: RwSignal::new(None),
            selecting: RwSignal::new(false),
            selected: RwSignal::new(vec![]),
            editing_group: RwSignal::new(None),
            group_name: RwSignal::new(String::new()),
            i18n,
        }
    }

    /// Shows a failed write, in the interface's language and naming students by name.
    fn fail(&self, error: &AppError) {
        let message = crate::ui::error_text_naming(self.i18n.get_locale_untracked(), error, |id| {
            Some(self.name_of(id)).filter(|name| !name.is_empty())
        });
        self.failure.set(Some(Failure::of(message, error)));
    }

    /// Takes in a freshly loaded board (after a reconnect or a roster change elsewhere).
    fn refresh(&self, board: Board) {
        self.students.set(board.students);
        self.groups.set(board.groups);
        self.presets.set(board.presets);
        self.custom_presets.set(board.custom_presets);
        self.can_redeem.set(board.can_redeem);
    }

    /// New balances from any write go straight onto the cards.
    fn apply(&self, awarded: &Awarded) {
        self.students.update(|list| {
            for balance in &awarded.balances {
                if let Some(s) = list.iter_mut().find(|s| s.id == balance.student_id) {
                    s.points = balance.points;
                }
            }
        });
    }

    fn name_of(&self, student_id: &str) -> String {
        self.students
            .with_untracked(|list| {
                list.iter()
                    .find(|s| s.id == student_id)
                    .map(|s| s.name.clone())
            })
            .unwrap_or_default()
    }

    fn end_selection(&self) {
        self.selected.set(vec![]);
        self.selecting.set(false);
        self.editing_group.set(None);
        self.group_name.set(String::new());
    }

    /// "王子涵 +1 积极发言", "40 students +1 …" for a batch, "王子涵 -5 贴纸 (兑换)" for a
    /// redemption.
    fn describe(&self, awarded: &Awarded) -> String {
        let Some(first) = awarded.transactions.first() else {
            return String::new();
        };
        // Untracked: this runs in the writes' effects, which must not run again when the
        // language changes.
        let locale = self.i18n.get_locale_untracked();
        let who = if awarded.transactions.len() > 1 {
            td_string!(locale, n_students).replace("{n}", &awarded.transactions.len().to_string())
        } else {
            self.name_of(&first.student_id)
        };
        let what = format!("{who} {} {}", signed(first.points_change), first.reason);
        if first.transaction_type == TransactionType::Redeem {
            format!("{what} ({})", td_string!(locale, kind_redeem))
        } else {
            what
        }
    }
}

/// The board's point writes: each press gets a new request id and is kept, so Retry resends
/// exactly the same request.
#[derive(Clone, Copy)]
struct Writes {
    award: ServerAction<Award>,
    award_class: ServerAction<AwardClass>,
    award_many: ServerAction<AwardMany>,
    undo: ServerAction<Undo>,
    last_press: StoredValue<Option<Press>>,
    done: RwSignal<Option<Done>>,
}

impl Writes {
    fn new(state: BoardState) -> Self {
        let writes = Self {
            award: ServerAction::new(),
            award_class: ServerAction::new(),
            award_many: ServerAction::new(),
            undo: ServerAction::new(),
            last_press: StoredValue::new(None),
            done: RwSignal::new(None),
        };
        for action in [
            writes.award.value(),
            writes.award_class.value(),
            writes.award_many.value(),
        ] {
            Effect::new(move |_| match action.get() {
                Some(Ok(awarded)) => {
                    state.apply(&awarded);
                    state.failure.set(None);
                    writes.done.set(Some(Done {
                        message: state.describe(&awarded),
                        transaction_id: (awarded.transactions.len() == 1)
                            .then(|| awarded.transactions[0].id.clone()),
                        batch_id: awarded.batch_id.clone(),
                    }));
                }
                Some(Err(e)) => state.fail(&e),
                None => {}
            });
        }
        Effect::new(move |_| match writes.undo.value().get() {
            Some(Ok(awarded)) => {
                state.apply(&awarded);
                writes.done.set(None);
            }
            Some(Err(e)) => state.fail(&e),
            None => {}
        });
        writes
    }

    fn send(&self, state: BoardState, press: Press) {
        state.failure.set(None);
        self.last_press.set_value(Some(press.clone()));
        match press {
            Press::One(input) => {
                self.award.dispatch(input);
            }
            Press::Class(input) => {
                self.award_class.dispatch(input);
            }
            Press::Many(input) => {
                self.award_many.dispatch(input);
            }
        }
    }

    fn retry(&self, state: BoardState) {
        if let Some(press) = self.last_press.get_value() {
            self.send(state, press);
        }
    }

    /// One press: close the sheet first (a second click of a double click finds no button),
    /// then send the write with a new request id. `redeem` (one student only) records the
    /// preset's negative points as a redemption rather than a deduction.
    fn press(&self, state: BoardState, preset: Preset, redeem: bool) {
        let Some(target) = state.open.get_untracked() else {
            return;
        };
        state.open.set(None);
        let request_id = new_request_id();
        let (points_change, reason) = (preset.points, preset.reason);
        let press = match target {
            Target::Student { id, .. } => Press::One(Award {
                student_id: id,
                points_change,
                reason,
                request_id,
                redeem,
            }),
            Target::Class => Press::Class(AwardClass {
                class_id: state.class_id.get_value(),
                points_change,
                reason,
                request_id,
            }),
            Target::Selected(student_ids) => {
                state.end_selection();
                Press::Many(AwardMany {
                    student_ids,
                    group_id: None,
                    points_change,
                    reason,
                    request_id,
                })
            }
            Target::Group { id, .. } => Press::Many(AwardMany {
                student_ids: vec![],
                group_id: Some(id),
                points_change,
                reason,
                request_id,
            }),
        };
        self.send(state, press);
    }
}

#[component]
fn ClassBoard(board: Board) -> impl IntoView {
    let i18n = use_i18n();
    let class_name = board.class.name.clone();
    let state = BoardState::new(&board, i18n);
    let writes = Writes::new(state);
    // Projector mode and its options come from the URL (?view=projector&hide_negative=1&
    // hide_ranking=1), so a classroom projector can keep a bookmark.
    let query = use_query_map();
    let flag = move |name: &str| query.with_untracked(|q| q.get(name).is_some_and(|v| v == "1"));
    let projector =
        RwSignal::new(query.with_untracked(|q| q.get("view").as_deref() == Some("projector")));
    let hide_negative = RwSignal::new(flag("hide_negative"));
    let hide_ranking = RwSignal::new(flag("hide_ranking"));
    let by_points = RwSignal::new(false);
    let picker = StoredValue::new(RandomPicker::default());
    let picked = RwSignal::new(None::<String>);
    projector_mode::end_on_escape_or_full_screen_exit(projector);
    // A new class has nobody to award yet: the tools that act on students wait for some.
    let no_students = Memo::new(move |_| state.students.with(Vec::is_empty));

    // Live: changes made on other devices arrive as they commit; on every (re)connect the
    // whole board is fetched again, so nothing missed while disconnected stays missing.
    let class_for_live = board.class.id.clone();
    Effect::new(move |_| {
        let resync = move || {
            let class_id = state.class_id.get_value();
            leptos::task::spawn_local(async move {
                if let Ok(board) = class_board(class_id).await {
                    state.refresh(board);
                }
            });
        };
        super::live::follow(
            &class_for_live,
            move |update| {
                if update.reload {
                    resync();
                } else {
                    state.apply(&Awarded {
                        batch_id: None,
                        transactions: vec![],
                        balances: update.balances,
                    });
                }
            },
            resync,
        );
    });
    // Tapping a card awards that student, or in select mode toggles the selection.
    let tap = move |target: Target| {
        if let (true, Target::Student { id, .. }) = (state.selecting.get_untracked(), &target) {
            state.selected.update(|list| {
                if let Some(at) = list.iter().position(|s| s == id) {
                    list.remove(at);
                } else {
                    list.push(id.clone());
                }
            });
        } else {
            state.open.set(Some(target));
        }
    };
    let pick_random = move |_| {
        let everyone: Vec<String> = sorted(state.students.get_untracked(), false)
            .into_iter()
            .map(|s| s.id)
            .collect();
        let next = picker
            .try_update_value(|p| p.next(&everyone, random_below))
            .flatten();
        if let Some(id) = next {
            let name = state.name_of(&id);
            picked.set(Some(id.clone()));
            state.open.set(Some(Target::Student { id, name }));
        }
    };

    view! {
        <section class="board" class:projector=move || projector.get() aria-labelledby="board-title">
            <header class="board-header">
                <h1 id="board-title">{class_name}</h1>
                <div class="board-tools">
                    <button
                        type="button"
                        data-testid="projector"
                        aria-pressed=move || projector.get().to_string()
                        on:click=move |_| projector_mode::toggle(projector)
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
                        disabled=move || no_students.get()
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
                    <button
                        type="button"
                        data-testid="random"
                        disabled=move || no_students.get()
                        on:click=pick_random
                    >
                        {t!(i18n, random)}
                    </button>
                    <button
                        type="button"
                        data-testid="select-mode"
                        disabled=move || no_students.get()
                        aria-pressed=move || state.selecting.get().to_string()
                        on:pointerenter=move |_| groups::preload_bar()
                        on:focus=move |_| groups::preload_bar()
                        on:click=move |_| {
                            let was = state.selecting.get_untracked();
                            state.end_selection();
                            state.selecting.set(!was);
                        }
                    >
                        {t!(i18n, select)}
                    </button>
                    <button
                        type="button"
                        class="primary"
                        data-testid="award-class"
                        disabled=move || no_students.get()
                        on:click=move |_| state.open.set(Some(Target::Class))
                    >
                        {t!(i18n, whole_class)}
                    </button>
                </div>
            </header>
            <groups::GroupChips state/>
            <groups::SelectionBar state/>
            <Show when=move || no_students.get()>
                <p class="empty" data-testid="no-students">{t!(i18n, no_students_yet)}</p>
            </Show>
            <ul class="cards" role="list">
                <For
                    each=move || sorted(state.students.get(), by_points.get() && !hide_ranking.get())
                    key=|s| s.id.clone()
                    children=move |s| view! { <Card id=s.id state picked hide_negative on_tap=tap/> }
                />
            </ul>
            <sheet::AwardSheet state writes/>
            <presets::PresetEditor state/>
            <Toasts state writes/>
        </section>
    }
}

/// A part of the board used now and then, shown while `open` is set. `load` is a `#[lazy]`
/// function: in `--split` builds its code is a module of its own, fetched the first time the
/// part opens, and until it has arrived the page's loading bar runs at the top (and a screen
/// reader hears "Loading…").
fn lazy_part<Loading>(
    open: RwSignal<bool>,
    load: impl Fn() -> Loading + Send + Sync + Copy + 'static,
) -> impl IntoView
where
    Loading: Future<Output = AnyView> + Send + 'static,
{
    move || {
        open.get().then(|| {
            view! {
                <Suspense fallback=|| {
                    let i18n = use_i18n();
                    view! {
                        <div class="page-loading" aria-hidden="true" data-testid="part-loading"></div>
                        <span class="visually-hidden" role="status">{t!(i18n, loading)}</span>
                    }
                }>
                    {Suspend::new(load())}
                </Suspense>
            }
        })
    }
}

/// One student's card. Keyed by id in the list, so it stays the same element (and keeps
/// focus) while its name and points change.
#[component]
fn Card(
    id: String,
    state: BoardState,
    picked: RwSignal<Option<String>>,
    hide_negative: RwSignal<bool>,
    on_tap: impl Fn(Target) + Copy + 'static,
) -> impl IntoView {
    let lookup = id.clone();
    let current = Memo::new(move |_| {
        state.students.with(|list| {
            list.iter()
                .find(|s| s.id == lookup)
                .map(|s| (s.name.clone(), s.points))
                .unwrap_or_default()
        })
    });
    let points = move || current.with(|c| c.1);
    let name = move || current.with(|c| c.0.clone());
    let label = move || {
        let (name, points) = current.get();
        if hide_negative.get() && points < 0 {
            name
        } else {
            t_string!(state.i18n, card_label)
                .replace("{name}", &name)
                .replace("{points}", &points.to_string())
        }
    };
    let selected_id = id.clone();
    let picked_id = id.clone();
    let tap_id = id.clone();
    view! {
        <li>
            <button
                type="button"
                class="card"
                class:selected=move || state.selected.with(|list| list.contains(&selected_id))
                class:picked=move || picked.with(|p| p.as_ref() == Some(&picked_id))
                class:negative=move || points() < 0 && !hide_negative.get()
                data-student=id.clone()
                data-name=name
                aria-label=label
                on:click=move |_| {
                    on_tap(Target::Student {
                        id: tap_id.clone(),
                        name: name(),
                    })
                }
            >
                <span class="name">{name}</span>
                <span class="points">{move || shown_points(points(), hide_negative.get())}</span>
            </button>
        </li>
    }
}

/// The outcome of the last write: an undo toast after success, the error (with Retry when
/// resending may help) after a failure.
#[component]
fn Toasts(state: BoardState, writes: Writes) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="toasts" aria-live="polite">
            {move || {
                state
                    .failure
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
                                                on:click=move |_| writes.retry(state)
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
                writes
                    .done
                    .get()
                    .map(|last| {
                        view! {
                            <p class="toast" data-testid="toast">
                                <span>{last.message.clone()}</span>
                                <button
                                    type="button"
                                    data-testid="undo"
                                    disabled=move || writes.undo.pending().get()
                                    on:click=move |_| {
                                        writes
                                            .undo
                                            .dispatch(Undo {
                                                transaction_id: last.transaction_id.clone(),
                                                batch_id: last.batch_id.clone(),
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
