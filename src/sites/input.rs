//! Reading a site from JSON: [`SiteBody`] and [`OfferBody`] are the one declaration of the fields
//! a request may set, each typed by the rule it must meet; every problem is reported together.
//!
//! Creating and patching share this reader. A patch is read into the same declaration, its fields
//! tri-state like every PATCH field ([`Patch`]: left out keeps, `null` clears, a value sets), and
//! applied to the stored site's (`offers`, which nest, merged per modality and field as RFC 7396
//! says: `offers.<modality>: null` removes an offer); the result is read again whole, so both
//! paths enforce the same rules.
//!
//! Adding a field: the migration's column, a field here (its type is its rule; the compiler then
//! points at [`SiteBody::apply`]), the same field in [`ValidSite`] read by [`SiteBody::validate`]
//! (a test fails until it is), in the response's `SiteDetails` (the contract test fails until it
//! is), and a test. The columns a site is written to follow from `ValidSite`, and `SITE_FIELDS`
//! from this declaration.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::fields::{Int, Latitude, Longitude, Npi, Phone, PostalCode, Text, TextList, UsState, WebsiteUrl};
use crate::accounts::fields::Email;
use crate::body::{Field, field_names, read_body};
use crate::error::FieldError;
use crate::patch::Patch;
use crate::vocabulary::{
    Accepts, CodeSet, Compensation, HipaaTraining, Housing, Immunization, InsuranceCoverage, LiabilityInsurance,
    Modality, Payment, Schedule, SiteType, VolumeBand,
};

/// The fields of a site a request may set, each typed by its rule: the one declaration of a
/// site's input. Reading a body never fails on a bad value: each field keeps its value or its
/// problem, so [`SiteBody::validate`] reports every problem at once.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SiteBody {
    name: Field<Text<2, 200>>,
    aliases: Field<TextList<10, 2, 200>>,
    site_type: Field<SiteType>,
    street: Field<Text<1, 200>>,
    city: Field<Text<1, 100>>,
    state: Field<UsState>,
    postal_code: Field<PostalCode>,
    latitude: Field<Latitude>,
    longitude: Field<Longitude>,
    phone: Field<Phone>,
    website: Field<WebsiteUrl>,
    email: Field<Email>,
    npi: Field<Npi>,
    external_id: Field<Text<1, 100>>,
    payment: Field<Payment>,
    fee_usd: Field<Int<0, 100_000>>,
    fee_covers: Field<Text<1, 500>>,
    compensation: Field<Compensation>,
    hipaa_training: Field<HipaaTraining>,
    liability_insurance: Field<LiabilityInsurance>,
    insurance_accepted: Field<Vec<InsuranceCoverage>>,
    min_per_occurrence_usd: Field<Int<0, 100_000_000>>,
    min_aggregate_usd: Field<Int<0, 100_000_000>>,
    background_check: Field<bool>,
    drug_screen: Field<bool>,
    immunizations: Field<Vec<Immunization>>,
    bls_required: Field<bool>,
    orientation_required: Field<bool>,
    affiliation_agreement_required: Field<bool>,
    lead_time_days: Field<Int<0, 730>>,
    housing: Field<Housing>,
    schedule: Field<Vec<Schedule>>,
    rotation_weeks_min: Field<Int<1, 104>>,
    rotation_weeks_max: Field<Int<1, 104>>,
    min_hours_per_week: Field<Int<1, 80>>,
    /// Read apart, by [`read_offers`]: its problems are named per offer and field.
    offers: Patch<Value>,
}

/// The fields of an offer a request may set, each typed by its rule.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OfferBody {
    accepting: Field<bool>,
    capacity: Field<Int<0, 1000>>,
    verifier_on_site: Field<bool>,
    accepts: Field<Vec<Accepts>>,
    procedure_categories: Field<TextList<50, 1, 100>>,
    volume_band: Field<VolumeBand>,
    notes: Field<Text<1, 2000>>,
}

/// The editable fields of a site, in document order: `GET` returns them all; `POST` and `PATCH`
/// accept only these. The names of [`SiteBody`]'s fields.
pub static SITE_FIELDS: LazyLock<&'static [&'static str]> = LazyLock::new(field_names::<SiteBody>);

/// The editable fields of an offer: the names of [`OfferBody`]'s fields.
pub static OFFER_FIELDS: LazyLock<&'static [&'static str]> = LazyLock::new(field_names::<OfferBody>);

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
    pub(crate) external_id: Option<String>,
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

/// Reads a whole site. `Err` lists every problem.
pub(crate) fn read_site(document: &Value) -> Result<ValidSite, Vec<FieldError>> {
    let Some(object) = document.as_object() else {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let body: SiteBody = read_body(object, "", &SITE_FIELDS, &mut errors);
    match body.validate(&mut errors) {
        Some(site) if errors.is_empty() => Ok(site),
        _ => Err(errors),
    }
}

/// The stored site (its editable fields, `before`) with `patch` applied, read whole by the rules of
/// a new site. `Err` lists every problem.
pub(crate) fn read_patched_site(before: &Value, patch: &Map<String, Value>) -> Result<ValidSite, Vec<FieldError>> {
    let mut errors = Vec::new();
    let patch: SiteBody = read_body(patch, "", &SITE_FIELDS, &mut errors);
    let stored = before.as_object().cloned().unwrap_or_default();
    let mut body: SiteBody = read_body(&stored, "", &SITE_FIELDS, &mut Vec::new());
    body.apply(patch);
    match body.validate(&mut errors) {
        Some(site) if errors.is_empty() => Ok(site),
        _ => Err(errors),
    }
}

impl SiteBody {
    /// `patch` applied: each field it sends (a value, or `null` to clear it) replaces this body's;
    /// `offers`, which nest, are merged per modality and field as RFC 7396 says (`"ct": null`
    /// removes an offer, `"ct": {"capacity": 3}` changes that field of it).
    fn apply(&mut self, patch: SiteBody) {
        macro_rules! apply_each {
            ($($field:ident),+) => {{
                // Every field but the offers, named so the compiler checks none is missed.
                let SiteBody { $($field,)+ offers } = patch;
                $(if $field.is_present() {
                    self.$field = $field;
                })+
                offers
            }};
        }
        let offers = apply_each!(
            name,
            aliases,
            site_type,
            street,
            city,
            state,
            postal_code,
            latitude,
            longitude,
            phone,
            website,
            email,
            npi,
            external_id,
            payment,
            fee_usd,
            fee_covers,
            compensation,
            hipaa_training,
            liability_insurance,
            insurance_accepted,
            min_per_occurrence_usd,
            min_aggregate_usd,
            background_check,
            drug_screen,
            immunizations,
            bls_required,
            orientation_required,
            affiliation_agreement_required,
            lead_time_days,
            housing,
            schedule,
            rotation_weeks_min,
            rotation_weeks_max,
            min_hours_per_week
        );
        match offers {
            Patch::Absent => {}
            Patch::Null => self.offers = Patch::Null,
            Patch::Value(given) => {
                let mut merged = match std::mem::take(&mut self.offers) {
                    Patch::Value(stored) => stored,
                    Patch::Absent | Patch::Null => Value::Object(Map::new()),
                };
                merge_patch(&mut merged, &given);
                self.offers = Patch::Value(merged);
            }
        }
    }

    /// The site, if every field and every rule across fields holds; the problems go to `errors`.
    fn validate(self, errors: &mut Vec<FieldError>) -> Option<ValidSite> {
        // Each field's problem is named by the field.
        macro_rules! optional {
            ($field:ident) => {
                self.$field.optional(stringify!($field).to_owned(), errors)
            };
        }
        macro_rules! required {
            ($field:ident) => {
                self.$field.required(stringify!($field).to_owned(), errors)
            };
        }
        let (latitude_given, longitude_given) = (self.latitude.is_given(), self.longitude.is_given());
        let name = required!(name);
        let aliases = optional!(aliases);
        let site_type = required!(site_type);
        let street = optional!(street);
        let city = required!(city);
        let state = required!(state);
        let postal_code = required!(postal_code);
        let latitude = optional!(latitude);
        let longitude = optional!(longitude);
        let phone = optional!(phone);
        let website = optional!(website);
        let email = optional!(email);
        let npi = optional!(npi);
        let external_id = optional!(external_id);
        let payment = optional!(payment).unwrap_or(Payment::Unknown);
        let fee_usd = optional!(fee_usd).map(|fee| fee.0);
        let fee_covers = optional!(fee_covers);
        let compensation = optional!(compensation);
        let hipaa_training = optional!(hipaa_training);
        let liability_insurance = optional!(liability_insurance);
        let insurance_accepted = optional!(insurance_accepted).unwrap_or_default();
        let min_per_occurrence_usd = optional!(min_per_occurrence_usd).map(|usd| usd.0);
        let min_aggregate_usd = optional!(min_aggregate_usd).map(|usd| usd.0);
        let background_check = optional!(background_check);
        let drug_screen = optional!(drug_screen);
        let immunizations = optional!(immunizations);
        let bls_required = optional!(bls_required);
        let orientation_required = optional!(orientation_required);
        let affiliation_agreement_required = optional!(affiliation_agreement_required);
        let lead_time_days = optional!(lead_time_days);
        let housing = optional!(housing);
        let schedule = optional!(schedule);
        let rotation_weeks_min = optional!(rotation_weeks_min).map(|weeks| weeks.0);
        let rotation_weeks_max = optional!(rotation_weeks_max).map(|weeks| weeks.0);
        let min_hours_per_week = optional!(min_hours_per_week);

        let coordinates = coordinates(latitude, longitude, latitude_given, longitude_given, errors);
        check_across(
            Across {
                rotation_weeks: (rotation_weeks_min, rotation_weeks_max),
                fee_usd,
                payment,
                insurance_details: !insurance_accepted.is_empty()
                    || min_per_occurrence_usd.is_some()
                    || min_aggregate_usd.is_some(),
                liability_insurance,
            },
            errors,
        );
        let offers = match self.offers {
            Patch::Absent | Patch::Null => Some(BTreeMap::new()),
            Patch::Value(Value::Object(offers)) => read_offers(&offers, errors),
            Patch::Value(_) => {
                errors.push(FieldError::new(
                    "offers",
                    "must be an object keyed by modality code, e.g. {\"ct\": {...}}",
                ));
                None
            }
        };
        Some(ValidSite {
            name: name?.0,
            aliases: aliases.map(|list| list.0).unwrap_or_default(),
            site_type: site_type?,
            street: street.map(|text| text.0),
            city: city?.0,
            state: state?,
            postal_code: postal_code?,
            coordinates,
            phone,
            website,
            email,
            npi,
            external_id: external_id.map(|text| text.0),
            payment,
            fee_usd,
            fee_covers: fee_covers.map(|text| text.0),
            compensation: compensation.unwrap_or(Compensation::Unknown),
            hipaa_training,
            liability_insurance,
            insurance_accepted,
            min_per_occurrence_usd,
            min_aggregate_usd,
            background_check,
            drug_screen,
            immunizations: immunizations.unwrap_or_default(),
            bls_required,
            orientation_required,
            affiliation_agreement_required,
            lead_time_days: lead_time_days.map(|days| days.0),
            housing,
            schedule: schedule.unwrap_or_default(),
            rotation_weeks_min,
            rotation_weeks_max,
            min_hours_per_week: min_hours_per_week.map(|hours| hours.0),
            offers: offers?,
        })
    }
}

/// The coordinates given, both or neither.
fn coordinates(
    latitude: Option<Latitude>,
    longitude: Option<Longitude>,
    latitude_given: bool,
    longitude_given: bool,
    errors: &mut Vec<FieldError>,
) -> Option<(f64, f64)> {
    match (latitude, longitude) {
        // Within a nanodegree (0.1 mm) of 0 is 0: values as small as 5e-324 made PostgreSQL's
        // distance functions underflow. Every other value is kept exactly.
        (Some(lat), Some(lon)) => Some((round_coordinate(lat.0), round_coordinate(lon.0))),
        (Some(_), None) if !longitude_given => {
            errors.push(FieldError::new("longitude", "is required with latitude"));
            None
        }
        (None, Some(_)) if !latitude_given => {
            errors.push(FieldError::new("latitude", "is required with longitude"));
            None
        }
        _ => None,
    }
}

/// What the rules between a site's fields look at.
struct Across {
    rotation_weeks: (Option<i32>, Option<i32>),
    fee_usd: Option<i32>,
    payment: Payment,
    insurance_details: bool,
    liability_insurance: Option<LiabilityInsurance>,
}

/// The rules between fields: a rotation's weeks in order, a fee only with `payment = fee`, and
/// insurance details only when insurance is not "not required".
fn check_across(site: Across, errors: &mut Vec<FieldError>) {
    if let (Some(min), Some(max)) = site.rotation_weeks
        && min > max
    {
        errors.push(FieldError::new(
            "rotation_weeks_max",
            "must not be less than rotation_weeks_min",
        ));
    }
    if site.fee_usd.is_some_and(|fee| fee > 0) && site.payment != Payment::Fee {
        errors.push(FieldError::new("fee_usd", "a fee needs `payment` = `fee`"));
    }
    if site.insurance_details && site.liability_insurance == Some(LiabilityInsurance::NotRequired) {
        errors.push(FieldError::new(
            "liability_insurance",
            "is `not_required` but insurance details are given",
        ));
    }
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
        let prefix = format!("{path}.");
        let offer: OfferBody = read_body(object, &prefix, &OFFER_FIELDS, errors);
        match offer.validate(&prefix, errors) {
            Some(offer) if errors.len() == before => {
                valid.insert(modality, offer);
            }
            _ => ok = false,
        }
    }
    ok.then_some(valid)
}

impl OfferBody {
    /// The offer, if every field holds; the problems go to `errors`, named under `prefix`.
    fn validate(self, prefix: &str, errors: &mut Vec<FieldError>) -> Option<ValidOffer> {
        macro_rules! optional {
            ($field:ident) => {
                self.$field
                    .optional(format!("{prefix}{}", stringify!($field)), errors)
            };
        }
        Some(ValidOffer {
            accepting: optional!(accepting).unwrap_or(true),
            capacity: optional!(capacity).map(|n| n.0),
            verifier_on_site: optional!(verifier_on_site),
            accepts: optional!(accepts).unwrap_or_default(),
            procedure_categories: optional!(procedure_categories).map(|list| list.0).unwrap_or_default(),
            volume_band: optional!(volume_band),
            notes: optional!(notes).map(|text| text.0),
        })
    }
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
    fn the_field_lists_are_the_declarations_fields_in_order() {
        assert_eq!(SITE_FIELDS.len(), 36);
        assert_eq!(SITE_FIELDS[..3], ["name", "aliases", "site_type"]);
        assert_eq!(SITE_FIELDS.last(), Some(&"offers"));
        assert_eq!(
            *OFFER_FIELDS,
            [
                "accepting",
                "capacity",
                "verifier_on_site",
                "accepts",
                "procedure_categories",
                "volume_band",
                "notes"
            ]
        );
    }

    #[test]
    fn every_declared_field_reaches_the_checked_site() {
        // A field declared in `SiteBody` but not carried into `ValidSite` would be accepted and
        // then never stored: the serialized `ValidSite` (the row's editable columns) must have
        // every declared field but those stored apart (coordinates, offers), and nothing else.
        let site = read_site(&minimal()).unwrap();
        let columns = serde_json::to_value(&site).unwrap();
        let mut columns: Vec<&str> = columns.as_object().unwrap().keys().map(String::as_str).collect();
        columns.sort_unstable();
        let mut declared: Vec<&str> = SITE_FIELDS
            .iter()
            .copied()
            .filter(|field| !["latitude", "longitude", "offers"].contains(field))
            .collect();
        declared.sort_unstable();
        assert_eq!(columns, declared);
    }

    #[test]
    fn null_is_left_out_and_a_wrong_type_is_named() {
        let mut body = minimal();
        body["name"] = Value::Null;
        body["fee_usd"] = json!("free");
        body["offers"] = json!({"ct": {"accepting": "yes", "volume_band": null}});
        let errors = read_site(&body).unwrap_err();
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            found,
            [
                ("name", "is required"),
                ("fee_usd", "must be a whole number from 0 to 100000"),
                ("offers.ct.accepting", "must be true or false"),
            ]
        );
    }

    #[test]
    fn a_patch_sets_clears_keeps_and_merges_offers() {
        let mut stored = minimal();
        stored["payment"] = json!("free");
        stored["street"] = json!("1 Main St");
        stored["offers"] = json!({"ct": {"capacity": 2, "notes": "bring a badge"}, "mri": {}});
        let patch = json!({
            "name": "Riverside Imaging Center", "street": null,
            "offers": {"ct": {"capacity": 3}, "mri": null}
        });
        let site = read_patched_site(&stored, patch.as_object().unwrap()).unwrap();
        assert_eq!(site.name, "Riverside Imaging Center");
        assert_eq!(site.street, None, "null clears");
        assert_eq!(site.payment, Payment::Free, "left out keeps");
        assert_eq!(site.offers.keys().copied().collect::<Vec<_>>(), [Modality::Ct]);
        let ct = &site.offers[&Modality::Ct];
        assert_eq!((ct.capacity, ct.notes.as_deref()), (Some(3), Some("bring a badge")));
    }

    #[test]
    fn a_patched_site_meets_the_rules_of_a_new_one() {
        let patch = json!({"name": null, "bogus": 1, "fee_usd": 5});
        let errors = read_patched_site(&minimal(), patch.as_object().unwrap()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["bogus", "name", "fee_usd"]);
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
