//! Facet counts from the tally (migration `site_tally`): per state, status, site type, payment and
//! modality, kept exact by triggers that append deltas, which [`compact`] folds in from time to
//! time. A search whose filters are all among those dimensions reads its facets here instead of
//! counting sites.

use std::time::Duration;

use sqlx::{PgPool, Postgres, QueryBuilder};

use super::params::{Facet, SearchParams};
use super::sql::Search;

/// Whether every filter of this search is among the tally's dimensions (state, status, site type,
/// payment, and at most one modality, since a site with two modalities is in both modalities' rows).
fn dimensions_only(search: &Search) -> bool {
    let p = search.params;
    let dimensions_only = SearchParams {
        modalities: p.modalities.clone(),
        states: p.states.clone(),
        site_types: p.site_types.clone(),
        payments: p.payments.clone(),
        statuses: p.statuses.clone(),
        sort: p.sort,
        limit: p.limit,
        cursor: p.cursor.clone(),
        facets: p.facets.clone(),
        ..SearchParams::default()
    };
    search.text.is_none() && *p == dimensions_only
}

/// Whether `facet` of this search can be read from the tally: the facet and every filter are among
/// its dimensions (the modality facet also under several modalities, since it drops that filter).
pub fn serves(search: &Search, facet: Facet) -> bool {
    matches!(
        facet,
        Facet::Modality | Facet::SiteType | Facet::State | Facet::Payment | Facet::Status
    ) && dimensions_only(search)
        && (facet == Facet::Modality || search.params.modalities.len() <= 1)
}

/// Whether the search's total can be read from the tally (exact, however large).
pub fn serves_total(search: &Search) -> bool {
    dimensions_only(search) && search.params.modalities.len() <= 1
}

/// `select sum(sites) from <tally plus pending deltas> t where <every filter but except's>`.
fn push_sum(qb: &mut QueryBuilder<Postgres>, select: &str, p: &SearchParams, except: Option<Facet>) {
    qb.push(format!(
        "select {select}sum(t.sites)::int8 from (\
           select state, status, site_type, payment, modality, sites from site_tally \
           union all select state, status, site_type, payment, modality, sites from site_tally_delta) t where "
    ));
    match (except, p.modalities.as_slice()) {
        (Some(Facet::Modality), _) => qb.push("t.modality <> ''"),
        (_, [modality]) => qb.push("t.modality = ").push_bind(*modality),
        _ => qb.push("t.modality = ''"),
    };
    if except != Some(Facet::Status) {
        qb.push(" and t.status = any(")
            .push_bind(p.effective_statuses())
            .push(")");
    }
    push_dimension(qb, "t.state", except == Some(Facet::State), &p.states);
    push_dimension(qb, "t.site_type", except == Some(Facet::SiteType), &p.site_types);
    push_dimension(qb, "t.payment", except == Some(Facet::Payment), &p.payments);
}

/// ` and <column> ...` for state, site type or payment: every value when the facet counts over it
/// (the caller groups by it), the values asked for, else the roll-up row '*' (migration
/// `site_tally_rollups`).
fn push_dimension<T>(qb: &mut QueryBuilder<Postgres>, column: &str, counted: bool, values: &[T])
where
    T: Clone + for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send + 'static,
    Vec<T>: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
{
    qb.push(format!(" and {column}"));
    if counted {
        qb.push(" <> '*'");
    } else if values.is_empty() {
        qb.push(" = '*'");
    } else {
        qb.push(" = any(").push_bind(values.to_vec()).push(")");
    }
}

/// `select value, count ... group by 1`: counts per value of `facet` from the tally plus its
/// pending deltas; exact, without visiting the sites.
pub fn push_facet(qb: &mut QueryBuilder<Postgres>, p: &SearchParams, facet: Facet) {
    let column = match facet {
        Facet::Modality => "t.modality",
        Facet::SiteType => "t.site_type",
        Facet::State => "t.state",
        Facet::Payment => "t.payment",
        _ => "t.status",
    };
    push_sum(qb, &format!("{column} as value, "), p, Some(facet));
    qb.push(" group by 1 having sum(t.sites) > 0");
}

/// `select count`: how many sites match, from the tally plus its pending deltas.
pub fn push_total(qb: &mut QueryBuilder<Postgres>, p: &SearchParams) {
    qb.push("select coalesce((");
    push_sum(qb, "", p, None);
    qb.push("), 0)");
}

/// Folds the pending deltas into the tally; returns how many delta rows it folded (0 when another
/// compaction is running).
pub async fn compact(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select site_tally_compact()").fetch_one(pool).await
}

/// Compacts every `every` for as long as the returned task runs (counts are exact either way;
/// compaction keeps the deltas few so reading them stays cheap).
pub fn spawn_compaction(pool: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match compact(&pool).await {
                Ok(0) => {}
                Ok(folded) => tracing::debug!(folded, "site tally compacted"),
                Err(error) => tracing::warn!(%error, "compacting the site tally failed; retrying later"),
            }
        }
    })
}
