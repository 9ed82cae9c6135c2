//! HTTP server assembly (server only): state, router, listener and graceful shutdown.

mod connections;
mod live_streams;
mod request_body;

pub use live_streams::{LiveStreamMetrics, LiveStreams};
pub use request_body::{BodyRefused, refusal as body_refusal};

use crate::{
    app::{App, shell},
    config::{BootstrapArgs, ServeArgs},
    db::Db,
    error::AppError,
    ledger::Ledger,
};
use axum::http::HeaderValue;
use axum::{Router, extract::FromRef, response::IntoResponse, routing::get};
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tower_http::{
    compression::{
        CompressionLayer,
        predicate::{DefaultPredicate, NotForContentType, Predicate},
    },
    services::ServeDir,
    set_header::SetResponseHeader,
    trace::TraceLayer,
};

/// Everything a request handler or server function may need. Every extractor and middleware
/// takes its own copy per request, so a copy is one reference count (cloning the fields
/// themselves showed up in the profile of the award endpoint).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(std::sync::Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The Leptos routes and the file handler find their options in the state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub struct AppStateInner {
    pub leptos_options: LeptosOptions,
    pub ledger: Ledger,
    /// Longest life of one live-update stream.
    pub live_max: std::time::Duration,
    /// The live-update streams open, per account.
    pub live_streams: LiveStreams,
    /// Turns true when the server starts shutting down.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    pub monitor: crate::monitor::Monitor,
    /// Bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
}

impl AppStateInner {
    /// `stream` as a live-update stream of `account`: it ends after `live_max`, as soon as the
    /// server starts shutting down (so open boards never hold a restart up; browsers
    /// reconnect and resync by themselves), or when the account opens more streams than it
    /// may keep and this is its oldest (see [`LiveStreams`]).
    pub fn live_stream<S: futures::Stream + Send>(
        &self,
        account: &str,
        stream: S,
    ) -> impl futures::Stream<Item = S::Item> + Send + use<S> {
        use futures::StreamExt;
        let (place, displaced) = self.live_streams.open(account);
        let longest = tokio::time::sleep(self.live_max);
        let mut shutting_down = self.shutting_down.clone();
        let end = async move {
            tokio::select! {
                () = longest => {}
                _ = shutting_down.wait_for(|stopping| *stopping) => {}
                _ = displaced => {}
            }
        };
        stream.take_until(end).map(move |item| {
            // The stream holds its place until it is dropped.
            let _place = &place;
            item
        })
    }
}

/// The state inside a server function (provided as context by the Leptos routes).
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>()
        .ok_or_else(|| AppError::internal("application state missing from server context"))
}

/// Leptos options for this binary. Defaults match `[package.metadata.leptos]`, so the built
/// server runs without cargo-leptos as long as `--site-root` points at the built site.
pub fn leptos_options(args: &ServeArgs) -> LeptosOptions {
    // cargo-leptos provides the LEPTOS_* settings (at build or run time); without them, this
    // binary's own defaults apply.
    let from_cargo_leptos = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some()
        || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = from_cargo_leptos
        .then(|| get_configuration(None).ok())
        .flatten()
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|| {
            LeptosOptions::builder()
                .output_name(env!("CARGO_PKG_NAME"))
                .build()
        });
    options.site_addr = args.addr;
    options.site_root = args.site_root.as_str().into();
    options
}

/// Every request gets the answer its error calls for:
/// - A handler that panics (a bug) would otherwise drop its connection unanswered, unseen by
///   `/metrics` and the error-rate alert; it is answered 500 `internal` instead, in the
///   caller's encoding, and logged. The request is retried like any failed one: under its
///   request id, a retry of a write that did commit replays it.
/// - Server functions answer every error as 500 with the error in the body. Their error type
///   is [`AppError`], so its own status (400, 401, 403, 404, 409, 422, 503) is restored here,
///   including for arguments that could not be decoded, which never reach our code.
async fn error_statuses(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures::FutureExt;
    let is_rpc = request.uri().path().starts_with("/rpc/");
    let response = match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => return panicked(is_rpc, panic.as_ref()),
    };
    if !is_rpc || response.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "cannot read a server function's error");
            return AppError::internal("error response unreadable").into_response();
        }
    };
    type ErrorEncoding = <AppError as leptos::server_fn::error::FromServerFnError>::Encoder;
    if let Ok(error) =
        <ErrorEncoding as leptos::server_fn::Decodes<AppError>>::decode(bytes.clone())
    {
        parts.status = error.status();
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The answer to a request whose handler panicked, after logging the panic's message.
fn panicked(is_rpc: bool, panic: &(dyn std::any::Any + Send)) -> axum::response::Response {
    tracing::error!(
        panic = crate::error::panic_message(panic),
        "a request handler panicked; answered 500"
    );
    let error = AppError::internal("the server failed while answering; see its log");
    if !is_rpc {
        return error.into_response();
    }
    let body = leptos::server_fn::error::FromServerFnError::ser(&error);
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

/// `GET /metrics`: Prometheus (OpenMetrics) text; behind a bearer token when one is set.
async fn metrics_endpoint(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(expected) = &state.metrics_token {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(expected.as_str()) {
            return AppError::unauthorized(
                "send Authorization: Bearer <CLASSPOINTS_METRICS_TOKEN>",
            )
            .into_response();
        }
    }
    crate::monitor::metrics::exposition(state.monitor.metrics())
}

/// `/pkg/…`: the browser bundle (main bundle, each page's chunks, CSS), whose file names stay
/// the same from one build to the next. `no-cache` makes browsers revalidate them (a 304 while
/// unchanged), so after an upgrade none runs a new main bundle with an old chunk. Served here
/// rather than by the fallback file handler, which drops the `If-Modified-Since` it would need.
///
/// Release builds (`--precompress`) leave a `.br` beside each file, brotli at its highest
/// setting, which is sent as it is (the main bundle ~20 % smaller than brotli per request, and
/// no compression work per download). Anything else goes through the response compression
/// layer like every response: the `.gz` the same build leaves is larger than what that layer
/// makes of the file, so it is not used. Either way the answer depends on `Accept-Encoding`,
/// which `Vary` tells caches on the way (the compression layer says so only when it compresses).
fn bundle_files(options: &LeptosOptions) -> (String, BundleFiles) {
    let pkg_dir = options.site_pkg_dir.trim_matches('/');
    let files =
        ServeDir::new(std::path::Path::new(&*options.site_root).join(pkg_dir)).precompressed_br();
    let varied = SetResponseHeader::if_not_present(
        files,
        axum::http::header::VARY,
        HeaderValue::from_static("accept-encoding"),
    );
    let revalidated = SetResponseHeader::overriding(
        varied,
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    (format!("/{pkg_dir}"), revalidated)
}

type BundleFiles = SetResponseHeader<SetResponseHeader<ServeDir, HeaderValue>, HeaderValue>;

/// The app's page routes, found once per process by rendering the app in route-listing mode.
/// They belong to the app, not to a server; and listing them while another server in the
/// same process renders a page could leave that page's response waiting forever (seen in
/// the tests, which start many servers in one process).
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = page_routes();
    let options = state.leptos_options.clone();
    let (bundle_path, bundle) = bundle_files(&options);
    let metrics = state.monitor.metrics().clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_endpoint))
        .merge(crate::api::rest::router())
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .nest_service(&bundle_path, bundle)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(error_statuses))
        // Outside the status fix-up, so requests are counted with the status clients see (a
        // panic's 500 included).
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::monitor::metrics::track,
        ))
        // Every response but a database backup: compressing one would keep a core busy for as
        // long as the download lasts, and the browser stores the file unpacked anyway.
        .layer(
            CompressionLayer::new().compress_when(DefaultPredicate::new().and(
                NotForContentType::const_new(crate::api::rest::backup::SQLITE_MEDIA_TYPE),
            )),
        )
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A bound, ready-to-run server. Binding is separate from running so callers (and tests)
/// learn the real address, including when port 0 asked the OS to choose.
pub struct Server {
    listener: TcpListener,
    router: Router,
    shutting_down: tokio::sync::watch::Sender<bool>,
    shutdown_grace: std::time::Duration,
    limits: ConnectionLimits,
    metrics: std::sync::Arc<crate::monitor::metrics::Metrics>,
    /// Held while the server runs (see [`crate::db::ServerLock`]).
    _database_lock: crate::db::ServerLock,
}

impl Server {
    pub async fn bind(args: &ServeArgs) -> anyhow::Result<Self> {
        let db = Db::open(&args.database.database_url).await?;
        let database_lock = db.lock_as_server(
            "one server per database; stop the other one, or give this one another DATABASE_URL",
        )?;
        match db.remove_backup_leftovers(&database_lock) {
            Ok(0) => {}
            Ok(removed) => tracing::warn!(
                removed,
                "removed backup copies left by a server stopped during a download"
            ),
            Err(error) => tracing::warn!(%error, "could not look for leftover backup copies"),
        }
        let ledger = Ledger::start(db).await?;
        bootstrap(&ledger, &args.bootstrap, args.addr).await?;
        let metrics = std::sync::Arc::new(crate::monitor::metrics::Metrics::new(&ledger));
        let monitor = crate::monitor::Monitor::new(ledger.clone(), metrics.clone(), &args.watch);
        monitor.spawn_background();
        if args.idempotency_retention_hours > 0 {
            ledger.spawn_request_id_pruner(std::time::Duration::from_secs(
                args.idempotency_retention_hours.saturating_mul(3600),
            ));
        }
        let (shutting_down, shutting_down_seen) = tokio::sync::watch::channel(false);
        let state = AppState::new(AppStateInner {
            leptos_options: leptos_options(args),
            ledger,
            live_max: std::time::Duration::from_secs(args.live_max_seconds.max(1)),
            live_streams: LiveStreams::new(
                usize::try_from(args.live_streams_per_account).unwrap_or(usize::MAX),
                metrics.live_streams.clone(),
            ),
            shutting_down: shutting_down_seen,
            monitor,
            metrics_token: args.watch.metrics_token.clone(),
        });
        let listener = TcpListener::bind(args.addr).await?;
        Ok(Self {
            listener,
            router: router(state),
            shutting_down,
            shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_seconds),
            limits: ConnectionLimits::from_args(args),
            metrics,
            _database_lock: database_lock,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Client connections it keeps open at most.
    pub fn connection_limit(&self) -> usize {
        self.limits.connections
    }

    /// Serves until `shutdown` completes, then ends live streams and lets requests in flight
    /// finish for up to the shutdown grace period. It returns then even if connections are
    /// still open (a client that stopped reading, a connection that never sent its whole
    /// request), rather than holding the shutdown up for good; they close when the runtime
    /// ends. Nothing acknowledged is lost either way: an answer is sent only after its
    /// transaction committed, and a request cut off unanswered is retried under its
    /// idempotency key.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            shutting_down,
            shutdown_grace,
            limits,
            metrics,
            _database_lock: _held_until_stopped,
        } = self;
        let mut began = shutting_down.subscribe();
        let signal = async move {
            shutdown.await;
            tracing::info!(
                grace_seconds = shutdown_grace.as_secs(),
                "shutting down: finishing requests in flight"
            );
            shutting_down.send_replace(true);
        };
        let serve = serve(listener, router, limits, &metrics, signal);
        // The sender lives in `signal` until it has sent `true`, so this wait ends only once
        // shutdown has begun.
        let grace_over = async move {
            let _ = began.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(shutdown_grace).await;
        };
        tokio::select! {
            () = serve => Ok(()),
            () = grace_over => {
                tracing::warn!(
                    grace_seconds = shutdown_grace.as_secs(),
                    "shutdown grace period over with connections still open; stopping without them"
                );
                Ok(())
            }
        }
    }
}

/// What one client may hold of the server.
#[derive(Clone, Copy)]
struct ConnectionLimits {
    /// Connections open at once.
    connections: usize,
    /// Time to send a request's head (and the wait between requests on one connection).
    header: std::time::Duration,
    /// Time to send its body, once the handler reads it.
    body: std::time::Duration,
    /// Time the client may take none of an answer (see [`ServeArgs::send_timeout_seconds`]).
    send: std::time::Duration,
}

impl ConnectionLimits {
    fn from_args(args: &ServeArgs) -> Self {
        let connections = args.max_connections.map_or_else(
            || {
                // The limit as it stands (`main` raises it to the hard limit first).
                let open_files = rlimit::Resource::NOFILE
                    .get()
                    .map_or(1_024, |(soft, _)| soft);
                crate::config::connections_within(open_files)
            },
            |chosen| usize::try_from(chosen).unwrap_or(usize::MAX),
        );
        Self {
            connections,
            header: std::time::Duration::from_secs(args.header_read_timeout_seconds),
            body: std::time::Duration::from_secs(args.body_read_timeout_seconds),
            send: std::time::Duration::from_secs(args.send_timeout_seconds),
        }
    }
}

/// Accepts connections and answers each with `router` until `signal` completes; then accepts
/// no more and waits for every connection to finish the request it is answering (idle ones
/// close at once). This is what `axum::serve` does, with what it does not offer:
/// - at most `limits.connections` are open at once, rather than the process running out of
///   file descriptors (which would fail database work as well as connections); a client
///   past the limit takes the place of the connection idle the longest, and waits in the
///   listen queue only while every connection is answering ([`connections`]);
/// - hyper gets a timer, so a connection that does not send a whole request head in time (a
///   stalled or half-open client, or one idle between requests) is closed instead of holding
///   a socket for good;
/// - a connection whose client takes none of an answer for `limits.send` is closed: while
///   hyper waits to write it reads nothing and polls no body, so neither its header timeout
///   nor a live stream's end would ever close a connection whose client stopped reading;
/// - each request's body gets a deadline and a size limit ([`request_body`]).
async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: &crate::monitor::metrics::Metrics,
    signal: impl Future<Output = ()>,
) {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
    use tower::ServiceExt;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    let router = router.map_request(move |request: axum::http::Request<hyper::body::Incoming>| {
        request.map(|body| request_body::GuardedBody::new(body, limits.body))
    });
    let mut open =
        connections::Connections::new(limits.connections, metrics.connections_shed.clone());
    metrics.connection_limit.set(limits.connections as i64);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        // A place first, so that clients past the limit wait in the listen queue rather than
        // hold a file each; only with none free is a client accepted without one, and a place
        // then made for it.
        let (place, accepted) = tokio::select! {
            biased;
            () = signal.as_mut() => break,
            place = open.free_place() => {
                tokio::select! {
                    accepted = listener.accept() => (Some(place), accepted),
                    () = signal.as_mut() => break,
                }
            }
            accepted = listener.accept() => (None, accepted),
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        let place = match place {
            Some(place) => place,
            None => tokio::select! {
                place = open.make_place() => place,
                () = signal.as_mut() => break,
            },
        };
        let connection = place.connection.clone();
        let service = router
            .clone()
            .map_request({
                let connection = connection.clone();
                move |request| {
                    connection.answering();
                    request
                }
            })
            .map_response({
                let connection = connection.clone();
                move |response: axum::response::Response| {
                    response.map(|body| connection.answer_body(body))
                }
            });
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.send));
        let stream = TokioIo::new(Box::pin(stream));
        let serving =
            graceful.watch(http.serve_connection(stream, TowerToHyperService::new(service)));
        let gauge = metrics.connections.clone();
        gauge.inc();
        tokio::spawn(async move {
            let mut serving = std::pin::pin!(serving);
            loop {
                tokio::select! {
                    served = serving.as_mut() => {
                        if let Err(error) = served {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                        break;
                    }
                    () = connection.asked_to_close() => {
                        if connection.close_if_still_idle() {
                            tracing::debug!("closed an idle connection to make room for another");
                            break;
                        }
                    }
                }
            }
            gauge.dec();
            drop(place);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A failed accept: the client's own trouble (it hung up before it was accepted) is skipped;
/// anything else, such as running out of file descriptors, is logged and retried after a
/// second, so that connections can close meanwhile (as `axum::serve` and hyper do).
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; trying again in a second");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// First-start work: the admin from the environment, then the demo school if enabled.
async fn bootstrap(ledger: &Ledger, args: &BootstrapArgs, addr: SocketAddr) -> anyhow::Result<()> {
    crate::demo::bootstrap_admin(
        ledger,
        args.admin_username.as_deref(),
        args.admin_password.as_deref(),
    )
    .await?;
    if args.demo
        && let Some(demo) = crate::demo::seed_if_empty(ledger).await?
    {
        let mut lines = vec![format!(
            "Demo school created. Open http://{addr} and sign in as a teacher: {} (password {})",
            demo.teachers.join(" or "),
            crate::demo::DEMO_TEACHER_PASSWORD
        )];
        if let Some(admin) = demo.admin {
            lines.push(format!(
                "Admin: {admin} (password {}). Set CLASSPOINTS_DEMO=false to start empty.",
                crate::demo::DEMO_ADMIN_PASSWORD
            ));
        }
        for line in lines {
            tracing::info!("{line}");
            println!("{line}");
        }
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    /// The status and body `app` answers `request` with.
    async fn answer(
        app: Router,
        request: Request<Body>,
    ) -> (axum::http::StatusCode, axum::body::Bytes) {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        (
            status,
            axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_in_the_callers_encoding() {
        let app = Router::new()
            .route("/api/boom", get(boom))
            .route("/rpc/boom", axum::routing::post(boom))
            .layer(axum::middleware::from_fn(error_statuses));
        let request = Request::get("/api/boom").body(Body::empty()).unwrap();
        let (status, body) = answer(app.clone(), request).await;
        assert_eq!(status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal", "{body}");

        let request = Request::post("/rpc/boom").body(Body::empty()).unwrap();
        let (status, body) = answer(app, request).await;
        assert_eq!(status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let error = <AppError as leptos::server_fn::error::FromServerFnError>::de(body);
        assert!(matches!(error, AppError::Internal { .. }), "{error:?}");
    }
}
