//! The `clinical-sites` binary: reads the configuration, provides the database (starting a private
//! PostgreSQL when `DATABASE_URL` is unset), migrates it, and serves the API until SIGINT/SIGTERM.

use std::process::ExitCode;

use clinical_sites::config::{AdminCommand, Cli, Command, Config};
use clinical_sites::db::{self, Database, Usage};
use clinical_sites::imports::{Format, Options, Outcome, Step, UpsertBy};
use clinical_sites::{AppState, app, http, telemetry};

/// mimalloc rather than the system allocator: 18% less server CPU per search page at a million
/// sites (docs/performance.md, "Server").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A malformed variable stops here, with a message naming it (clap exits with status 2).
    let cli = Cli::from_env();
    let config = cli.config;
    telemetry::init(&config);
    tracing::debug!(?config, "configuration");

    // Take the port before anything else: a port conflict fails fast, before a database is started.
    let command = cli.command.unwrap_or(Command::Serve);
    let listeners = match command {
        Command::Serve => match listeners(&config) {
            Ok(listeners) => Some(listeners),
            Err(error) => {
                eprintln!("clinical-sites: {error}");
                return ExitCode::FAILURE;
            }
        },
        Command::Migrate
        | Command::Admin { .. }
        | Command::DemoData { .. }
        | Command::RecountReports
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Import { .. }
        | Command::Export { .. } => None,
    };
    let Some(database) = provision(&config, &command) else {
        return ExitCode::FAILURE;
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let result = runtime.block_on(async {
        match command {
            Command::Admin { command } => admin(command, &config, &database).await,
            Command::DemoData { count, remove } => demo_data(count, remove, &config, &database).await,
            Command::RecountReports => recount_reports(&config, &database).await,
            Command::Backup { file } => backup(&file, &config, &database),
            Command::Restore { file } => restore(&file, &config, &database).await,
            Command::Import {
                file,
                format,
                upsert_by,
                rejects,
            } => import(&file, format, upsert_by, rejects.as_deref(), &config, &database).await,
            Command::Export {
                format,
                output,
                query,
                include_demo,
            } => export(format, output.as_deref(), &query, include_demo, &config, &database).await,
            _ => run(listeners, config, &database).await,
        }
    });
    drop(runtime);
    database.shutdown();

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("clinical-sites: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The API's listener (`BIND_ADDR`) and, when `METRICS_ADDR` is set, the metrics' own.
fn listeners(config: &Config) -> Result<Listeners, String> {
    let bind = |address: std::net::SocketAddr, variable: &str| {
        std::net::TcpListener::bind(address)
            .map_err(|error| format!("cannot listen on {address} ({variable}): {error}"))
    };
    Ok(Listeners {
        api: bind(config.bind_addr, "BIND_ADDR")?,
        metrics: config
            .metrics_addr
            .map(|address| bind(address, "METRICS_ADDR"))
            .transpose()?,
    })
}

/// The sockets `serve` listens on, taken before anything else starts.
struct Listeners {
    api: std::net::TcpListener,
    metrics: Option<std::net::TcpListener>,
}

/// A listener taken with `std`, for tokio.
fn to_tokio(listener: std::net::TcpListener) -> Result<tokio::net::TcpListener, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())
}

/// The database for `command`, provided on the main thread before the runtime exists: the
/// private cluster's lifetime is tied to this process, and starting it blocks. `None` after
/// reporting why not.
fn provision(config: &Config, command: &Command) -> Option<Database> {
    let usage = match command {
        Command::Serve => Usage::Serve,
        Command::Migrate => Usage::Command("migrate"),
        Command::Admin { .. } => Usage::Command("admin"),
        Command::DemoData { .. } => Usage::Command("demo-data"),
        Command::RecountReports => Usage::Command("recount-reports"),
        Command::Backup { .. } => Usage::Command("backup"),
        Command::Restore { .. } => Usage::Command("restore"),
        Command::Import { .. } => Usage::Command("import"),
        Command::Export { .. } => Usage::Command("export"),
    };
    match Database::provision(config, usage) {
        Ok(database) => {
            tracing::info!(database = %database.describe(), "database provided");
            Some(database)
        }
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("clinical-sites: {error}");
            None
        }
    }
}

/// `clinical-sites admin ...`: migrates, then administers.
async fn admin(command: AdminCommand, config: &Config, database: &Database) -> Result<(), String> {
    let pool = prepare(config, database).await?;
    let result = match command {
        AdminCommand::Create { email, display_name } => {
            let (account, password) = clinical_sites::accounts::create_admin(&pool, &email, &display_name).await?;
            // The one place a password is printed: to the operator who asked for it, once.
            println!("created administrator {} ({})", account.email, account.account_id);
            println!("one-time password: {password}");
            println!("sign in with POST /v1/sessions, then set your own password with PATCH /v1/me");
            Ok(())
        }
    };
    pool.close().await;
    result
}

/// `clinical-sites import FILE`: migrates, then imports, with a progress bar on a terminal.
async fn import(
    file: &std::path::Path,
    format: Option<Format>,
    upsert_by: Option<UpsertBy>,
    rejects: Option<&std::path::Path>,
    config: &Config,
    database: &Database,
) -> Result<(), String> {
    let stdin = file.as_os_str() == "-";
    let format = format
        .or_else(|| Format::from_path(file))
        .ok_or("name the file's format with --format csv or --format ndjson (its name does not say)")?;
    let (input, length): (Box<dyn std::io::Read + Send>, u64) = if stdin {
        (Box::new(std::io::stdin()), 0)
    } else {
        let opened = std::fs::File::open(file).map_err(|error| format!("cannot open {}: {error}", file.display()))?;
        let length = opened.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(opened), length)
    };
    let pool = prepare(config, database).await?;
    let bar = if length > 0 {
        indicatif::ProgressBar::new(length)
    } else {
        indicatif::ProgressBar::no_length()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("reading");
    let input = bar.wrap_read(input);
    let started = std::time::Instant::now();
    let step = |step: Step| match step {
        Step::Read(rows) => bar.set_message(format!("{rows} rows")),
        Step::Matching => bar.set_message("matching"),
        Step::Written { done, total } => bar.set_message(format!("writing {done}/{total}")),
    };
    let options = Options {
        format,
        upsert_by,
        rejects_listed: if rejects.is_some() { usize::MAX } else { 20 },
    };
    let result = clinical_sites::imports::import_file(&pool, options, input, &step).await;
    bar.finish_and_clear();
    pool.close().await;
    let (import_id, outcome) = result?;
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Outcome::Imported {
            created,
            updated,
            unchanged,
        } => {
            println!(
                "imported {}: {created} sites created, {updated} updated, {unchanged} unchanged in {seconds:.1} s (import {import_id})",
                file.display()
            );
            Ok(())
        }
        Outcome::Rejected { rejected, rows } => {
            for problem in rows.iter().take(20) {
                let errors: Vec<String> = problem
                    .errors
                    .iter()
                    .map(|e| {
                        if e.field.is_empty() {
                            e.message.clone()
                        } else {
                            format!("{}: {}", e.field, e.message)
                        }
                    })
                    .collect();
                eprintln!("row {}: {}", problem.row, errors.join("; "));
            }
            if rows.len() > 20 {
                eprintln!("... and {} more rows", rejected - 20);
            }
            if let Some(path) = rejects {
                if stdin {
                    eprintln!("--rejects needs a file to read the rows from again, not standard input");
                } else {
                    let written = clinical_sites::imports::rejects::write(file, format, &rows, path)?;
                    eprintln!("wrote {written} refused rows, with why, to {}", path.display());
                }
            }
            Err(format!(
                "{rejected} rows break rules, so nothing was imported (import {import_id}); fix them and run the import again"
            ))
        }
        Outcome::Unreadable { detail, .. } => Err(format!("{detail}; nothing was imported (import {import_id})")),
    }
}

/// `clinical-sites export`: migrates, then writes the sites `query` finds, as `GET
/// /v1/sites/export` does (through the same search index, built here).
async fn export(
    format: Format,
    output: Option<&std::path::Path>,
    query: &str,
    include_demo: bool,
    config: &Config,
    database: &Database,
) -> Result<(), String> {
    use std::io::Write as _;
    let format_name = match format {
        Format::Csv => "csv",
        Format::Ndjson => "ndjson",
    };
    let full = format!("{query}&format={format_name}&include_demo={include_demo}");
    let request = clinical_sites::sites::export::Export::parse(full.trim_start_matches('&')).map_err(|error| {
        let problem = error.problem();
        let fields: Vec<String> = problem
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        format!("{} ({})", problem.detail, fields.join("; "))
    })?;
    let pool = prepare(config, database).await?;
    let mut out: Box<dyn std::io::Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|error| format!("cannot create {}: {error}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let state = AppState::new(pool.clone(), config.clone());
    let result = async {
        let mut chunks = clinical_sites::sites::export::start(state, request)
            .await
            .map_err(|error| error.to_string())?;
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.map_err(|error| format!("the export stopped: {error}"))?;
            out.write_all(&chunk)
                .map_err(|error| format!("cannot write the export: {error}"))?;
        }
        out.flush().map_err(|error| format!("cannot write the export: {error}"))
    }
    .await;
    pool.close().await;
    result
}

/// `clinical-sites recount-reports`: migrates, then counts every report afresh.
async fn recount_reports(config: &Config, database: &Database) -> Result<(), String> {
    let pool = prepare(config, database).await?;
    let started = std::time::Instant::now();
    let result = clinical_sites::reports::recount(&pool).await.map(|(rows, sites)| {
        println!(
            "{rows} statistics rows and {sites} site summaries counted afresh in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
    pool.close().await;
    result.map_err(|e| format!("recounting reports: {e}"))
}

/// `clinical-sites backup FILE`.
fn backup(file: &std::path::Path, config: &Config, database: &Database) -> Result<(), String> {
    let binaries =
        clinical_sites::postgres::Binaries::find(config.postgres_bin_dir.as_deref()).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    clinical_sites::backup::backup(&binaries, database, file)?;
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up the {} to {} ({bytes} bytes) in {:.1} s; restore it with `clinical-sites restore {}`",
        database.describe(),
        file.display(),
        started.elapsed().as_secs_f64(),
        file.display()
    );
    Ok(())
}

/// `clinical-sites restore FILE`: restores, then migrates (a backup of an older version).
async fn restore(file: &std::path::Path, config: &Config, database: &Database) -> Result<(), String> {
    let binaries =
        clinical_sites::postgres::Binaries::find(config.postgres_bin_dir.as_deref()).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    database
        .ensure_created()
        .await
        .map_err(|e| format!("preparing the database: {e}"))?;
    clinical_sites::backup::restore(&binaries, database, file).await?;
    let pool = prepare(config, database).await?;
    pool.close().await;
    println!(
        "restored {} into the {} in {:.1} s",
        file.display(),
        database.describe(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `clinical-sites demo-data [--count N | --remove]`: migrates, then fills or empties the demo sites.
async fn demo_data(count: u32, remove: bool, config: &Config, database: &Database) -> Result<(), String> {
    let pool = prepare(config, database).await?;
    let started = std::time::Instant::now();
    let result = if remove {
        clinical_sites::demo_data::remove(&pool)
            .await
            .map(|removed| println!("removed {removed} demo sites from the {}", database.describe()))
    } else {
        println!("adding {count} demo sites to the {} ...", database.describe());
        clinical_sites::demo_data::load(&pool, count).await.map(|loaded| {
            let replaced = match loaded.replaced {
                0 => String::new(),
                n => format!(" (replacing the {n} there were)"),
            };
            println!(
                "{} demo sites in place{replaced} in {:.1} s; remove them with `clinical-sites demo-data --remove`",
                loaded.sites,
                started.elapsed().as_secs_f64()
            );
        })
    };
    pool.close().await;
    result.map_err(|e| format!("demo data: {e}"))
}

/// Creates (if private) and migrates the database; returns the application pool.
async fn prepare(config: &Config, database: &Database) -> Result<sqlx::PgPool, String> {
    database
        .ensure_created()
        .await
        .map_err(|e| format!("preparing the database: {e}"))?;
    let pool = db::pool(database.connect_options(), config.database_max_connections);
    db::migrate(&pool)
        .await
        .map_err(|e| format!("migrating the database: {e}"))?;
    Ok(pool)
}

/// Migrates, then serves on `listeners` until a shutdown signal; only migrates without them.
async fn run(listeners: Option<Listeners>, config: Config, database: &Database) -> Result<(), String> {
    database
        .ensure_created()
        .await
        .map_err(|e| format!("preparing the database: {e}"))?;
    let migrations = db::pool(database.connect_options(), 1);
    let migrated = db::migrate(&migrations).await;
    migrations.close().await;
    migrated.map_err(|e| format!("migrating the database: {e}"))?;
    let Some(listeners) = listeners else {
        tracing::info!("migrations applied");
        return Ok(());
    };
    // Requests' statements stop when the request times out (REQUEST_TIMEOUT_SECS).
    let pool = db::pool(
        db::with_statement_timeout(database.connect_options(), config.request_timeout()),
        config.database_max_connections,
    );
    let (installation, cursor_key) = db::record_installation(&pool)
        .await
        .map_err(|e| format!("reading the installation record: {e}"))?;

    let listener = to_tokio(listeners.api)?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%installation, "listening on http://{address}");

    let serving = http::ServeOptions::new(&config);
    clinical_sites::auth::password::warm_up();
    let state = AppState::new(pool.clone(), config).with_cursor_key(cursor_key);
    // The search index is built now rather than by the first search (which waits for it).
    let index = state.clone();
    tokio::spawn(async move {
        if let Err(error) = index.build_search_index().await {
            tracing::warn!(%error, "building the search index failed; the first search tries again");
        }
    });
    let metrics_server = match listeners.metrics {
        Some(listener) => Some(tokio::spawn(serve_metrics(to_tokio(listener)?, state.clone()))),
        None => None,
    };
    let upkeep = clinical_sites::metrics::spawn_upkeep();
    let purge = clinical_sites::maintenance::spawn(pool.clone(), clinical_sites::maintenance::EVERY);
    let fold = clinical_sites::maintenance::spawn_fold(pool.clone(), clinical_sites::maintenance::FOLD_EVERY);
    let served = http::serve(listener, app(state), serving, http::shutdown_signal()).await;
    purge.abort();
    fold.abort();
    upkeep.abort();
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    pool.close().await;
    served.map_err(|e| format!("serving HTTP: {e}"))
}

/// Serves `GET /metrics` alone on `listener` until the service stops.
async fn serve_metrics(listener: tokio::net::TcpListener, state: AppState) {
    if let Ok(bound) = listener.local_addr() {
        tracing::info!("metrics on http://{bound}/metrics");
    }
    let router = clinical_sites::metrics::private_router(state);
    if let Err(error) = axum::serve(listener, router).await {
        tracing::error!(%error, "serving the metrics stopped");
    }
}
