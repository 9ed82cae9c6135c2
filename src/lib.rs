//! classpoints: a classroom points system whose balances cannot drift from their ledger.
//!
//! The crate compiles twice: with `ssr` into the server binary (HTTP, SQLite, CLI) and with
//! `hydrate` into the browser bundle. Modules that touch the database exist only under `ssr`.

// Builds erase view types (`--cfg erase_components`, .cargo/config.toml). A build without
// that cfg keeps every view's full type, and the deepest views (the presets editor inside a
// dialog) then need more than the default 128 levels.
#![recursion_limit = "256"]

// Interface strings (locales/*.json), checked at compile time. The build-script code
// generation that replaces this macro compiles ICU's data-export crates into every build;
// the macro gives the same checked `i18n` module without that cost.
#[allow(deprecated)]
mod i18n_generated {
    leptos_i18n::load_locales!();
}
pub use i18n_generated::i18n;

pub mod api;
pub mod app;
pub mod error;
pub mod model;
pub mod rules;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod ledger;
#[cfg(feature = "ssr")]
pub mod monitor;
#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: attach the reactive app to the server-rendered HTML. Pages are lazy
/// routes (see `app.rs`), so hydration waits for the shown page's code to arrive first.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
