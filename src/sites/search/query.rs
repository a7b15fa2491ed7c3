//! The search's query parameters as the contract states them. The query string is parsed by hand
//! in [`super::params`] (parameters repeat, and every problem is reported at once); this struct
//! only describes the same parameters, with their types, ranges and patterns, and a test keeps the
//! two lists equal.

use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::params::{Facet, Sort, View};
use crate::sites::fields::UsStateCode;
use crate::vocabulary::{Accepts, HipaaTraining, Payment, Schedule, SiteStatus, SiteType};

/// `GET /v1/sites`'s filters (which `GET /v1/sites/export` takes too). Repeatable ones are arrays
/// (`modality=ct&modality=mri`; a comma-separated value is accepted too).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parser's parameters for the contract; never built
pub(crate) struct SearchFilters {
    /// Modality codes or ARRT abbreviations (repeatable; abbreviations in any case).
    #[param(value_type = Option<Vec<ModalityFilter>>, explode = true)]
    modality: Option<Vec<String>>,
    /// USPS state codes, any case (repeatable).
    #[param(value_type = Option<Vec<UsStateCode>>, explode = true)]
    state: Option<Vec<String>>,
    /// City, any case, 1 to 100 characters.
    #[param(min_length = 1, max_length = 100)]
    city: Option<String>,
    /// ZIP code (5 digits match the ZIP) or ZIP+4 (exactly).
    #[param(pattern = "^[0-9]{5}(-?[0-9]{4})?$")]
    postal_code: Option<String>,
    /// `LAT,LON` in degrees or a 5-digit ZIP code of the ZIP reference data.
    #[param(
        example = "43210",
        pattern = "^([0-9]{5}|-?[0-9]+(\\.[0-9]+)?, ?-?[0-9]+(\\.[0-9]+)?)$"
    )]
    near: Option<String>,
    /// Distance from `near` (which it needs): a positive number with `mi` (default) or `km`, at most
    /// 1000 miles.
    #[param(example = "60mi", pattern = "^[0-9]+(\\.[0-9]+)?(mi|km)?$")]
    radius: Option<String>,
    /// Site type codes (repeatable).
    #[param(explode = true)]
    site_type: Option<Vec<SiteType>>,
    /// `independent`, `program_students` or `employees` (offer level); `unknown`: offers that
    /// state none.
    #[param(value_type = Option<AcceptsFilter>)]
    accepts: Option<String>,
    /// `true`: an eligible verifier is on site; `false`: none is; `unknown`: the offer does not say
    /// (offer level). `true` and `false` never match an offer that does not say.
    #[param(value_type = Option<Tristate>)]
    verifier_on_site: Option<String>,
    /// Taking candidates now (offer level).
    accepting: Option<bool>,
    /// Payment codes (repeatable), e.g. `free`; `unknown` is the code of sites that do not say.
    #[param(explode = true)]
    payment: Option<Vec<Payment>>,
    /// Free and tuition-only sites, and sites that charge a stated fee of at most this; sites whose
    /// payment or fee is unknown do not match.
    #[param(minimum = 0, maximum = 100000)]
    max_fee_usd: Option<i32>,
    /// `true`: liability insurance required; `false`: not required; `unknown`: the site does not
    /// say. `true` and `false` never match a site that does not say.
    #[param(value_type = Option<Tristate>)]
    insurance_required: Option<String>,
    /// `provided_by_site`, `bring_own_certificate` or `either` (a site accepting either way matches
    /// both specific values); `unknown`: the site does not say, which no other value matches.
    #[param(value_type = Option<HipaaTrainingFilter>)]
    hipaa_training: Option<String>,
    /// `true`: some housing help offered; `false`: the site says none; `unknown`: the site does not
    /// say. `true` and `false` never match a site that does not say.
    #[param(value_type = Option<Tristate>)]
    housing: Option<String>,
    /// `true`: only sites where at least one member reported being accepted as an independent
    /// candidate (the members' reports, beside what the offers' `accepts` claim).
    #[param(value_type = Option<bool>)]
    reported_independent: Option<String>,
    /// Schedule codes (repeatable), e.g. `evening`; `unknown`: sites that state no schedule.
    #[param(value_type = Option<Vec<ScheduleFilter>>, explode = true)]
    schedule: Option<Vec<String>>,
    /// Listing status (repeatable); default `unverified` and `verified`.
    #[param(explode = true)]
    status: Option<Vec<SiteStatus>>,
    /// Typo-tolerant text over name, city and aliases (2 to 200 characters); every word must match
    /// a word of the site exactly or closely.
    #[param(min_length = 2, max_length = 200)]
    q: Option<String>,
    /// Only sites updated at or after this RFC 3339 time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    updated_since: Option<String>,
}

/// `GET /v1/sites`'s order, paging and presentation.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parser's parameters for the contract; never built
pub(crate) struct SearchPaging {
    /// The order: `relevance` needs `q`, `distance` needs `near`.
    #[param(value_type = Option<Sort>)]
    sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page (same filters).
    cursor: Option<String>,
    /// Facets to count beside the results (repeatable).
    #[param(value_type = Option<Vec<Facet>>, explode = true)]
    facets: Option<Vec<String>>,
    /// `summary` (default): each hit is what a results list shows; `full`: each hit is the whole
    /// site, as `GET /v1/sites/{site_id}` returns it.
    #[param(value_type = Option<View>)]
    view: Option<String>,
}

/// The parameter names, in order, for the test that compares them with the parser's.
#[cfg(test)]
pub(crate) fn names() -> Vec<String> {
    SearchFilters::into_params(|| None)
        .into_iter()
        .chain(SearchPaging::into_params(|| None))
        .map(|p| p.name)
        .collect()
}

/// A code of a set, or `unknown` for what a site has not stated.
fn or_unknown(set: &str) -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(Ref::from_schema_name(set))
        .item(Ref::from_schema_name("Unstated"))
        .into()
}

macro_rules! filter_schema {
    ($(#[$meta:meta])* $name:ident = $schema:expr, [$($dep:ty),*]) => {
        $(#[$meta])*
        pub(crate) struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $name {
            #[allow(unused_variables)]
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $(schemas.push((<$dep as ToSchema>::name().into_owned(), <$dep as PartialSchema>::schema()));)*
            }
        }
    };
}

filter_schema!(
    /// A modality code, or its ARRT abbreviation.
    ModalityFilter = AnyOfBuilder::new()
        .item(Ref::from_schema_name("Modality"))
        .item(Ref::from_schema_name("ArrtAbbreviation"))
        .into(),
    [crate::vocabulary::Modality, crate::vocabulary::ArrtAbbreviation]
);
filter_schema!(
    /// Whom an offer accepts, or `unknown`.
    AcceptsFilter = or_unknown("Accepts"),
    [Accepts, Unstated]
);
filter_schema!(
    /// How a site handles HIPAA training, or `unknown`.
    HipaaTrainingFilter = or_unknown("HipaaTraining"),
    [HipaaTraining, Unstated]
);
filter_schema!(
    /// A schedule code, or `unknown`.
    ScheduleFilter = or_unknown("Schedule"),
    [Schedule, Unstated]
);
filter_schema!(
    /// `true`, `false`, or `unknown` (not stated).
    Tristate = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("`true`, `false`, or `unknown`: the site does not say."))
        .enum_values(Some(["true", "false", "unknown"]))
        .into(),
    []
);
filter_schema!(
    /// `unknown`: what a site has not stated.
    Unstated = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("`unknown`: matches what a site has not stated."))
        .enum_values(Some(["unknown"]))
        .into(),
    []
);

#[cfg(test)]
mod tests {
    #[test]
    fn the_contract_names_every_parameter_the_parser_knows() {
        assert_eq!(super::names(), super::super::params::KNOWN);
    }
}
