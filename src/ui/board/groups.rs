//! Groups and selections: chips that award a group, and the bar that awards the selected
//! students, saves them as a new group, or edits and deletes the group being edited.

use super::{BoardState, Target};
use crate::i18n::{t, t_string, use_i18n};
use crate::{
    api::board::{delete_group, save_group, update_group},
    error::AppError,
    model::GroupInfo,
};
use leptos::prelude::*;

/// One chip per group. Outside select mode a chip awards the group; in select mode it loads
/// the group into the selection to edit its name and members.
#[component]
pub(super) fn GroupChips(state: BoardState) -> impl IntoView {
    let chip = move |group: GroupInfo| {
        let label = format!("{} · {}", group.name, group.student_ids.len());
        let id = group.id.clone();
        let editing = Signal::derive(move || state.editing_group.with(|g| g.as_ref() == Some(&id)));
        view! {
            <li>
                <button
                    type="button"
                    class="chip"
                    class:selected=editing
                    aria-pressed=move || editing.get().to_string()
                    data-testid="group"
                    on:click=move |_| {
                        if state.selecting.get_untracked() {
                            state.selected.set(group.student_ids.clone());
                            state.group_name.set(group.name.clone());
                            state.editing_group.set(Some(group.id.clone()));
                        } else {
                            state
                                .open
                                .set(
                                    Some(Target::Group {
                                        id: group.id.clone(),
                                        name: group.name.clone(),
                                    }),
                                );
                        }
                    }
                >
                    {label}
                </button>
            </li>
        }
    };
    view! {
        <Show when=move || !state.groups.with(Vec::is_empty)>
            <ul class="groups" role="list">
                {move || state.groups.get().into_iter().map(chip).collect_view()}
            </ul>
        </Show>
    }
}

/// The bar of select mode: award the selected students, save them as a group, or change or
/// delete the group being edited. Its code is fetched when select mode first opens
/// (`lazy_part`), so the board's bundle leaves it out.
#[component]
pub(super) fn SelectionBar(state: BoardState) -> impl IntoView {
    super::lazy_part(state.selecting, move || selection_bar(state))
}

#[lazy]
fn selection_bar(state: BoardState) -> AnyView {
    view! { <Bar state/> }.into_any()
}

/// Starts fetching the bar's code when the teacher points at, touches or focuses the select
/// button (`pointerenter` comes before `pointerdown` for a touch too), so by the click it is
/// usually there; a teacher who never goes near the button never downloads it. Once per page.
pub(super) fn preload_bar() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        lazy_preload!(selection_bar);
    });
}

/// Sends a group change as a task of its own rather than an action owned by the bar, so its
/// outcome (the new chips, or why it was refused) still reaches the board when select mode
/// was left before the answer came.
fn send<T: 'static>(
    state: BoardState,
    call: impl Future<Output = Result<T, AppError>> + 'static,
    done: impl FnOnce(T) + 'static,
) {
    leptos::task::spawn_local(async move {
        match call.await {
            Ok(value) => {
                done(value);
                state.end_selection();
            }
            Err(e) => state.fail(&e),
        }
    });
}

#[component]
fn Bar(state: BoardState) -> impl IntoView {
    let i18n = use_i18n();
    let nothing_selected = move || state.selected.with(Vec::is_empty);
    let unnamed = move || state.group_name.with(|n| n.trim().is_empty());
    let save = move |_| {
        let name = state.group_name.get_untracked();
        let student_ids = state.selected.get_untracked();
        match state.editing_group.get_untracked() {
            Some(group_id) => send(
                state,
                update_group(group_id, name, student_ids),
                move |group| {
                    state.groups.update(|list| {
                        if let Some(old) = list.iter_mut().find(|g| g.id == group.id) {
                            *old = group;
                        }
                    });
                },
            ),
            None => send(
                state,
                save_group(state.class_id.get_value(), name, student_ids),
                move |group| state.groups.update(|list| list.push(group)),
            ),
        }
    };
    view! {
        <div class="selection-bar" data-testid="selection-bar">
            <span>{move || format!("{} ✓", state.selected.with(Vec::len))}</span>
            <button
                type="button"
                class="primary"
                data-testid="award-selected"
                disabled=nothing_selected
                on:click=move |_| {
                    state.open.set(Some(Target::Selected(state.selected.get_untracked())))
                }
            >
                {t!(i18n, award_selected)}
            </button>
            <label>
                <span class="visually-hidden">{t!(i18n, group_name)}</span>
                <input
                    type="text"
                    data-testid="group-name"
                    placeholder=move || t_string!(i18n, group_name)
                    prop:value=move || state.group_name.get()
                    on:input=move |ev| state.group_name.set(event_target_value(&ev))
                />
            </label>
            <button
                type="button"
                data-testid="save-group"
                disabled=move || nothing_selected() || unnamed()
                on:click=save
            >
                {move || {
                    if state.editing_group.with(Option::is_some) {
                        t!(i18n, update_group).into_any()
                    } else {
                        t!(i18n, save_group).into_any()
                    }
                }}
            </button>
            <Show when=move || state.editing_group.with(Option::is_some)>
                <button
                    type="button"
                    class="danger"
                    data-testid="delete-group"
                    on:click=move |_| {
                        if let Some(group_id) = state.editing_group.get_untracked() {
                            let deleted = group_id.clone();
                            send(state, delete_group(group_id), move |()| {
                                state.groups.update(|list| list.retain(|g| g.id != deleted));
                            });
                        }
                    }
                >
                    {t!(i18n, delete_group)}
                </button>
            </Show>
        </div>
    }
}
