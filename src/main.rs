use clap::Parser;
use classpoints::{
    config::{Cli, Command},
    server::{Server, shutdown_signal},
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let result = match Cli::parse().command() {
        Command::Serve(args) => serve(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("classpoints: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: classpoints::config::ServeArgs) -> anyhow::Result<()> {
    let server = Server::bind(&args).await?;
    tracing::info!(
        "classpoints {} listening on http://{} (database {})",
        env!("CARGO_PKG_VERSION"),
        server.local_addr()?,
        args.database.database_url
    );
    server.run(shutdown_signal()).await?;
    Ok(())
}
