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
