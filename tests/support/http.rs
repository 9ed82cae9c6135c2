//! A real server on a free port with a fresh SQLite file, and a small JSON client.
#![allow(dead_code)]

use classpoints::{
    config::{BootstrapArgs, DatabaseArgs, ServeArgs},
    server::Server,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const ADMIN: (&str, &str) = ("root", "root-password");

/// Signs in through the REST API of the server at `base`; the session token.
pub async fn sign_in(http: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let reply = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "signing in as {username}");
    let body: Value = reply.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

pub struct TestServer {
    pub base: String,
    pub url: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    client: reqwest::Client,
}

/// Watch settings with the background monitor off, so nothing repairs behind a test's back.
pub fn monitor_off() -> classpoints::config::WatchArgs {
    classpoints::config::WatchArgs {
        monitor_interval_seconds: 0,
        ..Default::default()
    }
}

/// A server without the background monitor.
pub async fn start() -> TestServer {
    start_with(monitor_off()).await
}

pub async fn start_with(watch: classpoints::config::WatchArgs) -> TestServer {
    start_in(tempfile::tempdir().unwrap(), watch).await
}

/// A server without the background monitor that gives requests in flight
/// `shutdown_grace_seconds` once shutdown begins.
pub async fn start_with_grace(shutdown_grace_seconds: u64) -> TestServer {
    start_configured(|args| args.shutdown_grace_seconds = shutdown_grace_seconds).await
}

/// A server without the background monitor, its settings changed by `configure`.
pub async fn start_configured(configure: impl FnOnce(&mut ServeArgs)) -> TestServer {
    launch(tempfile::tempdir().unwrap(), monitor_off(), configure).await
}

/// A server on `dir`/classpoints.db, which the caller may have prepared.
pub async fn start_in(dir: tempfile::TempDir, watch: classpoints::config::WatchArgs) -> TestServer {
    launch(dir, watch, |_| {}).await
}

/// A server on `dir` with the test admin and the defaults, changed by `configure`.
async fn launch(
    dir: tempfile::TempDir,
    watch: classpoints::config::WatchArgs,
    configure: impl FnOnce(&mut ServeArgs),
) -> TestServer {
    let url = format!("sqlite://{}/classpoints.db", dir.path().display());
    let mut args = ServeArgs {
        database: DatabaseArgs {
            database_url: url.clone(),
        },
        addr: "127.0.0.1:0".parse().unwrap(),
        site_root: dir.path().display().to_string(),
        live_max_seconds: 600,
        live_streams_per_account: 64,
        shutdown_grace_seconds: 10,
        header_read_timeout_seconds: 30,
        body_read_timeout_seconds: 30,
        send_timeout_seconds: 60,
        max_connections: None,
        idempotency_retention_hours: 168,
        // Sizes the binary's runtime; a server in a test runs on the test's.
        worker_threads: None,
        bootstrap: BootstrapArgs {
            admin_username: Some(ADMIN.0.into()),
            admin_password: Some(ADMIN.1.into()),
            demo: false,
        },
        watch,
    };
    configure(&mut args);
    let server = Server::bind(&args).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    TestServer {
        base,
        url,
        dir,
        stop: Some(stop),
        task: Some(task),
        // A request that never gets its answer fails its test instead of stalling the run.
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap(),
    }
}

/// Polls `check` until it holds or `limit` passes.
pub async fn eventually<F: AsyncFn() -> bool>(limit: std::time::Duration, check: F) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    check().await
}

/// A receiver for the server's webhook on a free port: every JSON body posted to `url`, in
/// the order they came.
pub struct WebhookReceiver {
    pub url: String,
    received: std::sync::Arc<tokio::sync::Mutex<Vec<Value>>>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().await.push(body);
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, received }
    }

    /// What was posted once at least `count` bodies came, or all that came in 10 s.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        eventually(std::time::Duration::from_secs(10), async || {
            self.received.lock().await.len() >= count
        })
        .await;
        self.received.lock().await.clone()
    }
}

/// A response's status, headers and JSON body (Null when the body is not JSON), and the body
/// as text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `error` object of an error reply; panics with the body when there is none.
    pub fn error(&self) -> &Value {
        assert!(
            self.body["error"].is_object(),
            "no error object in {}",
            self.body
        );
        &self.body["error"]
    }

    pub fn field(&self) -> &str {
        self.error()["field"].as_str().unwrap_or("")
    }
}

impl TestServer {
    /// Signals shutdown and waits for the server to stop (a minute at most, so a server that
    /// never stops fails the test instead of hanging it).
    pub async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(60), task)
            .await
            .expect("the server stopped within a minute of the shutdown signal")
            .unwrap()
            .unwrap();
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None, &[]).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(Method::POST, path, token, Some(body), &[]).await
    }

    /// Raw body with an explicit content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        sign_in(&self.client, &self.base, username, password).await
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN.0, ADMIN.1).await
    }

    /// A teacher account, signed in; returns (user id, token).
    pub async fn teacher(&self, admin: &str, username: &str) -> (String, String) {
        let reply = self
            .post(
                "/api/teachers",
                Some(admin),
                json!({"username": username, "password": "teacher-password", "name": username}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let id = reply.body["id"].as_str().unwrap().to_owned();
        (id, self.login(username, "teacher-password").await)
    }

    pub async fn class_with_students(
        &self,
        token: &str,
        name: &str,
        students: usize,
    ) -> (String, Vec<String>) {
        let reply = self
            .post("/api/classes", Some(token), json!({"name": name}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let class_id = reply.body["id"].as_str().unwrap().to_owned();
        let mut ids = Vec::new();
        for i in 0..students {
            let reply = self
                .post(
                    "/api/students",
                    Some(token),
                    json!({"class_id": class_id, "name": format!("{name} student {i}")}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            ids.push(reply.body["id"].as_str().unwrap().to_owned());
        }
        (class_id, ids)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }

    /// Everything a refused request could have changed, as one string to compare before and
    /// after: accounts, classes and their teachers, students, groups, presets, settings, the
    /// number of ledger rows and every balance.
    pub async fn school_state(&self) -> String {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar::<_, Option<String>>(SCHOOL_STATE)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn raw_sql(&self, sql: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

const SCHOOL_STATE: &str = "SELECT group_concat(row, ';') FROM (
    SELECT 'u' || id || username || name || role || active || coalesce(password_hash, '') AS row FROM users
    UNION ALL SELECT 'c' || id || name || coalesce(archived_at, '') FROM classes
    UNION ALL SELECT 't' || class_id || teacher_id FROM class_teachers
    UNION ALL SELECT 's' || id || class_id || name || coalesce(student_no, '') || coalesce(archived_at, '') FROM students
    UNION ALL SELECT 'g' || id || name FROM student_groups
    UNION ALL SELECT 'm' || group_id || student_id FROM student_group_members
    UNION ALL SELECT 'p' || class_id || presets FROM class_presets
    UNION ALL SELECT 'k' || key || value FROM settings
    UNION ALL SELECT 'a' || count(*) FROM api_tokens
    UNION ALL SELECT 'r' || count(*) FROM repairs
    UNION ALL SELECT 'l' || count(*) FROM point_transactions
    UNION ALL SELECT 'b' || student_id || points FROM student_points
    ORDER BY row)";
