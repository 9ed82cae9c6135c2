//! HTTP benchmark: prints figures, asserts nothing about speed (a failed *verification* of
//! the ledger does stop it: a fast wrong answer is not a figure).
//!
//! 1. Starts the server binary, built with this benchmark's optimised profile, on loopback with a fresh
//!    database, or targets `--url` (with `--username` / `--password`, an admin's).
//! 2. `--clients` (64) keep-alive clients post awards with idempotency keys (made as the board
//!    makes them; random ones with `--random-keys`) for `--seconds` (10) to `--students` (40)
//!    students, `--runs` (3) times on the same server: awards/s and p50/p95/p99 of each run and
//!    their median, errors, and the CPU the server and this load generator used meanwhile (same
//!    machine; the load goes through bare hyper client connections, plain HTTP, so the
//!    generator takes as little of the shared cores as it can). One run is not a figure: on this shared machine runs a minute apart differ by up
//!    to a third. Each option also comes from an environment variable (`BENCH_URL`,
//!    `BENCH_CLIENTS`, …; `--help` lists them), which is how `make bench` passes them.
//!    Then 5 s more of the same load while the board page is fetched one after another: what
//!    a page costs to serve during an award storm.
//! 3. Verifies the ledger holds exactly the acknowledged awards and every balance equals its
//!    ledger (a full monitor check).
//! 4. The machine's ceiling in the same run: raw SQLite transactions doing the same insert +
//!    update in-process (one award per transaction, and 64 per transaction), WAL and
//!    synchronous=FULL like the server; the HTTP figure as a ratio of both.
//! 5. Board server-render time for the class (idle), server RSS after the load and after a burst
//!    of sign-ins, and the size of the WASM bundle last built into `target/site` (raw and
//!    gzip -9).
//!
//! Run: `make bench` (builds the release bundle first, and the benchmarks in `target/bench`), or
//! `cargo bench --features ssr --bench http`.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use serde_json::{Value, json};
use std::{
    io::Write,
    time::{Duration, Instant},
};
use support::{http::ADMIN, process::ServerProcess};

/// The HTTP benchmark: `cargo bench --features ssr --bench http -- [OPTIONS]`. Every option
/// can also come from the environment variable named in `--help`.
#[derive(clap::Parser)]
struct Args {
    /// A running server to load instead of starting one (sign-in with --username/--password,
    /// an admin's); the ledger-row count and the server's CPU and RSS are then not measured.
    #[arg(long, env = "BENCH_URL")]
    url: Option<String>,
    #[arg(long, env = "BENCH_USERNAME")]
    username: Option<String>,
    #[arg(long, env = "BENCH_PASSWORD")]
    password: Option<String>,
    /// Concurrent keep-alive clients.
    #[arg(long, env = "BENCH_CLIENTS", default_value_t = 64)]
    clients: usize,
    /// Length of each measured run.
    #[arg(long, env = "BENCH_SECONDS", default_value_t = 10)]
    seconds: usize,
    /// Measured runs on the same server; the median run gives the headline figures (with an
    /// even count, the faster of the two middle runs).
    #[arg(long, env = "BENCH_RUNS", default_value_t = 3)]
    runs: usize,
    /// Students in the benchmark's class.
    #[arg(long, env = "BENCH_STUDENTS", default_value_t = 40)]
    students: usize,
    /// Random idempotency keys (as API clients sending UUIDv4 do) instead of ones made as the
    /// board makes them.
    #[arg(long, env = "BENCH_RANDOM_KEYS", value_parser = clap::builder::BoolishValueParser::new())]
    random_keys: bool,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// `q` (0–1) of sorted latencies in µs, as ms.
fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

/// CPU time in ns that every thread of process `pid` has run (`/proc/<pid>/task/*/schedstat`).
fn cpu_ns(pid: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|task| {
                    std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()
                })
                .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// The machine's (idle + iowait, total) CPU ticks from `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (idle, ticks.iter().sum())
}

async fn sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let reply: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"]
        .as_str()
        .unwrap_or_else(|| panic!("cannot sign in as {user}: {reply}"))
        .to_owned()
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status} {body}");
    body
}

/// A teacher and a class of `students`; returns (teacher token, class id, student ids).
async fn school(base: &str, admin: &str, students: usize) -> (String, String, Vec<String>) {
    let http = reqwest::Client::new();
    let suffix = std::process::id();
    let username = format!("bench{suffix}");
    post(
        &http,
        format!("{base}/api/teachers"),
        admin,
        json!({"username": username, "password": "bench-password", "name": "Bench"}),
    )
    .await;
    let teacher = sign_in(&http, base, &username, "bench-password").await;
    let class = post(
        &http,
        format!("{base}/api/classes"),
        &teacher,
        json!({"name": "Bench"}),
    )
    .await;
    let class_id = class["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for i in 0..students {
        let student = post(
            &http,
            format!("{base}/api/students"),
            &teacher,
            json!({"class_id": class_id, "name": format!("学生{i:02}")}),
        )
        .await;
        ids.push(student["id"].as_str().unwrap().to_owned());
    }
    (teacher, class_id, ids)
}

struct Load {
    acknowledged: Vec<String>,
    latencies_us: Vec<u32>,
    errors: u64,
    elapsed: Duration,
}

/// One measured run of the load and where the machine's CPU went meanwhile: server, this
/// load generator, idle. Client and server share the machine unless `--url` points elsewhere.
struct Measured {
    load: Load,
    server_cores: Option<f64>,
    server_us_per_award: Option<f64>,
    client_cores: f64,
    idle_percent: f64,
}

impl Load {
    fn rate(&self) -> f64 {
        self.acknowledged.len() as f64 / self.elapsed.as_secs_f64()
    }
}

impl Measured {
    fn rate(&self) -> f64 {
        self.load.rate()
    }

    /// p50, p95, p99 in ms.
    fn percentiles(&self) -> (f64, f64, f64) {
        let sorted = &self.load.latencies_us;
        (
            percentile(sorted, 0.50),
            percentile(sorted, 0.95),
            percentile(sorted, 0.99),
        )
    }
}

async fn measured_run(
    base: &str,
    token: &str,
    students: &[String],
    clients: usize,
    seconds: usize,
    random_keys: bool,
    server_pid: Option<&str>,
) -> Measured {
    let before = (server_pid.map(cpu_ns), cpu_ns("self"), machine_ticks());
    let load = load(
        base,
        token,
        students,
        clients,
        Duration::from_secs(seconds as u64),
        random_keys,
    )
    .await;
    let after = (server_pid.map(cpu_ns), cpu_ns("self"), machine_ticks());
    let wall_ns = load.elapsed.as_nanos() as f64;
    let (idle, total) = (
        after.2.0.saturating_sub(before.2.0),
        after.2.1.saturating_sub(before.2.1),
    );
    let server_ns = before
        .0
        .zip(after.0)
        .map(|(before, after)| after.saturating_sub(before) as f64);
    Measured {
        server_cores: server_ns.map(|ns| ns / wall_ns),
        server_us_per_award: server_ns
            .map(|ns| ns / 1000.0 / load.acknowledged.len().max(1) as f64),
        client_cores: after.1.saturating_sub(before.1) as f64 / wall_ns,
        idle_percent: if total > 0 {
            100.0 * idle as f64 / total as f64
        } else {
            f64::NAN
        },
        load,
    }
}

/// An idempotency key: as the board makes one for each press (time first), or, with `random`,
/// 32 random hex characters as API clients sending random UUIDs do.
fn request_key(random: bool) -> String {
    if random {
        return format!("{:032x}", rand::random::<u128>());
    }
    classpoints::ui::request_id::format_request_id_now(rand::random::<u128>())
}

/// Where the awards go: the server's address and the award endpoint's path, from the base URL.
struct AwardTarget {
    authority: String,
    path: String,
}

impl AwardTarget {
    fn new(base: &str) -> Result<Self, String> {
        let uri: hyper::Uri = base
            .parse()
            .map_err(|e| format!("{base} is not a URL like http://127.0.0.1:3000 ({e})"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "{base}: the load generator speaks plain HTTP; point it at the server itself, not at a TLS proxy"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{base} names no host"))?;
        Ok(Self {
            authority: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            path: format!("{}/api/points", uri.path().trim_end_matches('/')),
        })
    }
}

/// The part of an award's reply the benchmark reads.
#[derive(serde::Deserialize)]
struct AwardReply {
    transaction: AwardedTransaction,
}

#[derive(serde::Deserialize)]
struct AwardedTransaction {
    id: String,
}

type AwardSender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// One keep-alive HTTP/1.1 connection: hyper's bare client connection rather than a pooled
/// client such as reqwest, so that the load generator, which shares the machine's cores with
/// the server, takes as little of them as it can (reqwest took ~43 µs of CPU per award).
async fn connect(target: &AwardTarget) -> Option<AwardSender> {
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}

/// Posts one award on `sender`; the acknowledged transaction's id, or `None` for anything
/// else (a failed connection, a status other than 201, an unreadable reply).
async fn post_award(
    sender: &mut AwardSender,
    target: &AwardTarget,
    authorization: &hyper::header::HeaderValue,
    student_id: &str,
    key: String,
) -> Option<String> {
    use http_body_util::BodyExt;
    use hyper::header;
    sender.ready().await.ok()?;
    let body = format!(r#"{{"student_id":"{student_id}","points_change":1,"reason":"bench"}}"#);
    let request = hyper::Request::post(target.path.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::AUTHORIZATION, authorization.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    let created = response.status() == hyper::StatusCode::CREATED;
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    if !created {
        return None;
    }
    serde_json::from_slice::<AwardReply>(&bytes)
        .ok()
        .map(|reply| reply.transaction.id)
}

/// `clients` keep-alive connections posting awards until `duration` has passed. A connection
/// that fails counts an error and is replaced.
async fn load(
    base: &str,
    token: &str,
    students: &[String],
    clients: usize,
    duration: Duration,
    random_keys: bool,
) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let target = std::sync::Arc::new(AwardTarget::new(base).expect("checked in main"));
    let authorization: hyper::header::HeaderValue = format!("Bearer {token}").parse().unwrap();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (target, authorization, students) =
                (target.clone(), authorization.clone(), students.to_vec());
            tokio::spawn(async move {
                let (mut acked, mut latencies, mut errors) = (Vec::new(), Vec::new(), 0u64);
                let mut connection = None;
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let student = &students[(c + n) % students.len()];
                    n += 1;
                    if connection.is_none() {
                        connection = connect(&target).await;
                    }
                    let Some(sender) = connection.as_mut() else {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let sent = Instant::now();
                    let key = request_key(random_keys);
                    match post_award(sender, &target, &authorization, student, key).await {
                        Some(id) => {
                            latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                            acked.push(id);
                        }
                        None => {
                            errors += 1;
                            connection = None;
                        }
                    }
                }
                (acked, latencies, errors)
            })
        })
        .collect();
    let mut result = Load {
        acknowledged: Vec::new(),
        latencies_us: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (acked, latencies, errors) = task.await.unwrap();
        result.acknowledged.extend(acked);
        result.latencies_us.extend(latencies);
        result.errors += errors;
    }
    result.elapsed = started.elapsed();
    result.latencies_us.sort_unstable();
    result
}

/// Raw SQLite doing an award's insert + balance update, `per_transaction` awards per commit,
/// for about `duration`. Same durability as the server: WAL, synchronous=FULL.
fn sqlite_ceiling(dir: &std::path::Path, per_transaction: usize, duration: Duration) -> f64 {
    let path = dir.join(format!("ceiling-{per_transaction}.db"));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE balances (student_id TEXT PRIMARY KEY, points INTEGER NOT NULL) STRICT;
         CREATE TABLE ledger (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
             student_id TEXT NOT NULL, points_change INTEGER NOT NULL, reason TEXT NOT NULL,
             created_at TEXT NOT NULL) STRICT;",
    )
    .unwrap();
    for s in 0..40 {
        conn.execute("INSERT INTO balances VALUES (?, 0)", [format!("s{s:02}")])
            .unwrap();
    }
    let started = Instant::now();
    let mut awards = 0usize;
    while started.elapsed() < duration {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..per_transaction {
            let student = format!("s{:02}", awards % 40);
            conn.prepare_cached(
                "INSERT INTO ledger (id, student_id, points_change, reason, created_at) \
                 VALUES (?, ?, 1, 'bench', '2026-11-26T08:00:00.000Z')",
            )
            .unwrap()
            .execute(rusqlite::params![format!("{awards:015}"), student])
            .unwrap();
            conn.prepare_cached("UPDATE balances SET points = points + 1 WHERE student_id = ?")
                .unwrap()
                .execute([student])
                .unwrap();
            awards += 1;
        }
        conn.execute_batch("COMMIT").unwrap();
    }
    awards as f64 / started.elapsed().as_secs_f64()
}

/// How long the server takes to answer the class board page, signed in (sequential GETs, at
/// most `times` of them and none started after `until`): p50, p95 and how many were timed.
async fn board_render(
    base: &str,
    teacher: &str,
    class_id: &str,
    times: usize,
    until: Option<Instant>,
) -> (f64, f64, usize) {
    let http = reqwest::Client::new();
    let url = format!("{base}/class/{class_id}");
    let cookie = format!("classpoints_session={teacher}");
    let mut took = Vec::new();
    while took.len() < times && until.is_none_or(|until| Instant::now() < until) {
        let started = Instant::now();
        let response = http
            .get(&url)
            .header("cookie", &cookie)
            .header("accept-encoding", "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let html = response.text().await.unwrap();
        took.push(started.elapsed().as_micros() as u32);
        assert!(
            html.contains("class=\"card\""),
            "the board rendered its cards"
        );
    }
    took.sort_unstable();
    (percentile(&took, 0.5), percentile(&took, 0.95), took.len())
}

/// The browser bundle as the last release build (`--split`) left it in target/site/pkg.
struct BundleSizes {
    main_raw: u64,
    main: Compressed,
    /// Per lazy page or part of a page: what a browser downloads in all to show it, largest
    /// first: the main bundle, its own module and the chunks the split manifest lists for it.
    pages: Vec<(String, Compressed)>,
}

/// A file of the bundle (or a sum of files): gzip -9 of it, and the `.br` a `--precompress`
/// build left beside it, which is what the server sends browsers, when there is one.
#[derive(Clone, Copy)]
struct Compressed {
    gzip: u64,
    brotli: Option<u64>,
}

impl std::ops::Add for Compressed {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            gzip: self.gzip + other.gzip,
            brotli: self.brotli.zip(other.brotli).map(|(a, b)| a + b),
        }
    }
}

fn compressed(path: &std::path::Path) -> Option<Compressed> {
    let bytes = std::fs::read(path).ok()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).ok()?;
    let mut precompressed = path.as_os_str().to_owned();
    precompressed.push(".br");
    Some(Compressed {
        gzip: gz.finish().ok()?.len() as u64,
        brotli: std::fs::metadata(precompressed).ok().map(|m| m.len()),
    })
}

fn bundle_sizes() -> Option<BundleSizes> {
    let pkg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/site/pkg");
    let main_file = pkg.join("classpoints.wasm");
    let main_raw = std::fs::metadata(&main_file).ok()?.len();
    let main = compressed(&main_file)?;
    // No manifest: a build without --split, everything is in the main bundle.
    let manifest: std::collections::BTreeMap<String, Vec<String>> =
        std::fs::read(pkg.join("__wasm_split_manifest.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
    // Pages share most chunks: each is compressed once.
    let mut chunk_sizes = std::collections::HashMap::new();
    let mut pages = Vec::new();
    for (split, chunks) in manifest {
        // `__monitor_route_view_<hash>` is the lazy route `MonitorRoute`; `presets_editor_<hash>`
        // the `#[lazy]` function `presets_editor`, a part of a page fetched when first used.
        let page = split.trim_start_matches('_');
        let page_name = match page.split_once("_route_view") {
            Some((route, _)) => route,
            None => page.rsplit_once('_').map_or(page, |(name, _hash)| name),
        }
        .to_owned();
        // The page's own module, `split___monitor_route_view_<hash>.wasm`, which the manifest
        // also lists among the page's files (counted once).
        let own = format!("split_{split}");
        let mut total = main + compressed(&pkg.join(format!("{own}.wasm")))?;
        for chunk in chunks.into_iter().filter(|chunk| *chunk != own) {
            total = total
                + match chunk_sizes.get(&chunk) {
                    Some(&size) => size,
                    None => {
                        let size = compressed(&pkg.join(format!("{chunk}.wasm")))?;
                        chunk_sizes.insert(chunk, size);
                        size
                    }
                };
        }
        pages.push((page_name, total));
    }
    pages.sort_by_key(|page| std::cmp::Reverse(page.1.gzip));
    Some(BundleSizes {
        main_raw,
        main,
        pages,
    })
}

/// "request threads: N" from the server's start-up line (`CLASSPOINTS_WORKER_THREADS` sets it).
fn request_threads(listening: &str) -> &str {
    listening
        .find("request threads:")
        .map_or("request threads: not reported", |at| {
            listening[at..].trim_end_matches(')')
        })
}

fn main() {
    // The SQLite ceiling runs in this process: same process-wide settings as the server's.
    // SAFETY: first SQLite use in this process, on its only thread so far.
    unsafe { classpoints::db::configure_sqlite_for_process() };
    let args = <Args as clap::Parser>::parse();
    let Args {
        clients,
        seconds,
        students,
        random_keys,
        runs: runs_wanted,
        ..
    } = args;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    let remote = args.url.clone();
    if let Some(Err(problem)) = remote.as_deref().map(AwardTarget::new) {
        eprintln!("--url: {problem}");
        std::process::exit(2);
    }
    let server = remote.is_none().then(|| ServerProcess::start(&url));
    let base = remote
        .clone()
        .unwrap_or_else(|| server.as_ref().unwrap().base.clone());
    let (admin_user, admin_password) = match (&remote, args.username, args.password) {
        (None, ..) => (ADMIN.0.to_owned(), ADMIN.1.to_owned()),
        (Some(_), Some(username), Some(password)) => (username, password),
        (Some(_), ..) => {
            eprintln!(
                "--url needs an admin's --username and --password (or BENCH_USERNAME, BENCH_PASSWORD)"
            );
            std::process::exit(2);
        }
    };
    println!(
        "HTTP benchmark: {clients} keep-alive clients, {seconds} s, {students} students, {} idempotency keys, server {base}{}",
        if random_keys {
            "random"
        } else {
            "board-made (time first)"
        },
        match &server {
            None => String::new(),
            Some(server) => format!(
                " (release binary, fresh database, WAL + synchronous=FULL, {})",
                request_threads(&server.listening)
            ),
        }
    );
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let admin = sign_in(&http, &base, &admin_user, &admin_password).await;
        let (teacher, class_id, ids) = school(&base, &admin, students).await;
        // Warm up connections and caches; these awards are checked like the rest.
        let warm = load(&base, &teacher, &ids, clients, Duration::from_secs(1), random_keys).await;
        let server_pid = server.as_ref().map(|s| s.pid.to_string());
        let runs: Vec<Measured> = {
            let mut runs = Vec::new();
            for _ in 0..runs_wanted.max(1) {
                runs.push(measured_run(&base, &teacher, &ids, clients, seconds, random_keys, server_pid.as_deref()).await);
            }
            runs
        };
        // The board page while awards pour in: what a teacher opening it waits during a
        // storm, where page renders share the request threads with the awards. These awards
        // are checked like the rest.
        let busy_seconds = Duration::from_secs(5);
        let (busy, board_busy) = tokio::join!(
            load(&base, &teacher, &ids, clients, busy_seconds, random_keys),
            board_render(&base, &teacher, &class_id, usize::MAX, Some(Instant::now() + busy_seconds)),
        );
        let median_run = {
            let mut by_rate: Vec<&Measured> = runs.iter().collect();
            by_rate.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            by_rate[by_rate.len() / 2]
        };
        let rate = median_run.rate();

        // Verify: exactly the acknowledged awards, and balances equal to the ledger.
        let report: Value = http
            .get(format!("{base}/api/points/monitor?full=true"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let healthy = report["health"]["status"] == "healthy"
            && report["summary"]["inconsistentStudents"] == 0
            && report["health"]["chain"]["ok"] == true;
        let acked = warm.acknowledged.len()
            + busy.acknowledged.len()
            + runs.iter().map(|r| r.load.acknowledged.len()).sum::<usize>();
        let exact = if remote.is_none() {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let all: Vec<&String> =
                warm.acknowledged
                    .iter()
                    .chain(&busy.acknowledged)
                    .chain(runs.iter().flat_map(|r| &r.load.acknowledged))
                    .collect();
            let ids_json = serde_json::to_string(&all).unwrap();
            let (rows, matching): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM point_transactions WHERE reason = 'bench'), \
                        (SELECT count(*) FROM point_transactions WHERE reason = 'bench' \
                         AND id IN (SELECT value FROM json_each(?)))",
            )
            .bind(ids_json)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            Some((rows, matching))
        } else {
            None
        };
        let rss = server.as_ref().map(ServerProcess::rss_kib);
        // Sign-ins at once, half as the admin and half as the benchmark's teacher (the sign-in
        // throttle checks five passwords of one account at a time and holds the rest back), so
        // that all eight run together: Argon2 fills a 19 MiB block per check, each on a
        // blocking thread of its own. Then the resident memory again.
        const SIGN_INS: usize = 8;
        let rss_after_sign_ins = match &server {
            Some(server) => {
                let teacher_user = format!("bench{}", std::process::id());
                let burst = (0..SIGN_INS).map(|i| {
                    let (user, password) = if i % 2 == 0 {
                        (admin_user.as_str(), admin_password.as_str())
                    } else {
                        (teacher_user.as_str(), "bench-password")
                    };
                    sign_in(&http, &base, user, password)
                });
                futures::future::join_all(burst).await;
                Some(server.rss_kib())
            }
            None => None,
        };
        // Sign-ins with made-up usernames, all at once: each is checked against a throwaway
        // hash (an unknown name costs what a wrong password does), which the per-account
        // throttle cannot count; the password work queue bounds how many run at once. The
        // peak resident memory since start shows what they cost.
        const MADE_UP_SIGN_INS: usize = 256;
        let sign_in_flood = match &server {
            Some(server) => {
                let started = Instant::now();
                let flood = (0..MADE_UP_SIGN_INS).map(|i| {
                    let http = reqwest::Client::new();
                    let url = format!("{base}/api/auth/login");
                    async move {
                        let answer = http
                            .post(url)
                            .json(&json!({"username": format!("nobody{i}"), "password": "guess-guess"}))
                            .send()
                            .await;
                        answer.map_or(0, |answer| answer.status().as_u16())
                    }
                });
                let statuses = futures::future::join_all(flood).await;
                let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
                let others = statuses.len() - count(401) - count(503);
                Some((count(401), count(503), others, started.elapsed(), server.rss_kib()))
            }
            None => None,
        };
        let board = board_render(&base, &teacher, &class_id, 200, None).await;
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let group = metrics
            .lines()
            .filter(|l| l.starts_with("classpoints_writer_group_size_sum") || l.starts_with("classpoints_writer_group_size_count"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .collect::<Vec<_>>();
        let per_commit = if group.len() == 2 && group[1] > 0.0 { group[0] / group[1] } else { f64::NAN };

        println!();
        println!("| figure | value |");
        println!("|---|---|");
        let each = |figure: &dyn Fn(&Measured) -> String| runs.iter().map(figure).collect::<Vec<_>>().join(", ");
        println!(
            "| awards acknowledged ({} measured runs of {seconds} s) | {} |",
            runs.len(),
            each(&|r| r.load.acknowledged.len().to_string())
        );
        println!("| **awards/s over HTTP, median run** (each run) | **{rate:.0}** ({}) |", each(&|r| format!("{:.0}", r.rate())));
        let (p50, p95, p99) = median_run.percentiles();
        println!("| latency p50 / p95 / p99, median run | {p50:.2} / {p95:.2} / {p99:.2} ms |");
        println!("| latency p99, each run | {} ms |", each(&|r| format!("{:.2}", r.percentiles().2)));
        let errors = warm.errors + runs.iter().map(|r| r.load.errors).sum::<u64>();
        println!("| errors (non-201 or failed) | {errors} |");
        println!("| requests per writer commit (whole server life) | {per_commit:.1} |");
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpu = |r: &Measured| match (r.server_cores, r.server_us_per_award) {
            (Some(server), Some(per_award)) => format!(
                "{server:.2} / {:.2} / {:.0} % / {per_award:.0} µs",
                r.client_cores, r.idle_percent
            ),
            _ => format!("– / {:.2} / {:.0} % / –", r.client_cores, r.idle_percent),
        };
        println!(
            "| CPU, median run: server cores / load generator cores / machine idle (of {cores} cores) / server CPU per award | {} |",
            cpu(median_run)
        );
        match exact {
            Some((rows, matching)) => println!(
                "| ledger rows vs acknowledged awards | {rows} rows, {matching} of {acked} acknowledged ids present |"
            ),
            None => println!("| ledger rows vs acknowledged awards | not checked (remote server) |"),
        }
        println!("| full check after the load | {} |", if healthy { "healthy, 0 inconsistent, chain ok" } else { "NOT HEALTHY" });
        if let Some((now, peak, anon, file)) = rss {
            let mb = |kib: u64| kib as f64 / 1024.0;
            println!(
                "| server RSS after the load (peak) | {:.1} MB ({:.1} MB): {:.1} MB own, {:.1} MB file-backed (binary, mapped database) |",
                mb(now), mb(peak), mb(anon), mb(file)
            );
        }
        if let Some((now, _, anon, _)) = rss_after_sign_ins {
            let mb = |kib: u64| kib as f64 / 1024.0;
            println!("| server RSS after {SIGN_INS} sign-ins at once, after the load | {:.1} MB ({:.1} MB own) |", mb(now), mb(anon));
        }
        if let Some((refused_401, refused_503, others, took, (_, peak, _, _))) = sign_in_flood {
            println!(
                "| {MADE_UP_SIGN_INS} sign-ins at once with made-up usernames: answered 401 / 503 / other, time, server peak RSS since start | {refused_401} / {refused_503} / {others}, {:.2} s, {:.1} MB |",
                took.as_secs_f64(),
                peak as f64 / 1024.0
            );
        }
        println!("| board page for {students} students, server answer p50 / p95 | {:.2} / {:.2} ms |", board.0, board.1);
        println!(
            "| board page during {} s of the same award load, p50 / p95 (pages) | {:.2} / {:.2} ms ({}; {:.0} awards/s meanwhile, {} errors) |",
            busy_seconds.as_secs(), board_busy.0, board_busy.1, board_busy.2, busy.rate(), busy.errors
        );
        let (one, batched) = (
            sqlite_ceiling(dir.path(), 1, Duration::from_secs(3)),
            sqlite_ceiling(dir.path(), 64, Duration::from_secs(3)),
        );
        println!("| raw SQLite, 1 award per transaction (in-process) | {one:.0} awards/s |");
        println!("| raw SQLite, 64 awards per transaction (in-process) | {batched:.0} awards/s |");
        println!("| HTTP ÷ raw 1-per-transaction / ÷ raw batched | {:.2}× / {:.2}× |", rate / one, rate / batched);
        let kb = |bytes: u64| bytes as f64 / 1024.0;
        match bundle_sizes() {
            Some(sizes) => {
                let brotli = |size: Compressed| {
                    size.brotli
                        .map_or_else(|| "no .br (not --precompress)".to_owned(), |b| format!("{:.0} KB", kb(b)))
                };
                println!(
                    "| main WASM bundle in target/site (last `cargo leptos build`; sign-in, classes and board pages) raw / gzip -9 / brotli as served | {:.0} KB / {:.0} KB / {} |",
                    kb(sizes.main_raw),
                    kb(sizes.main.gzip),
                    brotli(sizes.main)
                );
                let pages: Vec<String> = sizes
                    .pages
                    .iter()
                    .map(|(page, total)| format!("{page} {:.0} ({})", kb(total.gzip), brotli(*total)))
                    .collect();
                if !pages.is_empty() {
                    println!(
                        "| WASM a lazy page or part downloads in all (main + its module + its chunks), gzip -9 (brotli as served) | {} |",
                        pages.join(", ")
                    );
                }
            }
            None => println!("| WASM bundle | not built (run `cargo leptos build --release --split --precompress`) |"),
        }
        let verified = healthy && exact.is_none_or(|(rows, matching)| rows == acked as i64 && matching == acked as i64);
        assert!(verified, "the ledger does not hold exactly the acknowledged awards, or balances drifted");
    });
}
