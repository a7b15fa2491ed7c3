//! Liveness and readiness probes for orchestrators and load balancers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::{ApiError, Problem};

/// How long `/readyz` waits for the database before answering 503.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The probe routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_healthz))
        .routes(routes!(get_readyz))
}

/// The answer of a probe that succeeded.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProbeStatus {
    /// `ok` for liveness, `ready` for readiness.
    pub(crate) status: ProbeState,
    /// Readiness with a read replica (`DATABASE_READ_URL`): whether public reads go to it, or to
    /// the primary and why. The service is ready either way: the primary serves every read the
    /// replica cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) replica: Option<crate::replica::ReplicaStatus>,
}

/// What a probe that succeeded says.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProbeState {
    /// The process is up (`/healthz`).
    Ok,
    /// The search index is built and the database answers (`/readyz`).
    Ready,
}

/// Liveness: the process is up and serving HTTP. Does not touch the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = OK, description = "The process is up.", body = ProbeStatus))
)]
pub(crate) async fn get_healthz() -> impl IntoResponse {
    no_store(ProbeStatus {
        status: ProbeState::Ok,
        replica: None,
    })
}

/// Readiness: the search index is built and the database answers within two seconds. Route
/// traffic here only while this is 200. With a read replica, also says whether reads go to it.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = OK, description = "Ready to serve requests.", body = ProbeStatus),
        (status = SERVICE_UNAVAILABLE, description = "The search index is still being built, or the database did not answer in time.",
         body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if state.search.is_building() {
        return Err(ApiError::unavailable("the search index is still being built"));
    }
    let ping = sqlx::query_scalar!("select 1 as ping").fetch_one(&state.pool);
    match tokio::time::timeout(READINESS_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(no_store(ProbeStatus {
            status: ProbeState::Ready,
            replica: state.replica.as_ref().map(|replica| replica.status()),
        })),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::unavailable("the database is not answering"))
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            Err(ApiError::unavailable("the database is not answering"))
        }
    }
}

fn no_store(body: ProbeStatus) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
}
