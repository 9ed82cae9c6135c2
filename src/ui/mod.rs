//! Pages and components.

pub mod admin;
pub mod board;
mod chart;
pub mod classes;
mod dialog;
mod errors;
mod live;
pub mod login;
mod preset_list;
pub mod request_id;
pub mod status;
pub mod student;
mod time;

use crate::error::AppError;
pub(crate) use errors::{error_text, error_text_naming};
use leptos::prelude::*;

/// A page's data, loaded through a server function. The server renders it into the HTML for
/// the browser to pick up when it hydrates, in postcard like the server functions' replies
/// (`crate::api::Reply`): JSON would bring a deserializer per type back into the bundle.
pub(crate) type Loaded<T> = Resource<Result<T, AppError>, codee::binary::PostcardCodec>;

/// Loads a page's data with `fetch` and again whenever `source` changes.
pub(crate) fn load<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetch: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Loaded<T>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    Fut: Future<Output = Result<T, AppError>> + Send + 'static,
{
    Resource::new_with_options(source, fetch, false)
}

/// How a page shows a failed load: signed out goes to the sign-in page, anything else is
/// shown as an alert.
pub(crate) fn load_failed(error: AppError) -> AnyView {
    match error {
        AppError::Unauthorized { .. } => {
            view! { <leptos_router::components::Redirect path="/login"/> }.into_any()
        }
        other => {
            let text = error_text(crate::i18n::use_i18n().get_locale(), &other);
            view! { <p class="error" role="alert">{text}</p> }.into_any()
        }
    }
}

/// A page's data as it loads: "Loading…" first, then `render` with the data, or the failure
/// as [`load_failed`] shows it. Keeps the previous content while a reload is in flight.
pub(crate) fn loaded<T>(
    resource: Loaded<T>,
    render: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    let i18n = crate::i18n::use_i18n();
    view! {
        <Transition fallback=move || view! { <p>{crate::i18n::t!(i18n, loading)}</p> }>
            {move || {
                resource
                    .get()
                    .map(|result| match result {
                        Ok(data) => render(data),
                        Err(error) => load_failed(error),
                    })
            }}
        </Transition>
    }
}
