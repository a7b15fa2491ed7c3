//! What every handler can reach: [`AppState`], one `Clone` struct passed with `State`.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;
use crate::{auth, db, replica, sites};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The application database.
    pub pool: PgPool,
    /// The same database, for searches ([`db::search_pool`]), so writes never wait behind them.
    pub search_pool: PgPool,
    /// The read replica, when `DATABASE_READ_URL` names one ([`replica`]).
    pub(crate) replica: Option<Arc<replica::Replica>>,
    /// The search index ([`sites::search::index`]).
    pub(crate) search: Arc<sites::search::index::SearchIndex>,
    /// The site summaries search pages showed last ([`sites::search::Summaries`]).
    pub(crate) summaries: Arc<sites::search::Summaries>,
    /// Where searches do their CPU-bound work: one thread per core, at a lower priority than
    /// everything else, so a write finds a core however many searches wait
    /// ([`sites::search::threads`]).
    pub(crate) search_threads: Arc<sites::search::threads::SearchThreads>,
    /// The configuration the service started with.
    pub(crate) config: Arc<Config>,
    /// The in-process rate limits.
    pub(crate) limits: Arc<Limits>,
    /// Signs search cursors. The service uses its installation's persistent key (see
    /// [`db::record_installation`]); a fresh state gets a random one.
    pub(crate) cursor_key: Arc<[u8; 32]>,
}

/// The rate limits of this process.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Every request, per credential or client address.
    pub(crate) requests: auth::rate_limit::RateLimiter,
    /// Sign-in attempts, per email and per client address.
    pub(crate) sign_in: auth::rate_limit::RateLimiter,
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
        let search_pool = db::search_pool(&pool);
        let replica = config.database_read_url.as_ref().map(|url| {
            replica::Replica::start(
                db::with_statement_timeout(url.connect_options(), config.request_timeout()),
                config.database_max_connections,
                config.database_read_max_lag,
                search_pool.clone(),
            )
        });
        Self {
            search_pool,
            replica,
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

    /// Builds the search index now rather than at the first search (which would wait for it).
    pub async fn build_search_index(&self) -> Result<(), sqlx::Error> {
        self.search.ready(&self.search_pool).await
    }

    /// Makes the search index read the change feed now, as its background sync does every
    /// second: for tools and tests that write rows directly rather than through the API.
    pub async fn sync_search_index(&self) -> Result<(), sqlx::Error> {
        self.search.catch_up(&self.pool).await
    }
}
