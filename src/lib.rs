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
//! - [`openapi`]: the generated contract and `/docs`;
//! - resources: [`health`].

pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod health;
pub mod http;
pub mod openapi;
pub mod postgres;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The application database.
    pub pool: PgPool,
    /// The configuration the service started with.
    pub config: Arc<Config>,
}

/// Every API route with its OpenAPI description, one `merge` per resource.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).merge(health::router())
}

/// The whole application: API routes, documentation routes and middleware.
pub fn app(state: AppState) -> Router {
    let (routes, document) = api().split_for_parts();
    let config = state.config.clone();
    let router = routes.with_state(state).merge(openapi::docs_router(document));
    http::with_middleware(router, &config)
}
