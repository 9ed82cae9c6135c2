//! Pages and components.

pub mod board;
pub mod classes;
mod live;
pub mod login;
mod request_id;
pub mod status;
pub mod student;

use crate::error::AppError;
use leptos::prelude::*;

/// How a page shows a failed load: signed out goes to the sign-in page, anything else is
/// shown as an alert.
fn load_failed(error: AppError) -> AnyView {
    match error {
        AppError::Unauthorized { .. } => {
            view! { <leptos_router::components::Redirect path="/login"/> }.into_any()
        }
        other => view! { <p class="error" role="alert">{other.to_string()}</p> }.into_any(),
    }
}
