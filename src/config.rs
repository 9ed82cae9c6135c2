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
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
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
