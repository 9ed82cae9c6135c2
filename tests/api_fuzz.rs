//! Property test: random and near-valid bodies thrown at the write endpoints get a JSON 4xx,
//! never a 5xx, and write nothing.
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
