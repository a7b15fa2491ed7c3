//! The query string of `GET /v1/sites`, parsed into a [`SearchParams`] or a 400 naming every bad
//! parameter. Parsed by hand because parameters repeat (`modality=ct&modality=mri`).

use chrono::{DateTime, Utc};

use crate::error::{ApiError, FieldError};
use crate::sites::fields::{PostalCode, UsState};
use crate::vocabulary::{Accepts, CodeSet, HipaaTraining, Modality, Payment, Schedule, SiteStatus, SiteType};

/// Largest radius accepted: beyond this a radius filter means nothing.
pub(crate) const MAX_RADIUS_MILES: f64 = 1000.0;
/// Metres in a mile.
pub(crate) const METERS_PER_MILE: f64 = 1609.344;

/// A distance unit: `mi` (miles) or `km` (kilometres).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = DistanceUnit)]
pub(crate) enum Unit {
    /// Statute miles.
    #[serde(rename = "mi")]
    Miles,
    /// Kilometres.
    #[serde(rename = "km")]
    Kilometers,
}

impl Unit {
    /// Metres per unit.
    pub(crate) fn meters(self) -> f64 {
        match self {
            Self::Miles => METERS_PER_MILE,
            Self::Kilometers => 1000.0,
        }
    }
}

/// Where distances are measured from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Near {
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
}

/// The order of search results (ties by id): `relevance` (best text match first, needs `q`),
/// `distance` (nearest first, needs `near`), `name` (A to Z), `-updated_at` (most recently updated
/// first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = SearchSort)]
pub(crate) enum Sort {
    /// Best text match first (needs `q`).
    #[serde(rename = "relevance")]
    Relevance,
    /// Nearest first (needs `near`).
    #[serde(rename = "distance")]
    Distance,
    /// By name, A to Z.
    #[serde(rename = "name")]
    Name,
    /// Most recently updated first.
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
    /// Most members' reports first.
    #[serde(rename = "-reports")]
    ReportsDesc,
}

/// How much of each site a page of results carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum View {
    /// What a results list shows (`SiteHit`'s required fields).
    #[default]
    Summary,
    /// The whole site, as `GET /v1/sites/{site_id}` returns it.
    Full,
}

/// A facet: a field whose value counts are returned beside the results.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Facet {
    Modality,
    SiteType,
    State,
    Payment,
    Accepts,
    Schedule,
    HipaaTraining,
    Status,
}

impl Facet {
    /// Every facet.
    pub(crate) const ALL: &'static [Self] = &[
        Self::Modality,
        Self::SiteType,
        Self::State,
        Self::Payment,
        Self::Accepts,
        Self::Schedule,
        Self::HipaaTraining,
        Self::Status,
    ];

    /// The name in `facets=` and in the response.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Modality => "modality",
            Self::SiteType => "site_type",
            Self::State => "state",
            Self::Payment => "payment",
            Self::Accepts => "accepts",
            Self::Schedule => "schedule",
            Self::HipaaTraining => "hipaa_training",
            Self::Status => "status",
        }
    }
}

/// A filter on something a site may not have stated. The one rule for unknown values: a filter
/// for a value matches only the sites known to have it, never those that have not said (a member
/// filtering for "no insurance required" wants the sites that said so); `unknown` asks for exactly
/// the sites that have not said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted<T> {
    /// Sites known to have this value.
    Value(T),
    /// Sites that have not stated one.
    Unknown,
}

impl<T> Wanted<T> {
    /// `unknown`, or the value `parse` makes of `text`.
    fn parse(text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<Self> {
        if text == "unknown" {
            Some(Self::Unknown)
        } else {
            parse(text).map(Self::Value)
        }
    }
}

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SearchParams {
    pub(crate) modalities: Vec<Modality>,
    pub(crate) states: Vec<String>,
    pub(crate) city: Option<String>,
    pub(crate) postal_code: Option<String>,
    pub(crate) near: Option<Near>,
    /// Radius in metres.
    pub(crate) radius_m: Option<f64>,
    pub(crate) unit: Option<Unit>,
    pub(crate) site_types: Vec<SiteType>,
    pub(crate) accepts: Option<Wanted<Accepts>>,
    pub(crate) verifier_on_site: Option<Wanted<bool>>,
    pub(crate) accepting: Option<bool>,
    pub(crate) payments: Vec<Payment>,
    pub(crate) max_fee_usd: Option<i32>,
    pub(crate) insurance_required: Option<Wanted<bool>>,
    pub(crate) hipaa_training: Option<Wanted<HipaaTraining>>,
    pub(crate) housing: Option<Wanted<bool>>,
    /// `reported_independent=true`: a member reported being accepted as an independent candidate.
    pub(crate) reported_independent: bool,
    /// `schedule=unknown` among them asks for sites that have stated no schedule.
    pub(crate) schedules: Vec<Wanted<Schedule>>,
    pub(crate) statuses: Vec<SiteStatus>,
    pub(crate) q: Option<String>,
    pub(crate) updated_since: Option<DateTime<Utc>>,
    pub(crate) sort: Option<Sort>,
    pub(crate) limit: u32,
    pub(crate) cursor: Option<String>,
    pub(crate) facets: Vec<Facet>,
    pub(crate) view: View,
}

impl SearchParams {
    /// The sort in effect: the one asked for, else relevance with `q`, distance with `near`,
    /// most recently updated otherwise.
    pub(crate) fn effective_sort(&self) -> Sort {
        self.sort.unwrap_or(if self.q.is_some() {
            Sort::Relevance
        } else if self.near.is_some() {
            Sort::Distance
        } else {
            Sort::UpdatedDesc
        })
    }

    /// Whether any offer-level filter applies.
    pub(crate) fn has_offer_filters(&self) -> bool {
        self.accepts.is_some() || self.verifier_on_site.is_some() || self.accepting.is_some()
    }
}

/// Parameters every search accepts, for error messages.
pub(crate) const KNOWN: &[&str] = &[
    "modality",
    "state",
    "city",
    "postal_code",
    "near",
    "radius",
    "site_type",
    "accepts",
    "verifier_on_site",
    "accepting",
    "payment",
    "max_fee_usd",
    "insurance_required",
    "hipaa_training",
    "housing",
    "reported_independent",
    "schedule",
    "status",
    "q",
    "updated_since",
    "sort",
    "limit",
    "cursor",
    "facets",
    "view",
];

/// Parameters that may be repeated (or given comma-separated).
const REPEATABLE: &[&str] = &[
    "modality",
    "state",
    "site_type",
    "payment",
    "schedule",
    "status",
    "facets",
];

/// Parses a query string; every bad parameter is reported in one 400.
pub(crate) fn parse(query: &str) -> Result<SearchParams, ApiError> {
    let mut reading = Reading {
        params: SearchParams {
            limit: crate::pagination::DEFAULT_LIMIT,
            ..SearchParams::default()
        },
        errors: Vec::new(),
        seen_single: Vec::new(),
        radius_raw: None,
    };
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        reading.read(name.as_ref(), value.trim());
    }
    reading.finish()
}

/// A query string being read: the parameters so far and every problem found.
struct Reading {
    params: SearchParams,
    errors: Vec<FieldError>,
    /// The single-valued parameters seen, to refuse a second one.
    seen_single: Vec<String>,
    /// `radius`, read once `near` is known.
    radius_raw: Option<String>,
}

impl Reading {
    fn err(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message.into()));
    }

    fn read(&mut self, name: &str, value: &str) {
        let repeatable = REPEATABLE.contains(&name);
        if !repeatable && KNOWN.contains(&name) {
            if self.seen_single.iter().any(|n| n == name) {
                self.err(name, "must be given at most once");
                return;
            }
            self.seen_single.push(name.to_owned());
        }
        if repeatable {
            // Repeated parameters also accept comma-separated values.
            for v in value.split(',').map(str::trim) {
                self.read_listed(name, v);
            }
        } else {
            self.read_single(name, value);
        }
    }

    /// One value of a repeatable parameter.
    fn read_listed(&mut self, name: &str, v: &str) {
        let params = &mut self.params;
        let problem = match name {
            "modality" => match Modality::parse_loose(v) {
                Some(m) => push_new(&mut params.modalities, m),
                None => Some(format!(
                    "`{v}` is not a modality; use a code ({}) or an ARRT abbreviation (CT, MR, M, BD, CI, VI, BS, VS, R, N, T, S)",
                    Modality::allowed()
                )),
            },
            "state" => match UsState::parse(v) {
                Ok(s) => {
                    params.states.push(s.as_str().to_owned());
                    None
                }
                Err(m) => Some(format!("`{v}` {m}")),
            },
            "site_type" => code(v, &mut params.site_types),
            "payment" => code(v, &mut params.payments),
            "status" => code(v, &mut params.statuses),
            "schedule" => match Wanted::parse(v, Schedule::from_code) {
                Some(wanted) => push_new(&mut params.schedules, wanted),
                None => Some(format!("`{v}` is not one of: {}, unknown", Schedule::allowed())),
            },
            _ => match Facet::ALL.iter().find(|f| f.code() == v) {
                Some(f) => push_new(&mut params.facets, *f),
                None => Some(format!(
                    "`{v}` is not a facet; one of: {}",
                    Facet::ALL.iter().map(|f| f.code()).collect::<Vec<_>>().join(", ")
                )),
            },
        };
        if let Some(message) = problem {
            self.err(name, message);
        }
    }

    /// A single-valued parameter.
    fn read_single(&mut self, name: &str, value: &str) {
        let problem = match name {
            "city" | "postal_code" | "near" | "radius" => self.read_place(name, value),
            "accepts"
            | "hipaa_training"
            | "accepting"
            | "verifier_on_site"
            | "insurance_required"
            | "housing"
            | "max_fee_usd"
            | "reported_independent" => self.read_requirement(name, value),
            "q" | "updated_since" | "sort" | "limit" | "cursor" | "view" => self.read_paging(name, value),
            _ => Some(format!(
                "is not a search parameter; the parameters are: {}",
                KNOWN.join(", ")
            )),
        };
        if let Some(message) = problem {
            self.err(name, message);
        }
    }

    /// `city`, `postal_code`, `near`, `radius`: where.
    fn read_place(&mut self, name: &str, value: &str) -> Option<String> {
        let params = &mut self.params;
        match name {
            "city" => match value.chars().count() {
                1..=100 if !value.chars().any(char::is_control) => params.city = Some(value.to_owned()),
                _ => return Some("must be 1 to 100 characters, without control characters".to_owned()),
            },
            "postal_code" => match PostalCode::parse(value) {
                Ok(code) => params.postal_code = Some(code.as_str().to_owned()),
                Err(m) => return Some(m),
            },
            "near" => match parse_near(value) {
                Ok(near) => params.near = Some(near),
                Err(m) => return Some(m),
            },
            _ => self.radius_raw = Some(value.to_owned()),
        }
        None
    }

    /// What a site or offer requires or offers.
    fn read_requirement(&mut self, name: &str, value: &str) -> Option<String> {
        let params = &mut self.params;
        match name {
            "accepts" => match Wanted::parse(value, Accepts::from_code) {
                Some(a) => params.accepts = Some(a),
                None => return Some(format!("must be one of: {}, unknown", Accepts::allowed())),
            },
            "hipaa_training" => match Wanted::parse(value, HipaaTraining::from_code) {
                Some(h) => params.hipaa_training = Some(h),
                None => return Some(format!("must be one of: {}, unknown", HipaaTraining::allowed())),
            },
            "accepting" => match parse_bool(value) {
                Some(accepting) => params.accepting = Some(accepting),
                None => return Some("must be true or false".to_owned()),
            },
            "reported_independent" => match value {
                "true" => params.reported_independent = true,
                _ => {
                    return Some(
                        "must be true (sites where a member reported being accepted as an independent candidate)"
                            .to_owned(),
                    );
                }
            },
            "max_fee_usd" => match value.parse::<i32>() {
                Ok(fee) if (0..=100_000).contains(&fee) => params.max_fee_usd = Some(fee),
                _ => return Some("must be a whole number from 0 to 100000".to_owned()),
            },
            _ => match Wanted::parse(value, parse_bool) {
                Some(wanted) => match name {
                    "verifier_on_site" => params.verifier_on_site = Some(wanted),
                    "insurance_required" => params.insurance_required = Some(wanted),
                    _ => params.housing = Some(wanted),
                },
                None => return Some("must be true, false or unknown".to_owned()),
            },
        }
        None
    }

    /// Text, recency, order and paging.
    fn read_paging(&mut self, name: &str, value: &str) -> Option<String> {
        let params = &mut self.params;
        match name {
            "q" => match value.chars().count() {
                2..=200 if !value.chars().any(char::is_control) => params.q = Some(value.to_owned()),
                _ => return Some("must be 2 to 200 characters".to_owned()),
            },
            "updated_since" => match DateTime::parse_from_rfc3339(value) {
                Ok(t) => params.updated_since = Some(t.with_timezone(&Utc)),
                Err(_) => return Some("must be an RFC 3339 timestamp such as 2026-01-31T00:00:00Z".to_owned()),
            },
            "sort" => match value {
                "relevance" => params.sort = Some(Sort::Relevance),
                "distance" => params.sort = Some(Sort::Distance),
                "name" => params.sort = Some(Sort::Name),
                "-updated_at" => params.sort = Some(Sort::UpdatedDesc),
                "-reports" => params.sort = Some(Sort::ReportsDesc),
                _ => return Some("must be one of: relevance, distance, name, -updated_at, -reports".to_owned()),
            },
            "limit" => match value.parse::<u32>() {
                Ok(limit @ 1..=100) => params.limit = limit,
                _ => return Some("must be a whole number from 1 to 100".to_owned()),
            },
            "cursor" => params.cursor = Some(value.to_owned()),
            _ => match value {
                "summary" => params.view = View::Summary,
                "full" => params.view = View::Full,
                _ => return Some("must be summary or full".to_owned()),
            },
        }
        None
    }

    /// The rules between parameters, then the answer.
    fn finish(mut self) -> Result<SearchParams, ApiError> {
        if let Some(raw) = self.radius_raw.take() {
            match (parse_radius(&raw), self.params.near) {
                // A malformed `near` is reported already.
                (Ok(_), None) if self.seen_single.iter().any(|n| n == "near") => {}
                (Ok(_), None) => self.err("radius", "needs `near` (a point or ZIP code to measure from)"),
                (Ok((meters, unit)), Some(_)) => {
                    self.params.radius_m = Some(meters);
                    self.params.unit = Some(unit);
                }
                (Err(m), _) => self.err("radius", m),
            }
        }
        match self.params.sort {
            Some(Sort::Distance) if self.params.near.is_none() => {
                self.err("sort", "`distance` needs `near` (a point or ZIP code to measure from)");
            }
            Some(Sort::Relevance) if self.params.q.is_none() => {
                self.err("sort", "`relevance` needs `q` (text to match)")
            }
            _ => {}
        }
        if self.errors.is_empty() {
            return Ok(self.params);
        }
        let detail = match self.errors.as_slice() {
            [one] => format!("query parameter `{}` {}", one.field, one.message),
            many => format!("{} query parameters are invalid", many.len()),
        };
        Err(ApiError::bad_request(detail, self.errors))
    }
}

/// Adds `value` unless already there (a repeated value is not an error).
fn push_new<T: PartialEq>(into: &mut Vec<T>, value: T) -> Option<String> {
    if !into.contains(&value) {
        into.push(value);
    }
    None
}

/// One code of a set, added to `into`; the problem if it is not one.
fn code<T: CodeSet + PartialEq>(v: &str, into: &mut Vec<T>) -> Option<String> {
    match T::from_code(v) {
        Some(code) => push_new(into, code),
        None => Some(format!("`{v}` is not one of: {}", T::allowed())),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `LAT,LON` in degrees, or a 5-digit ZIP code of the reference data (Census ZCTAs and GeoNames).
fn parse_near(value: &str) -> Result<Near, String> {
    if value.len() == 5 && value.bytes().all(|b| b.is_ascii_digit()) {
        return crate::geo::zip_centroid(value)
            .map(|(latitude, longitude)| Near { latitude, longitude })
            .ok_or_else(|| format!("ZIP code {value} is not in the ZIP reference data; give `LAT,LON` instead"));
    }
    let shape = "must be `LAT,LON` in degrees (e.g. 39.99,-83.01) or a 5-digit ZIP code";
    let (lat, lon) = value.split_once(',').ok_or(shape)?;
    let latitude: f64 = lat.trim().parse().map_err(|_| shape)?;
    let longitude: f64 = lon.trim().parse().map_err(|_| shape)?;
    if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
        return Err("latitude must be between -90 and 90".to_owned());
    }
    if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
        return Err("longitude must be between -180 and 180".to_owned());
    }
    Ok(Near { latitude, longitude })
}

/// A positive number with an optional unit, `mi` (default) or `km`: `60mi`, `100km`, `25`.
fn parse_radius(value: &str) -> Result<(f64, Unit), String> {
    let shape = "must be a positive number with an optional unit, `mi` (default) or `km`: 60mi, 100km";
    let lower = value.to_ascii_lowercase();
    let (number, unit) = if let Some(n) = lower.strip_suffix("km") {
        (n, Unit::Kilometers)
    } else if let Some(n) = lower.strip_suffix("mi") {
        (n, Unit::Miles)
    } else {
        (lower.as_str(), Unit::Miles)
    };
    let amount: f64 = number.trim().parse().map_err(|_| shape)?;
    if !amount.is_finite() || amount <= 0.0 {
        return Err(shape.to_owned());
    }
    let meters = amount * unit.meters();
    if meters > MAX_RADIUS_MILES * METERS_PER_MILE {
        return Err(format!(
            "must be at most {MAX_RADIUS_MILES} miles ({:.0} km)",
            MAX_RADIUS_MILES * 1.609344
        ));
    }
    Ok((meters, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(query: &str) -> Vec<String> {
        parse(query)
            .unwrap_err()
            .problem()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn parses_a_full_search() {
        let p = parse("modality=CT&modality=mr,ct&state=oh&near=43210&radius=60mi&accepts=independent&payment=free&insurance_required=false&limit=50&facets=modality,state").unwrap();
        assert_eq!(p.modalities, [Modality::Ct, Modality::Mri]);
        assert_eq!(p.states, ["OH"]);
        assert!((p.radius_m.unwrap() - 60.0 * METERS_PER_MILE).abs() < 1e-6);
        assert_eq!(p.unit, Some(Unit::Miles));
        assert_eq!(p.effective_sort(), Sort::Distance);
        assert_eq!(p.limit, 50);
        assert_eq!(p.facets, [Facet::Modality, Facet::State]);
        assert_eq!(parse("radius=1").unwrap_err().problem().errors[0].field, "radius");
    }

    #[test]
    fn radii_and_points() {
        assert_eq!(parse_radius("100km").unwrap(), (100_000.0, Unit::Kilometers));
        assert_eq!(parse_radius("25").unwrap().1, Unit::Miles);
        for bad in ["-5mi", "0", "abc", "5 parsecs", "1e9km", "NaN", "inf"] {
            assert!(parse_radius(bad).is_err(), "{bad}");
        }
        assert!(parse_near("39.99,-83.01").is_ok());
        for bad in ["91,0", "0,181", "abc", "39.99", "00000", "NaN,0"] {
            assert!(parse_near(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(fields("radius=60mi"), ["radius"]);
        assert_eq!(fields("sort=distance"), ["sort"]);
        assert_eq!(fields("sort=relevance"), ["sort"]);
        assert_eq!(
            fields("limit=0&modality=xray&colour=red"),
            ["limit", "modality", "colour"]
        );
        assert_eq!(fields("limit=101"), ["limit"]);
        assert_eq!(fields("near=91,0&radius=5mi"), ["near"]);
        assert_eq!(fields("near=40,-83&radius=-5mi"), ["radius"]);
        assert_eq!(fields("limit=5&limit=6"), ["limit"]);
        assert_eq!(fields("updated_since=yesterday"), ["updated_since"]);
        assert_eq!(fields("city=%00&q=ab%00"), ["city", "q"]);
        let problem = parse("payment=barter").unwrap_err().problem();
        assert!(
            problem.errors[0]
                .message
                .contains("free, fee, program_tuition, unknown")
        );
    }
}
