//! The site as the API shows it, and the request bodies as the contract documents them.
//!
//! Request bodies are read by [`super::input`]'s `SiteBody`, whose field types carry their rules
//! and which reports every problem at once; the `NewSite` and `SitePatch` types here describe the
//! same fields for the OpenAPI document (sharing `SiteDetails` with the response), and a test keeps
//! the documented fields equal to the declared ones (`input::SITE_FIELDS`, `OFFER_FIELDS`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::Postgres;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::fields::UsStateCode;
use crate::vocabulary::{
    Accepts, Compensation, HipaaTraining, Housing, Immunization, InsuranceCoverage, LiabilityInsurance, Modality,
    Payment, Schedule, SiteSource, SiteStatus, SiteType, VolumeBand,
};

/// What a site asks of candidates and how rotations work there: every field is optional, and
/// unknown values are left out (`null`) rather than guessed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct SiteDetails {
    /// Other names the site is known by (e.g. "OSU Wexner"); searched like the name. Up to 10,
    /// each 2 to 200 characters.
    #[serde(default)]
    #[schema(example = json!(["OSU Wexner Imaging"]), max_items = 10, value_type = Vec<Alias>)]
    pub(crate) aliases: Vec<String>,
    /// Street address, e.g. "410 W 10th Ave".
    #[schema(example = "410 W 10th Ave", min_length = 1, max_length = 200)]
    pub(crate) street: Option<String>,
    /// Latitude in degrees (WGS 84); within a nanodegree of 0 is stored as 0. Give both coordinates or neither; with neither, they are
    /// derived from the ZIP code when the ZIP reference data places it (`coordinates_source`).
    #[schema(example = 39.9946, minimum = -90, maximum = 90)]
    pub(crate) latitude: Option<f64>,
    /// Longitude in degrees (WGS 84); see `latitude`.
    #[schema(example = -83.0169, minimum = -180, maximum = 180)]
    pub(crate) longitude: Option<f64>,
    /// Phone of the clinical coordinator or department, a US number; stored as E.164 (`+16145551234`).
    #[schema(example = "+16145551234", pattern = "^[0-9 ().+-]+$", max_length = 30)]
    pub(crate) phone: Option<String>,
    /// The site's or department's web page, `http(s)://`.
    #[schema(
        example = "https://www.example.org/radiology",
        pattern = "^https?://",
        max_length = 2048
    )]
    pub(crate) website: Option<String>,
    /// Contact email for clinical placements.
    #[schema(example = "imaging.education@example.org", format = Email, max_length = 254)]
    pub(crate) email: Option<String>,
    /// The facility's National Provider Identifier (10 digits with a valid check digit), if known.
    #[schema(example = "1234567893", pattern = "^[0-9]{10}$")]
    pub(crate) npi: Option<String>,
    /// The operator's own identifier for the facility (e.g. its row in an organisation's
    /// spreadsheet), 1 to 100 characters, unique among sites: what `clinical-sites import
    /// --upsert-by external_id` matches on.
    #[schema(example = "OH-0042", min_length = 1, max_length = 100)]
    pub(crate) external_id: Option<String>,
    /// Whether the site charges for the clinical experience. Default `unknown`.
    pub(crate) payment: Option<Payment>,
    /// The fee in US dollars (0 to 100,000); a fee above 0 needs `payment` = `fee`.
    #[schema(example = 500, minimum = 0, maximum = 100000)]
    pub(crate) fee_usd: Option<i32>,
    /// What the fee covers, e.g. "badge, parking, 12 weeks of supervision".
    #[schema(min_length = 1, max_length = 500)]
    pub(crate) fee_covers: Option<String>,
    /// What the candidate is paid during the rotation. Default `unknown`.
    pub(crate) compensation: Option<Compensation>,
    /// How HIPAA training is handled.
    pub(crate) hipaa_training: Option<HipaaTraining>,
    /// Whether the candidate needs liability insurance.
    pub(crate) liability_insurance: Option<LiabilityInsurance>,
    /// Coverage accepted when insurance is required.
    #[serde(default)]
    pub(crate) insurance_accepted: Vec<InsuranceCoverage>,
    /// Minimum coverage per occurrence in US dollars (commonly 1,000,000).
    #[schema(example = 1000000, minimum = 0, maximum = 100000000)]
    pub(crate) min_per_occurrence_usd: Option<i32>,
    /// Minimum aggregate coverage in US dollars (commonly 3,000,000).
    #[schema(example = 3000000, minimum = 0, maximum = 100000000)]
    pub(crate) min_aggregate_usd: Option<i32>,
    /// A background check is required.
    pub(crate) background_check: Option<bool>,
    /// A drug screen is required.
    pub(crate) drug_screen: Option<bool>,
    /// Immunizations the candidate must show.
    #[serde(default)]
    pub(crate) immunizations: Vec<Immunization>,
    /// BLS/CPR certification is required.
    pub(crate) bls_required: Option<bool>,
    /// A site orientation must be attended first.
    pub(crate) orientation_required: Option<bool>,
    /// An affiliation agreement (with a program or employer) is required.
    pub(crate) affiliation_agreement_required: Option<bool>,
    /// Days between a first contact and a possible start (0 to 730).
    #[schema(example = 30, minimum = 0, maximum = 730)]
    pub(crate) lead_time_days: Option<i32>,
    /// Housing help offered.
    pub(crate) housing: Option<Housing>,
    /// When rotations can be scheduled (e.g. evenings and weekends for full-time workers).
    #[serde(default)]
    pub(crate) schedule: Vec<Schedule>,
    /// Shortest rotation in weeks (1 to 104).
    #[schema(example = 2, minimum = 1, maximum = 104)]
    pub(crate) rotation_weeks_min: Option<i32>,
    /// Longest rotation in weeks (1 to 104, not less than the minimum).
    #[schema(example = 12, minimum = 1, maximum = 104)]
    pub(crate) rotation_weeks_max: Option<i32>,
    /// Minimum hours per week a candidate must commit (1 to 80).
    #[schema(example = 16, minimum = 1, maximum = 80)]
    pub(crate) min_hours_per_week: Option<i32>,
}

/// What a site offers for one modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Offer {
    /// Whether the site takes candidates for this modality now.
    #[serde(default = "yes")]
    #[schema(required = true)]
    pub(crate) accepting: bool,
    /// How many candidates it takes at a time (0 to 1000).
    #[schema(required = true, example = 2, minimum = 0, maximum = 1000)]
    pub(crate) capacity: Option<i32>,
    /// Whether an eligible verifier (a credentialed technologist of the facility) is on site to
    /// confirm procedures. Without one the experience does not count.
    #[schema(required = true)]
    pub(crate) verifier_on_site: Option<bool>,
    /// Whom it accepts for this modality; `independent` means candidates who are neither employees
    /// nor in an affiliated program.
    #[serde(default)]
    #[schema(required = true, example = json!(["independent", "program_students"]))]
    pub(crate) accepts: Vec<Accepts>,
    /// Procedure categories or exams covered, free text (up to 50, each up to 100 characters).
    #[serde(default)]
    #[schema(required = true, example = json!(["head", "chest", "abdomen/pelvis", "CTA"]), max_items = 50, value_type = Vec<ProcedureCategory>)]
    pub(crate) procedure_categories: Vec<String>,
    /// How many exams of this modality the site performs.
    #[schema(required = true)]
    pub(crate) volume_band: Option<VolumeBand>,
    /// Anything else a candidate should know (up to 2000 characters).
    #[schema(required = true, min_length = 1, max_length = 2000)]
    pub(crate) notes: Option<String>,
}

fn yes() -> bool {
    true
}

/// An offer in a request: every field may be left out. Creating, a left-out field takes its
/// default (`accepting`: `true`, lists empty, the rest unknown); patching, only the given fields
/// change and `null` clears one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"capacity": 2, "verifier_on_site": true, "accepts": ["independent"]}))]
#[allow(
    dead_code,
    reason = "the contract's description of a request body, which `input::SiteBody` reads"
)]
pub(crate) struct OfferInput {
    /// Whether the site takes candidates for this modality now (`true` when left out on creation).
    pub(crate) accepting: Option<bool>,
    /// How many candidates it takes at a time (0 to 1000).
    #[schema(example = 2, minimum = 0, maximum = 1000)]
    pub(crate) capacity: Option<i32>,
    /// Whether an eligible verifier (a credentialed technologist of the facility) is on site to
    /// confirm procedures. Without one the experience does not count.
    pub(crate) verifier_on_site: Option<bool>,
    /// Whom it accepts for this modality; `independent` means candidates who are neither employees
    /// nor in an affiliated program.
    pub(crate) accepts: Option<Vec<Accepts>>,
    /// Procedure categories or exams covered, free text (up to 50, each up to 100 characters).
    #[schema(max_items = 50, value_type = Option<Vec<ProcedureCategory>>)]
    pub(crate) procedure_categories: Option<Vec<String>>,
    /// How many exams of this modality the site performs.
    pub(crate) volume_band: Option<VolumeBand>,
    /// Anything else a candidate should know (up to 2000 characters).
    #[schema(min_length = 1, max_length = 2000)]
    pub(crate) notes: Option<String>,
}

/// Another name of a site: 2 to 200 characters.
#[derive(ToSchema)]
#[schema(min_length = 2, max_length = 200, example = "OSU Wexner Imaging")]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct Alias(pub String);

/// A procedure category or exam an offer covers: 1 to 100 characters.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 100, example = "abdomen/pelvis")]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) struct ProcedureCategory(pub String);

/// Where a site's coordinates came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(
    dead_code,
    reason = "the contract's description of a value the server writes as JSON; never built"
)]
pub(crate) enum CoordinatesSource {
    /// Given by an editor.
    Request,
    /// The centre of the ZIP's Census ZIP Code Tabulation Area.
    ZipCentroid,
    /// The GeoNames place of a ZIP that has no Census area (PO boxes, single organisations).
    ZipGeonames,
}

/// A clinical training site.
// Read from a row of `queries::SITE_COLUMNS`, by position (`queries`, `impl FromRow for Site`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Site {
    /// Stable identifier.
    pub(crate) site_id: Uuid,
    /// The facility's name, 2 to 200 characters.
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
    /// ZIP code, `12345` or `12345-6789`.
    #[schema(example = "43210", pattern = "^[0-9]{5}(-[0-9]{4})?$")]
    pub(crate) postal_code: String,
    /// Requirements, logistics and contact details.
    #[serde(flatten)]
    pub(crate) details: SiteDetails,
    /// Where `latitude`/`longitude` came from: `request` (given by an editor), `zip_centroid`
    /// (the centre of the ZIP's Census ZIP Code Tabulation Area) or `zip_geonames` (the GeoNames
    /// place of a ZIP that has no Census area: PO boxes and single organisations, such as many
    /// hospitals); `null` when the site has no coordinates (its ZIP is in neither), so radius
    /// searches cannot find it.
    #[schema(required = true, value_type = Option<CoordinatesSource>)]
    pub(crate) coordinates_source: Option<String>,
    /// The offers, keyed by modality code: one per modality the site trains for.
    #[schema(value_type = BTreeMap<Modality, Offer>)]
    pub(crate) offers: Offers,
    /// `unverified` (added by a member or coordinator, not yet checked), `verified` (checked by an
    /// administrator) or `archived` (no longer listed; still readable).
    pub(crate) status: SiteStatus,
    /// Who created the listing.
    pub(crate) source: SiteSource,
    /// When an administrator verified the listing; `null` unless it is verified.
    #[schema(required = true)]
    pub(crate) verified_at: Option<DateTime<Utc>>,
    /// When the listing was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When the listing or one of its offers last changed.
    pub(crate) updated_at: DateTime<Utc>,
    /// The listing's revision; its `ETag` header is this number in quotes.
    #[schema(example = 3)]
    pub(crate) version: i64,
    /// What members reported of their rotations here, beside the listing's own claims.
    pub(crate) reports: crate::reports::summary::ReportSummary,
    /// The counts the summary is made from (`site.report_counts`).
    #[serde(skip)]
    pub(crate) report_counts: crate::reports::summary::ReportCounts,
    /// Moved on by each report write: the `ETag` is `"<version>"` or `"<version>.<this>"`.
    #[serde(skip)]
    pub(crate) reports_revision: i32,
    /// Things the caller should know about this answer, e.g. that the ZIP code is unknown and the
    /// site has no coordinates. Only on responses to writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub(crate) notices: Vec<String>,
}

/// A site's offers keyed by modality code, as the JSON object PostgreSQL keeps on the site row
/// (`site.offers`, built by `site_offers_json`, migration `…09`). Responses carry it as it is: a
/// page of sites never decodes and encodes its offers again (that was 8–20% of the server's CPU
/// per search). Its shape is [`Offer`]'s, which a contract test checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Offers(Box<RawValue>);

impl sqlx::Type<Postgres> for Offers {
    fn type_info() -> PgTypeInfo {
        <Json<Box<RawValue>> as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Json<Box<RawValue>> as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Offers {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(
            <Json<Box<RawValue>> as sqlx::Decode<'r, Postgres>>::decode(value)?.0,
        ))
    }
}

impl Site {
    /// The strong entity tag of this revision.
    pub(crate) fn etag(&self) -> String {
        match self.reports_revision {
            0 => format!("\"{}\"", self.version),
            reports => format!("\"{}.{reports}\"", self.version),
        }
    }

    /// The report summary under the disclosure threshold `threshold` (until this is called, only
    /// the number of reports is shown).
    pub(crate) fn disclose(&mut self, threshold: u32) {
        self.reports = self.report_counts.summary(threshold);
    }
}

/// A site to create. Unknown fields are refused (422), so a typo is never silently dropped.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "name": "Riverside Imaging Center",
    "site_type": "imaging_center",
    "street": "410 W 10th Ave",
    "city": "Columbus",
    "state": "OH",
    "postal_code": "43210",
    "phone": "(614) 555-1234",
    "website": "https://www.example.org/radiology",
    "payment": "free",
    "compensation": "unpaid",
    "hipaa_training": "provided_by_site",
    "liability_insurance": "not_required",
    "immunizations": ["tb", "hep_b", "influenza"],
    "housing": "none",
    "schedule": ["weekday", "evening"],
    "rotation_weeks_min": 4,
    "rotation_weeks_max": 12,
    "offers": {
        "ct": {"accepting": true, "capacity": 2, "verifier_on_site": true, "accepts": ["independent", "program_students"],
               "procedure_categories": ["head", "chest", "abdomen/pelvis"], "volume_band": "high"},
        "mri": {"accepting": false, "verifier_on_site": true, "accepts": ["employees"]}
    },
    "manage": false
}))]
#[allow(
    dead_code,
    reason = "the contract's description of a request body, which `input::SiteBody` reads"
)]
pub(crate) struct NewSite {
    /// The facility's name, 2 to 200 characters.
    #[schema(min_length = 2, max_length = 200)]
    pub(crate) name: String,
    /// The kind of facility.
    pub(crate) site_type: SiteType,
    /// City, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub(crate) city: String,
    /// USPS state or territory code (any case is accepted).
    #[schema(value_type = UsStateCode)]
    pub(crate) state: String,
    /// ZIP code, `12345` or `12345-6789` (nine digits without the hyphen are accepted too).
    #[schema(example = "43210", pattern = "^[0-9]{5}(-?[0-9]{4})?$")]
    pub(crate) postal_code: String,
    /// Requirements, logistics and contact details.
    #[serde(flatten)]
    pub(crate) details: SiteDetails,
    /// Offers keyed by modality code.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<Modality, OfferInput>>)]
    pub(crate) offers: BTreeMap<Modality, OfferInput>,
    /// `true` when the caller coordinates this facility: they become its manager (it stays
    /// `unverified` until an administrator verifies it). Left out: `false`, a member adding a site
    /// they know.
    #[serde(default)]
    #[schema(required = false)]
    pub(crate) manage: bool,
    /// Only after a `409` whose `existing.matched_on` is `name`, when this is in fact a different
    /// facility: why, 10 to 500 characters (e.g. "our outpatient imaging center, a separate department
    /// with its own staff in the hospital's building"). A coordinator registering their own facility
    /// (`"manage": true`) or an administrator may send it (anyone else gets a 403 naming it); the
    /// site is then created and the reason kept in its history (`changes.duplicate_override` of its
    /// `create` change). A site with the NPI of a listed one is that facility: no reason lets it
    /// through. Not stored on the site.
    #[schema(min_length = 10, max_length = 500)]
    pub(crate) duplicate_override_reason: Option<String>,
}

/// Changes to a site, as a JSON merge patch (RFC 7396): a field left out stays as it is, `null`
/// clears it, a value replaces it. In `offers`, `"ct": {...}` adds the CT offer or changes the given
/// fields of it, and `"ct": null` removes it. Requires `If-Match` with the site's current `ETag`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"payment": "fee", "fee_usd": 250, "offers": {"ct": {"capacity": 3}, "mri": null}}))]
#[allow(
    dead_code,
    reason = "the contract's description of a request body, which `input::SiteBody` reads"
)]
pub(crate) struct SitePatch {
    /// A new name, 2 to 200 characters (it cannot be cleared).
    #[schema(nullable = false, min_length = 2, max_length = 200)]
    pub(crate) name: Option<String>,
    /// A new type (it cannot be cleared).
    #[schema(nullable = false)]
    pub(crate) site_type: Option<SiteType>,
    /// A new city, 1 to 100 characters (it cannot be cleared).
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    pub(crate) city: Option<String>,
    /// A new state (it cannot be cleared).
    #[schema(nullable = false, value_type = Option<UsStateCode>)]
    pub(crate) state: Option<String>,
    /// A new ZIP code (it cannot be cleared); coordinates derived from the old one are derived
    /// again.
    #[schema(nullable = false, pattern = "^[0-9]{5}(-?[0-9]{4})?$")]
    pub(crate) postal_code: Option<String>,
    /// Changed details (`null` clears one).
    #[serde(flatten)]
    pub(crate) details: SiteDetails,
    /// Offers to add, change (`{...}`, only the given fields) or remove (`null`), keyed by modality
    /// code.
    #[schema(schema_with = offers_patch_schema)]
    pub(crate) offers: Option<BTreeMap<Modality, Option<OfferInput>>>,
    /// Only when a change of name, ZIP code or NPI was refused as a duplicate by name (`409`,
    /// `existing.matched_on` = `name`) and the site is in fact a different facility: why, 10 to 500
    /// characters, as for `POST /v1/sites`; kept in the `update` change of the site's history. Not
    /// stored on the site.
    #[schema(min_length = 10, max_length = 500)]
    pub(crate) duplicate_override_reason: Option<String>,
}

/// `offers` of a patch: an object keyed by modality code whose values are offers or `null`.
fn offers_patch_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
    use utoipa::openapi::{Ref, RefOr};
    let offer_or_null = OneOfBuilder::new()
        .item(Ref::from_schema_name("OfferInput"))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build();
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "Offers to add, change (`{...}`, only the given fields) or remove (`null`), keyed by modality code; \
             `\"offers\": null` removes every offer.",
        ))
        .additional_properties(Some(RefOr::T(Schema::OneOf(offer_or_null))))
        .property_names(Some(
            ObjectBuilder::new().schema_type(Type::String).enum_values(Some(
                <Modality as crate::vocabulary::CodeSet>::ALL
                    .iter()
                    .map(|m| crate::vocabulary::CodeSet::code(*m)),
            )),
        ))
        .build()
}
