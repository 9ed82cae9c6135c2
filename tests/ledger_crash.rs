//! Crash safety: a child process writes through the ledger as fast as it can and prints each
//! write the ledger acknowledged; the parent kills it with SIGKILL at a random moment, reopens
//! the database like a restarted server, and checks that SQLite is intact, the invariants hold,
//! every acknowledged write is present, and no request was half-written. Repeated several times
//! on the same database.
#![cfg(all(feature = "ssr", unix))]

mod support;

use classpoints::ledger::{Outcome, Request};
use rand::Rng;
use std::{
    io::{BufRead, BufReader, Write},
    process::{Command as Process, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};
use support::*;

const CHILD_DB: &str = "CLASSPOINTS_CRASH_CHILD_DB";
const CHILD_ROUND: &str = "CLASSPOINTS_CRASH_ROUND";
const CHILD_TEACHER: &str = "CLASSPOINTS_CRASH_TEACHER";
const CHILD_CLASS: &str = "CLASSPOINTS_CRASH_CLASS";
const CHILD_STUDENTS: &str = "CLASSPOINTS_CRASH_STUDENTS";
const CLASS_SIZE: usize = 5;
const ROUNDS: usize = 8;

/// The writing child. Ignored so it runs only when the crash test starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started as a child process by the crash test"]
async fn crash_child() {
    let Ok(url) = std::env::var(CHILD_DB) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let round = var(CHILD_ROUND);
    let teacher = classpoints::ledger::Actor::teacher(var(CHILD_TEACHER));
    let class_id = var(CHILD_CLASS);
    let students: Vec<String> = var(CHILD_STUDENTS).split(',').map(str::to_owned).collect();
    let ledger = open_ledger(&url).await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let (ledger, teacher, class_id, students, round) = (
            ledger.clone(),
            teacher.clone(),
            class_id.clone(),
            students.clone(),
            round.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let command = if n % 4 == 0 {
                    class_award(&class_id, 1)
                } else {
                    let student = &students[(task + n) % students.len()];
                    award(student, 1 + (n % 3) as i64)
                };
                let key = format!("r{round}-t{task}-{n}");
                let request = Request::new(teacher.clone(), command).with_key(key.clone());
                let Outcome::Points { transactions, .. } =
                    ledger.execute(request).await.unwrap().outcome
                else {
                    unreachable!()
                };
                let ids: Vec<&str> = transactions.iter().map(|t| t.id.as_str()).collect();
                // One line per acknowledged write, flushed before the next write starts.
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {key} {}", ids.join(",")).unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write_and_leaves_no_partial_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s = runtime.block_on(school(CLASS_SIZE));
    let mut acknowledged: Vec<(String, Vec<String>)> = Vec::new();
    let mut rng = rand::rng();

    for round in 0..ROUNDS {
        let mut child = Process::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &s.url)
            .env(CHILD_ROUND, round.to_string())
            .env(CHILD_TEACHER, &s.teacher_id)
            .env(CHILD_CLASS, &s.class_id)
            .env(CHILD_STUDENTS, s.students.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("ack ") {
                        lines.lock().unwrap().push(line);
                    }
                }
            })
        };
        // Let it get going, then kill it at a random moment mid-stream.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while lines.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "child never acknowledged a write"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for line in lines.lock().unwrap().iter() {
            let mut parts = line.split(' ').skip(1);
            let key = parts.next().unwrap().to_owned();
            let ids = parts
                .next()
                .unwrap()
                .split(',')
                .map(str::to_owned)
                .collect();
            acknowledged.push((key, ids));
        }

        // Restart: reopen the database as a new server would.
        runtime.block_on(async {
            let ledger = open_ledger(&s.url).await;
            let pool = ledger.db().pool();
            let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(integrity, "ok", "round {round}");
            let report = ledger.check(true).await.unwrap();
            assert!(
                report.inconsistencies.is_empty(),
                "round {round}: {:?}",
                report.inconsistencies
            );
            assert!(report.chain.ok, "round {round}: {:?}", report.chain);

            for (key, ids) in &acknowledged {
                for id in ids {
                    let present: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM point_transactions WHERE id = ?)",
                    )
                    .bind(id)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    assert!(present, "round {round}: acknowledged {key} lost row {id}");
                }
            }
            // All or nothing: every committed class award has a row for each student, and every
            // stored request id belongs to rows that exist.
            let partial: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT batch_id FROM point_transactions \
                 WHERE batch_id IS NOT NULL GROUP BY batch_id HAVING count(*) <> ?)",
            )
            .bind(CLASS_SIZE as i64)
            .fetch_one(pool)
            .await
            .unwrap();
            assert_eq!(partial, 0, "round {round}: a batch was half-written");
            let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
                .fetch_one(pool)
                .await
                .unwrap();
            let requests: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT COALESCE(batch_id, id)) FROM point_transactions",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            assert_eq!(
                keys, requests,
                "round {round}: each committed request has its id"
            );
        });
    }
    assert!(acknowledged.len() > ROUNDS, "the children wrote");
    eprintln!(
        "{} acknowledged writes survived {ROUNDS} SIGKILLs",
        acknowledged.len()
    );
}
