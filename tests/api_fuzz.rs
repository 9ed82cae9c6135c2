//! Property tests: random and near-valid bodies thrown at the write endpoints get a JSON 4xx,
//! never a 5xx, and write nothing; so do requests whose HTTP framing is broken.
#![cfg(feature = "ssr")]

mod support;

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use serde_json::{Value, json};
use support::http::*;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("student_id".to_owned()),
                    Just("points_change".to_owned()),
                    Just("transaction_type".to_owned()),
                    Just("target".to_owned()),
                    Just("kind".to_owned()),
                    ".{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values `points_change` must never accept.
fn invalid_points() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        (1_000_001i64..i64::MAX).prop_map(Value::from),
        (i64::MIN..-1_000_000i64).prop_map(Value::from),
        any::<f64>()
            .prop_filter("fractional", |f| f.is_finite() && f.fract() != 0.0)
            .prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!([1])),
        Just(json!({"n": 1})),
    ]
}

/// Bodies shaped like real requests for a real student, with an invalid points_change.
fn near_valid(student: String) -> impl Strategy<Value = Value> {
    let types = prop_oneof![
        Just(json!("add_points")),
        Just(json!("deduct_points")),
        Just(json!("redeem")),
        Just(json!("reversal")),
        ".{0,12}".prop_map(Value::from),
    ];
    (invalid_points(), types, ".{0,250}", any::<bool>()).prop_map(
        move |(points, kind, reason, batch)| {
            if batch {
                json!({"target": {"kind": "students", "student_ids": [student.clone()]},
                   "points_change": points, "transaction_type": kind, "reason": reason})
            } else {
                json!({"student_id": student.clone(), "points_change": points,
                   "transaction_type": kind, "reason": reason})
            }
        },
    )
}

#[test]
fn random_bodies_at_write_endpoints_get_4xx_and_write_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, token, student) = runtime.block_on(async {
        let s = start().await;
        let admin = s.admin().await;
        let (_, teacher) = s.teacher(&admin, "wang").await;
        let (_, students) = s.class_with_students(&teacher, "C", 1).await;
        (s, teacher, students[0].clone())
    });
    let endpoint = prop_oneof![
        Just("/api/points".to_owned()),
        Just("/api/v1/points".to_owned()),
        Just("/api/points/batch".to_owned()),
        "[a-z0-9]{1,20}".prop_map(|id| format!("/api/points/{id}/reverse")),
        "[a-z0-9]{1,20}".prop_map(|id| format!("/api/points/batches/{id}/reverse")),
    ];
    let body = prop_oneof![
        3 => any_json().prop_map(|v| v.to_string()),
        3 => near_valid(student.clone()).prop_map(|v| v.to_string()),
        1 => ".{0,60}",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let tried = std::cell::Cell::new(0);
    runner
        .run(&(endpoint, body), |(endpoint, body)| {
            tried.set(tried.get() + 1);
            let reply = runtime.block_on(server.post_raw(
                &endpoint,
                Some(&token),
                "application/json",
                &body,
            ));
            prop_assert!(
                reply.status.is_client_error(),
                "{} {} -> {} {}",
                endpoint,
                body,
                reply.status,
                reply.body
            );
            prop_assert!(reply.body["error"]["message"].is_string(), "{}", reply.body);
            Ok(())
        })
        .unwrap();
    let written = runtime.block_on(server.count("SELECT count(*) FROM point_transactions"));
    assert_eq!(written, 0, "no bad input wrote a row");
    eprintln!(
        "{} bad bodies tried, all refused with a 4xx, nothing written",
        tried.get()
    );
}

/// Roster, group, preset, account and auth endpoints under random bodies, headers and methods: whatever
/// arrives, the answer is never a 5xx, and an answer that is not a success wrote nothing.
#[test]
fn random_requests_at_every_other_endpoint_never_get_a_5xx_and_refusals_write_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, admin, class_id, student) = runtime.block_on(async {
        let s = start().await;
        let admin = s.admin().await;
        let (class_id, students) = s.class_with_students(&admin, "C", 1).await;
        (s, admin, class_id, students[0].clone())
    });
    let endpoint = prop_oneof![
        Just(("POST", "/api/classes".to_owned())),
        Just(("POST", "/api/students".to_owned())),
        Just(("POST", "/api/teachers".to_owned())),
        Just(("POST", "/api/auth/login".to_owned())),
        Just(("POST", "/api/auth/tokens".to_owned())),
        Just(("POST", "/api/auth/tokens/revoke".to_owned())),
        Just(("POST", "/api/points/monitor?auto_fix=true".to_owned())),
        Just(("PATCH", format!("/api/classes/{class_id}"))),
        Just(("PATCH", format!("/api/students/{student}"))),
        Just(("POST", format!("/api/classes/{class_id}/groups"))),
        Just(("PUT", format!("/api/classes/{class_id}/presets"))),
        Just(("PUT", "/api/presets".to_owned())),
        "[a-z0-9]{1,20}".prop_map(|id| ("PATCH", format!("/api/groups/{id}"))),
        "[a-z0-9]{1,20}".prop_map(|id| ("DELETE", format!("/api/groups/{id}"))),
        "[a-z0-9]{1,20}".prop_map(|id| ("PATCH", format!("/api/students/{id}"))),
        "[a-z0-9]{1,20}".prop_map(|id| ("PATCH", format!("/api/teachers/{id}"))),
        ".{0,20}".prop_map(|q| ("GET", format!("/api/points?student_id={}", urlencoded(&q)))),
        ".{0,20}".prop_map(|q| ("GET", format!("/api/students?class_id={}", urlencoded(&q)))),
        ".{0,20}".prop_map(|q| (
            "GET",
            format!("/api/backup/downloads?limit={}", urlencoded(&q))
        )),
    ];
    let body = prop_oneof![
        3 => any_json().prop_map(|v| v.to_string()),
        1 => ".{0,60}",
    ];
    let content_type = prop_oneof![
        4 => Just("application/json"),
        1 => Just("text/plain"),
        1 => Just("application/x-www-form-urlencoded"),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    let tried = std::cell::Cell::new(0);
    let rows = |s: &TestServer| runtime.block_on(s.school_state());
    runner
        .run(
            &(endpoint, body, content_type),
            |((method, path), body, content_type)| {
                tried.set(tried.get() + 1);
                let before = rows(&server);
                let method: reqwest::Method = method.parse().unwrap();
                let reply = runtime.block_on(async {
                    let response = reqwest::Client::new()
                        .request(method.clone(), format!("{}{path}", server.base))
                        .bearer_auth(&admin)
                        .header("content-type", content_type)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    (status, response.text().await.unwrap_or_default())
                });
                prop_assert!(
                    !reply.0.is_server_error(),
                    "{method} {path} {body} -> {} {}",
                    reply.0,
                    reply.1
                );
                if !reply.0.is_success() {
                    prop_assert_eq!(
                        rows(&server),
                        before,
                        "a refused request wrote: {} {}",
                        path,
                        body
                    );
                }
                Ok(())
            },
        )
        .unwrap();
    runtime.block_on(ledger_intact(&server, &admin));
    eprintln!(
        "{} random requests at roster, group, preset, account and auth endpoints: no 5xx, refusals wrote nothing",
        tried.get()
    );
}

/// How a request's body is framed, mostly wrongly.
#[derive(Debug, Clone)]
enum Framing {
    /// Content-Length as long as the body.
    Exact,
    /// Chunked, cut into chunks of these sizes (the rest in one last chunk).
    Chunked(Vec<usize>),
    /// Content-Length short of the body by this many bytes (at least one).
    Short(usize),
    /// Content-Length past the body by this many bytes: the body never ends.
    Long(usize),
    /// Chunked, with this as the first chunk's size line.
    BadChunkSize(String),
    /// Chunked, the body in one chunk said to be `size` bytes long (never the body's length),
    /// with this extension after the size (no line break in it).
    WrongChunkSize { size: usize, extension: String },
    /// Chunked and cut off before the last chunk.
    ChunkedUnfinished,
    /// Both Content-Length and chunked.
    LengthAndChunked,
    /// Two Content-Length headers that disagree.
    TwoLengths,
    /// A Content-Length that is not a length.
    NotALength(String),
    /// Neither: as far as HTTP knows, no body (the JSON then reads as a next request).
    Unframed,
}

impl Framing {
    /// Whether the body arrives whole, as sent. With both framings the chunked one counts, as
    /// HTTP/1.1 says (RFC 9112, 6.3), and it is whole.
    fn delivers_the_body(&self) -> bool {
        matches!(
            self,
            Self::Exact | Self::Chunked(_) | Self::LengthAndChunked
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Exact => "exact length",
            Self::Chunked(_) => "chunked",
            Self::Short(_) => "length short",
            Self::Long(_) => "length long",
            Self::BadChunkSize(_) => "bad chunk size",
            Self::WrongChunkSize { .. } => "wrong chunk size",
            Self::ChunkedUnfinished => "chunked, unfinished",
            Self::LengthAndChunked => "length and chunked",
            Self::TwoLengths => "two lengths",
            Self::NotALength(_) => "length not a number",
            Self::Unframed => "unframed",
        }
    }

    /// The framing headers and the bytes on the wire for `body`.
    fn frame(&self, body: &[u8]) -> (String, Vec<u8>) {
        let chunked = |sizes: &[usize], finished: bool| {
            let mut wire = Vec::new();
            let mut rest = body;
            for &size in sizes {
                let (chunk, after) = rest.split_at(size.min(rest.len()));
                if !chunk.is_empty() {
                    wire.extend(format!("{:x}\r\n", chunk.len()).bytes());
                    wire.extend(chunk);
                    wire.extend(b"\r\n");
                }
                rest = after;
            }
            if !rest.is_empty() {
                wire.extend(format!("{:x}\r\n", rest.len()).bytes());
                wire.extend(rest);
                wire.extend(b"\r\n");
            }
            if finished {
                wire.extend(b"0\r\n\r\n");
            }
            wire
        };
        let chunked_header = "transfer-encoding: chunked\r\n".to_owned();
        match self {
            Self::Exact => (format!("content-length: {}\r\n", body.len()), body.to_vec()),
            Self::Chunked(sizes) => (chunked_header, chunked(sizes, true)),
            Self::Short(by) => (
                format!("content-length: {}\r\n", body.len().saturating_sub(*by)),
                body.to_vec(),
            ),
            Self::Long(by) => (
                format!("content-length: {}\r\n", body.len() + by),
                body.to_vec(),
            ),
            Self::BadChunkSize(line) => {
                let mut wire = format!("{line}\r\n").into_bytes();
                wire.extend(body);
                wire.extend(b"\r\n0\r\n\r\n");
                (chunked_header, wire)
            }
            Self::WrongChunkSize { size, extension } => {
                let size = if *size == body.len() { size + 1 } else { *size };
                let mut wire = format!("{size:x}{extension}\r\n").into_bytes();
                wire.extend(body);
                wire.extend(b"\r\n0\r\n\r\n");
                (chunked_header, wire)
            }
            Self::ChunkedUnfinished => (chunked_header, chunked(&[], false)),
            Self::LengthAndChunked => (
                format!("content-length: {}\r\n{chunked_header}", body.len()),
                chunked(&[], true),
            ),
            Self::TwoLengths => (
                format!(
                    "content-length: {}\r\ncontent-length: {}\r\n",
                    body.len(),
                    body.len() + 1
                ),
                body.to_vec(),
            ),
            Self::NotALength(length) => (format!("content-length: {length}\r\n"), body.to_vec()),
            Self::Unframed => (String::new(), body.to_vec()),
        }
    }
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        3 => Just(Framing::Exact),
        3 => prop::collection::vec(1usize..20, 0..6).prop_map(Framing::Chunked),
        1 => (1usize..30).prop_map(Framing::Short),
        1 => (1usize..30).prop_map(Framing::Long),
        1 => prop_oneof![
            Just("zz".to_owned()),
            Just("-1".to_owned()),
            Just("ffffffffffffffffffff".to_owned()),
            Just(String::new()),
        ].prop_map(Framing::BadChunkSize),
        1 => (0usize..0x1000, "(;[\\x00-\\x09\\x0b\\x0c\\x0e-\\x7f]{0,10})?")
            .prop_map(|(size, extension)| Framing::WrongChunkSize { size, extension }),
        1 => Just(Framing::ChunkedUnfinished),
        1 => Just(Framing::LengthAndChunked),
        1 => Just(Framing::TwoLengths),
        1 => prop_oneof![
            Just("-5".to_owned()),
            Just("1e3".to_owned()),
            Just("99999999999999999999999".to_owned()),
            Just("0x10".to_owned()),
            " ?[a-z]{1,5}",
        ].prop_map(Framing::NotALength),
        1 => Just(Framing::Unframed),
    ]
}

/// An Idempotency-Key header: none, a fresh valid one, or bytes with one the server must
/// refuse in the middle (a byte past ASCII, a control character, a space).
#[derive(Debug, Clone)]
enum Key {
    None,
    Fresh,
    Broken(Vec<u8>),
}

fn key() -> impl Strategy<Value = Key> {
    let bad_byte = prop_oneof![0x80u8..=0xff, 0x01u8..0x09, Just(b' ')];
    let graphic = prop::collection::vec(0x21u8..0x7f, 1..20);
    prop_oneof![
        2 => Just(Key::None),
        2 => Just(Key::Fresh),
        1 => (graphic.clone(), bad_byte, graphic).prop_map(|(mut before, bad, after)| {
            before.push(bad);
            before.extend(after);
            Key::Broken(before)
        }),
    ]
}

/// Sends `request` on a new connection and reads until the server closes it (every request
/// says `connection: close`; an unfinished body is cut off by the server's body deadline):
/// the status of each answer, and whether a 201 was a replay.
async fn exchange(address: &str, request: &[u8]) -> Vec<(u16, bool)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = connection.write_all(request).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        connection.read_to_end(&mut received),
    )
    .await
    .expect("the server closed the connection");
    // A reset after the answer (the server closed with bytes unread) is not a failure.
    if let Err(error) = read {
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    }
    let text = String::from_utf8_lossy(&received);
    let mut answers: Vec<(u16, bool)> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(status) = line.strip_prefix("HTTP/1.1 ") {
            answers.push((status[..3].parse().unwrap(), false));
        } else if line.eq_ignore_ascii_case("idempotent-replayed: true")
            && let Some(last) = answers.last_mut()
        {
            last.1 = true;
        }
    }
    answers
}

/// Award requests on raw connections with their HTTP framing broken every way a client or a
/// middlebox could break it (lengths that are short, long, doubled or not numbers; chunked
/// bodies with bad sizes or no end; both framings; none), some with a broken Idempotency-Key
/// or token. Every request is answered. An award whose body arrives whole, with a valid token
/// and key, is written (201); anything else gets a 4xx, never a 5xx, and writes nothing: the
/// ledger holds exactly one row per fresh 201.
#[test]
fn award_requests_with_broken_http_framing_never_get_a_5xx_or_write_unless_whole() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, token, students) = runtime.block_on(async {
        let s = start_configured(|args| args.body_read_timeout_seconds = 1).await;
        let admin = s.admin().await;
        let (_, teacher) = s.teacher(&admin, "wang").await;
        let (_, students) = s.class_with_students(&teacher, "C", 2).await;
        (s, teacher, students)
    });
    let address = server.base.trim_start_matches("http://").to_owned();
    let valid_award = (0..students.len(), 1i64..=5).prop_map(move |(student, points)| {
        json!({"student_id": students[student], "points_change": points, "reason": "fuzz"})
    });
    let body = prop_oneof![
        4 => valid_award.prop_map(|award| (award.to_string(), true)),
        1 => any_json().prop_map(|value| (value.to_string(), false)),
    ];
    let signed_in = prop_oneof![4 => Just(true), 1 => Just(false)];
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let tried = std::cell::Cell::new(0);
    let written = std::cell::Cell::new(0);
    // What each framing got: its name, then its answers' statuses.
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<
        _,
        std::collections::BTreeMap<String, usize>,
    >::new());
    runner
        .run(
            &(framing(), body, key(), signed_in),
            |(framing, (body, valid_body), key, signed_in)| {
                tried.set(tried.get() + 1);
                let (framing_headers, wire_body) = framing.frame(body.as_bytes());
                let mut request = format!(
                    "POST /api/v1/points HTTP/1.1\r\nhost: classpoints\r\nconnection: close\r\n\
                     content-type: application/json\r\nauthorization: Bearer {}\r\n\
                     {framing_headers}",
                    if signed_in {
                        token.as_str()
                    } else {
                        "not-a-token"
                    }
                )
                .into_bytes();
                match &key {
                    Key::None => {}
                    Key::Fresh => {
                        request.extend(format!("idempotency-key: fuzz-{}\r\n", tried.get()).bytes())
                    }
                    Key::Broken(bytes) => {
                        request.extend(b"idempotency-key: ");
                        request.extend(bytes);
                        request.extend(b"\r\n");
                    }
                }
                request.extend(b"\r\n");
                request.extend(wire_body);
                let answers = runtime.block_on(exchange(&address, &request));
                let should_write = framing.delivers_the_body()
                    && valid_body
                    && signed_in
                    && !matches!(key, Key::Broken(_));
                let shown = String::from_utf8_lossy(&request);
                // A connection closed without an answer would hide a handler that panicked.
                prop_assert!(!answers.is_empty(), "{shown:?}: closed unanswered");
                prop_assert!(
                    answers.iter().all(|(status, _)| *status < 500),
                    "{shown:?} -> {answers:?}"
                );
                let fresh = answers
                    .iter()
                    .filter(|&&(status, replayed)| status == 201 && !replayed)
                    .count();
                if should_write {
                    prop_assert_eq!(fresh, 1, "{:?} -> {:?}", shown, answers);
                } else {
                    prop_assert!(
                        answers
                            .iter()
                            .all(|(status, _)| !(200..300).contains(status)),
                        "{shown:?} -> {answers:?}"
                    );
                }
                written.set(written.get() + fresh);
                let outcome = answers
                    .iter()
                    .map(|(status, _)| status.to_string())
                    .collect::<Vec<_>>()
                    .join("+");
                *seen
                    .borrow_mut()
                    .entry(framing.name())
                    .or_default()
                    .entry(outcome)
                    .or_default() += 1;
                Ok(())
            },
        )
        .unwrap();
    let rows = runtime.block_on(server.count("SELECT count(*) FROM point_transactions"));
    assert_eq!(
        usize::try_from(rows).unwrap(),
        written.get(),
        "one ledger row per fresh 201"
    );
    let admin = runtime.block_on(server.admin());
    runtime.block_on(ledger_intact(&server, &admin));
    eprintln!(
        "{} award requests with broken framing, keys or tokens: {} written, the rest refused, no 5xx",
        tried.get(),
        written.get()
    );
    for (framing, outcomes) in seen.borrow().iter() {
        eprintln!("  {framing}: {outcomes:?}");
    }
}

/// Argument names the server functions take, for bodies that look like real calls.
const ARGUMENT_NAMES: &[&str] = &[
    "student_id",
    "class_id",
    "group_id",
    "user_id",
    "teacher_id",
    "transaction_id",
    "batch_id",
    "points_change",
    "reason",
    "request_id",
    "name",
    "student_ids",
    "presets",
    "username",
    "password",
    "role",
    "active",
    "archived",
    "student_no",
    "csv",
    "rules",
    "fix",
    "before",
    "rows",
    "redeem",
];

/// A value for a server-function argument: sometimes a real id (a student's, the class's, a
/// teacher's), often something odd.
fn argument_value(ids: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(ids),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just(String::new()),
        1 => prop_oneof![Just("true"), Just("false"), Just("teacher"), Just("admin")].prop_map(str::to_owned),
        3 => ".{0,40}",
    ]
}

/// The browser's endpoints under random calls, as the admin (whom no server function turns
/// away, so every call reaches argument decoding and validation): form bodies with real and
/// odd argument values, JSON, garbage, any content type. Never a 5xx; a refused call changes
/// nothing. `sign_out` is left out: it would end the session the rest of the run uses.
#[test]
fn random_calls_at_every_server_function_never_get_a_5xx_and_refusals_write_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, admin, ids) = runtime.block_on(async {
        let s = start().await;
        let admin = s.admin().await;
        let (teacher_id, _) = s.teacher(&admin, "wang").await;
        let (class_id, mut ids) = s.class_with_students(&admin, "C", 2).await;
        ids.extend([class_id, teacher_id]);
        (s, admin, ids)
    });
    let mut paths: Vec<&'static str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .filter(|path| !path.starts_with("/rpc/sign_out"))
        .collect();
    paths.sort_unstable();
    assert!(
        paths.len() > 30,
        "the server functions are registered: {paths:?}"
    );
    let functions = paths.len();
    let succeeded = std::cell::Cell::new(0);
    let form = prop::collection::vec(
        (
            prop::sample::select(ARGUMENT_NAMES),
            argument_value(ids.clone()),
        ),
        0..6,
    )
    .prop_map(|pairs| {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            body.append_pair(name, &value);
        }
        body.finish()
    });
    let body = prop_oneof![
        4 => form.prop_map(|body| ("application/x-www-form-urlencoded", body)),
        2 => any_json().prop_map(|v| ("application/json", v.to_string())),
        1 => (prop_oneof![Just("text/plain"), Just("application/x-www-form-urlencoded"), Just("application/json")], ".{0,60}"),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let tried = std::cell::Cell::new(0);
    runner
        .run(
            &(prop::sample::select(paths), body),
            |(path, (content_type, body))| {
                tried.set(tried.get() + 1);
                let before = runtime.block_on(server.school_state());
                let (status, text) = runtime.block_on(async {
                    let response = reqwest::Client::new()
                        .post(format!("{}{path}", server.base))
                        .header("cookie", format!("classpoints_session={admin}"))
                        .header("content-type", content_type)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    (
                        status,
                        String::from_utf8_lossy(&response.bytes().await.unwrap_or_default())
                            .into_owned(),
                    )
                });
                prop_assert!(
                    !status.is_server_error(),
                    "{path} {content_type} {body} -> {status} {text}"
                );
                // (A sign-in with a wrong password is a 401 whoever calls it.)
                if !path.starts_with("/rpc/sign_in") {
                    prop_assert_ne!(
                        status.as_u16(),
                        401,
                        "the admin's session held: {} {}",
                        path,
                        body
                    );
                }
                if status.is_success() {
                    succeeded.set(succeeded.get() + 1);
                } else {
                    prop_assert_eq!(
                        runtime.block_on(server.school_state()),
                        before,
                        "a refused call changed something: {} {} -> {} {}",
                        path,
                        body,
                        status,
                        text
                    );
                }
                Ok(())
            },
        )
        .unwrap();
    runtime.block_on(ledger_intact(&server, &admin));
    eprintln!(
        "{} random calls at {functions} server functions ({} accepted): no 5xx, refusals changed nothing",
        tried.get(),
        succeeded.get()
    );
}

/// What the accepted calls left is consistent: every balance equals its ledger, and no
/// repair was ever needed (the calls may have run the monitor with auto-fix, which would
/// otherwise have hidden a drift they caused).
async fn ledger_intact(server: &TestServer, admin: &str) {
    let report = server.get("/api/points/monitor", Some(admin)).await;
    assert_eq!(
        report.body["health"]["status"], "healthy",
        "{}",
        report.body
    );
    assert_eq!(server.count("SELECT count(*) FROM repairs").await, 0);
}

fn urlencoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
