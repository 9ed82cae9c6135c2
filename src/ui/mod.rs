//! Pages and components.

pub mod admin;
pub mod board;
mod chart;
pub mod classes;
mod dialog;
mod live;
pub mod login;
mod preset_list;
pub mod request_id;
pub mod status;
pub mod student;

use crate::error::AppError;
use leptos::prelude::*;

/// How a page shows a failed load: signed out goes to the sign-in page, anything else is
/// shown as an alert.
pub(crate) fn load_failed(error: AppError) -> AnyView {
    match error {
        AppError::Unauthorized { .. } => {
            view! { <leptos_router::components::Redirect path="/login"/> }.into_any()
        }
        other => view! { <p class="error" role="alert">{other.to_string()}</p> }.into_any(),
    }
}

/// A page's data as it loads: "Loading…" first, then `render` with the data, or the failure
/// as [`load_failed`] shows it. Keeps the previous content while a reload is in flight.
pub(crate) fn loaded<T>(
    resource: Resource<Result<T, AppError>>,
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
