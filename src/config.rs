//! Configuration: one struct, read from the environment (or the matching `--flag`) at start-up.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BIND_ADDR` | `127.0.0.1:8080` | address and port the HTTP server listens on |
//! | `DATABASE_URL` | unset | PostgreSQL to use; unset: run a private cluster in `DATA_DIR/postgres` |
//! | `DATABASE_READ_URL` | unset | a streaming replica of `DATABASE_URL`'s server: searches' pages, site and report reads, statistics and exports go to it while it keeps up (docs/deployment.md, "Read replicas") |
//! | `DATABASE_READ_MAX_LAG` | `5s` | how far behind the primary the replica may be (`500ms`, `5s`, `2` for seconds) before reads fall back to the primary |
//! | `DATA_DIR` | `./data` | folder for the private cluster (`postgres/`) and its log (`postgres.log`) |
//! | `POSTGRES_BIN_DIR` | unset | folder holding `initdb` and `postgres`; unset: search `PATH`, `pg_config --bindir`, `/usr/lib/postgresql/<N>/bin` |
//! | `DATABASE_MAX_CONNECTIONS` | `10` | size of each of the two connection pools (1 to 1000): one plans every statement for its values, the other reuses generic plans for the searches that have one plan for all values; about twice the database server's cores serves best (4 on a 2-core machine; docs/performance.md) |
//! | `CORS_ALLOWED_ORIGINS` | empty | comma-separated browser origins allowed to call the API (`https://app.example.org`), or `*` |
//! | `REQUEST_TIMEOUT_SECS` | `30` | a request still running after this many seconds gets a 503 problem (1 to 3600); its SQL is cancelled too (`statement_timeout`) |
//! | `MAX_BODY_BYTES` | `1048576` | largest accepted request body; larger gets a 413 problem |
//! | `IMPORT_MAX_BYTES` | `1073741824` | largest accepted import body (`POST /v1/imports`, streamed, without the request timeout) |
//! | `SHUTDOWN_GRACE_SECS` | `20` | on SIGINT/SIGTERM, how long in-flight requests may take to finish |
//! | `HEADER_READ_TIMEOUT_SECS` | `10` | a connection must send a request's whole head within this many seconds of opening, or of its first byte after an idle spell; else it is closed (1 to 600) |
//! | `KEEP_ALIVE_TIMEOUT_SECS` | `60` | an idle keep-alive connection (no request under way, no byte of the next one) is closed after this many seconds (1 to 3600) |
//! | `MAX_CONNECTIONS` | derived | most client connections open at once: three quarters of the open-file limit left after the pools, at most 10,000 (1 to 1000000); a new one past it closes the longest-open idle one |
//! | `MAX_IN_FLIGHT` | `256` | most requests answered at once; one past it gets a 503 `unavailable` problem with `Retry-After: 1` at once (1 to 100000); probes are not counted |
//! | `SESSION_TTL_DAYS` | `30` | days a session token stays valid (1 to 365) |
//! | `STATS_MIN_RESPONDENTS` | `10` | the statistics' disclosure threshold: breakdowns of fewer respondents are withheld; at least 5 |
//! | `RATE_LIMIT_PER_MINUTE` | `600` | requests per minute per client address, and per credential when one is sent; `0` turns it off (benchmarks) |
//! | `SIGN_IN_ATTEMPTS_PER_MINUTE` | `10` | sign-in attempts per minute per email and per client address |
//! | `LOG_FORMAT` | `text` | `text` for people, `json` for log collectors |
//! | `RUST_LOG` | `info` | log filter, `tracing_subscriber::EnvFilter` syntax |
//!
//! A malformed value stops start-up with a message that names the variable. The password inside
//! `DATABASE_URL` is redacted wherever the configuration is printed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sqlx::postgres::PgConnectOptions;

/// `clinical-sites [serve|migrate|demo-data|admin]`: the command line, with configuration from the environment.
#[derive(Debug, Parser)]
#[command(
    name = "clinical-sites",
    version,
    about = "A directory of clinical training sites for radiologic technologists"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
}

impl Cli {
    /// Parses the command line and environment, exiting with a message that names the variable at
    /// fault. `DATABASE_URL` errors never echo the value, which may hold a password.
    pub fn from_env() -> Self {
        use clap::error::{ContextKind, ContextValue};
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(error) => {
                let secret_url = match error.get(ContextKind::InvalidArg) {
                    Some(ContextValue::String(arg)) => ["DATABASE_URL", "DATABASE_READ_URL"]
                        .into_iter()
                        .find(|name| arg.contains(name)),
                    _ => None,
                };
                if let Some(name) = secret_url {
                    let reason = std::error::Error::source(&error)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    eprintln!("error: invalid value for {name}: {reason}");
                    std::process::exit(2);
                }
                error.exit()
            }
        }
    }
}

/// The binary's subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill the database with clearly synthetic demo sites (`source = demo`), or remove them.
    ///
    /// Works beside a running service on the same DATA_DIR. Running it again replaces the demo
    /// sites (the same ones come back): it never doubles them.
    #[command(name = "demo-data")]
    DemoData {
        /// How many demo sites to make.
        #[arg(long, default_value_t = crate::demo_data::DEFAULT_COUNT,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::demo_data::MAX_COUNT)))]
        count: u32,
        /// Delete exactly the demo sites (and demo coordinator accounts) instead.
        #[arg(long, conflicts_with = "count")]
        remove: bool,
    },
    /// Write a backup of the service's database to FILE: pg_dump's custom format, with every
    /// table (sites, offers, history, claims, accounts, sessions, API keys, reports, the
    /// statistics' counts, the installation and its cursor key) and the migrations applied.
    /// Works beside a running service (one consistent snapshot).
    Backup {
        /// Where to write the backup.
        file: PathBuf,
    },
    /// Replace the service's database with a backup written by `backup`, then migrate it. Stop the
    /// service first (every instance). Nothing changes unless the whole backup is read.
    Restore {
        /// The backup to restore.
        file: PathBuf,
    },
    /// Import sites from a CSV or NDJSON file (docs/import.md): every row read with the rules of
    /// POST /v1/sites and its duplicate guard, all or nothing (one bad row and nothing is
    /// written: each bad row is listed with why). Works beside a running service.
    Import {
        /// The file (`.csv`, `.ndjson` or `.jsonl`; `-` reads standard input, with `--format`).
        file: PathBuf,
        /// The file's format, when its name does not say.
        #[arg(long, value_enum)]
        format: Option<crate::imports::Format>,
        /// Update the listed site a row matches by its NPI or external id instead of adding one.
        #[arg(long, value_enum)]
        upsert_by: Option<crate::imports::UpsertBy>,
        /// Write the refused rows to this file, as they were in the input with why each was
        /// refused (a CSV gains an `errors` column; NDJSON lines gain an `errors` member).
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Export sites as CSV or NDJSON, in the shape `import` reads (docs/import.md): every listed
    /// site, or those a search's filters find (`--query`). Works beside a running service.
    Export {
        /// The format.
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::imports::Format,
        /// Where to write it (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// `GET /v1/sites`' filters as a query string, e.g. `modality=ct&state=OH`.
        #[arg(long, default_value = "")]
        query: String,
        /// Include demo sites (`source = demo`).
        #[arg(long)]
        include_demo: bool,
    },
    /// Count every experience report afresh: the statistics' running counts and each site's
    /// report summary (after reports were loaded into the database directly, e.g. by a benchmark
    /// or a restore). Writers wait meanwhile.
    #[command(name = "recount-reports")]
    RecountReports,
    /// Administer accounts from the command line.
    Admin {
        /// What to do.
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// `clinical-sites admin ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator and print a one-time password for it.
    Create {
        /// The administrator's sign-in email.
        #[arg(long)]
        email: String,
        /// The name shown for the administrator.
        #[arg(long, default_value = "Administrator")]
        display_name: String,
    },
}

/// Every setting of the service. See the module documentation for the table of variables.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "BIND_ADDR", value_name = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// PostgreSQL connection URL; unset: run a private cluster under DATA_DIR.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// A streaming replica's URL: public reads go to it while it keeps up; unset: every read goes
    /// to the primary ([`crate::replica`]).
    #[arg(
        long,
        env = "DATABASE_READ_URL",
        value_name = "DATABASE_READ_URL",
        hide_env_values = true
    )]
    pub database_read_url: Option<DatabaseUrl>,

    /// How far behind the primary the replica may be before reads fall back to the primary.
    #[arg(long, env = "DATABASE_READ_MAX_LAG", value_name = "DATABASE_READ_MAX_LAG", default_value = "5s",
          value_parser = parse_max_lag)]
    pub database_read_max_lag: Duration,

    /// Folder for the private PostgreSQL cluster and its log.
    #[arg(long, env = "DATA_DIR", value_name = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Folder holding `initdb` and `postgres`; unset: search the usual places.
    #[arg(long, env = "POSTGRES_BIN_DIR", value_name = "POSTGRES_BIN_DIR")]
    pub postgres_bin_dir: Option<PathBuf>,

    /// Size of each of the two database connection pools (see [`crate::db::search_pool`]).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", value_name = "DATABASE_MAX_CONNECTIONS",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Comma-separated browser origins allowed to call the API, or `*`.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "CORS_ALLOWED_ORIGINS", default_value = "",
          value_parser = parse_cors_origins)]
    pub cors_allowed_origins: ::std::vec::Vec<CorsOrigin>,

    /// Seconds a request may run before it is answered with a 503 problem.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", value_name = "REQUEST_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", value_name = "MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          value_parser = parse_body_limit)]
    pub max_body_bytes: usize,

    /// Largest accepted import body (`POST /v1/imports`), in bytes; imports stream, so this
    /// bounds time and disk, not memory.
    #[arg(long, env = "IMPORT_MAX_BYTES", value_name = "IMPORT_MAX_BYTES", default_value_t = 1 << 30,
          value_parser = parse_import_limit)]
    pub import_max_bytes: usize,

    /// Seconds in-flight requests may take to finish after SIGINT or SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", value_name = "SHUTDOWN_GRACE_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_grace_secs: u64,

    /// Seconds a connection has to send a request's head, from its opening or from the head's first
    /// byte after an idle spell.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", value_name = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout_secs: u64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT_SECS", value_name = "KEEP_ALIVE_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keep_alive_timeout_secs: u64,

    /// Most client connections open at once; unset: derived from the open-file limit
    /// ([`crate::http::ServeOptions::new`]).
    #[arg(long, env = "MAX_CONNECTIONS", value_name = "MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: Option<u32>,

    /// Most requests answered at once; more get a 503 problem at once.
    #[arg(long, env = "MAX_IN_FLIGHT", value_name = "MAX_IN_FLIGHT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight: u32,

    /// Days a session token stays valid after signing in.
    #[arg(long, env = "SESSION_TTL_DAYS", value_name = "SESSION_TTL_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub session_ttl_days: u32,

    /// Requests per minute per client address, and per credential when one is sent; 0 turns it off.
    #[arg(
        long,
        env = "RATE_LIMIT_PER_MINUTE",
        value_name = "RATE_LIMIT_PER_MINUTE",
        default_value_t = 600
    )]
    pub rate_limit_per_minute: u32,

    /// The disclosure threshold of the statistics: a breakdown (a group, a site's report summary)
    /// of fewer respondents is withheld (`insufficient_data`). Never below 5.
    #[arg(long, env = "STATS_MIN_RESPONDENTS", value_name = "STATS_MIN_RESPONDENTS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(5..=100_000))]
    pub stats_min_respondents: u32,

    /// Sign-in attempts per minute per email and per client address.
    #[arg(long, env = "SIGN_IN_ATTEMPTS_PER_MINUTE", value_name = "SIGN_IN_ATTEMPTS_PER_MINUTE",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub sign_in_attempts_per_minute: u32,

    /// Address of a listener of its own for `GET /metrics`, so it need not be public; unset: the
    /// metrics are served on `BIND_ADDR` beside the API.
    #[arg(long, env = "METRICS_ADDR", value_name = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `info,clinical_sites=debug`.
    #[arg(long, env = "RUST_LOG", value_name = "RUST_LOG", default_value = "info", value_parser = parse_log_filter)]
    pub rust_log: String,
}

impl Config {
    /// The configuration with every default and nothing read from the environment (for tests and
    /// embedding).
    pub fn defaults() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            database_read_url: None,
            database_read_max_lag: Duration::from_secs(5),
            data_dir: PathBuf::from("./data"),
            postgres_bin_dir: None,
            database_max_connections: 10,
            cors_allowed_origins: Vec::new(),
            request_timeout_secs: 30,
            max_body_bytes: 1024 * 1024,
            import_max_bytes: 1 << 30,
            shutdown_grace_secs: 20,
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 60,
            max_connections: None,
            max_in_flight: 256,
            session_ttl_days: 30,
            rate_limit_per_minute: 600,
            stats_min_respondents: 10,
            sign_in_attempts_per_minute: 10,
            metrics_addr: None,
            log_format: LogFormat::Text,
            rust_log: "info".to_owned(),
        }
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// How long a session token stays valid.
    pub(crate) fn session_ttl(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.session_ttl_days))
    }

    /// The shutdown grace period as a duration.
    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn parse_body_limit(value: &str) -> Result<usize, String> {
    let bytes: usize = value.parse().map_err(|e| format!("{e}"))?;
    if (1024..=64 * 1024 * 1024).contains(&bytes) {
        Ok(bytes)
    } else {
        Err("must be between 1024 and 67108864 bytes".to_owned())
    }
}

/// `500ms`, `5s`, or a number of seconds (`2`, `0.5`); between 100 ms and an hour.
fn parse_max_lag(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.strip_suffix("ms") {
        Some(number) => (number, 0.001),
        None => (value.strip_suffix('s').unwrap_or(value), 1.0),
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n * unit)
        .ok_or_else(|| "must be a duration such as 500ms, 5s or 2 (seconds)".to_owned())?;
    if (0.1..=3600.0).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err("must be between 100ms and 3600s".to_owned())
    }
}

fn parse_import_limit(value: &str) -> Result<usize, String> {
    let bytes: usize = value.parse().map_err(|e| format!("{e}"))?;
    if (1024..=16 << 30).contains(&bytes) {
        Ok(bytes)
    } else {
        Err("must be between 1024 and 17179869184 bytes".to_owned())
    }
}

/// Comma-separated origins; empty means none (no cross-origin browser access).
fn parse_cors_origins(value: &str) -> Result<Vec<CorsOrigin>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(CorsOrigin::from_str)
        .collect()
}

fn parse_log_filter(value: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(value)
        .map(|_| value.to_owned())
        .map_err(|e| e.to_string())
}

/// One allowed CORS origin: `*` or `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigin {
    /// Any origin.
    Any,
    /// Exactly this origin.
    Exact(HeaderValue),
}

impl FromStr for CorsOrigin {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value == "*" {
            return Ok(Self::Any);
        }
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(|| format!("`{value}` is not an origin: expected `*` or `https://host[:port]`"))?;
        if rest.is_empty() || rest.contains('/') || rest.chars().any(|c| c.is_whitespace()) {
            return Err(format!(
                "`{value}` is not an origin: no path, no trailing slash, no spaces"
            ));
        }
        HeaderValue::from_str(value).map(Self::Exact).map_err(|e| e.to_string())
    }
}

/// A PostgreSQL URL whose password never appears in `Debug` or `Display` output.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: String,
    options: PgConnectOptions,
}

impl DatabaseUrl {
    /// The connection options to connect with.
    pub(crate) fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The password the URL gives (in its user part or as `password=`), decoded.
    pub(crate) fn password(&self) -> Option<String> {
        let url = &self.url;
        let authority_start = url.find("://")? + 3;
        let authority_end = url[authority_start..]
            .find(['/', '?'])
            .map_or(url.len(), |i| authority_start + i);
        let in_user_part = url[authority_start..authority_end].rfind('@').and_then(|at| {
            let userinfo = &url[authority_start..authority_start + at];
            userinfo.split_once(':').map(|(_, password)| password.to_owned())
        });
        let in_query = url.split_once('?').and_then(|(_, query)| {
            query.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.eq_ignore_ascii_case("password").then(|| value.to_owned())
            })
        });
        in_query.or(in_user_part).map(|encoded| {
            percent_encoding::percent_decode_str(&encoded)
                .decode_utf8_lossy()
                .into_owned()
        })
    }

    /// The URL with its password replaced by `***`, for logs.
    pub(crate) fn redacted(&self) -> String {
        redact_url(&self.url)
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("must start with postgres:// or postgresql://".to_owned());
        }
        // The parser's message may quote the URL: never echo it.
        let options = PgConnectOptions::from_str(url).map_err(|_| "is not a valid PostgreSQL URL".to_owned())?;
        Ok(Self {
            url: url.to_owned(),
            options,
        })
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted()).finish()
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `***`; also a `password=` query
/// parameter.
fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_password_is_read_decoded_from_either_place() {
        let url = |s: &str| s.parse::<DatabaseUrl>().unwrap();
        assert_eq!(
            url("postgres://app:s%40cr%3At@db:5432/cs").password().as_deref(),
            Some("s@cr:t")
        );
        assert_eq!(
            url("postgres://app@db/cs?password=p%2Bq&sslmode=require")
                .password()
                .as_deref(),
            Some("p+q")
        );
        assert_eq!(url("postgres://app@db/cs").password(), None);
        assert_eq!(url("postgres://db/cs?sslmode=disable").password(), None);
    }

    #[test]
    fn passwords_are_redacted() {
        let url: DatabaseUrl = "postgres://app:s3cr3t@db.example.org:5432/sites?sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://app:***@db.example.org:5432/sites?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert!(!format!("{url}").contains("s3cr3t"));
        let url: DatabaseUrl = "postgres://app@localhost/sites?password=hunter2".parse().unwrap();
        assert!(!url.redacted().contains("hunter2"));
        assert_eq!(redact_url("postgres://app@localhost/x"), "postgres://app@localhost/x");
    }

    #[test]
    fn malformed_urls_do_not_echo_themselves() {
        let error = "mysql://root:pw@x/y".parse::<DatabaseUrl>().unwrap_err();
        assert!(!error.contains("pw"));
        let error = "postgres://u:pw@host:notaport/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(!error.contains("pw"), "{error}");
    }

    #[test]
    fn cors_origins() {
        assert_eq!("*".parse::<CorsOrigin>().unwrap(), CorsOrigin::Any);
        assert!("https://app.example.org".parse::<CorsOrigin>().is_ok());
        assert!("http://localhost:5173".parse::<CorsOrigin>().is_ok());
        assert!("https://app.example.org/".parse::<CorsOrigin>().is_err());
        assert!("app.example.org".parse::<CorsOrigin>().is_err());
        assert_eq!(parse_cors_origins("").unwrap(), vec![]);
        assert_eq!(parse_cors_origins("https://a.org, https://b.org").unwrap().len(), 2);
        assert!(parse_cors_origins("https://a.org,nope").is_err());
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let error = Cli::try_parse_from(["clinical-sites", "--request-timeout-secs", "soon"]).unwrap_err();
        assert!(error.to_string().contains("REQUEST_TIMEOUT_SECS"), "{error}");
        let error = Cli::try_parse_from(["clinical-sites", "--log-format", "xml"]).unwrap_err();
        assert!(error.to_string().contains("LOG_FORMAT"), "{error}");
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = Config::defaults();
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_body_bytes, 1_048_576);
        assert!(config.database_url.is_none());
        let parsed = Cli::try_parse_from(["clinical-sites"]).unwrap().config;
        assert_eq!(parsed.database_read_max_lag, config.database_read_max_lag);
    }

    #[test]
    fn replica_lag_reads_milliseconds_seconds_or_a_number() {
        assert_eq!(parse_max_lag("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_max_lag("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_max_lag("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_max_lag("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["", "soon", "5m", "-1", "NaN", "inf", "10ms", "7200"] {
            assert!(parse_max_lag(bad).is_err(), "{bad}");
        }
    }
}
