//! The `classpoints` binary: monitor commands against a live server (exit codes for cron) and
//! local maintenance commands on a real database file.
#![cfg(feature = "ssr")]

mod support;

use serde_json::json;
use std::process::Output;
use support::{http::*, process::ServerProcess};

async fn classpoints(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_classpoints"));
    command
        .args(args)
        .env_remove("CLASSPOINTS_TOKEN")
        .env_remove("DATABASE_URL")
        // A test that gives up waiting (a server that should have refused to start) leaves
        // no process behind.
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().await.unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn monitor_commands_report_health_with_meaningful_exit_codes() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "C", 2).await;
    for student in &students {
        s.post(
            "/api/points",
            Some(&teacher),
            json!({"student_id": student, "points_change": 4}),
        )
        .await;
    }
    let env = [
        ("CLASSPOINTS_URL", s.base.as_str()),
        ("CLASSPOINTS_TOKEN", admin.as_str()),
    ];

    let check = classpoints(&["monitor", "check"], &env).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(
        text(&check).contains("status:        healthy"),
        "{}",
        text(&check)
    );

    s.raw_sql(&format!(
        "UPDATE student_points SET points = 40 WHERE student_id = '{}'",
        students[1]
    ))
    .await;
    let check = classpoints(&["monitor", "check"], &env).await;
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains(&students[1]),
        "names the student: {}",
        text(&check)
    );
    let json_check = classpoints(&["monitor", "check", "--json"], &env).await;
    let report: serde_json::Value = serde_json::from_slice(&json_check.stdout).unwrap();
    assert_eq!(report["summary"]["inconsistentStudents"], 1);

    let one = classpoints(&["monitor", "student", &students[1]], &env).await;
    assert_eq!(one.status.code(), Some(1), "{}", text(&one));
    assert!(text(&one).contains("consistent:    NO"));

    let fix = classpoints(&["monitor", "fix"], &env).await;
    assert_eq!(fix.status.code(), Some(0), "{}", text(&fix));
    assert!(text(&fix).contains("fixed 1"), "{}", text(&fix));
    let again = classpoints(&["monitor", "fix"], &env).await;
    assert!(text(&again).contains("nothing to fix"), "{}", text(&again));
    let one = classpoints(&["monitor", "student", &students[1]], &env).await;
    assert_eq!(one.status.code(), Some(0));

    // Refused (no token, or a teacher's token) and unreachable are both 2.
    let anonymous = classpoints(&["monitor", "check", "--url", &s.base], &[]).await;
    assert_eq!(anonymous.status.code(), Some(2), "{}", text(&anonymous));
    assert!(text(&anonymous).contains("401"));
    let teacher_env = [
        ("CLASSPOINTS_URL", s.base.as_str()),
        ("CLASSPOINTS_TOKEN", teacher.as_str()),
    ];
    assert_eq!(
        classpoints(&["monitor", "check"], &teacher_env)
            .await
            .status
            .code(),
        Some(2)
    );
    let nowhere = classpoints(&["monitor", "check", "--url", "http://127.0.0.1:9"], &[]).await;
    assert_eq!(nowhere.status.code(), Some(2), "{}", text(&nowhere));
    assert!(text(&nowhere).contains("unreachable"));
}

#[tokio::test]
async fn local_commands_manage_accounts_tokens_backups_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/school.db", dir.path().display());
    let db = [("DATABASE_URL", url.as_str())];

    let add = classpoints(
        &[
            "user",
            "add",
            "--username",
            "boss",
            "--role",
            "admin",
            "--password",
            "boss-password",
        ],
        &db,
    )
    .await;
    assert!(add.status.success(), "{}", text(&add));
    let weak = classpoints(
        &["user", "add", "--username", "weak", "--password", "short"],
        &db,
    )
    .await;
    assert!(!weak.status.success());
    assert!(text(&weak).contains("password"), "{}", text(&weak));

    let token = classpoints(&["token", "create", "--username", "boss"], &db).await;
    assert!(token.status.success(), "{}", text(&token));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("cp_"));

    // Fill a little through a server on the same file, then back up, export and restore.
    let ledger = support::open_ledger(&url).await;
    let boss = ledger
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "boss")
        .unwrap();
    let boss = classpoints::ledger::Actor::admin(boss.id);
    let class = support::create_class(&ledger, &boss, "C").await;
    let student = support::create_student(&ledger, &boss, &class, "Ana").await;
    ledger
        .run(boss.clone(), support::award(&student, 9))
        .await
        .unwrap();

    let backup_file = dir.path().join("backup.db");
    let backup = classpoints(&["backup", backup_file.to_str().unwrap()], &db).await;
    assert!(backup.status.success(), "{}", text(&backup));
    assert!(
        text(&backup).contains("1 students, 1 transactions"),
        "{}",
        text(&backup)
    );
    let twice = classpoints(&["backup", backup_file.to_str().unwrap()], &db).await;
    assert!(!twice.status.success(), "never overwrites a backup");
    let beside = |suffix: &str| dir.path().join(format!("backup.db{suffix}")).exists();
    assert!(
        !beside("-wal") && !beside("-shm"),
        "a backup is one file, nothing beside it"
    );

    let out = dir.path().join("export");
    let export = classpoints(&["export", "--out", out.to_str().unwrap()], &db).await;
    assert!(export.status.success(), "{}", text(&export));
    let balances = std::fs::read_to_string(out.join("student_points.csv")).unwrap();
    assert!(
        balances.contains(&format!("{student},{class},C,Ana,,9")),
        "{balances}"
    );
    let rows = std::fs::read_to_string(out.join("point_transactions.csv")).unwrap();
    assert_eq!(rows.lines().count(), 2);

    ledger
        .run(boss.clone(), support::award(&student, 1))
        .await
        .unwrap();
    let refused = classpoints(&["restore", backup_file.to_str().unwrap()], &db).await;
    assert!(
        !refused.status.success(),
        "needs --force over existing data"
    );
    let restore = classpoints(&["restore", "--force", backup_file.to_str().unwrap()], &db).await;
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(
        text(&restore).contains("status healthy"),
        "{}",
        text(&restore)
    );
    assert_eq!(
        ledger.balance(&student).await.unwrap(),
        9,
        "back to the backup's balance"
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database").unwrap();
    let bad = classpoints(&["restore", "--force", garbage.to_str().unwrap()], &db).await;
    assert!(!bad.status.success());
    assert_eq!(
        ledger.balance(&student).await.unwrap(),
        9,
        "a bad backup changes nothing"
    );
}

/// A running server holds its database: a restore, which would swap the file under it, and a
/// second server, whose caches would miss the first one's changes, are refused and told what
/// to do; a backup is not. Once the server is gone (SIGKILL here) the restore goes through.
#[tokio::test]
async fn restore_and_a_second_server_wait_until_the_running_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/school.db", dir.path().display());
    let db = [("DATABASE_URL", url.as_str())];
    let li_exists = || {
        rusqlite::Connection::open(dir.path().join("school.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM users WHERE username = 'li'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 1
    };
    let server = ServerProcess::start(&url);
    let backup_file = dir.path().join("backup.db");
    let backup = classpoints(&["backup", backup_file.to_str().unwrap()], &db).await;
    assert!(backup.status.success(), "{}", text(&backup));
    let add = classpoints(
        &[
            "user",
            "add",
            "--username",
            "li",
            "--password",
            "li-password",
        ],
        &db,
    )
    .await;
    assert!(add.status.success(), "{}", text(&add));
    assert!(li_exists());

    let refused = classpoints(&["restore", "--force", backup_file.to_str().unwrap()], &db).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("in use by a running classpoints server")
            && text(&refused).contains("stop it before restoring"),
        "{}",
        text(&refused)
    );
    assert!(li_exists(), "nothing was restored");

    let second = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        classpoints(
            &["serve"],
            &[
                ("DATABASE_URL", url.as_str()),
                ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
                ("CLASSPOINTS_DEMO", "false"),
                ("CLASSPOINTS_MONITOR_INTERVAL_SECONDS", "0"),
            ],
        ),
    )
    .await
    .expect("a second server on the same database refuses to start");
    assert!(!second.status.success());
    assert!(
        text(&second).contains("one server per database"),
        "{}",
        text(&second)
    );

    server.kill9();
    let restore = classpoints(&["restore", "--force", backup_file.to_str().unwrap()], &db).await;
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(!li_exists(), "back to the backup");
}

#[tokio::test]
async fn roster_import_reports_bad_lines_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/school.db", dir.path().display());
    let db = [("DATABASE_URL", url.as_str())];
    let csv = dir.path().join("roster.csv");
    std::fs::write(
        &csv,
        "class,name,student_no\n3-1,Ann,1\n3-1,,2\n3-2,Bob,1\n3-1,Cat,1\n",
    )
    .unwrap();
    let import = classpoints(&["import", "roster", csv.to_str().unwrap()], &db).await;
    assert!(
        !import.status.success(),
        "bad lines make the exit status non-zero"
    );
    let out = text(&import);
    assert!(out.contains("imported 2 students"), "{out}");
    // Each refused line says whom it is about, as far as the line could be read.
    assert!(
        out.contains("line 3 (3-1): name: must not be empty"),
        "{out}"
    );
    assert!(
        out.contains("line 5 (3-1, Cat): conflict: student number 1 is taken in this class"),
        "{out}"
    );
    let ledger = support::open_ledger(&url).await;
    let students = ledger
        .students(&classpoints::ledger::Actor::System, None)
        .await
        .unwrap();
    assert_eq!(students.len(), 2);
    assert_eq!(
        ledger
            .classes(&classpoints::ledger::Actor::System)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn legacy_import_keeps_ids_rebuilds_balances_and_reports_disagreements() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/school.db", dir.path().display());
    let db = [("DATABASE_URL", url.as_str())];
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    // As the old system exported them: PocketBase-style times, one balance that drifted.
    std::fs::write(
        old.join("point_transactions.json"),
        serde_json::to_string(&json!({"items": [
            {"id": "tx0000000000001", "student_id": "76o50j4kfqnjk0g", "teacher_id": "ho3yrz7fz7gizmb",
             "points_change": 100, "transaction_type": "add_points", "reason": "测试", "created": "2025-03-01 08:00:00.000Z"},
            {"id": "tx0000000000002", "student_id": "76o50j4kfqnjk0g", "teacher_id": "ho3yrz7fz7gizmb",
             "points_change": -20, "transaction_type": "spend", "reason": "", "created": "2025-03-02 08:00:00.000Z"},
            {"id": "tx0000000000003", "student_id": "aaaaaaaaaaaaaaa", "teacher_id": "ho3yrz7fz7gizmb",
             "points_change": 5, "transaction_type": "add_points", "reason": "x", "created": "2025-03-02 09:00:00.000Z"}
        ]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        old.join("student_points.csv"),
        "student_id,points\n76o50j4kfqnjk0g,180\naaaaaaaaaaaaaaa,5\n",
    )
    .unwrap();

    let import = classpoints(&["import", "legacy", old.to_str().unwrap()], &db).await;
    assert!(import.status.success(), "{}", text(&import));
    let out = text(&import);
    assert!(out.contains("imported 3 transactions"), "{out}");
    assert!(
        out.contains("76o50j4kfqnjk0g  old 180  ledger 80  difference +100"),
        "{out}"
    );

    let ledger = support::open_ledger(&url).await;
    assert_eq!(
        ledger.balance("76o50j4kfqnjk0g").await.unwrap(),
        80,
        "balance follows the ledger"
    );
    let history = ledger.history("76o50j4kfqnjk0g", None, 10).await.unwrap();
    assert_eq!(history[1].id, "tx0000000000001", "ids kept");
    assert_eq!(
        history[1].created_at, "2025-03-01T08:00:00.000Z",
        "times kept"
    );
    assert_eq!(
        history[0].transaction_type,
        classpoints::model::TransactionType::Legacy
    );
    let report = ledger.check(true).await.unwrap();
    assert!(
        report.inconsistencies.is_empty() && report.chain.ok,
        "{report:?}"
    );

    // Importing the same export again changes nothing.
    let again = classpoints(&["import", "legacy", old.to_str().unwrap()], &db).await;
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already in this ledger"),
        "{}",
        text(&again)
    );
    assert_eq!(ledger.check(true).await.unwrap().total_transactions, 3);
    // Unknown teachers become inactive placeholder accounts that keep the old ids.
    let users = ledger.users().await.unwrap();
    assert!(
        users.iter().any(|u| u.id == "ho3yrz7fz7gizmb" && !u.active),
        "{users:?}"
    );
}

/// The server turns transparent huge pages off for itself (each 2 MiB page the allocator
/// touched stayed resident whole: ~22 MB of the memory after a load), unless
/// `MIMALLOC_ALLOW_THP` says otherwise.
#[cfg(target_os = "linux")]
#[test]
fn the_server_gives_up_transparent_huge_pages_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let database = |name: &str| format!("sqlite://{}/{name}.db", dir.path().display());
    let thp = |server: &ServerProcess| {
        server
            .status_field("THP_enabled:")
            .expect("the kernel reports THP_enabled in /proc/<pid>/status")
    };
    let server = ServerProcess::start_with(&database("default"), |command| {
        command.env_remove("MIMALLOC_ALLOW_THP");
    });
    assert_eq!(thp(&server), "0");
    let told = ServerProcess::start_with(&database("told"), |command| {
        command.env("MIMALLOC_ALLOW_THP", "1");
    });
    assert_eq!(thp(&told), "1");
}

/// Started with the small soft open-file limit a shell or service manager often hands down,
/// the server raises it to the hard limit (each connection is an open file) and caps its
/// connections below that, leaving files for its database; `CLASSPOINTS_MAX_CONNECTIONS`
/// overrides the cap.
#[cfg(target_os = "linux")]
#[test]
fn the_server_raises_its_open_file_limit_and_keeps_connections_below_it() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let database = |name: &str| format!("sqlite://{}/{name}.db", dir.path().display());
    let started_with_few_files = |name: &str, configure: fn(&mut std::process::Command)| {
        ServerProcess::start_with(&database(name), |command| {
            command.env_remove("CLASSPOINTS_MAX_CONNECTIONS");
            configure(command);
            // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit {
                        rlim_cur: 64,
                        rlim_max: 4_096,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        })
    };
    let open_files = |server: &ServerProcess| {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid)).unwrap();
        limits
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .unwrap()
            .split_whitespace()
            .skip(3)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let server = started_with_few_files("default", |_| {});
    assert_eq!(
        open_files(&server),
        "4096 4096",
        "soft limit raised to the hard one"
    );
    assert!(
        server.listening.contains("connections at most: 3840"),
        "{}",
        server.listening
    );
    let chosen = started_with_few_files("chosen", |command| {
        command.env("CLASSPOINTS_MAX_CONNECTIONS", "100");
    });
    assert_eq!(open_files(&chosen), "4096 4096");
    assert!(
        chosen.listening.contains("connections at most: 100"),
        "{}",
        chosen.listening
    );
}

/// `backup` while teachers keep awarding: the copy finishes (SQLite's online backup starts over
/// whenever another connection writes between its steps; `Db::backup_into` copies in one) and
/// is a consistent snapshot: every balance equals its ledger.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_during_a_write_storm_finishes_and_is_consistent() {
    let s = start().await;
    let admin = s.admin().await;
    let (class_id, _) = s.class_with_students(&admin, "1A", 40).await;
    // Enough ledger (~25 MB: long reasons) that a copy takes many steps of 100 pages.
    let long_reason = "积".repeat(190);
    for n in 0..600 {
        let reply = s
            .post(
                "/api/points/batch",
                Some(&admin),
                json!({"target": {"kind": "class", "class_id": class_id},
                       "points_change": 1, "reason": format!("{n} {long_reason}")}),
            )
            .await;
        assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
    }
    let storm = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (base, token, class_id, storm) = (
                s.base.clone(),
                admin.clone(),
                class_id.clone(),
                storm.clone(),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut written = 0u64;
                while storm.load(std::sync::atomic::Ordering::Relaxed) {
                    let reply = client
                        .post(format!("{base}/api/points/batch"))
                        .bearer_auth(&token)
                        .json(&json!({"target": {"kind": "class", "class_id": class_id},
                                      "points_change": 1, "reason": "storm"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(reply.status(), reqwest::StatusCode::CREATED);
                    written += 1;
                }
                written
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let backup_file = s.dir.path().join("busy-backup.db");
    let started = std::time::Instant::now();
    let backup = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        classpoints(
            &["backup", backup_file.to_str().unwrap()],
            &[("DATABASE_URL", s.url.as_str())],
        ),
    )
    .await
    .expect("the backup finishes while awards go on");
    let took = started.elapsed();
    storm.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut during = 0;
    for writer in writers {
        during += writer.await.unwrap();
    }
    assert!(backup.status.success(), "{}", text(&backup));
    assert!(during > 0, "awards went on during the backup");
    eprintln!("backup of a busy database: {took:?}, {during} class awards meanwhile");

    let copy = rusqlite::Connection::open(&backup_file).unwrap();
    let one = |sql: &str| copy.query_row(sql, [], |r| r.get::<_, String>(0)).unwrap();
    assert_eq!(one("PRAGMA integrity_check"), "ok");
    let drifted: i64 = copy
        .query_row(
            "SELECT count(*) FROM student_points p WHERE p.points <> (SELECT coalesce(sum(t.points_change), 0) FROM point_transactions t WHERE t.student_id = p.student_id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(drifted, 0, "every balance in the copy equals its ledger");
    let rows: i64 = copy
        .query_row("SELECT count(*) FROM point_transactions", [], |r| r.get(0))
        .unwrap();
    assert!(
        rows >= 600 * 40,
        "{rows} rows: the copy holds at least the fill"
    );
}

/// An admin without a shell on the server downloads a backup from `/api/backup`: admins only,
/// the school's date in its name, not compressed on the way, nothing left beside the database,
/// and `classpoints restore` takes the file back.
#[tokio::test]
async fn an_admin_downloads_a_backup_over_http_that_restores() {
    let hook = WebhookReceiver::start().await;
    let s = start_with(classpoints::config::WatchArgs {
        alert_webhook_url: Some(hook.url.clone()),
        ..monitor_off()
    })
    .await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "1A", 3).await;
    for student in &students {
        let reply = s
            .post(
                "/api/points",
                Some(&teacher),
                json!({"student_id": student, "points_change": 2, "reason": "积极发言"}),
            )
            .await;
        assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{}", reply.body);
    }
    assert_eq!(s.get("/api/backup", None).await.status, 401);
    assert_eq!(s.get("/api/backup", Some(&teacher)).await.status, 403);

    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/backup", s.base))
        .bearer_auth(&admin)
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/vnd.sqlite3")
    );
    assert_eq!(header("content-encoding"), None, "sent as it is");
    let today = classpoints::ledger::clock::school_date(chrono::Utc::now(), 8 * 60);
    assert!(
        header("content-disposition")
            .unwrap()
            .contains(&format!("filename=\"classpoints-{today}.db\"")),
        "{:?}",
        header("content-disposition")
    );
    let file = response.bytes().await.unwrap();
    assert!(file.starts_with(b"SQLite format 3\0"));
    let mut beside: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("backup"))
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        Vec::<String>::new(),
        "no copy left beside the database"
    );
    // The download is on record, with who took it; the refused attempts are not.
    let live = rusqlite::Connection::open(s.dir.path().join("classpoints.db")).unwrap();
    let recorded: Vec<(String, i64)> = live
        .prepare(
            "SELECT u.username, b.bytes FROM backup_downloads b \
             JOIN users u ON u.id = b.user_id ORDER BY b.id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recorded, [(ADMIN.0.to_owned(), file.len() as i64)]);
    let erased = live
        .execute("DELETE FROM backup_downloads", [])
        .unwrap_err();
    assert!(erased.to_string().contains("append-only"), "{erased}");
    // Scripts read the same record, admins only; the webhook heard of the download and the
    // metrics counted it.
    let me = s.get("/api/auth/me", Some(&admin)).await.body;
    let listed = s.get("/api/backup/downloads", Some(&admin)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let downloads = listed.body["downloads"].as_array().unwrap().clone();
    assert_eq!(downloads.len(), 1, "{}", listed.text);
    assert_eq!(downloads[0]["user_id"], me["id"]);
    assert_eq!(downloads[0]["taken_by"], me["name"]);
    assert_eq!(downloads[0]["bytes"], file.len() as u64);
    assert_eq!(
        s.get("/api/backup/downloads", Some(&teacher)).await.status,
        403
    );
    for limit in ["0", "1001", "ten"] {
        let refused = s
            .get(
                &format!("/api/backup/downloads?limit={limit}"),
                Some(&admin),
            )
            .await;
        assert_eq!(refused.status, 400, "limit={limit}: {}", refused.text);
        assert_eq!(refused.body["error"]["field"], "limit", "{}", refused.text);
    }
    let events = hook.wait_for(1).await;
    assert_eq!(
        events,
        [json!({"event": "backup_downloaded", "backup": downloads[0]})]
    );
    let metrics = s.get("/metrics", None).await.text;
    assert!(
        metrics.contains("classpoints_backup_downloads_total 1\n"),
        "{metrics}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let downloaded = elsewhere.path().join("downloaded.db");
    std::fs::write(&downloaded, &file).unwrap();
    let url = format!("sqlite://{}/restored.db", elsewhere.path().display());
    let restore = classpoints(
        &["restore", downloaded.to_str().unwrap()],
        &[("DATABASE_URL", url.as_str())],
    )
    .await;
    assert!(restore.status.success(), "{}", text(&restore));
    assert!(
        text(&restore).contains("3 students, 3 transactions"),
        "{}",
        text(&restore)
    );
    let restored = rusqlite::Connection::open(elsewhere.path().join("restored.db")).unwrap();
    let total: i64 = restored
        .query_row("SELECT sum(points) FROM student_points", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 6);
}

#[tokio::test]
async fn a_backup_copy_left_by_a_server_stopped_mid_download_goes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    // What a server killed while copying leaves (its copy still has its name until the copy is
    // open), beside files that only look alike and must stay.
    let leftovers = [".classpoints-backup-a1B2c3", ".classpoints-backup-Zz9"];
    let kept = [
        "classpoints-2026-11-29.db",
        ".classpoints-backup",
        "notes.txt",
    ];
    for name in leftovers.iter().chain(&kept) {
        std::fs::write(dir.path().join(name), b"SQLite format 3\0partial").unwrap();
    }
    std::fs::create_dir(dir.path().join(".classpoints-backup-dir")).unwrap();

    let s = start_in(dir, monitor_off()).await;
    let mut beside: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("classpoints.db"))
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        [
            ".classpoints-backup",
            ".classpoints-backup-dir",
            "classpoints-2026-11-29.db",
            "notes.txt"
        ]
    );
    assert_eq!(s.get("/healthz", None).await.status, 200);
}
