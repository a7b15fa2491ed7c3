//! A private PostgreSQL cluster started from the server binaries on this machine.
//!
//! Used by the service when `DATABASE_URL` is unset and by the test suite. The cluster lives in one
//! folder, listens only on a Unix socket inside it (no TCP port, so checkouts never collide), and is
//! stopped with a fast shutdown when its [`LocalCluster`] is stopped or dropped.
//!
//! - **Root**: PostgreSQL refuses to run as root, so as root the cluster runs as the unprivileged
//!   `postgres` user (or `nobody`), owning its folder. When that user cannot reach the folder asked
//!   for (a checkout in `/root`, mode 0700), the cluster is placed under [`RELOCATION_ROOT`] instead
//!   and the folder asked for becomes a symbolic link to it, which later runs follow (see
//!   [`place_data_dir`]).
//! - **Orphans**: the postmaster gets `SIGINT` (fast shutdown) when the process that started it dies,
//!   even by `SIGKILL` (Linux parent-death signal), and runs in its own process group so a terminal's
//!   Ctrl-C reaches the service first, which then stops requests before the database.
//! - **Recovery**: a `postmaster.pid` whose process is gone (or is not PostgreSQL) is stale and
//!   removed; a PostgreSQL still running on the folder is adopted (and stopped with ours), or stopped
//!   and restarted when it does not become ready.
//! - **Watch**: the service's cluster is watched and started again when its postmaster dies
//!   ([`WatchedCluster`], `watch.rs`); a joined one never is.
//!
//! Everything here is blocking: call it before starting the async runtime, or from a blocking task.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;

mod watch;

pub(crate) use watch::{WatchedCluster, connections_older_than_this_are_cut};

/// How long a cluster may take to start, and to stop, before we escalate.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH: usize = 100;
/// Where, as root, a cluster goes when the unprivileged user cannot reach the folder asked for.
pub const RELOCATION_ROOT: &str = "/var/lib/clinical-sites";
/// The port only names the socket file (`.s.PGSQL.5432`): nothing listens on TCP.
const SOCKET_PORT: u16 = 5432;

/// Why a private cluster could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// No server binaries anywhere we looked.
    #[error(
        "no PostgreSQL available: set DATABASE_URL to an existing PostgreSQL server, or install the PostgreSQL \
         server binaries (initdb, postgres; e.g. `apt-get install postgresql`) (searched: {searched})"
    )]
    NotFound {
        /// The folders searched, for the message.
        searched: String,
    },
    /// Another service already runs on this data folder.
    #[error(
        "another clinical-sites service is already using {path}: stop it, or give this one its own DATA_DIR \
         (or DATABASE_URL)"
    )]
    Busy {
        /// The data folder.
        path: PathBuf,
    },
    /// As root, no unprivileged account exists to run PostgreSQL as.
    #[error("running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as")]
    NoUnprivilegedUser,
    /// As root, the unprivileged user cannot reach an existing data folder.
    #[error(
        "the PostgreSQL data folder {path} is not reachable by the `{user}` user that PostgreSQL runs as \
         (a parent folder lacks search permission): move it to a reachable folder and leave a symbolic link \
         in its place, or set DATA_DIR to a reachable folder"
    )]
    Unreachable {
        /// The data folder.
        path: PathBuf,
        /// The account PostgreSQL runs as.
        user: String,
    },
    /// `initdb` failed.
    #[error("initdb failed ({status}): {output}")]
    Initdb {
        /// Its exit status.
        status: ExitStatus,
        /// What it printed.
        output: String,
    },
    /// The postmaster did not become ready.
    #[error("PostgreSQL did not start: {reason}; last lines of {log}:\n{tail}")]
    Start {
        /// What went wrong.
        reason: String,
        /// The log file.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> ProvisionError {
    let context = context.into();
    move |source| ProvisionError::Io { context, source }
}

/// The PostgreSQL server programs used to create and run a cluster.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `initdb`.
    pub(crate) initdb: PathBuf,
    /// `postgres`.
    pub(crate) postgres: PathBuf,
}

impl Binaries {
    /// Finds `initdb` and `postgres` in `explicit` if given, else on `PATH`, then in
    /// `/usr/lib/postgresql/<version>/bin` (newest first), then in `pg_config --bindir`.
    pub fn find(explicit: Option<&Path>) -> Result<Self, ProvisionError> {
        let candidates = match explicit {
            Some(dir) => vec![dir.to_path_buf()],
            None => default_search_path(),
        };
        Self::find_in(&candidates)
    }

    /// Another program of the same installation (`pg_dump`, `pg_restore`): beside `initdb`, or
    /// beside the file a linked `initdb` points at (`/usr/local/bin/initdb` ->
    /// `/usr/lib/postgresql/15/bin/initdb`), else found on `PATH`.
    pub fn tool(&self, name: &str) -> PathBuf {
        let linked = fs::canonicalize(&self.initdb)
            .ok()
            .map(|target| target.with_file_name(name));
        [Some(self.initdb.with_file_name(name)), linked]
            .into_iter()
            .flatten()
            .find(|path| is_executable(path))
            .unwrap_or_else(|| PathBuf::from(name))
    }

    /// The first folder of `candidates` that holds both programs.
    pub(crate) fn find_in(candidates: &[PathBuf]) -> Result<Self, ProvisionError> {
        candidates
            .iter()
            .find_map(|dir| {
                let initdb = dir.join("initdb");
                let postgres = dir.join("postgres");
                (is_executable(&initdb) && is_executable(&postgres)).then_some(Self { initdb, postgres })
            })
            .ok_or_else(|| ProvisionError::NotFound {
                searched: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn default_search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
    if let Ok(output) = Command::new("pg_config").arg("--bindir").stderr(Stdio::null()).output()
        && output.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    }
    dirs
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How to run a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The cluster's folder (`PGDATA`); created by `initdb` on first use.
    pub data_dir: PathBuf,
    /// Where the server writes its log (appended to).
    pub log_file: PathBuf,
    /// `false` turns off fsync and friends: for throw-away test clusters only, never for real data.
    pub durable: bool,
}

/// The account the postmaster runs as when we are root.
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `None` when we are not root (PostgreSQL then runs as us).
    fn for_current_process() -> Result<Option<Self>, ProvisionError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        ["postgres", "nobody"]
            .iter()
            .find_map(|wanted| {
                passwd.lines().find_map(|line| {
                    let fields: Vec<&str> = line.split(':').collect();
                    (fields.len() >= 4 && fields[0] == *wanted).then(|| {
                        Some(Self {
                            name: fields[0].to_owned(),
                            uid: fields[2].parse().ok()?,
                            gid: fields[3].parse().ok()?,
                        })
                    })?
                })
            })
            .map(Some)
            .ok_or(ProvisionError::NoUnprivilegedUser)
    }

    fn apply(&self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }

    /// Whether this account may pass through every ancestor folder of `path`.
    fn can_reach(&self, path: &Path) -> bool {
        path.ancestors().skip(1).all(|dir| match fs::metadata(dir) {
            Ok(m) => {
                let mode = m.permissions().mode();
                mode & 0o001 != 0
                    || (m.uid() == self.uid && mode & 0o100 != 0)
                    || (m.gid() == self.gid && mode & 0o010 != 0)
            }
            Err(_) => true, // not created yet: we create it, world-searchable
        })
    }
}

/// A running cluster, stopped (fast shutdown) by [`LocalCluster::stop`] or on drop.
#[derive(Debug)]
pub struct LocalCluster {
    data_dir: PathBuf,
    /// The folder asked for, when it is a link to `data_dir` (see [`place_data_dir`]).
    linked_from: Option<PathBuf>,
    socket_dir: PathBuf,
    pid: i32,
    /// Receives the exit status when we started the postmaster; `None` for an adopted one.
    exited: Option<mpsc::Receiver<Option<ExitStatus>>>,
    adopted: bool,
    stopped: bool,
    /// How to start the postmaster again; `None` for a joined cluster (never ours to start).
    launch: Option<Launch>,
}

/// What starting the postmaster takes, kept so that [`LocalCluster::restart`] starts it the same way.
#[derive(Debug, Clone)]
struct Launch {
    binaries: Binaries,
    options: ClusterOptions,
    run_as: Option<RunAs>,
}

/// How a postmaster ended, as far as we know: the exit status when we started it (and so reaped
/// it), `None` for an adopted one.
#[derive(Debug, Clone, Copy)]
pub struct Exit(pub Option<ExitStatus>);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(status) => write!(f, "{status}"),
            None => f.write_str("exit status unknown: not our child"),
        }
    }
}

impl LocalCluster {
    /// Creates the cluster on first use, then starts it (or adopts the one already running on the
    /// folder) and waits until it accepts connections.
    pub fn start(binaries: &Binaries, options: &ClusterOptions) -> Result<Self, ProvisionError> {
        let run_as = RunAs::for_current_process()?;
        let requested = std::path::absolute(&options.data_dir).map_err(io_context("resolving the data folder"))?;
        let data_dir = place_data_dir(&requested, run_as.as_ref())?;
        let linked_from = (data_dir != requested).then_some(requested);
        if !data_dir.join("PG_VERSION").is_file() {
            init_cluster(binaries, &data_dir, run_as.as_ref(), options.durable)?;
        } else if let Some(user) = &run_as {
            take_ownership(&data_dir, user)?;
        }
        let socket_dir = socket_dir_for(&data_dir, run_as.as_ref())?;

        let mut cluster = match Self::adopt(&data_dir, &socket_dir)? {
            Some(adopted) => adopted,
            None => spawn_postmaster(binaries, options, &data_dir, &socket_dir, run_as.as_ref())?,
        };
        cluster.linked_from = linked_from;
        cluster.launch = Some(Launch {
            binaries: binaries.clone(),
            options: ClusterOptions {
                data_dir: data_dir.clone(),
                ..options.clone()
            },
            run_as,
        });
        Ok(cluster)
    }

    /// The PostgreSQL already running on `data_dir` when it is usable as is (ready, on
    /// `socket_dir`); one that is not is stopped, and stale lock files are removed.
    fn adopt(data_dir: &Path, socket_dir: &Path) -> Result<Option<Self>, ProvisionError> {
        match inspect_pid_file(data_dir) {
            PidFile::Absent => Ok(None),
            PidFile::Stale => {
                remove_stale_lock_files(data_dir, socket_dir)?;
                Ok(None)
            }
            PidFile::Running {
                pid,
                socket_dir: running_socket,
            } => {
                let mut adopted = Self {
                    data_dir: data_dir.to_path_buf(),
                    linked_from: None,
                    socket_dir: running_socket,
                    pid,
                    exited: None,
                    adopted: true,
                    stopped: false,
                    launch: None,
                };
                if adopted.wait_ready(Duration::from_secs(15)).is_ok() && adopted.socket_dir == socket_dir {
                    tracing::info!(pid, data_dir = %data_dir.display(), "adopted a PostgreSQL already running on the data folder");
                    Ok(Some(adopted))
                } else {
                    tracing::warn!(pid, "stopping a PostgreSQL on the data folder that is not usable as is");
                    adopted.shutdown();
                    remove_stale_lock_files(data_dir, socket_dir)?;
                    Ok(None)
                }
            }
        }
    }

    /// The cluster another process started on `data_dir` (following its link, if it is one) and
    /// still runs, ready: used, never stopped, by this process.
    pub fn join(data_dir: &Path) -> Result<Self, ProvisionError> {
        let requested = std::path::absolute(data_dir).map_err(io_context("resolving the data folder"))?;
        let resolved = resolve_link(&requested);
        let log = requested.with_extension("log");
        let not_running = || ProvisionError::Start {
            reason: "the service using this data folder has no PostgreSQL running on it".to_owned(),
            log: log.clone(),
            tail: String::new(),
        };
        // The service may still be starting its cluster (a first run's initdb takes seconds).
        let deadline = Instant::now() + START_TIMEOUT;
        let (pid, socket_dir) = loop {
            match inspect_pid_file(&resolved) {
                PidFile::Running { pid, socket_dir } => break (pid, socket_dir),
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => return Err(not_running()),
            }
        };
        let mut joined = Self {
            linked_from: (resolved != requested).then_some(requested),
            data_dir: resolved,
            socket_dir,
            pid,
            exited: None,
            adopted: true,
            stopped: false,
            launch: None,
        };
        joined.wait_ready(Duration::from_secs(15)).map_err(|_| not_running())?;
        // Another process owns it: never stop it from here.
        joined.stopped = true;
        Ok(joined)
    }

    /// Options for connecting to `database` on this cluster as the superuser `postgres`.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(SOCKET_PORT)
            .username("postgres")
            .database(database)
    }

    /// The cluster's folder.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The folder asked for, when it is a symbolic link to [`LocalCluster::data_dir`].
    pub(crate) fn linked_from(&self) -> Option<&Path> {
        self.linked_from.as_deref()
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether this cluster was already running when we started (and was adopted).
    pub fn was_adopted(&self) -> bool {
        self.adopted
    }

    /// `None` while the postmaster runs; once it has exited (killed, crashed, or stopped by someone
    /// else), how. A cluster this process stopped, or joined, is never reported as exited.
    pub fn exited(&mut self) -> Option<Exit> {
        if self.stopped {
            return None;
        }
        match &self.exited {
            Some(exited) => match exited.try_recv() {
                Err(mpsc::TryRecvError::Empty) => None,
                Ok(status) => Some(Exit(status)),
                Err(mpsc::TryRecvError::Disconnected) => Some(Exit(None)),
            },
            None => (!is_postgres_process(self.pid)).then_some(Exit(None)),
        }
    }

    /// Starts the postmaster again, on the same folder, socket and settings, after it exited; waits
    /// until it accepts connections (after its crash recovery). Fails while the dead server's
    /// backends are still finishing (PostgreSQL refuses to start beside them): try again later.
    /// A joined cluster is never started from here.
    pub fn restart(&mut self) -> Result<(), ProvisionError> {
        let Some(launch) = self.launch.clone() else {
            return Err(io_context("restarting PostgreSQL")(io::Error::other(
                "this cluster belongs to another process",
            )));
        };
        match inspect_pid_file(&self.data_dir) {
            PidFile::Running { pid, .. } if pid != self.pid => {
                return Err(io_context("restarting PostgreSQL")(io::Error::other(format!(
                    "another PostgreSQL (pid {pid}) runs on {}",
                    self.data_dir.display()
                ))));
            }
            PidFile::Running { .. } | PidFile::Absent => {}
            PidFile::Stale => remove_stale_lock_files(&self.data_dir, &self.socket_dir)?,
        }
        let mut fresh = spawn_postmaster(
            &launch.binaries,
            &launch.options,
            &self.data_dir,
            &self.socket_dir,
            launch.run_as.as_ref(),
        )?;
        self.pid = fresh.pid;
        self.exited = fresh.exited.take();
        self.adopted = false;
        // `fresh` now only names the postmaster `self` owns: its drop must not stop it.
        fresh.stopped = true;
        Ok(())
    }

    /// Stops the cluster with a fast shutdown (open sessions are ended, data is flushed), escalating
    /// to an immediate shutdown and then `SIGKILL` if it does not stop in time.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        for (signal, patience) in [
            (libc::SIGINT, STOP_TIMEOUT),
            (libc::SIGQUIT, Duration::from_secs(10)),
            (libc::SIGKILL, Duration::from_secs(10)),
        ] {
            if !self.is_running() {
                return;
            }
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.pid, signal) };
            if self.wait_exit(patience) {
                tracing::info!(pid = self.pid, "PostgreSQL stopped");
                return;
            }
            tracing::warn!(pid = self.pid, signal, "PostgreSQL did not stop in time; escalating");
        }
    }

    fn is_running(&self) -> bool {
        match &self.exited {
            Some(exited) => matches!(exited.try_recv(), Err(mpsc::TryRecvError::Empty)),
            None => is_postgres_process(self.pid),
        }
    }

    fn wait_exit(&self, patience: Duration) -> bool {
        if let Some(exited) = &self.exited {
            return !matches!(exited.recv_timeout(patience), Err(mpsc::RecvTimeoutError::Timeout));
        }
        poll_until(patience, || !is_postgres_process(self.pid))
    }

    /// Polls `postmaster.pid` until the server reports `ready`, failing early if it exits.
    fn wait_ready(&self, patience: Duration) -> Result<(), String> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(exited) = &self.exited
                && let Ok(status) = exited.try_recv()
            {
                let status = status.map_or("unknown status".to_owned(), |s| s.to_string());
                return Err(format!("the server exited ({status})"));
            }
            if self.exited.is_none() && !is_postgres_process(self.pid) {
                return Err("the server exited".to_owned());
            }
            if let Ok(contents) = fs::read_to_string(self.data_dir.join("postmaster.pid")) {
                let lines: Vec<&str> = contents.lines().collect();
                let ours = lines.first().and_then(|l| l.trim().parse::<i32>().ok()) == Some(self.pid);
                if ours && lines.get(7).map(|s| s.trim()) == Some("ready") {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after {} s", patience.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn poll_until(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// Where the cluster asked for at `requested` lives, creating what it needs:
/// - a symbolic link (left by an earlier run, or made by hand) is followed;
/// - otherwise the folder itself, when PostgreSQL's account can reach it (always, unless we are
///   root);
/// - as root, when the unprivileged account cannot pass through a parent folder (a checkout in
///   `/root`, mode 0700), a new cluster goes to `RELOCATION_ROOT/<name>-<hash>/postgres` and
///   `requested` becomes a link to it, so the next run finds it again and `ls -l` shows where the
///   data is. An existing cluster in an unreachable folder is an error (it is never moved).
fn place_data_dir(requested: &Path, run_as: Option<&RunAs>) -> Result<PathBuf, ProvisionError> {
    let parent = requested.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(io_context(format!("creating {}", parent.display())))?;
    let resolved = resolve_link(requested);
    let Some(user) = run_as else {
        return Ok(resolved);
    };
    if resolved != requested {
        // A relocated cluster's folder is ours (and is made again if it was removed); any other
        // link's target folder is the operator's: created if missing, never opened up.
        let parent = resolved.parent().unwrap_or(Path::new("/"));
        if parent.starts_with(RELOCATION_ROOT) {
            create_reachable_dir(Path::new(RELOCATION_ROOT))?;
            create_reachable_dir(parent)?;
        } else {
            fs::create_dir_all(parent).map_err(io_context(format!("creating {}", parent.display())))?;
        }
    }
    if user.can_reach(&resolved) {
        return Ok(resolved);
    }
    if resolved != requested || requested.exists() {
        return Err(ProvisionError::Unreachable {
            path: resolved,
            user: user.name.clone(),
        });
    }
    create_reachable_dir(Path::new(RELOCATION_ROOT))?;
    let home = Path::new(RELOCATION_ROOT).join(relocation_name(requested));
    create_reachable_dir(&home)?;
    let target = home.join(requested.file_name().unwrap_or("postgres".as_ref()));
    if !user.can_reach(&target) {
        return Err(ProvisionError::Unreachable {
            path: target,
            user: user.name.clone(),
        });
    }
    std::os::unix::fs::symlink(&target, requested).map_err(io_context(format!(
        "linking {} to {}",
        requested.display(),
        target.display()
    )))?;
    tracing::info!(
        requested = %requested.display(),
        cluster = %target.display(),
        user = %user.name,
        "the data folder is not reachable by the account PostgreSQL runs as; the cluster lives in the \
         relocation folder instead, linked from the data folder"
    );
    Ok(target)
}

/// `requested`, or where it links to (relative links are taken from its folder).
fn resolve_link(requested: &Path) -> PathBuf {
    match fs::read_link(requested) {
        Ok(target) => requested.parent().unwrap_or(Path::new("/")).join(target),
        Err(_) => requested.to_path_buf(),
    }
}

/// A name for the relocated cluster of `requested`: readable (the folders above it) and unique
/// (a hash of the whole path), e.g. `clinical-sites-data-3f2a9c1e` for
/// `/root/clinical-sites/data/postgres`.
fn relocation_name(requested: &Path) -> String {
    use sha2::{Digest, Sha256};
    let readable: Vec<String> = requested
        .parent()
        .into_iter()
        .flat_map(|p| p.components().rev().take(2))
        .filter_map(|c| c.as_os_str().to_str())
        .map(|c| {
            c.chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
                .collect()
        })
        .collect();
    let readable = readable.into_iter().rev().collect::<Vec<_>>().join("-");
    let digest = Sha256::digest(requested.as_os_str().as_encoded_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let readable: String = readable.chars().take(40).collect();
    format!("{}-{hash}", readable.trim_matches('-'))
}

/// Creates `dir` (and its parents) searchable by everyone: it only holds the private cluster
/// folder, which is 0700 and owned by PostgreSQL's account.
fn create_reachable_dir(dir: &Path) -> Result<(), ProvisionError> {
    fs::create_dir_all(dir).map_err(io_context(format!("creating {}", dir.display())))?;
    let mode = fs::metadata(dir)
        .map_err(io_context(format!("reading {}", dir.display())))?
        .permissions()
        .mode();
    if mode & 0o011 != 0o011 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o755))
            .map_err(io_context(format!("opening {} to PostgreSQL's account", dir.display())))?;
    }
    Ok(())
}

fn init_cluster(
    binaries: &Binaries,
    data_dir: &Path,
    run_as: Option<&RunAs>,
    durable: bool,
) -> Result<(), ProvisionError> {
    // initdb into a staging folder, then rename: a crash half-way never leaves a broken cluster.
    let staging = data_dir.with_extension("initdb");
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_context(format!("removing {}", staging.display())))?;
    }
    create_private_dir(&staging, run_as)?;
    let mut command = Command::new(&binaries.initdb);
    command
        .args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ])
        .arg("--pgdata")
        .arg(&staging)
        .stdin(Stdio::null())
        .current_dir(staging.parent().unwrap_or(Path::new("/")));
    if !durable {
        command.arg("--no-sync");
    }
    if let Some(user) = run_as {
        user.apply(&mut command);
    }
    let output = command
        .output()
        .map_err(io_context(format!("running {}", binaries.initdb.display())))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(ProvisionError::Initdb {
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    fs::rename(&staging, data_dir).map_err(io_context(format!("moving the new cluster to {}", data_dir.display())))
}

fn create_private_dir(dir: &Path, run_as: Option<&RunAs>) -> Result<(), ProvisionError> {
    fs::create_dir_all(dir).map_err(io_context(format!("creating {}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io_context(format!("restricting {}", dir.display())))?;
    if let Some(user) = run_as {
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).map_err(io_context(format!(
            "handing {} to {}",
            dir.display(),
            user.name
        )))?;
    }
    Ok(())
}

/// A cluster created by another account (say, a run as a normal user) is handed to ours.
fn take_ownership(data_dir: &Path, user: &RunAs) -> Result<(), ProvisionError> {
    let owner = fs::metadata(data_dir)
        .map_err(io_context(format!("reading {}", data_dir.display())))?
        .uid();
    if owner == user.uid {
        return Ok(());
    }
    fn walk(path: &Path, user: &RunAs) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))?;
        if fs::symlink_metadata(path)?.is_dir() {
            for entry in fs::read_dir(path)? {
                walk(&entry?.path(), user)?;
            }
        }
        Ok(())
    }
    walk(data_dir, user).map_err(io_context(format!("handing {} to {}", data_dir.display(), user.name)))
}

/// The socket goes inside the data folder unless that path is too long for a Unix socket; then into
/// a private folder under /tmp named after the data folder.
fn socket_dir_for(data_dir: &Path, run_as: Option<&RunAs>) -> Result<PathBuf, ProvisionError> {
    let socket_file_len = format!("/.s.PGSQL.{SOCKET_PORT}.lock").len();
    if data_dir.as_os_str().len() + socket_file_len <= MAX_SOCKET_PATH {
        return Ok(data_dir.to_path_buf());
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let dir = std::env::temp_dir().join(format!("clinical-sites-pg-{:016x}", hasher.finish()));
    create_private_dir(&dir, run_as)?;
    Ok(dir)
}

enum PidFile {
    Absent,
    Stale,
    Running { pid: i32, socket_dir: PathBuf },
}

fn inspect_pid_file(data_dir: &Path) -> PidFile {
    let Ok(contents) = fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return PidFile::Absent;
    };
    let lines: Vec<&str> = contents.lines().collect();
    let pid = lines.first().and_then(|l| l.trim().parse::<i32>().ok());
    match pid {
        Some(pid) if pid > 0 && is_postgres_process(pid) && process_cwd_is(pid, data_dir) => PidFile::Running {
            pid,
            socket_dir: lines
                .get(4)
                .map_or_else(|| data_dir.to_path_buf(), |l| PathBuf::from(l.trim())),
        },
        _ => PidFile::Stale,
    }
}

/// Whether `pid` is alive and is a PostgreSQL server process (not a reused pid).
fn is_postgres_process(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) state ...`: a zombie (state Z) has already exited.
        Ok(stat) => {
            let comm_ok = stat.contains("(postgres)") || stat.contains("(postmaster)");
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            comm_ok && !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// The postmaster's working folder is its data folder; unknown (unreadable) counts as a match.
fn process_cwd_is(pid: i32, data_dir: &Path) -> bool {
    match fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) => fs::canonicalize(data_dir).is_ok_and(|d| d == cwd),
        Err(_) => true,
    }
}

fn remove_stale_lock_files(data_dir: &Path, socket_dir: &Path) -> Result<(), ProvisionError> {
    for file in [
        data_dir.join("postmaster.pid"),
        socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}.lock")),
        socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}")),
    ] {
        match fs::remove_file(&file) {
            Ok(()) => tracing::info!(file = %file.display(), "removed a stale PostgreSQL lock file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_context(format!("removing {}", file.display()))(e)),
        }
    }
    Ok(())
}

fn spawn_postmaster(
    binaries: &Binaries,
    options: &ClusterOptions,
    data_dir: &Path,
    socket_dir: &Path,
    run_as: Option<&RunAs>,
) -> Result<LocalCluster, ProvisionError> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&options.log_file)
        .map_err(io_context(format!("opening {}", options.log_file.display())))?;
    let log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
    let command = postmaster_command(binaries, options, data_dir, socket_dir, run_as, log)?;
    let (pid, exited) = spawn_guarded(command, binaries)?;
    let cluster = LocalCluster {
        data_dir: data_dir.to_path_buf(),
        linked_from: None,
        socket_dir: socket_dir.to_path_buf(),
        pid,
        exited: Some(exited),
        adopted: false,
        stopped: false,
        launch: None,
    };
    match cluster.wait_ready(START_TIMEOUT) {
        Ok(()) => {
            tracing::info!(pid, data_dir = %data_dir.display(), "PostgreSQL started");
            Ok(cluster)
        }
        Err(reason) => Err(ProvisionError::Start {
            reason,
            log: options.log_file.clone(),
            tail: log_tail(&options.log_file, log_offset),
        }),
    }
}

/// The postmaster's command: the cluster's socket and settings, output to `log`, stopped by the
/// death of the thread that starts it.
fn postmaster_command(
    binaries: &Binaries,
    options: &ClusterOptions,
    data_dir: &Path,
    socket_dir: &Path,
    run_as: Option<&RunAs>,
    log: fs::File,
) -> Result<Command, ProvisionError> {
    let mut command = Command::new(&binaries.postgres);
    command
        .arg("-D")
        .arg(data_dir)
        .args(["-c", "listen_addresses="])
        .arg("-c")
        .arg(format!("unix_socket_directories=\"{}\"", socket_dir.display()))
        .arg("-c")
        .arg(format!("port={SOCKET_PORT}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io_context("duplicating the log handle"))?)
        .stderr(log)
        .current_dir(data_dir)
        // Own process group: a terminal's Ctrl-C goes to the service, which stops us in order.
        .process_group(0);
    if !options.durable {
        command.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    if let Some(user) = run_as {
        user.apply(&mut command);
    }
    // SAFETY: prctl and getppid are async-signal-safe; the closure allocates nothing.
    unsafe {
        let parent = libc::getpid();
        command.pre_exec(move || {
            // Fast shutdown when the thread that started us (the guardian below) dies with the process.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited before postgres started"));
            }
            Ok(())
        });
    }
    Ok(command)
}

/// Starts `command` on a thread of its own and returns the child's pid, and the channel its
/// exit status comes on.
fn spawn_guarded(
    mut command: Command,
    binaries: &Binaries,
) -> Result<(i32, mpsc::Receiver<Option<std::process::ExitStatus>>), ProvisionError> {
    // The guardian thread owns the child: it lives exactly as long as the postmaster, reaps it, and
    // reports its exit. The parent-death signal is tied to this thread, so it fires only when the
    // whole process dies.
    let (started_tx, started_rx) = mpsc::channel();
    let (exited_tx, exited_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-guardian".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = started_tx.send(Ok(child.id() as i32));
                let _ = exited_tx.send(child.wait().ok());
            }
            Err(e) => {
                let _ = started_tx.send(Err(e));
            }
        })
        .map_err(io_context("starting the postgres guardian thread"))?;
    let pid = started_rx
        .recv()
        .map_err(|_| io_context("starting postgres")(io::Error::other("guardian thread died")))?
        .map_err(io_context(format!("starting {}", binaries.postgres.display())))?;
    Ok((pid, exited_rx))
}

/// The last lines the server wrote since `offset`, for an error message.
fn log_tail(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.take(64 * 1024).read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_both_remedies() {
        let error = Binaries::find_in(&[PathBuf::from("/nonexistent/bin")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("DATABASE_URL"), "{error}");
        assert!(error.contains("install the PostgreSQL server binaries"), "{error}");
        assert!(error.contains("/nonexistent/bin"), "{error}");
    }

    #[test]
    fn long_data_dirs_get_a_short_socket_folder() {
        let short = Path::new("/tmp/x/postgres");
        assert_eq!(socket_dir_for(short, None).unwrap(), short);
        let long = PathBuf::from(format!("/tmp/{}/postgres", "d".repeat(120)));
        let socket = socket_dir_for(&long, None).unwrap();
        assert!(socket.as_os_str().len() < MAX_SOCKET_PATH);
        assert_eq!(socket, socket_dir_for(&long, None).unwrap(), "stable across runs");
        let _ = fs::remove_dir(socket);
    }

    #[test]
    fn our_own_process_is_not_a_postmaster() {
        assert!(!is_postgres_process(std::process::id() as i32));
        assert!(!is_postgres_process(i32::MAX));
    }
}
