//! Reading an experience report from JSON: [`ReportBody`] is the one declaration of the fields a
//! request may set, each typed by its rule ([`crate::body`]); every problem is reported together.
//! A patch is merged over the stored report's fields and read again whole (RFC 7396), so creating
//! and editing enforce the same rules.

use std::sync::LazyLock;

use chrono::Datelike;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::tally::Facts;
use crate::body::{Field, field_names, read_body};
use crate::error::FieldError;
use crate::sites::fields::{Int, Rule, Text};
use crate::vocabulary::{CodeSet, HipaaSource, InsuranceCoverage, Modality, Route};

/// The fields of a report a request may set, each typed by its rule.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReportBody {
    modality: Field<Modality>,
    year: Field<Int<1970, 2100>>,
    month: Field<Int<1, 12>>,
    route: Field<Vec<Route>>,
    paid: Field<bool>,
    paid_usd: Field<Int<0, 100_000>>,
    hipaa_source: Field<HipaaSource>,
    insurance_needed: Field<bool>,
    insurance_provider: Field<InsuranceCoverage>,
    accepted_independent: Field<bool>,
    verifier_on_site: Field<bool>,
    travel_miles: Field<Int<0, 5000>>,
    housing_provided: Field<bool>,
    hours: Field<Int<1, 5000>>,
    weeks: Field<Int<1, 104>>,
    would_recommend: Field<bool>,
    comment: Field<Comment>,
    anonymous: Field<bool>,
}

/// The fields a report request may set: the names of [`ReportBody`]'s fields.
pub(crate) static REPORT_FIELDS: LazyLock<&'static [&'static str]> = LazyLock::new(field_names::<ReportBody>);

/// A report that passed every rule (the site's own checks, such as the modality, come after).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct ValidReport {
    pub(crate) modality: Modality,
    pub(crate) year: i16,
    pub(crate) month: Option<i16>,
    pub(crate) route: Vec<Route>,
    pub(crate) paid: bool,
    pub(crate) paid_usd: Option<i32>,
    pub(crate) hipaa_source: HipaaSource,
    pub(crate) insurance_needed: bool,
    pub(crate) insurance_provider: Option<InsuranceCoverage>,
    pub(crate) accepted_independent: Option<bool>,
    pub(crate) verifier_on_site: Option<bool>,
    pub(crate) travel_miles: Option<i32>,
    pub(crate) housing_provided: Option<bool>,
    pub(crate) hours: Option<i32>,
    pub(crate) weeks: Option<i32>,
    pub(crate) would_recommend: Option<bool>,
    pub(crate) comment: Option<String>,
    pub(crate) anonymous: bool,
}

impl ValidReport {
    /// What the statistics count of this report, written by `respondent_id` at `site`.
    pub(crate) fn facts(&self, respondent_id: Uuid, site: super::queries::LockedSite) -> Facts {
        Facts {
            respondent_id,
            modality: self.modality,
            state: site.state,
            site_type: site.site_type,
            year: self.year,
            route: self.route.clone(),
            paid: self.paid,
            hipaa_source: self.hipaa_source,
            insurance_needed: self.insurance_needed,
            accepted_independent: self.accepted_independent,
            would_recommend: self.would_recommend,
        }
    }
}

/// Reads a whole report. `Err` lists every problem.
pub(crate) fn read_report(document: &Value) -> Result<ValidReport, Vec<FieldError>> {
    let Some(object) = document.as_object() else {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let body: ReportBody = read_body(object, "", &REPORT_FIELDS, &mut errors);
    match body.validate(&mut errors) {
        Some(report) if errors.is_empty() => Ok(report),
        _ => Err(errors),
    }
}

/// The stored report's fields (`before`) with the merge patch `patch` applied, read whole by the
/// rules of a new report. `Err` lists every problem.
pub(crate) fn read_patched_report(before: &Value, patch: &Value) -> Result<ValidReport, Vec<FieldError>> {
    if !patch.is_object() {
        return Err(vec![FieldError::new("", "must be a JSON object (a merge patch)")]);
    }
    let mut merged = before.clone();
    crate::sites::input::merge_patch(&mut merged, patch);
    read_report(&merged)
}

impl ReportBody {
    /// Every field checked, and the rules across fields; `None` if any problem was found.
    fn validate(self, errors: &mut Vec<FieldError>) -> Option<ValidReport> {
        let f = |name: &str| name.to_owned();
        let paid_usd_given = self.paid_usd.is_given();
        let provider_given = self.insurance_provider.is_given();
        let report = (
            self.modality.required(f("modality"), errors),
            self.year.required(f("year"), errors),
            self.month.optional(f("month"), errors),
            self.route.required(f("route"), errors),
            self.paid.required(f("paid"), errors),
            self.paid_usd.optional(f("paid_usd"), errors),
            self.hipaa_source.required(f("hipaa_source"), errors),
            self.insurance_needed.required(f("insurance_needed"), errors),
            self.insurance_provider.optional(f("insurance_provider"), errors),
        );
        let rest = (
            self.accepted_independent.optional(f("accepted_independent"), errors),
            self.verifier_on_site.optional(f("verifier_on_site"), errors),
            self.travel_miles.optional(f("travel_miles"), errors),
            self.housing_provided.optional(f("housing_provided"), errors),
            self.hours.optional(f("hours"), errors),
            self.weeks.optional(f("weeks"), errors),
            self.would_recommend.optional(f("would_recommend"), errors),
            self.comment.optional(f("comment"), errors),
            self.anonymous.optional(f("anonymous"), errors),
        );
        let (modality, year, month, route, paid, paid_usd, hipaa_source, insurance_needed, insurance_provider) = report;
        if route.as_ref().is_some_and(Vec::is_empty) {
            errors.push(FieldError::new(
                "route",
                "must name at least one route into the rotation",
            ));
        }
        if paid == Some(false) && paid_usd_given {
            errors.push(FieldError::new("paid_usd", "may be given only when `paid` is true"));
        }
        if insurance_needed == Some(false) && provider_given {
            errors.push(FieldError::new(
                "insurance_provider",
                "may be given only when `insurance_needed` is true",
            ));
        }
        check_not_in_future(year, month, errors);
        let (accepted_independent, verifier_on_site, travel_miles, housing_provided, hours, weeks) =
            (rest.0, rest.1, rest.2, rest.3, rest.4, rest.5);
        let (would_recommend, comment, anonymous) = (rest.6, rest.7, rest.8);
        if !errors.is_empty() {
            return None;
        }
        Some(ValidReport {
            modality: modality?,
            year: i16::try_from(year?.0).ok()?,
            month: month.and_then(|Int(m)| i16::try_from(m).ok()),
            route: route?,
            paid: paid?,
            paid_usd: paid_usd.map(|Int(usd)| usd),
            hipaa_source: hipaa_source?,
            insurance_needed: insurance_needed?,
            insurance_provider,
            accepted_independent,
            verifier_on_site,
            travel_miles: travel_miles.map(|Int(miles)| miles),
            housing_provided,
            hours: hours.map(|Int(hours)| hours),
            weeks: weeks.map(|Int(weeks)| weeks),
            would_recommend,
            comment: comment.map(|Comment(text)| text),
            anonymous: anonymous.unwrap_or(false),
        })
    }
}

/// A rotation is reported once it happened: its year (and, this year, its month) is not in the
/// future.
fn check_not_in_future(year: Option<Int<1970, 2100>>, month: Option<Int<1, 12>>, errors: &mut Vec<FieldError>) {
    let today = chrono::Utc::now().date_naive();
    let Some(Int(year)) = year else { return };
    if year > today.year() {
        errors.push(FieldError::new(
            "year",
            "must not be in the future: report a rotation you did",
        ));
    } else if year == today.year()
        && let Some(Int(month)) = month
        && month > today.month() as i32
    {
        errors.push(FieldError::new(
            "month",
            "must not be in the future: report a rotation you did",
        ));
    }
}

/// A report's comment: 1 to 2000 characters of the member's own words, and never patient data.
/// Comments are public, so what looks like an identifier is refused with what was found: dates
/// (such as a date of birth), record numbers, social security numbers, long numbers, email
/// addresses and phone numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Comment(pub(crate) String);

/// What a comment must not contain, each with the message that names it.
static IDENTIFIERS: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"(?i)\b(d\.?o\.?b\.?|date of birth|birth ?date|born on)\b",
            "mentions a date of birth",
        ),
        (
            r"(?i)\b(mrn|medical record|patient id|patient number|chart (number|no)|acct|account (number|no))\b",
            "mentions a medical record or account number",
        ),
        (r"\b\d{3}-\d{2}-\d{4}\b", "contains what looks like a social security number"),
        (
            r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b",
            "contains a full date, which could identify a patient",
        ),
        (
            r"(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(st|nd|rd|th)?,? (19|20)\d{2}\b",
            "contains a full date, which could identify a patient",
        ),
        (r"[^\s@]+@[^\s@]+\.[a-zA-Z]{2,}", "contains an email address"),
        (r"\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b", "contains a phone number"),
        (r"\d{6,}", "contains a long number, such as a record or account number"),
    ]
    .into_iter()
    .map(|(pattern, message)| (regex::Regex::new(pattern).expect("a valid pattern"), message))
    .collect()
});

impl Rule for Comment {
    fn read(value: &Value) -> Result<Self, String> {
        let Text(text) = Text::<1, 2000>::read(value)?;
        for (pattern, found) in IDENTIFIERS.iter() {
            if pattern.is_match(&text) {
                return Err(format!(
                    "{found}: comments are public and must never hold patient data or anyone's identifiers; \
                     describe the rotation instead"
                ));
            }
        }
        Ok(Self(text))
    }
}

/// The codes of a report's routes, for SQL.
pub(crate) fn route_codes(routes: &[Route]) -> Vec<&'static str> {
    routes.iter().map(|route| route.code()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"modality": "ct", "year": 2023, "route": ["employer"], "paid": false,
               "hipaa_source": "employer", "insurance_needed": false})
    }

    #[test]
    fn a_minimal_report_reads_with_defaults() {
        let report = read_report(&minimal()).unwrap();
        assert_eq!(report.modality, Modality::Ct);
        assert_eq!(report.route, vec![Route::Employer]);
        assert!(!report.anonymous);
        assert_eq!(report.comment, None);
    }

    #[test]
    fn every_problem_is_listed() {
        let errors = read_report(&json!({"year": 3000, "route": [], "paid": false, "paid_usd": 5,
                                         "insurance_needed": false, "insurance_provider": "own_policy",
                                         "colour": "red"}))
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in [
            "modality",
            "route",
            "paid_usd",
            "hipaa_source",
            "insurance_provider",
            "colour",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn comments_refuse_identifiers_and_keep_ordinary_words() {
        for bad in [
            "Patient DOB was on the requisition",
            "I saw MRN 1234 every day",
            "her date of birth was posted",
            "call 614-555-1234",
            "SSN 123-45-6789 was visible",
            "exam on 3/14/2023 went well",
            "seen on March 3rd, 2022",
            "write to coordinator@example.org",
            "record 12345678",
        ] {
            let err = Comment::read(&json!(bad)).unwrap_err();
            assert!(err.contains("patient data"), "{bad}: {err}");
        }
        for good in [
            "Great techs; 40 CT exams a week, parking is $5 a day. Two weeks in 2023.",
            "The verifier was on site on weekdays; evenings were slow.",
            "I did 120 hours over 6 weeks",
        ] {
            assert!(Comment::read(&json!(good)).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_patch_is_merged_and_read_whole() {
        let before = serde_json::to_value(read_report(&minimal()).unwrap()).unwrap();
        let patched = read_patched_report(&before, &json!({"paid": true, "paid_usd": 500})).unwrap();
        assert_eq!((patched.paid, patched.paid_usd), (true, Some(500)));
        let errors = read_patched_report(&before, &json!({"paid_usd": 500})).unwrap_err();
        assert_eq!(errors[0].field, "paid_usd");
        let cleared = read_patched_report(&before, &json!({"route": null})).unwrap_err();
        assert_eq!(cleared[0].field, "route");
    }
}
