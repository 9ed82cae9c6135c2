//! Admin pages: the consistency monitor, accounts, classes and students (with roster import),
//! and the rules engine's settings with the school's presets. Server functions refuse
//! everyone but admins; these pages only show what they answer.

mod accounts;
mod classes;
pub(crate) mod monitor;
mod rules;

pub use accounts::AccountsPage;
pub use classes::{ClassRosterPage, SchoolClassesPage};
pub use monitor::MonitorPage;
pub use rules::RulesPage;

use crate::i18n::{t, use_i18n};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The admin sections as tabs; the current one is marked for screen readers.
#[component]
pub(crate) fn AdminTabs() -> impl IntoView {
    let i18n = use_i18n();
    let location = use_location();
    let current = move |prefix: &'static str| {
        move || {
            location
                .pathname
                .with(|p| p.starts_with(prefix))
                .then_some("page")
        }
    };
    view! {
        <nav class="admin-tabs" aria-label=move || t_string_admin(i18n)>
            <a href="/admin/monitor" aria-current=current("/admin/monitor")>{t!(i18n, admin_monitor)}</a>
            <a href="/admin/accounts" aria-current=current("/admin/accounts")>{t!(i18n, admin_accounts)}</a>
            <a href="/admin/classes" aria-current=current("/admin/classes")>{t!(i18n, admin_classes)}</a>
            <a href="/admin/rules" aria-current=current("/admin/rules")>{t!(i18n, admin_rules)}</a>
            <a href="/status" aria-current=current("/status")>{t!(i18n, nav_status)}</a>
        </nav>
    }
}

fn t_string_admin(i18n: leptos_i18n::I18nContext<crate::i18n::Locale>) -> String {
    crate::i18n::t_string!(i18n, admin_sections).to_owned()
}

/// The outcome of an admin write: a short confirmation, or the error naming what to fix.
#[component]
fn Outcome(message: RwSignal<Option<Result<String, String>>>) -> impl IntoView {
    move || {
        message.get().map(|outcome| match outcome {
            Ok(done) => view! { <p class="notice" role="status" data-testid="outcome">{done}</p> }
                .into_any(),
            Err(error) => {
                view! { <p class="error" role="alert" data-testid="outcome-error">{error}</p> }
                    .into_any()
            }
        })
    }
}
