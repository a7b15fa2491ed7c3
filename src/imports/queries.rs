//! The SQL of imports: their records, and the set-based writes from the staging table
//! `import_row` (made by `run`, one row per file row: the site's editable columns and offers as
//! JSON, and `existing`, the listed site the row updates).

use std::collections::HashMap;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::read::Format;
use super::{Import, UpsertBy};
use crate::error::{ApiError, RowProblem};
use crate::sites::model::Site;
use crate::sites::queries::{Listed, OFFER_COLUMNS, OFFER_VALUES, SITE_COLUMNS, STAGED_OFFERS};
use crate::vocabulary::{CodeSet, SiteChangeKind, SiteSource};

/// Makes an import's record, `running`.
pub(crate) async fn start(
    pool: &PgPool,
    import_id: Uuid,
    format: Format,
    upsert_by: Option<UpsertBy>,
    created_by: Option<Uuid>,
) -> Result<(), ApiError> {
    sqlx::query!(
        "insert into import (import_id, format, upsert_by, created_by) values ($1, $2, $3, $4)",
        import_id,
        format as Format,
        upsert_by as Option<UpsertBy>,
        created_by,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// An import's record. A `running` import not heard from for a minute reads as `interrupted`.
pub(crate) async fn load(pool: &PgPool, import_id: Uuid) -> Result<Option<Import>, ApiError> {
    let row = sqlx::query!(
        r#"select import_id, format as "format: Format", upsert_by as "upsert_by: UpsertBy", created_by,
                  case when status = 'running' and updated_at < now() - interval '1 minute' then 'interrupted'
                       else status end as "status!",
                  rows_read, rows_created, rows_updated, rows_unchanged, rows_rejected, rejects, detail,
                  started_at, updated_at, finished_at
             from import where import_id = $1"#,
        import_id,
    )
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Import {
            import_id: row.import_id,
            href: super::import_href(row.import_id),
            status: serde_json::from_value(Value::String(row.status)).map_err(ApiError::internal)?,
            format: row.format,
            upsert_by: row.upsert_by,
            created_by: row.created_by,
            rows_read: row.rows_read,
            rows_created: row.rows_created,
            rows_updated: row.rows_updated,
            rows_unchanged: row.rows_unchanged,
            rows_rejected: row.rows_rejected,
            rejects: serde_json::from_value(row.rejects).map_err(ApiError::internal)?,
            detail: row.detail,
            started_at: row.started_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    })
    .transpose()
}

/// Records how many rows have been read (and that the import is alive).
pub(crate) async fn progress(pool: &PgPool, import_id: Uuid, rows_read: u64) -> Result<(), ApiError> {
    sqlx::query!(
        "update import set rows_read = $2, updated_at = now() where import_id = $1",
        import_id,
        rows_read as i64 as i32,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed import: nothing was written.
pub(crate) async fn fail(
    pool: &PgPool,
    import_id: Uuid,
    rejected: u64,
    rejects: &[RowProblem],
    detail: &str,
) -> Result<(), ApiError> {
    sqlx::query!(
        "update import set status = 'failed', rows_rejected = $2, rejects = $3, detail = $4,
                           updated_at = now(), finished_at = now()
          where import_id = $1",
        import_id,
        rejected as i64 as i32,
        serde_json::to_value(rejects).map_err(ApiError::internal)?,
        detail,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a finished import, in its transaction.
pub(crate) async fn succeed(
    conn: &mut PgConnection,
    import_id: Uuid,
    read: u64,
    created: u64,
    updated: u64,
    unchanged: u64,
) -> Result<(), ApiError> {
    sqlx::query!(
        "update import set status = 'succeeded', rows_read = $2, rows_created = $3, rows_updated = $4,
                           rows_unchanged = $5, updated_at = now(), finished_at = now()
          where import_id = $1",
        import_id,
        read as i64 as i32,
        created as i64 as i32,
        updated as i64 as i32,
        unchanged as i64 as i32,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The listed sites of these ZIP codes, NPIs and external ids, with each one's external id.
pub(crate) async fn listed(
    conn: &mut PgConnection,
    zips: &[String],
    npis: &[String],
    external_ids: &[String],
) -> Result<Vec<(Listed, Option<String>)>, ApiError> {
    let rows = sqlx::query!(
        "select site_id, name, street, city, state, postal_code, npi, external_id from site
          where zip5 = any($1) or npi = any($2) or external_id = any($3)
          order by site_id",
        zips,
        npis,
        external_ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let listed = Listed {
                site_id: row.site_id,
                name: row.name,
                street: row.street,
                city: row.city,
                state: row.state,
                postal_code: row.postal_code,
                npi: row.npi,
            };
            (listed, row.external_id)
        })
        .collect())
}

/// Makes the staging table `import_row`, for this transaction: an import's columns (`import_*`),
/// then the site's editable columns `names` with their types.
pub(crate) async fn create_staging(conn: &mut PgConnection, names: &str) -> Result<(), ApiError> {
    // Runtime SQL: a temporary table, named columns from the site's declaration.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "create temporary table import_row on commit drop as
         select 0::bigint as import_row_number, null::uuid as import_site_id, null::uuid as import_existing,
                null::jsonb as import_given, null::text[] as import_kept, null::json as import_offers,
                null::uuid as import_change_id, null::jsonb as import_changes, {names}
           from site with no data"
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// The `COPY` statement filling the staging table, its columns in the order [`create_staging`]
/// names them.
pub(crate) fn copy_statement(names: &str) -> String {
    format!(
        "copy import_row (import_row_number, import_site_id, import_given, import_kept, import_offers,
                          import_change_id, import_changes, {names}) from stdin"
    )
}

/// Indexes and measures the staged rows, for the batches' range scans.
pub(crate) async fn index_staging(conn: &mut PgConnection) -> Result<(), ApiError> {
    // Runtime SQL: the staging table is temporary.
    sqlx::query("create index on import_row (import_row_number)")
        .execute(&mut *conn)
        .await?;
    sqlx::query("analyze import_row (import_row_number, import_existing)")
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks the staged rows that update listed sites (`(row, site)`).
pub(crate) async fn set_targets(conn: &mut PgConnection, targets: &[(i64, Uuid)]) -> Result<(), ApiError> {
    let (rows, sites): (Vec<i64>, Vec<Uuid>) = targets.iter().copied().unzip();
    // Runtime SQL: the staging table is temporary.
    sqlx::query(
        "update import_row set import_existing = m.site_id
           from unnest($1::bigint[], $2::uuid[]) as m(row_number, site_id)
          where import_row.import_row_number = m.row_number",
    )
    .bind(&rows)
    .bind(&sites)
    .execute(conn)
    .await?;
    Ok(())
}

/// The editable fields (as a history entry compares them) of the listed sites the staged rows
/// `rows` (first and last row numbers) update.
pub(crate) async fn before(conn: &mut PgConnection, rows: (i64, i64)) -> Result<HashMap<Uuid, Value>, ApiError> {
    let columns = &*SITE_COLUMNS;
    // Runtime SQL: `SITE_COLUMNS`, the one column list every statement returning a site shares.
    let sites: Vec<Site> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {columns} from site s join import_row st on st.import_existing = s.site_id
          where st.import_row_number between $1 and $2"
    )))
    .bind(rows.0)
    .bind(rows.1)
    .fetch_all(conn)
    .await?;
    Ok(sites
        .iter()
        .map(|site| (site.site_id, crate::sites::editable_json(site)))
        .collect())
}

/// Adds `duplicate_override` to the history entries of the new sites let through the duplicate
/// guard by a reason (`(row, override)`).
pub(crate) async fn set_overrides(conn: &mut PgConnection, overrides: &[(i64, Value)]) -> Result<(), ApiError> {
    if overrides.is_empty() {
        return Ok(());
    }
    let (rows, values): (Vec<i64>, Vec<Value>) = overrides.iter().cloned().unzip();
    // Runtime SQL: the staging table is temporary.
    sqlx::query(
        "update import_row set import_changes = import_changes || jsonb_build_object('duplicate_override', m.value)
           from unnest($1::bigint[], $2::jsonb[]) as m(row_number, value)
          where import_row.import_row_number = m.row_number and import_existing is null",
    )
    .bind(&rows)
    .bind(&values)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the new sites of the staged rows `rows`, with their offers and their history entries
/// (staged with them); how many.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    rows: (i64, i64),
    names: &str,
    created_by: Option<Uuid>,
) -> Result<u64, ApiError> {
    let values = prefixed("st", names);
    // Runtime SQL: the column names come from the site's declaration (`ValidSite`), as in
    // `sites::queries::insert`, and the offer fragments are that module's.
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "with st as (select * from import_row where import_existing is null and import_row_number between $1 and $2),
              s as (insert into site (site_id, modalities, offers, source, created_by, {names})
                    select st.import_site_id, st.import_kept, st.import_offers, $3, $4, {values} from st
                    returning 1),
              offered as (insert into site_offer (site_id, {OFFER_COLUMNS})
                          select st.import_site_id, {OFFER_VALUES} from st, {STAGED_OFFERS}),
              recorded as (insert into site_change (site_change_id, site_id, account_id, kind, changes)
                           select st.import_change_id, st.import_site_id, $4, $5, st.import_changes from st)
         select count(*) from s"
    )))
    .bind(rows.0)
    .bind(rows.1)
    .bind(SiteSource::Import)
    .bind(created_by)
    .bind(SiteChangeKind::Create.code())
    .fetch_one(conn)
    .await
    .map_err(crate::sites::queries::external_id_taken)?;
    Ok(sqlx::Row::try_get::<i64, _>(&inserted, 0)? as u64)
}

/// Replaces the editable fields and offers of each listed site a staged row of `rows` updates,
/// where they differ (a row that changes nothing leaves its site as it was); the sites changed.
pub(crate) async fn update(conn: &mut PgConnection, rows: (i64, i64), names: &str) -> Result<Vec<Uuid>, ApiError> {
    let new = prefixed("st", names);
    let old = prefixed("s", names);
    // Runtime SQL: as `insert`.
    let changed: Vec<(Uuid,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update site s set ({names}) = (select {new}), modalities = st.import_kept, offers = st.import_offers,
                version = s.version + 1
           from import_row st
          where s.site_id = st.import_existing and st.import_row_number between $1 and $2
            and (({old}, s.modalities, s.offers::jsonb) is distinct from ({new}, st.import_kept, st.import_offers::jsonb))
         returning s.site_id"
    )))
    .bind(rows.0)
    .bind(rows.1)
    .fetch_all(conn)
    .await
    .map_err(crate::sites::queries::external_id_taken)?;
    Ok(changed.into_iter().map(|(site_id,)| site_id).collect())
}

/// Makes the offers of the updated sites `changed` those of their staged rows.
pub(crate) async fn replace_offers(conn: &mut PgConnection, changed: &[Uuid]) -> Result<(), ApiError> {
    if changed.is_empty() {
        return Ok(());
    }
    sqlx::query!("delete from site_offer where site_id = any($1)", changed)
        .execute(&mut *conn)
        .await?;
    // Runtime SQL: the offer fragments of `sites::queries`.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "insert into site_offer (site_id, {OFFER_COLUMNS})
         select st.import_existing, {OFFER_VALUES} from import_row st, {STAGED_OFFERS}
          where st.import_existing = any($1)"
    )))
    .bind(changed)
    .execute(conn)
    .await?;
    Ok(())
}

/// The sites of `changed` (updated by an import), as stored now.
pub(crate) async fn after(conn: &mut PgConnection, changed: &[Uuid]) -> Result<Vec<Site>, ApiError> {
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    crate::sites::queries::load_many(conn, changed).await
}

/// Records history entries `(site, kind, changes)` by `account_id`, streamed by `COPY` (each
/// change serialized once, straight into the stream).
pub(crate) async fn record_changes(
    conn: &mut PgConnection,
    account_id: Option<Uuid>,
    entries: &[(Uuid, SiteChangeKind, Value)],
) -> Result<(), ApiError> {
    use std::io::Write as _;
    let account = account_id.map_or_else(|| "\\N".to_owned(), |id| id.to_string());
    let mut copy = conn
        .copy_in_raw("copy site_change (site_change_id, site_id, account_id, kind, changes) from stdin")
        .await?;
    let mut buffer = Vec::with_capacity(1 << 17);
    for (site_id, kind, changes) in entries {
        write!(buffer, "{}\t{site_id}\t{account}\t{}\t", Uuid::now_v7(), kind.code()).map_err(ApiError::internal)?;
        super::run::copy_text(&mut buffer, &changes.to_string());
        buffer.push(b'\n');
        if buffer.len() >= 1 << 16 {
            copy.send(std::mem::take(&mut buffer)).await?;
        }
    }
    copy.send(buffer).await?;
    copy.finish().await?;
    Ok(())
}

/// `a, b, c` as `p.a, p.b, p.c`.
fn prefixed(prefix: &str, names: &str) -> String {
    names
        .split(", ")
        .map(|name| format!("{prefix}.{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}
