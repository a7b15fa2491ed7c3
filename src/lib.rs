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
//! - [`patch`]: tri-state PATCH fields; [`pagination`]: limit and cursor; [`idempotency`]: safe
//!   retries of creating requests; [`geo`]: ZIP centroids and distances; [`maintenance`]: the
//!   periodic purge of expired rows;
//! - resources: [`health`], [`accounts`], [`sessions`], [`api_keys`], [`vocabulary`], [`sites`]
//!   (with claims and history).

pub mod accounts;
pub mod api_keys;
pub mod auth;
pub mod config;
pub mod db;
pub mod demo_data;
pub mod error;
pub mod extract;
pub mod geo;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod maintenance;
pub mod openapi;
pub mod pagination;
pub mod patch;
pub mod postgres;
pub mod sessions;
pub mod sites;
pub mod telemetry;
pub mod vocabulary;

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
    /// The same database, for searches ([`db::search_pool`]), so writes never wait behind them.
    pub search_pool: PgPool,
    /// The search index ([`sites::search::index`]).
    pub search: Arc<sites::search::index::SearchIndex>,
    /// The site summaries search pages showed last ([`sites::search::Summaries`]).
    pub summaries: Arc<sites::search::Summaries>,
    /// Where searches do their CPU-bound work: one thread per core, at a lower priority than
    /// everything else, so a write finds a core however many searches wait
    /// ([`sites::search::threads`]).
    pub search_threads: Arc<sites::search::threads::SearchThreads>,
    /// The configuration the service started with.
    pub config: Arc<Config>,
    /// The in-process rate limits.
    pub limits: Arc<Limits>,
    /// Signs search cursors. The service uses its installation's persistent key (see
    /// [`db::record_installation`]); a fresh state gets a random one.
    pub cursor_key: Arc<[u8; 32]>,
}

/// The rate limits of this process.
#[derive(Debug)]
pub struct Limits {
    /// Every request, per credential or client address.
    pub requests: auth::rate_limit::RateLimiter,
    /// Sign-in attempts, per email and per client address.
    pub sign_in: auth::rate_limit::RateLimiter,
}

impl AppState {
    /// The state for `pool` and `config`, with fresh rate limits.
    pub fn new(pool: PgPool, config: Config) -> Self {
        let limits = Limits {
            requests: auth::rate_limit::RateLimiter::per_minute(config.rate_limit_per_minute),
            sign_in: auth::rate_limit::RateLimiter::per_minute(config.sign_in_attempts_per_minute),
        };
        let mut cursor_key = [0u8; 32];
        getrandom::fill(&mut cursor_key).expect("the operating system's random source");
        Self {
            search_pool: db::search_pool(&pool),
            search: Arc::default(),
            summaries: Arc::default(),
            search_threads: Arc::new(sites::search::threads::SearchThreads::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            pool,
            config: Arc::new(config),
            limits: Arc::new(limits),
            cursor_key: Arc::new(cursor_key),
        }
    }

    /// The same state, signing cursors with `key`.
    pub fn with_cursor_key(mut self, key: [u8; 32]) -> Self {
        self.cursor_key = Arc::new(key);
        self
    }
}

/// Every API route with its OpenAPI description, one `merge` per resource.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(api_keys::router())
        .merge(vocabulary::router())
        .merge(sites::router())
}

/// The whole application: API routes, documentation routes and middleware.
pub fn app(state: AppState) -> Router {
    let (routes, document) = api().split_for_parts();
    let config = state.config.clone();
    let router = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            sites::search::catch_up_after_writes,
        ))
        .with_state(state.clone())
        .merge(openapi::docs_router(document))
        .layer(axum::middleware::from_fn_with_state(state, http::rate_limit));
    http::with_middleware(router, &config)
}
