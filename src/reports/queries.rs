//! The SQL of experience reports.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::input::{ValidReport, route_codes};
use super::model::{HiddenReport, SiteReport};
use crate::error::{ApiError, constraint_error};
use crate::vocabulary::{HipaaSource, InsuranceCoverage, Modality, Route, SiteType};

/// A report row as read, before it becomes a [`SiteReport`].
struct Row {
    site_report_id: Uuid,
    site_id: Uuid,
    author_display_name: Option<String>,
    author_account_id: Option<Uuid>,
    respondent_id: Uuid,
    anonymous: bool,
    modality: Modality,
    year: i16,
    month: Option<i16>,
    route: Vec<Route>,
    paid: bool,
    paid_usd: Option<i32>,
    hipaa_source: HipaaSource,
    insurance_needed: bool,
    insurance_provider: Option<InsuranceCoverage>,
    accepted_independent: Option<bool>,
    verifier_on_site: Option<bool>,
    travel_miles: Option<i32>,
    housing_provided: Option<bool>,
    hours: Option<i32>,
    weeks: Option<i32>,
    would_recommend: Option<bool>,
    comment: Option<String>,
    hidden_at: Option<chrono::DateTime<chrono::Utc>>,
    hidden_reason: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    version: i64,
}

impl From<Row> for SiteReport {
    fn from(row: Row) -> Self {
        let hidden = match (row.hidden_at, row.hidden_reason) {
            (Some(hidden_at), Some(reason)) => Some(HiddenReport { hidden_at, reason }),
            _ => None,
        };
        Self {
            site_report_id: row.site_report_id,
            site_id: row.site_id,
            author_display_name: row.author_display_name.filter(|_| !row.anonymous),
            author_account_id: row.author_account_id,
            respondent_id: row.respondent_id,
            anonymous: row.anonymous,
            modality: row.modality,
            year: row.year,
            month: row.month,
            route: row.route,
            paid: row.paid,
            paid_usd: row.paid_usd,
            hipaa_source: row.hipaa_source,
            insurance_needed: row.insurance_needed,
            insurance_provider: row.insurance_provider,
            accepted_independent: row.accepted_independent,
            verifier_on_site: row.verifier_on_site,
            travel_miles: row.travel_miles,
            housing_provided: row.housing_provided,
            hours: row.hours,
            weeks: row.weeks,
            would_recommend: row.would_recommend,
            comment: row.comment,
            hidden,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// The reports of a site, newest first, after the cursor `before`: those not hidden, and hidden
/// ones too for an administrator (`all_hidden`) or their author (`viewer`).
pub(crate) async fn page(
    executor: impl PgExecutor<'_>,
    site_id: Uuid,
    modality: Option<Modality>,
    viewer: Option<Uuid>,
    all_hidden: bool,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SiteReport>, ApiError> {
    let rows = sqlx::query_as!(
        Row,
        r#"select r.site_report_id, r.site_id, a.display_name as "author_display_name?",
                  p.account_id as author_account_id, r.respondent_id, r.anonymous, r.modality as "modality: Modality", r.year,
                  r.month, r.route as "route: Vec<Route>", r.paid, r.paid_usd,
                  r.hipaa_source as "hipaa_source: HipaaSource", r.insurance_needed,
                  r.insurance_provider as "insurance_provider: InsuranceCoverage", r.accepted_independent,
                  r.verifier_on_site, r.travel_miles, r.housing_provided, r.hours, r.weeks, r.would_recommend,
                  r.comment, r.hidden_at, r.hidden_reason, r.created_at, r.updated_at, r.version
             from site_report r
             join respondent p on p.respondent_id = r.respondent_id
             left join account a on a.account_id = p.account_id
            where r.site_id = $1
              and ($2::text is null or r.modality = $2)
              and (r.hidden_at is null or $3 or p.account_id = $4)
              and ($5::uuid is null or r.site_report_id < $5)
            order by r.site_report_id desc
            limit $6"#,
        site_id,
        modality as Option<Modality>,
        all_hidden,
        viewer,
        before,
        limit,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(SiteReport::from).collect())
}

/// One report of a site, hidden or not (`lock`: for update, as a write's first read).
pub(crate) async fn find(
    conn: &mut PgConnection,
    site_id: Uuid,
    site_report_id: Uuid,
    lock: bool,
) -> Result<Option<SiteReport>, ApiError> {
    if lock {
        sqlx::query!(
            "select 1 as locked from site_report where site_report_id = $1 and site_id = $2 for update",
            site_report_id,
            site_id,
        )
        .fetch_optional(&mut *conn)
        .await?;
    }
    let row = sqlx::query_as!(
        Row,
        r#"select r.site_report_id, r.site_id, a.display_name as "author_display_name?",
                  p.account_id as author_account_id, r.respondent_id, r.anonymous, r.modality as "modality: Modality", r.year,
                  r.month, r.route as "route: Vec<Route>", r.paid, r.paid_usd,
                  r.hipaa_source as "hipaa_source: HipaaSource", r.insurance_needed,
                  r.insurance_provider as "insurance_provider: InsuranceCoverage", r.accepted_independent,
                  r.verifier_on_site, r.travel_miles, r.housing_provided, r.hours, r.weeks, r.would_recommend,
                  r.comment, r.hidden_at, r.hidden_reason, r.created_at, r.updated_at, r.version
             from site_report r
             join respondent p on p.respondent_id = r.respondent_id
             left join account a on a.account_id = p.account_id
            where r.site_report_id = $1 and r.site_id = $2"#,
        site_report_id,
        site_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(SiteReport::from))
}

/// Makes the account a respondent: its new respondent id, or `None` when it is one already.
pub(crate) async fn new_respondent(conn: &mut PgConnection, account_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into respondent (respondent_id, account_id) values ($1, $2)
         on conflict (account_id) do nothing returning respondent_id",
        Uuid::now_v7(),
        account_id,
    )
    .fetch_optional(conn)
    .await
}

/// What a report write reads of its site, which it locks.
#[derive(Debug)]
pub(crate) struct LockedSite {
    /// Whether it offers the modality now or did once.
    pub(crate) offered: bool,
    pub(crate) state: String,
    pub(crate) site_type: SiteType,
    /// A demo site's reports never count.
    pub(crate) demo: bool,
}

/// Locks the site (`None`: there is none), says whether it offers `modality` now or did once,
/// and reads what the statistics file its reports under: one round trip for a report's first
/// steps.
pub(crate) async fn lock_site_offering(
    conn: &mut PgConnection,
    site_id: Uuid,
    modality: Modality,
) -> Result<Option<LockedSite>, ApiError> {
    Ok(sqlx::query_as!(
        LockedSite,
        r#"select exists (select 1 from site_offer o where o.site_id = s.site_id and o.modality = $2)
               or exists (select 1 from site_change c where c.site_id = s.site_id and c.changes ? ('offers.' || $2))
               as "offered!",
                  s.state, s.site_type as "site_type: SiteType", s.source = 'demo' as "demo!"
             from site s where s.site_id = $1 for update"#,
        site_id,
        modality as Modality,
    )
    .fetch_optional(conn)
    .await?)
}

/// Whether the site offers `modality` now or did once (an offer recorded in its history).
pub(crate) async fn offers_or_offered(
    executor: impl PgExecutor<'_>,
    site_id: Uuid,
    modality: Modality,
) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from site_offer where site_id = $1 and modality = $2)
               or exists (select 1 from site_change where site_id = $1 and changes ? ('offers.' || $2))
               as "offered!""#,
        site_id,
        modality as Modality,
    )
    .fetch_one(executor)
    .await?)
}

/// The problem a violated constraint of a report write means.
fn write_error(error: sqlx::Error) -> ApiError {
    constraint_error(error, |constraint| {
        (constraint == "site_report_one_per_rotation_key").then(|| {
            ApiError::conflict(
                "you already reported a rotation for this modality and year at this site; edit that report \
                 (PATCH) instead of adding another",
            )
        })
    })
}

/// Writes a report's fields: a new report (`site_report_id` not stored yet) is inserted, a stored
/// one (locked by the caller) gets them all and moves to its next revision. One statement names
/// each column once, for both.
pub(crate) async fn save(
    conn: &mut PgConnection,
    site_report_id: Uuid,
    site_id: Uuid,
    respondent_id: Uuid,
    report: &ValidReport,
) -> Result<(), ApiError> {
    sqlx::query!(
        "insert into site_report as stored
                (site_report_id, site_id, respondent_id, modality, year, month, route, paid, paid_usd,
                 hipaa_source, insurance_needed, insurance_provider, accepted_independent, verifier_on_site,
                 travel_miles, housing_provided, hours, weeks, would_recommend, comment, anonymous)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
         on conflict (site_report_id) do update
            set (modality, year, month, route, paid, paid_usd, hipaa_source, insurance_needed,
                 insurance_provider, accepted_independent, verifier_on_site, travel_miles, housing_provided,
                 hours, weeks, would_recommend, comment, anonymous, version, updated_at)
              = (excluded.modality, excluded.year, excluded.month, excluded.route, excluded.paid,
                 excluded.paid_usd, excluded.hipaa_source, excluded.insurance_needed,
                 excluded.insurance_provider, excluded.accepted_independent, excluded.verifier_on_site,
                 excluded.travel_miles, excluded.housing_provided, excluded.hours, excluded.weeks,
                 excluded.would_recommend, excluded.comment, excluded.anonymous, stored.version + 1, now())",
        site_report_id,
        site_id,
        respondent_id,
        report.modality as Modality,
        report.year,
        report.month,
        &route_codes(&report.route) as &[&str],
        report.paid,
        report.paid_usd,
        report.hipaa_source as HipaaSource,
        report.insurance_needed,
        report.insurance_provider as Option<InsuranceCoverage>,
        report.accepted_independent,
        report.verifier_on_site,
        report.travel_miles,
        report.housing_provided,
        report.hours,
        report.weeks,
        report.would_recommend,
        report.comment,
        report.anonymous,
    )
    .execute(conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Hides a report (`Some(reason)`) or shows it again (`None`).
pub(crate) async fn set_hidden(
    executor: impl PgExecutor<'_>,
    site_report_id: Uuid,
    by: Uuid,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    sqlx::query!(
        "update site_report
            set hidden_at = case when $3::text is null then null else now() end,
                hidden_by = case when $3::text is null then null else $2::uuid end,
                hidden_reason = $3, version = version + 1, updated_at = now()
          where site_report_id = $1",
        site_report_id,
        by,
        reason,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Deletes a report.
pub(crate) async fn delete(executor: impl PgExecutor<'_>, site_report_id: Uuid) -> Result<(), ApiError> {
    sqlx::query!("delete from site_report where site_report_id = $1", site_report_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// The respondent of an account, if it ever reported.
pub(crate) async fn respondent_of_account(
    executor: impl PgExecutor<'_>,
    account_id: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    Ok(
        sqlx::query_scalar!("select respondent_id from respondent where account_id = $1", account_id)
            .fetch_optional(executor)
            .await?,
    )
}

/// A report as its history entry names it: id, site, modality, year.
pub(crate) type Named = (Uuid, Uuid, Modality, i16);

/// Deletes every report of a respondent; the deleted ones.
pub(crate) async fn delete_all(executor: impl PgExecutor<'_>, respondent_id: Uuid) -> Result<Vec<Named>, ApiError> {
    let rows = sqlx::query!(
        r#"delete from site_report where respondent_id = $1
           returning site_report_id, site_id, modality as "modality: Modality", year"#,
        respondent_id
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.site_report_id, r.site_id, r.modality, r.year))
        .collect())
}

/// Marks every report of a respondent anonymous; the ones that were not.
pub(crate) async fn anonymise_all(executor: impl PgExecutor<'_>, respondent_id: Uuid) -> Result<Vec<Named>, ApiError> {
    let rows = sqlx::query!(
        r#"update site_report set anonymous = true, version = version + 1, updated_at = now()
            where respondent_id = $1 and not anonymous
           returning site_report_id, site_id, modality as "modality: Modality", year"#,
        respondent_id
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.site_report_id, r.site_id, r.modality, r.year))
        .collect())
}

/// The sites a respondent reported on, in id order.
pub(crate) async fn sites_of(executor: impl PgExecutor<'_>, respondent_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    Ok(sqlx::query_scalar!(
        r#"select distinct site_id as "site_id!" from site_report where respondent_id = $1 order by 1"#,
        respondent_id
    )
    .fetch_all(executor)
    .await?)
}
