//! Housekeeping the service does on its own: rows whose time is over are deleted, so tables do not
//! grow with every request ever made.
//!
//! - idempotency keys older than 24 hours (a retry after that is a new request,
//!   [`crate::idempotency`]);
//! - sessions that expired, or were revoked more than a day ago (neither signs anything in).
//!
//! [`spawn`] runs [`purge`] every hour beside the service (and once at start); several instances
//! may run it at once (each delete is idempotent).
//!
//! [`spawn_fold`] folds the statistics' appended changes into their running counts four times a second
//! ([`crate::reports::tally::fold`]; reads are exact either way, the fold keeps them short).

use std::time::Duration;

use sqlx::PgPool;

/// How often the service purges.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Idempotency keys past their 24 hours.
    pub idempotency_keys: u64,
    /// Expired or long-revoked sessions.
    pub sessions: u64,
}

/// Deletes what is past its time, now.
pub async fn purge(pool: &PgPool) -> Result<Purged, sqlx::Error> {
    Ok(Purged {
        idempotency_keys: crate::idempotency::purge_expired(pool).await?,
        sessions: crate::sessions::purge_expired(pool).await?,
    })
}

/// Runs [`purge`] now and then every `every`, logging what it deleted, until aborted.
pub fn spawn(pool: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
    repeat(every, move || {
        let pool = pool.clone();
        async move {
            match purge(&pool).await {
                Ok(purged) if purged == Purged::default() => {}
                Ok(purged) => tracing::info!(
                    idempotency_keys = purged.idempotency_keys,
                    sessions = purged.sessions,
                    "purged expired rows"
                ),
                Err(error) => tracing::warn!(%error, "purging expired rows failed; retrying later"),
            }
        }
    })
}

/// How often the service folds the statistics' changes: often, so each fold is small (a burst of
/// work every second delayed the report writes beside it) and reads have few changes to add.
pub const FOLD_EVERY: Duration = Duration::from_millis(250);

/// Runs [`crate::reports::tally::fold`] every `every` until aborted.
pub fn spawn_fold(pool: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
    repeat(every, move || {
        let pool = pool.clone();
        async move {
            if let Err(error) = crate::reports::tally::fold(&pool).await {
                tracing::warn!(%error, "folding the statistics' changes failed; retrying");
            }
        }
    })
}

/// Runs `task` now and then every `every` (a late run delays the next), until aborted.
fn repeat<F, Fut>(every: Duration, task: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            task().await;
        }
    })
}
