//! The database: which server to use, the connection pool, and the embedded migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use crate::config::{Config, DatabaseUrl};
use crate::postgres::{Binaries, ClusterOptions, LocalCluster, ProvisionError, WatchedCluster};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The database the private cluster serves the application from.
pub(crate) const LOCAL_DATABASE: &str = "clinical_sites";

/// The PostgreSQL server this process uses.
#[derive(Debug)]
pub enum Database {
    /// The server named by `DATABASE_URL`; nothing is started.
    External(Box<DatabaseUrl>),
    /// A private cluster under `DATA_DIR`, started (or adopted) by this process, started again if
    /// it dies, and stopped with the process.
    Local {
        /// The running cluster.
        cluster: WatchedCluster,
        /// Held while we run: one service per `DATA_DIR` (released by the kernel even on a crash).
        _lock: std::fs::File,
    },
    /// The private cluster of the service running on `DATA_DIR`, used by a command beside it and
    /// left running (and never restarted from here: its service watches it).
    Shared {
        /// The service's cluster.
        cluster: LocalCluster,
    },
}

/// What this process does with the private cluster, which decides how it shares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `serve`: one service per `DATA_DIR`; a second one is refused, and it waits for a command
    /// (below) that holds the folder to finish.
    Serve,
    /// A command (`migrate`, `admin`, `demo-data`): it uses the cluster of the service running on
    /// `DATA_DIR` when there is one (a second terminal beside `cargo run`), else starts the
    /// cluster itself for as long as it runs.
    Command(&'static str),
}

impl Usage {
    fn name(self) -> &'static str {
        match self {
            Self::Serve => "serve",
            Self::Command(name) => name,
        }
    }
}

impl Database {
    /// `DATABASE_URL` if set, else the private cluster in `DATA_DIR/postgres` (created on first run).
    ///
    /// Blocking: call before starting the async runtime (see [`crate::postgres`]).
    pub fn provision(config: &Config, usage: Usage) -> Result<Self, ProvisionError> {
        if let Some(url) = &config.database_url {
            return Ok(Self::External(Box::new(url.clone())));
        }
        let binaries = Binaries::find(config.postgres_bin_dir.as_deref())?;
        let cluster_dir = config.data_dir.join("postgres");
        let lock = match lock_data_dir(&config.data_dir, usage)? {
            Lock::Held(lock) => lock,
            Lock::ServedBy(pid) => {
                let cluster = LocalCluster::join(&cluster_dir)?;
                tracing::info!(
                    service = pid,
                    "using the private cluster of the service running on DATA_DIR"
                );
                return Ok(Self::Shared { cluster });
            }
        };
        let cluster = LocalCluster::start(
            &binaries,
            &ClusterOptions {
                data_dir: cluster_dir,
                log_file: config.data_dir.join("postgres.log"),
                durable: true,
            },
        )?;
        Ok(Self::Local {
            cluster: WatchedCluster::watch(cluster)?,
            _lock: lock,
        })
    }

    /// Where the application's data lives.
    pub fn connect_options(&self) -> PgConnectOptions {
        match self {
            Self::External(url) => url.connect_options(),
            Self::Local { cluster, .. } => cluster.connect_options(LOCAL_DATABASE),
            Self::Shared { cluster } => cluster.connect_options(LOCAL_DATABASE),
        }
    }

    /// A description for logs, without secrets.
    pub fn describe(&self) -> String {
        match self {
            Self::External(url) => url.redacted(),
            Self::Local { cluster, .. } => describe_private(cluster.data_dir(), cluster.linked_from()),
            Self::Shared { cluster } => describe_private(cluster.data_dir(), cluster.linked_from()),
        }
    }

    /// Creates the application database in a private cluster if it is missing. Safe when several
    /// instances start at once.
    pub async fn ensure_created(&self) -> Result<(), sqlx::Error> {
        if let Self::External(_) = self {
            return Ok(());
        }
        let admin = self.admin_options();
        let mut conn = PgConnection::connect_with(&admin).await?;
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from pg_database where datname = $1) as "exists!""#,
            LOCAL_DATABASE,
        )
        .fetch_one(&mut conn)
        .await?;
        if !exists {
            // Runtime SQL: a statement on the maintenance database, before the schema exists.
            match sqlx::query("create database clinical_sites").execute(&mut conn).await {
                Ok(_) => {}
                // 42P04 duplicate_database, 23505 unique_violation: another instance won the race.
                Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
                Err(e) => return Err(e),
            }
        }
        conn.close().await
    }

    /// The server's maintenance database (`postgres`), to create or rename the application's; with
    /// `DATABASE_URL`, the application database itself.
    pub(crate) fn admin_options(&self) -> PgConnectOptions {
        match self {
            Self::External(url) => url.connect_options(),
            Self::Local { cluster, .. } => cluster.connect_options("postgres"),
            Self::Shared { cluster } => cluster.connect_options("postgres"),
        }
    }

    /// Stops the private cluster, if this process runs one.
    pub fn shutdown(self) {
        if let Self::Local { cluster, .. } = self {
            cluster.stop();
        }
    }
}

fn describe_private(data_dir: &std::path::Path, linked_from: Option<&std::path::Path>) -> String {
    match linked_from {
        Some(link) => format!(
            "private cluster in {} (linked from {})",
            data_dir.display(),
            link.display()
        ),
        None => format!("private cluster in {}", data_dir.display()),
    }
}

/// The outcome of [`lock_data_dir`].
enum Lock {
    /// This process holds `DATA_DIR` (and runs its cluster).
    Held(std::fs::File),
    /// The service with this pid holds it; a command uses its cluster.
    ServedBy(u32),
}

/// Takes `DATA_DIR/service.lock`, which names its holder (`pid usage`), so that a second service on
/// the same folder fails at once instead of sharing (and later stopping) the first one's cluster,
/// a command beside a running service uses that service's cluster, and anyone else waits for the
/// command holding the folder to finish. The kernel releases the lock even on a crash.
fn lock_data_dir(data_dir: &std::path::Path, usage: Usage) -> Result<Lock, ProvisionError> {
    use std::io::{Seek, Write};
    use std::os::fd::AsRawFd;
    let io_error = |context: String| move |source| ProvisionError::Io { context, source };
    std::fs::create_dir_all(data_dir).map_err(io_error(format!("creating {}", data_dir.display())))?;
    let path = data_dir.join("service.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_error(format!("opening {}", path.display())))?;
    let flock = |file: &std::fs::File, flags| {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        unsafe { libc::flock(file.as_raw_fd(), flags) == 0 }
    };
    if !flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        let (pid, holder) = lock_holder(&mut file);
        let holder_usage = holder.as_str();
        match (usage, holder_usage) {
            (Usage::Serve, "serve") => {
                return Err(ProvisionError::Busy {
                    path: data_dir.to_path_buf(),
                });
            }
            (Usage::Command(_), "serve") => return Ok(Lock::ServedBy(pid)),
            _ => {
                tracing::info!(
                    pid,
                    command = holder_usage,
                    "waiting for the clinical-sites command using DATA_DIR to finish"
                );
                eprintln!(
                    "clinical-sites: waiting for `clinical-sites {holder_usage}` (pid {pid}), which is using {}, to finish",
                    data_dir.display()
                );
                if !flock(&file, libc::LOCK_EX) {
                    return Err(io_error(format!("locking {}", path.display()))(
                        std::io::Error::last_os_error(),
                    ));
                }
            }
        }
    }
    file.set_len(0)
        .map_err(io_error(format!("writing {}", path.display())))?;
    file.rewind().map_err(io_error(format!("writing {}", path.display())))?;
    writeln!(file, "{} {}", std::process::id(), usage.name())
        .map_err(io_error(format!("writing {}", path.display())))?;
    Ok(Lock::Held(file))
}

/// Who holds `service.lock`: its pid (0 if unreadable) and usage (`serve` or a command's name).
/// The holder writes them right after locking: give it a moment.
fn lock_holder(file: &mut std::fs::File) -> (u32, String) {
    use std::io::{Read, Seek};
    let mut holder = String::new();
    for _ in 0..50 {
        holder.clear();
        let _ = file.rewind();
        let _ = file.read_to_string(&mut holder);
        if holder.ends_with('\n') {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut words = holder.split_whitespace();
    let pid = words.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (pid, words.next().unwrap_or("serve").to_owned())
}

/// A pooled connection idle this long is pinged before it is used again.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(10);

/// Opens the application's connection pool. Connects lazily: the first query waits for the server.
pub fn pool(options: PgConnectOptions, max_connections: u32) -> PgPool {
    pool_options(max_connections, crate::postgres::connections_older_than_this_are_cut)
        .connect_lazy_with(session_options(options))
}

/// The settings every connection of the service has.
fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options
        .application_name("clinical-sites")
        // Requests are short and many: parallel workers cost more to start than they save,
        // and take cores from the other requests.
        .options([("max_parallel_workers_per_gather", "0")])
}

/// A pool to a read replica ([`crate::replica`]): as [`pool`], but a connection older than what
/// `cut` says (opened before the replica was last found down) is dropped rather than used.
pub(crate) fn replica_pool(
    options: PgConnectOptions,
    max_connections: u32,
    cut: impl Fn() -> Option<Duration> + Send + Sync + 'static,
) -> PgPool {
    pool_options(max_connections, cut)
        // A replica that is down answers reads from the primary: do not keep them waiting.
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(session_options(options))
}

/// `options` with PostgreSQL's `statement_timeout` set to `timeout`: for the service's pools, with
/// the request timeout, so that a statement of a request the service has already answered with a
/// 503 is cancelled rather than left running. Migrations and commands (`demo-data`, `admin`) run
/// without it: an index build may rightly take minutes.
pub fn with_statement_timeout(options: PgConnectOptions, timeout: Duration) -> PgConnectOptions {
    options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))])
}

/// A second pool to the same database, of the same size, for searches (their words and their
/// pages' sites): writes have connections of their own however many searches run
/// (docs/performance.md, "Writes under searches"). Connects lazily, like [`pool`].
pub(crate) fn search_pool(pool: &PgPool) -> PgPool {
    let options = (*pool.connect_options()).clone();
    pool_options(
        pool.options().get_max_connections(),
        crate::postgres::connections_older_than_this_are_cut,
    )
    .connect_lazy_with(options)
}

/// `cut`: the age past which a pooled connection is known to be cut (its server was found down
/// since it was opened).
fn pool_options(max_connections: u32, cut: impl Fn() -> Option<Duration> + Send + Sync + 'static) -> PgPoolOptions {
    let cut = std::sync::Arc::new(cut);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // A connection in steady use is known to work: pinging it before every request cost a
        // round trip each (a quarter of the search throughput, docs/performance.md). Only one that
        // sat idle (and may have been cut, e.g. by a database restart) is checked; a failed check
        // replaces it.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            let cut_after = (*cut)();
            Box::pin(async move {
                // Opened before its server (the private cluster, a replica) was last found down:
                // cut, so dropped (the pool opens another) rather than failing a request after the
                // recovery.
                if cut_after.is_some_and(|since| meta.age >= since) {
                    return Ok(false);
                }
                if meta.idle_for >= IDLE_CHECK_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Applies pending migrations. sqlx holds an advisory lock while it does, so instances starting at
/// the same time take turns and each finds the schema current.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Records this installation on first start: the row that proves data survives restarts, and the
/// key that signs search cursors (so cursors outlive restarts and work across instances).
pub async fn record_installation(pool: &PgPool) -> Result<(uuid::Uuid, [u8; 32]), sqlx::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random source");
    sqlx::query!(
        "insert into installation (installation_id, cursor_key) values ($1, $2) on conflict do nothing",
        uuid::Uuid::now_v7(),
        &key[..],
    )
    .execute(pool)
    .await?;
    // Installations from before cursor keys get one now.
    sqlx::query!(
        "update installation set cursor_key = $1 where cursor_key is null",
        &key[..]
    )
    .execute(pool)
    .await?;
    let row = sqlx::query!(r#"select installation_id, cursor_key as "cursor_key!" from installation"#)
        .fetch_one(pool)
        .await?;
    let id = row.installation_id;
    let key = row
        .cursor_key
        .try_into()
        .map_err(|_| sqlx::Error::Protocol("cursor_key is not 32 bytes".into()))?;
    Ok((id, key))
}
