//! What the API says about experience reports: the report as read, and the request bodies as the
//! contract describes them (read by [`super::input`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::vocabulary::{HipaaSource, InsuranceCoverage, Modality, Route};

/// One member's report of one rotation at a site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct SiteReport {
    /// Stable identifier.
    pub(crate) site_report_id: Uuid,
    /// The site.
    pub(crate) site_id: Uuid,
    /// The author's display name; `null` when they chose to stay anonymous or left.
    #[schema(required = true, example = "Jordan L.")]
    pub(crate) author_display_name: Option<String>,
    /// Whether the author chose not to be shown by name.
    pub(crate) anonymous: bool,
    /// The modality the rotation was for.
    pub(crate) modality: Modality,
    /// The year of the rotation.
    #[schema(example = 2024)]
    pub(crate) year: i16,
    /// Its month (1 to 12), when the author gave it.
    #[schema(required = true, minimum = 1, maximum = 12)]
    pub(crate) month: Option<i16>,
    /// How the author got into the rotation (one or more).
    pub(crate) route: Vec<Route>,
    /// Whether they paid for the clinical experience.
    pub(crate) paid: bool,
    /// What they paid, in US dollars, when they said.
    #[schema(required = true, minimum = 0, maximum = 100000)]
    pub(crate) paid_usd: Option<i32>,
    /// Where their HIPAA training came from.
    pub(crate) hipaa_source: HipaaSource,
    /// Whether liability insurance was needed.
    pub(crate) insurance_needed: bool,
    /// Whose policy covered them, when insurance was needed and they said.
    #[schema(required = true)]
    pub(crate) insurance_provider: Option<InsuranceCoverage>,
    /// Whether the site accepted them as an independent candidate (not through a program).
    #[schema(required = true)]
    pub(crate) accepted_independent: Option<bool>,
    /// Whether a verifier was available on site.
    #[schema(required = true)]
    pub(crate) verifier_on_site: Option<bool>,
    /// How far they travelled to the site, in miles.
    #[schema(required = true, minimum = 0, maximum = 5000)]
    pub(crate) travel_miles: Option<i32>,
    /// Whether housing was provided.
    #[schema(required = true)]
    pub(crate) housing_provided: Option<bool>,
    /// Clinical hours at the site.
    #[schema(required = true, minimum = 1, maximum = 5000)]
    pub(crate) hours: Option<i32>,
    /// Weeks at the site.
    #[schema(required = true, minimum = 1, maximum = 104)]
    pub(crate) weeks: Option<i32>,
    /// Whether they would recommend the site.
    #[schema(required = true)]
    pub(crate) would_recommend: Option<bool>,
    /// The author's comment (never patient data).
    #[schema(required = true)]
    pub(crate) comment: Option<String>,
    /// Set when an administrator hid the report; only its author and administrators see hidden
    /// reports, and they count nowhere.
    #[schema(required = true)]
    pub(crate) hidden: Option<HiddenReport>,
    /// When it was written.
    pub(crate) created_at: DateTime<Utc>,
    /// When it last changed.
    pub(crate) updated_at: DateTime<Utc>,
    /// Its revision, also its `ETag` (quoted): send it as `If-Match` to change it.
    pub(crate) version: i64,
    /// The author's account (internal: who may edit it).
    #[serde(skip)]
    pub(crate) author_account_id: Option<Uuid>,
    /// The author as a respondent (internal: whom a write recounts).
    #[serde(skip)]
    pub(crate) respondent_id: Uuid,
}

impl SiteReport {
    /// The strong `ETag` of this revision.
    pub(crate) fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// Why and when an administrator hid a report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct HiddenReport {
    /// When.
    pub(crate) hidden_at: DateTime<Utc>,
    /// The administrator's reason.
    #[schema(example = "The comment named a patient.")]
    pub(crate) reason: String,
}

/// One page of a site's reports, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SiteReportPage {
    /// The reports on this page.
    pub(crate) items: Vec<SiteReport>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    #[schema(required = true)]
    pub(crate) next_cursor: Option<String>,
}

/// Reporting a rotation. Comments are public: never write patient data or anyone's identifiers
/// (dates of birth, record numbers, contact details); such comments are refused (422) and
/// administrators hide reports that slip through.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "modality": "ct", "year": 2024, "month": 3, "route": ["non_employer_provider"], "paid": true,
    "paid_usd": 500, "hipaa_source": "clinical_facility", "insurance_needed": true,
    "insurance_provider": "own_policy", "accepted_independent": true, "verifier_on_site": true,
    "travel_miles": 40, "housing_provided": false, "weeks": 6, "would_recommend": true,
    "comment": "Friendly techs and a steady CT schedule; the verifier signed off weekly."
}))]
#[allow(
    dead_code,
    reason = "the contract's description of a request body, which `input::ReportBody` reads"
)]
pub(crate) struct NewReport {
    /// The modality: one the site offers or offered at the time.
    pub(crate) modality: Modality,
    /// The year of the rotation (1970 to this year). One report per member, site, modality and
    /// year.
    #[schema(minimum = 1970, maximum = 2100)]
    pub(crate) year: i16,
    /// Its month, 1 to 12 (not in the future).
    #[schema(minimum = 1, maximum = 12)]
    pub(crate) month: Option<i16>,
    /// How you got in: one or more routes.
    #[schema(min_items = 1)]
    pub(crate) route: Vec<Route>,
    /// Whether you paid for the clinical experience.
    pub(crate) paid: bool,
    /// What you paid in US dollars (0 to 100000), only when `paid` is true.
    #[schema(minimum = 0, maximum = 100000)]
    pub(crate) paid_usd: Option<i32>,
    /// Where your HIPAA training came from.
    pub(crate) hipaa_source: HipaaSource,
    /// Whether liability insurance was needed.
    pub(crate) insurance_needed: bool,
    /// Whose policy covered you, only when `insurance_needed` is true.
    pub(crate) insurance_provider: Option<InsuranceCoverage>,
    /// Whether the site accepted you as an independent candidate (not through a program).
    pub(crate) accepted_independent: Option<bool>,
    /// Whether a verifier was available on site.
    pub(crate) verifier_on_site: Option<bool>,
    /// How far you travelled, in miles (0 to 5000).
    #[schema(minimum = 0, maximum = 5000)]
    pub(crate) travel_miles: Option<i32>,
    /// Whether housing was provided.
    pub(crate) housing_provided: Option<bool>,
    /// Clinical hours at the site (1 to 5000).
    #[schema(minimum = 1, maximum = 5000)]
    pub(crate) hours: Option<i32>,
    /// Weeks at the site (1 to 104).
    #[schema(minimum = 1, maximum = 104)]
    pub(crate) weeks: Option<i32>,
    /// Whether you would recommend the site.
    pub(crate) would_recommend: Option<bool>,
    /// Your comment, 1 to 2000 characters, public: never patient data or anyone's identifiers.
    #[schema(min_length = 1, max_length = 2000)]
    pub(crate) comment: Option<String>,
    /// `true` to be shown without your name (default `false`).
    pub(crate) anonymous: Option<bool>,
}

/// Changing a report (a JSON merge patch): each field of [`NewReport`]; left out keeps it,
/// `null` clears an optional one. The result must meet the rules of a new report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"would_recommend": false, "comment": null}))]
#[allow(
    dead_code,
    reason = "the contract's description of a request body, which `input::ReportBody` reads"
)]
pub(crate) struct ReportPatch {
    /// The modality (it cannot be cleared).
    #[schema(nullable = false)]
    pub(crate) modality: Option<Modality>,
    /// The year (it cannot be cleared).
    #[schema(nullable = false, minimum = 1970, maximum = 2100)]
    pub(crate) year: Option<i16>,
    /// The month (`null` clears it).
    #[schema(minimum = 1, maximum = 12)]
    pub(crate) month: Option<i16>,
    /// The routes (they cannot be cleared).
    #[schema(nullable = false, min_items = 1)]
    pub(crate) route: Option<Vec<Route>>,
    /// Whether you paid (it cannot be cleared).
    #[schema(nullable = false)]
    pub(crate) paid: Option<bool>,
    /// What you paid (`null` clears it).
    #[schema(minimum = 0, maximum = 100000)]
    pub(crate) paid_usd: Option<i32>,
    /// Where your HIPAA training came from (it cannot be cleared).
    #[schema(nullable = false)]
    pub(crate) hipaa_source: Option<HipaaSource>,
    /// Whether liability insurance was needed (it cannot be cleared).
    #[schema(nullable = false)]
    pub(crate) insurance_needed: Option<bool>,
    /// Whose policy covered you (`null` clears it).
    pub(crate) insurance_provider: Option<InsuranceCoverage>,
    /// Accepted as an independent candidate (`null` clears it).
    pub(crate) accepted_independent: Option<bool>,
    /// A verifier on site (`null` clears it).
    pub(crate) verifier_on_site: Option<bool>,
    /// Miles travelled (`null` clears it).
    #[schema(minimum = 0, maximum = 5000)]
    pub(crate) travel_miles: Option<i32>,
    /// Housing provided (`null` clears it).
    pub(crate) housing_provided: Option<bool>,
    /// Clinical hours (`null` clears it).
    #[schema(minimum = 1, maximum = 5000)]
    pub(crate) hours: Option<i32>,
    /// Weeks (`null` clears it).
    #[schema(minimum = 1, maximum = 104)]
    pub(crate) weeks: Option<i32>,
    /// Would recommend (`null` clears it).
    pub(crate) would_recommend: Option<bool>,
    /// The comment (`null` clears it); never patient data.
    #[schema(min_length = 1, max_length = 2000)]
    pub(crate) comment: Option<String>,
    /// Shown without your name (it cannot be cleared).
    #[schema(nullable = false)]
    pub(crate) anonymous: Option<bool>,
}

/// An administrator hiding a report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HideReport {
    /// Why, 3 to 500 characters (recorded in the site's history and shown to the author).
    #[schema(min_length = 3, max_length = 500, example = "The comment named a patient.")]
    pub(crate) reason: String,
}
