//! `GET /v1/sites`: find sites by modality, region and requirements, page by page.
//!
//! Pages are keyset pages: the cursor carries the last item's sort key and id, so a walk never
//! repeats a site. What a walk sees of concurrent writes: sites inserted or updated during the walk
//! appear if their sort key falls after the cursor and not otherwise; under `-updated_at` (the
//! default) a site updated during the walk moves ahead of the cursor, so a walk that had not yet
//! reached it does not show it (search with `updated_since` to catch up).

pub mod cursor;
pub mod params;
pub mod query;
pub mod sql;
pub mod tally;
pub mod text;

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::model::Site;
use crate::AppState;
use crate::error::{ApiError, FieldError, Problem};
use params::{Facet, SearchParams, Sort, Unit};
use sql::{After, Hit, Search};

/// A site in search results, with its distance and text match when asked for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SiteHit {
    /// The site.
    #[serde(flatten)]
    pub site: Site,
    /// Great-circle distance from `near` on the mean Earth radius, as maps show it, in
    /// `distance_unit`; present when `near` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 12.4, nullable = false, minimum = 0)]
    pub distance: Option<f64>,
    /// The unit of `distance`: that of `radius` (miles by default); present when `near` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub distance_unit: Option<Unit>,
    /// How well the site matches `q`, 0 to 1; present when `q` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.73, nullable = false, minimum = 0, maximum = 1)]
    pub relevance: Option<f32>,
}

/// How many sites match.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Total {
    /// The count: exact up to 100, and exact however large when the only filters are `state`,
    /// `site_type`, `payment`, `status` and at most one `modality` (kept as running counts).
    /// Counted with a walk's first page: later pages (with `cursor`) repeat it.
    #[schema(example = 412)]
    pub value: i64,
    /// `eq` when `value` is exact, `gte` when at least that many match (counting stops at 100 so
    /// it never makes a search slow).
    pub relation: Relation,
}

/// Whether a count is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Exactly `value`.
    Eq,
    /// At least `value`.
    Gte,
}

/// How many sites have one value of a facet.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FacetCount {
    /// The value (a code, or a state).
    #[schema(example = "ct")]
    pub value: String,
    /// Sites matching every other filter that have this value.
    #[schema(example = 412)]
    pub count: i64,
}

/// One page of search results.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SitePage {
    /// The sites on this page, in the order of `sort`.
    pub items: Vec<SiteHit>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` on the last page. Also
    /// sent as `Link: <...>; rel="next"`.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// How many sites match.
    pub total: Total,
    /// The sort in effect.
    pub sort: Sort,
    /// Counts per value of each facet asked for in `facets`, under all the other filters; present
    /// when `facets` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = json!({"modality": [{"value": "ct", "count": 412}, {"value": "mri", "count": 388}]}))]
    pub facets: Option<BTreeMap<Facet, Vec<FacetCount>>>,
}

/// Searches listed sites. Every filter combines with the others (AND across parameters, OR within
/// a repeated one). Archived sites are never included unless `status=archived` is asked for.
///
/// - `modality` (repeatable): codes or ARRT abbreviations, any case (`CT`, `MR`, `M`, `BD`, `VI`).
/// - `state` (repeatable), `city`, `postal_code` (5 digits match the ZIP, ZIP+4 exactly).
/// - `near` = `LAT,LON` or a 5-digit ZIP; `radius` = a number with `mi` (default) or `km`, at most
///   1000 miles. Distances are great-circle distances on the mean Earth radius (6,371,008.8 m),
///   as maps and haversine calculators give them (within 0.5% of the WGS84 geodesic across the
///   US); the radius filter and distance order use the very distance shown, returned in the unit
///   of `radius` (miles without one).
/// - `site_type`, `payment`, `schedule`, `status` (repeatable); `max_fee_usd` (free and
///   tuition-only sites, and sites that charge a stated fee within it); `insurance_required`,
///   `housing` (any housing help) as booleans; `hipaa_training` (a site accepting either way
///   matches both specific values).
/// - **Unknown values**, one rule for every yes/no and code filter: a filter for a value matches
///   only the sites known to have it, never a site that has not said (`housing=false` is the sites
///   that said they offer no housing). To find the sites that have not said, ask for `unknown`:
///   `housing`, `insurance_required`, `hipaa_training`, `verifier_on_site`, `accepts` and
///   `schedule` (repeatable, so `schedule=evening&schedule=unknown` is "evening, or not stated")
///   take `unknown`, and `payment=unknown` is a payment code of its own.
/// - Offer filters `accepts`, `verifier_on_site`, `accepting` hold for one and the same offer, of a
///   requested modality when `modality` is given: a site that takes independent candidates only for
///   MRI does not match `modality=CT&accepts=independent`.
/// - `q`: typo-tolerant text over name, city and aliases, ranked: every word of `q` (up to 6) must
///   match a word of the site exactly or closely (`radiolgy` finds "Radiology"; numbers match
///   exactly; common words such as `of` and words like nothing listed are left out); `relevance`
///   is the mean similarity of the matched words, 1 when all are exact.
/// - `updated_since`: RFC 3339.
/// - `sort`: `relevance` (default with `q`), `distance` (default with `near`), `name`,
///   `-updated_at` (default otherwise); ties by id.
/// - `limit` 1 to 100 (default 20), `cursor` from the previous page.
/// - `facets` (repeatable): `modality`, `site_type`, `state`, `payment`, `accepts`, `schedule`,
///   `hipaa_training`, `status`; each counts the values sites have stated (payment's `unknown` is
///   a code of its own, so it is counted).
///
/// A walk through all pages shows every matching site exactly once; sites inserted or updated
/// during the walk show up only if their sort key falls after the cursor (under `-updated_at` an
/// updated site moves ahead of the cursor: catch up with `updated_since`).
#[utoipa::path(
    get,
    path = "/v1/sites",
    tag = "sites",
    params(query::SearchQuery),
    responses(
        (status = OK, description = "A page of sites.", body = SitePage,
         headers(("Link" = String, description = "`<...>; rel=\"next\"` when there is a next page."))),
        (status = BAD_REQUEST, description = "A parameter is malformed, out of range, unknown, or inconsistent with another (each is named).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search_sites(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let params = params::parse(&query)?;
    let sort = params.effective_sort();
    let search = search_id(&params);
    let after = match &params.cursor {
        None => None,
        Some(raw) => Some(after_from(&state, raw, &search, sort)?),
    };

    // Which pool plans this search's statements best; decided before `q`'s words are looked up
    // (searches with `q` always plan per execution).
    let unresolved = Search {
        params: &params,
        text: None,
    };
    let pool = if sql::plans_alike(&unresolved) {
        &state.generic_plan_pool
    } else {
        &state.pool
    };
    let text = match (&params.q, &after) {
        (Some(_), Some((_, _, Some(text)))) => Some(text.clone()),
        // The words reach the lookup as the rows of an array, never as constants, so its plan is
        // the same for any words: it reuses a generic plan (0.35 -> 0.23 ms at a million sites).
        (Some(q), _) => Some(text::TextQuery::resolve(&mut *state.generic_plan_pool.acquire().await?, q).await?),
        (None, _) => None,
    };
    let mut conn = pool.acquire().await?;
    let resolved = Search { params: &params, text };
    let limit = i64::from(params.limit);
    // The total is counted with the first page and carried by the cursor: one count per walk, and
    // every page of a walk reports the same total. Facets come in the same statement.
    let extras = sql::Extras {
        count: after.is_none(),
        facets: &params.facets,
    };
    let mut hits = sql::page(
        &mut conn,
        &resolved,
        sort,
        after.as_ref().map(|(a, _, _)| a),
        limit + 1,
        extras,
    )
    .await?;
    let (total, exact) = match &after {
        Some((_, total, _)) => *total,
        None => sql::total_of(&resolved, &hits),
    };
    let more = hits.len() as i64 > limit;
    hits.truncate(params.limit as usize);
    let facets = if params.facets.is_empty() {
        None
    } else {
        let counts = match sql::facets_of(&params.facets, &hits)? {
            Some(counts) => counts,
            None => sql::facets(&mut conn, &resolved, &params.facets).await?,
        };
        Some(
            counts
                .into_iter()
                .map(|(facet, counts)| {
                    let counts = counts
                        .into_iter()
                        .map(|(value, count)| FacetCount { value, count })
                        .collect();
                    (facet, counts)
                })
                .collect(),
        )
    };
    drop(conn);

    let unit = params.near.map(|_| params.unit.unwrap_or(params::Unit::Miles));
    let next_cursor = match hits.last() {
        Some(last) if more => Some(cursor::encode(
            &state.cursor_key[..],
            &position(last, sort, search, (total, exact), resolved.text.clone()),
        )),
        _ => None,
    };
    let items: Vec<SiteHit> = hits
        .into_iter()
        .map(|hit| {
            let distance = hit.distance_m.zip(unit).map(|(m, unit)| m / unit.meters());
            let relevance = hit.score;
            SiteHit {
                site: hit.site,
                distance,
                distance_unit: unit,
                relevance,
            }
        })
        .collect();
    let page = SitePage {
        items,
        next_cursor: next_cursor.clone(),
        total: Total {
            value: total,
            relation: if exact { Relation::Eq } else { Relation::Gte },
        },
        sort,
        facets,
    };
    // Sized for the page up front (a site is ~1.5 KB of JSON), so encoding never grows the buffer
    // by copying it.
    let mut body = Vec::with_capacity(1024 + 2048 * page.items.len());
    serde_json::to_writer(&mut body, &page).map_err(ApiError::internal)?;
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    if let Some(next) = next_cursor {
        let link = format!("</v1/sites?{}>; rel=\"next\"", with_cursor(&query, &next));
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Names a search by everything that decides its result set and order (not its page size), so a
/// cursor cannot be reused with another search.
fn search_id(params: &SearchParams) -> String {
    let normalized = SearchParams {
        limit: 0,
        cursor: None,
        facets: Vec::new(),
        sort: Some(params.effective_sort()),
        ..params.clone()
    };
    let digest = Sha256::digest(format!("{normalized:?}").as_bytes());
    crate::auth::token::hex(&digest[..12])
}

fn position(
    hit: &Hit,
    sort: Sort,
    search: String,
    total: (i64, bool),
    text: Option<text::TextQuery>,
) -> cursor::Position {
    // The very values the page was ordered by (see `sql::page`), so the next page starts exactly
    // after this one.
    let key = match sort {
        Sort::Name => cursor::Key::Name(hit.site.name.clone()),
        Sort::UpdatedDesc => cursor::Key::UpdatedAt(hit.site.updated_at),
        Sort::Distance => cursor::Key::Distance(hit.distance_m.unwrap_or(f64::MAX).to_bits()),
        Sort::Relevance => cursor::Key::Score(hit.score.unwrap_or(0.0).to_bits()),
    };
    cursor::Position {
        search,
        key,
        id: hit.site_id(),
        total: total.0,
        exact: total.1,
        text,
    }
}

/// What a walk carries from page to page.
type Walk = (After, (i64, bool), Option<text::TextQuery>);

/// Where the cursor's page ended, the walk's total, and (with `q`) its words.
fn after_from(state: &AppState, raw: &str, search: &str, sort: Sort) -> Result<Walk, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "query parameter `cursor` is not a cursor this API issued for this search; start again without it",
            vec![FieldError::new("cursor", "is not a cursor issued for this search")],
        )
    };
    let position = cursor::decode(&state.cursor_key[..], raw, search).ok_or_else(invalid)?;
    let id = position.id;
    let total = (position.total, position.exact);
    let text = position.text;
    let after = match (sort, position.key) {
        (Sort::Name, cursor::Key::Name(name)) => Some(After::Name(name, id)),
        (Sort::UpdatedDesc, cursor::Key::UpdatedAt(at)) => Some(After::Updated(at, id)),
        (Sort::Distance, cursor::Key::Distance(bits)) => Some(After::Distance(f64::from_bits(bits), id)),
        (Sort::Relevance, cursor::Key::Score(bits)) => Some(After::Score(f32::from_bits(bits), id)),
        _ => None,
    };
    after.map(|after| (after, total, text)).ok_or_else(invalid)
}

/// The query string with `cursor` set to `cursor`.
fn with_cursor(query: &str, cursor: &str) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()).filter(|(name, _)| name != "cursor") {
        serializer.append_pair(&name, &value);
    }
    serializer.append_pair("cursor", cursor);
    serializer.finish()
}
