use clap::Parser;
use classpoints::{
    cli,
    config::{Cli, Command, ImportCommand, TokenCommand, UserCommand},
    server::{Server, shutdown_signal},
};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3 returns freed memory to the OS one second after the last use of a page; after a
/// burst of requests that kept ~10 MB more resident than a 10 ms delay (mimalloc 2's default),
/// at no measurable cost in throughput (BENCHMARKS.md). `MIMALLOC_PURGE_DELAY` still wins.
fn return_freed_memory_sooner() {
    // `mi_option_purge_delay` in mimalloc 3's mimalloc.h; libmimalloc-sys has no name for it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const DOCUMENTED_DEFAULT_MS: std::ffi::c_long = 1000;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: reading and setting an option are plain calls into the allocator, safe at any
    // time. The default is checked first so a renumbered option is left alone.
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == DOCUMENTED_DEFAULT_MS {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 10);
        }
    }
}

/// mimalloc asks the kernel for transparent huge pages on the arena it reserves, so every 2 MiB
/// stretch the allocator touches is backed by a whole 2 MiB page: after a benchmark load 22 MB of
/// the server's resident memory were such pages, holding a heap whose live part is a few MB
/// (BENCHMARKS.md). The process is a small server, not a big-heap computation; it gives them up.
/// mimalloc reads its option before `main`, so the process flag (which the kernel checks on
/// every later page fault) does the work; the option stops mimalloc asking for more.
/// `MIMALLOC_ALLOW_THP` still wins.
fn without_transparent_huge_pages() {
    const ALLOW_THP: libmimalloc_sys::mi_option_t = 43; // `mi_option_allow_thp`, mimalloc 3
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: plain calls: one sets this process's own flag, the other an allocator option.
    unsafe {
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        if libmimalloc_sys::mi_option_get(ALLOW_THP) == 1 {
            libmimalloc_sys::mi_option_set(ALLOW_THP, 0);
        }
    }
}

fn main() -> ExitCode {
    return_freed_memory_sooner();
    without_transparent_huge_pages();
    // SAFETY: nothing has opened a database yet; only this thread runs our code.
    unsafe { classpoints::db::configure_sqlite_for_process() };
    let command = Cli::parse().command();
    // The server logs at info; one-shot commands keep the terminal for their own output.
    let default_filter = if matches!(command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(args) = &command {
        runtime.worker_threads(args.request_threads());
    }
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(command)),
        Err(error) => {
            eprintln!("classpoints: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Serve(args) => serve(args).await,
        Command::Monitor(args) => return cli::monitor::run(args).await,
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    name,
                    role,
                    password,
                    database,
                },
        } => {
            cli::local::user_add(
                &database.database_url,
                &username,
                name.as_deref(),
                &role,
                password,
            )
            .await
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    username,
                    name,
                    database,
                },
        } => cli::local::token_create(&database.database_url, &username, &name).await,
        Command::Backup { file, database } => {
            cli::local::backup(&database.database_url, &file).await
        }
        Command::Restore {
            file,
            force,
            database,
        } => cli::local::restore(&database.database_url, &file, force).await,
        Command::Export { out, database } => cli::local::export(&database.database_url, &out).await,
        Command::Import {
            command:
                ImportCommand::Roster {
                    csv,
                    teacher,
                    database,
                },
        } => cli::local::import_roster(&database.database_url, &csv, teacher.as_deref()).await,
        Command::Import {
            command: ImportCommand::Legacy { dir, database },
        } => cli::local::import_legacy(&database.database_url, &dir).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("classpoints: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every client connection is an open file. The soft limit a service manager or shell hands
/// down is often 1 024, which a school's boards and live streams can reach; the hard limit is
/// what the administrator allows, and the soft one may be raised to it freely.
fn raise_open_file_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "cannot raise the open-file limit; connections are capped below the current one");
    }
}

async fn serve(args: classpoints::config::ServeArgs) -> anyhow::Result<()> {
    raise_open_file_limit();
    let server = Server::bind(&args).await?;
    tracing::info!(
        "classpoints {} listening on http://{} (database {}, request threads: {}, connections \
         at most: {})",
        env!("CARGO_PKG_VERSION"),
        server.local_addr()?,
        args.database.database_url,
        // What the runtime runs, rather than the setting worked out again.
        tokio::runtime::Handle::current().metrics().num_workers(),
        server.connection_limit()
    );
    server.run(shutdown_signal()).await?;
    Ok(())
}
