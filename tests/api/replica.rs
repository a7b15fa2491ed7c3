//! Read replicas (`DATABASE_READ_URL`), against a real streaming replica: a primary of the test's
//! own and a standby made from it with `pg_basebackup -R`, each on its own socket. Public reads go
//! to the replica, the writer's own reads to the primary until the replica has their write, and
//! reads fall back to the primary while the replica lags past `DATABASE_READ_MAX_LAG` or is down,
//! and return when it is back; `/readyz` says which.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use clinical_sites::postgres::{Binaries, ClusterOptions, LocalCluster};
use clinical_sites::{AppState, app, config::Config};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::support::{TempDir, TestResponse, request, send, site_body};

fn cluster_options(dir: &TempDir, name: &str) -> ClusterOptions {
    ClusterOptions {
        data_dir: dir.0.join(name),
        log_file: dir.0.join(format!("{name}.log")),
        durable: false,
    }
}

async fn start(dir: &TempDir, name: &str) -> LocalCluster {
    let options = cluster_options(dir, name);
    tokio::task::spawn_blocking(move || {
        LocalCluster::start(&Binaries::find(None).expect("PostgreSQL server binaries"), &options)
            .expect("the cluster starts")
    })
    .await
    .unwrap()
}

fn socket(options: &PgConnectOptions) -> String {
    options.get_socket().expect("a socket cluster").display().to_string()
}

async fn one<T>(options: &PgConnectOptions, sql: &'static str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let mut conn = PgConnection::connect_with(options).await.expect("connecting");
    let value = sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect(sql);
    conn.close().await.ok();
    value
}

async fn call(router: &Router, method: Method, uri: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
    send(router, request(method, uri, token, body, &[])).await
}

/// Polls `/readyz` until its replica state is `wanted`; returns the probe's body.
async fn wait_for_replica(router: &Router, wanted: &str, patience: Duration) -> Value {
    let deadline = Instant::now() + patience;
    loop {
        let response = call(router, Method::GET, "/readyz", None, None).await;
        let body = response.json();
        if response.status == StatusCode::OK && body["replica"]["state"] == wanted {
            return body;
        }
        assert!(Instant::now() < deadline, "the replica never became {wanted}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Backends of the service's read pool on `options`' server that have read sites.
async fn site_reads_on(options: &PgConnectOptions) -> i64 {
    one(
        options,
        "select count(*) from pg_stat_activity where application_name = 'clinical-sites' and query ilike '%from site%'",
    )
    .await
}

#[tokio::test]
async fn public_reads_go_to_a_streaming_replica_writers_read_their_writes_and_reads_fall_back_while_it_lags_or_is_down()
{
    let dir = TempDir::new("replica");
    let primary = start(&dir, "primary").await;
    let primary_db = primary.connect_options("postgres");
    let pool = clinical_sites::db::pool(primary_db.clone(), 4);
    clinical_sites::db::migrate(&pool).await.expect("migrating the primary");

    // The standby: a base backup of the primary that streams from it (-R writes its connection).
    let replica_dir = cluster_options(&dir, "replica").data_dir;
    let basebackup = Binaries::find(None).unwrap().tool("pg_basebackup");
    let output = std::process::Command::new(basebackup)
        .arg("--pgdata")
        .arg(&replica_dir)
        .args([
            "--write-recovery-conf",
            "--wal-method=stream",
            "--no-sync",
            "--checkpoint=fast",
            "--username=postgres",
        ])
        .arg(format!("--host={}", socket(&primary_db)))
        .arg("--port=5432")
        .output()
        .expect("running pg_basebackup");
    assert!(
        output.status.success(),
        "pg_basebackup: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The primary's socket lives in its folder: the backup copied the socket's lock file.
    for entry in std::fs::read_dir(&replica_dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with(".s.PGSQL.") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let mut replica = Some(start(&dir, "replica").await);
    let replica_db = replica.as_ref().unwrap().connect_options("postgres");
    assert_ne!(
        socket(&replica_db),
        socket(&primary_db),
        "each server has its own socket"
    );
    assert!(
        one::<bool>(&replica_db, "select pg_is_in_recovery()").await,
        "a standby"
    );
    assert!(!one::<bool>(&primary_db, "select pg_is_in_recovery()").await);

    let mut config = Config::defaults();
    config.database_read_url = Some(
        format!(
            "postgres://postgres@localhost/postgres?host={}&port=5432",
            socket(&replica_db)
        )
        .parse()
        .expect("a replica URL"),
    );
    config.database_read_max_lag = Duration::from_secs(3);
    config.rate_limit_per_minute = 0;
    let state = AppState::new(pool.clone(), config);
    let router = app(state.clone());
    let ready = wait_for_replica(&router, "serving", Duration::from_secs(15)).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["replica"]["max_lag_seconds"], 3.0);

    let (_, password) = clinical_sites::accounts::create_admin(&pool, "admin@example.org", "Admin")
        .await
        .unwrap();
    let signed_in = call(
        &router,
        Method::POST,
        "/v1/sessions",
        None,
        Some(&json!({"email": "admin@example.org", "password": password})),
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{signed_in:?}");
    let admin = signed_in.json()["token"].as_str().unwrap().to_owned();

    // Replay paused once the replica has all written so far: it serves (within the lag bound) but
    // lacks what is written next.
    let written: i64 = one(&primary_db, "select (pg_current_wal_insert_lsn() - '0/0')::int8").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while one::<i64>(&replica_db, "select (pg_last_wal_replay_lsn() - '0/0')::int8").await < written {
        assert!(Instant::now() < deadline, "the replica does not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    one::<String>(&replica_db, "select pg_wal_replay_pause()::text").await;
    while one::<String>(&replica_db, "select pg_get_wal_replay_pause_state()").await != "paused" {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Two of the monitor's checks (every 500 ms): it knows the replica has the sign-in (an
    // anonymous write: anonymous reads stay on the primary until the replica has it).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    wait_for_replica(&router, "serving", Duration::from_secs(10)).await;
    let created = call(
        &router,
        Method::POST,
        "/v1/sites",
        Some(&admin),
        Some(&site_body("Riverside Imaging Center", "43210")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let uri = format!("/v1/sites/{}", created.json()["site_id"].as_str().unwrap());
    let own = call(&router, Method::GET, &uri, Some(&admin), None).await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "the writer reads their write, from the primary: {own:?}"
    );
    let before = site_reads_on(&replica_db).await;
    let other = call(&router, Method::GET, &uri, None, None).await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another caller reads the replica, which lacks it"
    );
    assert!(
        site_reads_on(&replica_db).await >= before.max(1),
        "the replica served that read"
    );

    // Past DATABASE_READ_MAX_LAG the primary answers everyone.
    let lagging = wait_for_replica(&router, "lagging", Duration::from_secs(15)).await;
    assert!(
        lagging["replica"]["detail"]
            .as_str()
            .unwrap()
            .contains("DATABASE_READ_MAX_LAG"),
        "{lagging}"
    );
    assert_eq!(
        call(&router, Method::GET, &uri, None, None).await.status,
        StatusCode::OK
    );
    let metrics = String::from_utf8(call(&router, Method::GET, "/metrics", None, None).await.body).unwrap();
    assert!(metrics.contains("db_replica_state{state=\"lagging\"} 1"), "{metrics}");

    // Replay resumed: the replica catches up and serves again, with the site.
    one::<String>(&replica_db, "select pg_wal_replay_resume()::text").await;
    wait_for_replica(&router, "serving", Duration::from_secs(15)).await;
    let found = call(&router, Method::GET, &uri, None, None).await;
    assert_eq!(found.status, StatusCode::OK, "{found:?}");
    assert_eq!(found.json(), own.json(), "the replica has the same site");

    // The replica stops: reads fall back to the primary at once, and /readyz says so.
    let stopped = replica.take().unwrap();
    tokio::task::spawn_blocking(move || stopped.stop()).await.unwrap();
    let fallback = call(&router, Method::GET, &uri, None, None).await;
    assert_eq!(fallback.status, StatusCode::OK, "read from the primary: {fallback:?}");
    let search = call(&router, Method::GET, "/v1/sites?q=riverside", None, None).await;
    assert_eq!(search.status, StatusCode::OK, "{search:?}");
    assert_eq!(search.json()["items"][0]["name"], "Riverside Imaging Center");
    let down = wait_for_replica(&router, "down", Duration::from_secs(10)).await;
    assert!(down["replica"]["detail"].as_str().is_some(), "{down}");
    let metrics = String::from_utf8(call(&router, Method::GET, "/metrics", None, None).await.body).unwrap();
    assert!(metrics.contains("db_replica_state{state=\"down\"} 1"), "{metrics}");

    // It comes back: reads return to it (fresh connections: the old ones were cut).
    let replica = start(&dir, "replica").await;
    let replica_db = replica.connect_options("postgres");
    wait_for_replica(&router, "serving", Duration::from_secs(20)).await;
    let back = call(&router, Method::GET, &uri, None, None).await;
    assert_eq!(back.status, StatusCode::OK, "{back:?}");
    assert!(site_reads_on(&replica_db).await >= 1, "the replica serves reads again");
    let search = call(&router, Method::GET, "/v1/sites?q=riverside", None, None).await;
    assert_eq!(search.json()["items"][0]["name"], "Riverside Imaging Center");

    drop(router);
    drop(state);
    pool.close().await;
    tokio::task::spawn_blocking(move || {
        replica.stop();
        primary.stop();
    })
    .await
    .unwrap();
}
