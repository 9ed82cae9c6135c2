//! Adapters over the core: server functions for the web UI (and, later, REST handlers).

pub mod status;
