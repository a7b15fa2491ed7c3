//! The HTTP edge: middleware every request passes through, the fallbacks, and the server loop with
//! its connection limits and graceful shutdown (`server.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use axum::response::IntoResponse;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::config::{Config, CorsOrigin};
use crate::error::{ApiError, PROBLEM_JSON};
use crate::extract::BodyLimit;

pub(crate) mod conditional;
mod server;

pub use server::{ServeOptions, serve};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the middleware every request passes through, outermost first: request id,
/// tracing span, metrics ([`crate::metrics::track`]), CORS, security headers, the in-flight bound,
/// compression, problem+json for bare middleware errors, timeout, body limit, panic catching. Also
/// installs the 404 and 405 fallbacks.
pub fn with_middleware(router: Router, config: &Config) -> Router {
    with_middleware_and_bulk(router, Router::new(), config)
}

/// [`with_middleware`], with `bulk` routes (imports) that stream large bodies for long: they
/// get their own body limit (`IMPORT_MAX_BYTES`) and no request timeout; everything else is
/// the same.
pub fn with_middleware_and_bulk(router: Router, bulk: Router, config: &Config) -> Router {
    let body_limit = config.max_body_bytes;
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight as usize));
    let catch_panic = || {
        CatchPanicLayer::custom(|_panic| {
            // The panic message is printed by the panic hook; the client learns nothing of it.
            ApiError::internal("a handler panicked").into_response()
        })
    };
    let router = router
        .layer(catch_panic())
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::Extension(BodyLimit(config.max_body_bytes)))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout(),
        ));
    let bulk = bulk
        .layer(catch_panic())
        .layer(DefaultBodyLimit::disable())
        .layer(axum::Extension(BodyLimit(config.import_max_bytes)))
        .layer(RequestBodyLimitLayer::new(config.import_max_bytes));
    router
        .merge(bulk)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(move |response| {
            problem_for_bare_errors(response, body_limit)
        }))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(in_flight, limit_in_flight))
        // No MIME sniffing (a JSON body is never run as a script or page), no referrer leaving
        // the page, and the content security policy.
        .layer(security_header("content-security-policy", CONTENT_SECURITY_POLICY))
        .layer(security_header("x-content-type-options", "nosniff"))
        .layer(security_header("referrer-policy", "no-referrer"))
        .layer(cors(&config.cors_allowed_origins))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(|response: &Response<Body>, latency: Duration, span: &Span| {
                    span.record("status", response.status().as_u16());
                    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
                    tracing::info!("finished");
                })
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// Content Security Policy of every response: JSON needs none of it, and the offline `/docs` page
/// (Swagger UI, served from this origin: its scripts are files, its styles partly inline, its icons
/// data URIs) works under it. No framing, no other origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Sets a header on every response that does not have one.
fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(HeaderName::from_static(name), HeaderValue::from_static(value))
}

/// A client's request id is echoed and logged: keep only short, plain ones (a fresh id replaces the
/// rest), so nobody can write arbitrary text into the logs.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(&X_REQUEST_ID).is_none_or(|id| {
        (1..=128).contains(&id.len())
            && id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !usable {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

/// One span per request: method, matched route (never the raw path, which may carry identifiers),
/// request id; the caller's account id once a credential is checked ([`crate::auth::MaybeCaller`]);
/// status and latency when the response is ready. Never a header's value, a query or a body: no
/// password, token or `Authorization` header reaches the log.
fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", |path| path.as_str());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        account_id = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

fn cors(origins: &[CorsOrigin]) -> CorsLayer {
    let allow_origin = if origins.contains(&CorsOrigin::Any) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|origin| match origin {
            CorsOrigin::Exact(value) => Some(value.clone()),
            CorsOrigin::Any => None,
        }))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            X_REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            header::LINK,
            header::LOCATION,
            header::RETRY_AFTER,
            X_REQUEST_ID,
        ])
        .max_age(Duration::from_secs(3600))
}

/// The probes and the metrics: exempt from the rate limit and the in-flight bound, since load
/// balancers and Prometheus poll them and they must answer whatever the load.
pub(crate) const PROBES: &[&str] = &["/healthz", "/readyz", "/metrics"];

fn is_probe(path: &str) -> bool {
    PROBES.contains(&path)
}

/// Bounds the requests being answered at once (`MAX_IN_FLIGHT`). One past the bound is answered
/// at once with a 503 `unavailable` problem and `Retry-After: 1` rather than queued: an overload
/// is shed where it costs least, the client learns to come back, and nothing waits in a queue
/// longer than it would have taken to retry. Probes are not counted, so `/healthz` answers whatever
/// the load.
async fn limit_in_flight(
    axum::extract::State(permits): axum::extract::State<Arc<Semaphore>>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if is_probe(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_permit) = permits.try_acquire() else {
        return ApiError::overloaded().into_response();
    };
    next.run(request).await
}

/// Middleware (timeout, body limit) answers with bare statuses; give them the problem body every
/// error of this API has. Responses that already are problems pass through untouched.
async fn problem_for_bare_errors(response: Response<Body>, body_limit: usize) -> Response<Body> {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(Some(body_limit)),
        status => ApiError::from_status(status),
    }
    .into_response()
}

/// The client's IP address when the server knows it (a real socket; absent in in-process tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(&parts.extensions)))
    }
}

pub(crate) fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The general request rate limit: per client address, and also per credential (a hash of the
/// `Authorization` header) when one is sent. The address always counts, so sending made-up
/// credentials cannot buy fresh allowances. Probes are exempt: load balancers poll them.
pub(crate) async fn rate_limit(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if is_probe(request.uri().path()) {
        return next.run(request).await;
    }
    let address = client_ip(request.extensions()).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let mut keys = vec![format!("address:{address}")];
    if let Some(credential) = request.headers().get(header::AUTHORIZATION) {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(credential.as_bytes());
        keys.push(format!("credential:{}", crate::auth::token::hex(&digest[..16])));
    }
    for key in keys {
        if let Err(retry_after) = state.limits.requests.check(&key) {
            return ApiError::too_many_requests(retry_after).into_response();
        }
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::not_found("no resource at this URL; the API is described at /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed("this URL does not support this method; see the Allow header")
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a signal that arrives as soon as the service answers (before
/// the server's loop has looked at this future) shuts it down gracefully instead of killing it.
/// Call it within the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    }
}
