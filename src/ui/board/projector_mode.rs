//! Projector mode: the board large, light on dark, filling the screen. It asks the browser for
//! full screen when a teacher turns it on (a projector shows no tabs or address bar then), and
//! Escape turns it off; a dialog open on top takes its Escape for itself. A browser in full
//! screen may keep Escape to leave full screen: projector mode ends with its full screen.

use leptos::prelude::*;

/// Turns projector mode on or off, the browser's full screen with it.
pub(super) fn toggle(projector: RwSignal<bool>) {
    let on = !projector.get_untracked();
    projector.set(on);
    if on {
        full_screen::enter();
    } else {
        full_screen::leave();
    }
}

/// Escape leaves projector mode, unless something on top of the board (a dialog) used it; so
/// does leaving the full screen it asked for, however that happened.
pub(super) fn end_on_escape_or_full_screen_exit(projector: RwSignal<bool>) {
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && !ev.default_prevented() && projector.get_untracked() {
            toggle(projector);
        }
    });
    let full_screen_ended = window_event_listener_untyped("fullscreenchange", move |_| {
        if !full_screen::is_on() && projector.get_untracked() {
            projector.set(false);
        }
    });
    on_cleanup(move || {
        escape.remove();
        full_screen_ended.remove();
    });
}

#[cfg(feature = "hydrate")]
mod full_screen {
    use leptos::prelude::document;

    /// Refused by browsers that do not allow it (or without a click): projector mode then
    /// fills the window only.
    pub fn enter() {
        if let Some(page) = document().document_element() {
            let _ = page.request_fullscreen();
        }
    }

    pub fn leave() {
        if is_on() {
            document().exit_fullscreen();
        }
    }

    pub fn is_on() -> bool {
        document().fullscreen_element().is_some()
    }
}

#[cfg(not(feature = "hydrate"))]
mod full_screen {
    pub fn enter() {}
    pub fn leave() {}
    pub fn is_on() -> bool {
        false
    }
}
