//! The server over real HTTP with a real SQLite file: pages render, the server function
//! round-trips, and the health endpoint answers.
#![cfg(feature = "ssr")]

mod support;

use classpoints::{
    api::{board::SignIn, status::GetSystemStatus},
    error::AppError,
    model::SystemStatus,
};
use leptos::server_fn::{Decodes, ServerFn, codec::PostcardEncoding};
use std::time::Duration;
use support::http::{ADMIN, eventually, start, start_configured, start_with_grace};

#[tokio::test]
async fn pages_are_server_rendered_with_hydration_scripts() {
    let server = start().await;
    // Signed out, the home page (the teacher's classes) sends the visitor to sign in.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = no_redirects
        .get(format!("{}/", server.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(home.status().is_redirection(), "{}", home.status());
    assert_eq!(home.headers()["location"], "/login");
    let login = reqwest::get(format!("{}/login", server.base))
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("Sign in"));

    let response = reqwest::get(format!("{}/status", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("System status"), "{html}");
    assert!(
        html.contains("/pkg/classpoints.js"),
        "hydration script linked"
    );
    assert!(
        html.contains("data-hydrated=\"false\""),
        "not hydrated until the browser runs"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn status_server_function_reads_the_database_for_admins() {
    let server = start().await;
    let client = reqwest::Client::new();
    let status = |cookie: Option<String>| {
        let mut request = client
            .post(format!("{}{}", server.base, GetSystemStatus::PATH))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    assert_eq!(status(None).await.unwrap().status(), 401);
    let token = server.admin().await;
    let response = status(Some(format!("classpoints_session={token}")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Server functions answer in postcard (`classpoints::api::Reply`).
    assert_eq!(response.headers()["content-type"], "application/x-postcard");
    let status: SystemStatus = PostcardEncoding::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.journal_mode, "wal");
    assert!(status.database_path.ends_with("classpoints.db"));
    assert!(
        status
            .tables
            .iter()
            .any(|t| t.table == "settings" && t.rows == 1)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_sign_in_form_sets_a_secure_cookie_only_behind_an_https_proxy() {
    let server = start().await;
    // No redirects: the answer itself carries the cookie.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |forwarded_proto: Option<&'static str>| {
        let mut request = client
            .post(format!("{}{}", server.base, SignIn::PATH))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=root&password=root-password");
        if let Some(proto) = forwarded_proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };
    for (proto, secure) in [(None, false), (Some("http"), false), (Some("https"), true)] {
        let response = sign_in(proto).await.unwrap();
        assert!(
            !response.status().is_client_error() && !response.status().is_server_error(),
            "{proto:?}: {}",
            response.status()
        );
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("classpoints_session="), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), secure, "{proto:?}: {cookie}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn health_endpoint_and_unknown_paths() {
    let server = start().await;
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let missing = reqwest::get(format!("{}/no/such/page", server.base))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn server_function_errors_carry_their_own_status_never_500() {
    use classpoints::api::board::{Award, MyClasses};
    let server = start().await;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: &'static str| {
        client
            .post(format!("{}{path}", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // Arguments that cannot be decoded never reach our code, and still get a 400.
    let garbled = post(Award::PATH, "points_change=lots").await.unwrap();
    assert_eq!(garbled.status(), 400);
    // Errors travel in postcard, like the replies.
    assert_eq!(garbled.headers()["content-type"], "application/x-postcard");
    let error: AppError = PostcardEncoding::decode(garbled.bytes().await.unwrap()).unwrap();
    assert!(
        matches!(&error, AppError::Validation { field, .. } if field == "request"),
        "{error:?}"
    );
    // Signed out: 401, with the error in the body.
    let signed_out = post(MyClasses::PATH, "").await.unwrap();
    assert_eq!(signed_out.status(), 401);
    // (Without `redeem`, as a board still running the bundle from before redemptions sends it:
    // decoded, so the answer is about the caller.)
    let award = post(
        Award::PATH,
        "student_id=aaaaaaaaaaaaaaa&points_change=1&reason=x&request_id=r1",
    )
    .await
    .unwrap();
    assert_eq!(award.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn bundle_files_are_revalidated_and_answer_304_when_unchanged() {
    let server = start().await;
    let pkg = server.dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("chunk_1.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/pkg/chunk_1.wasm", server.base);
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let last_modified = first.headers()["last-modified"].clone();
    let again = client
        .get(&url)
        .header("if-modified-since", last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "no-cache");
    // Pages are not bundle files: their caching is left alone.
    let page = client
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    assert!(page.headers().get("cache-control").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn a_precompressed_bundle_file_is_sent_as_built_to_browsers_that_accept_it() {
    let server = start().await;
    let pkg = server.dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm = b"\0asm\x01\0\0\0 the bundle".to_vec();
    // What `cargo leptos build --precompress` leaves beside it (bytes the test can recognise).
    let brotli = b"brotli of the bundle, compressed at build time".to_vec();
    std::fs::write(pkg.join("classpoints.wasm"), &wasm).unwrap();
    std::fs::write(pkg.join("classpoints.wasm.br"), &brotli).unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/pkg/classpoints.wasm", server.base);

    let compressed = client
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.status(), 200);
    assert_eq!(compressed.headers()["content-encoding"], "br");
    assert_eq!(compressed.headers()["content-type"], "application/wasm");
    assert_eq!(compressed.headers()["cache-control"], "no-cache");
    assert_eq!(compressed.headers()["vary"], "accept-encoding");
    assert_eq!(
        compressed.bytes().await.unwrap().as_ref(),
        brotli.as_slice()
    );

    // A client that accepts no compression gets the file itself.
    let plain = client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers().get_all("vary").iter().count(), 1);
    assert_eq!(plain.bytes().await.unwrap().as_ref(), wasm.as_slice());
    server.shutdown().await;
}

/// Each test starts its own server, so servers start while others render pages. Starting one
/// used to render the app to list its routes, which now and then left a page being rendered
/// by another server unanswered for good. Two threads here start servers in turn and fetch
/// pages from each; every page must arrive.
#[test]
fn servers_starting_while_others_render_pages_answer_every_page() {
    const SERVERS: usize = 8;
    const PAGES: usize = 10;
    let fetch_pages = |path: &'static str| {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut unanswered = 0;
                for _ in 0..SERVERS {
                    let server = start().await;
                    for _ in 0..PAGES {
                        let page = async {
                            let response = reqwest::get(format!("{}{path}", server.base)).await?;
                            response.text().await
                        };
                        match tokio::time::timeout(Duration::from_secs(10), page).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => panic!("{path}: {error}"),
                            Err(_) => unanswered += 1,
                        }
                    }
                    server.shutdown().await;
                }
                unanswered
            })
        })
    };
    let login = fetch_pages("/login");
    let status = fetch_pages("/status");
    let unanswered = (login.join().unwrap(), status.join().unwrap());
    assert_eq!(
        unanswered,
        (0, 0),
        "pages without an answer (sign-in, status)"
    );
}

/// The monitor's live stream, opened by the admin.
async fn open_monitor_stream(server: &support::http::TestServer) -> reqwest::Response {
    open_stream(server, "/api/monitor/events", &server.admin().await).await
}

/// Whether a live stream with nothing to send stays open (its next read still waits).
async fn still_open(stream: &mut reqwest::Response) -> bool {
    tokio::time::timeout(Duration::from_millis(300), stream.chunk())
        .await
        .is_err()
}

/// The live stream at `path`, opened with `token` on a connection of its own.
async fn open_stream(
    server: &support::http::TestServer,
    path: &str,
    token: &str,
) -> reqwest::Response {
    let stream = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200, "{path}");
    stream
}

#[tokio::test]
async fn shutdown_ends_live_streams_at_once() {
    // A grace period and stream lifetime (600 s) far beyond `shutdown`'s one-minute bound:
    // the server stops in time only if the open stream ends when shutdown begins.
    let server = start_with_grace(600).await;
    let stream = open_monitor_stream(&server).await;
    server.shutdown().await;
    // The stream was ended by the server, not cut: its body reads to the end.
    stream.text().await.unwrap();
}

#[tokio::test]
async fn shutdown_does_not_wait_past_its_grace_period_for_a_stalled_connection() {
    use tokio::io::AsyncWriteExt;
    let server = start_with_grace(1).await;
    // A request whose headers never end: the server waits for the rest, and without the
    // grace period its shutdown would wait as long as the client keeps the connection open.
    let mut stalled = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: classpoints\r\n")
        .await
        .unwrap();
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server had accepted connections");
    server.shutdown().await;
    drop(stalled);
}

/// Reads `connection` until the server closes it: when that was, counted from `started`, and
/// what it sent.
async fn until_closed(
    connection: &mut tokio::net::TcpStream,
    started: std::time::Instant,
) -> (Duration, String) {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        connection.read_to_end(&mut received),
    )
    .await
    .expect("the server closed the connection")
    .unwrap();
    (
        started.elapsed(),
        String::from_utf8_lossy(&received).into_owned(),
    )
}

/// A client that connects and then stalls holds no connection for good: one that never
/// finishes its request head, and one left idle after its answer, are both closed once the
/// header read timeout has passed; a live stream, whose client sends nothing more after its
/// request, stays open past it.
#[tokio::test]
async fn stalled_and_idle_connections_are_closed_after_the_header_read_timeout() {
    use tokio::{io::AsyncWriteExt, net::TcpStream};
    const TIMEOUT: Duration = Duration::from_secs(1);
    let server =
        start_configured(|args| args.header_read_timeout_seconds = TIMEOUT.as_secs()).await;
    let address = server.base.trim_start_matches("http://");
    let mut stream = open_monitor_stream(&server).await;

    let started = std::time::Instant::now();
    let mut stalled = TcpStream::connect(address).await.unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: classpoints\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: classpoints\r\n\r\n")
        .await
        .unwrap();
    let (idle_closed, idle_received) = until_closed(&mut idle, started).await;
    let (stalled_closed, _) = until_closed(&mut stalled, started).await;
    assert!(
        idle_received.starts_with("HTTP/1.1 200"),
        "answered before it went idle: {idle_received}"
    );
    for closed in [idle_closed, stalled_closed] {
        assert!(
            closed >= TIMEOUT,
            "closed after {closed:?}, before the timeout"
        );
    }

    // The live stream is still open: reading it finds no end.
    tokio::time::sleep(TIMEOUT).await;
    let more = tokio::time::timeout(Duration::from_millis(200), stream.chunk()).await;
    assert!(
        !matches!(more, Ok(Ok(None))),
        "the live stream ended: {more:?}"
    );
    eprintln!(
        "timeout {TIMEOUT:?}: idle connection closed after {idle_closed:?}, stalled one after \
         {stalled_closed:?}; the live stream open after {:?}",
        started.elapsed()
    );
}

/// A client that sends a request's head and then stalls, or trickles the body, holds no
/// connection for good: once the body deadline has passed the request is refused naming the
/// body (nothing done) and the connection closed, through the REST API and the server
/// functions alike, and for a trickle fast enough to beat any wait between two bytes. A body
/// that is only a little late is taken.
#[tokio::test]
async fn a_request_body_that_stalls_or_trickles_is_refused_after_the_body_deadline() {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };
    const TIMEOUT: Duration = Duration::from_secs(1);
    let server = start_configured(|args| args.body_read_timeout_seconds = TIMEOUT.as_secs()).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let login = format!(r#"{{"username":"{}","password":"{}"}}"#, ADMIN.0, ADMIN.1);
    let form = format!("username={}&password={}", ADMIN.0, ADMIN.1);
    let head = |path: &str, content_type: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: classpoints\r\ncontent-type: {content_type}\r\n\
             content-length: {length}\r\n\r\n"
        )
    };
    // Sends the head, then the body's bytes with `pause` before each of them (all of them
    // in one piece when `pause` is zero), stopping after `sent` bytes; then reads until the
    // server closes the connection: what it answered, and when.
    let send = async |head: String, body: &str, sent: usize, pause: Duration| {
        let started = std::time::Instant::now();
        let mut connection = TcpStream::connect(&address).await.unwrap();
        connection.write_all(head.as_bytes()).await.unwrap();
        if pause.is_zero() {
            connection
                .write_all(&body.as_bytes()[..sent])
                .await
                .unwrap();
        } else {
            for byte in &body.as_bytes()[..sent] {
                tokio::time::sleep(pause).await;
                // The server may have closed the connection meanwhile.
                if connection.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
        }
        until_closed(&mut connection, started).await
    };
    let sign_in = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .find(|path| path.starts_with("/rpc/sign_in"))
        .expect("the sign-in server function is registered");
    let json = "application/json";
    let urlencoded = "application/x-www-form-urlencoded";
    let attempts = [
        // The head, one byte of the body, and nothing more.
        (
            "REST, stalled",
            head("/api/v1/auth/login", json, login.len()),
            &login,
            1,
            Duration::ZERO,
        ),
        (
            "server function, stalled",
            head(sign_in, urlencoded, form.len()),
            &form,
            1,
            Duration::ZERO,
        ),
        // A byte every 100 ms: no wait between two bytes is long, the whole is.
        (
            "REST, trickled",
            head("/api/v1/auth/login", json, login.len()),
            &login,
            login.len(),
            Duration::from_millis(100),
        ),
        (
            "server function, trickled",
            head(sign_in, urlencoded, form.len()),
            &form,
            form.len(),
            Duration::from_millis(100),
        ),
    ];
    let answers = futures::future::join_all(
        attempts
            .iter()
            .map(|(_, head, body, sent, pause)| send(head.clone(), body, *sent, *pause)),
    )
    .await;
    for ((what, ..), (closed, received)) in attempts.iter().zip(answers) {
        assert!(
            received.starts_with("HTTP/1.1 400"),
            "{what}: refused as a bad request: {received}"
        );
        assert!(
            received.contains("was not received in full within 1 s"),
            "{what}: the answer says why: {received}"
        );
        assert!(
            (TIMEOUT..TIMEOUT * 10).contains(&closed),
            "{what}: closed after {closed:?}"
        );
        eprintln!(
            "{what}: refused and closed after {closed:?}: {}",
            received.lines().last().unwrap_or_default()
        );
    }
    // Nobody was signed in by the refused requests.
    let sessions = server.count("SELECT COUNT(*) FROM api_tokens").await;
    assert_eq!(sessions, 0, "no session from a refused sign-in");

    // A body sent in two pieces, the second 300 ms after the first, is taken.
    let mut connection = TcpStream::connect(&address).await.unwrap();
    let (first, second) = login.split_at(5);
    connection
        .write_all(format!("{}{first}", head("/api/v1/auth/login", json, login.len())).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    connection.write_all(second.as_bytes()).await.unwrap();
    let mut answer = [0; 12];
    connection.read_exact(&mut answer).await.unwrap();
    assert_eq!(
        &answer, b"HTTP/1.1 200",
        "the late but timely body was taken"
    );
}

/// Sends `GET path` on `connection` and reads the answer (its head and as many bytes of body
/// as its Content-Length says), leaving the connection open.
async fn ask(connection: &mut tokio::net::TcpStream, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    connection
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: classpoints\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut received = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&received);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |length| length.parse().unwrap());
            if received.len() >= head_end + 4 + length {
                return text.into_owned();
            }
        }
        let mut chunk = [0; 4096];
        let read = connection.read(&mut chunk).await.unwrap();
        assert!(read > 0, "the connection closed mid-answer: {text}");
        received.extend_from_slice(&chunk[..read]);
    }
}

/// `/metrics` asked on `connection`: the value of each of `names`, in order.
async fn metric_values(connection: &mut tokio::net::TcpStream, names: &[&str]) -> Vec<String> {
    let metrics = ask(connection, "/metrics").await;
    names
        .iter()
        .map(|name| {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {metrics}"))
                .to_owned()
        })
        .collect()
}

/// Reads `connection` until the server closes it, for at most `limit`; whether it did.
async fn closed_within(connection: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(limit, async {
        let mut chunk = [0; 1024];
        while connection.read(&mut chunk).await.is_ok_and(|read| read > 0) {}
    })
    .await
    .is_ok()
}

/// A crowd of clients cannot run the server out of file descriptors (which would fail its
/// database work too), and a client holding idle connections cannot keep others out: past
/// the connection limit, a new client takes the place of the connection idle the longest,
/// which the server closes. `/metrics` shows the open connections, the limit and how many
/// were closed so.
#[tokio::test]
async fn a_client_past_the_connection_limit_takes_the_place_of_the_longest_idle() {
    use tokio::net::TcpStream;
    let server = start_configured(|args| args.max_connections = Some(2)).await;
    let address = server.base.trim_start_matches("http://");
    let mut first = TcpStream::connect(address).await.unwrap();
    let mut second = TcpStream::connect(address).await.unwrap();
    for held in [&mut first, &mut second] {
        let answer = ask(held, "/healthz").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    let mut third = TcpStream::connect(address).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), ask(&mut third, "/healthz"))
        .await
        .expect("answered at once past the limit");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed_within(&mut first, Duration::from_secs(5)).await,
        "the connection idle the longest was closed"
    );
    let answer = ask(&mut second, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the other stayed open");

    let values = metric_values(
        &mut third,
        &[
            "classpoints_http_connections",
            "classpoints_http_connections_max",
            "classpoints_http_connections_shed_total",
        ],
    )
    .await;
    assert_eq!(values, ["2", "2", "1"], "second and third open, one closed");
}

/// One client filling every place with connections that never send a whole request (a
/// slow-loris flood) keeps no one else out for the header timeout: each new connection takes
/// the place of the one idle the longest, and a real client is answered at once.
#[tokio::test]
async fn a_flood_of_stalled_connections_keeps_no_client_out() {
    use tokio::{io::AsyncWriteExt, net::TcpStream};
    const PLACES: usize = 8;
    let server = start_configured(|args| args.max_connections = Some(PLACES as u32)).await;
    let address = server.base.trim_start_matches("http://");
    let mut flood = Vec::new();
    for _ in 0..2 * PLACES {
        let mut stalled = TcpStream::connect(address).await.unwrap();
        stalled
            .write_all(b"GET /healthz HTTP/1.1\r\nhost")
            .await
            .unwrap();
        flood.push(stalled);
    }
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        let mut client = TcpStream::connect(address).await.unwrap();
        ask(&mut client, "/healthz").await
    })
    .await
    .expect("answered within seconds, not after the 30 s header timeout");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    eprintln!(
        "{} stalled connections for {PLACES} places: a new client answered in {:.0} ms",
        flood.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let mut closed = 0;
    for stalled in &mut flood {
        closed += usize::from(closed_within(stalled, Duration::from_millis(100)).await);
    }
    assert!(
        closed > PLACES,
        "{closed} of the flood's connections closed to make room"
    );
}

/// While every connection is answering (a live stream is an answer in progress), a client
/// past the limit waits, unanswered, until one closes, and is then served.
#[tokio::test]
async fn past_the_connection_limit_with_every_connection_answering_a_client_waits() {
    use tokio::net::TcpStream;
    let server = start_configured(|args| args.max_connections = Some(2)).await;
    let admin = server.admin().await;
    // The sign-in's idle connection makes room for the second stream.
    let first = open_stream(&server, "/api/monitor/events", &admin).await;
    let _second = open_stream(&server, "/api/monitor/events", &admin).await;

    // The operating system completes the third connection; the server takes it but has no
    // room for it.
    let address = server.base.trim_start_matches("http://");
    let mut third = TcpStream::connect(address).await.unwrap();
    let waiting =
        tokio::time::timeout(Duration::from_millis(1000), ask(&mut third, "/healthz")).await;
    assert!(waiting.is_err(), "answered past the limit: {waiting:?}");

    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        // The request sent while waiting is answered first.
        let mut received = String::new();
        use tokio::io::AsyncReadExt;
        while !received.contains("\r\n\r\nok") {
            let mut chunk = [0; 1024];
            let read = third.read(&mut chunk).await.unwrap();
            assert!(read > 0, "closed before its answer");
            received.push_str(&String::from_utf8_lossy(&chunk[..read]));
        }
        received
    })
    .await
    .expect("served once a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let values = metric_values(
        &mut third,
        &[
            "classpoints_http_connections",
            "classpoints_http_connections_shed_total",
        ],
    )
    .await;
    assert_eq!(
        values,
        ["2", "1"],
        "a stream and the third open; the sign-in's closed"
    );
}

/// A body larger than any request the server takes is refused in words the REST API and the
/// pages can show (the limit, as a problem the interface words itself), through the REST API
/// and the server functions alike; a declared length over it is refused at once, before the
/// body is sent. A roster file under the limit still reaches the roster's own, smaller one.
#[tokio::test]
async fn request_bodies_over_the_size_limit_are_refused_as_too_large() {
    use classpoints::{
        api::{MAX_REQUEST_BODY_BYTES, admin::PreviewRoster, request_too_large},
        error::{AppError, Problem},
    };
    use leptos::server_fn::{ServerFn, error::FromServerFnError};
    use tokio::io::AsyncWriteExt;
    let server = start().await;
    let admin = server.admin().await;
    let http = reqwest::Client::new();
    let preview = async |csv_bytes: usize| {
        let csv = format!("class,name\n{}", "C,x\n".repeat(csv_bytes / 4));
        let response = http
            .post(format!("{}{}", server.base, PreviewRoster::PATH))
            .header("cookie", format!("classpoints_session={admin}"))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "csv": csv }).to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, AppError::de(response.bytes().await.unwrap()))
    };
    let (status, error) = preview(MAX_REQUEST_BODY_BYTES * 3 / 4).await;
    assert_eq!(status, 400);
    assert_eq!(
        error,
        AppError::invalid("csv", Problem::TooLarge { max_kib: 1024 }),
        "under the server's limit, over the roster's"
    );
    let (status, error) = preview(MAX_REQUEST_BODY_BYTES * 3 / 2).await;
    assert_eq!(status, 400);
    assert_eq!(error, AppError::invalid("request", request_too_large()));

    // Only the head, declaring 3 MiB: the answer comes without the body being sent.
    let started = std::time::Instant::now();
    let mut connection = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    connection
        .write_all(
            format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nhost: classpoints\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                MAX_REQUEST_BODY_BYTES * 3 / 2
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answered, received) = until_closed(&mut connection, started).await;
    assert!(received.starts_with("HTTP/1.1 400"), "{received}");
    assert!(
        received.contains(r#""field":"body","message":"body: must be at most 2048 KiB""#),
        "{received}"
    );
    assert!(
        answered < Duration::from_secs(5),
        "answered after {answered:?}"
    );
}

/// A script may pipeline its requests: 40 awards written on one connection in one go, every
/// fourth a copy of the one before it (same request id, as a retry). Each is answered, in
/// order, and each request id written once: the copies replay their original's transaction.
#[tokio::test]
async fn pipelined_awards_are_answered_in_order_and_written_once_per_request_id() {
    use tokio::io::AsyncWriteExt;
    let server = start().await;
    let admin = server.admin().await;
    let (_, students) = server.class_with_students(&admin, "C", 4).await;
    let mut sent = Vec::new();
    let mut keys = Vec::new();
    for n in 0..40 {
        let original = if n % 4 == 3 { n - 1 } else { n };
        let body = serde_json::json!({
            "student_id": students[original % students.len()],
            "points_change": 1 + original % 3,
            "reason": "pipelined",
        })
        .to_string();
        sent.extend(
            format!(
                "POST /api/v1/points HTTP/1.1\r\nhost: classpoints\r\n\
                 authorization: Bearer {admin}\r\ncontent-type: application/json\r\n\
                 idempotency-key: pipelined-{original}\r\ncontent-length: {}\r\n\
                 {}\r\n{body}",
                body.len(),
                if n == 39 { "connection: close\r\n" } else { "" },
            )
            .bytes(),
        );
        keys.push(original);
    }
    let mut connection = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap();
    connection.write_all(&sent).await.unwrap();
    let (_, text) = until_closed(&mut connection, std::time::Instant::now()).await;
    // Each answer's status, and the transaction id in its body.
    let answers: Vec<(&str, String)> = text
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|answer| {
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
            let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            let id = value["transaction"]["id"].as_str().unwrap_or_default();
            (&answer[..3], id.to_owned())
        })
        .collect();
    assert_eq!(answers.len(), 40, "{text}");
    assert!(answers.iter().all(|(status, _)| *status == "201"), "{text}");
    let transactions: std::collections::HashSet<&str> =
        answers.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        transactions.len(),
        30,
        "a transaction per request id: {answers:?}"
    );
    assert!(!transactions.contains(""), "{answers:?}");
    for (n, original) in keys.iter().enumerate() {
        assert_eq!(
            answers[n].1, answers[*original].1,
            "answer {n} is its request id's transaction"
        );
    }
    assert_eq!(
        server
            .count("SELECT count(*) FROM point_transactions WHERE reason = 'pipelined'")
            .await,
        30,
        "one row per request id"
    );
}

/// An account keeps at most its share of live streams: opening one more ends its oldest (the
/// stream's body reads to its end), not its others nor another account's, whichever of its
/// sign-ins opened them; a stream the client closes gives its place back. `/metrics` counts.
#[tokio::test]
async fn an_account_opening_more_live_streams_than_it_may_keep_ends_its_oldest() {
    let server = start_configured(|args| args.live_streams_per_account = 2).await;
    let admin = server.admin().await;
    let admin_elsewhere = server.admin().await;
    let (_, teacher) = server.teacher(&admin, "live-teacher").await;
    let (class_id, _) = server.class_with_students(&teacher, "Live", 1).await;
    let board = format!("/api/events?class_id={class_id}");
    let open = async |path: &str, token: &str| open_stream(&server, path, token).await;
    let metrics = async || server.get("/metrics", None).await.text;

    let oldest = open("/api/monitor/events", &admin).await;
    let mut admins_board = open(&board, &admin).await;
    let mut teachers_board = open(&board, &teacher).await;
    let mut newest = open("/api/monitor/events", &admin_elsewhere).await;
    tokio::time::timeout(Duration::from_secs(5), oldest.text())
        .await
        .expect("the account's oldest stream ended once it opened a third")
        .unwrap();
    assert!(still_open(&mut admins_board).await, "the admin's board");
    assert!(still_open(&mut teachers_board).await, "another account's");
    assert!(still_open(&mut newest).await, "the admin's newest");
    let counted = metrics().await;
    for line in [
        "classpoints_live_streams 3\n",
        "classpoints_live_streams_displaced_total 1\n",
        "classpoints_live_streams_per_account_max 2\n",
    ] {
        assert!(counted.contains(line), "{line} in {counted}");
    }

    // Closed by the client: its place is free again, so the next one ends no other.
    drop(admins_board);
    assert!(
        eventually(Duration::from_secs(10), async || {
            metrics().await.contains("classpoints_live_streams 2\n")
        })
        .await,
        "the closed stream gave its place back: {}",
        metrics().await
    );
    let _admins_next = open(&board, &admin).await;
    assert!(still_open(&mut newest).await, "the admin's other stream");
    assert!(
        metrics()
            .await
            .contains("classpoints_live_streams_displaced_total 1\n")
    );
}

/// A client that stops reading holds no connection for good: once the buffers between it and
/// the server are full and it has taken none of its answers for the send timeout, its
/// connection is closed (while hyper waits to write it reads nothing, so no other timeout
/// would). A live stream with nothing to send for longer than that stays open.
#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_after_the_send_timeout() {
    use tokio::io::AsyncWriteExt;
    let server = start_configured(|args| args.send_timeout_seconds = 1).await;
    let mut quiet_stream = open_monitor_stream(&server).await;
    let answer = server.get("/api/openapi.json", None).await.text.len();
    let connections_open = async |count: usize| {
        let metrics = server.get("/metrics", None).await.text;
        metrics.contains(&format!("classpoints_http_connections {count}\n"))
    };
    // The stream's connection and the one `server.get` keeps alive.
    assert!(connections_open(2).await);

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = server.base.trim_start_matches("http://").parse().unwrap();
    let mut stalled = socket.connect(address).await.unwrap();
    // Answers to far more than the buffers on the way hold (the kernel's send buffer grows
    // to 4 MiB at most), and never a byte read.
    let requests = (32 << 20) / answer + 1;
    let request = "GET /api/openapi.json HTTP/1.1\r\nhost: classpoints\r\n\r\n";
    stalled
        .write_all(request.repeat(requests).as_bytes())
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), async || connections_open(3).await).await,
        "the stalled client's connection was taken"
    );
    let started = std::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(30), async || connections_open(2).await).await,
        "the connection of a client that reads nothing was closed"
    );
    eprintln!(
        "{requests} requests for {answer}-byte answers, none read: closed {:.1} s after it \
         was seen open",
        started.elapsed().as_secs_f64()
    );
    assert!(
        still_open(&mut quiet_stream).await,
        "the quiet live stream is still open"
    );
    drop(stalled);
}
