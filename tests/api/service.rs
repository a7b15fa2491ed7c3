//! The service binary as a newcomer runs it: no configuration, its own PostgreSQL, clean stops.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::support::client::{Service, service_command};
use crate::support::{TempDir, TestDb, postgres_processes, server};

/// The installation id, read over the private cluster's socket while the service runs.
fn installation_id(data_dir: &std::path::Path) -> uuid::Uuid {
    let options = sqlx::postgres::PgConnectOptions::new()
        .socket(data_dir.join("postgres"))
        .username("postgres")
        .database("clinical_sites");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = PgConnection::connect_with(&options).await.unwrap();
        sqlx::query_scalar("select installation_id from installation")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

fn wait_until_no_postgres(data_dir: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !postgres_processes(data_dir).is_empty() {
        assert!(Instant::now() < deadline, "postgres processes left for {data_dir}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fresh_run_serves_stops_cleanly_and_keeps_its_data() {
    let dir = TempDir::new("service");
    let cluster_dir = dir.0.join("postgres").display().to_string();

    let service = Service::start(service_command(&dir.0));
    assert_eq!(service.get("/readyz").0, 200);
    let first_id = installation_id(&dir.0);
    let (code, output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        postgres_processes(&cluster_dir).is_empty(),
        "no postgres after SIGTERM:\n{output}"
    );

    let service = Service::start(service_command(&dir.0));
    assert_eq!(service.get("/readyz").0, 200);
    assert_eq!(
        installation_id(&dir.0),
        first_id,
        "the second run finds the first run's data"
    );
    let (code, output) = service.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        postgres_processes(&cluster_dir).is_empty(),
        "no postgres after SIGINT:\n{output}"
    );
}

#[test]
fn a_killed_service_leaves_no_postgres_and_the_next_start_recovers() {
    let dir = TempDir::new("killed");
    let cluster_dir = dir.0.join("postgres").display().to_string();
    let service = Service::start(service_command(&dir.0));
    assert_eq!(service.get("/readyz").0, 200);
    let _ = service.stop(libc::SIGKILL);
    wait_until_no_postgres(&cluster_dir);

    let service = Service::start(service_command(&dir.0));
    assert_eq!(service.get("/readyz").0, 200);
    let (code, output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
    assert!(postgres_processes(&cluster_dir).is_empty());
}

#[tokio::test]
async fn with_database_url_the_service_uses_it_and_starts_no_cluster() {
    let db = TestDb::new().await;
    let dir = TempDir::new("external");
    let mut url = server().url(&db.name);
    // Trust authentication ignores the password; it is here to prove it is never printed.
    let secret = "never-printed-7f3a";
    if url.starts_with("postgres://postgres@") {
        url = url.replacen("postgres://postgres@", &format!("postgres://postgres:{secret}@"), 1);
    }
    let mut command = service_command(&dir.0);
    command
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", "json");
    let output = tokio::task::spawn_blocking(move || {
        let service = Service::start(command);
        assert_eq!(service.get("/readyz").0, 200);
        service.stop(libc::SIGTERM)
    })
    .await
    .unwrap();
    assert_eq!(output.0, Some(0), "{}", output.1);
    assert!(!dir.0.join("postgres").exists(), "no private cluster was created");
    assert!(!output.1.contains(secret), "the password was logged:\n{}", output.1);
    // JSON logs: one object per line, and one span per request with route, status and latency.
    let events: Vec<serde_json::Value> = output
        .1
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .collect();
    let readyz = events
        .iter()
        .find(|event| event["span"]["route"] == "/readyz" && event["message"] == "finished")
        .unwrap_or_else(|| panic!("no request span for /readyz in {events:#?}"));
    assert_eq!(readyz["span"]["status"], 200);
    assert!(readyz["span"]["latency_ms"].is_number());
    assert!(readyz["span"]["request_id"].is_string());
    let installations: i64 = sqlx::query_scalar("select count(*) from installation")
        .fetch_one(&db.pool())
        .await
        .unwrap();
    assert_eq!(installations, 1, "the service wrote to the database it was given");
}

#[test]
fn a_second_service_on_the_same_data_dir_is_refused() {
    let dir = TempDir::new("busy");
    let first = Service::start(service_command(&dir.0));
    let output = service_command(&dir.0).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already using"), "{stderr}");
    assert_eq!(first.get("/readyz").0, 200, "the first service keeps its database");
    let (code, output) = first.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test]
async fn migrate_applies_the_migrations_and_exits() {
    let server = server();
    let name = format!("cs_migrate_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect_with(&server.options("postgres")).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let dir = TempDir::new("migrate");
    let mut command = service_command(&dir.0);
    command.arg("migrate").env("DATABASE_URL", server.url(&name));
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));

    let mut conn = PgConnection::connect_with(&server.options(&name)).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied as usize, clinical_sites::db::MIGRATOR.iter().count());
    let tables = "select tablename::text from pg_tables where schemaname = 'public' order by 1";
    let migrated: Vec<String> = sqlx::query_scalar(tables).fetch_all(&mut conn).await.unwrap();
    let template: Vec<String> = sqlx::query_scalar(tables)
        .fetch_all(&TestDb::new().await.pool())
        .await
        .unwrap();
    assert_eq!(migrated, template, "the same schema as the test template");
    assert!(migrated.contains(&"installation".to_owned()));
    conn.close().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database {name} with (force)")))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[test]
fn a_malformed_setting_stops_start_up_naming_it() {
    let dir = TempDir::new("config");
    for (variable, value) in [
        ("REQUEST_TIMEOUT_SECS", "soon"),
        ("BIND_ADDR", "localhost"),
        ("DATABASE_URL", "mysql://root:hunter2@db/x"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("MAX_BODY_BYTES", "1tb"),
        ("HEADER_READ_TIMEOUT_SECS", "0"),
        ("KEEP_ALIVE_TIMEOUT_SECS", "-1"),
        ("MAX_CONNECTIONS", "lots"),
        ("MAX_IN_FLIGHT", "0"),
        ("LOG_FORMAT", "xml"),
        ("CORS_ALLOWED_ORIGINS", "example.org"),
        ("RUST_LOG", "info,[[["),
    ] {
        let mut command = service_command(&dir.0);
        command.env(variable, value);
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value} was accepted");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    assert!(!dir.0.join("postgres").exists(), "nothing was started");
}

#[test]
fn without_database_url_or_binaries_start_up_names_both_remedies() {
    let dir = TempDir::new("nobinaries");
    let mut command = service_command(&dir.0);
    command.env("POSTGRES_BIN_DIR", dir.0.join("no-such-bin"));
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(stderr.contains("install the PostgreSQL server binaries"), "{stderr}");
}

/// The one-time password `admin create` printed, checking it succeeded.
fn one_time_password(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("one-time password: "))
        .expect("the password is printed")
        .to_owned()
}

#[tokio::test]
async fn admin_create_prints_a_one_time_password_that_signs_in_as_an_admin() {
    let db = TestDb::new().await;
    let dir = TempDir::new("admin");
    let mut command = service_command(&dir.0);
    command
        .args([
            "admin",
            "create",
            "--email",
            "Root@Example.org",
            "--display-name",
            "Site Admin",
        ])
        .env("DATABASE_URL", server().url(&db.name));
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let password = one_time_password(&output);

    let router = clinical_sites::app(clinical_sites::AppState::new(
        db.pool(),
        clinical_sites::config::Config::defaults(),
    ));
    let sign_in = serde_json::json!({"email": "root@example.org", "password": password});
    let response = crate::support::send(
        &router,
        axum::http::Request::post("/v1/sessions")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(sign_in.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(response.status, axum::http::StatusCode::CREATED);
    assert_eq!(response.json()["account"]["role"], "admin");

    // The same email again is refused, and no default credentials exist.
    let mut again = service_command(&dir.0);
    again
        .args(["admin", "create", "--email", "root@example.org"])
        .env("DATABASE_URL", server().url(&db.name));
    let output = tokio::task::spawn_blocking(move || again.output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success());
}

/// A first run as a newcomer types it: `clinical-sites` in a checkout inside a private home
/// folder (mode 0700, as `/root` is), with nothing set but an ephemeral port.
fn first_run_command(binary: &std::path::Path, checkout: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BIND_ADDR", "127.0.0.1:0")
        .current_dir(checkout)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// A private home folder (0700) owned by `owner`, holding a `clinical-sites` checkout folder.
fn private_home(dir: &TempDir, owner: Option<(u32, u32)>) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let home = dir.0.join("home");
    let checkout = home.join("clinical-sites");
    std::fs::create_dir_all(&checkout).unwrap();
    for folder in [&home, &checkout] {
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(folder, Some(uid), Some(gid)).unwrap();
        }
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    checkout
}

/// Removes a relocated cluster folder when the test ends, passed or not.
struct RemoveOnDrop(Option<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(folder) = self.0.take() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

/// Runs the service twice from `checkout` (SIGTERM in between) and checks the second run finds the
/// first one's data; returns where the cluster lives and everything the first run printed.
fn serve_twice(mut command: impl FnMut() -> std::process::Command, checkout: &std::path::Path) -> String {
    let data = checkout.join("data");
    let service = Service::start(command());
    assert_eq!(service.get("/readyz").0, 200, "{}", service.output.join("\n"));
    let first_id = installation_id(&data);
    let (code, first_output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{first_output}");
    let service = Service::start(command());
    assert_eq!(service.get("/readyz").0, 200);
    assert_eq!(
        installation_id(&data),
        first_id,
        "the second run finds the first run's data"
    );
    let (code, output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
    first_output
}

#[test]
fn a_first_run_from_a_private_home_folder_needs_no_configuration() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = TempDir::new("home");
    let checkout = private_home(&dir, None);
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_clinical-sites"));
    let link = checkout.join("data/postgres");
    let mut cleanup = RemoveOnDrop(None);
    let output = serve_twice(
        || {
            let command = first_run_command(&binary, &checkout);
            // Known after the first start: the relocated folder, removed when the test ends.
            if let Ok(target) = std::fs::read_link(&link) {
                cleanup.0 = target.parent().map(std::path::Path::to_path_buf);
            }
            command
        },
        &checkout,
    );
    let target = std::fs::read_link(&link);
    if root {
        // PostgreSQL runs as `postgres`, which cannot pass through the 0700 home: the cluster lives
        // in the relocation folder, and the data folder links to it.
        let target = target.expect("data/postgres is a link to the relocated cluster");
        assert!(
            target.starts_with(clinical_sites::postgres::RELOCATION_ROOT),
            "{}",
            target.display()
        );
        assert!(target.join("PG_VERSION").is_file());
        cleanup.0 = target.parent().map(std::path::Path::to_path_buf);
        assert!(
            output.contains(&format!("private cluster in {}", target.display())) && output.contains("linked from"),
            "the log says where the data is:\n{output}"
        );
        wait_until_no_postgres(&target.display().to_string());
    } else {
        assert!(target.is_err(), "an ordinary user's cluster stays in the checkout");
        assert!(link.join("PG_VERSION").is_file());
        assert!(
            output.contains(&format!("private cluster in {}", link.display())),
            "{output}"
        );
    }
}

#[test]
fn a_first_run_as_an_ordinary_user_from_a_private_home_folder() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // the test above ran as an ordinary user already
    }
    use std::os::unix::process::CommandExt;
    let (uid, gid) = (65534, 65534); // nobody
    let dir = TempDir::new("user");
    // The binary where that user can run it (the build folder may be inside /root).
    let bin = dir.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let binary = bin.join("clinical-sites");
    std::fs::copy(env!("CARGO_BIN_EXE_clinical-sites"), &binary).unwrap();
    let checkout = private_home(&dir, Some((uid, gid)));
    let output = serve_twice(
        || {
            let mut command = first_run_command(&binary, &checkout);
            command.uid(uid).gid(gid);
            command
        },
        &checkout,
    );
    let cluster = checkout.join("data/postgres");
    assert!(
        std::fs::read_link(&cluster).is_err(),
        "no relocation for an ordinary user"
    );
    assert!(
        output.contains(&format!("private cluster in {}", cluster.display())),
        "{output}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(cluster.join("PG_VERSION")).unwrap().uid(), uid);
}

#[tokio::test]
async fn admin_create_beside_a_running_service_uses_its_cluster() {
    let dir = TempDir::new("beside");
    let data_dir = dir.0.clone();
    let (service, output) = tokio::task::spawn_blocking(move || {
        let service = Service::start(service_command(&data_dir));
        let mut admin = service_command(&data_dir);
        admin.args(["admin", "create", "--email", "second@example.org"]);
        (service, admin.output().unwrap())
    })
    .await
    .unwrap();
    let password = one_time_password(&output);
    // The service still runs on its cluster and knows the new administrator.
    let body = serde_json::json!({"email": "second@example.org", "password": password}).to_string();
    let addr = service.addr;
    let (status, _) = tokio::task::spawn_blocking(move || {
        crate::support::client::request_with(addr, "POST", "/v1/sessions", None, Some(&body)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status, 201);
    assert_eq!(service.get("/readyz").0, 200);
    let (code, output) = tokio::task::spawn_blocking(move || service.stop(libc::SIGTERM))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{output}");
    assert!(postgres_processes(&dir.0.join("postgres").display().to_string()).is_empty());
}

#[test]
fn demo_data_beside_a_running_service_fills_then_removes_exactly_the_demo_sites() {
    let dir = TempDir::new("demo");
    let service = Service::start(service_command(&dir.0));
    // The total a search shows once the service's index has read the command's writes from the
    // change feed (within about a second; give up after ten).
    let total_becomes = |service: &Service, expected: i64| -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (status, body) = service.get("/v1/sites?limit=1");
            assert_eq!(status, 200, "{body}");
            let total = serde_json::from_str::<serde_json::Value>(&body).unwrap()["total"].clone();
            if total["value"] == expected || std::time::Instant::now() > deadline {
                return total;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let demo = |args: &[&str]| {
        let mut command = service_command(&dir.0);
        command.arg("demo-data").args(args);
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let printed = demo(&["--count", "150"]);
    assert!(printed.contains("150 demo sites in place"), "{printed}");
    assert_eq!(
        total_becomes(&service, 150),
        serde_json::json!({"value": 150, "relation": "eq"})
    );
    let printed = demo(&["--count", "150"]);
    assert!(printed.contains("replacing the 150"), "{printed}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        total_becomes(&service, 150),
        serde_json::json!({"value": 150, "relation": "eq"}),
        "not doubled"
    );
    let printed = demo(&["--remove"]);
    assert!(printed.contains("removed 150 demo sites"), "{printed}");
    assert_eq!(
        total_becomes(&service, 0),
        serde_json::json!({"value": 0, "relation": "eq"})
    );
    // Bad arguments are refused before anything runs.
    for args in [
        &["--count", "0"][..],
        &["--count", "5", "--remove"],
        &["--count", "many"],
    ] {
        let mut command = service_command(&dir.0);
        command.arg("demo-data").args(args);
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(service.get("/readyz").0, 200);
    let (code, output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
    // Without a service, the command starts the cluster for as long as it runs.
    let printed = demo(&["--count", "20"]);
    assert!(printed.contains("20 demo sites in place"), "{printed}");
    wait_until_no_postgres(&dir.0.join("postgres").display().to_string());
    let service = Service::start(service_command(&dir.0));
    assert_eq!(
        total_becomes(&service, 20),
        serde_json::json!({"value": 20, "relation": "eq"})
    );
    let (code, output) = service.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{output}");
}
