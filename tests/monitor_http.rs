//! The monitoring service over real HTTP: runs recorded, alerts raised and resolved (and sent
//! to a webhook), the background monitor repairing drift by itself, and `/metrics`.
#![cfg(feature = "ssr")]

mod support;

use classpoints::config::WatchArgs;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use support::http::*;

/// A class of `n` students, each awarded 3 points; returns (admin token, student ids).
async fn school(s: &TestServer, n: usize) -> (String, Vec<String>) {
    let admin = s.admin().await;
    let (_, teacher) = s.teacher(&admin, "wang").await;
    let (_, students) = s.class_with_students(&teacher, "C", n).await;
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
    (admin, students)
}

async fn open_alerts(s: &TestServer) -> Vec<(String, String)> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&s.url).await.unwrap();
    sqlx::query_as("SELECT kind, severity FROM alerts WHERE resolved_at IS NULL ORDER BY kind")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_check_is_recorded_and_drift_raises_an_alert_that_a_clean_check_resolves() {
    let s = start().await;
    let (admin, students) = school(&s, 4).await;
    let healthy = s.get("/api/points/monitor", Some(&admin)).await;
    assert_eq!(healthy.body["health"]["status"], "healthy");
    assert_eq!(
        s.count("SELECT count(*) FROM monitor_runs WHERE trigger = 'api' AND status = 'healthy'")
            .await,
        1
    );
    assert!(open_alerts(&s).await.is_empty());

    s.raw_sql(&format!(
        "UPDATE student_points SET points = 50 WHERE student_id = '{}'",
        students[1]
    ))
    .await;
    let drifted = s.get("/api/points/monitor", Some(&admin)).await;
    assert_eq!(drifted.body["health"]["status"], "unhealthy");
    assert_eq!(
        open_alerts(&s).await,
        [("inconsistency".to_owned(), "critical".to_owned())]
    );
    // Seen again: still one open alert, not a second.
    s.get("/api/points/monitor", Some(&admin)).await;
    assert_eq!(s.count("SELECT count(*) FROM alerts").await, 1);

    let fix = s
        .post("/api/points/monitor?auto_fix=true", Some(&admin), json!({}))
        .await;
    assert_eq!(fix.body["fixed"], 1);
    let run: (i64, String) = {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&s.url).await.unwrap();
        sqlx::query_as("SELECT fixed, status FROM monitor_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(
        run,
        (1, "unhealthy".to_owned()),
        "the run records what it found and fixed"
    );
    // The fixing run itself still saw the drift; the next clean run resolves the alert.
    s.get("/api/points/monitor", Some(&admin)).await;
    assert!(open_alerts(&s).await.is_empty());
    assert_eq!(
        s.count("SELECT count(*) FROM alerts WHERE resolved_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn the_background_monitor_repairs_drift_by_itself_and_posts_alerts_to_the_webhook() {
    let hook = WebhookReceiver::start().await;
    let s = start_with(WatchArgs {
        monitor_interval_seconds: 1,
        auto_fix: true,
        alert_webhook_url: Some(hook.url.clone()),
        ..Default::default()
    })
    .await;
    let (_, students) = school(&s, 3).await;
    s.raw_sql(&format!(
        "UPDATE student_points SET points = -4 WHERE student_id = '{}'",
        students[0]
    ))
    .await;
    let repaired = eventually(Duration::from_secs(10), async || {
        s.count(&format!(
            "SELECT count(*) FROM repairs WHERE student_id = '{}' AND actor = 'system' \
             AND old_points = -4 AND new_points = 3",
            students[0]
        ))
        .await
            == 1
    })
    .await;
    assert!(repaired, "the background monitor repaired the balance");
    assert_eq!(
        s.count(&format!(
            "SELECT points FROM student_points WHERE student_id = '{}'",
            students[0]
        ))
        .await,
        3
    );
    // Raised, then resolved by the next clean run; both posted.
    let events = hook.wait_for(2).await;
    assert!(events.len() >= 2, "webhook got {events:?}");
    assert_eq!(events[0]["event"], "alert_raised");
    assert_eq!(events[0]["alert"]["kind"], "inconsistency");
    assert!(
        events[0]["alert"]["message"]
            .as_str()
            .unwrap()
            .contains("auto-fix repaired 1"),
        "{}",
        events[0]
    );
    assert_eq!(events[1]["event"], "alert_resolved");
    assert!(
        s.count("SELECT count(*) FROM monitor_runs WHERE trigger = 'background'")
            .await
            >= 2
    );
}

#[tokio::test]
async fn a_broken_hash_chain_stays_an_alert_until_a_full_check_passes() {
    let s = start().await;
    let (admin, _) = school(&s, 2).await;
    s.get("/api/points/monitor?full=true", Some(&admin)).await;
    s.raw_sql("DROP TRIGGER point_transactions_append_only_update")
        .await;
    s.raw_sql("UPDATE point_transactions SET reason = 'edited' WHERE seq = 1")
        .await;
    let full = s.get("/api/points/monitor?full=true", Some(&admin)).await;
    assert_eq!(full.body["health"]["status"], "unhealthy");
    assert_eq!(full.body["health"]["chain"]["first_broken_seq"], 1);
    // An incremental check (only rows after the last verified one) still reports the break.
    let incremental = s.get("/api/points/monitor", Some(&admin)).await;
    assert_eq!(incremental.body["health"]["chain"]["ok"], false);
    assert_eq!(
        open_alerts(&s).await,
        [("hash_chain".to_owned(), "critical".to_owned())]
    );
}

#[tokio::test]
async fn slow_requests_raise_a_latency_alert() {
    // A threshold no request can meet, and one request is enough to judge.
    let s = start_with(WatchArgs {
        alert_p95_ms: 0.001,
        alert_min_requests: 1,
        ..monitor_off()
    })
    .await;
    let (admin, _) = school(&s, 1).await;
    s.get("/api/points/monitor", Some(&admin)).await;
    let alerts = open_alerts(&s).await;
    assert_eq!(alerts, [("latency".to_owned(), "warning".to_owned())]);
}

fn family<'a>(
    scrape: &'a prometheus_parse::Scrape,
    name: &str,
) -> Vec<&'a prometheus_parse::Sample> {
    scrape.samples.iter().filter(|s| s.metric == name).collect()
}

fn counter(sample: &prometheus_parse::Sample) -> f64 {
    match sample.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{} is not a counter: {other:?}", sample.metric),
    }
}

async fn scrape(s: &TestServer, token: Option<&str>) -> prometheus_parse::Scrape {
    let reply = reqwest::Client::new()
        .get(format!("{}/metrics", s.base))
        .bearer_auth(token.unwrap_or_default())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = reply.text().await.unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_report_the_writer_and_the_check() {
    let s = start().await;
    let (admin, students) = school(&s, 2).await;
    let healthz = |scrape: &prometheus_parse::Scrape| {
        family(scrape, "classpoints_http_requests_total")
            .into_iter()
            .filter(|sample| {
                sample.labels.get("route") == Some("/healthz")
                    && sample.labels.get("status") == Some("200")
            })
            .map(counter)
            .sum::<f64>()
    };
    let before = scrape(&s, None).await;
    for _ in 0..3 {
        assert_eq!(s.get("/healthz", None).await.status, StatusCode::OK);
    }
    // A 404 for an unknown student is counted under the route pattern, not the path.
    let missing = s
        .get("/api/points?student_id=zzzzzzzzzzzzzzz", Some(&admin))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    s.get("/api/points/monitor", Some(&admin)).await;
    let after = scrape(&s, None).await;
    assert_eq!(healthz(&after) - healthz(&before), 3.0);
    let not_found = family(&after, "classpoints_http_requests_total")
        .into_iter()
        .find(|sample| {
            sample.labels.get("route") == Some("/api/points")
                && sample.labels.get("status") == Some("404")
        })
        .expect("the 404 is counted");
    assert_eq!(counter(not_found), 1.0);
    assert!(
        family(&after, "classpoints_http_requests_total")
            .iter()
            .all(|sample| !sample.labels.get("route").unwrap_or("").contains("zzz")),
        "ids never become labels"
    );
    let rows = family(&after, "classpoints_ledger_rows_written_total");
    assert_eq!(counter(rows[0]), students.len() as f64);
    let rate = family(&after, "classpoints_consistency_rate_percent");
    assert!(matches!(rate[0].value, prometheus_parse::Value::Gauge(v) if v == 100.0));
    for histogram in [
        "classpoints_writer_group_size",
        "classpoints_http_request_duration_seconds",
    ] {
        assert!(
            after
                .samples
                .iter()
                .any(|s| s.metric.starts_with(histogram)),
            "{histogram} is exported"
        );
    }
}

/// Password guessing shows in the metrics: wrong passwords, sign-ins refused while an account
/// is locked, and how many accounts are locked now.
#[tokio::test]
async fn metrics_count_refused_sign_ins_and_locked_accounts() {
    let s = start().await;
    let admin = s.admin().await;
    let (wang_id, _) = s.teacher(&admin, "wang").await;
    let login = |password: &'static str| {
        s.post(
            "/api/auth/login",
            None,
            json!({"username": "wang", "password": password}),
        )
    };
    let value = |scrape: &prometheus_parse::Scrape, name: &str| match family(scrape, name)[..] {
        [sample] => match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        },
        ref samples => panic!("{name}: {} samples", samples.len()),
    };
    let before = scrape(&s, None).await;
    assert_eq!(value(&before, "classpoints_sign_in_locked_accounts"), 0.0);
    for _ in 0..5 {
        assert_eq!(login("guess-guess").await.status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..2 {
        assert_eq!(
            login("teacher-password").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let after = scrape(&s, None).await;
    let grew = |name: &str| value(&after, name) - value(&before, name);
    assert_eq!(grew("classpoints_sign_in_failures_total"), 5.0);
    assert_eq!(grew("classpoints_sign_in_refused_while_locked_total"), 2.0);
    assert_eq!(value(&after, "classpoints_sign_in_locked_accounts"), 1.0);
    let lifted = s
        .send(
            reqwest::Method::DELETE,
            &format!("/api/teachers/{wang_id}/sign-in-lock"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
    let unlocked = scrape(&s, None).await;
    assert_eq!(value(&unlocked, "classpoints_sign_in_locked_accounts"), 0.0);
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let s = start_with(WatchArgs {
        metrics_token: Some("scrape-secret".into()),
        ..monitor_off()
    })
    .await;
    let refused = s.get("/metrics", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let wrong = s.get("/metrics", Some("guess")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    scrape(&s, Some("scrape-secret")).await;
}
