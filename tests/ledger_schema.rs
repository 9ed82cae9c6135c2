//! Tables across schema migrations: a database written by an older release keeps every
//! ledger row, hash and balance when a migration rebuilds the ledger table, and every rule the
//! table enforces still holds afterwards; request ids keep their rows and their order; an
//! upgrade killed half-way loses nothing and is finished by the next start.
#![cfg(feature = "ssr")]

mod support;

use classpoints::{
    db::{Db, connect_options},
    ledger::{ChainRow, GENESIS_HASH, Ledger, clock, hash_row, ids::new_id},
};
use rusqlite::{Connection, params, types::Value};
use sqlx::{ConnectOptions, Connection as _};
use support::process::ServerProcess;

/// The schema as the release that shipped migration `version` left it.
async fn migrate_up_to(url: &str, version: i64) {
    let mut migrator = sqlx::migrate!();
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let mut conn = connect_options(url).unwrap().connect().await.unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

struct School {
    teacher: String,
    student: String,
    award: String,
}

/// A teacher, a class, a student and three chained ledger rows: an award, a batch award and
/// the reversal of the first (the table references itself through `reverses_id`).
fn write_school(conn: &Connection) -> School {
    let now = clock::now();
    let (teacher, class, student) = (new_id(), new_id(), new_id());
    conn.execute(
        "INSERT INTO users (id, username, name, role, created_at) VALUES (?, 't', 'T', 'teacher', ?)",
        params![teacher, now],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO classes (id, name, created_at) VALUES (?, 'C', ?)",
        params![class, now],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO class_teachers (class_id, teacher_id) VALUES (?, ?)",
        params![class, teacher],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO students (id, class_id, name, created_at) VALUES (?, ?, 'Ana', ?)",
        params![student, class, now],
    )
    .unwrap();
    let (award, batch_award, reversal, batch) = (new_id(), new_id(), new_id(), new_id());
    let rows = [
        (award.as_str(), 5, "add_points", None, None),
        (
            batch_award.as_str(),
            2,
            "add_points",
            Some(batch.as_str()),
            None,
        ),
        (
            reversal.as_str(),
            -5,
            "reversal",
            None,
            Some(award.as_str()),
        ),
    ];
    let mut previous = GENESIS_HASH.to_owned();
    for (seq, (id, points_change, transaction_type, batch_id, reverses_id)) in (1..).zip(rows) {
        let row = ChainRow {
            seq,
            id,
            student_id: &student,
            teacher_id: &teacher,
            points_change,
            transaction_type,
            reason: "课堂表现优秀",
            batch_id,
            reverses_id,
            created_at: &now,
        };
        let hash = hash_row(&previous, &row);
        insert(conn, &row, &hash).unwrap();
        previous = hash;
    }
    School {
        teacher,
        student,
        award,
    }
}

fn insert(conn: &Connection, row: &ChainRow<'_>, hash: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
         transaction_type, reason, batch_id, reverses_id, created_at, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            row.seq,
            row.id,
            row.student_id,
            row.teacher_id,
            row.points_change,
            row.transaction_type,
            row.reason,
            row.batch_id,
            row.reverses_id,
            row.created_at,
            hash
        ],
    )
}

fn table(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut statement = conn.prepare(sql).unwrap();
    let columns = statement.column_count();
    // Parameters, where the statement has any, are NULL.
    let nulls = std::iter::repeat_n(Value::Null, statement.parameter_count());
    statement
        .query_map(rusqlite::params_from_iter(nulls), |r| {
            (0..columns).map(|i| r.get::<_, Value>(i)).collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

const LEDGER: &str = "SELECT * FROM point_transactions ORDER BY seq";
const BALANCES: &str = "SELECT * FROM student_points ORDER BY student_id";

#[tokio::test]
async fn rebuilding_the_ledger_table_keeps_every_row_hash_and_balance_and_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    migrate_up_to(&url, 7).await;
    let path = dir.path().join("classpoints.db");
    let (school, ledger_before, balances_before) = {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let school = write_school(&conn);
        (school, table(&conn, LEDGER), table(&conn, BALANCES))
    };
    assert_eq!(balances_before[0][1], Value::Integer(2));

    // Opening applies the pending migrations, 0008 (the table rebuild) among them.
    let db = Db::open(&url).await.unwrap();
    let conn = db.connect_writer().unwrap();
    assert_eq!(
        table(&conn, LEDGER),
        ledger_before,
        "same rows, same hashes"
    );
    assert_eq!(
        table(&conn, BALANCES),
        balances_before,
        "balances untouched"
    );
    let leftovers = table(
        &conn,
        "SELECT name FROM sqlite_schema WHERE name LIKE '%before_0008%'",
    );
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The rules, each broken once by raw SQL on a row that is otherwise valid: the next in the
    // chain, of a known student and teacher.
    let now = clock::now();
    let append = |points_change: i64, transaction_type: &str, reverses_id: Option<&str>| {
        let (last_seq, last_hash): (i64, String) = conn
            .query_row(
                "SELECT seq, hash FROM point_transactions ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let id = new_id();
        let row = ChainRow {
            seq: last_seq + 1,
            id: &id,
            student_id: &school.student,
            teacher_id: &school.teacher,
            points_change,
            transaction_type,
            reason: "",
            batch_id: None,
            reverses_id,
            created_at: &now,
        };
        insert(&conn, &row, &hash_row(&last_hash, &row)).map_err(|e| e.to_string())
    };
    let unknown_type = append(1, "bonus", None).unwrap_err();
    assert!(
        unknown_type.contains("CHECK constraint failed"),
        "{unknown_type}"
    );
    let reversed_twice = append(-5, "reversal", Some(&school.award)).unwrap_err();
    assert!(
        reversed_twice.contains("UNIQUE constraint failed: point_transactions.reverses_id"),
        "{reversed_twice}"
    );
    let unknown_original = append(-5, "reversal", Some("zzzzzzzzzzzzzzz")).unwrap_err();
    assert!(
        unknown_original.contains("FOREIGN KEY constraint failed"),
        "{unknown_original}"
    );
    let edited = conn
        .execute("UPDATE point_transactions SET points_change = 50", [])
        .unwrap_err()
        .to_string();
    assert!(edited.contains("append-only"), "{edited}");
    let deleted = conn
        .execute("DELETE FROM point_transactions", [])
        .unwrap_err()
        .to_string();
    assert!(deleted.contains("append-only"), "{deleted}");
    // Every accepted type still goes in, and the trigger still moves the balance.
    for transaction_type in ["add_points", "deduct_points", "redeem", "legacy"] {
        append(1, transaction_type, None).unwrap();
    }
    let balance: i64 = conn
        .query_row("SELECT points FROM student_points", [], |r| r.get(0))
        .unwrap();
    assert_eq!(balance, 2 + 4);
    drop(conn);

    let ledger = Ledger::start(db).await.unwrap();
    let report = ledger.check(true).await.unwrap();
    assert!(
        report.inconsistencies.is_empty(),
        "{:?}",
        report.inconsistencies
    );
    assert!(report.chain.ok, "{:?}", report.chain);
    assert_eq!(report.total_transactions, 7);
}

/// Why migration 0008 exists: SQLite checked `transaction_type IN (five values)` by building a
/// temporary index of the five values for every row it inserted. The ledger insert must not
/// open such a table.
#[tokio::test]
async fn inserting_a_ledger_row_builds_no_temporary_index() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    let db = Db::open(&url).await.unwrap();
    let conn = db.connect_writer().unwrap();
    let program = table(
        &conn,
        "EXPLAIN INSERT INTO point_transactions (seq, id, student_id, teacher_id, points_change, \
         transaction_type, reason, batch_id, reverses_id, created_at, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    let opcodes: Vec<&Value> = program.iter().map(|op| &op[1]).collect();
    assert!(
        opcodes.contains(&&Value::Text("Insert".into())),
        "the program was read: {opcodes:?}"
    );
    assert!(
        !opcodes.contains(&&Value::Text("OpenEphemeral".into())),
        "{opcodes:?}"
    );
}

/// Migration 0009 moves request ids into a table kept in arrival order: every row is kept,
/// ordered by when it was recorded (so pruning still takes the oldest first), a key is still
/// unique per actor, and nothing of the old layout is left.
#[tokio::test]
async fn request_ids_move_into_arrival_order_keeping_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    migrate_up_to(&url, 8).await;
    let recorded = [
        ("u1", "b", "2026-01-02T00:00:00.000Z"),
        ("u1", "a", "2026-01-03T00:00:00.000Z"),
        ("u2", "a", "2026-01-01T00:00:00.000Z"),
    ];
    {
        let conn = Connection::open(dir.path().join("classpoints.db")).unwrap();
        for (actor, key, at) in recorded {
            conn.execute(
                "INSERT INTO idempotency_keys (actor_id, key, fingerprint, response, created_at) \
                 VALUES (?, ?, 'f', '{}', ?)",
                params![actor, key, at],
            )
            .unwrap();
        }
    }

    let db = Db::open(&url).await.unwrap();
    let conn = db.connect_writer().unwrap();
    let text = |s: &str| Value::Text(s.to_owned());
    assert_eq!(
        table(
            &conn,
            "SELECT actor_id, key, created_at FROM idempotency_keys ORDER BY seq"
        ),
        [recorded[2], recorded[0], recorded[1]].map(|(actor, key, at)| vec![
            text(actor),
            text(key),
            text(at)
        ])
    );
    let reused = conn.execute(
        "INSERT INTO idempotency_keys (actor_id, key, fingerprint, response, created_at) \
         VALUES ('u1', 'a', 'g', '{}', '2026-01-04T00:00:00.000Z')",
        [],
    );
    assert!(reused.is_err(), "a key is unique per actor");
    let leftovers = table(
        &conn,
        "SELECT name FROM sqlite_schema WHERE name IN \
         ('idempotency_keys_by_arrival', 'idempotency_keys_created')",
    );
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `rows` more awards to the school's student, chained on from the last row, in one
/// transaction (the older release's trigger moves the balance).
fn append_awards(conn: &Connection, school: &School, rows: i64) {
    let (last_seq, mut previous): (i64, String) = conn
        .query_row(
            "SELECT seq, hash FROM point_transactions ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let now = clock::now();
    conn.execute_batch("BEGIN").unwrap();
    for seq in last_seq + 1..=last_seq + rows {
        let id = new_id();
        let row = ChainRow {
            seq,
            id: &id,
            student_id: &school.student,
            teacher_id: &school.teacher,
            points_change: 1,
            transaction_type: "add_points",
            reason: "课堂表现优秀",
            batch_id: None,
            reverses_id: None,
            created_at: &now,
        };
        let hash = hash_row(&previous, &row);
        insert(conn, &row, &hash).unwrap();
        previous = hash;
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// An upgrade killed half-way: SIGKILL at a random moment while the real server starts on a
/// large database written by an older release, whose upgrade rebuilds the ledger and
/// request-id tables (migrations 0008 and 0009 copy every row). Each migration is one
/// transaction, so a kill leaves every row, hash and balance as the older release wrote them,
/// and the next start finishes the upgrade.
#[test]
fn an_upgrade_killed_half_way_keeps_every_row_and_the_next_start_finishes_it() {
    const ROWS: i64 = 100_000;
    const ROUNDS: usize = 6;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let older = dir.path().join("older.db");
    runtime.block_on(migrate_up_to(&format!("sqlite://{}", older.display()), 7));
    let (ledger_before, balances_before) = {
        let conn = Connection::open(&older).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let school = write_school(&conn);
        append_awards(&conn, &school, ROWS);
        (table(&conn, LEDGER), table(&conn, BALANCES))
    };
    assert!(
        !dir.path().join("older.db-wal").exists(),
        "closed cleanly, nothing left in a log"
    );
    let latest = sqlx::migrate!().migrations.iter().map(|m| m.version).max();
    let copy_of_older = |name: &str| {
        let path = dir.path().join(name);
        std::fs::copy(&older, &path).unwrap();
        (path.clone(), format!("sqlite://{}", path.display()))
    };
    // Every row, hash and balance as the older release wrote them.
    let assert_kept = |conn: &Connection, round: usize| {
        assert_same(
            &table(conn, LEDGER),
            &ledger_before,
            "rows and hashes",
            round,
        );
        assert_same(&table(conn, BALANCES), &balances_before, "balances", round);
    };
    let version = |conn: &Connection| -> i64 {
        conn.query_row("SELECT max(version) FROM _sqlx_migrations", [], |r| {
            r.get(0)
        })
        .unwrap()
    };

    // How long an upgrade takes, from start to listening, when nothing stops it.
    let started = std::time::Instant::now();
    drop(ServerProcess::start(&copy_of_older("whole.db").1));
    let whole = started.elapsed();

    let mut rng = rand::rng();
    let mut killed_mid_upgrade = 0;
    for round in 0..ROUNDS {
        let (path, url) = copy_of_older(&format!("round-{round}.db"));
        let mut server = ServerProcess::spawn_starting(&url);
        let kill_after = whole.mul_f64(rand::Rng::random_range(&mut rng, 0.2..1.0));
        std::thread::sleep(kill_after);
        server.kill().unwrap();
        server.wait().unwrap();
        // What the killed upgrade wrote is in the log, if it got that far.
        let log_bytes = std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());

        let conn = Connection::open(&path).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        let reached = version(&conn);
        if Some(reached) != latest && log_bytes > 0 {
            killed_mid_upgrade += 1;
        }
        assert_kept(&conn, round);
        drop(conn);

        // The next start finishes the upgrade; the full check passes, the chain included.
        let server = ServerProcess::start(&url);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(Some(version(&conn)), latest, "round {round}");
        assert_kept(&conn, round);
        drop(conn);
        let report = runtime.block_on(full_check(&server.base));
        assert_eq!(
            report["health"]["status"], "healthy",
            "round {round}: {report}"
        );
        assert_eq!(
            report["summary"]["totalTransactions"],
            ROWS + 3,
            "round {round}"
        );
        eprintln!(
            "round {round}: killed {} ms into a {} ms start, at migration {reached} with \
             {log_bytes} bytes in the log; the next start finished it",
            kill_after.as_millis(),
            whole.as_millis()
        );
    }
    eprintln!(
        "{ROUNDS} upgrades of {} ledger rows killed, {killed_mid_upgrade} with the upgrade under \
         way: every row, hash and balance kept",
        ROWS + 3
    );
}

/// Two tables of a large database equal, without printing 100 000 rows when they are not.
fn assert_same(now: &[Vec<Value>], before: &[Vec<Value>], what: &str, round: usize) {
    let first_difference = now.iter().zip(before).position(|(a, b)| a != b);
    assert!(
        now == before,
        "round {round}: {what} differ from the older release's: {} rows now, {} before, first \
         difference at row {first_difference:?}",
        now.len(),
        before.len()
    );
}

/// A full check through the running server's monitor endpoint, as its admin.
async fn full_check(base: &str) -> serde_json::Value {
    use support::http::{ADMIN, sign_in};
    let http = reqwest::Client::new();
    let token = sign_in(&http, base, ADMIN.0, ADMIN.1).await;
    http.get(format!("{base}/api/points/monitor?full=true"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
