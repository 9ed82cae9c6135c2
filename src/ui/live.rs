//! Following server-sent events in the browser: a class's live board (`/api/events`) and the
//! monitor (`/api/monitor/events`).

use crate::model::LiveUpdate;

/// Calls `on_update` for each change of the class made anywhere, and `on_connect` whenever the
/// connection (re)opens, so the page can resync what it missed while it was away.
pub fn follow(
    class_id: &str,
    on_update: impl Fn(LiveUpdate) + 'static,
    on_connect: impl Fn() + 'static,
) {
    follow_events(
        &format!("/api/events?class_id={class_id}"),
        "update",
        move |json| {
            if let Ok(update) = serde_json::from_str::<LiveUpdate>(&json) {
                on_update(update);
            }
        },
        on_connect,
    );
}

/// Calls `on_event` with the data of each `event` from the stream at `url`, and `on_connect`
/// whenever the connection (re)opens. The browser reconnects by itself after a drop. Stops
/// when the calling component is cleaned up.
#[cfg(feature = "hydrate")]
pub fn follow_events(
    url: &str,
    event: &str,
    on_event: impl Fn(String) + 'static,
    on_connect: impl Fn() + 'static,
) {
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, closure::Closure};

    let Ok(source) = web_sys::EventSource::new(url) else {
        return;
    };
    let on_message =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |message: web_sys::MessageEvent| {
            if let Some(data) = message.data().as_string() {
                on_event(data);
            }
        });
    let on_open = Closure::<dyn Fn()>::new(on_connect);
    let _ = source.add_event_listener_with_callback(event, on_message.as_ref().unchecked_ref());
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    // The source and its callbacks live as long as the component; closing ends the stream.
    let kept = StoredValue::new_local((source, on_message, on_open));
    on_cleanup(move || kept.with_value(|(source, _, _)| source.close()));
}

/// Outside the browser there is nothing to follow.
#[cfg(not(feature = "hydrate"))]
pub fn follow_events(_: &str, _: &str, _: impl Fn(String) + 'static, _: impl Fn() + 'static) {}
