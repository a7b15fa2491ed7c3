//! Migrations: embedded, idempotent, safe when several instances start at once.

use clinical_sites::db;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::server;

#[tokio::test]
async fn concurrent_migrations_on_an_empty_database_all_succeed() {
    let server = server();
    let name = format!("cs_concurrent_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect_with(&server.options("postgres")).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .unwrap();

    let pools: Vec<_> = (0..4).map(|_| db::pool(server.options(&name), 2)).collect();
    let tasks: Vec<_> = pools
        .iter()
        .cloned()
        .map(|pool| tokio::spawn(async move { db::migrate(&pool).await }))
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every instance finds the schema current");
    }
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&pools[0])
        .await
        .unwrap();
    assert_eq!(applied as usize, db::MIGRATOR.iter().count());
    let first = db::record_installation(&pools[0]).await.unwrap();
    assert_eq!(
        db::record_installation(&pools[1]).await.unwrap(),
        first,
        "one installation row"
    );

    for pool in pools {
        pool.close().await;
    }
    sqlx::query(AssertSqlSafe(format!("drop database {name} with (force)")))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Searches have a pool of their own: with every one of its connections taken, the main pool
/// (writes) still has all of its own, on the same database with the same settings.
#[tokio::test]
async fn searches_have_a_pool_of_their_own() {
    let app = crate::support::TestApp::new().await;
    let state = clinical_sites::AppState::new(app.pool.clone(), clinical_sites::config::Config::defaults());
    let size = state.search_pool.options().get_max_connections();
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(state.search_pool.acquire().await.unwrap());
    }
    let (database, workers): (String, String) =
        sqlx::query_as("select current_database(), current_setting('max_parallel_workers_per_gather')")
            .fetch_one(&state.pool)
            .await
            .unwrap();
    let (search_database, search_workers): (String, String) =
        sqlx::query_as("select current_database(), current_setting('max_parallel_workers_per_gather')")
            .fetch_one(&mut *held[0])
            .await
            .unwrap();
    assert_eq!((database.as_str(), workers.as_str()), (search_database.as_str(), "0"));
    assert_eq!(search_workers, "0");
    assert_eq!(state.pool.options().get_max_connections(), size);
}

/// Runs blocking cluster work (start, stop) off the test's runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

#[tokio::test]
async fn with_the_database_down_requests_get_503_with_retry_after_and_recover_when_it_is_back() {
    use clinical_sites::postgres::{Binaries, ClusterOptions, LocalCluster};
    let dir = crate::support::TempDir::new("outage");
    let options = ClusterOptions {
        data_dir: dir.0.join("pg"),
        log_file: dir.0.join("postgres.log"),
        durable: false,
    };
    let start = {
        let options = options.clone();
        move || LocalCluster::start(&Binaries::find(None).unwrap(), &options).expect("the cluster starts")
    };
    let cluster = blocking(start.clone()).await;
    let mut admin = PgConnection::connect_with(&cluster.connect_options("postgres"))
        .await
        .unwrap();
    sqlx::query("create database outage").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let pool = db::pool(cluster.connect_options("outage"), 2);
    db::migrate(&pool).await.unwrap();
    // A site, so that a page of results has a row to read.
    sqlx::query(
        "insert into site (site_id, name, site_type, city, state, postal_code, source, latitude, longitude, coordinates_source)
         values (gen_random_uuid(), 'Outage Imaging', 'clinic', 'Columbus', 'OH', '43210', 'import', 39.99, -83.01, 'zip_centroid')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let app = clinical_sites::app(clinical_sites::AppState::new(
        pool,
        clinical_sites::config::Config::defaults(),
    ));
    let get = |uri: &'static str| {
        let app = app.clone();
        async move {
            crate::support::send(
                &app,
                axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap(),
            )
            .await
        }
    };
    for uri in ["/v1/sites", "/v1/sites?near=43210&radius=10mi", "/readyz"] {
        assert_eq!(get(uri).await.status, 200, "{uri} while the database is up");
    }

    // Pooled connections break under the requests: every one is a 503 problem, never a 500 (the
    // search index answers from memory, but the sites of a page it has not shown are read from
    // the database; the summaries of the pages above are kept, so those pages still answer).
    blocking(move || cluster.stop()).await;
    for uri in [
        "/v1/sites?view=full",
        "/v1/sites?near=43210&radius=10mi&view=full",
        "/v1/sites?view=full",
        "/v1/vocabulary",
        "/v1/sites",
        "/readyz",
    ] {
        let response = get(uri).await;
        if uri == "/v1/vocabulary" || uri == "/v1/sites" {
            assert_eq!(response.status, 200, "{uri} needs no database");
            continue;
        }
        assert_eq!(response.status, 503, "{uri}: {response:?}");
        let problem = response.problem();
        assert!(response.header("retry-after").is_some(), "{uri}");
        if uri != "/readyz" {
            assert_eq!(problem.kind, "/problems/unavailable", "{uri}");
        }
    }

    // Back again: served again without restarting the service.
    let cluster = blocking(start).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = get("/v1/sites?view=full").await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "still unavailable 10 s after the database came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    blocking(move || cluster.stop()).await;
}

#[tokio::test]
async fn a_statement_past_the_request_timeout_is_cancelled_and_answered_with_a_503() {
    let app = crate::support::TestApp::new().await;
    let options = db::with_statement_timeout(server().options(&app.db.name), std::time::Duration::from_millis(300));
    let pool = db::pool(options, 1);
    let started = std::time::Instant::now();
    let error = sqlx::query("select pg_sleep(5)").execute(&pool).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "cancelled, not run to the end"
    );
    let api = clinical_sites::error::ApiError::from(error);
    assert_eq!(api.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.problem().kind, "/problems/timeout");
    // The pool's connections keep working after a cancelled statement.
    let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
}

#[tokio::test]
async fn the_periodic_purge_deletes_exactly_expired_idempotency_keys_and_sessions() {
    let app = crate::support::TestApp::new().await;
    let (account_id, token) = app.member("ann").await;
    let account: uuid::Uuid = account_id.parse().unwrap();
    for (key, age_hours) in [
        ("fresh", 1),
        ("a-day-old", 23),
        ("expired", 25),
        ("long-expired", 24 * 30),
    ] {
        sqlx::query(
            "insert into idempotency_key (account_id, key, request_hash, created_at)
             values ($1, $2, '\\x00', now() - make_interval(hours => $3))",
        )
        .bind(account)
        .bind(key)
        .bind(age_hours)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    // Besides the member's live session: one expired, one revoked long ago, one revoked just now.
    for (n, expires, revoked) in [
        (1, "now() - interval '1 minute'", "null"),
        (2, "now() + interval '1 day'", "now() - interval '2 days'"),
        (3, "now() + interval '1 day'", "now()"),
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "insert into session (session_id, account_id, token_hash, expires_at, revoked_at)
             values (gen_random_uuid(), $1, sha256(('t{n}')::bytea), {expires}, {revoked})"
        )))
        .bind(account)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let purged = clinical_sites::maintenance::purge(&app.pool).await.unwrap();
    assert_eq!(
        purged,
        clinical_sites::maintenance::Purged {
            idempotency_keys: 2,
            sessions: 2
        }
    );
    let keys: Vec<String> = sqlx::query_scalar("select key from idempotency_key order by key")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(keys, ["a-day-old", "fresh"]);
    let sessions: i64 = sqlx::query_scalar("select count(*) from session")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 2, "the live session and the one revoked a moment ago");
    let me = app.call(axum::http::Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(me.status, axum::http::StatusCode::OK, "the live session still signs in");
    assert_eq!(
        clinical_sites::maintenance::purge(&app.pool).await.unwrap(),
        Default::default(),
        "nothing left to purge"
    );

    // The service's task runs it on its own.
    sqlx::query("update idempotency_key set created_at = now() - interval '2 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    let task = clinical_sites::maintenance::spawn(app.pool.clone(), std::time::Duration::from_millis(50));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left: i64 = sqlx::query_scalar("select count(*) from idempotency_key")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the task did not purge");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
}
