//! Ledger benchmark: prints figures, asserts nothing about speed.
//!
//! 1. awards/s through the writer (group commit) from 64 concurrent tasks, without idempotency
//!    keys, with random ones (API clients sending random UUIDs) and with keys as the board
//!    makes them (time first);
//! 2. awards/s of a plain loop doing the same insert with one transaction per award, on the
//!    same machine, same durability (WAL, synchronous=FULL), in the same run;
//! 3. consistency check time at 10 000 students / 1 000 000 ledger rows.
//!
//! Run: `cargo bench --features ssr --bench ledger` (`-- --rows N --awards N`, or BENCH_ROWS /
//! BENCH_AWARDS, to resize; `-- --help` lists the options).

use classpoints::{
    db::Db,
    ledger::{
        Actor, ChainRow, Command, GENESIS_HASH, Ledger, NewClass, NewStudent, NewUser, PointChange,
        Request, clock, hash_row, ids::new_id,
    },
    model::{Role, TransactionType},
    ui::request_id::format_request_id_now,
};
use std::time::{Duration, Instant};

/// The ledger benchmark: `cargo bench --features ssr --bench ledger -- [OPTIONS]`. Every
/// option can also come from the environment variable named in `--help`.
#[derive(clap::Parser)]
struct Args {
    /// Awards each writer measurement makes (64 concurrent requesters).
    #[arg(long, env = "BENCH_AWARDS", default_value_t = 32_000)]
    awards: usize,
    /// Awards the plain loop makes, one transaction each.
    #[arg(long, env = "BENCH_PLAIN_AWARDS", default_value_t = 2_000)]
    plain_awards: usize,
    /// Ledger rows for the consistency-check measurement.
    #[arg(long, env = "BENCH_ROWS", default_value_t = 1_000_000)]
    rows: usize,
    /// Students those rows belong to.
    #[arg(long, env = "BENCH_STUDENTS", default_value_t = 10_000)]
    students: usize,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

async fn roster_id(ledger: &Ledger, actor: Actor, command: Command) -> String {
    ledger
        .run(actor, command)
        .await
        .unwrap()
        .into_roster_id()
        .unwrap()
}

/// A teacher with one class of `students`.
async fn class(ledger: &Ledger, students: usize) -> (Actor, Vec<String>) {
    let teacher_id = roster_id(
        ledger,
        Actor::System,
        Command::CreateUser(NewUser {
            id: None,
            username: format!("t{}", new_id()),
            name: "Teacher".into(),
            role: Role::Teacher,
            password_hash: None,
        }),
    )
    .await;
    let teacher = Actor::teacher(teacher_id);
    let class_id = roster_id(
        ledger,
        teacher.clone(),
        Command::CreateClass(NewClass {
            id: None,
            name: "Bench".into(),
            teacher_id: None,
        }),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..students {
        ids.push(
            roster_id(
                ledger,
                teacher.clone(),
                Command::CreateStudent(NewStudent {
                    id: None,
                    class_id: class_id.clone(),
                    name: format!("Student {i}"),
                    student_no: None,
                }),
            )
            .await,
        );
    }
    (teacher, ids)
}

fn award(student_id: &str) -> Command {
    Command::Change(PointChange {
        student_id: student_id.into(),
        points_change: 1,
        transaction_type: TransactionType::AddPoints,
        reason: "课堂表现优秀".into(),
    })
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// The idempotency keys the awards carry.
#[derive(Debug, Clone, Copy)]
enum Keys {
    None,
    /// 32 random hex characters, as API clients sending random UUIDs do.
    Random,
    /// As the board makes them (`format_request_id`): the time first, then random bits.
    TimeFirst,
}

impl Keys {
    fn make(self) -> Option<String> {
        match self {
            Keys::None => None,
            Keys::Random => Some(format!("{:032x}", rand::random::<u128>())),
            Keys::TimeFirst => Some(format_request_id_now(rand::random::<u128>())),
        }
    }
}

/// Awards/s and requests per commit, each award carrying a key made by `keys`.
async fn writer_throughput(
    dir: &std::path::Path,
    tasks: usize,
    per_task: usize,
    keys: Keys,
) -> (f64, f64) {
    let url = format!("sqlite://{}/writer-{keys:?}.db", dir.display());
    let ledger = Ledger::start(Db::open(&url).await.unwrap()).await.unwrap();
    let (teacher, students) = class(&ledger, 40).await;
    let batches_before = ledger
        .stats()
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (ledger, teacher, students) = (ledger.clone(), teacher.clone(), students.clone());
        handles.push(tokio::spawn(async move {
            for n in 0..per_task {
                let student = &students[(t + n) % students.len()];
                let mut request = Request::new(teacher.clone(), award(student));
                if let Some(key) = keys.make() {
                    request = request.with_key(key);
                }
                ledger.execute(request).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = started.elapsed();
    let batches = ledger
        .stats()
        .batches
        .load(std::sync::atomic::Ordering::Relaxed)
        - batches_before;
    let total = tasks * per_task;
    let report = ledger.check(true).await.unwrap();
    assert!(report.inconsistencies.is_empty() && report.chain.ok);
    (rate(total, elapsed), total as f64 / batches as f64)
}

/// The same award done the plain way: one transaction (and one fsync) per award, on the same
/// driver and connection settings as the writer.
async fn plain_loop(dir: &std::path::Path, awards: usize) -> f64 {
    let url = format!("sqlite://{}/plain.db", dir.display());
    let db = Db::open(&url).await.unwrap();
    let ledger = Ledger::start(db.clone()).await.unwrap();
    let (teacher, students) = class(&ledger, 40).await;
    let Actor::User { id: teacher_id, .. } = teacher else {
        unreachable!()
    };
    let conn = db.connect_writer().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut seq = 0i64;
        let mut previous = GENESIS_HASH.to_owned();
        let started = Instant::now();
        for n in 0..awards {
            let student = &students[n % students.len()];
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            let _balance: i64 = conn
                .prepare_cached("SELECT points FROM student_points WHERE student_id = ?")
                .unwrap()
                .query_row([student], |r| r.get(0))
                .unwrap();
            seq += 1;
            let id = new_id();
            let created_at = clock::now();
            let hash = hash_row(&previous, &row(seq, &id, student, &teacher_id, &created_at));
            insert(&conn, seq, &id, student, &teacher_id, &created_at, &hash);
            conn.execute_batch("COMMIT").unwrap();
            previous = hash;
        }
        rate(awards, started.elapsed())
    })
    .await
    .unwrap()
}

fn row<'a>(seq: i64, id: &'a str, student: &'a str, teacher: &'a str, at: &'a str) -> ChainRow<'a> {
    ChainRow {
        seq,
        id,
        student_id: student,
        teacher_id: teacher,
        points_change: 1,
        transaction_type: "add_points",
        reason: "课堂表现优秀",
        batch_id: None,
        reverses_id: None,
        created_at: at,
    }
}

fn insert(
    conn: &rusqlite::Connection,
    seq: i64,
    id: &str,
    student: &str,
    teacher: &str,
    at: &str,
    hash: &str,
) {
    conn.prepare_cached(
        "INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
         transaction_type, reason, created_at, hash) VALUES (?, ?, ?, ?, 1, 'add_points', '课堂表现优秀', ?, ?)",
    )
    .unwrap()
    .execute(rusqlite::params![seq, id, student, teacher, at, hash])
    .unwrap();
}

/// Fills a database with `students` students and `rows` ledger rows (valid hash chain, balances
/// kept by the insert trigger) and times the consistency check.
async fn check_at_scale(
    dir: &std::path::Path,
    students: usize,
    rows: usize,
) -> (Duration, Vec<Duration>, Duration) {
    let url = format!("sqlite://{}/scale.db", dir.display());
    let db = Db::open(&url).await.unwrap();
    let conn = db.connect_writer().unwrap();
    let fill = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let now = clock::now();
        let teacher = new_id();
        conn.execute_batch("BEGIN").unwrap();
        conn.execute(
            "INSERT INTO users (id, username, name, role, created_at) VALUES (?, 'bench', 'Bench', 'teacher', ?)",
            [&teacher, &now],
        )
        .unwrap();
        let mut student_ids = Vec::with_capacity(students);
        for c in 0..students.div_ceil(40) {
            let class_id = new_id();
            conn.execute(
                "INSERT INTO classes (id, name, created_at) VALUES (?, ?, ?)",
                [&class_id, &format!("Class {c}"), &now],
            )
            .unwrap();
            for s in 0..40.min(students - c * 40) {
                let id = new_id();
                conn.prepare_cached("INSERT INTO students (id, class_id, name, created_at) VALUES (?, ?, ?, ?)")
                    .unwrap()
                    .execute([&id, &class_id, &format!("Student {s}"), &now])
                    .unwrap();
                student_ids.push(id);
            }
        }
        conn.execute_batch("COMMIT").unwrap();
        let mut previous = GENESIS_HASH.to_owned();
        for seq in 1..=rows as i64 {
            if seq % 100_000 == 1 {
                conn.execute_batch("BEGIN").unwrap();
            }
            let student = &student_ids[(seq as usize * 7919) % student_ids.len()];
            let id = new_id();
            let hash = hash_row(&previous, &row(seq, &id, student, &teacher, &now));
            insert(&conn, seq, &id, student, &teacher, &now, &hash);
            previous = hash;
            if seq % 100_000 == 0 || seq == rows as i64 {
                conn.execute_batch("COMMIT").unwrap();
            }
        }
        conn.execute_batch("ANALYZE").unwrap();
        started.elapsed()
    })
    .await
    .unwrap();

    let ledger = Ledger::start(db).await.unwrap();
    let started = Instant::now();
    let first = ledger.check(true).await.unwrap();
    let full = started.elapsed();
    assert!(first.inconsistencies.is_empty() && first.chain.ok);
    assert_eq!(first.total_transactions, rows as i64);
    let mut checks = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let report = ledger.check(false).await.unwrap();
        checks.push(started.elapsed());
        assert_eq!(report.total_students, students as i64);
    }
    checks.sort();
    (full, checks, fill)
}

fn main() {
    // As the server does at start (so the plain loop runs under the same settings too).
    // SAFETY: first SQLite use in this process, on its only thread so far.
    unsafe { classpoints::db::configure_sqlite_for_process() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Args {
        awards,
        plain_awards,
        rows,
        students,
        ..
    } = <Args as clap::Parser>::parse();
    runtime.block_on(async {
        println!("ledger benchmark (WAL, synchronous=FULL), database under {}", dir.path().display());
        let mut writer_rate = 0.0;
        for (keys, label) in [
            (Keys::None, "no idempotency keys"),
            (Keys::Random, "random idempotency keys"),
            (Keys::TimeFirst, "idempotency keys as the board makes them (time first)"),
        ] {
            let (rate, group) = writer_throughput(dir.path(), 64, awards / 64, keys).await;
            println!("writer, 64 tasks, {awards} awards, {label}: {rate:>10.0} awards/s  (avg {group:.1} requests per commit)");
            if let Keys::None = keys {
                writer_rate = rate;
            }
        }
        let plain_rate = plain_loop(dir.path(), plain_awards).await;
        println!("plain loop, 1 tx per award, {plain_awards} awards: {plain_rate:>10.0} awards/s");
        println!("group commit speed-up: {:.1}x", writer_rate / plain_rate);
        let (full, checks, fill) = check_at_scale(dir.path(), students, rows).await;
        println!("filled {students} students / {rows} rows in {:.1} s", fill.as_secs_f64());
        println!("first check incl. full hash-chain verification: {:>8.1} ms", full.as_secs_f64() * 1e3);
        println!(
            "check (balances, orphans, counts, chain since last): median {:.1} ms, min {:.1} ms, max {:.1} ms over {}",
            checks[checks.len() / 2].as_secs_f64() * 1e3,
            checks[0].as_secs_f64() * 1e3,
            checks[checks.len() - 1].as_secs_f64() * 1e3,
            checks.len()
        );
    });
}
