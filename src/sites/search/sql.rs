//! The SQL of a search: one filter builder shared by the page, the total and every facet, and the
//! keyset conditions of each sort. Built with `QueryBuilder` because the statement's shape changes
//! with the filters given; every value is a bound parameter.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::params::{Facet, SearchParams, Sort};
use crate::error::ApiError;
use crate::vocabulary::{HipaaTraining, Housing, LiabilityInsurance, Payment};

/// Totals are exact up to this many matches, then reported as a lower bound.
pub const TOTAL_BOUND: i64 = 1000;

/// One matching site and its sort keys.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hit {
    pub site_id: Uuid,
    pub name: String,
    pub updated_at: DateTime<Utc>,
    /// Metres from `near`, when given.
    pub distance_m: Option<f64>,
    /// Text match, 0 to 1, when `q` is given.
    pub score: Option<f32>,
}

/// Where the previous page ended.
#[derive(Debug, Clone)]
pub enum After {
    Name(String, Uuid),
    Updated(DateTime<Utc>, Uuid),
    Distance(f64, Uuid),
    Score(f32, Uuid),
}

fn push_point(qb: &mut QueryBuilder<Postgres>, p: &SearchParams) {
    let near = p.near.expect("only called with near");
    qb.push("ll_to_earth(")
        .push_bind(near.latitude)
        .push("::float8, ")
        .push_bind(near.longitude)
        .push("::float8)");
}

fn push_distance(qb: &mut QueryBuilder<Postgres>, p: &SearchParams) {
    qb.push("earth_distance(");
    push_point(qb, p);
    qb.push(", ll_to_earth(s.latitude, s.longitude))");
}

/// ` and ...` for every filter, except the one a facet counts over.
pub fn push_filters(qb: &mut QueryBuilder<Postgres>, p: &SearchParams, except: Option<Facet>) {
    if except != Some(Facet::Status) {
        qb.push(" and s.status = any(")
            .push_bind(p.effective_statuses())
            .push(")");
    }
    let modalities = if except == Some(Facet::Modality) {
        &[][..]
    } else {
        &p.modalities[..]
    };
    if !modalities.is_empty() {
        qb.push(" and s.modalities && ").push_bind(modalities.to_vec());
    }
    // Offer-level filters hold for one and the same offer (of a requested modality, if any).
    let accepts = if except == Some(Facet::Accepts) {
        None
    } else {
        p.accepts
    };
    if accepts.is_some() || p.verifier_on_site.is_some() || p.accepting.is_some() {
        qb.push(" and exists (select 1 from site_offer o where o.site_id = s.site_id");
        push_offer_filters(qb, p, modalities, accepts);
        qb.push(")");
    }
    if except != Some(Facet::State) {
        match p.states.as_slice() {
            [] => {}
            // `=` rather than `= any` lets the (state, sort key) indexes return rows in order.
            [state] => {
                qb.push(" and s.state = ").push_bind(state.clone());
            }
            states => {
                qb.push(" and s.state = any(").push_bind(states.to_vec()).push(")");
            }
        }
    }
    if let Some(city) = &p.city {
        qb.push(" and lower(s.city) = lower(").push_bind(city.clone()).push(")");
    }
    if let Some(postal_code) = &p.postal_code {
        if postal_code.len() == 5 {
            qb.push(" and s.zip5 = ").push_bind(postal_code.clone());
        } else {
            qb.push(" and s.postal_code = ").push_bind(postal_code.clone());
        }
    }
    if except != Some(Facet::SiteType) && !p.site_types.is_empty() {
        qb.push(" and s.site_type = any(")
            .push_bind(p.site_types.clone())
            .push(")");
    }
    if except != Some(Facet::Payment) && !p.payments.is_empty() {
        qb.push(" and s.payment = any(").push_bind(p.payments.clone()).push(")");
    }
    if let Some(max_fee) = p.max_fee_usd {
        // A site that charges must state a fee within the budget; free and tuition-only sites pass.
        qb.push(" and (s.payment <> ")
            .push_bind(Payment::Fee)
            .push(" or s.fee_usd <= ")
            .push_bind(max_fee)
            .push(")");
    }
    if let Some(required) = p.insurance_required {
        let wanted = if required {
            LiabilityInsurance::Required
        } else {
            LiabilityInsurance::NotRequired
        };
        qb.push(" and s.liability_insurance = ").push_bind(wanted);
    }
    if except != Some(Facet::HipaaTraining)
        && let Some(hipaa) = p.hipaa_training
    {
        // A site that accepts either way matches both specific wishes.
        let accepted = match hipaa {
            HipaaTraining::Either => vec![HipaaTraining::Either],
            specific => vec![specific, HipaaTraining::Either],
        };
        qb.push(" and s.hipaa_training = any(").push_bind(accepted).push(")");
    }
    match p.housing {
        Some(true) => {
            qb.push(" and s.housing = any(")
                .push_bind(vec![Housing::Free, Housing::Paid, Housing::HelpFinding])
                .push(")");
        }
        Some(false) => {
            qb.push(" and (s.housing is null or s.housing = ")
                .push_bind(Housing::None)
                .push(")");
        }
        None => {}
    }
    if except != Some(Facet::Schedule) && !p.schedules.is_empty() {
        qb.push(" and s.schedule && ").push_bind(p.schedules.clone());
    }
    if let Some(since) = p.updated_since {
        qb.push(" and s.updated_at >= ").push_bind(since);
    }
    if let Some(q) = &p.q {
        qb.push(" and s.search_text %> ").push_bind(normalize(q));
    }
    if p.near.is_some() {
        qb.push(" and s.latitude is not null");
        if let Some(radius) = p.radius_m {
            qb.push(" and earth_box(");
            push_point(qb, p);
            qb.push(", ")
                .push_bind(radius)
                .push("::float8) @> ll_to_earth(s.latitude, s.longitude) and ");
            push_distance(qb, p);
            qb.push(" <= ").push_bind(radius).push("::float8");
        }
    }
}

fn push_offer_filters(
    qb: &mut QueryBuilder<Postgres>,
    p: &SearchParams,
    modalities: &[crate::vocabulary::Modality],
    accepts: Option<crate::vocabulary::Accepts>,
) {
    if !modalities.is_empty() {
        qb.push(" and o.modality = any(")
            .push_bind(modalities.to_vec())
            .push(")");
    }
    if let Some(accepts) = accepts {
        qb.push(" and ").push_bind(accepts).push(" = any(o.accepts)");
    }
    if let Some(verifier) = p.verifier_on_site {
        qb.push(" and o.verifier_on_site = ").push_bind(verifier);
    }
    if let Some(accepting) = p.accepting {
        qb.push(" and o.accepting = ").push_bind(accepting);
    }
}

/// The text normalization the search column uses, applied to the query.
fn normalize(q: &str) -> String {
    let lowered = q.to_lowercase().replace(['\'', '’', '`', '.'], "");
    lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The ids and sort keys of up to `fetch` matches after `after`, in the sort's order (ties by id).
pub async fn page(
    conn: &mut PgConnection,
    p: &SearchParams,
    sort: Sort,
    after: Option<&After>,
    fetch: i64,
) -> Result<Vec<Hit>, ApiError> {
    match sort {
        Sort::Name | Sort::UpdatedDesc => Ok(ordered(conn, p, sort, after, fetch).await?),
        Sort::Distance | Sort::Relevance => nearest(conn, p, sort, after, fetch).await,
    }
}

fn push_select(qb: &mut QueryBuilder<Postgres>, p: &SearchParams) {
    qb.push("select s.site_id, s.name, s.updated_at, ");
    if p.near.is_some() {
        push_distance(qb, p);
    } else {
        qb.push("null::float8");
    }
    qb.push(" as distance_m, ");
    match &p.q {
        Some(q) => {
            qb.push("word_similarity(")
                .push_bind(normalize(q))
                .push(", s.search_text)");
        }
        None => {
            qb.push("null::float4");
        }
    }
    qb.push(" as score from site s where true");
}

/// Name and recency orders: a plain keyset on `(key, id)`.
async fn ordered(
    conn: &mut PgConnection,
    p: &SearchParams,
    sort: Sort,
    after: Option<&After>,
    fetch: i64,
) -> Result<Vec<Hit>, sqlx::Error> {
    let mut qb = QueryBuilder::new("");
    push_select(&mut qb, p);
    push_filters(&mut qb, p, None);
    match after {
        Some(After::Name(name, id)) => {
            qb.push(" and (s.name, s.site_id) > (")
                .push_bind(name.clone())
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(After::Updated(at, id)) => {
            qb.push(" and (s.updated_at, s.site_id) < (")
                .push_bind(*at)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        _ => {}
    }
    qb.push(match sort {
        Sort::Name => " order by s.name, s.site_id",
        _ => " order by s.updated_at desc, s.site_id desc",
    });
    qb.push(" limit ").push_bind(fetch);
    qb.build_query_as().fetch_all(conn).await
}

/// Distance and relevance orders: an index-ordered (KNN) scan, which cannot also order by id. Rows
/// are fetched in index order with a margin, sorted by `(key, id)` here, and fetched again with a
/// larger margin when a group of equal keys might be cut at the page's end, so every page is exact.
async fn nearest(
    conn: &mut PgConnection,
    p: &SearchParams,
    sort: Sort,
    after: Option<&After>,
    fetch: i64,
) -> Result<Vec<Hit>, ApiError> {
    let key = |hit: &Hit| match sort {
        Sort::Distance => hit.distance_m.unwrap_or(f64::MAX),
        _ => -f64::from(hit.score.unwrap_or(0.0)),
    };
    let mut margin = 16;
    loop {
        let window = fetch + margin;
        let mut qb = QueryBuilder::new("");
        push_select(&mut qb, p);
        push_filters(&mut qb, p, None);
        match after {
            Some(After::Distance(distance, id)) => {
                qb.push(" and (");
                push_distance(&mut qb, p);
                qb.push(" > ").push_bind(*distance).push("::float8 or (");
                push_distance(&mut qb, p);
                qb.push(" = ")
                    .push_bind(*distance)
                    .push("::float8 and s.site_id > ")
                    .push_bind(*id)
                    .push("))");
            }
            Some(After::Score(score, id)) => {
                let q = normalize(p.q.as_deref().unwrap_or_default());
                qb.push(" and (word_similarity(")
                    .push_bind(q.clone())
                    .push(", s.search_text) < ")
                    .push_bind(*score);
                qb.push("::float4 or (word_similarity(")
                    .push_bind(q)
                    .push(", s.search_text) = ")
                    .push_bind(*score);
                qb.push("::float4 and s.site_id > ").push_bind(*id).push("))");
            }
            _ => {}
        }
        match sort {
            Sort::Distance => {
                qb.push(" order by ll_to_earth(s.latitude, s.longitude) <-> ");
                push_point(&mut qb, p);
            }
            _ => {
                qb.push(" order by s.search_text <->> ")
                    .push_bind(normalize(p.q.as_deref().unwrap_or_default()));
            }
        }
        qb.push(" limit ").push_bind(window);
        let mut hits: Vec<Hit> = qb.build_query_as().fetch_all(&mut *conn).await?;
        hits.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.site_id.cmp(&b.site_id)));
        let complete = (hits.len() as i64) < window
            || hits
                .get(fetch as usize - 1)
                .zip(hits.last())
                .is_none_or(|(boundary, last)| key(boundary) < key(last));
        if complete {
            hits.truncate(fetch as usize);
            return Ok(hits);
        }
        margin *= 8;
    }
}

/// How many sites match, exactly up to [`TOTAL_BOUND`]; `(count, exact)`.
pub async fn total(conn: &mut PgConnection, p: &SearchParams) -> Result<(i64, bool), ApiError> {
    let mut qb = QueryBuilder::new("select count(*) from (select 1 from site s where true");
    push_filters(&mut qb, p, None);
    qb.push(" limit ").push_bind(TOTAL_BOUND + 1).push(") matches");
    let count: i64 = qb.build_query_scalar().fetch_one(conn).await?;
    Ok(if count > TOTAL_BOUND {
        (TOTAL_BOUND, false)
    } else {
        (count, true)
    })
}

/// Counts per value of `facet` under every other filter.
pub async fn facet(conn: &mut PgConnection, p: &SearchParams, facet: Facet) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut qb = QueryBuilder::new("");
    match facet {
        Facet::Modality if p.has_offer_filters() => {
            qb.push("select o.modality as value, count(distinct s.site_id) from site s join site_offer o on o.site_id = s.site_id");
            push_offer_filters(&mut qb, p, &[], p.accepts);
            qb.push(" where true");
        }
        Facet::Modality => {
            qb.push("select m as value, count(*) from site s cross join unnest(s.modalities) m where true");
        }
        Facet::Accepts => {
            qb.push(
                "select a as value, count(distinct s.site_id) from site s join site_offer o on o.site_id = s.site_id",
            );
            push_offer_filters(&mut qb, p, &p.modalities, None);
            qb.push(" cross join unnest(o.accepts) a where true");
        }
        Facet::Schedule => {
            qb.push("select v as value, count(*) from site s cross join unnest(s.schedule) v where true");
        }
        Facet::HipaaTraining => {
            // Counted as the filter matches: a site accepting either way counts for both values.
            qb.push(
                "select v.value, count(*) from site s join (values ('provided_by_site'), ('bring_own_certificate'), \
                 ('either')) v(value) on s.hipaa_training = v.value \
                 or (s.hipaa_training = 'either' and v.value <> 'either') where true",
            );
        }
        Facet::SiteType | Facet::State | Facet::Payment | Facet::Status => {
            let column = match facet {
                Facet::SiteType => "s.site_type",
                Facet::State => "s.state",
                Facet::Payment => "s.payment",
                _ => "s.status",
            };
            qb.push(format!(
                "select {column} as value, count(*) from site s where {column} is not null"
            ));
        }
    }
    push_filters(&mut qb, p, Some(facet));
    qb.push(" group by 1 order by 1");
    let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().collect())
}
