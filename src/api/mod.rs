//! Adapters over the core: server functions for the web UI (and, later, REST handlers).

#[cfg(feature = "ssr")]
pub mod rest;
pub mod status;
