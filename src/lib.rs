//! classpoints: a classroom points system whose balances cannot drift from their ledger.
//!
//! The crate compiles twice: with `ssr` into the server binary (HTTP, SQLite, CLI) and with
//! `hydrate` into the browser bundle. Modules that touch the database exist only under `ssr`.

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
pub mod server;

/// Browser entry point: attach the reactive app to the server-rendered HTML.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
