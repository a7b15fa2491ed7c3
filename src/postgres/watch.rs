//! Keeps the private cluster running: a thread notices when the postmaster has died (killed,
//! crashed, stopped by someone else), logs it, and starts it again on the same folder, socket and
//! settings, retrying with backoff, until the cluster is stopped.
//!
//! Acknowledged writes survive because PostgreSQL's own durability is left on for the service's
//! cluster (`fsync`, `synchronous_commit`, `full_page_writes`: see [`super::ClusterOptions`]): a
//! commit that was answered is in the WAL on disk, and the restarted server replays the WAL (crash
//! recovery) before it accepts connections. Meanwhile requests get 503 `unavailable`
//! ([`crate::error`]). Once the server is found dead, every pooled connection opened before is
//! known to be cut: [`connections_older_than_this_are_cut`] says so, and the pools drop such a
//! connection instead of handing it to a request (which would get a 503 after the recovery).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

use super::{LocalCluster, ProvisionError, io_context};

/// How often the postmaster is looked at.
const POLL: Duration = Duration::from_millis(250);
/// The wait before a second attempt to start it; doubled after each failure, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// When this process last found its cluster's postmaster dead, in nanoseconds after [`EPOCH`]
/// (0: never).
static LAST_DEATH: AtomicU64 = AtomicU64::new(0);
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Records that the server died now: every connection opened until now is cut.
fn mark_death() {
    let nanos = u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
    LAST_DEATH.store(nanos, Ordering::Release);
}

/// The time since this process last found its cluster dead (`None` if it never did): a pooled
/// connection older than this was opened to the dead server and is cut.
pub(crate) fn connections_older_than_this_are_cut() -> Option<Duration> {
    match LAST_DEATH.load(Ordering::Acquire) {
        0 => None,
        nanos => Some(EPOCH.elapsed().saturating_sub(Duration::from_nanos(nanos))),
    }
}

/// A cluster this process owns, started again whenever its postmaster dies. Stopping it (or
/// dropping it) ends the watch first, then stops the server: a shutdown is never mistaken for a
/// death.
#[derive(Debug)]
pub struct WatchedCluster {
    shared: Arc<Shared>,
    watcher: Option<JoinHandle<()>>,
    /// Connection options for the `postgres` database (the socket never moves on a restart).
    connect: PgConnectOptions,
    data_dir: PathBuf,
    linked_from: Option<PathBuf>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug)]
struct State {
    /// `None` once stopped.
    cluster: Option<LocalCluster>,
    stopping: bool,
}

/// A restart under way: when the server was found dead, and the wait before the next attempt
/// (zero before the first, which is made at once).
#[derive(Clone, Copy)]
struct Restarting {
    since: Instant,
    backoff: Duration,
}

impl WatchedCluster {
    /// Watches `cluster` from a thread of its own.
    pub(crate) fn watch(cluster: LocalCluster) -> Result<Self, ProvisionError> {
        let connect = cluster.connect_options("postgres");
        let data_dir = cluster.data_dir().to_path_buf();
        let linked_from = cluster.linked_from().map(Path::to_path_buf);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cluster: Some(cluster),
                stopping: false,
            }),
            wake: Condvar::new(),
        });
        let watcher = std::thread::Builder::new()
            .name("postgres-watch".into())
            .spawn({
                let shared = shared.clone();
                move || watch(&shared)
            })
            .map_err(io_context("starting the postgres watch thread"))?;
        Ok(Self {
            shared,
            watcher: Some(watcher),
            connect,
            data_dir,
            linked_from,
        })
    }

    /// Options for connecting to `database` on this cluster as the superuser `postgres`.
    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        self.connect.clone().database(database)
    }

    /// The cluster's folder.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The folder asked for, when it is a symbolic link to [`WatchedCluster::data_dir`].
    pub(crate) fn linked_from(&self) -> Option<&Path> {
        self.linked_from.as_deref()
    }

    /// Ends the watch, then stops the server (fast shutdown; see [`LocalCluster::stop`]).
    pub(crate) fn stop(self) {
        drop(self);
    }
}

impl Drop for WatchedCluster {
    fn drop(&mut self) {
        let cluster = {
            let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.stopping = true;
            state.cluster.take()
        };
        self.shared.wake.notify_all();
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        if let Some(cluster) = cluster {
            cluster.stop();
        }
    }
}

/// The watch thread: looks at the postmaster every [`POLL`]; once it is gone, starts it again,
/// immediately and then with backoff, until it runs or the cluster is stopped.
fn watch(shared: &Shared) {
    let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut restarting: Option<Restarting> = None;
    loop {
        let pause = restarting.map_or(POLL, |r| r.backoff);
        state = shared
            .wake
            .wait_timeout(state, pause)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if state.stopping {
            return;
        }
        let Some(cluster) = state.cluster.as_mut() else {
            return;
        };
        let attempt = match restarting {
            Some(attempt) => attempt,
            None => {
                let Some(exit) = cluster.exited() else {
                    continue;
                };
                mark_death();
                tracing::error!(
                    pid = cluster.pid(),
                    exit = %exit,
                    data_dir = %cluster.data_dir().display(),
                    "PostgreSQL exited while the service was using it; starting it again"
                );
                Restarting {
                    since: Instant::now(),
                    backoff: Duration::ZERO,
                }
            }
        };
        match cluster.restart() {
            Ok(()) => {
                tracing::info!(
                    pid = cluster.pid(),
                    down_ms = attempt.since.elapsed().as_millis() as u64,
                    "PostgreSQL started again after it exited"
                );
                metrics::counter!(crate::metrics::CLUSTER_RESTARTS).increment(1);
                restarting = None;
            }
            Err(error) => {
                let backoff = (attempt.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
                tracing::warn!(
                    retry_in_ms = backoff.as_millis() as u64,
                    "PostgreSQL did not start again yet: {error}"
                );
                restarting = Some(Restarting { backoff, ..attempt });
            }
        }
    }
}
