//! `clinical-sites backup FILE` and `clinical-sites restore FILE`: the database the service uses
//! (its private cluster by default, or `DATABASE_URL`), written and read by PostgreSQL's own
//! `pg_dump` and `pg_restore` in their custom format (compressed; every table, its rows, the
//! schema and the migrations applied). See `docs/deployment.md`, "Backup and restore".
//!
//! The connection reaches the tools through libpq's environment (`PGHOST`, `PGPASSWORD`, ...),
//! never their command line, so no password shows in the process list.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgConnection};

use crate::db::{Database, LOCAL_DATABASE};
use crate::postgres::Binaries;

/// The database a restore is written into first, in a private cluster: the service's database
/// is replaced by it only once the whole backup is in.
const RESTORING: &str = "clinical_sites_restoring";
/// The service's database while a restore replaces it.
const REPLACED: &str = "clinical_sites_replaced";

/// Writes a backup of `database` to `file` (written beside it, then renamed: a failed backup
/// leaves no partial file under its name). Works beside a running service: `pg_dump` reads one
/// consistent snapshot.
pub fn backup(binaries: &Binaries, database: &Database, file: &Path) -> Result<(), String> {
    let partial = partial_path(file);
    let mut command = Command::new(binaries.tool("pg_dump"));
    command
        .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(&partial);
    connect(&mut command, database, None);
    let outcome = run(command, "pg_dump");
    if let Err(error) = outcome {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    std::fs::rename(&partial, file).map_err(|e| format!("writing {}: {e}", file.display()))
}

/// Replaces the contents of `database` with the backup in `file`. Nothing changes unless the
/// whole backup is read: in a private cluster it is restored into a database of its own, which
/// then takes the service's database's place; with `DATABASE_URL`, `pg_restore` drops and
/// recreates what the backup holds in one transaction. Stop the service (every instance) first.
pub async fn restore(binaries: &Binaries, database: &Database, file: &Path) -> Result<(), String> {
    if !file.is_file() {
        return Err(format!("{}: no such file", file.display()));
    }
    match database {
        Database::Shared { .. } => Err(
            "a service is running on this DATA_DIR: stop it before restoring (a restore replaces its database)"
                .to_owned(),
        ),
        Database::External(_) => {
            let mut command = Command::new(binaries.tool("pg_restore"));
            command.args([
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
            ]);
            connect(&mut command, database, None);
            let name = database
                .connect_options()
                .get_database()
                .unwrap_or(LOCAL_DATABASE)
                .to_owned();
            command.arg(format!("--dbname={name}")).arg(file);
            run(command, "pg_restore")
        }
        Database::Local { .. } => restore_private(binaries, database, file).await,
    }
}

/// [`restore`] in the private cluster: into a database of its own, which then takes the place of
/// the service's.
async fn restore_private(binaries: &Binaries, database: &Database, file: &Path) -> Result<(), String> {
    let mut conn = PgConnection::connect_with(&database.admin_options())
        .await
        .map_err(database_error)?;
    execute(&mut conn, &format!("drop database if exists {RESTORING}")).await?;
    execute(&mut conn, &format!("create database {RESTORING}")).await?;
    let mut command = Command::new(binaries.tool("pg_restore"));
    command.args([
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
    ]);
    connect(&mut command, database, Some(RESTORING));
    command.arg(format!("--dbname={RESTORING}")).arg(file);
    if let Err(error) = run(command, "pg_restore") {
        let _ = execute(&mut conn, &format!("drop database if exists {RESTORING}")).await;
        return Err(error);
    }
    execute(&mut conn, &format!("drop database if exists {REPLACED}")).await?;
    execute(
        &mut conn,
        &format!("alter database {LOCAL_DATABASE} rename to {REPLACED}"),
    )
    .await?;
    execute(
        &mut conn,
        &format!("alter database {RESTORING} rename to {LOCAL_DATABASE}"),
    )
    .await?;
    execute(&mut conn, &format!("drop database {REPLACED}")).await?;
    conn.close().await.map_err(database_error)
}

/// `file` with `.partial` added to its name.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

/// Points `command` at `database` (or another database of the same server) through libpq's
/// environment.
fn connect(command: &mut Command, database: &Database, name: Option<&str>) {
    let options: PgConnectOptions = database.connect_options();
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_owned(),
    };
    command
        .env("PGHOST", host)
        .env("PGPORT", options.get_port().to_string())
        .env("PGUSER", options.get_username())
        .env("PGDATABASE", name.or(options.get_database()).unwrap_or(LOCAL_DATABASE))
        .env("PGSSLMODE", ssl_mode(options.get_ssl_mode()))
        .env_remove("PGPASSWORD");
    if let Database::External(url) = database
        && let Some(password) = url.password()
    {
        command.env("PGPASSWORD", password);
    }
}

fn ssl_mode(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Runs a PostgreSQL tool; its own message when it fails.
fn run(mut command: Command, tool: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("running {tool}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!("{tool} failed ({}): {}", output.status, stderr.trim()))
}

async fn execute(conn: &mut PgConnection, statement: &str) -> Result<(), String> {
    // Runtime SQL: database names, which are this module's constants.
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(database_error)
}

fn database_error(error: sqlx::Error) -> String {
    format!("restoring: {error}")
}
