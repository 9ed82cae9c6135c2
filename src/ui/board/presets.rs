//! Editing a class's award presets: reasons and values of the one-tap buttons. A class can
//! also go back to the school's presets.

use super::BoardState;
use crate::i18n::{t, use_i18n};
use crate::{
    api::board::SavePresets,
    ui::{
        dialog::Dialog,
        preset_list::{PresetLines, PresetListEditor},
    },
};
use leptos::prelude::*;

/// The editor, while it is open. A class sets its presets now and then, so its code is
/// fetched the first time it opens (`lazy_part`) and the board's bundle leaves it out.
#[component]
pub(super) fn PresetEditor(state: BoardState) -> impl IntoView {
    super::lazy_part(state.editing_presets, move || presets_editor(state))
}

#[lazy]
fn presets_editor(state: BoardState) -> AnyView {
    view! { <Editor state/> }.into_any()
}

/// Starts fetching the editor's code when the teacher points at or focuses its button in the
/// award sheet, like select mode's bar (`groups::preload_bar`).
pub(super) fn preload_editor() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        lazy_preload!(presets_editor);
    });
}

#[component]
fn Editor(state: BoardState) -> impl IntoView {
    let i18n = use_i18n();
    let lines = PresetLines::new(&state.presets.get_untracked());
    let error = RwSignal::new(None::<String>);
    let save = ServerAction::<SavePresets>::new();
    Effect::new(move |_| match save.value().get() {
        Some(Ok((presets, custom))) => {
            state.presets.set(presets);
            state.custom_presets.set(custom);
            state.editing_presets.set(false);
        }
        Some(Err(e)) => error.set(Some(crate::ui::error_text(
            state.i18n.get_locale_untracked(),
            &e,
        ))),
        None => {}
    });
    let close = move || state.editing_presets.set(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match lines.presets() {
            Ok(presets) => {
                error.set(None);
                save.dispatch(SavePresets {
                    class_id: state.class_id.get_value(),
                    presets: Some(presets),
                });
            }
            Err(e) => error.set(Some(crate::ui::error_text(
                state.i18n.get_locale_untracked(),
                &e,
            ))),
        }
    };
    view! {
        <Dialog labelled_by="presets-title" on_close=move |()| close() class="wide" testid="presets-editor">
            <h2 id="presets-title">{t!(i18n, presets_title)}</h2>
            <p class="muted">
                {move || {
                    if state.custom_presets.get() {
                        t!(i18n, presets_own).into_any()
                    } else {
                        t!(i18n, presets_school).into_any()
                    }
                }}
            </p>
            <form class="preset-editor" on:submit=submit>
                <PresetListEditor lines/>
                <p class="error" role="alert" data-testid="presets-error">
                    {move || error.get()}
                </p>
                <div class="editor-actions">
                    <button
                        type="submit"
                        class="primary"
                        data-testid="save-presets"
                        disabled=move || save.pending().get()
                    >
                        {t!(i18n, save)}
                    </button>
                    <Show when=move || state.custom_presets.get()>
                        <button
                            type="button"
                            data-testid="reset-presets"
                            on:click=move |_| {
                                save.dispatch(SavePresets {
                                    class_id: state.class_id.get_value(),
                                    presets: None,
                                });
                            }
                        >
                            {t!(i18n, reset_presets)}
                        </button>
                    </Show>
                    <button type="button" on:click=move |_| close()>
                        {t!(i18n, cancel)}
                    </button>
                </div>
            </form>
        </Dialog>
    }
}
