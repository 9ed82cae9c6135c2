//! Adapters over the core: server functions for the web UI, and the REST API.

pub mod admin;
pub mod board;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
mod session;
pub mod status;
