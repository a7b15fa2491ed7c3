//! The `clinical-sites` binary: reads the configuration, provides the database (starting a private
//! PostgreSQL when `DATABASE_URL` is unset), migrates it, and serves the API until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use clinical_sites::config::{Cli, Command, Config};
use clinical_sites::db::{self, Database};
use clinical_sites::{AppState, app, http, telemetry};

fn main() -> ExitCode {
    // A malformed variable stops here, with a message naming it (clap exits with status 2).
    let cli = Cli::from_env();
    let config = cli.config;
    telemetry::init(&config);
    tracing::debug!(?config, "configuration");

    // Provision on the main thread, before the runtime exists: the private cluster's lifetime is
    // tied to this process, and starting it blocks.
    let database = match Database::provision(&config) {
        Ok(database) => database,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("clinical-sites: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(database = %database.describe(), "database provided");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config, &database));
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

async fn run(command: Command, config: Config, database: &Database) -> Result<(), String> {
    database
        .ensure_created()
        .await
        .map_err(|e| format!("preparing the database: {e}"))?;
    let pool = db::pool(database.connect_options(), config.database_max_connections);
    db::migrate(&pool)
        .await
        .map_err(|e| format!("migrating the database: {e}"))?;
    if command == Command::Migrate {
        tracing::info!("migrations applied");
        pool.close().await;
        return Ok(());
    }
    let installation = db::record_installation(&pool)
        .await
        .map_err(|e| format!("reading the installation record: {e}"))?;

    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .map_err(|e| format!("listening on {} (BIND_ADDR): {e}", config.bind_addr))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%installation, "listening on http://{address}");

    let grace = config.shutdown_grace();
    let state = AppState {
        pool: pool.clone(),
        config: Arc::new(config),
    };
    let served = http::serve(listener, app(state), http::shutdown_signal(), grace).await;
    pool.close().await;
    served.map_err(|e| format!("serving HTTP: {e}"))
}
