//! Hostile conditions over real HTTP against the real binary: SIGKILL during a write storm, a
//! disk that fills up, retry storms with dropped connections, and who may call what (every
//! REST endpoint and every server function × every role).
#![cfg(all(feature = "ssr", unix))]

mod support;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};
use support::{http::*, process::ServerProcess};

/// A signed-in client of a running server.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    writes_through: Transport,
}

/// How a client writes: as a script does (REST, `Idempotency-Key`) or as the board does (the
/// board's server functions with their request ids, session cookie).
#[derive(Clone, Copy, Debug)]
enum Transport {
    Rest,
    ServerFunction,
}

impl Client {
    /// Runs a full consistency check (balances against the ledger, the whole hash chain) and
    /// asserts it healthy; `context` says where in the test.
    async fn assert_full_check_healthy(&self, context: &str) {
        let (_, report) = self
            .send(Method::GET, "/api/points/monitor?full=true", None, None)
            .await
            .unwrap();
        assert_eq!(report["health"]["status"], "healthy", "{context}: {report}");
    }

    async fn sign_in(base: &str, username: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        Self {
            token: support::http::sign_in(&http, base, username, password).await,
            http,
            base: base.to_owned(),
            writes_through: Transport::Rest,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> reqwest::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Sends `write` under request id `key` the way this client's transport does; what the
    /// server wrote when it acknowledged the request, the status it answered when it refused.
    async fn write(&self, write: &Write, key: &str) -> reqwest::Result<Answer> {
        match self.writes_through {
            Transport::Rest => self.write_rest(write, key).await,
            Transport::ServerFunction => self.write_server_function(write, key).await,
        }
    }

    async fn write_rest(&self, write: &Write, key: &str) -> reqwest::Result<Answer> {
        let (path, body) = match write {
            Write::Award { student_id } => (
                "/api/points".to_owned(),
                json!({"student_id": student_id, "points_change": 1, "reason": "storm"}),
            ),
            Write::AwardClass { class_id } => (
                "/api/points/batch".to_owned(),
                json!({"target": {"kind": "class", "class_id": class_id},
                       "points_change": 1, "reason": "storm"}),
            ),
            Write::UndoBatch { batch_id } => (
                format!("/api/points/batches/{batch_id}/reverse"),
                json!({"reason": "undo"}),
            ),
            Write::Undo { transaction_id } => (
                format!("/api/points/{transaction_id}/reverse"),
                json!({"reason": "undo"}),
            ),
        };
        let (status, body) = self
            .send(Method::POST, &path, Some(body), Some(key))
            .await?;
        if status != StatusCode::CREATED {
            return Ok(Err(status));
        }
        let ids = |rows: &Value| -> Vec<String> {
            let rows = rows.as_array().expect("rows");
            rows.iter()
                .map(|row| row["id"].as_str().unwrap().to_owned())
                .collect()
        };
        Ok(Ok(match write {
            Write::Award { .. } => Written {
                batch_id: None,
                transaction_ids: vec![body["transaction"]["id"].as_str().unwrap().to_owned()],
            },
            Write::AwardClass { .. } | Write::UndoBatch { .. } | Write::Undo { .. } => Written {
                batch_id: body["batch_id"].as_str().map(str::to_owned),
                transaction_ids: ids(&body["transactions"]),
            },
        }))
    }

    async fn write_server_function(&self, write: &Write, key: &str) -> reqwest::Result<Answer> {
        use classpoints::{
            api::board::{Award, AwardClass, Undo},
            model::Awarded,
        };
        use leptos::server_fn::{Decodes, ServerFn, codec::PostcardEncoding};
        let request_id = key.to_owned();
        let request = match write.clone() {
            Write::Award { student_id } => self.server_function(
                Award::PATH,
                &Award {
                    student_id,
                    points_change: 1,
                    reason: "storm".into(),
                    request_id,
                    redeem: false,
                },
            ),
            Write::AwardClass { class_id } => self.server_function(
                AwardClass::PATH,
                &AwardClass {
                    class_id,
                    points_change: 1,
                    reason: "storm".into(),
                    request_id,
                },
            ),
            Write::UndoBatch { batch_id } => self.server_function(
                Undo::PATH,
                &Undo {
                    transaction_id: None,
                    batch_id: Some(batch_id),
                    request_id,
                },
            ),
            Write::Undo { transaction_id } => self.server_function(
                Undo::PATH,
                &Undo {
                    transaction_id: Some(transaction_id),
                    batch_id: None,
                    request_id,
                },
            ),
        };
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            return Ok(Err(status));
        }
        let awarded: Awarded = PostcardEncoding::decode(body).unwrap();
        Ok(Ok(Written {
            batch_id: awarded.batch_id,
            transaction_ids: awarded.transactions.into_iter().map(|t| t.id).collect(),
        }))
    }

    /// A server function call as the board makes it: form-encoded arguments, session cookie.
    fn server_function(&self, path: &str, args: &impl serde::Serialize) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("classpoints_session={}", self.token))
            .form(args)
    }
}

/// A write that teachers' devices and scripts retry.
#[derive(Clone, Debug)]
enum Write {
    /// +1 for one student.
    Award { student_id: String },
    /// +1 for every student of a class, one batch.
    AwardClass { class_id: String },
    /// Undo a whole batch.
    UndoBatch { batch_id: String },
    /// Undo one row.
    Undo { transaction_id: String },
}

/// What the server wrote, or the status it refused with.
type Answer = Result<Written, StatusCode>;

/// What the server wrote for an acknowledged request.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Written {
    batch_id: Option<String>,
    transaction_ids: Vec<String>,
}

/// A class of `n` students made through the API; returns the class's id and the students'.
async fn class_of(admin: &Client, n: usize) -> (String, Vec<String>) {
    let (_, class) = admin
        .send(
            Method::POST,
            "/api/classes",
            Some(json!({"name": "Storm"})),
            None,
        )
        .await
        .unwrap();
    let class_id = class["id"].as_str().unwrap().to_owned();
    let mut students = Vec::new();
    for i in 0..n {
        let (_, student) = admin
            .send(
                Method::POST,
                "/api/students",
                Some(json!({"class_id": class_id, "name": format!("S{i}")})),
                None,
            )
            .await
            .unwrap();
        students.push(student["id"].as_str().unwrap().to_owned());
    }
    (class_id, students)
}

/// Every acknowledged write (request id → the ids of the rows it wrote) has its ledger rows.
async fn assert_all_present<'a>(
    url: &str,
    acknowledged: impl IntoIterator<Item = (&'a String, &'a [String])>,
    context: &str,
) {
    for (key, ids) in acknowledged {
        for id in ids {
            let present = scalar(
                url,
                &format!("SELECT count(*) FROM point_transactions WHERE id = '{id}'"),
            )
            .await;
            assert_eq!(present, 1, "{context}: acknowledged {key} ({id}) lost");
        }
    }
}

async fn integrity_check(url: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn scalar(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

#[test]
fn sigkill_of_the_server_during_a_write_storm_loses_no_acknowledged_award() {
    const ROUNDS: usize = 3;
    const CLIENTS: usize = 16;
    const STUDENTS: usize = 8;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    let mut server = ServerProcess::start(&url);
    let (class_id, students) = runtime.block_on(async {
        let admin = Client::sign_in(&server.base, ADMIN.0, ADMIN.1).await;
        class_of(&admin, STUDENTS).await
    });
    // A quarter of the clients award the whole class (one batch of 8 rows), a quarter undo
    // each award of theirs once it is acknowledged, the others award one student at a time.
    let write_of =
        move |client: usize, n: usize, undoable: Option<String>| match (client % 4, undoable) {
            (3, _) => Write::AwardClass {
                class_id: class_id.clone(),
            },
            (2, Some(transaction_id)) => Write::Undo { transaction_id },
            _ => Write::Award {
                student_id: students[n % STUDENTS].clone(),
            },
        };
    // Request id → what the server wrote, for every write it acknowledged.
    let acknowledged: Arc<Mutex<HashMap<String, Written>>> = Arc::default();
    let mut sent: Vec<(String, Write)> = Vec::new();
    let mut rng = rand::rng();

    for round in 0..ROUNDS {
        let admin = runtime.block_on(Client::sign_in(&server.base, ADMIN.0, ADMIN.1));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent_this_round: Arc<Mutex<Vec<(String, Write)>>> = Arc::default();
        let storm: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (admin, acknowledged, stop, sent_this_round, write_of) = (
                    admin.clone(),
                    acknowledged.clone(),
                    stop.clone(),
                    sent_this_round.clone(),
                    write_of.clone(),
                );
                runtime.spawn(async move {
                    // This client's last acknowledged award, not yet undone.
                    let mut undoable = None;
                    for n in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("r{round}-c{c}-{n}");
                        let write = write_of(c, n, undoable.take());
                        sent_this_round
                            .lock()
                            .unwrap()
                            .push((key.clone(), write.clone()));
                        match admin.write(&write, &key).await {
                            Ok(Ok(written)) => {
                                if let Write::Award { .. } = write {
                                    undoable = Some(written.transaction_ids[0].clone());
                                }
                                acknowledged.lock().unwrap().insert(key, written);
                            }
                            // Refused, or the connection died with the server: not acknowledged.
                            Ok(Err(_)) | Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        // Kill the server at a random moment while the awards pour in.
        std::thread::sleep(Duration::from_millis(rng.random_range(300..900)));
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in storm {
            runtime.block_on(task).unwrap();
        }
        sent.extend(sent_this_round.lock().unwrap().drain(..));

        // Restart on the same file: everything acknowledged is there, nothing is half-done.
        server = ServerProcess::start(&url);
        runtime.block_on(async {
            assert_eq!(integrity_check(&url).await, "ok", "round {round}");
            let admin = Client::sign_in(&server.base, ADMIN.0, ADMIN.1).await;
            admin
                .assert_full_check_healthy(&format!("round {round}"))
                .await;
            let acked = acknowledged.lock().unwrap().clone();
            let rows_of = acked
                .iter()
                .map(|(key, written)| (key, written.transaction_ids.as_slice()));
            assert_all_present(&url, rows_of, &format!("round {round}")).await;
            // A class award is all of the class or nothing, even when the server died writing it.
            assert_eq!(
                scalar(
                    &url,
                    &format!(
                        "SELECT count(*) FROM (SELECT batch_id FROM point_transactions \
                         WHERE reason = 'storm' AND batch_id IS NOT NULL \
                         GROUP BY batch_id HAVING count(*) <> {STUDENTS})"
                    )
                )
                .await,
                0,
                "round {round}: a class award was half-written"
            );
            assert_eq!(
                scalar(
                    &url,
                    "SELECT count(*) FROM (SELECT reverses_id FROM point_transactions \
                     WHERE reverses_id IS NOT NULL GROUP BY reverses_id HAVING count(*) > 1)"
                )
                .await,
                0,
                "round {round}: a row was undone twice"
            );
            // Every request id names one write (a row, or a class's batch), and a write exists
            // only for committed ids.
            assert_eq!(
                scalar(
                    &url,
                    "SELECT count(DISTINCT coalesce(batch_id, id)) FROM point_transactions"
                )
                .await,
                scalar(&url, "SELECT count(*) FROM idempotency_keys").await,
                "round {round}: one write per committed request id"
            );
        });
    }

    // After the last restart, clients retry everything they ever sent: acknowledged requests
    // replay what they wrote, the others are written now, each exactly once.
    runtime.block_on(async {
        let admin = Client::sign_in(&server.base, ADMIN.0, ADMIN.1).await;
        let acked = acknowledged.lock().unwrap().clone();
        let mut rows = 0;
        for (key, write) in &sent {
            let written = admin
                .write(write, key)
                .await
                .unwrap()
                .expect("retry answered");
            if let Some(original) = acked.get(key) {
                assert_eq!(&written, original, "{key} replayed what it wrote");
            }
            rows += written.transaction_ids.len();
        }
        assert_eq!(
            scalar(&url, "SELECT count(*) FROM point_transactions").await,
            rows as i64,
            "exactly one write per request id after retries"
        );
        admin.assert_full_check_healthy("after the retries").await;
        let count = |kind: fn(&Write) -> bool| {
            let acked = sent.iter().filter(|(key, _)| acked.contains_key(key));
            acked.filter(|(_, write)| kind(write)).count()
        };
        let class_awards = count(|write| matches!(write, Write::AwardClass { .. }));
        let undos = count(|write| matches!(write, Write::Undo { .. }));
        eprintln!(
            "{} acknowledged writes ({class_awards} class awards of {STUDENTS} rows, {undos} undos) \
             survived {ROUNDS} SIGKILLs of the server; {} requests retried, each written once",
            acked.len(),
            sent.len()
        );
    });
}

/// What the server did, in the order it did it, as `strace` recorded it: the events that
/// decide whether an answer could ever be sent before its commit was on disk.
#[derive(Debug)]
enum TracedEvent {
    /// A write to the database's write-ahead log began; what it wrote (a frame's 24-byte
    /// header or a page).
    WalWrite(Vec<u8>),
    /// An fsync (or fdatasync) of the write-ahead log returned successfully. It began once
    /// the first `writes_before` writes to the log had returned (a sync covers what was
    /// written before it began); `clean`: it covers every write to the log that began before
    /// it returned.
    WalSynced { writes_before: usize, clean: bool },
    /// Bytes of a request were read from a connection (named by its socket).
    Received { socket: String, bytes: Vec<u8> },
    /// An HTTP `201 Created` answer began to be sent on a connection.
    Created(String),
}

impl TracedEvent {
    fn is_wal_write(&self) -> bool {
        matches!(self, Self::WalWrite(_))
    }

    fn is_clean_sync(&self) -> bool {
        matches!(self, Self::WalSynced { clean: true, .. })
    }
}

/// The socket a traced call was made on (`12<socket:[4711]>` → `socket:[4711]`).
fn traced_socket(call: &str) -> Option<String> {
    let start = call.find("socket:[")?;
    let end = start + call[start..].find(']')?;
    Some(call[start..=end].to_owned())
}

/// The bytes of the first string in a traced call, undoing `strace -x`'s escapes (`\xNN`
/// for bytes that are not printable, `\n`-style escapes, `\"` and `\\`).
fn traced_bytes(call: &str) -> Vec<u8> {
    let Some(start) = call.find('"') else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    let mut text = call[start + 1..].bytes();
    while let Some(byte) = text.next() {
        bytes.push(match byte {
            b'"' => break,
            b'\\' => match text.next() {
                Some(b'x') => {
                    let hex = [text.next().unwrap(), text.next().unwrap()];
                    u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap()
                }
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                Some(b'v') => 0x0b,
                Some(b'f') => 0x0c,
                Some(escaped) => escaped,
                None => break,
            },
            byte => byte,
        });
    }
    bytes
}

/// The events of an `strace -f -y -x` log. A call another thread interrupted is logged in two
/// parts (`… <unfinished ...>`, then `<... fsync resumed>) = 0`): a write counts where it
/// began and covers its bytes once it returned; a read of a request counts where it returned;
/// a sync where it returned, covering the writes that had returned when it began.
fn traced_events(log: &str) -> Vec<TracedEvent> {
    // Per thread, the log writes returned when its unfinished sync of the log began.
    let mut unfinished_sync_of_wal: HashMap<&str, usize> = HashMap::new();
    // The threads with an unfinished write to the log.
    let mut unfinished_wal_write: HashSet<&str> = HashSet::new();
    // Per thread, the socket its unfinished read is on.
    let mut unfinished_read: HashMap<&str, String> = HashMap::new();
    let (mut wal_writes_begun, mut wal_writes_returned) = (0, 0);
    let mut events = Vec::new();
    let read_bytes = |call: &str| {
        call.rsplit_once("= ")
            .is_some_and(|(_, bytes)| bytes.parse::<usize>().is_ok_and(|bytes| bytes > 0))
    };
    for line in log.lines() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let is_sync = call.starts_with("fsync(") || call.starts_with("fdatasync(");
        let is_read = call.starts_with("read(") || call.starts_with("recvfrom(");
        let on_wal = call.contains("-wal>");
        let unfinished = call.ends_with("<unfinished ...>");
        if let Some(resumed) = call.strip_prefix("<... ") {
            if unfinished_wal_write.remove(pid) {
                wal_writes_returned += 1;
            }
            let is_sync = resumed.starts_with("fsync ") || resumed.starts_with("fdatasync ");
            if let Some(writes_before) = unfinished_sync_of_wal.remove(pid)
                && is_sync
                && call.ends_with("= 0")
            {
                events.push(TracedEvent::WalSynced {
                    writes_before,
                    clean: writes_before == wal_writes_begun,
                });
            }
            // A read counts where it returned: the request is in from then on.
            if let Some(socket) = unfinished_read.remove(pid)
                && read_bytes(call)
            {
                let bytes = traced_bytes(call);
                events.push(TracedEvent::Received { socket, bytes });
            }
        } else if is_sync && on_wal && unfinished {
            unfinished_sync_of_wal.insert(pid, wal_writes_returned);
        } else if is_sync && on_wal && call.ends_with("= 0") {
            events.push(TracedEvent::WalSynced {
                writes_before: wal_writes_returned,
                clean: wal_writes_returned == wal_writes_begun,
            });
        } else if (call.starts_with("pwrite64(") || call.starts_with("write(")) && on_wal {
            wal_writes_begun += 1;
            if unfinished {
                unfinished_wal_write.insert(pid);
            } else {
                wal_writes_returned += 1;
            }
            events.push(TracedEvent::WalWrite(traced_bytes(call)));
        } else if let Some(socket) = traced_socket(call) {
            if call.contains("\"HTTP/1.1 201 ") {
                events.push(TracedEvent::Created(socket));
            } else if is_read && unfinished {
                unfinished_read.insert(pid, socket);
            } else if is_read && read_bytes(call) {
                let bytes = traced_bytes(call);
                events.push(TracedEvent::Received { socket, bytes });
            }
        }
    }
    events
}

/// The write-ahead log's writes in order, and what they say about commits. SQLite writes each
/// frame as two writes, its 24-byte header and then its page; a commit's last frame carries the
/// database's size in pages (bytes 4 – 7 of the header), every other frame zero.
struct WalWrites<'a>(Vec<&'a [u8]>);

impl<'a> WalWrites<'a> {
    fn of(events: &'a [TracedEvent]) -> Self {
        Self(
            events
                .iter()
                .filter_map(|event| match event {
                    TracedEvent::WalWrite(bytes) => Some(bytes.as_slice()),
                    _ => None,
                })
                .collect(),
        )
    }

    fn is_commit_header(&self, write: usize) -> bool {
        let bytes = self.0[write];
        bytes.len() == 24 && bytes[4..8] != [0; 4]
    }

    /// How many writes to the log had returned once the transaction that first wrote `text`
    /// had written its commit frame: a sync that began after that makes the transaction
    /// durable. (Only the ledger's writer writes the log, so its writes return in order.)
    fn through_commit_of(&self, text: &[u8]) -> Option<usize> {
        let page = self.0.iter().position(|bytes| {
            bytes.len() > 24 && bytes.windows(text.len()).any(|window| window == text)
        })?;
        assert_eq!(
            self.0[page - 1].len(),
            24,
            "the log's page writes follow their frame headers"
        );
        let commit_header = (page - 1..self.0.len()).find(|&write| self.is_commit_header(write))?;
        Some(commit_header + 2)
    }
}

/// The request id (`Idempotency-Key`) in the bytes of a request.
fn request_key(request: &[u8]) -> Option<&[u8]> {
    const HEADER: &[u8] = b"idempotency-key: ";
    let start = request
        .windows(HEADER.len())
        .rposition(|window| window == HEADER)?
        + HEADER.len();
    let end = start + request[start..].windows(2).position(|w| w == b"\r\n")?;
    Some(&request[start..end])
}

/// Nothing is acknowledged before it is on disk. SIGKILL cannot show that (the kernel keeps
/// what the process wrote), so the real server runs under `strace`, which records in order
/// each request read, each write to the write-ahead log (with its bytes), each fsync of it and
/// each answer sent. First awards, class awards and undos are sent one at a time: each answer
/// must come after a write to the log since the previous answer, and after an fsync of the
/// log that returned after the last such write. Then 8 clients write at once, so that commits
/// take several requests each: every answer, then and before, must come after a write to the
/// log and an fsync of it, both after its request was read on its connection. And, sharpest:
/// every write's answer must come after an fsync of the log that began once the transaction
/// holding its request id (found in the log's pages) had written its commit frame.
#[test]
fn every_write_is_on_disk_before_it_is_acknowledged() {
    const WRITES: usize = 30;
    const CLIENTS: usize = 8;
    const WRITES_EACH: usize = 15;
    let strace_present = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        strace_present,
        "this test needs strace (Debian package strace; scripts/setup.sh installs it)"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    let trace = dir.path().join("trace");
    let trace_arg = trace.to_str().unwrap();
    let server = ServerProcess::start_under(
        &url,
        &[
            "strace",
            "-f",
            "-y",
            "-x",
            "-s",
            "4096",
            "-o",
            trace_arg,
            "-e",
            "trace=read,recvfrom,write,pwrite64,writev,sendto,sendmsg,fsync,fdatasync",
            "--",
        ],
    );
    // Request ids of one length, none a part of another, so that each is found only in the
    // log's pages that hold it.
    let mut keys = Vec::new();
    runtime.block_on(async {
        let admin = Client::sign_in(&server.base, ADMIN.0, ADMIN.1).await;
        let (class_id, students) = class_of(&admin, 4).await;
        for n in 0..WRITES {
            let key = format!("solo-{n:02}-write");
            let write = match n % 3 {
                0 => Write::AwardClass {
                    class_id: class_id.clone(),
                },
                _ => Write::Award {
                    student_id: students[n % students.len()].clone(),
                },
            };
            let written = admin.write(&write, &key).await.unwrap().expect("written");
            keys.push(key);
            if n % 3 == 1 {
                let undo = Write::Undo {
                    transaction_id: written.transaction_ids[0].clone(),
                };
                let key = format!("solo-{n:02}-undo-");
                admin.write(&undo, &key).await.unwrap().expect("undone");
                keys.push(key);
            }
        }
        // Each client on its own connection.
        let clients = futures::future::join_all(
            (0..CLIENTS).map(|_| Client::sign_in(&server.base, ADMIN.0, ADMIN.1)),
        )
        .await;
        let written = futures::future::join_all(clients.iter().enumerate().map(|(c, client)| {
            let (class_id, students) = (&class_id, &students);
            async move {
                let mut keys = Vec::new();
                for n in 0..WRITES_EACH {
                    let write = if n % 4 == 0 {
                        Write::AwardClass {
                            class_id: class_id.clone(),
                        }
                    } else {
                        Write::Award {
                            student_id: students[(c + n) % students.len()].clone(),
                        }
                    };
                    let key = format!("many-{c:02}-{n:02}-w");
                    client.write(&write, &key).await.unwrap().expect("written");
                    keys.push(key);
                }
                keys
            }
        }))
        .await;
        keys.extend(written.into_iter().flatten());
    });
    // The trace is complete once strace has seen the server go.
    server.kill9();
    let events = traced_events(&std::fs::read_to_string(&trace).unwrap());

    // One at a time: the class, its students, the writes and their undos, each answered 201.
    let one_at_a_time = 1 + 4 + WRITES + WRITES / 3;
    let (mut written_since_answer, mut synced_since_write, mut answers) = (false, false, 0);
    for event in &events {
        match event {
            TracedEvent::WalWrite(_) => (written_since_answer, synced_since_write) = (true, false),
            TracedEvent::WalSynced { clean, .. } => synced_since_write |= clean,
            TracedEvent::Received { .. } => {}
            TracedEvent::Created(_) => {
                answers += 1;
                assert!(
                    written_since_answer,
                    "answer {answers}: nothing written to the log since the previous answer"
                );
                assert!(
                    synced_since_write,
                    "answer {answers} was sent before the log was synced to disk"
                );
                written_since_answer = false;
                if answers == one_at_a_time {
                    break;
                }
            }
        }
    }
    assert_eq!(answers, one_at_a_time, "every 201 answer was in the trace");

    // Every answer, on its connection: since its request was read, a write to the log, then
    // an fsync of it (which counts only if no write began while it ran, see `traced_events`).
    // And for every write sent with a request id: an fsync that began after its commit.
    let wal = WalWrites::of(&events);
    let mut last_read: HashMap<&str, usize> = HashMap::new();
    // Per connection, the bytes read since its last answer: the request being answered.
    let mut request: HashMap<&str, Vec<u8>> = HashMap::new();
    // How many writes to the log had begun when the latest fsync so far began.
    let mut synced_through = 0;
    let mut keyed_answers = HashSet::new();
    let mut answered = 0;
    let mut shared_syncs = 0;
    for (at, event) in events.iter().enumerate() {
        match event {
            TracedEvent::Received { socket, bytes } => {
                last_read.insert(socket, at);
                request.entry(socket).or_default().extend_from_slice(bytes);
            }
            TracedEvent::WalSynced { writes_before, .. } => {
                synced_through = synced_through.max(*writes_before);
            }
            TracedEvent::Created(socket) => {
                answered += 1;
                let read = *last_read
                    .get(socket.as_str())
                    .unwrap_or_else(|| panic!("answer {answered}: no request read on {socket}"));
                let since_read = &events[read + 1..at];
                let write = since_read.iter().position(TracedEvent::is_wal_write);
                let synced = write.and_then(|write| {
                    since_read[write..]
                        .iter()
                        .position(TracedEvent::is_clean_sync)
                });
                assert!(
                    synced.is_some(),
                    "answer {answered} on {socket} was sent before a write of the log since its \
                     request was read had been synced to disk"
                );
                // Answers sent since the same request read: commits shared by requests.
                shared_syncs += usize::from(
                    since_read
                        .iter()
                        .any(|e| matches!(e, TracedEvent::Created(other) if other != socket)),
                );
                let request = request.remove(socket.as_str()).unwrap_or_default();
                if let Some(key) = request_key(&request) {
                    let key = String::from_utf8_lossy(key).into_owned();
                    let committed = wal.through_commit_of(key.as_bytes()).unwrap_or_else(|| {
                        panic!(
                            "answer {answered} ({key}): its request id is in no commit of the log"
                        )
                    });
                    assert!(
                        synced_through >= committed,
                        "answer {answered} ({key}) was sent before an fsync of the log that \
                         began after its transaction's commit frame was written"
                    );
                    keyed_answers.insert(key);
                }
            }
            TracedEvent::WalWrite(_) => {}
        }
    }
    let at_once = CLIENTS * WRITES_EACH;
    assert_eq!(
        answered,
        one_at_a_time + at_once,
        "every 201 answer was in the trace"
    );
    assert_eq!(
        keyed_answers,
        keys.into_iter().collect::<HashSet<_>>(),
        "every write sent with a request id was answered and checked against its own commit"
    );
    let syncs = events
        .iter()
        .filter(|e| matches!(e, TracedEvent::WalSynced { .. }))
        .count();
    let commits = (0..wal.0.len())
        .filter(|&w| wal.is_commit_header(w))
        .count();
    eprintln!(
        "{one_at_a_time} answers one at a time and {at_once} from {CLIENTS} clients at once \
         ({shared_syncs} with another connection's answer between request and answer), each \
         after a write to the log and its fsync since its request was read, and each of the \
         {} writes after an fsync that began after its own commit ({} writes to the log, \
         {commits} commits, {syncs} fsyncs of it)",
        keyed_answers.len(),
        wal.0.len(),
    );
}

/// Sets the soft limit on the size of any file the process `pid` writes (`RLIMIT_FSIZE`);
/// `None` lifts it. The hard limit stays unlimited, so the limit can be lifted again.
fn limit_file_size(pid: u32, bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (null old-limit pointer).
    let done = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// The disk fills up under a write storm: the server process may not grow any file past a
/// limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so that a write past it fails instead of
/// killing the process; to SQLite that is a full disk). Awards past that point are refused
/// with a 503 that says why, never acknowledged and never half-written; once there is room
/// again the same server takes awards without a restart, and nothing acknowledged is lost.
#[test]
fn a_full_disk_refuses_awards_with_a_clear_503_and_loses_nothing() {
    use std::os::unix::process::CommandExt;
    const CLIENTS: usize = 8;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    let server = ServerProcess::start_with(&url, |command| {
        // SAFETY: only `signal`, which is async-signal-safe, runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    });
    let admin = runtime.block_on(Client::sign_in(&server.base, ADMIN.0, ADMIN.1));
    let (_, students) = runtime.block_on(class_of(&admin, 8));
    // Room for a few thousand awards beyond the files as they are now.
    let largest_file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    limit_file_size(server.pid, Some(largest_file + 512 * 1024));

    // Key → transaction id of every acknowledged award; every refusal's status and body.
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let refusals: Arc<Mutex<Vec<(StatusCode, Value)>>> = Arc::default();
    let storm = |round: &'static str| {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (admin, students, acknowledged, refusals) = (
                    admin.clone(),
                    students.clone(),
                    acknowledged.clone(),
                    refusals.clone(),
                );
                runtime.spawn(async move {
                    let started = std::time::Instant::now();
                    for n in 0.. {
                        let key = format!("{round}-c{c}-{n}");
                        let body = json!({"student_id": students[n % students.len()], "points_change": 1, "reason": "storm"});
                        let (status, body) = admin
                            .send(Method::POST, "/api/points", Some(body), Some(&key))
                            .await
                            .unwrap();
                        if status == StatusCode::CREATED {
                            let id = body["transaction"]["id"].as_str().unwrap().to_owned();
                            acknowledged.lock().unwrap().insert(key, id);
                        } else {
                            refusals.lock().unwrap().push((status, body));
                        }
                        // Until the disk is full (a few refusals in), or for a minute at most;
                        // after it, a round of 200 awards.
                        let enough = match round {
                            "full" => refusals.lock().unwrap().len() >= 3 * CLIENTS,
                            _ => n >= 200,
                        };
                        if enough || started.elapsed() > Duration::from_secs(60) {
                            break;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            runtime.block_on(task).unwrap();
        }
    };

    storm("full");
    let refused = std::mem::take(&mut *refusals.lock().unwrap());
    let before_full = acknowledged.lock().unwrap().len();
    assert!(
        refused.len() >= 3 * CLIENTS,
        "the disk never filled: {before_full} awards acknowledged, {} refused",
        refused.len()
    );
    for (status, body) in &refused {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("disk full"), "{message}");
    }

    // A backup needs room for a whole copy: with none, the download is the same kind of 503
    // and leaves no partial copy beside the database.
    limit_file_size(server.pid, Some(64 * 1024));
    let (status, body) = runtime
        .block_on(admin.send(Method::GET, "/api/backup", None, None))
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no room for the backup's copy"),
        "{message}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().contains("backup"))
        .collect();
    assert_eq!(leftovers, Vec::<std::ffi::OsString>::new());

    // Space freed: the same server carries on.
    limit_file_size(server.pid, None);
    storm("room");
    assert_eq!(
        refusals.lock().unwrap().len(),
        0,
        "refused after the disk had room again: {:?}",
        refusals.lock().unwrap().first()
    );

    runtime.block_on(async {
        admin
            .assert_full_check_healthy("after the disk filled and got room again")
            .await;
        let acked = acknowledged.lock().unwrap().clone();
        let rows = scalar(
            &url,
            "SELECT count(*) FROM point_transactions WHERE reason = 'storm'",
        )
        .await;
        // Exactly the acknowledged awards: the refused ones left no row behind.
        assert_eq!(rows, acked.len() as i64);
        let rows_of = acked
            .iter()
            .map(|(key, id)| (key, std::slice::from_ref(id)));
        assert_all_present(&url, rows_of, "disk full").await;
        eprintln!(
            "disk full after {before_full} awards: {} refused with 503, none written; \
             after room was made {} more acknowledged, {} rows in all, healthy",
            refused.len(),
            acked.len() - before_full,
            rows
        );
    });
    drop(server);
    // And after a restart, the file is whole.
    let server = ServerProcess::start(&url);
    assert_eq!(runtime.block_on(integrity_check(&url)), "ok");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_storms_with_dropped_connections_leave_exactly_one_row_per_request() {
    retry_storm(Transport::Rest).await;
}

/// The board's retries: the `award` server function under the same storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_function_retry_storms_leave_exactly_one_row_per_request_id() {
    retry_storm(Transport::ServerFunction).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_class_awards_and_undos_are_each_written_once() {
    class_award_and_undo_storm(Transport::Rest).await;
}

/// The board's whole-class award and undo buttons under the same storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_class_awards_and_undos_from_the_board_are_each_written_once() {
    class_award_and_undo_storm(Transport::ServerFunction).await;
}

/// 120 awards, each sent 1–5 times in parallel or in series, a third first sent by a client
/// that hangs up at once: exactly one row per request, every copy answered with it.
async fn retry_storm(transport: Transport) {
    const REQUESTS: usize = 120;
    let s = start().await;
    let admin = Client {
        writes_through: transport,
        ..Client::sign_in(&s.base, ADMIN.0, ADMIN.1).await
    };
    let (_, students) = class_of(&admin, 5).await;
    let awards = (0..REQUESTS)
        .map(|r| {
            let student_id = students[r % students.len()].clone();
            (format!("retry-{r}"), Write::Award { student_id })
        })
        .collect();
    let (written, dropped) = storm(&admin, awards).await;
    let ids: HashSet<_> = written.iter().map(|w| &w.transaction_ids[0]).collect();
    assert_eq!(ids.len(), REQUESTS);
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        REQUESTS as i64,
        "one row per request however often it was sent"
    );
    // Each of the 5 students got exactly REQUESTS / 5 points.
    for student in &students {
        assert_eq!(
            s.count(&format!(
                "SELECT points FROM student_points WHERE student_id = '{student}'"
            ))
            .await,
            (REQUESTS / students.len()) as i64
        );
    }
    eprintln!(
        "{transport:?}: {REQUESTS} requests sent 1–5 times ({dropped} first sends dropped mid-flight): one row each"
    );
}

/// Whole-class awards and their undos, retried as a phone on a bad network does: each batch
/// written once, each undo too, and every copy of an undo answered with the undo it repeats
/// rather than refused as already undone.
async fn class_award_and_undo_storm(transport: Transport) {
    const BATCHES: usize = 30;
    const STUDENTS: usize = 6;
    let s = start().await;
    let admin = Client {
        writes_through: transport,
        ..Client::sign_in(&s.base, ADMIN.0, ADMIN.1).await
    };
    let (class_id, students) = class_of(&admin, STUDENTS).await;
    let class_awards = (0..BATCHES)
        .map(|r| {
            let class_id = class_id.clone();
            (format!("class-{r}"), Write::AwardClass { class_id })
        })
        .collect();
    let (awarded, dropped_awards) = storm(&admin, class_awards).await;
    let batches: HashSet<_> = awarded.iter().map(|w| w.batch_id.clone()).collect();
    assert_eq!(batches.len(), BATCHES, "a batch of its own per request");
    assert!(batches.iter().all(Option::is_some));
    assert!(awarded.iter().all(|w| w.transaction_ids.len() == STUDENTS));

    // Undo every other batch, retried the same way.
    let undos: Vec<_> = awarded
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(r, w)| {
            let batch_id = w.batch_id.clone().unwrap();
            (format!("undo-{r}"), Write::UndoBatch { batch_id })
        })
        .collect();
    let undone_batches = undos.len();
    let (undone, dropped_undos) = storm(&admin, undos).await;
    assert!(undone.iter().all(|w| w.transaction_ids.len() == STUDENTS));

    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions WHERE reason = 'storm'")
            .await,
        (BATCHES * STUDENTS) as i64,
        "one row per student per class award however often it was sent"
    );
    assert_eq!(
        s.count("SELECT count(DISTINCT batch_id) FROM point_transactions WHERE reason = 'storm'")
            .await,
        BATCHES as i64
    );
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions WHERE transaction_type = 'reversal'")
            .await,
        (undone_batches * STUDENTS) as i64,
        "one reversal per row of each undone batch however often the undo was sent"
    );
    for student in &students {
        assert_eq!(
            s.count(&format!(
                "SELECT points FROM student_points WHERE student_id = '{student}'"
            ))
            .await,
            (BATCHES - undone_batches) as i64,
            "{student}'s balance"
        );
    }
    admin
        .assert_full_check_healthy("after the retry storm")
        .await;
    eprintln!(
        "{transport:?}: {BATCHES} class awards and {undone_batches} undos sent 1–5 times \
         ({dropped_awards} and {dropped_undos} first sends dropped mid-flight): each written once"
    );
}

/// Undo pressed for the same class award on several devices at once (the board syncs live, so
/// two teachers' screens, or a phone and the projector, offer the same undo): the whole batch
/// undone through the REST API and through the board, and one of its rows undone, each under
/// a request id of its own. One batch undo is written and the other refused as already undone;
/// the row's undo is written when it comes first (the batch undo then reverses the rest) and
/// refused after; every row ends up reversed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_pressed_on_several_devices_at_once_reverses_each_row_once() {
    const BATCHES: usize = 20;
    const STUDENTS: usize = 6;
    let s = start().await;
    let rest = Client::sign_in(&s.base, ADMIN.0, ADMIN.1).await;
    let board = Client {
        writes_through: Transport::ServerFunction,
        ..Client::sign_in(&s.base, ADMIN.0, ADMIN.1).await
    };
    let (class_id, _) = class_of(&rest, STUDENTS).await;
    let mut batches = Vec::new();
    for r in 0..BATCHES {
        let award = Write::AwardClass {
            class_id: class_id.clone(),
        };
        let key = format!("class-{r}");
        batches.push(rest.write(&award, &key).await.unwrap().expect("awarded"));
    }
    let presses = batches.iter().enumerate().map(|(r, batch)| {
        let undo_batch = Write::UndoBatch {
            batch_id: batch.batch_id.clone().unwrap(),
        };
        let undo_row = Write::Undo {
            transaction_id: batch.transaction_ids[r % STUDENTS].clone(),
        };
        let devices = [
            (rest.clone(), undo_batch.clone(), format!("rest-{r}")),
            (board.clone(), undo_batch, format!("board-{r}")),
            (rest.clone(), undo_row, format!("row-{r}")),
        ];
        tokio::spawn(futures::future::join_all(devices.into_iter().map(
            |(device, write, key)| async move { device.write(&write, &key).await.unwrap() },
        )))
    });
    let presses: Vec<_> = presses.collect();
    let mut row_first = 0;
    for (r, press) in presses.into_iter().enumerate() {
        let [by_rest, by_board, by_row]: [Answer; 3] = press.await.unwrap().try_into().unwrap();
        let batch_undos: Vec<&Written> = [&by_rest, &by_board]
            .into_iter()
            .filter_map(|answer| answer.as_ref().ok())
            .collect();
        assert_eq!(
            batch_undos.len(),
            1,
            "batch {r}: one batch undo written, the other refused: {by_rest:?} {by_board:?}"
        );
        let reversed_with_the_batch = batch_undos[0].transaction_ids.len();
        match &by_row {
            Ok(written) => {
                row_first += 1;
                assert_eq!(written.transaction_ids.len(), 1);
                assert_eq!(reversed_with_the_batch, STUDENTS - 1, "batch {r}");
            }
            Err(status) => {
                assert_eq!(*status, StatusCode::CONFLICT, "batch {r}: the row's undo");
                assert_eq!(reversed_with_the_batch, STUDENTS, "batch {r}");
            }
        }
        for answer in [&by_rest, &by_board] {
            if let Err(status) = answer {
                assert_eq!(*status, StatusCode::CONFLICT, "batch {r}: the losing undo");
            }
        }
    }
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions WHERE transaction_type = 'reversal'")
            .await,
        (BATCHES * STUDENTS) as i64,
        "every awarded row reversed"
    );
    assert_eq!(
        s.count(
            "SELECT count(*) FROM (SELECT reverses_id FROM point_transactions \
             WHERE reverses_id IS NOT NULL GROUP BY reverses_id HAVING count(*) > 1)"
        )
        .await,
        0,
        "no row reversed twice"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM student_points WHERE points <> 0")
            .await,
        0,
        "every award undone, every balance back to 0"
    );
    rest.assert_full_check_healthy("after the undos on three devices")
        .await;
    eprintln!(
        "{BATCHES} class awards each undone on three devices at once: the row's undo came \
         first {row_first} times; every row reversed once"
    );
}

/// The monitor's repair while awards pour in: balances tampered with behind the app (raw SQL,
/// +1 000) and repaired with `auto_fix` during a storm of awards to the same students. Each
/// repair must undo exactly the tampering, whatever awards landed around it: a repair that
/// read the ledger and the balance at different moments would put an award's point into the
/// repair, or take one away, and leave drift or repair a balance that was right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repairs_during_an_award_storm_undo_exactly_the_tampering() {
    const CLIENTS: usize = 8;
    const TAMPERINGS: usize = 10;
    let s = start().await;
    let admin = Client::sign_in(&s.base, ADMIN.0, ADMIN.1).await;
    let (_, students) = class_of(&admin, 4).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let storm: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (admin, students, stop) = (admin.clone(), students.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = 0;
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let award = Write::Award {
                        student_id: students[n % students.len()].clone(),
                    };
                    let key = format!("c{c}-{n}");
                    admin.write(&award, &key).await.unwrap().expect("awarded");
                    acknowledged += 1;
                }
                acknowledged
            })
        })
        .collect();
    let mut fixed = 0;
    for t in 0..TAMPERINGS {
        let student = &students[t % students.len()];
        s.raw_sql(&format!(
            "UPDATE student_points SET points = points + 1000 WHERE student_id = '{student}'"
        ))
        .await;
        let (status, fix) = admin
            .send(
                Method::POST,
                "/api/points/monitor?auto_fix=true",
                Some(json!({})),
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{fix}");
        fixed += fix["fixed"].as_i64().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = 0;
    for client in storm {
        acknowledged += client.await.unwrap();
    }
    assert_eq!(fixed, TAMPERINGS as i64, "each tampering repaired once");
    assert_eq!(
        s.count("SELECT count(*) FROM repairs WHERE new_points - old_points = -1000")
            .await,
        TAMPERINGS as i64,
        "each repair took away exactly the 1 000 points added behind the app"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM repairs").await,
        TAMPERINGS as i64
    );
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        acknowledged,
        "every acknowledged award written, the repairs wrote no ledger row"
    );
    admin.assert_full_check_healthy("after the repairs").await;
    eprintln!(
        "{TAMPERINGS} tamperings repaired during {acknowledged} awards to the same students: \
         each repair exactly −1 000"
    );
}

/// Sends each write under its request id 1–5 times, in parallel (even requests) or in series
/// (odd ones), a third of them first by a client that hangs up almost at once, so its request
/// is dropped mid-flight and may or may not have been committed. Every copy must be
/// acknowledged with the same answer; returns the answers in order, and how many first sends
/// were dropped.
async fn storm(client: &Client, writes: Vec<(String, Write)>) -> (Vec<Written>, usize) {
    let impatient = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_micros(300))
            .build()
            .unwrap(),
        ..client.clone()
    };
    let mut dropped = 0;
    let mut tasks = Vec::new();
    for (r, (key, write)) in writes.into_iter().enumerate() {
        let copies = 1 + r % 5;
        if r % 3 == 0 && impatient.write(&write, &key).await.is_err() {
            dropped += 1;
        }
        let (client, parallel) = (client.clone(), r % 2 == 0);
        tasks.push(tokio::spawn(async move {
            let answers: Vec<Written> = if parallel {
                let sends = (0..copies).map(|_| client.write(&write, &key));
                futures::future::join_all(sends)
                    .await
                    .into_iter()
                    .map(|r| r.unwrap().expect("acknowledged"))
                    .collect()
            } else {
                let mut answers = Vec::new();
                for _ in 0..copies {
                    let answer = client.write(&write, &key).await.unwrap();
                    answers.push(answer.expect("acknowledged"));
                }
                answers
            };
            assert!(
                answers.iter().all(|a| *a == answers[0]),
                "{key}: every copy got the same answer: {answers:?}"
            );
            answers[0].clone()
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    (answers, dropped)
}

/// What a role gets from an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 2xx.
    Allowed,
    Status(u16),
}

#[tokio::test]
async fn every_endpoint_answers_each_role_as_its_rules_say() {
    let s = start().await;
    let admin_token = s.admin().await;
    let (teacher_id, teacher) = s.teacher(&admin_token, "wang").await;
    let (_, stranger) = s.teacher(&admin_token, "li").await;
    let (class_id, students) = s.class_with_students(&teacher, "Mine", 2).await;
    s.class_with_students(&stranger, "Theirs", 1).await;
    let award = s
        .post(
            "/api/points",
            Some(&teacher),
            json!({"student_id": students[0], "points_change": 2}),
        )
        .await;
    let transaction_id = award.body["transaction"]["id"].as_str().unwrap().to_owned();
    let batch = s
        .post(
            "/api/points/batch",
            Some(&teacher),
            json!({"target": {"kind": "class", "class_id": class_id}, "points_change": 1}),
        )
        .await;
    let batch_id = batch.body["batch_id"].as_str().unwrap().to_owned();
    let group = s
        .post(
            &format!("/api/classes/{class_id}/groups"),
            Some(&teacher),
            json!({"name": "Reds", "student_ids": [students[0]]}),
        )
        .await;
    let group_id = group.body["id"].as_str().unwrap().to_owned();
    let presets = json!({"presets": [{"reason": "Helping", "points": 2}]});

    use Expect::*;
    let student = &students[1];
    // (method, path, body, anonymous, teacher of another class, the class's teacher, admin)
    let table: Vec<(Method, String, Option<Value>, [Expect; 4])> = vec![
        (
            Method::GET,
            "/api/openapi.json".into(),
            None,
            [Allowed, Allowed, Allowed, Allowed],
        ),
        (
            Method::POST,
            "/api/auth/login".into(),
            Some(json!({"username": "nobody", "password": "not-a-password"})),
            [Status(401), Status(401), Status(401), Status(401)],
        ),
        (
            Method::GET,
            "/api/auth/me".into(),
            None,
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::POST,
            "/api/auth/tokens/revoke".into(),
            Some(json!({"token": "cp_unknown"})),
            [Status(401), Status(404), Status(404), Status(404)],
        ),
        (
            Method::POST,
            "/api/auth/tokens".into(),
            Some(json!({"name": "script"})),
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::GET,
            format!("/api/points?student_id={student}"),
            None,
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::GET,
            "/api/points".into(),
            None,
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::POST,
            "/api/points".into(),
            Some(json!({"student_id": student, "points_change": 1})),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::POST,
            "/api/points/batch".into(),
            Some(
                json!({"target": {"kind": "students", "student_ids": [student]}, "points_change": 1}),
            ),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::POST,
            format!("/api/points/{transaction_id}/reverse"),
            Some(json!({})),
            [Status(401), Status(403), Allowed, Status(409)],
        ),
        (
            Method::POST,
            format!("/api/points/batches/{batch_id}/reverse"),
            Some(json!({})),
            [Status(401), Status(403), Allowed, Status(409)],
        ),
        (
            Method::GET,
            "/api/points/monitor".into(),
            None,
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::POST,
            "/api/points/monitor?auto_fix=true".into(),
            Some(json!({})),
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::GET,
            "/api/backup".into(),
            None,
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::GET,
            "/api/backup/downloads".into(),
            None,
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::GET,
            "/api/teachers".into(),
            None,
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::POST,
            "/api/teachers".into(),
            Some(json!({"username": "new", "password": "new-password", "name": "N"})),
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::PATCH,
            format!("/api/teachers/{teacher_id}"),
            Some(json!({"name": "Wang"})),
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::DELETE,
            format!("/api/teachers/{teacher_id}/sign-in-lock"),
            None,
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::GET,
            "/api/classes".into(),
            None,
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::POST,
            "/api/classes".into(),
            Some(json!({"name": "Another"})),
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::PATCH,
            format!("/api/classes/{class_id}"),
            Some(json!({"name": "Mine, renamed"})),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::GET,
            "/api/students".into(),
            None,
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::POST,
            "/api/students".into(),
            Some(json!({"class_id": class_id, "name": "New"})),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::PATCH,
            format!("/api/students/{student}"),
            Some(json!({"name": "Renamed"})),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::GET,
            format!("/api/classes/{class_id}/groups"),
            None,
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::POST,
            format!("/api/classes/{class_id}/groups"),
            Some(json!({"name": "Blues"})),
            // The teacher made Blues: the admin's second Blues is a name conflict.
            [Status(401), Status(403), Allowed, Status(409)],
        ),
        (
            Method::PATCH,
            format!("/api/groups/{group_id}"),
            Some(json!({"name": "Reds, renamed"})),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::DELETE,
            format!("/api/groups/{group_id}"),
            None,
            // The teacher deleted it: nothing is left for the admin to delete.
            [Status(401), Status(403), Allowed, Status(404)],
        ),
        (
            Method::GET,
            format!("/api/classes/{class_id}/presets"),
            None,
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::PUT,
            format!("/api/classes/{class_id}/presets"),
            Some(presets.clone()),
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::GET,
            "/api/presets".into(),
            None,
            [Status(401), Allowed, Allowed, Allowed],
        ),
        (
            Method::PUT,
            "/api/presets".into(),
            Some(presets.clone()),
            [Status(401), Status(403), Status(403), Allowed],
        ),
        (
            Method::GET,
            format!("/api/events?class_id={class_id}"),
            None,
            [Status(401), Status(403), Allowed, Allowed],
        ),
        (
            Method::GET,
            "/api/monitor/events".into(),
            None,
            [Status(401), Status(403), Status(403), Allowed],
        ),
        // Last: signing out ends each caller's token.
        (
            Method::POST,
            "/api/auth/logout".into(),
            Some(json!({})),
            [Status(401), Allowed, Allowed, Allowed],
        ),
    ];
    // Every operation the API documents has its row, so a new endpoint cannot skip the matrix.
    let doc = s.get("/api/openapi.json", None).await;
    for (template, methods) in doc.body["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            assert!(
                table.iter().any(|(m, path, _, _)| {
                    m.as_str().eq_ignore_ascii_case(method) && fills_template(template, path)
                }),
                "no row of the auth matrix for {method} {template}"
            );
        }
    }
    let tokens = [
        None,
        Some(stranger.as_str()),
        Some(teacher.as_str()),
        Some(admin_token.as_str()),
    ];
    let roles = ["anonymous", "teacher of another class", "teacher", "admin"];
    let mut checked = 0;
    for (method, path, body, expected) in &table {
        for ((token, role), expect) in tokens.iter().zip(roles).zip(expected) {
            let rows_before = s.count("SELECT count(*) FROM point_transactions").await;
            let reply = if path.contains("/events") {
                // Streams: only the status matters; do not wait for the body.
                let mut request = reqwest::Client::new().get(format!("{}{path}", s.base));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                Reply {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: Value::Null,
                    text: String::new(),
                }
            } else {
                s.send(method.clone(), path, *token, body.clone(), &[])
                    .await
            };
            match expect {
                Allowed => assert!(
                    reply.status.is_success(),
                    "{role}: {method} {path} -> {} {}",
                    reply.status,
                    reply.body
                ),
                Status(code) => {
                    assert_eq!(
                        reply.status.as_u16(),
                        *code,
                        "{role}: {method} {path} -> {}",
                        reply.body
                    );
                    assert_eq!(
                        s.count("SELECT count(*) FROM point_transactions").await,
                        rows_before,
                        "{role}: a refused {method} {path} wrote nothing"
                    );
                }
            }
            checked += 1;
        }
    }
    eprintln!("{checked} endpoint × role combinations answered as expected");
}

/// Whether a concrete path (with or without a query) fills a documented path template such as
/// `/api/groups/{group_id}`.
fn fills_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (template, path): (Vec<_>, Vec<_>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// One server-function call as the browser makes it: the function's path and its arguments,
/// form-encoded or JSON as the function takes them.
#[derive(Clone)]
struct Call {
    path: &'static str,
    body: CallBody,
}

#[derive(Clone)]
enum CallBody {
    Form(String),
    Json(Vec<u8>),
}

/// A row's call for the `n`th role (writes carry a request id of their own per role).
type CallFor<'a> = Box<dyn Fn(u32) -> Call + 'a>;

/// A row whose call is the same for every role.
fn same_for_all<'a>(call: Call, expect: [Expect; 4]) -> (CallFor<'a>, [Expect; 4]) {
    (Box::new(move |_| call.clone()), expect)
}

fn form<T: leptos::server_fn::ServerFn + serde::Serialize>(args: T) -> Call {
    Call {
        path: T::PATH,
        body: CallBody::Form(serde_urlencoded::to_string(&args).unwrap()),
    }
}

fn json_args<T: leptos::server_fn::ServerFn + serde::Serialize>(args: T) -> Call {
    Call {
        path: T::PATH,
        body: CallBody::Json(serde_json::to_vec(&args).unwrap()),
    }
}

/// The browser's endpoints: every server function, called by each role with its session
/// cookie. The REST matrix above does not reach them, and they decide who may do what on
/// their own (`session::required`, `session::admin`, the ledger's class checks).
#[tokio::test]
async fn every_server_function_answers_each_role_as_its_rules_say() {
    use classpoints::{api::admin::*, api::board::*, api::status::*, model::*};
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, stranger) = s.teacher(&admin, "li").await;
    let (spare_id, _) = s.teacher(&admin, "zhao").await;
    let (class_id, students) = s.class_with_students(&teacher, "Mine", 2).await;
    s.class_with_students(&stranger, "Theirs", 1).await;
    let student = &students[1];
    let awarded = s
        .post(
            "/api/points",
            Some(&teacher),
            json!({"student_id": students[0], "points_change": 2}),
        )
        .await;
    let transaction_id = awarded.body["transaction"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = s
        .post(
            &format!("/api/classes/{class_id}/groups"),
            Some(&teacher),
            json!({"name": "Reds", "student_ids": [students[0]]}),
        )
        .await;
    let group_id = group.body["id"].as_str().unwrap().to_owned();
    let presets = vec![Preset {
        reason: "Helping".into(),
        points: 2,
    }];
    let request_id = |n: u32| format!("rpc-matrix-{n}");

    use Expect::*;
    let admin_only = [Status(401), Status(403), Status(403), Allowed];
    let class_teacher = [Status(401), Status(403), Allowed, Allowed];
    let signed_in = [Status(401), Allowed, Allowed, Allowed];
    // (call, anonymous, teacher of another class, the class's teacher, admin). Calls that
    // write come with a fresh request id per role (`n`), as the board makes one per press.
    let table: Vec<(CallFor<'_>, [Expect; 4])> = vec![
        same_for_all(form(CurrentUser {}), [Allowed; 4]),
        same_for_all(
            form(SignIn {
                username: "nobody".into(),
                password: "not-a-password".into(),
            }),
            [Status(401); 4],
        ),
        same_for_all(form(MyClasses {}), signed_in),
        same_for_all(
            form(ClassBoard {
                class_id: class_id.clone(),
            }),
            class_teacher,
        ),
        (
            Box::new(|n| {
                form(Award {
                    student_id: student.clone(),
                    points_change: 1,
                    reason: "matrix".into(),
                    request_id: request_id(n),
                    redeem: false,
                })
            }),
            class_teacher,
        ),
        (
            Box::new(|n| {
                form(AwardClass {
                    class_id: class_id.clone(),
                    points_change: 1,
                    reason: "matrix".into(),
                    request_id: request_id(100 + n),
                })
            }),
            class_teacher,
        ),
        (
            Box::new(|n| {
                json_args(AwardMany {
                    student_ids: vec![student.clone()],
                    group_id: None,
                    points_change: 1,
                    reason: "matrix".into(),
                    request_id: request_id(200 + n),
                })
            }),
            class_teacher,
        ),
        same_for_all(
            json_args(SaveGroup {
                class_id: class_id.clone(),
                name: "Blues".into(),
                student_ids: vec![student.clone()],
            }),
            // The teacher made Blues: the admin's second Blues is a name conflict.
            [Status(401), Status(403), Allowed, Status(409)],
        ),
        same_for_all(
            json_args(UpdateGroup {
                group_id: group_id.clone(),
                name: "Reds, renamed".into(),
                student_ids: vec![student.clone()],
            }),
            class_teacher,
        ),
        same_for_all(
            form(DeleteGroup {
                group_id: group_id.clone(),
            }),
            // The teacher deleted it: nothing is left for the admin to delete.
            [Status(401), Status(403), Allowed, Status(404)],
        ),
        same_for_all(
            json_args(SavePresets {
                class_id: class_id.clone(),
                presets: Some(presets.clone()),
            }),
            class_teacher,
        ),
        (
            Box::new(|n| {
                form(Undo {
                    transaction_id: Some(transaction_id.clone()),
                    batch_id: None,
                    request_id: request_id(300 + n),
                })
            }),
            // The teacher undid it: the admin's undo finds it undone already.
            [Status(401), Status(403), Allowed, Status(409)],
        ),
        same_for_all(
            form(LoadStudent {
                student_id: student.clone(),
                rows: Some(500),
            }),
            class_teacher,
        ),
        same_for_all(
            form(LoadOlderHistory {
                student_id: students[0].clone(),
                before: transaction_id.clone(),
            }),
            class_teacher,
        ),
        // Ids that cannot be ids: who is asking is settled first, then the argument.
        same_for_all(
            form(ClassBoard {
                class_id: "not an id".into(),
            }),
            [Status(401), Status(400), Status(400), Status(400)],
        ),
        same_for_all(
            form(LoadStudent {
                student_id: "x".into(),
                rows: None,
            }),
            [Status(401), Status(400), Status(400), Status(400)],
        ),
        same_for_all(
            form(LoadOlderHistory {
                student_id: students[0].clone(),
                before: "x".into(),
            }),
            [Status(401), Status(400), Status(400), Status(400)],
        ),
        same_for_all(
            form(LoadClassRoster {
                class_id: "x".into(),
            }),
            [Status(401), Status(403), Status(403), Status(400)],
        ),
        same_for_all(form(LoadMonitor {}), admin_only),
        same_for_all(form(RunMonitor { fix: false }), admin_only),
        same_for_all(form(Accounts {}), admin_only),
        same_for_all(
            form(CreateAccount {
                username: "new".into(),
                name: "New".into(),
                password: "new-password".into(),
                role: Role::Teacher,
            }),
            admin_only,
        ),
        same_for_all(form(LoadSchoolClasses {}), admin_only),
        same_for_all(
            form(CreateSchoolClass {
                name: "Another".into(),
                teacher_id: None,
            }),
            admin_only,
        ),
        same_for_all(
            form(UpdateSchoolClass {
                class_id: class_id.clone(),
                name: Some("Mine, renamed".into()),
                archived: None,
            }),
            admin_only,
        ),
        same_for_all(
            form(AddTeacherToClass {
                class_id: class_id.clone(),
                teacher_id: spare_id.clone(),
            }),
            admin_only,
        ),
        same_for_all(
            form(ResetPassword {
                user_id: spare_id.clone(),
                password: "another-password".into(),
            }),
            admin_only,
        ),
        same_for_all(
            form(SetAccountActive {
                user_id: spare_id.clone(),
                active: false,
            }),
            admin_only,
        ),
        same_for_all(
            form(LiftSignInLock {
                user_id: spare_id.clone(),
            }),
            admin_only,
        ),
        same_for_all(
            form(LoadClassRoster {
                class_id: class_id.clone(),
            }),
            admin_only,
        ),
        same_for_all(
            form(AddStudent {
                class_id: class_id.clone(),
                name: "New".into(),
                student_no: None,
            }),
            admin_only,
        ),
        same_for_all(
            form(UpdateStudent {
                student_id: student.clone(),
                name: Some("Renamed".into()),
                student_no: None,
                archived: None,
            }),
            admin_only,
        ),
        same_for_all(
            json_args(PreviewRoster {
                csv: "class,name\nImported,Amy\n".into(),
            }),
            admin_only,
        ),
        same_for_all(
            json_args(PreviewRoster {
                csv: "not a roster".into(),
            }),
            // Who is asking is settled before the file is read.
            [Status(401), Status(403), Status(403), Status(400)],
        ),
        same_for_all(
            json_args(ImportRoster {
                csv: "class,name\nImported,Amy\n".into(),
            }),
            admin_only,
        ),
        same_for_all(form(LoadSchoolRules {}), admin_only),
        same_for_all(
            json_args(SaveRules {
                rules: classpoints::rules::Rules::default(),
            }),
            admin_only,
        ),
        same_for_all(
            json_args(SaveSchoolPresets {
                presets: presets.clone(),
            }),
            admin_only,
        ),
        same_for_all(form(GetSystemStatus {}), admin_only),
        // Last: signing out ends each caller's session.
        same_for_all(form(SignOut {}), [Allowed; 4]),
    ];
    // Every server function the app registers has its row, so a new one cannot skip the
    // matrix.
    let rows: HashSet<&str> = table.iter().map(|(call, _)| call(0).path).collect();
    let registered: HashSet<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    let missing: Vec<_> = registered.difference(&rows).collect();
    assert!(
        missing.is_empty(),
        "no row of the matrix for the server functions {missing:?}"
    );
    assert_eq!(
        rows.len(),
        registered.len(),
        "every row calls a registered server function"
    );

    let sessions = [None, Some(&stranger), Some(&teacher), Some(&admin)];
    let roles = ["anonymous", "teacher of another class", "teacher", "admin"];
    let http = reqwest::Client::new();
    let mut checked = 0;
    for (call, expected) in &table {
        for (n, ((session, role), expect)) in sessions.iter().zip(roles).zip(expected).enumerate() {
            let before = s.school_state().await;
            let Call { path, body } = call(n as u32);
            let mut request = http.post(format!("{}{path}", s.base));
            request = match body {
                CallBody::Form(body) => request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
                CallBody::Json(body) => request
                    .header("content-type", "application/json")
                    .body(body),
            };
            if let Some(token) = session {
                request = request.header("cookie", format!("classpoints_session={token}"));
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned();
            match expect {
                Allowed => assert!(status.is_success(), "{role}: {path} -> {status} {text}"),
                Status(code) => {
                    assert_eq!(status.as_u16(), *code, "{role}: {path} -> {text}");
                    assert_eq!(
                        s.school_state().await,
                        before,
                        "{role}: a refused {path} changed nothing"
                    );
                }
            }
            checked += 1;
        }
    }
    eprintln!("{checked} server function × role combinations answered as expected");
    s.shutdown().await;
}

/// Guessing a password: after five failed sign-ins an account is locked (429 with
/// Retry-After) even for the right password, through the REST API and the sign-in page alike;
/// parallel guesses do not slip past the count; other accounts and open sessions carry on; a
/// new password set by an admin lifts the lock.
#[tokio::test]
async fn password_guessing_locks_the_account_not_the_school() {
    use classpoints::api::board::SignIn;
    use leptos::server_fn::ServerFn;
    let s = start().await;
    let admin = s.admin().await;
    let (_, wang_session) = s.teacher(&admin, "wang").await;
    let login = |username: &str, password: &str| {
        s.post(
            "/api/auth/login",
            None,
            json!({"username": username, "password": password}),
        )
    };
    for _ in 0..5 {
        assert_eq!(
            login("wang", "guess-guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = login("Wang", "teacher-password").await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert_eq!(locked.error()["code"], "too_many_attempts");
    let retry_after: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The sign-in page's server function answers the same.
    let page = reqwest::Client::new()
        .post(format!("{}{}", s.base, SignIn::PATH))
        .form(&[("username", "wang"), ("password", "teacher-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other accounts sign in; wang's open session still works.
    assert_eq!(login(ADMIN.0, ADMIN.1).await.status, StatusCode::OK);
    assert_eq!(
        s.get("/api/auth/me", Some(&wang_session)).await.status,
        StatusCode::OK
    );
    // An admin setting a new password lifts the lock.
    let wang_id = s.get("/api/auth/me", Some(&wang_session)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = s
        .send(
            Method::PATCH,
            &format!("/api/teachers/{wang_id}"),
            Some(&admin),
            Some(json!({"password": "a-fresh-password"})),
            &[],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(
        login("wang", "a-fresh-password").await.status,
        StatusCode::OK
    );

    // A class's devices signing in to one account at once are all let in: checks in flight
    // hold the free attempts but are not failures.
    let (li_id, li_session) = s.teacher(&admin, "li").await;
    let at_once = |times: usize, username: &'static str, password: &'static str| {
        let replies = futures::future::join_all((0..times).map(|_| login(username, password)));
        async move {
            let replies = replies.await;
            replies
                .into_iter()
                .map(|reply| reply.status)
                .collect::<Vec<StatusCode>>()
        }
    };
    let statuses = at_once(12, "li", "teacher-password").await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );

    // 40 guesses at once at that account: five are checked, the rest refused unchecked.
    let statuses = at_once(40, "li", "guess-guess").await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");

    // The admin sees which accounts are locked (wang's lock was lifted; guesses at a
    // username nobody has lock no account) and lifts li's.
    for _ in 0..6 {
        login("nobody", "guess-guess").await;
    }
    let listed = s.get("/api/teachers", Some(&admin)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let locks = listed.body["sign_in_locks"].as_array().unwrap().clone();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0]["user_id"], li_id.as_str());
    assert_eq!(locks[0]["username"], "li");
    assert_eq!(locks[0]["failed_attempts"], 5);
    let left = locks[0]["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=60).contains(&left), "{left}");
    let server = &s;
    let lift = |id: String, token: String| async move {
        server
            .send(
                Method::DELETE,
                &format!("/api/teachers/{id}/sign-in-lock"),
                Some(&token),
                None,
                &[],
            )
            .await
    };
    // Not by the teacher locked out (nor any other teacher), not for ids that are none.
    let by_teacher = lift(li_id.clone(), li_session.clone()).await;
    assert_eq!(
        by_teacher.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_teacher.body
    );
    assert_eq!(
        login("li", "teacher-password").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let bad_id = lift("not-an-id".into(), admin.clone()).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST, "{}", bad_id.body);
    assert_eq!(bad_id.error()["field"], "user_id");
    let unknown = lift("0".repeat(15), admin.clone()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let lifted = lift(li_id.clone(), admin.clone()).await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
    assert_eq!(lifted.body["username"], "li");
    assert_eq!(login("li", "teacher-password").await.status, StatusCode::OK);
    let listed = s.get("/api/teachers", Some(&admin)).await;
    assert_eq!(listed.body["sign_in_locks"], json!([]));
    // Lifting no lock is not an error.
    assert_eq!(lift(li_id, admin.clone()).await.status, StatusCode::OK);
    // An admin locked out of their own account gets back in with a token they hold (tokens
    // are not locked): the way back for the only admin, as the README says.
    for _ in 0..6 {
        login(ADMIN.0, "guess-guess").await;
    }
    assert_eq!(
        login(ADMIN.0, ADMIN.1).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let admin_id = s.get("/api/auth/me", Some(&admin)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(lift(admin_id, admin.clone()).await.status, StatusCode::OK);
    assert_eq!(login(ADMIN.0, ADMIN.1).await.status, StatusCode::OK);
    eprintln!(
        "5 wrong passwords lock an account; 40 parallel guesses: 5 checked, 35 refused; \
         the admin sees the lock and lifts it"
    );
    s.shutdown().await;
}
