//! Following a class live: server-sent events from `/api/events`, in the browser only.

use crate::model::LiveUpdate;

/// Calls `on_update` for each change of the class made anywhere, and `on_connect` whenever the
/// connection (re)opens, so the page can resync what it missed while it was away. The browser
/// reconnects by itself after a drop. Stops when the calling component is cleaned up.
#[cfg(feature = "hydrate")]
pub fn follow(
    class_id: &str,
    on_update: impl Fn(LiveUpdate) + 'static,
    on_connect: impl Fn() + 'static,
) {
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, closure::Closure};

    let Ok(source) = web_sys::EventSource::new(&format!("/api/events?class_id={class_id}")) else {
        return;
    };
    let on_message =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(update) = event
                .data()
                .as_string()
                .and_then(|json| serde_json::from_str::<LiveUpdate>(&json).ok())
            {
                on_update(update);
            }
        });
    let on_open = Closure::<dyn Fn()>::new(on_connect);
    let _ = source.add_event_listener_with_callback("update", on_message.as_ref().unchecked_ref());
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    // The source and its callbacks live as long as the component; closing ends the stream.
    let kept = StoredValue::new_local((source, on_message, on_open));
    on_cleanup(move || kept.with_value(|(source, _, _)| source.close()));
}

/// Outside the browser there is nothing to follow.
#[cfg(not(feature = "hydrate"))]
pub fn follow(_: &str, _: impl Fn(LiveUpdate) + 'static, _: impl Fn() + 'static) {}
