//! clinical-sites: a JSON API listing clinical training sites for radiologic technologists.
//!
//! Reading order: `migrations/`, then `main.rs`, this file, then each resource folder. This file
//! only assembles the application; each module owns one concern:
//!
//! - [`config`]: every setting, read from the environment;
//! - [`postgres`]: the private PostgreSQL cluster used when `DATABASE_URL` is unset;
//! - [`db`]: which database, the pool, the migrations;
//! - [`error`]: the one problem+json error type; [`extract`]: extractors that reject with it;
//! - [`http`]: middleware, fallbacks, graceful shutdown; [`telemetry`]: logs;
//! - [`openapi`]: the generated contract and `/docs`; [`demo_data`]: the synthetic directory of
//!   `clinical-sites demo-data`;
//! - [`auth`]: who is calling (the `Caller` extractor), passwords, tokens, rate limits;
//! - [`patch`]: tri-state PATCH fields; [`body`]: request bodies read field by field; [`pagination`]: limit and cursor; [`idempotency`]: safe
//!   retries of creating requests; [`geo`]: ZIP centroids and distances; [`maintenance`]: the
//!   periodic purge of expired rows;
//! - resources: [`health`], [`accounts`], [`sessions`], [`api_keys`], [`vocabulary`], [`sites`]
//!   (with claims and history), [`reports`] (members' experience reports and the statistics).

pub mod accounts;
pub(crate) mod api_keys;
pub mod auth;
pub mod backup;
pub(crate) mod body;
pub mod config;
pub mod db;
pub mod demo_data;
pub mod error;
pub mod extract;
pub mod geo;
pub(crate) mod health;
pub mod http;
pub(crate) mod idempotency;
pub mod imports;
pub mod maintenance;
pub mod metrics;
pub mod openapi;
pub(crate) mod pagination;
pub(crate) mod patch;
pub mod postgres;
pub(crate) mod replica;
pub mod reports;
pub(crate) mod sessions;
pub mod sites;
pub mod telemetry;
pub mod vocabulary;

mod state;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use state::AppState;

/// Every API route with its OpenAPI description, one `merge` per resource.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    standard_api().merge(bulk_api())
}

/// The routes that stream large bodies for long (imports): served without the API's body limit
/// and request timeout, with their own limit (`IMPORT_MAX_BYTES`).
fn bulk_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(imports::router())
}

/// Every other route.
fn standard_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(api_keys::router())
        .merge(vocabulary::router())
        .merge(sites::router())
        .merge(reports::router())
        .merge(metrics::router())
}

/// The whole application: API routes, documentation routes and middleware.
pub fn app(state: AppState) -> Router {
    metrics::handle();
    let (routes, mut document) = standard_api().split_for_parts();
    let (bulk, bulk_document) = bulk_api().split_for_parts();
    document.merge(bulk_document);
    let config = state.config.clone();
    let catch_up = axum::middleware::from_fn_with_state(state.clone(), sites::search::catch_up_after_writes);
    let remember_writes = axum::middleware::from_fn_with_state(state.clone(), replica::remember_writes);
    let router = routes
        .layer(catch_up.clone())
        .layer(remember_writes.clone())
        .with_state(state.clone())
        .merge(openapi::docs_router(document));
    let bulk = bulk.layer(catch_up).layer(remember_writes).with_state(state.clone());
    let rate_limit = axum::middleware::from_fn_with_state(state, http::rate_limit);
    http::with_middleware_and_bulk(router.layer(rate_limit.clone()), bulk.layer(rate_limit), &config)
}
