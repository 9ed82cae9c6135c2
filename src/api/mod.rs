//! Adapters over the core: server functions for the web UI (and, later, REST handlers).

pub mod board;
#[cfg(feature = "ssr")]
pub mod rest;
pub mod status;
