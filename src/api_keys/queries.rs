//! The SQL of API keys.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::ApiKey;
use crate::error::ApiError;

/// Locks the account's row for this transaction (so concurrent creations take turns and the
/// per-account limit holds), then counts its live keys.
pub(super) async fn lock_and_count_live(conn: &mut PgConnection, account_id: Uuid) -> Result<i64, ApiError> {
    sqlx::query!(
        "select 1 as locked from account where account_id = $1 for update",
        account_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "live!" from api_key where account_id = $1 and revoked_at is null"#,
        account_id,
    )
    .fetch_one(conn)
    .await?)
}

/// Stores a new key (only its hash and prefix).
pub(super) async fn insert(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
    name: &str,
    prefix: &str,
    key_hash: &[u8],
) -> Result<ApiKey, ApiError> {
    Ok(sqlx::query_as!(
        ApiKey,
        "insert into api_key (api_key_id, account_id, name, prefix, key_hash) values ($1, $2, $3, $4, $5)
         returning api_key_id, name, prefix, created_at, last_used_at, revoked_at",
        Uuid::now_v7(),
        account_id,
        name,
        prefix,
        key_hash,
    )
    .fetch_one(executor)
    .await?)
}

/// The account's keys, newest first.
pub(super) async fn list(executor: impl PgExecutor<'_>, account_id: Uuid) -> Result<Vec<ApiKey>, ApiError> {
    Ok(sqlx::query_as!(
        ApiKey,
        "select api_key_id, name, prefix, created_at, last_used_at, revoked_at
           from api_key where account_id = $1
          order by api_key_id desc",
        account_id,
    )
    .fetch_all(executor)
    .await?)
}

/// Revokes one of the account's keys (again is fine); `false` when it has no such key.
pub(super) async fn revoke(
    executor: impl PgExecutor<'_>,
    api_key_id: Uuid,
    account_id: Uuid,
) -> Result<bool, ApiError> {
    let found = sqlx::query!(
        "update api_key set revoked_at = coalesce(revoked_at, now())
          where api_key_id = $1 and account_id = $2",
        api_key_id,
        account_id,
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(found > 0)
}
