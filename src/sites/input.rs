//! Reading a site from JSON: every field checked, every problem reported together.
//!
//! Creating and patching share this reader. A patch is applied to the stored site's editable JSON
//! as an RFC 7396 merge patch (absent: leave, `null`: clear, value: set; `offers.<modality>: null`
//! removes an offer) and the result is read again whole, so both paths enforce the same rules.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::fields::{self, Npi, Phone, PostalCode, UsState, WebsiteUrl};
use crate::accounts::fields::Email;
use crate::error::FieldError;
use crate::vocabulary::{
    Accepts, CodeSet, Compensation, HipaaTraining, Housing, Immunization, InsuranceCoverage, LiabilityInsurance,
    Modality, Payment, Schedule, SiteType, VolumeBand,
};

/// The editable fields of a site, in document order. `GET` returns them all; `POST` and `PATCH`
/// accept only these.
pub const SITE_FIELDS: &[&str] = &[
    "name",
    "aliases",
    "site_type",
    "street",
    "city",
    "state",
    "postal_code",
    "latitude",
    "longitude",
    "phone",
    "website",
    "email",
    "npi",
    "payment",
    "fee_usd",
    "fee_covers",
    "compensation",
    "hipaa_training",
    "liability_insurance",
    "insurance_accepted",
    "min_per_occurrence_usd",
    "min_aggregate_usd",
    "background_check",
    "drug_screen",
    "immunizations",
    "bls_required",
    "orientation_required",
    "affiliation_agreement_required",
    "lead_time_days",
    "housing",
    "schedule",
    "rotation_weeks_min",
    "rotation_weeks_max",
    "min_hours_per_week",
    "offers",
];

/// The editable fields of an offer.
pub const OFFER_FIELDS: &[&str] = &[
    "accepting",
    "capacity",
    "verifier_on_site",
    "accepts",
    "procedure_categories",
    "volume_band",
    "notes",
];

/// A site that passed every rule. Serialized, it is the editable columns of its row, each under
/// its column's name (`queries::insert` and `queries::update` write it so, naming no field), with
/// the coordinates and offers left to their own columns and table.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ValidSite {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) site_type: SiteType,
    pub(crate) street: Option<String>,
    pub(crate) city: String,
    pub(crate) state: UsState,
    pub(crate) postal_code: PostalCode,
    /// Coordinates the request gave, if any.
    #[serde(skip)]
    pub(crate) coordinates: Option<(f64, f64)>,
    pub(crate) phone: Option<Phone>,
    pub(crate) website: Option<WebsiteUrl>,
    pub(crate) email: Option<Email>,
    pub(crate) npi: Option<Npi>,
    pub(crate) payment: Payment,
    pub(crate) fee_usd: Option<i32>,
    pub(crate) fee_covers: Option<String>,
    pub(crate) compensation: Compensation,
    pub(crate) hipaa_training: Option<HipaaTraining>,
    pub(crate) liability_insurance: Option<LiabilityInsurance>,
    pub(crate) insurance_accepted: Vec<InsuranceCoverage>,
    pub(crate) min_per_occurrence_usd: Option<i32>,
    pub(crate) min_aggregate_usd: Option<i32>,
    pub(crate) background_check: Option<bool>,
    pub(crate) drug_screen: Option<bool>,
    pub(crate) immunizations: Vec<Immunization>,
    pub(crate) bls_required: Option<bool>,
    pub(crate) orientation_required: Option<bool>,
    pub(crate) affiliation_agreement_required: Option<bool>,
    pub(crate) lead_time_days: Option<i32>,
    pub(crate) housing: Option<Housing>,
    pub(crate) schedule: Vec<Schedule>,
    pub(crate) rotation_weeks_min: Option<i32>,
    pub(crate) rotation_weeks_max: Option<i32>,
    pub(crate) min_hours_per_week: Option<i32>,
    #[serde(skip)]
    pub(crate) offers: BTreeMap<Modality, ValidOffer>,
}

/// An offer that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValidOffer {
    pub(crate) accepting: bool,
    pub(crate) capacity: Option<i32>,
    pub(crate) verifier_on_site: Option<bool>,
    pub(crate) accepts: Vec<Accepts>,
    pub(crate) procedure_categories: Vec<String>,
    pub(crate) volume_band: Option<VolumeBand>,
    pub(crate) notes: Option<String>,
}

/// Reads the fields of one JSON object, recording a problem per bad field.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Reader<'a> {
    fn new(object: &'a Map<String, Value>, prefix: &str, errors: &'a mut Vec<FieldError>, known: &[&str]) -> Self {
        let reader = Self {
            object,
            prefix: prefix.to_owned(),
            errors,
        };
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            let path = reader.path(key);
            reader
                .errors
                .push(FieldError::new(path, "is not a field of this resource"));
        }
        reader
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The value if present and not null; `None` when absent, null, or invalid (then recorded).
    fn optional<T>(&mut self, key: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        match self.object.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => match parse(value) {
                Ok(parsed) => Some(parsed),
                Err(message) => {
                    let path = self.path(key);
                    self.errors.push(FieldError::new(path, message));
                    None
                }
            },
        }
    }

    /// Like `optional`, but absent or null is a problem too.
    fn required<T>(&mut self, key: &str, parse: impl FnOnce(&Value) -> Result<T, String>) -> Option<T> {
        if matches!(self.object.get(key), None | Some(Value::Null)) {
            let path = self.path(key);
            self.errors.push(FieldError::new(path, "is required"));
            return None;
        }
        self.optional(key, parse)
    }

    fn fail(&mut self, key: &str, message: &str) {
        let path = self.path(key);
        self.errors.push(FieldError::new(path, message));
    }
}

/// Reads a whole site. `Err` lists every problem.
pub(crate) fn read_site(document: &Value) -> Result<ValidSite, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(object) = document.as_object() else {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    };
    let mut r = Reader::new(object, "", &mut errors, SITE_FIELDS);
    let name = r.required("name", |v| fields::text(v, 2, 200));
    let aliases = r.optional("aliases", |v| fields::text_list(v, 10, 2, 200));
    let site_type = r.required("site_type", fields::code::<SiteType>);
    let street = r.optional("street", |v| fields::text(v, 1, 200));
    let city = r.required("city", |v| fields::text(v, 1, 100));
    let state = r.required("state", |v| fields::with(v, UsState::parse));
    let postal_code = r.required("postal_code", |v| fields::with(v, PostalCode::parse));
    let latitude = r.optional("latitude", |v| fields::number(v, -90.0, 90.0));
    let longitude = r.optional("longitude", |v| fields::number(v, -180.0, 180.0));
    let phone = r.optional("phone", |v| fields::with(v, Phone::parse));
    let website = r.optional("website", |v| fields::with(v, WebsiteUrl::parse));
    let email = r.optional("email", |v| {
        fields::with(v, |s| Email::parse("email", s).map_err(|e| e.message))
    });
    let npi = r.optional("npi", |v| fields::with(v, Npi::parse));
    let payment = r.optional("payment", fields::code::<Payment>);
    let fee_usd = r.optional("fee_usd", |v| fields::integer(v, 0, 100_000));
    let fee_covers = r.optional("fee_covers", |v| fields::text(v, 1, 500));
    let compensation = r.optional("compensation", fields::code::<Compensation>);
    let hipaa_training = r.optional("hipaa_training", fields::code::<HipaaTraining>);
    let liability_insurance = r.optional("liability_insurance", fields::code::<LiabilityInsurance>);
    let insurance_accepted = r.optional("insurance_accepted", fields::code_list::<InsuranceCoverage>);
    let min_per_occurrence_usd = r.optional("min_per_occurrence_usd", |v| fields::integer(v, 0, 100_000_000));
    let min_aggregate_usd = r.optional("min_aggregate_usd", |v| fields::integer(v, 0, 100_000_000));
    let background_check = r.optional("background_check", fields::boolean);
    let drug_screen = r.optional("drug_screen", fields::boolean);
    let immunizations = r.optional("immunizations", fields::code_list::<Immunization>);
    let bls_required = r.optional("bls_required", fields::boolean);
    let orientation_required = r.optional("orientation_required", fields::boolean);
    let affiliation_agreement_required = r.optional("affiliation_agreement_required", fields::boolean);
    let lead_time_days = r.optional("lead_time_days", |v| fields::integer(v, 0, 730));
    let housing = r.optional("housing", fields::code::<Housing>);
    let schedule = r.optional("schedule", fields::code_list::<Schedule>);
    let rotation_weeks_min = r.optional("rotation_weeks_min", |v| fields::integer(v, 1, 104));
    let rotation_weeks_max = r.optional("rotation_weeks_max", |v| fields::integer(v, 1, 104));
    let min_hours_per_week = r.optional("min_hours_per_week", |v| fields::integer(v, 1, 80));

    // Rules across fields.
    let coordinates = match (latitude, longitude, object.get("latitude"), object.get("longitude")) {
        // Within a nanodegree (0.1 mm) of 0 is 0: values as small as 5e-324 made PostgreSQL's
        // distance functions underflow. Every other value is kept exactly.
        (Some(lat), Some(lon), _, _) => Some((round_coordinate(lat), round_coordinate(lon))),
        (Some(_), None, _, None | Some(Value::Null)) => {
            r.fail("longitude", "is required with latitude");
            None
        }
        (None, Some(_), None | Some(Value::Null), _) => {
            r.fail("latitude", "is required with longitude");
            None
        }
        _ => None,
    };
    if let (Some(min), Some(max)) = (rotation_weeks_min, rotation_weeks_max)
        && min > max
    {
        r.fail("rotation_weeks_max", "must not be less than rotation_weeks_min");
    }
    if fee_usd.is_some_and(|fee| fee > 0) && payment != Some(Payment::Fee) {
        r.fail("fee_usd", "a fee needs `payment` = `fee`");
    }
    let insurance_details = insurance_accepted.as_ref().is_some_and(|a| !a.is_empty())
        || min_per_occurrence_usd.is_some()
        || min_aggregate_usd.is_some();
    if insurance_details && liability_insurance == Some(LiabilityInsurance::NotRequired) {
        r.fail(
            "liability_insurance",
            "is `not_required` but insurance details are given",
        );
    }

    let offers = match object.get("offers") {
        None | Some(Value::Null) => Some(BTreeMap::new()),
        Some(Value::Object(offers)) => read_offers(offers, r.errors),
        Some(_) => {
            r.fail(
                "offers",
                "must be an object keyed by modality code, e.g. {\"ct\": {...}}",
            );
            None
        }
    };

    if !errors.is_empty() {
        return Err(errors);
    }
    // Every required field is `Some` when there were no errors.
    Ok(ValidSite {
        name: name.expect("checked"),
        aliases: aliases.unwrap_or_default(),
        site_type: site_type.expect("checked"),
        street,
        city: city.expect("checked"),
        state: state.expect("checked"),
        postal_code: postal_code.expect("checked"),
        coordinates,
        phone,
        website,
        email,
        npi,
        payment: payment.unwrap_or(Payment::Unknown),
        fee_usd,
        fee_covers,
        compensation: compensation.unwrap_or(Compensation::Unknown),
        hipaa_training,
        liability_insurance,
        insurance_accepted: insurance_accepted.unwrap_or_default(),
        min_per_occurrence_usd,
        min_aggregate_usd,
        background_check,
        drug_screen,
        immunizations: immunizations.unwrap_or_default(),
        bls_required,
        orientation_required,
        affiliation_agreement_required,
        lead_time_days,
        housing,
        schedule: schedule.unwrap_or_default(),
        rotation_weeks_min,
        rotation_weeks_max,
        min_hours_per_week,
        offers: offers.expect("checked"),
    })
}

fn round_coordinate(degrees: f64) -> f64 {
    if degrees.abs() < 1e-9 { 0.0 } else { degrees }
}

fn read_offers(offers: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<BTreeMap<Modality, ValidOffer>> {
    let mut valid = BTreeMap::new();
    let mut ok = true;
    for (key, value) in offers {
        let path = format!("offers.{key}");
        let Some(modality) = Modality::from_code(key) else {
            errors.push(FieldError::new(
                path,
                format!("is not a modality code; one of: {}", Modality::allowed()),
            ));
            ok = false;
            continue;
        };
        let Some(object) = value.as_object() else {
            errors.push(FieldError::new(path, "must be an object (or null to remove the offer)"));
            ok = false;
            continue;
        };
        let before = errors.len();
        let mut r = Reader::new(object, &format!("{path}."), errors, OFFER_FIELDS);
        let accepting = r.optional("accepting", fields::boolean);
        let capacity = r.optional("capacity", |v| fields::integer(v, 0, 1000));
        let verifier_on_site = r.optional("verifier_on_site", fields::boolean);
        let accepts = r.optional("accepts", fields::code_list::<Accepts>);
        let procedure_categories = r.optional("procedure_categories", |v| fields::text_list(v, 50, 1, 100));
        let volume_band = r.optional("volume_band", fields::code::<VolumeBand>);
        let notes = r.optional("notes", |v| fields::text(v, 1, 2000));
        if errors.len() > before {
            ok = false;
            continue;
        }
        valid.insert(
            modality,
            ValidOffer {
                accepting: accepting.unwrap_or(true),
                capacity,
                verifier_on_site,
                accepts: accepts.unwrap_or_default(),
                procedure_categories: procedure_categories.unwrap_or_default(),
                volume_band,
                notes,
            },
        );
    }
    ok.then_some(valid)
}

/// RFC 7396 JSON merge patch: `patch` applied to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"name": "Riverside Imaging", "site_type": "imaging_center", "city": "Columbus", "state": "oh", "postal_code": "43210"})
    }

    #[test]
    fn a_minimal_site_reads_with_defaults() {
        let site = read_site(&minimal()).unwrap();
        assert_eq!(site.state.as_str(), "OH");
        assert_eq!(site.payment, Payment::Unknown);
        assert!(site.offers.is_empty() && site.coordinates.is_none());
    }

    #[test]
    fn every_problem_is_reported_together() {
        let body = json!({
            "name": "X", "site_type": "castle", "city": "Columbus", "state": "ZZ", "postal_code": "4321",
            "npi": "1234567890", "latitude": 95, "fee_usd": -5, "nmae": "typo",
            "offers": {"ct": {"capacity": "many", "accepts": ["anyone"]}, "xray": {}}
        });
        let errors = read_site(&body).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "nmae",
            "name",
            "site_type",
            "state",
            "postal_code",
            "latitude",
            "npi",
            "fee_usd",
            "offers.ct.capacity",
            "offers.ct.accepts",
            "offers.xray",
        ] {
            assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
        }
        let site_type = errors.iter().find(|e| e.field == "site_type").unwrap();
        assert!(site_type.message.contains("imaging_center"), "lists the allowed codes");
    }

    #[test]
    fn merge_patch_is_tri_state() {
        let mut doc = json!({"a": 1, "b": 2, "offers": {"ct": {"capacity": 2}, "mri": {}}});
        merge_patch(
            &mut doc,
            &json!({"a": null, "c": 3, "offers": {"mri": null, "ct": {"notes": "x"}}}),
        );
        assert_eq!(
            doc,
            json!({"b": 2, "c": 3, "offers": {"ct": {"capacity": 2, "notes": "x"}}})
        );
    }
}
