//! Prometheus metrics at `/metrics` (OpenMetrics text from `prometheus-client`): requests and
//! latency by route and status, the writer's groups and queue, ledger rows, the last
//! consistency check, and refused sign-ins. The same middleware feeds the last hour's
//! [`TrafficWindow`].

use super::window::{TrafficWindow, current_minute};
use crate::{
    ledger::{GROUP_SIZE_BOUNDS, Ledger},
    model::{ConsistencyReport, HealthStatus, TransactionType},
};
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        MetricType,
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::Registry,
};
use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering::Relaxed};

/// Latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

type LatencyFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Everything `/metrics` reports, plus the last hour of traffic for the monitor page.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    pub traffic: TrafficWindow,
    consistency_rate: Gauge<f64, AtomicU64>,
    inconsistent_students: Gauge,
    check_seconds: Gauge<f64, AtomicU64>,
    chain_ok: Gauge,
    health: Gauge,
    open_alerts: Gauge,
    monitor_runs: Counter,
    backup_downloads: Counter,
    /// Client connections open (the accept loop counts them).
    pub connections: Gauge,
    /// How many may be open at once.
    pub connection_limit: Gauge,
    /// Idle connections closed to make room for new clients.
    pub connections_shed: Counter,
    pub live_streams: crate::server::LiveStreamMetrics,
}

impl Metrics {
    pub fn new(ledger: &Ledger) -> Self {
        let mut registry = Registry::with_prefix("classpoints");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until the response starts), by method, route and status",
            latency.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::<i64>::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let consistency_rate = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "consistency_rate_percent",
            "Percentage of students whose balance equals their ledger, at the last check",
            consistency_rate.clone(),
        );
        let check_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "consistency_check_duration_seconds",
            "How long the last consistency check took",
            check_seconds.clone(),
        );
        let inconsistent_students = gauge(
            &mut registry,
            "inconsistent_students",
            "Students whose balance differed from their ledger at the last check (before repair)",
        );
        let chain_ok = gauge(
            &mut registry,
            "hash_chain_ok",
            "1 when the ledger's hash chain verified at the last check, else 0",
        );
        let health = gauge(
            &mut registry,
            "health_status",
            "Last check: 0 healthy, 1 degraded, 2 unhealthy",
        );
        let open_alerts = gauge(
            &mut registry,
            "open_alerts",
            "Alerts raised and not yet resolved",
        );
        let monitor_runs = Counter::default();
        registry.register(
            "monitor_runs",
            "Consistency checks run (background, manual and API)",
            monitor_runs.clone(),
        );
        let backup_downloads = Counter::default();
        registry.register(
            "backup_downloads",
            "Copies of the whole database downloaded (GET /api/backup) since the server started",
            backup_downloads.clone(),
        );
        let connections = gauge(&mut registry, "http_connections", "Client connections open");
        let connection_limit = gauge(
            &mut registry,
            "http_connections_max",
            "Client connections the server keeps open at most; more wait to be accepted",
        );
        let connections_shed = Counter::default();
        registry.register(
            "http_connections_shed",
            "Idle client connections closed to make room for new clients at the connection limit",
            connections_shed.clone(),
        );
        let live_streams = crate::server::LiveStreamMetrics::default();
        registry.register(
            "live_streams",
            "Live-update streams open (boards, projectors, the monitor page)",
            live_streams.open.clone(),
        );
        registry.register(
            "live_streams_per_account_max",
            "Live-update streams one account keeps open at most; opening one more ends its oldest",
            live_streams.per_account.clone(),
        );
        registry.register(
            "live_streams_displaced",
            "Live-update streams ended because their account opened more than it may keep",
            live_streams.displaced.clone(),
        );
        registry.register_collector(Box::new(LedgerCollector {
            ledger: ledger.clone(),
        }));
        Self {
            registry,
            requests,
            latency,
            traffic: TrafficWindow::default(),
            consistency_rate,
            inconsistent_students,
            check_seconds,
            chain_ok,
            health,
            open_alerts,
            monitor_runs,
            backup_downloads,
            connections,
            connection_limit,
            connections_shed,
            live_streams,
        }
    }

    pub fn record_backup_download(&self) {
        self.backup_downloads.inc();
    }

    /// Counts one answered request.
    pub fn observe(
        &self,
        method: &str,
        route: String,
        status: StatusCode,
        elapsed: std::time::Duration,
    ) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route,
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.traffic
            .record(current_minute(), elapsed, status.is_server_error());
    }

    /// Publishes what a consistency run found (before any repair) and the alerts left open.
    pub fn record_check(&self, found: &ConsistencyReport, open_alerts: usize) {
        self.monitor_runs.inc();
        self.consistency_rate.set(found.consistency_rate);
        self.inconsistent_students
            .set(found.inconsistent_students + found.orphan_balances.len() as i64);
        self.check_seconds.set(found.duration_ms / 1000.0);
        self.chain_ok.set(i64::from(found.chain.ok));
        self.health.set(match found.status {
            HealthStatus::Healthy => 0,
            HealthStatus::Degraded => 1,
            HealthStatus::Unhealthy => 2,
        });
        self.open_alerts.set(open_alerts as i64);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The ledger's own counters (the writer, sign-ins), read at scrape time.
struct LedgerCollector {
    ledger: Ledger,
}

impl std::fmt::Debug for LedgerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerCollector")
    }
}

impl Collector for LedgerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.ledger.stats();
        let (wrong_credentials, refused_while_locked) = self.ledger.sign_in_throttle().refusals();
        let counters = [
            (
                "writer_commits",
                "Transactions the ledger writer committed (each holds a group of requests)",
                stats.batches.load(Relaxed),
            ),
            (
                "writer_requests",
                "Requests the ledger writer processed",
                stats.requests.load(Relaxed),
            ),
            (
                "writer_busy_retries",
                "Retries because another process held the database lock",
                stats.busy_retries.load(Relaxed),
            ),
            (
                "writer_group_reruns",
                "Groups run again with a savepoint per request after a request failed having written",
                stats.group_reruns.load(Relaxed),
            ),
            (
                "sign_in_failures",
                "Sign-ins refused for a wrong username or password",
                wrong_credentials,
            ),
            (
                "sign_in_refused_while_locked",
                "Sign-ins refused unchecked because the account was locked after failed attempts",
                refused_while_locked,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let mut rows = encoder.encode_descriptor(
            "ledger_rows_written",
            "Ledger rows appended since start, by transaction type (add_points are awards)",
            None,
            MetricType::Counter,
        )?;
        for (kind, count) in TransactionType::ALL.iter().zip(&stats.rows_by_type) {
            let labels = [("transaction_type", kind.as_str())];
            ConstCounter::new(count.load(Relaxed)).encode(rows.encode_family(&labels)?)?;
        }
        let locked = ConstGauge::new(
            self.ledger
                .sign_in_throttle()
                .locked(std::time::Instant::now())
                .len() as i64,
        );
        locked.encode(encoder.encode_descriptor(
            "sign_in_locked_accounts",
            "Usernames refusing sign-in now after failed attempts (unknown usernames included)",
            None,
            locked.metric_type(),
        )?)?;
        let depth = ConstGauge::new(self.ledger.queue_depth() as i64);
        depth.encode(encoder.encode_descriptor(
            "writer_queue_depth",
            "Requests waiting for the ledger writer",
            None,
            depth.metric_type(),
        )?)?;
        // Group sizes as a histogram: non-cumulative counts per bucket, as the encoder wants.
        let counts: Vec<u64> = stats.group_sizes.iter().map(|c| c.load(Relaxed)).collect();
        let buckets: Vec<(f64, u64)> = GROUP_SIZE_BOUNDS
            .iter()
            .zip(&counts)
            .map(|(bound, count)| (*bound as f64, *count))
            .chain([(f64::INFINITY, 0)])
            .collect();
        let count: u64 = counts.iter().sum();
        let sum = stats.requests.load(Relaxed) as f64;
        encoder
            .encode_descriptor(
                "writer_group_size",
                "Requests committed together in one transaction",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)
    }
}

/// The route label: the matched route pattern, never the raw path, so ids in URLs cannot
/// multiply the series. Requests no route matched are static files when found.
fn route_label(path: &str, matched: Option<&str>, status: StatusCode) -> String {
    match matched {
        Some(matched) => matched.to_owned(),
        None if path.starts_with("/pkg/") => "/pkg/*".to_owned(),
        None if status.is_success() || status.is_redirection() => "static".to_owned(),
        None => "unmatched".to_owned(),
    }
}

/// Middleware: times every request and counts it by route and final status.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let response = next.run(request).await;
    let route = route_label(&path, matched.as_deref(), response.status());
    metrics.observe(&method, route, response.status(), started.elapsed());
    response
}

/// The `/metrics` response.
pub fn exposition(metrics: &Metrics) -> Response {
    match metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(_) => crate::error::AppError::internal("cannot encode metrics").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_by_pattern_not_by_path() {
        assert_eq!(
            route_label("/pkg/classpoints.wasm", None, StatusCode::OK),
            "/pkg/*"
        );
        assert_eq!(route_label("/favicon.svg", None, StatusCode::OK), "static");
        assert_eq!(
            route_label("/whatever/123", None, StatusCode::NOT_FOUND),
            "unmatched"
        );
        assert_eq!(
            route_label("/class/abc", Some("/class/{id}"), StatusCode::OK),
            "/class/{id}"
        );
    }
}
