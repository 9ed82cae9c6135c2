//! The `classpoints` command line besides `serve` (server only): the old monitoring script's
//! commands against a running server, and maintenance of the local database.

pub mod local;
pub mod monitor;
