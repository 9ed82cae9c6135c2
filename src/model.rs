//! Plain data shared by the server and the browser.

use serde::{Deserialize, Serialize};

/// What the status page shows: which database the server uses and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    pub version: String,
    pub database_path: String,
    pub sqlite_version: String,
    pub journal_mode: String,
    pub applied_migrations: i64,
    pub tables: Vec<TableRows>,
    pub checked_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}
