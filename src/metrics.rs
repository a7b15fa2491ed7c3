//! Prometheus metrics: recorded through the `metrics` facade wherever something happens, kept by
//! `metrics-exporter-prometheus`'s recorder, and rendered in Prometheus's text format by
//! `GET /metrics` (on `BIND_ADDR`, or on a listener of its own at `METRICS_ADDR`).
//!
//! Every metric's name and meaning is here, in [`describe`]; docs/deployment.md lists them.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiError;

/// Requests answered, by matched route, method and status.
pub(crate) const REQUESTS: &str = "http_requests_total";
/// Seconds from a request's arrival to its response's head, by matched route and method.
pub(crate) const REQUEST_SECONDS: &str = "http_request_duration_seconds";
/// Requests being answered now.
pub(crate) const IN_FLIGHT: &str = "http_requests_in_flight";
/// Connections each pool holds, by pool and state (`idle`, `in_use`).
pub(crate) const POOL_CONNECTIONS: &str = "db_pool_connections";
/// Each pool's most connections.
pub(crate) const POOL_MAX: &str = "db_pool_max_connections";
/// Requests that waited for a connection until the pool's acquire timeout (answered with a 503).
pub(crate) const POOL_TIMEOUTS: &str = "db_pool_acquire_timeouts_total";
/// Times the private cluster was found dead and started again.
pub(crate) const CLUSTER_RESTARTS: &str = "private_cluster_restarts_total";
/// Experience reports written, by `action` (`created`, `updated`).
pub(crate) const REPORTS_WRITTEN: &str = "reports_written_total";
/// Import rows, by outcome (`created`, `updated`, `unchanged`, `rejected`).
pub(crate) const IMPORT_ROWS: &str = "import_rows_total";

/// The read replica's state (`DATABASE_READ_URL`): 1 for the current one of `starting`,
/// `serving`, `lagging`, `down`; reads go to the primary unless it is `serving`.
pub(crate) const REPLICA_STATE: &str = "db_replica_state";
/// Seconds the read replica is behind the primary, as last measured.
pub(crate) const REPLICA_LAG: &str = "db_replica_lag_seconds";
/// Public reads (a search's page, a site, reports, statistics, an export batch), by the server that
/// answered them (`replica`, `primary`).
pub(crate) const READS: &str = "db_reads_total";

/// The buckets of the latency histogram, in seconds: a search answers in milliseconds, an import
/// in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use: one per process, whatever the number of
/// applications built in it (tests build many; their counts add up).
pub(crate) fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.to_owned()), LATENCY_BUCKETS)
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows nothing");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "Requests answered, by matched route, method and status.");
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Time to answer a request, by matched route and method."
    );
    describe_gauge!(IN_FLIGHT, "Requests being answered now.");
    describe_gauge!(
        POOL_CONNECTIONS,
        "Connections each database pool holds, by pool and state (idle, in_use)."
    );
    describe_gauge!(POOL_MAX, "Each database pool's most connections.");
    describe_counter!(
        POOL_TIMEOUTS,
        "Requests that waited for a database connection until the acquire timeout."
    );
    describe_counter!(
        CLUSTER_RESTARTS,
        "Times the private PostgreSQL cluster was found dead and started again."
    );
    describe_counter!(
        REPORTS_WRITTEN,
        "Experience reports written, by action (created, updated)."
    );
    describe_gauge!(
        REPLICA_STATE,
        "The read replica's state, 1 for the current one (starting, serving, lagging, down); reads go \
         to the primary unless it is serving."
    );
    describe_gauge!(
        REPLICA_LAG,
        Unit::Seconds,
        "How far the read replica is behind the primary, as last measured."
    );
    describe_counter!(
        READS,
        "Public reads (search pages, sites, reports, statistics, export batches), by the server that \
         answered them (replica, primary)."
    );
    describe_counter!(
        IMPORT_ROWS,
        "Rows of finished imports, by outcome (created, updated, unchanged, rejected: a refused row \
         means its whole import wrote nothing)."
    );
}

/// Counts a finished import's rows.
pub(crate) fn imported(outcome: &crate::imports::Outcome) {
    use crate::imports::Outcome;
    let counts: &[(&'static str, u64)] = match outcome {
        Outcome::Imported {
            created,
            updated,
            unchanged,
        } => &[("created", *created), ("updated", *updated), ("unchanged", *unchanged)],
        Outcome::Rejected { rejected, .. } => &[("rejected", *rejected)],
        Outcome::Unreadable { .. } => &[],
    };
    for (outcome, count) in counts {
        metrics::counter!(IMPORT_ROWS, "outcome" => *outcome).increment(*count);
    }
}

/// Middleware: counts and times every request by its matched route (never the raw path, which
/// carries ids: one series per route, not per site), and keeps the in-flight gauge.
pub(crate) async fn track(request: Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let in_flight = InFlight::enter();
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!(REQUEST_SECONDS, "route" => route, "method" => method).record(started.elapsed());
    response
}

/// Counts a request in flight until dropped (also when the client goes away mid-request).
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!(IN_FLIGHT).increment(1);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(IN_FLIGHT).decrement(1);
    }
}

/// The metrics route, on the API's listener (where it answers 404 when `METRICS_ADDR` is set).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_metrics))
}

/// The metrics alone, for the listener at `METRICS_ADDR`.
pub fn private_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(render))
        .with_state(state)
}

/// The service's metrics, for Prometheus.
///
/// Prometheus's text exposition format: requests by route, method and status, latency histograms, requests in flight, the database pools, the read replica's state and lag, private-cluster restarts,
/// reports written. Exempt from the rate limit, like the probes. When the service is configured
/// with `METRICS_ADDR`, this route answers 404 here and the metrics are served on that address.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = OK, description = "The metrics, in Prometheus's text format 0.0.4.",
         body = String, content_type = "text/plain; version=0.0.4"),
        (status = NOT_FOUND, description = "The metrics are served on a listener of their own (`METRICS_ADDR`).",
         body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_metrics(State(state): State<AppState>) -> Response {
    if state.config.metrics_addr.is_some() {
        return ApiError::not_found("the metrics are served on the service's METRICS_ADDR").into_response();
    }
    render(State(state)).await
}

async fn render(State(state): State<AppState>) -> Response {
    // First: the gauges below are recorded only once the recorder is installed.
    let handle = handle();
    let replica = state.replica.as_ref().map(|replica| ("replica", replica.pool()));
    for (name, pool) in [("primary", &state.pool), ("search", &state.search_pool)]
        .into_iter()
        .chain(replica)
    {
        let (size, idle) = (f64::from(pool.size()), pool.num_idle() as f64);
        metrics::gauge!(POOL_CONNECTIONS, "pool" => name, "state" => "idle").set(idle);
        metrics::gauge!(POOL_CONNECTIONS, "pool" => name, "state" => "in_use").set((size - idle).max(0.0));
        metrics::gauge!(POOL_MAX, "pool" => name).set(f64::from(pool.options().get_max_connections()));
    }
    handle.run_upkeep();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        handle.render(),
    )
        .into_response()
}

/// Drains the recorded latencies into their buckets now and then, so memory stays bounded between
/// scrapes (or without any).
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            ticks.tick().await;
            handle().run_upkeep();
        }
    })
}
