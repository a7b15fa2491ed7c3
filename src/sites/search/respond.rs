//! A search's answer: the page's sites read by primary key (a summary, or whole with `view=full`),
//! with distances and relevance from the index, the cursor, the total and the facets.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::index::run::{FacetCounts, Hit as IndexHit, Outcome};
use super::index::short_xid;
use super::params::{Facet, SearchParams, Unit, View};
use super::plan::Plan;
use super::{FacetCount, Relation, SitePage, Total, cursor};
use crate::AppState;
use crate::error::ApiError;
use crate::replica::Reads;
use crate::reports::summary::{ReportCounts, ReportSummary};
use crate::sites::fields::UsStateCode;
use crate::sites::model::Site;
use crate::sites::queries::SITE_COLUMNS;
use crate::vocabulary::{Accepts, HipaaTraining, LiabilityInsurance, Modality, Payment, SiteStatus, SiteType};

/// What a results list shows of an offer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferSummary {
    /// Whether the site takes candidates for this modality now.
    #[serde(default = "yes")]
    pub(crate) accepting: bool,
    /// Whom it accepts for this modality.
    #[serde(default)]
    pub(crate) accepts: Vec<Accepts>,
    /// Whether an eligible verifier is on site; absent when the site has not said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) verifier_on_site: Option<bool>,
}

fn yes() -> bool {
    true
}

/// The columns of a [`SummaryRow`], of `site s`.
const SUMMARY_COLUMNS: &str = "s.site_id, s.name, s.site_type, s.city, s.state, s.status, s.payment, s.liability_insurance, s.hipaa_training, s.offers, s.report_counts, s.index_xid";

/// How many sites' summaries [`Summaries`] keeps (a few hundred bytes each).
const CACHED_SUMMARIES: usize = 16_384;

/// The summaries of the sites pages showed last, each with the version of the site it was read
/// at (`site.index_xid`): a page's site whose version is the one the index has is not read again.
/// A site changed since has another version in the index, so its old summary is never shown; a
/// summary read newer than the index's version waits until the index has caught up. Bounded
/// (the least useful go first), so memory stays flat.
pub(crate) struct Summaries(quick_cache::sync::Cache<Uuid, (u32, Arc<SiteSummary>)>);

impl Default for Summaries {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(CACHED_SUMMARIES))
    }
}

impl std::fmt::Debug for Summaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summaries").field("len", &self.0.len()).finish()
    }
}

/// A summary as read, with the version of the row.
#[derive(sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    summary: SiteSummary,
    index_xid: i64,
}

impl Identified for SummaryRow {
    fn id(&self) -> Uuid {
        self.summary.site_id
    }
}

/// The summaries of `hits`' sites, in their order: from the cache where it has the version the
/// index has, the others read by primary key (and kept). A site deleted since the index answered
/// is left out.
async fn summaries(state: &AppState, reads: &Reads, hits: &[IndexHit]) -> Result<Vec<Arc<SiteSummary>>, ApiError> {
    let cache = &state.summaries.0;
    let mut found: HashMap<Uuid, Arc<SiteSummary>> = hits
        .iter()
        .filter_map(|hit| {
            cache
                .get(&hit.site_id)
                .filter(|(version, _)| *version == hit.version)
                .map(|(_, summary)| (hit.site_id, summary))
        })
        .collect();
    let missing: Vec<Uuid> = hits
        .iter()
        .map(|hit| hit.site_id)
        .filter(|id| !found.contains_key(id))
        .collect();
    for row in rows::<SummaryRow>(reads, SUMMARY_COLUMNS, &missing).await? {
        let summary = Arc::new(row.summary);
        cache.insert(summary.site_id, (short_xid(row.index_xid), Arc::clone(&summary)));
        found.insert(summary.site_id, summary);
    }
    Ok(hits.iter().filter_map(|hit| found.remove(&hit.site_id)).collect())
}

/// What a results list shows of a site: where it is (with `distance` beside it), what it is,
/// whether it is verified, and what each offer and the site ask of a candidate; a value the site
/// has not stated is left out. `GET /v1/sites/{site_id}` (or `view=full`) has the rest.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub(crate) struct SiteSummary {
    /// Stable identifier.
    pub(crate) site_id: Uuid,
    /// The facility's name.
    #[schema(example = "Riverside Imaging Center")]
    pub(crate) name: String,
    /// The kind of facility.
    pub(crate) site_type: SiteType,
    /// City.
    #[schema(example = "Columbus")]
    pub(crate) city: String,
    /// USPS state or territory code.
    #[schema(value_type = UsStateCode)]
    pub(crate) state: String,
    /// `unverified`, `verified` (checked by an administrator) or `archived`.
    pub(crate) status: SiteStatus,
    /// Whether the site charges (`unknown` when it has not said).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) payment: Option<Payment>,
    /// Whether the candidate needs liability insurance; absent when the site has not said.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) liability_insurance: Option<LiabilityInsurance>,
    /// How HIPAA training is handled; absent when the site has not said.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) hipaa_training: Option<HipaaTraining>,
    /// The offers, keyed by modality code: with `modality`, those of the modalities searched for
    /// (the site's page, or `view=full`, has the others).
    #[schema(value_type = BTreeMap<Modality, OfferSummary>)]
    pub(crate) offers: Json<BTreeMap<Modality, OfferSummary>>,
    /// What members reported of their rotations here.
    #[sqlx(skip)]
    pub(crate) reports: ReportSummary,
    /// The counts the summary is made from.
    #[sqlx(json)]
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) report_counts: ReportCounts,
}

/// A site in search results: the summary ([`SiteSummary`], always), with `view=full` every other
/// field of the site as `GET /v1/sites/{site_id}` has it, and its distance and relevance.
#[derive(ToSchema)]
#[allow(dead_code)] // describes `Item` for the contract; never built
pub(crate) struct SiteHit {
    #[serde(flatten)]
    summary: SiteSummary,
    /// Great-circle distance from `near` on the mean Earth radius, as maps show it, in
    /// `distance_unit`; present when `near` is given.
    #[schema(example = 12.4, nullable = false, minimum = 0)]
    distance: Option<f64>,
    /// The unit of `distance`: that of `radius` (miles by default); present when `near` is given.
    #[schema(nullable = false)]
    distance_unit: Option<Unit>,
    /// How well the site matches `q`, 0 to 1; present when `q` is given.
    #[schema(example = 0.73, nullable = false, minimum = 0, maximum = 1)]
    relevance: Option<f32>,
}

/// A site on a page, with what the index measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Hit<T> {
    #[serde(flatten)]
    site: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_unit: Option<Unit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    relevance: Option<f32>,
}

/// A site on a page, in the view asked for.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Item {
    Summary(Hit<Box<SiteSummary>>),
    Full(Hit<Box<Site>>),
}

trait Identified {
    fn id(&self) -> Uuid;
}

impl Identified for SiteSummary {
    fn id(&self) -> Uuid {
        self.site_id
    }
}

impl Identified for Site {
    fn id(&self) -> Uuid {
        self.site_id
    }
}

/// The sites of `ids`, in that order (a site deleted since the index answered is left out).
async fn rows<T>(reads: &Reads, columns: &str, ids: &[Uuid]) -> Result<Vec<T>, ApiError>
where
    T: Identified + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Runtime SQL: the columns are the page's view (summary or full site).
    let rows: Vec<T> = reads
        .run(|mut conn| async move {
            Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select {columns} from site s where s.site_id = any($1)"
            )))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?)
        })
        .await?;
    let mut by_id: HashMap<Uuid, T> = rows.into_iter().map(|row| (row.id(), row)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The page of `outcome`.
pub(super) async fn page(
    state: &AppState,
    reads: &Reads,
    params: &SearchParams,
    plan: &Plan,
    outcome: Outcome,
) -> Result<SitePage, ApiError> {
    let mut hits = outcome.hits;
    let more = hits.len() > params.limit as usize;
    hits.truncate(params.limit as usize);
    let total = plan.after.as_ref().map_or(outcome.total as i64, |(_, total)| *total);
    let next_cursor = hits.last().filter(|_| more).map(|last| {
        let position = cursor::Position {
            search: plan.search.clone(),
            key: last.key.clone(),
            id: last.site_id,
            total,
            text: plan.text.clone(),
        };
        cursor::encode(&state.cursor_key[..], &position)
    });
    let facets = (!params.facets.is_empty()).then(|| facet_counts(outcome.facets));
    Ok(SitePage {
        items: items(state, reads, params, &hits).await?,
        next_cursor,
        total: Total {
            value: total,
            relation: Relation::Eq,
        },
        sort: plan.sort,
        facets,
    })
}

/// The page's sites in the view asked for, each with its distance and relevance.
async fn items(
    state: &AppState,
    reads: &Reads,
    params: &SearchParams,
    hits: &[IndexHit],
) -> Result<Vec<Item>, ApiError> {
    let unit = params.near.map(|_| params.unit.unwrap_or(Unit::Miles));
    let measured: HashMap<Uuid, (Option<f64>, Option<f32>)> = hits
        .iter()
        .map(|hit| {
            (
                hit.site_id,
                (hit.distance_m.zip(unit).map(|(m, unit)| m / unit.meters()), hit.score),
            )
        })
        .collect();
    Ok(match params.view {
        View::Summary => summaries(state, reads, hits)
            .await?
            .into_iter()
            .map(|site| {
                let mut site = SiteSummary::clone(&site);
                site.reports = site.report_counts.summary(state.config.stats_min_respondents);
                if !params.modalities.is_empty() {
                    site.offers.0.retain(|modality, _| params.modalities.contains(modality));
                }
                Item::Summary(hit(site.site_id, Box::new(site), &measured, unit))
            })
            .collect(),
        View::Full => {
            let ids: Vec<Uuid> = hits.iter().map(|hit| hit.site_id).collect();
            rows::<Site>(reads, &SITE_COLUMNS, &ids)
                .await?
                .into_iter()
                .map(|mut site| {
                    site.disclose(state.config.stats_min_respondents);
                    Item::Full(hit(site.site_id, Box::new(site), &measured, unit))
                })
                .collect()
        }
    })
}

/// A site of the page with what the search measured of it.
fn hit<T>(site_id: Uuid, site: T, measured: &HashMap<Uuid, (Option<f64>, Option<f32>)>, unit: Option<Unit>) -> Hit<T> {
    let (distance, relevance) = measured.get(&site_id).copied().unwrap_or_default();
    Hit {
        site,
        distance,
        distance_unit: unit,
        relevance,
    }
}

/// The facets' counts as the page shows them.
fn facet_counts(facets: FacetCounts) -> BTreeMap<Facet, Vec<FacetCount>> {
    facets
        .into_iter()
        .map(|(facet, counts)| {
            let counts = counts
                .into_iter()
                .map(|(value, count)| FacetCount {
                    value,
                    count: count as i64,
                })
                .collect();
            (facet, counts)
        })
        .collect()
}

/// The weak entity tag of a page: the index's state and the query (its parameters in a canonical
/// order), so a page is revalidated without running its search.
pub(super) fn etag(state: &str, query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    pairs.sort();
    let digest = Sha256::digest(format!("{pairs:?}").as_bytes());
    format!("W/\"{state}-{}\"", crate::auth::token::hex(&digest[..8]))
}

/// The page as JSON, with its `ETag` and, when there is a next page, its `Link`.
pub(super) fn response(page: SitePage, query: &str, etag: &str) -> Result<Response, ApiError> {
    // Sized for the page up front (a summary is ~500 bytes of JSON), so encoding never grows the
    // buffer by copying it.
    let mut body = Vec::with_capacity(1024 + 1024 * page.items.len());
    serde_json::to_writer(&mut body, &page).map_err(ApiError::internal)?;
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if let Some(next) = &page.next_cursor {
        let link = format!("</v1/sites?{}>; rel=\"next\"", with_cursor(query, next));
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
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
