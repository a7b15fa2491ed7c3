//! Read replicas (`DATABASE_READ_URL`): which server a request's reads go to.
//!
//! The public reads (a search's page of sites, a site, its reports, the statistics, an export) take
//! a [`Reads`], which is the replica while it keeps up and the primary otherwise. Everything else
//! (every write, every read inside a write, the search index's change feed, sign-in) uses the
//! primary's pools as before.
//!
//! - **Keeping up**: a monitor asks the replica twice a second how far it has replayed, and the
//!   primary how far it has written. The replica's lag is zero when it has replayed all the primary
//!   had written; else the time since its last replayed transaction (`pg_last_xact_replay_timestamp`)
//!   or since it was last seen caught up, whichever is less. Past `DATABASE_READ_MAX_LAG`, or when
//!   it does not answer, or when it is not a standby of ours any more, reads go to the primary until
//!   it is back; `/readyz` and the `db_replica_*` metrics say which.
//! - **Read-your-writes**: after a caller's write (any successful request that is not a `GET`,
//!   `HEAD` or `OPTIONS`), the primary's WAL position is remembered for the caller (a hash of their
//!   `Authorization` header, else of their address); their reads go to the primary until the replica
//!   has replayed past it. An entry is dropped once the replica passes it, or after
//!   `DATABASE_READ_MAX_LAG` plus a second (a replica that keeps within the bound has it by then).
//!   This holds per instance: behind a load balancer, send a caller to the same instance (or accept
//!   that another instance may show their write up to `DATABASE_READ_MAX_LAG` late).
//! - **Failing over**: a read on the replica that fails because the server is unreachable or going
//!   away is run again on the primary, and the replica is taken out until the monitor finds it well.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

/// How often the monitor looks at the replica.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// A check that has not answered after this long counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A state older than this (the monitor is stuck) is not trusted: reads go to the primary.
const STALE_AFTER: Duration = Duration::from_secs(3);
/// The most callers whose writes are remembered; past it, every caller reads from the primary
/// until the replica has replayed the newest forgotten write (memory stays bounded, reads stay
/// consistent).
const MAX_WRITERS: usize = 100_000;

/// A streaming replica of the primary, and what is known about it.
pub(crate) struct Replica {
    pool: PgPool,
    max_lag: Duration,
    seen: Mutex<Seen>,
    writers: Mutex<Writers>,
    /// When the replica was last found down (connections opened before are dropped).
    down_at: Mutex<Option<Instant>>,
}

/// What the monitor last found.
#[derive(Debug, Clone)]
struct Seen {
    health: ReplicaState,
    /// Seconds behind the primary.
    lag: Option<f64>,
    /// The WAL position the replica has replayed (bytes).
    replayed: u64,
    /// Why it does not serve, for `/readyz` and the log.
    detail: Option<String>,
    checked_at: Option<Instant>,
    /// When it was last seen to have replayed all the primary had written.
    caught_up_at: Option<Instant>,
}

/// Callers with writes the replica may not have yet.
#[derive(Debug, Default)]
struct Writers {
    /// Caller key → the primary's WAL position after their write, and when it was taken.
    pending: HashMap<[u8; 16], (u64, Instant)>,
    /// Every caller's floor once `pending` was full: the newest write not remembered.
    floor: Option<(u64, Instant)>,
}

/// The replica's state, as `/readyz` and the metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReplicaState {
    /// Not checked yet (the service is starting): reads go to the primary.
    Starting,
    /// Within `DATABASE_READ_MAX_LAG`: public reads go to it.
    Serving,
    /// Further behind than `DATABASE_READ_MAX_LAG`: reads go to the primary until it catches up.
    Lagging,
    /// Not answering (or not a replica any more): reads go to the primary until it is back.
    Down,
}

impl ReplicaState {
    const ALL: [Self; 4] = [Self::Starting, Self::Serving, Self::Lagging, Self::Down];

    fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Serving => "serving",
            Self::Lagging => "lagging",
            Self::Down => "down",
        }
    }
}

/// The replica, as `/readyz` reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ReplicaStatus {
    /// Whether public reads go to the replica (`serving`) or to the primary (any other state).
    pub(crate) state: ReplicaState,
    /// Seconds the replica is behind the primary, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) lag_seconds: Option<f64>,
    /// The most lag the service accepts (`DATABASE_READ_MAX_LAG`), in seconds.
    pub(crate) max_lag_seconds: f64,
    /// Why reads go to the primary, when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) detail: Option<String>,
}

impl Replica {
    /// The replica at `options` (a pool of `max_connections`), serving while within `max_lag`.
    /// Its monitor runs while the returned value lives, on the current runtime (none outside one:
    /// then reads stay on the primary).
    pub(crate) fn start(
        options: PgConnectOptions,
        max_connections: u32,
        max_lag: Duration,
        primary: PgPool,
    ) -> Arc<Self> {
        let replica = Arc::new_cyclic(|weak: &Weak<Self>| {
            let weak = weak.clone();
            let cut = move || {
                let replica = weak.upgrade()?;
                let down_at = *replica.down_at.lock().unwrap_or_else(PoisonError::into_inner);
                down_at.map(|at| at.elapsed())
            };
            Self {
                pool: crate::db::replica_pool(options.clone(), max_connections, cut),
                max_lag,
                seen: Mutex::new(Seen {
                    health: ReplicaState::Starting,
                    lag: None,
                    replayed: 0,
                    detail: Some("not checked yet".to_owned()),
                    checked_at: None,
                    caught_up_at: None,
                }),
                writers: Mutex::default(),
                down_at: Mutex::new(None),
            }
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(monitor(Arc::downgrade(&replica), options, primary));
        }
        replica
    }

    /// The replica's pool.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `/readyz` says of it.
    pub(crate) fn status(&self) -> ReplicaStatus {
        let seen = self.seen().clone();
        let stale = seen.checked_at.is_none_or(|at| at.elapsed() > STALE_AFTER);
        let (state, detail) = if stale && seen.health == ReplicaState::Serving {
            (
                ReplicaState::Down,
                Some("the replica has not been checked for several seconds".to_owned()),
            )
        } else {
            (seen.health, seen.detail)
        };
        ReplicaStatus {
            state,
            lag_seconds: seen.lag,
            max_lag_seconds: self.max_lag.as_secs_f64(),
            detail,
        }
    }

    /// Whether the caller `key` may read from the replica now: it serves, and it has replayed the
    /// caller's last write.
    fn serves(&self, key: &[u8; 16]) -> bool {
        let (replayed, serving) = {
            let seen = self.seen();
            let fresh = seen.checked_at.is_some_and(|at| at.elapsed() <= STALE_AFTER);
            (seen.replayed, seen.health == ReplicaState::Serving && fresh)
        };
        if !serving {
            return false;
        }
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        let expiry = self.write_expiry();
        if let Some((floor, at)) = writers.floor {
            if replayed >= floor || at.elapsed() > expiry {
                writers.floor = None;
            } else {
                return false;
            }
        }
        match writers.pending.get(key) {
            Some((written, at)) if replayed < *written && at.elapsed() <= expiry => false,
            Some(_) => {
                writers.pending.remove(key);
                true
            }
            None => true,
        }
    }

    /// How long a write is remembered: a replica within the lag bound has it by then.
    fn write_expiry(&self) -> Duration {
        self.max_lag + Duration::from_secs(1)
    }

    /// Remembers that caller `key` wrote up to the primary's WAL position `written` (`u64::MAX`
    /// when it could not be read: then they read from the primary until the entry expires).
    fn remember(&self, key: [u8; 16], written: u64) {
        let now = Instant::now();
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        if writers.pending.len() >= MAX_WRITERS && !writers.pending.contains_key(&key) {
            self.drop_replayed(&mut writers);
            if writers.pending.len() >= MAX_WRITERS {
                let floor = writers.floor.map_or(written, |(floor, _)| floor.max(written));
                writers.floor = Some((floor, now));
                return;
            }
        }
        writers.pending.insert(key, (written, now));
    }

    /// A read on the replica failed because it is unreachable: out until the monitor finds it well.
    fn take_out(&self, error: &ApiError) {
        let mut seen = self.seen();
        if seen.health == ReplicaState::Serving {
            tracing::warn!(%error, "a read on the replica failed; reads go to the primary until it is back");
            seen.health = ReplicaState::Down;
            seen.detail = Some("a read on the replica failed: the server is unreachable".to_owned());
            *self.down_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            drop(seen);
            record_state(ReplicaState::Down, None);
        }
    }

    /// Records a check's outcome.
    fn record(&self, outcome: Result<Check, String>) {
        let now = Instant::now();
        let mut seen = self.seen();
        let before = seen.health;
        match outcome {
            Ok(check) => {
                if check.caught_up {
                    seen.caught_up_at = Some(now);
                }
                let lag = if check.caught_up {
                    0.0
                } else {
                    let since_caught_up = seen.caught_up_at.map(|at| at.elapsed().as_secs_f64());
                    match (check.replay_age, since_caught_up) {
                        (Some(a), Some(b)) => a.min(b),
                        (Some(a), None) | (None, Some(a)) => a,
                        (None, None) => f64::INFINITY,
                    }
                };
                seen.replayed = check.replayed;
                seen.lag = lag.is_finite().then_some(lag);
                if !check.in_recovery {
                    // Promoted, or pointed at a primary: it is current, but it may not be ours.
                    seen.health = ReplicaState::Serving;
                    seen.detail = None;
                } else if lag <= self.max_lag.as_secs_f64() {
                    seen.health = ReplicaState::Serving;
                    seen.detail = None;
                } else {
                    seen.health = ReplicaState::Lagging;
                    seen.detail = Some(match seen.lag {
                        Some(lag) => format!(
                            "the replica is {lag:.1} s behind the primary, more than DATABASE_READ_MAX_LAG ({} s)",
                            self.max_lag.as_secs_f64()
                        ),
                        None => "the replica has not replayed anything from the primary yet".to_owned(),
                    });
                }
            }
            Err(reason) => {
                seen.health = ReplicaState::Down;
                seen.lag = None;
                seen.detail = Some(format!("the replica does not answer: {reason}"));
                *self.down_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
            }
        }
        seen.checked_at = Some(now);
        let (after, lag, detail) = (seen.health, seen.lag, seen.detail.clone());
        drop(seen);
        if after != before {
            match after {
                ReplicaState::Serving => tracing::info!(lag, "the replica serves reads"),
                _ => tracing::warn!(state = after.name(), detail, "reads go to the primary"),
            }
        }
        record_state(after, lag);
        self.forget_replayed();
    }

    /// Drops the writes the replica has replayed (or that expired).
    fn forget_replayed(&self) {
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_replayed(&mut writers);
    }

    fn drop_replayed(&self, writers: &mut Writers) {
        let replayed = self.seen().replayed;
        let expiry = self.write_expiry();
        writers
            .pending
            .retain(|_, (position, at)| *position > replayed && at.elapsed() <= expiry);
    }
}

fn record_state(health: ReplicaState, lag: Option<f64>) {
    for state in ReplicaState::ALL {
        let value = if state == health { 1.0 } else { 0.0 };
        metrics::gauge!(crate::metrics::REPLICA_STATE, "state" => state.name()).set(value);
    }
    if let Some(lag) = lag {
        metrics::gauge!(crate::metrics::REPLICA_LAG).set(lag);
    }
}

/// One look at the replica.
#[derive(Debug)]
struct Check {
    in_recovery: bool,
    replayed: u64,
    /// Seconds since the last transaction it replayed was committed on the primary.
    replay_age: Option<f64>,
    /// It has replayed all the primary had written just before.
    caught_up: bool,
}

/// Checks the replica every [`CHECK_EVERY`] while it is in use, on a connection of its own.
async fn monitor(replica: Weak<Replica>, options: PgConnectOptions, primary: PgPool) {
    let mut connection: Option<PgConnection> = None;
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(replica) = replica.upgrade() else {
            return;
        };
        let outcome = tokio::time::timeout(CHECK_TIMEOUT, check(&mut connection, &options, &primary))
            .await
            .unwrap_or_else(|_| Err("no answer within 2 s".to_owned()));
        if outcome.is_err() {
            connection = None;
        }
        replica.record(outcome);
    }
}

async fn check(
    connection: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    primary: &PgPool,
) -> Result<Check, String> {
    // The primary first: a replica that has replayed this much has all the primary had.
    let written = sqlx::query_scalar!(r#"select (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::int8 as "written!""#)
        .fetch_one(primary)
        .await
        .ok();
    if connection.is_none() {
        let options = options.clone().application_name("clinical-sites replica check");
        *connection = Some(PgConnection::connect_with(&options).await.map_err(|e| e.to_string())?);
    }
    let conn = connection.as_mut().expect("connected above");
    let row = sqlx::query!(
        r#"select pg_is_in_recovery() as "in_recovery!",
                  (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_flush_lsn() end
                     - '0/0'::pg_lsn)::int8 as replayed,
                  extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as replay_age"#
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| e.to_string())?;
    let replayed = row.replayed.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    Ok(Check {
        in_recovery: row.in_recovery,
        replayed,
        replay_age: row.replay_age.map(|age| age.max(0.0)),
        caught_up: !row.in_recovery || written.is_some_and(|w| u64::try_from(w).is_ok_and(|w| replayed >= w)),
    })
}

/// Who is calling, for read-your-writes: a hash of the `Authorization` header, else of the address.
fn caller_key(headers: &HeaderMap, extensions: &axum::http::Extensions) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    match headers.get(header::AUTHORIZATION) {
        Some(credential) => {
            hasher.update(b"credential:");
            hasher.update(credential.as_bytes());
        }
        None => {
            let address = crate::http::client_ip(extensions)
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            hasher.update(b"address:");
            hasher.update(address.as_bytes());
        }
    }
    let mut key = [0u8; 16];
    key.copy_from_slice(&hasher.finalize()[..16]);
    key
}

/// Middleware: after a caller's successful write, remembers how far the primary had written, so
/// that their reads stay on the primary until the replica has it.
pub(crate) async fn remember_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(replica) = state.replica.clone() else {
        return next.run(request).await;
    };
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let key = writes.then(|| caller_key(request.headers(), request.extensions()));
    let response = next.run(request).await;
    if let Some(key) = key
        && response.status().is_success()
    {
        let written =
            sqlx::query_scalar!(r#"select (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8 as "written!""#)
                .fetch_one(&state.pool)
                .await
                .ok()
                .and_then(|n| u64::try_from(n).ok());
        replica.remember(key, written.unwrap_or(u64::MAX));
    }
    response
}

/// Where a request's public reads go: the replica when it serves this caller, else the primary.
#[derive(Clone)]
pub(crate) struct Reads {
    primary: PgPool,
    replica: Option<Arc<Replica>>,
}

impl Reads {
    /// Reads on the primary only (commands, background work).
    pub(crate) fn primary(state: &AppState) -> Self {
        Self {
            primary: state.search_pool.clone(),
            replica: None,
        }
    }

    /// Runs `read` on a connection to the replica when it serves this caller, else to the primary;
    /// once more on the primary if the replica turns out unreachable. (`read` takes the connection
    /// itself: a future borrowing it would not be `Send` for every borrow, which handlers need.)
    pub(crate) async fn run<T, F, Fut>(&self, read: F) -> Result<T, ApiError>
    where
        F: Fn(PoolConnection<Postgres>) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        if let Some(replica) = &self.replica {
            let outcome = match replica.pool.acquire().await {
                Ok(conn) => read(conn).await,
                Err(error) => Err(ApiError::from(error)),
            };
            match outcome {
                Err(error) if error.is_database_unavailable() => replica.take_out(&error),
                outcome => {
                    metrics::counter!(crate::metrics::READS, "server" => "replica").increment(1);
                    return outcome;
                }
            }
        }
        metrics::counter!(crate::metrics::READS, "server" => "primary").increment(1);
        read(self.primary.acquire().await?).await
    }
}

impl FromRequestParts<AppState> for Reads {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let replica = state
            .replica
            .as_ref()
            .filter(|replica| replica.serves(&caller_key(&parts.headers, &parts.extensions)))
            .cloned();
        Ok(Self {
            primary: state.search_pool.clone(),
            replica,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica() -> Replica {
        Replica {
            pool: sqlx::postgres::PgPoolOptions::new().connect_lazy_with(PgConnectOptions::new()),
            max_lag: Duration::from_secs(5),
            seen: Mutex::new(Seen {
                health: ReplicaState::Starting,
                lag: None,
                replayed: 0,
                detail: None,
                checked_at: None,
                caught_up_at: None,
            }),
            writers: Mutex::default(),
            down_at: Mutex::new(None),
        }
    }

    fn check(replayed: u64, replay_age: Option<f64>, caught_up: bool) -> Result<Check, String> {
        Ok(Check {
            in_recovery: true,
            replayed,
            replay_age,
            caught_up,
        })
    }

    #[tokio::test]
    async fn a_caller_reads_from_the_primary_until_the_replica_has_their_write() {
        let replica = replica();
        let (writer, other) = ([1; 16], [2; 16]);
        assert!(!replica.serves(&other), "not checked yet");
        replica.record(check(100, Some(0.0), true));
        assert!(replica.serves(&writer) && replica.serves(&other));
        replica.remember(writer, 150);
        assert!(!replica.serves(&writer), "the replica has replayed 100 of 150");
        assert!(replica.serves(&other), "other callers still read from the replica");
        replica.record(check(150, Some(0.0), true));
        assert!(replica.serves(&writer), "replayed past the write");
        assert!(replica.writers.lock().unwrap().pending.is_empty());
    }

    #[tokio::test]
    async fn lag_past_the_bound_and_failed_checks_send_reads_to_the_primary() {
        let replica = replica();
        let key = [3; 16];
        replica.record(check(10, Some(60.0), false));
        assert_eq!(
            replica.status().state,
            ReplicaState::Lagging,
            "no catch-up seen, an old replayed transaction"
        );
        assert!(!replica.serves(&key));
        replica.record(check(20, Some(60.0), true));
        assert_eq!(
            replica.status().state,
            ReplicaState::Serving,
            "caught up: an idle primary is no lag"
        );
        replica.record(check(30, Some(60.0), false));
        assert_eq!(
            replica.status().state,
            ReplicaState::Serving,
            "behind for less than a check since caught up"
        );
        assert!(replica.status().lag_seconds.unwrap() < 1.0);
        replica.record(Err("connection refused".to_owned()));
        let status = replica.status();
        assert_eq!(status.state, ReplicaState::Down);
        assert!(status.detail.unwrap().contains("connection refused"));
        assert!(!replica.serves(&key));
        assert!(
            replica.down_at.lock().unwrap().is_some(),
            "its pooled connections are cut"
        );
        replica.record(check(40, Some(0.1), true));
        assert!(replica.serves(&key), "back");
    }

    #[tokio::test]
    async fn remembered_writes_stay_bounded_and_a_full_table_holds_everyone_to_the_newest_write() {
        let replica = replica();
        replica.record(check(0, Some(0.0), true));
        for n in 0..MAX_WRITERS as u64 {
            let mut key = [0; 16];
            key[..8].copy_from_slice(&n.to_le_bytes());
            replica.remember(key, 10);
        }
        replica.remember([0xff; 16], 20);
        let writers = replica.writers.lock().unwrap();
        assert_eq!(writers.pending.len(), MAX_WRITERS);
        assert_eq!(writers.floor.map(|(floor, _)| floor), Some(20));
        drop(writers);
        assert!(
            !replica.serves(&[0xee; 16]),
            "a caller never seen waits for the forgotten write"
        );
        replica.record(check(20, Some(0.0), true));
        assert!(replica.serves(&[0xee; 16]));
        assert!(replica.writers.lock().unwrap().pending.is_empty());
    }
}
