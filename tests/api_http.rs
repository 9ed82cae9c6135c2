//! The REST API over real HTTP: the specification's endpoints and shapes, auth and roles,
//! idempotency, and every error path answering JSON 4xx that names what to fix.
#![cfg(feature = "ssr")]

mod support;

use classpoints::error::AppError;
use leptos::server_fn::ServerFn;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::http::*;

#[tokio::test]
async fn sign_in_with_password_then_token_or_cookie_and_sign_out_revokes() {
    let s = start().await;
    let reply = s
        .post(
            "/api/auth/login",
            None,
            json!({"username": ADMIN.0, "password": ADMIN.1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["user"]["role"], "admin");
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let cookie = reply.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("classpoints_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // Plain HTTP (a school LAN): a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Behind an HTTPS proxy the cookie never travels in clear.
    let behind_https = s
        .send(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": ADMIN.0, "password": ADMIN.1})),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(behind_https.status, StatusCode::OK);
    let secure_cookie = behind_https.headers["set-cookie"].to_str().unwrap();
    assert!(secure_cookie.contains("; Secure"), "{secure_cookie}");

    for (username, password) in [(ADMIN.0, "wrong-password"), ("nobody", "whatever-pass")] {
        let reply = s
            .post(
                "/api/auth/login",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error()["code"], "unauthorized");
    }

    let me = s.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.body["username"], ADMIN.0);
    // The session cookie works the same as the bearer token.
    let session = cookie.split(';').next().unwrap().to_owned();
    let by_cookie = s
        .send(
            Method::GET,
            "/api/auth/me",
            None,
            None,
            &[("cookie", &session)],
        )
        .await;
    assert_eq!(by_cookie.status, StatusCode::OK);

    let out = s.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        s.get("/api/auth/me", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // API tokens for scripts: issued once, revocable.
    let admin = s.admin().await;
    let issued = s
        .post("/api/auth/tokens", Some(&admin), json!({"name": "cron"}))
        .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    let api_token = issued.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        s.get("/api/auth/me", Some(&api_token)).await.status,
        StatusCode::OK
    );
    let revoked = s
        .post(
            "/api/auth/tokens/revoke",
            Some(&admin),
            json!({"token": api_token}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        s.get("/api/auth/me", Some(&api_token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_specification_example_creates_a_transaction_atomically() {
    let s = start().await;
    let admin = s.admin().await;
    let (teacher_id, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "Class 1", 2).await;
    let student = &students[0];

    // The body exactly as the old system's clients send it.
    let reply = s
        .post(
            "/api/points",
            Some(&teacher),
            json!({
                "student_id": student,
                "teacher_id": teacher_id,
                "points_change": 100,
                "transaction_type": "add_points",
                "reason": "课堂表现优秀"
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["points"], 100);
    assert_eq!(reply.body["transaction"]["points_change"], 100);
    assert_eq!(reply.body["transaction"]["teacher_id"], teacher_id.as_str());
    assert_eq!(reply.body["transaction"]["reason"], "课堂表现优秀");

    // teacher_id may be omitted; the type follows the sign when omitted.
    let reply = s
        .post(
            "/api/points",
            Some(&teacher),
            json!({"student_id": student, "points_change": -30, "reason": "迟到"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body["transaction"]["transaction_type"],
        "deduct_points"
    );
    assert_eq!(reply.body["points"], 70);

    let read = s
        .get(
            &format!("/api/points?student_id={student}&transactions=true"),
            Some(&teacher),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["points"], 70);
    let rows = read.body["transactions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["points_change"], -30, "newest first");
    // Paging back: `before` continues after the last row seen.
    let history = |query: String| {
        let s = &s;
        let teacher = &teacher;
        async move {
            s.get(
                &format!("/api/points?student_id={student}&transactions=true&{query}"),
                Some(teacher),
            )
            .await
        }
    };
    let mut seen = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let page = history(query.clone()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let Some(row) = page.body["transactions"].as_array().unwrap().first() else {
            break;
        };
        seen.push(row["points_change"].clone());
        query = format!("limit=1&before={}", row["id"].as_str().unwrap());
    }
    assert_eq!(
        seen,
        [
            rows[0]["points_change"].clone(),
            rows[1]["points_change"].clone()
        ]
    );
    let bad = history("before=nope".into()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "before");
    let unknown = history("before=000000000000000".into()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let without = s
        .get(&format!("/api/points?student_id={student}"), Some(&teacher))
        .await;
    assert!(without.body.get("transactions").is_none());

    let all = s.get("/api/points", Some(&teacher)).await;
    assert_eq!(all.body["balances"].as_array().unwrap().len(), 2);
    // Every endpoint answers under /api/v1 too.
    let v1 = s
        .get(
            &format!("/api/v1/points?student_id={student}"),
            Some(&teacher),
        )
        .await;
    assert_eq!(v1.body["points"], 70);
}

#[tokio::test]
async fn a_class_is_created_with_the_teacher_it_names_or_not_at_all() {
    let s = start().await;
    let admin = s.admin().await;
    let (wang_id, wang) = s.teacher(&admin, "wang").await;

    let reply = s
        .post(
            "/api/classes",
            Some(&admin),
            json!({"name": "3A", "teacher_id": wang_id}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let classes = s.get("/api/classes", Some(&wang)).await;
    assert_eq!(classes.body["classes"][0]["id"], reply.body["id"]);

    // An account that does not exist, or no id at all: refused, and no class left behind.
    let nobody = "0".repeat(15);
    let reply = s
        .post(
            "/api/classes",
            Some(&admin),
            json!({"name": "3B", "teacher_id": nobody}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(
        (&reply.body["error"]["record"], &reply.body["error"]["id"]),
        (&json!("user"), &json!(nobody)),
        "{}",
        reply.body
    );
    let reply = s
        .post(
            "/api/classes",
            Some(&admin),
            json!({"name": "3B", "teacher_id": "wang"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["error"]["field"], "teacher_id", "{}", reply.body);
    assert_eq!(s.count("SELECT count(*) FROM classes").await, 1);

    // The admin page's server function: one write, too.
    let (path, _) = leptos::server_fn::axum::server_fn_paths()
        .find(|(path, _)| path.starts_with("/rpc/create_school_class"))
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .header("cookie", format!("classpoints_session={admin}"))
        .form(&[("name", "3C"), ("teacher_id", nobody.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.count("SELECT count(*) FROM classes").await, 1);
}

#[tokio::test]
async fn roles_and_class_membership_decide_and_refusals_write_nothing() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, wang) = s.teacher(&admin, "wang").await;
    let (li_id, li) = s.teacher(&admin, "li").await;
    let (wang_class, wang_students) = s.class_with_students(&wang, "Wang's", 2).await;
    let (_, li_students) = s.class_with_students(&li, "Li's", 1).await;
    let award = |student: &str| json!({"student_id": student, "points_change": 1, "reason": "x"});

    // Anonymous: 401 everywhere that needs a user.
    for path in [
        "/api/points",
        "/api/classes",
        "/api/students",
        "/api/points/monitor",
        "/api/teachers",
    ] {
        let reply = s.get(path, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(reply.headers.contains_key("www-authenticate"));
    }
    assert_eq!(
        s.post("/api/points", None, award(&wang_students[0]))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get("/api/points", Some("cp_not_a_token")).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A teacher of another class: 403, nothing written.
    let reply = s
        .post("/api/points", Some(&li), award(&wang_students[0]))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let reply = s
        .get(
            &format!("/api/points?student_id={}", wang_students[0]),
            Some(&li),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = s
        .post(
            "/api/students",
            Some(&li),
            json!({"class_id": wang_class, "name": "Intruder"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // A teacher may not act as another teacher.
    let reply = s
        .post(
            "/api/points",
            Some(&wang),
            json!({"student_id": wang_students[0], "teacher_id": li_id, "points_change": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Teachers see only their classes and students.
    let classes = s.get("/api/classes", Some(&li)).await;
    assert_eq!(classes.body["classes"].as_array().unwrap().len(), 1);
    let students = s.get("/api/students", Some(&li)).await;
    assert_eq!(students.body["students"].as_array().unwrap().len(), 1);
    // Admin-only endpoints.
    assert_eq!(
        s.get("/api/points/monitor", Some(&wang)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.post(
            "/api/teachers",
            Some(&wang),
            json!({"username": "x", "password": "xxxxxxxx", "name": "x"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.count("SELECT count(*) FROM point_transactions").await, 0);
    assert_eq!(s.count("SELECT count(*) FROM students").await, 3);

    // Admins act anywhere, also on behalf of a teacher.
    let reply = s
        .post(
            "/api/points",
            Some(&admin),
            json!({"student_id": li_students[0], "teacher_id": li_id, "points_change": 2}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["transaction"]["teacher_id"], li_id.as_str());
}

#[tokio::test]
async fn idempotency_key_replays_the_original_and_refuses_a_different_body() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "C", 1).await;
    let body = json!({"student_id": students[0], "points_change": 5, "reason": "retry me"});
    let key = [("idempotency-key", "7f6c1e2a-press-1")];
    let first = s
        .send(
            Method::POST,
            "/api/points",
            Some(&teacher),
            Some(body.clone()),
            &key,
        )
        .await;
    let second = s
        .send(
            Method::POST,
            "/api/points",
            Some(&teacher),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.body, second.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(second.headers["idempotent-replayed"], "true");
    let mut other = body.clone();
    other["points_change"] = json!(6);
    let conflict = s
        .send(
            Method::POST,
            "/api/points",
            Some(&teacher),
            Some(other),
            &key,
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.error()["code"], "conflict");
    assert_eq!(s.count("SELECT count(*) FROM point_transactions").await, 1);
    assert_eq!(s.count("SELECT points FROM student_points").await, 5);
}

/// A key the ledger could not keep is refused up front, naming the header, whatever the
/// endpoint, and nothing is written.
#[tokio::test]
async fn a_malformed_idempotency_key_is_a_400_naming_the_header() {
    let s = start().await;
    let admin = s.admin().await;
    let (class_id, students) = s.class_with_students(&admin, "C", 1).await;
    let too_long = "k".repeat(201);
    for key in ["", too_long.as_str(), "café", "tab\tin"] {
        for (path, body) in [
            (
                "/api/points",
                json!({"student_id": students[0], "points_change": 1}),
            ),
            (
                "/api/students",
                json!({"class_id": class_id, "name": "New"}),
            ),
        ] {
            let reply = s
                .send(
                    Method::POST,
                    path,
                    Some(&admin),
                    Some(body),
                    &[("idempotency-key", key)],
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{key:?} {path}: {}",
                reply.text
            );
            assert_eq!(
                reply.field(),
                "Idempotency-Key",
                "{key:?} {path}: {}",
                reply.text
            );
        }
    }
    let longest = "k".repeat(200);
    let kept = s
        .send(
            Method::POST,
            "/api/points",
            Some(&admin),
            Some(json!({"student_id": students[0], "points_change": 1})),
            &[("idempotency-key", longest.as_str())],
        )
        .await;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.text);
    assert_eq!(s.count("SELECT count(*) FROM point_transactions").await, 1);
    assert_eq!(s.count("SELECT count(*) FROM students").await, 1);
}

#[tokio::test]
async fn bad_input_is_a_json_4xx_naming_the_field_and_changes_nothing() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "C", 1).await;
    let student = students[0].as_str();
    let t = Some(teacher.as_str());

    let cases: Vec<(serde_json::Value, StatusCode, &str)> = vec![
        (
            json!({"student_id": student, "points_change": "ten"}),
            StatusCode::BAD_REQUEST,
            "points_change",
        ),
        (
            json!({"student_id": student, "points_change": 1.5}),
            StatusCode::BAD_REQUEST,
            "points_change",
        ),
        (
            json!({"student_id": student, "points_change": 0}),
            StatusCode::BAD_REQUEST,
            "points_change",
        ),
        (
            json!({"student_id": student, "points_change": 99999999999999999u64}),
            StatusCode::BAD_REQUEST,
            "points_change",
        ),
        (
            json!({"student_id": student, "points_change": 2_000_000}),
            StatusCode::BAD_REQUEST,
            "points_change",
        ),
        (
            json!({"student_id": student, "points_change": 5, "transaction_type": "deduct_points"}),
            StatusCode::BAD_REQUEST,
            "points_change",
        ),
        (
            json!({"student_id": student, "points_change": 1, "transaction_type": "steal"}),
            StatusCode::BAD_REQUEST,
            "transaction_type",
        ),
        (
            json!({"student_id": student, "points_change": -1, "transaction_type": "reversal"}),
            StatusCode::BAD_REQUEST,
            "transaction_type",
        ),
        (
            json!({"points_change": 1}),
            StatusCode::BAD_REQUEST,
            "student_id",
        ),
        (
            json!({"student_id": "short", "points_change": 1}),
            StatusCode::BAD_REQUEST,
            "student_id",
        ),
        (
            json!({"student_id": student, "points_change": 1, "reason": "x".repeat(201)}),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            json!({"student_id": "zzzzzzzzzzzzzzz", "points_change": 1}),
            StatusCode::NOT_FOUND,
            "",
        ),
        (json!([1, 2, 3]), StatusCode::BAD_REQUEST, "body"),
    ];
    for (body, status, field) in cases {
        let reply = s.post("/api/points", t, body.clone()).await;
        assert_eq!(reply.status, status, "{body} -> {}", reply.body);
        assert!(
            reply.error()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(reply.field(), field, "{body} -> {}", reply.body);
    }
    let malformed = s
        .post_raw("/api/points", t, "application/json", "{\"student_id\": ")
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.field(), "body");
    let not_json = s
        .post_raw("/api/points", t, "text/plain", "student_id=x")
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.field(), "content-type");
    let bad_query = s
        .get("/api/points?student_id=abc&transactions=maybe", t)
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_query.field(), "transactions");

    // A rule violation is a 422 naming the rule, and the figures of a bounded rule.
    let overdraft = s
        .post(
            "/api/points",
            t,
            json!({"student_id": student, "points_change": -1, "reason": "late"}),
        )
        .await;
    assert_eq!(overdraft.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(overdraft.error()["rule"], "min_balance");
    assert_eq!(overdraft.error()["limit"], 0);
    assert_eq!(overdraft.error()["actual"], -1);
    let no_reason = s
        .post(
            "/api/points",
            t,
            json!({"student_id": student, "points_change": -1}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_reason.error()["rule"], "reason_required");
    assert!(no_reason.error().get("limit").is_none());

    // Unknown endpoints and methods are JSON too.
    let unknown = s.get("/api/nothing/here", t).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error()["code"], "not_found");
    let method = s.send(Method::DELETE, "/api/points", t, None, &[]).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(method.body["error"].is_object());

    assert_eq!(s.count("SELECT count(*) FROM point_transactions").await, 0);
}

#[tokio::test]
async fn batches_and_undo_over_http() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (class_id, students) = s.class_with_students(&teacher, "C", 3).await;
    let t = Some(teacher.as_str());
    let batch = s
        .post(
            "/api/points/batch",
            t,
            json!({"target": {"kind": "class", "class_id": class_id}, "points_change": 2, "reason": "全班表扬"}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::CREATED, "{}", batch.body);
    assert_eq!(batch.body["transactions"].as_array().unwrap().len(), 3);
    let batch_id = batch.body["batch_id"].as_str().unwrap().to_owned();

    let one = batch.body["transactions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let undo = s
        .send(
            Method::POST,
            &format!("/api/points/{one}/reverse"),
            t,
            None,
            &[],
        )
        .await;
    assert_eq!(undo.status, StatusCode::CREATED, "{}", undo.body);
    assert_eq!(undo.body["transactions"][0]["reverses_id"], one.as_str());
    let again = s
        .send(
            Method::POST,
            &format!("/api/points/{one}/reverse"),
            t,
            None,
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.body["error"]["reason"], "already_undone",
        "{}",
        again.body
    );

    let rest = s
        .post(
            &format!("/api/points/batches/{batch_id}/reverse"),
            t,
            json!({"reason": "mistake"}),
        )
        .await;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.body);
    assert_eq!(
        rest.body["transactions"].as_array().unwrap().len(),
        2,
        "the rest of the batch"
    );
    for student in &students {
        let read = s.get(&format!("/api/points?student_id={student}"), t).await;
        assert_eq!(read.body["points"], 0);
    }
    let selected = s
        .post(
            "/api/points/batch",
            t,
            json!({"target": {"kind": "students", "student_ids": [students[0], students[0]]}, "points_change": 1}),
        )
        .await;
    assert_eq!(selected.status, StatusCode::BAD_REQUEST);
    assert_eq!(selected.field(), "student_ids");
}

#[tokio::test]
async fn monitor_finds_drift_and_auto_fix_repairs_it_once() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "C", 4).await;
    for student in &students {
        let reply = s
            .post(
                "/api/points",
                Some(&teacher),
                json!({"student_id": student, "points_change": 3}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let healthy = s.get("/api/points/monitor", Some(&admin)).await;
    assert_eq!(healthy.status, StatusCode::OK);
    assert_eq!(healthy.body["health"]["status"], "healthy");
    assert_eq!(healthy.body["summary"]["totalStudents"], 4);
    assert_eq!(healthy.body["summary"]["consistencyRate"], 100.0);
    assert_eq!(healthy.body["summary"]["totalTransactions"], 4);
    assert!(healthy.body["performance"]["checkDurationMs"].is_number());

    s.raw_sql(&format!(
        "UPDATE student_points SET points = 99 WHERE student_id = '{}'",
        students[2]
    ))
    .await;
    let drifted = s.get("/api/v1/points/monitor", Some(&admin)).await;
    assert_eq!(
        drifted.body["health"]["status"], "unhealthy",
        "1 of 4 drifted: 75 %"
    );
    assert_eq!(drifted.body["summary"]["inconsistentStudents"], 1);
    assert_eq!(drifted.body["summary"]["consistencyRate"], 75.0);
    let item = &drifted.body["inconsistencies"][0];
    assert_eq!(item["student_id"], students[2].as_str());
    assert_eq!(
        (
            item["expected"].as_i64(),
            item["actual"].as_i64(),
            item["difference"].as_i64()
        ),
        (Some(3), Some(99), Some(96))
    );

    let fix = s
        .post("/api/points/monitor?auto_fix=true", Some(&admin), json!({}))
        .await;
    assert_eq!(fix.status, StatusCode::OK, "{}", fix.body);
    assert_eq!(fix.body["fixed"], 1);
    assert!(fix.body["message"].as_str().unwrap().contains('1'));
    assert_eq!(fix.body["health"]["status"], "healthy");
    let again = s
        .post("/api/points/monitor?auto_fix=true", Some(&admin), json!({}))
        .await;
    assert_eq!(again.body["fixed"], 0);
    assert_eq!(s.count("SELECT count(*) FROM repairs").await, 1);
}

#[tokio::test]
async fn students_and_classes_can_be_renamed_and_archived_keeping_their_ledger() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, wang) = s.teacher(&admin, "wang").await;
    let (_, li) = s.teacher(&admin, "li").await;
    let (class_id, students) = s.class_with_students(&wang, "C", 2).await;
    let t = Some(wang.as_str());
    s.post(
        "/api/points",
        t,
        json!({"student_id": students[0], "points_change": 3}),
    )
    .await;

    let path = format!("/api/students/{}", students[0]);
    let renamed = s
        .send(
            Method::PATCH,
            &path,
            t,
            Some(json!({"name": "  Ana Li ", "student_no": "07"})),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Ana Li");
    assert_eq!(renamed.body["student_no"], "07");
    assert_eq!(renamed.body["points"], 3);
    let taken = s
        .send(
            Method::PATCH,
            &format!("/api/students/{}", students[1]),
            t,
            Some(json!({"student_no": "07"})),
            &[],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let empty = s
        .send(Method::PATCH, &path, t, Some(json!({"name": " "})), &[])
        .await;
    assert_eq!(
        (empty.status, empty.field()),
        (StatusCode::BAD_REQUEST, "name")
    );
    let unknown = s
        .send(Method::PATCH, &path, t, Some(json!({"points": 100})), &[])
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {}",
        unknown.body
    );
    let other = s
        .send(
            Method::PATCH,
            &path,
            Some(&li),
            Some(json!({"name": "X"})),
            &[],
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);

    let archived = s
        .send(
            Method::PATCH,
            &path,
            t,
            Some(json!({"archived": true})),
            &[],
        )
        .await;
    assert_eq!(archived.body["archived"], true);
    let award = s
        .post(
            "/api/points",
            t,
            json!({"student_id": students[0], "points_change": 1}),
        )
        .await;
    assert_eq!(
        award.status,
        StatusCode::BAD_REQUEST,
        "archived students get no points"
    );
    let class_award = s
        .post(
            "/api/points/batch",
            t,
            json!({"target": {"kind": "class", "class_id": class_id}, "points_change": 1}),
        )
        .await;
    assert_eq!(
        class_award.body["transactions"].as_array().unwrap().len(),
        1,
        "only active students"
    );
    let history = s
        .get(
            &format!("/api/points?student_id={}&transactions=true", students[0]),
            t,
        )
        .await;
    assert_eq!(history.body["points"], 3, "the ledger is kept");
    let restored = s
        .send(
            Method::PATCH,
            &path,
            t,
            Some(json!({"archived": false})),
            &[],
        )
        .await;
    assert_eq!(restored.body["archived"], false);

    let class_path = format!("/api/classes/{class_id}");
    let class = s
        .send(
            Method::PATCH,
            &class_path,
            t,
            Some(json!({"name": "三年级一班", "archived": true})),
            &[],
        )
        .await;
    assert_eq!(class.status, StatusCode::OK, "{}", class.body);
    assert_eq!(
        (
            class.body["name"].as_str(),
            class.body["archived"].as_bool()
        ),
        (Some("三年级一班"), Some(true))
    );
    assert_eq!(s.count("SELECT count(*) FROM point_transactions").await, 2);
}

#[tokio::test]
async fn a_class_downloads_as_csv_that_reads_back_as_a_roster() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, stranger) = s.teacher(&admin, "li").await;
    let (class_id, students) = s.class_with_students(&teacher, "三年级一班", 2).await;
    let awarded = s
        .post(
            "/api/points",
            Some(&teacher),
            json!({"student_id": students[0], "points_change": 5}),
        )
        .await;
    assert_eq!(awarded.status, StatusCode::CREATED, "{}", awarded.body);

    let url = format!("/api/students?class_id={class_id}&format=csv");
    let csv = s.get(&url, Some(&teacher)).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = csv.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    // The class's name, percent-encoded: 三 is E4 B8 89 in UTF-8.
    assert!(
        disposition.contains("filename*=UTF-8''%E4%B8%89"),
        "{disposition}"
    );
    let lines: Vec<&str> = csv.text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "class,student_no,name,points,archived,id");
    assert_eq!(lines.len(), 3, "{}", csv.text);
    assert!(
        lines.contains(
            &format!("三年级一班,,三年级一班 student 0,5,false,{}", students[0]).as_str()
        ),
        "{}",
        csv.text
    );
    let (rows, errors) = classpoints::ledger::import::parse_roster(&csv.text).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rows.len(), 2);

    // Without the format, the same list as JSON; an unknown format is named.
    let json = s
        .get(
            &format!("/api/students?class_id={class_id}"),
            Some(&teacher),
        )
        .await;
    assert_eq!(json.body["students"].as_array().unwrap().len(), 2);
    let bad = s
        .get(
            &format!("/api/students?class_id={class_id}&format=xls"),
            Some(&teacher),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert_eq!(bad.field(), "format");
    // Another class's teacher gets what the JSON list would give them, and none of its students.
    let theirs = s.get(&url, Some(&stranger)).await;
    let theirs_json = s
        .get(
            &format!("/api/students?class_id={class_id}"),
            Some(&stranger),
        )
        .await;
    assert_eq!(theirs.status, theirs_json.status);
    assert!(!theirs.text.contains(&students[0]), "{}", theirs.text);
    assert_eq!(s.get(&url, None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_every_documented_route_exists() {
    let s = start().await;
    let doc = s.get("/api/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    for schema in [
        "CreateTransaction",
        "CreatedTransaction",
        "MonitorReport",
        "ErrorReply",
        "PointTransaction",
    ] {
        assert!(
            doc.body["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    let paths = doc.body["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|m| m.as_object().unwrap().len()).sum();
    assert_eq!(operations, 34, "every endpoint of the router is documented");
    // Parameters say where they go: a path's `{name}`s in the path, the rest (headers aside,
    // such as Idempotency-Key) in the query.
    let mut query_parameters = 0;
    for (path, methods) in paths {
        for (method, operation) in methods.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "header" {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                let place = if path.contains(&format!("{{{name}}}")) {
                    "path"
                } else {
                    query_parameters += 1;
                    "query"
                };
                assert_eq!(parameter["in"], place, "{method} {path}: {name}");
            }
        }
    }
    assert!(query_parameters >= 4, "{query_parameters} query parameters");
    let points = &paths["/api/points"]["get"]["parameters"];
    let before = points
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "before")
        .expect("GET /api/points documents before");
    assert_eq!(before["required"], false, "{before}");
    for (path, methods) in paths {
        let concrete = path
            .replace("{transaction_id}", "aaaaaaaaaaaaaaa")
            .replace("{batch_id}", "aaaaaaaaaaaaaaa")
            .replace("{student_id}", "aaaaaaaaaaaaaaa")
            .replace("{class_id}", "aaaaaaaaaaaaaaa")
            .replace("{user_id}", "aaaaaaaaaaaaaaa")
            .replace("{group_id}", "aaaaaaaaaaaaaaa");
        for method in methods.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for prefix in ["", "/v1"] {
                let url = concrete.replacen("/api", &format!("/api{prefix}"), 1);
                let reply = s
                    .send(method.clone(), &url, None, Some(json!({})), &[])
                    .await;
                assert!(
                    matches!(
                        reply.status,
                        StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST
                    ),
                    "{method} {url} -> {} {}",
                    reply.status,
                    reply.body
                );
            }
        }
    }
}

#[tokio::test]
async fn a_deactivated_account_is_refused_at_once_even_after_recent_requests() {
    let s = start().await;
    let admin = s.admin().await;
    let (teacher_id, teacher) = s.teacher(&admin, "wang").await;
    // Used a moment ago, so any cache of sign-ins holds it.
    for _ in 0..3 {
        assert_eq!(
            s.get("/api/auth/me", Some(&teacher)).await.status,
            StatusCode::OK
        );
    }
    let path = format!("/api/teachers/{teacher_id}");
    let refused = s
        .send(
            Method::PATCH,
            &path,
            Some(&teacher),
            Some(json!({"active": false})),
            &[],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "teachers cannot deactivate anyone"
    );
    let bad = s
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"password": "short"})),
            &[],
        )
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::BAD_REQUEST, "password")
    );
    let done = s
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"active": false})),
            &[],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["active"], false);
    assert_eq!(
        s.get("/api/auth/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED,
        "the token stops working with the acknowledgement"
    );
    let back = s
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"active": true, "password": "new-password"})),
            &[],
        )
        .await;
    assert_eq!(back.status, StatusCode::OK);
    // A new password ended the old sessions; the new one signs in.
    assert_eq!(
        s.get("/api/auth/me", Some(&teacher)).await.status,
        StatusCode::UNAUTHORIZED
    );
    s.login("wang", "new-password").await;
}

#[tokio::test]
async fn request_ids_past_their_retention_are_forgotten_when_the_server_starts() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    drop(classpoints::db::Db::open(&url).await.unwrap());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let now = classpoints::ledger::clock::now();
    for (key, at) in [
        ("long-ago", "2000-01-01T00:00:00.000Z"),
        ("just-now", now.as_str()),
    ] {
        sqlx::query(
            "INSERT INTO idempotency_keys (actor_id, key, fingerprint, response, created_at) \
             VALUES ('system', ?, 'f', '{}', ?)",
        )
        .bind(key)
        .bind(at)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let _server = start_in(dir, monitor_off()).await;
    let mut left = Vec::new();
    for _ in 0..100 {
        left = sqlx::query_scalar::<_, String>("SELECT key FROM idempotency_keys ORDER BY key")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        left,
        ["just-now"],
        "the 7-day default forgets only the old key"
    );
}

#[tokio::test]
async fn groups_are_created_awarded_changed_and_deleted_over_rest_and_bad_input_writes_nothing() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (class_id, students) = s.class_with_students(&teacher, "三年级一班", 3).await;
    let (_, other_class_students) = s.class_with_students(&admin, "三年级二班", 1).await;
    let groups_path = format!("/api/classes/{class_id}/groups");

    let created = s
        .post(
            &groups_path,
            Some(&teacher),
            json!({"name": " 红队 ", "student_ids": [students[0], students[1]]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], "红队");
    assert_eq!(
        created.body["student_ids"],
        json!([students[0], students[1]])
    );
    let group_id = created.body["id"].as_str().unwrap().to_owned();
    let listed = s.get(&groups_path, Some(&teacher)).await;
    assert_eq!(listed.body["groups"], json!([created.body]));

    // The whole group is awarded through the batch endpoint.
    let award = s
        .post(
            "/api/points/batch",
            Some(&teacher),
            json!({"target": {"kind": "group", "group_id": group_id}, "points_change": 2, "reason": "小组合作"}),
        )
        .await;
    assert_eq!(award.status, StatusCode::CREATED, "{}", award.body);
    assert_eq!(award.body["transactions"].as_array().unwrap().len(), 2);

    // Each refusal names the field and leaves the groups as they were.
    let groups_before = s.count("SELECT count(*) FROM student_groups").await;
    let members_before = s.count("SELECT count(*) FROM student_group_members").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "蓝队", "student_ids": [students[2], other_class_students[0]]}),
            "student_ids",
        ),
        (json!({"name": "蓝队", "colour": "blue"}), "colour"),
        (
            json!({"name": "蓝队", "student_ids": "everyone"}),
            "student_ids",
        ),
    ] {
        let refused = s.post(&groups_path, Some(&teacher), body.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.error()["field"], field, "{body}: {}", refused.body);
    }
    let duplicate = s
        .post(&groups_path, Some(&teacher), json!({"name": "红队"}))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(
        s.count("SELECT count(*) FROM student_groups").await,
        groups_before
    );
    assert_eq!(
        s.count("SELECT count(*) FROM student_group_members").await,
        members_before
    );

    let group_path = format!("/api/groups/{group_id}");
    let moved = s
        .send(
            Method::PATCH,
            &group_path,
            Some(&teacher),
            Some(json!({"student_ids": [students[2]]})),
            &[],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["name"], "红队", "an absent name stays");
    assert_eq!(moved.body["student_ids"], json!([students[2]]));
    let renamed = s
        .send(
            Method::PATCH,
            &group_path,
            Some(&teacher),
            Some(json!({"name": "蓝队"})),
            &[],
        )
        .await;
    assert_eq!(renamed.body["name"], "蓝队");
    assert_eq!(
        renamed.body["student_ids"],
        json!([students[2]]),
        "absent members stay"
    );

    let deleted = s
        .send(Method::DELETE, &group_path, Some(&teacher), None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        s.get(&groups_path, Some(&teacher)).await.body["groups"],
        json!([])
    );
    let again = s
        .send(Method::DELETE, &group_path, Some(&teacher), None, &[])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // The ledger keeps what the group received.
    let history = s
        .get(
            &format!("/api/points?student_id={}&transactions=true", students[0]),
            Some(&teacher),
        )
        .await;
    assert_eq!(history.body["points"], 2);
}

#[tokio::test]
async fn presets_of_a_class_and_of_the_school_are_read_and_replaced_over_rest() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (class_id, _) = s.class_with_students(&teacher, "三年级一班", 1).await;
    let class_path = format!("/api/classes/{class_id}/presets");

    let school = s.get("/api/presets", Some(&teacher)).await;
    assert_eq!(school.status, StatusCode::OK);
    let initial = s.get(&class_path, Some(&teacher)).await;
    assert_eq!(initial.body["own"], false);
    assert_eq!(initial.body["presets"], school.body["presets"]);

    let own = s
        .send(
            Method::PUT,
            &class_path,
            Some(&teacher),
            Some(json!({"presets": [{"reason": " 帮助同学 ", "points": 2}, {"reason": "迟到", "points": -1}]})),
            &[],
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["own"], true);
    assert_eq!(
        own.body["presets"],
        json!([{"reason": "帮助同学", "points": 2}, {"reason": "迟到", "points": -1}])
    );

    for (body, field) in [
        (json!({"presets": []}), "presets"),
        (json!({}), "presets"),
        (
            json!({"presets": [{"reason": "零分", "points": 0}]}),
            "presets[0].points",
        ),
        (
            json!({"presets": [{"reason": "", "points": 1}]}),
            "presets[0].reason",
        ),
        (
            json!({"presets": [{"reason": "x", "points": "1"}]}),
            "presets[0].points",
        ),
    ] {
        let refused = s
            .send(
                Method::PUT,
                &class_path,
                Some(&teacher),
                Some(body.clone()),
                &[],
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.error()["field"], field, "{body}: {}", refused.body);
    }
    assert_eq!(
        s.get(&class_path, Some(&teacher)).await.body,
        own.body,
        "refusals changed nothing"
    );

    let school_presets = json!([{"reason": "全校表扬", "points": 5}]);
    let by_teacher = s
        .send(
            Method::PUT,
            "/api/presets",
            Some(&teacher),
            Some(json!({"presets": school_presets})),
            &[],
        )
        .await;
    assert_eq!(by_teacher.status, StatusCode::FORBIDDEN);
    let by_admin = s
        .send(
            Method::PUT,
            "/api/presets",
            Some(&admin),
            Some(json!({"presets": school_presets})),
            &[],
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_eq!(by_admin.body["presets"], school_presets);

    // The class returns to the school's presets.
    let reset = s
        .send(
            Method::PUT,
            &class_path,
            Some(&teacher),
            Some(json!({"presets": null})),
            &[],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(reset.body, json!({"presets": school_presets, "own": false}));
}

#[tokio::test]
async fn keyed_creates_of_classes_students_and_groups_happen_once_however_often_retried() {
    let s = start().await;
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let send = |path: String, body: serde_json::Value, key: &'static str| {
        let s = &s;
        let teacher = teacher.clone();
        async move {
            s.send(
                Method::POST,
                &path,
                Some(&teacher),
                Some(body),
                &[("idempotency-key", key)],
            )
            .await
        }
    };

    let class_body = json!({"name": "三年级三班"});
    let first = send("/api/classes".into(), class_body.clone(), "class-1").await;
    let again = send("/api/classes".into(), class_body, "class-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["id"], first.body["id"]);
    let class_id = first.body["id"].as_str().unwrap().to_owned();

    let student_body = json!({"class_id": class_id, "name": "李雷"});
    let student = send("/api/students".into(), student_body.clone(), "student-1").await;
    let student_again = send("/api/students".into(), student_body, "student-1").await;
    assert_eq!(student_again.body, student.body);
    assert_eq!(student_again.headers["idempotent-replayed"], "true");
    let other_body = send(
        "/api/students".into(),
        json!({"class_id": class_id, "name": "韩梅梅"}),
        "student-1",
    )
    .await;
    assert_eq!(
        other_body.status,
        StatusCode::CONFLICT,
        "{}",
        other_body.body
    );

    let groups = format!("/api/classes/{class_id}/groups");
    let group_body = json!({"name": "红队", "student_ids": [student.body["id"]]});
    let group = send(groups.clone(), group_body.clone(), "group-1").await;
    let group_again = send(groups, group_body, "group-1").await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    assert_eq!(group_again.body, group.body);
    assert_eq!(group_again.headers["idempotent-replayed"], "true");

    assert_eq!(s.count("SELECT count(*) FROM classes").await, 1);
    assert_eq!(s.count("SELECT count(*) FROM students").await, 1);
    assert_eq!(s.count("SELECT count(*) FROM student_groups").await, 1);
}

#[tokio::test]
async fn a_keyed_teacher_account_is_created_once_and_a_retry_must_carry_the_same_password() {
    let s = start().await;
    let admin = s.admin().await;
    let create = |body: serde_json::Value| {
        let (s, admin) = (&s, admin.clone());
        async move {
            s.send(
                Method::POST,
                "/api/teachers",
                Some(&admin),
                Some(body),
                &[("idempotency-key", "new-teacher-1")],
            )
            .await
        }
    };
    let body = json!({"username": "zhao", "password": "zhao-password", "name": "赵老师"});

    let first = create(body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    // The retry hashes the password with a new salt; it is still the same request.
    let again = create(body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);

    // Same key, another password or another username: a different request.
    for other in [
        json!({"username": "zhao", "password": "other-password", "name": "赵老师"}),
        json!({"username": "qian", "password": "zhao-password", "name": "钱老师"}),
    ] {
        let reply = create(other).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    }

    assert_eq!(
        s.count("SELECT count(*) FROM users WHERE role = 'teacher'")
            .await,
        1
    );
    // The account works with the password it was created with.
    s.login("zhao", "zhao-password").await;
}

/// Calls one of the browser's server functions with a session cookie: the reply decoded, or
/// the error it answered with.
async fn call_server_fn<T, Out>(s: &TestServer, token: &str, args: T) -> Result<Out, AppError>
where
    T: leptos::server_fn::ServerFn + serde::Serialize,
    Out: serde::de::DeserializeOwned,
{
    use leptos::server_fn::{Decodes, codec::PostcardEncoding, error::FromServerFnError};
    let response = reqwest::Client::new()
        .post(format!("{}{}", s.base, T::PATH))
        .header("cookie", format!("classpoints_session={token}"))
        .form(&args)
        .send()
        .await
        .unwrap();
    let success = response.status().is_success();
    let body = response.bytes().await.unwrap();
    if success {
        Ok(PostcardEncoding::decode(body).unwrap())
    } else {
        Err(AppError::de(body))
    }
}

/// The board's redemption: points spent on a reward are a `redeem` row, the balance never goes
/// below the rules' minimum, and the board offers it only while the rules let the user record it.
#[tokio::test]
async fn a_redemption_from_the_board_spends_points_and_never_overdraws() {
    use classpoints::{
        api::{admin::SaveRules, board::*},
        model::{Awarded, Board, TransactionType},
        rules::Rules,
    };
    let s = start().await;
    let admin = s.admin().await;
    let (_, wang) = s.teacher(&admin, "wang").await;
    let (class_id, students) = s.class_with_students(&wang, "1A", 1).await;
    let student = &students[0];
    let redeem = |points_change: i64, reward: &str, n: u32| Award {
        student_id: student.clone(),
        points_change,
        reason: reward.into(),
        request_id: format!("redeem-test-{n}"),
        redeem: true,
    };
    let award = Award {
        redeem: false,
        ..redeem(5, "积极发言", 0)
    };
    let awarded: Awarded = call_server_fn(&s, &wang, award).await.unwrap();
    assert_eq!(awarded.balances[0].points, 5);
    let board: Board = call_server_fn(
        &s,
        &wang,
        ClassBoard {
            class_id: class_id.clone(),
        },
    )
    .await
    .unwrap();
    assert!(board.can_redeem, "the default rules let teachers redeem");

    let spent: Awarded = call_server_fn(&s, &wang, redeem(-3, "贴纸", 1))
        .await
        .unwrap();
    let row = &spent.transactions[0];
    assert_eq!(
        (row.transaction_type, row.points_change, row.reason.as_str()),
        (TransactionType::Redeem, -3, "贴纸")
    );
    assert_eq!(spent.balances[0].points, 2);

    // Refused, writing nothing: more than the balance (the default minimum is 0), a positive
    // amount, no reward named.
    let before = s.school_state().await;
    let refusals: [(Award, &str); 3] = [
        (redeem(-3, "贴纸", 2), "min_balance"),
        (redeem(3, "贴纸", 3), "points_change"),
        (redeem(-1, " ", 4), "reason_required"),
    ];
    for (call, expected) in refusals {
        match call_server_fn::<_, Awarded>(&s, &wang, call).await {
            Err(AppError::RuleViolation { rule, .. }) => assert_eq!(rule, expected),
            Err(AppError::Validation { field, .. }) => assert_eq!(field, expected),
            other => panic!("expected a refusal naming {expected}, got {other:?}"),
        }
    }
    assert_eq!(s.school_state().await, before);

    // Forbidden to teachers on the rules page: the board stops offering it and the server
    // refuses it.
    let rules = Rules {
        teacher_types: vec![TransactionType::AddPoints, TransactionType::DeductPoints],
        ..Rules::default()
    };
    let client = reqwest::Client::new();
    let saved = client
        .post(format!("{}{}", s.base, SaveRules::PATH))
        .header("cookie", format!("classpoints_session={admin}"))
        .json(&SaveRules { rules })
        .send()
        .await
        .unwrap();
    assert!(saved.status().is_success(), "{}", saved.status());
    let board: Board = call_server_fn(&s, &wang, ClassBoard { class_id })
        .await
        .unwrap();
    assert!(!board.can_redeem);
    let before = s.school_state().await;
    match call_server_fn::<_, Awarded>(&s, &wang, redeem(-1, "贴纸", 5)).await {
        Err(AppError::RuleViolation { rule, .. }) => assert_eq!(rule, "allowed_types"),
        other => panic!("expected allowed_types, got {other:?}"),
    }
    assert_eq!(s.school_state().await, before);
}
