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

#[tokio::test]
async fn the_pools_plan_as_documented() {
    let app = crate::support::TestApp::new().await;
    let state = clinical_sites::AppState::new(app.pool.clone(), clinical_sites::config::Config::defaults());
    let custom: String = sqlx::query_scalar("show plan_cache_mode")
        .fetch_one(&state.pool)
        .await
        .unwrap();
    assert_eq!(custom, "force_custom_plan");
    let generic: String = sqlx::query_scalar("show plan_cache_mode")
        .fetch_one(&state.generic_plan_pool)
        .await
        .unwrap();
    assert_eq!(generic, "force_generic_plan");
    // The same database, with the pool's other settings.
    let (database, workers): (String, String) =
        sqlx::query_as("select current_database(), current_setting('max_parallel_workers_per_gather')")
            .fetch_one(&state.generic_plan_pool)
            .await
            .unwrap();
    let expected: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&state.pool)
        .await
        .unwrap();
    assert_eq!((database, workers.as_str()), (expected, "0"));
}
