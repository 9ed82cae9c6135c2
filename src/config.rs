//! Command line and environment configuration (server only).
//!
//! Every setting has a documented default so `classpoints` with no arguments serves the app on
//! http://127.0.0.1:3000 with its database under `data/`.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/classpoints.db";

#[derive(Debug, Parser)]
#[command(
    name = "classpoints",
    version,
    about = "Classroom points that never drift"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and API (the default when no command is given).
    Serve(ServeArgs),
    /// Check, repair and watch a running server. Exit status: 0 healthy, 1 inconsistent,
    /// 2 unreachable or refused.
    Monitor(MonitorArgs),
    /// Manage accounts in the local database.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Issue API tokens from the local database.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Write a consistent copy of the live database to FILE (safe while the server runs).
    Backup {
        file: std::path::PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Replace the database's contents with a backup FILE (checked first).
    Restore {
        file: std::path::PathBuf,
        /// Needed when the current database already holds transactions.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Bring data in: a roster CSV, or the old system's exports.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Write balances and transactions as CSV files into a directory.
    Export {
        #[arg(long, default_value = "export")]
        out: std::path::PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    #[command(subcommand)]
    pub action: MonitorAction,
    /// The server to talk to.
    #[arg(
        long,
        global = true,
        env = "CLASSPOINTS_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub url: String,
    /// An admin's API token (`classpoints token create`).
    #[arg(long, global = true, env = "CLASSPOINTS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MonitorAction {
    /// One health check.
    Check {
        /// Re-hash the whole ledger, not only rows added since the server's last check.
        #[arg(long)]
        full: bool,
    },
    /// Repair every drifted balance (or one student's) and report what changed.
    Fix {
        #[arg(long)]
        student: Option<String>,
    },
    /// One student's balance against their ledger.
    Student { student_id: String },
    /// Check on an interval until stopped; optionally repair what drifted.
    Start {
        /// Seconds between checks.
        #[arg(long, default_value_t = 60)]
        interval: u64,
        #[arg(long)]
        auto_fix: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a teacher or admin. The password is read from standard input when not given.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "teacher", value_parser = ["teacher", "admin"])]
        role: String,
        #[arg(long, env = "CLASSPOINTS_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum ImportCommand {
    /// Students from CSV (header: class or 班级, name or 姓名, optional student_no or 学号, id).
    /// Missing classes are created; bad lines are reported and the rest imported.
    Roster {
        csv: std::path::PathBuf,
        /// Teacher (username) who teaches the classes this import creates.
        #[arg(long)]
        teacher: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// The old system's student_points and point_transactions exports (.json or .csv) from a
    /// directory: keeps ids, rebuilds balances from the ledger, reports every balance that
    /// disagreed.
    Legacy {
        dir: std::path::PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Print a new API token for a user (shown once).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// SQLite database; the file and its directory are created on first start.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, Parser)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory holding the built browser bundle, CSS and public assets.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Seconds a live-update stream stays open before the server ends it; browsers
    /// reconnect at once and resync, so this bounds resources without losing updates.
    #[arg(long, env = "CLASSPOINTS_LIVE_MAX_SECONDS", default_value_t = 600)]
    pub live_max_seconds: u64,
    /// Live-update streams (boards, projectors, the monitor page) one account keeps open at
    /// most. Opening one more ends the account's oldest, whose browser reconnects (ending
    /// the next oldest, should all of them be in use): the newest screen always follows
    /// live, and one account cannot hold all of the server's connections.
    #[arg(long, env = "CLASSPOINTS_LIVE_STREAMS_PER_ACCOUNT", default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub live_streams_per_account: u32,
    /// Seconds a shutdown (Ctrl-C, SIGTERM) waits for requests in flight before it closes
    /// the connections still open. Live streams end at once; browsers reconnect.
    #[arg(long, env = "CLASSPOINTS_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
    /// Seconds a connection may take to send a request's head (its request line and
    /// headers), and may stay open between requests, before the server closes it: a client
    /// that connects and then stalls holds no connection for good.
    #[arg(long, env = "CLASSPOINTS_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_seconds: u64,
    /// Seconds a client may take none of an answer being sent to it before the server closes
    /// its connection: a client that stops reading (on purpose, or a device gone without
    /// closing its connection) holds no connection for good once the system's buffers are
    /// full. A slow client that keeps reading is not affected.
    #[arg(long, env = "CLASSPOINTS_SEND_TIMEOUT_SECONDS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout_seconds: u64,
    /// Seconds a request's body may take to arrive in full once the server starts reading
    /// it. A request whose body is not in by then is refused (400, nothing done) and its
    /// connection closed: a client that sends a request's head and then stalls, or trickles
    /// the body, holds no connection for good.
    #[arg(long, env = "CLASSPOINTS_BODY_READ_TIMEOUT_SECONDS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_seconds: u64,
    /// Client connections kept open at most; more wait in the operating system's queue until
    /// one closes. By default the process's open-file limit (raised to its hard limit at
    /// start) less a reserve for the database and backups, and at most 8 192.
    #[arg(long, env = "CLASSPOINTS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Hours a request id (Idempotency-Key) is remembered: a retry within it replays the
    /// original answer, a later one is a new request. 0 keeps them forever.
    #[arg(
        long,
        env = "CLASSPOINTS_IDEMPOTENCY_RETENTION_HOURS",
        default_value_t = 168
    )]
    pub idempotency_retention_hours: u64,
    /// Threads answering requests. By default one fewer than the machine's cores (at least
    /// one), so that the ledger's writer thread, through which every change is committed,
    /// keeps a core to itself.
    #[arg(long, env = "CLASSPOINTS_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    #[command(flatten)]
    pub watch: WatchArgs,
}

impl ServeArgs {
    /// How many threads answer requests: `--worker-threads`, or one fewer than the cores.
    pub fn request_threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        self.worker_threads
            .map_or_else(|| request_threads_beside_writer(cores), usize::from)
    }
}

/// Open files the server keeps for itself beside its connections: the database's files for
/// the writer and each read connection, a backup being copied, the log, the runtime's own.
const FILES_KEPT_FOR_THE_SERVER: u64 = 256;

/// Connections by default: memory, not files, is what bounds them past this (an idle one
/// holds its buffers).
const DEFAULT_MAX_CONNECTIONS: u64 = 8_192;

/// The default connection limit under an open-file limit of `open_files`: what leaves the
/// server its reserve, or half the limit where the limit is small.
pub fn connections_within(open_files: u64) -> usize {
    let left = open_files
        .saturating_sub(FILES_KEPT_FOR_THE_SERVER)
        .max(open_files / 2)
        .clamp(1, DEFAULT_MAX_CONNECTIONS);
    usize::try_from(left).unwrap_or(1)
}

/// Leaves the writer thread a core of its own: on two cores, with two request threads the
/// writer waited for a core a fifth of the time; one request thread made awards/s 2 – 55 %
/// higher in every one of six interleaved runs (BENCHMARKS.md).
fn request_threads_beside_writer(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

/// The background monitor, its alerts and the metrics endpoint.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Seconds between background consistency checks; 0 turns the background monitor off.
    #[arg(
        long,
        env = "CLASSPOINTS_MONITOR_INTERVAL_SECONDS",
        default_value_t = 60
    )]
    pub monitor_interval_seconds: u64,
    /// Repair drifted balances automatically (audited) when a background check finds them.
    #[arg(long, env = "CLASSPOINTS_AUTO_FIX", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_fix: bool,
    /// Alert when more than this percentage of requests fail with a server error (5 minutes).
    #[arg(long, env = "CLASSPOINTS_ALERT_ERROR_RATE_PERCENT", default_value_t = 1.0,
          value_parser = percent)]
    pub alert_error_rate_percent: f64,
    /// Alert when the p95 latency of the last 5 minutes is above this many milliseconds.
    #[arg(long, env = "CLASSPOINTS_ALERT_P95_MS", default_value_t = 250.0, value_parser = positive)]
    pub alert_p95_ms: f64,
    /// Requests needed in 5 minutes before error rate and latency can raise alerts.
    #[arg(long, env = "CLASSPOINTS_ALERT_MIN_REQUESTS", default_value_t = 20)]
    pub alert_min_requests: u64,
    /// POST every raised and resolved alert as JSON to this URL.
    #[arg(long, env = "CLASSPOINTS_ALERT_WEBHOOK_URL", value_parser = http_url)]
    pub alert_webhook_url: Option<String>,
    /// Require `Authorization: Bearer <this>` on /metrics (open when unset).
    #[arg(long, env = "CLASSPOINTS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl Default for WatchArgs {
    /// The documented defaults; a test checks they match the flags' defaults.
    fn default() -> Self {
        Self {
            monitor_interval_seconds: 60,
            auto_fix: true,
            alert_error_rate_percent: 1.0,
            alert_p95_ms: 250.0,
            alert_min_requests: 20,
            alert_webhook_url: None,
            metrics_token: None,
        }
    }
}

fn percent(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err("must be a number from 0 to 100".into()),
    }
}

fn positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err("must be a number above 0".into()),
    }
}

fn http_url(value: &str) -> Result<String, String> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(value.to_owned()),
        _ => Err("must be an http:// or https:// URL".into()),
    }
}

/// What a first start creates.
#[derive(Debug, Clone, Default, Args)]
pub struct BootstrapArgs {
    /// Username of the first admin, created when the database has no admin.
    #[arg(long, env = "CLASSPOINTS_ADMIN_USERNAME")]
    pub admin_username: Option<String>,
    /// Password of that first admin.
    #[arg(long, env = "CLASSPOINTS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Fill an empty database (no classes yet) with a demo school.
    #[arg(long, env = "CLASSPOINTS_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo: bool,
}

impl Cli {
    /// The command to run; no command means `serve` with settings from the environment.
    pub fn command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(ServeArgs::parse_from(["classpoints"])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_defaults_match_the_flags() {
        let parsed = ServeArgs::try_parse_from(["classpoints"]).unwrap().watch;
        let default = WatchArgs::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
        assert_eq!(default.monitor_interval_seconds, 60);
        assert!(default.auto_fix);
    }

    #[test]
    fn connections_leave_the_server_its_files() {
        assert_eq!(connections_within(1_024), 768);
        assert_eq!(connections_within(20_000), 8_192);
        assert_eq!(connections_within(300), 150);
        assert_eq!(connections_within(1), 1);
        assert_eq!(connections_within(0), 1);
        assert!(ServeArgs::try_parse_from(["classpoints", "--max-connections", "0"]).is_err());
    }

    #[test]
    fn request_threads_leave_the_writer_a_core() {
        assert_eq!(request_threads_beside_writer(1), 1);
        assert_eq!(request_threads_beside_writer(2), 1);
        assert_eq!(request_threads_beside_writer(8), 7);
        let chosen = ServeArgs::try_parse_from(["classpoints", "--worker-threads", "3"]).unwrap();
        assert_eq!(chosen.request_threads(), 3);
        assert!(ServeArgs::try_parse_from(["classpoints", "--worker-threads", "0"]).is_err());
    }

    #[test]
    fn bad_monitor_settings_are_refused_at_start() {
        for args in [
            ["classpoints", "--alert-error-rate-percent", "150"],
            ["classpoints", "--alert-p95-ms", "0"],
            ["classpoints", "--alert-webhook-url", "ftp://example"],
        ] {
            assert!(ServeArgs::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
