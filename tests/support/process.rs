//! The real `classpoints` binary as a child process on a free port, for tests that must kill
//! the server (SIGKILL) and start it again on the same database.
#![allow(dead_code)]

use super::http::ADMIN;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct ServerProcess {
    /// The server, or the program it runs under (see [`ServerProcess::start_under`]).
    child: Child,
    pub base: String,
    /// The server's process id.
    pub pid: u32,
    /// The server's start-up line ("classpoints … listening on http://… (…)").
    pub listening: String,
}

impl ServerProcess {
    /// Starts `classpoints serve` on `database_url` (no demo school, the test admin, the
    /// background monitor off) and waits until it listens.
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, |_| {})
    }

    /// [`ServerProcess::start`], with `configure` applied to the command first.
    pub fn start_with(database_url: &str, configure: impl FnOnce(&mut Command)) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_classpoints"));
        configure(&mut command);
        Self::launch(command, database_url)
    }

    /// [`ServerProcess::start`] with the server run by `wrapper`, a program and its arguments
    /// that take the server's command line last (`strace -o trace --`, say).
    pub fn start_under(database_url: &str, wrapper: &[&str]) -> Self {
        let mut command = Command::new(wrapper[0]);
        command
            .args(&wrapper[1..])
            .arg(env!("CARGO_BIN_EXE_classpoints"));
        let mut server = Self::launch(command, database_url);
        // The server is the wrapper's one child.
        let children = format!("/proc/{0}/task/{0}/children", server.child.id());
        let children = std::fs::read_to_string(&children).expect("the wrapper's children");
        server.pid = children
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .expect("the wrapper runs the server");
        server
    }

    /// The server starting on `database_url` as [`ServerProcess::start`] starts it, without
    /// waiting for it to listen: for a test that kills it while it starts.
    pub fn spawn_starting(database_url: &str) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_classpoints"));
        Self::serve(&mut command, database_url);
        command
            .stderr(Stdio::null())
            .spawn()
            .expect("start the classpoints binary")
    }

    /// `classpoints serve` on `database_url`: no demo school, the test admin, the background
    /// monitor off, a free port.
    fn serve(command: &mut Command, database_url: &str) {
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("CLASSPOINTS_DEMO", "false")
            .env("CLASSPOINTS_ADMIN_USERNAME", ADMIN.0)
            .env("CLASSPOINTS_ADMIN_PASSWORD", ADMIN.1)
            .env("CLASSPOINTS_MONITOR_INTERVAL_SECONDS", "0")
            .env("RUST_LOG", "info")
            .env_remove("LEPTOS_OUTPUT_NAME")
            .stdout(Stdio::null());
    }

    fn launch(mut command: Command, database_url: &str) -> Self {
        Self::serve(&mut command, database_url);
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the classpoints binary");
        let pid = child.id();
        // The log line "… listening on http://127.0.0.1:PORT …" names the chosen port.
        let stderr = child.stderr.take().unwrap();
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(sender) = &found
                    && line.contains("listening on http://")
                {
                    let _ = sender.send(line);
                    found = None;
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let listening = address
            .recv_timeout(Duration::from_secs(60))
            .expect("the server reported its address");
        let at = listening.find("listening on ").unwrap() + "listening on ".len();
        let base = listening[at..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        Self {
            child,
            base,
            pid,
            listening,
        }
    }

    /// SIGKILL: no shutdown, no flush, like a power cut for the process.
    pub fn kill9(mut self) {
        self.kill_server();
        self.child.wait().unwrap();
    }

    /// The server killed, and the wrapper it runs under if any (a tracer that dies leaves its
    /// tracee running).
    fn kill_server(&mut self) {
        if self.pid != self.child.id() {
            // SAFETY: a plain signal to a process id; no memory is involved.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.child.kill();
    }

    /// A field of the server process's /proc status ("VmRSS:", "THP_enabled:"), its value
    /// trimmed; `None` when the kernel does not report it.
    pub fn status_field(&self, name: &str) -> Option<String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
    }

    /// Resident memory of the server process in KiB, from /proc: (total, peak, anonymous,
    /// file-backed). File-backed pages are the binary and the memory-mapped database, which
    /// the kernel can drop and re-read at will; anonymous pages are the process's own.
    pub fn rss_kib(&self) -> (u64, u64, u64, u64) {
        let field = |name: &str| {
            self.status_field(name)
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (
            field("VmRSS:"),
            field("VmHWM:"),
            field("RssAnon:"),
            field("RssFile:"),
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_server();
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds, up to `limit`.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}
