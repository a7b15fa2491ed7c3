//! The duplicate guard: creating a site, or renaming, moving or re-identifying one, is refused
//! (409, naming the listed site) when the facility is already listed: the same NPI anywhere, or in
//! the same ZIP code the same facility name however it is written. Different facilities that share
//! generic words ("Regional Medical Center") are not duplicates. See docs/duplicates.md.
//!
//! The comparison is Rust over the few candidate rows of one ZIP code (and the rare rows sharing
//! an NPI), under an advisory lock per ZIP code and per NPI so two concurrent writes of one
//! facility cannot both pass.
//!
//! A name match can be overridden by whoever may vouch for the facility (a coordinator
//! registering it, its managers, administrators) with an explicit reason, which the site's
//! history keeps; an NPI match cannot.

mod name;

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::fields;
use super::input::ValidSite;
use super::queries::{self, Listed};
use super::site_href;
use crate::error::{ApiError, ExistingResource, FieldError};
pub(crate) use name::FacilityName;

/// The request field that overrides a name match: why this is a different facility.
pub(crate) const OVERRIDE_FIELD: &str = "duplicate_override_reason";

/// Reads the override reason from a request value: absent or `null` is none; otherwise a string
/// of 10 to 500 characters.
pub(crate) fn read_override(value: Option<Value>) -> Result<Option<String>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => fields::text(&value, 10, 500)
            .map(Some)
            .map_err(|message| FieldError::new(OVERRIDE_FIELD, message)),
    }
}

/// Why a listed site is taken for the one being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Both have this NPI: one provider, one facility.
    Npi,
    /// The same facility name in the same ZIP code.
    Name,
}

impl Signal {
    /// The code of `existing.matched_on` in the 409.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Signal::Npi => "npi",
            Signal::Name => "name",
        }
    }
}

/// What the guard compares of a site.
#[derive(Debug, Clone)]
pub(crate) struct Facility<'a> {
    name: FacilityName,
    npi: Option<&'a str>,
    street_number: Option<String>,
}

impl<'a> Facility<'a> {
    /// A site's name, NPI and street address, as the guard sees them.
    pub(crate) fn new(name: &str, npi: Option<&'a str>, street: Option<&str>) -> Self {
        Self {
            name: FacilityName::parse(name),
            npi,
            street_number: street.and_then(street_number),
        }
    }

    /// Whether `listed` (in the same ZIP code or not) is this facility, and by which signal. The
    /// same NPI is the same facility; two different NPIs are two providers, and two different
    /// building numbers two addresses, whatever the names; otherwise the names decide.
    pub(crate) fn matches(&self, listed: &Facility<'_>, same_zip: bool) -> Option<Signal> {
        match (self.npi, listed.npi) {
            (Some(a), Some(b)) if a == b => return Some(Signal::Npi),
            (Some(_), Some(_)) => return None,
            _ => {}
        }
        if let (Some(a), Some(b)) = (&self.street_number, &listed.street_number)
            && a != b
        {
            return None;
        }
        (same_zip && self.name.same_facility(&listed.name)).then_some(Signal::Name)
    }
}

/// The building number of a street address ("410 W 10th Ave" -> `410`, "100A Main" -> `100a`);
/// none for "One Medical Plaza" or "PO Box 12".
fn street_number(street: &str) -> Option<String> {
    let first = street.split_whitespace().next()?;
    let number: String = first
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    number.starts_with(|c: char| c.is_ascii_digit()).then_some(number)
}

/// The listed site that `new` (in `zip5`) duplicates, if any: a site with its NPI first, then the
/// oldest site with its name.
pub(crate) fn find<'c>(new: &Facility<'_>, zip5: &str, candidates: &'c [Listed]) -> Option<(&'c Listed, Signal)> {
    let mut by_name = None;
    for candidate in candidates {
        let listed = Facility::new(&candidate.name, candidate.npi.as_deref(), candidate.street.as_deref());
        let same_zip = candidate.postal_code.get(..5) == Some(zip5);
        match new.matches(&listed, same_zip) {
            Some(Signal::Npi) => return Some((candidate, Signal::Npi)),
            Some(Signal::Name) if by_name.is_none() => by_name = Some((candidate, Signal::Name)),
            _ => {}
        }
    }
    by_name
}

/// 409 unless `site` is a facility not listed yet (`except` is the site being changed), or only
/// its name matches and `reason` says why it is another facility: then `Some` of what the site's
/// history records (`duplicate_override`). Holds the site's ZIP code (and NPI) until the
/// transaction ends.
pub(crate) async fn guard(
    conn: &mut PgConnection,
    site: &ValidSite,
    except: Option<Uuid>,
    reason: Option<&str>,
) -> Result<Option<Value>, ApiError> {
    let zip5 = site.postal_code.zip5();
    let npi = site.npi.as_ref().map(|npi| npi.as_str());
    queries::lock_zip(conn, zip5).await?;
    if let Some(npi) = npi {
        queries::lock_npi(conn, npi).await?;
    }
    let candidates = queries::duplicate_candidates(conn, zip5, npi, except).await?;
    let new = Facility::new(&site.name, npi, site.street.as_deref());
    match (find(&new, zip5, &candidates), reason) {
        (None, _) => Ok(None),
        (Some((listed, Signal::Name)), Some(reason)) => Ok(Some(json!({
            "reason": reason,
            "existing": {"id": listed.site_id, "name": listed.name},
        }))),
        (Some((listed, signal)), _) => Err(conflict(listed, signal, zip5)),
    }
}

/// The 409 naming `listed`, with its address, and how to go on.
fn conflict(listed: &Listed, signal: Signal, zip5: &str) -> ApiError {
    let place = format!("{}, {} {}", listed.city, listed.state, listed.postal_code);
    let address = match &listed.street {
        Some(street) => format!("{street}, {place}"),
        None => place,
    };
    let detail = match signal {
        Signal::Npi => format!(
            "{} ({address}) is already listed with this NPI, and one NPI is one facility, so this cannot be \
             overridden; update that listing instead (or claim it if you coordinate it)",
            listed.name
        ),
        Signal::Name => format!(
            "{} ({address}) is already listed in ZIP {zip5} under this or nearly this name; update that listing \
             instead (or claim it if you coordinate it). If this is a different facility, its coordinator \
             (registering it with `\"manage\": true`) or an administrator may send `{OVERRIDE_FIELD}` saying why",
            listed.name
        ),
    };
    ApiError::conflict(detail).with_existing(ExistingResource {
        name: Some(listed.name.clone()),
        street: listed.street.clone(),
        city: Some(listed.city.clone()),
        state: Some(listed.state.clone()),
        postal_code: Some(listed.postal_code.clone()),
        matched_on: Some(signal.code().to_owned()),
        ..ExistingResource::new(listed.site_id, site_href(listed.site_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(name: &str, npi: Option<&str>, street: Option<&str>, postal_code: &str) -> Listed {
        Listed {
            site_id: Uuid::now_v7(),
            name: name.to_owned(),
            street: street.map(str::to_owned),
            city: "Columbus".to_owned(),
            state: "OH".to_owned(),
            postal_code: postal_code.to_owned(),
            npi: npi.map(str::to_owned),
        }
    }

    #[test]
    fn npi_first_then_the_oldest_name() {
        let candidates = [
            listed("Ruzelru Imaging", None, None, "43210"),
            listed("Ruzelru Imaging Center", None, None, "43210-1234"),
            listed("Other Campus", Some("1234567893"), None, "44114"),
        ];
        let new = Facility::new("Ruzelru Imaging", Some("1234567893"), None);
        let (found, signal) = find(&new, "43210", &candidates).unwrap();
        assert_eq!((found.name.as_str(), signal), ("Other Campus", Signal::Npi));
        let new = Facility::new("ruzelru imaging ctr", None, None);
        let (found, signal) = find(&new, "43210", &candidates).unwrap();
        assert_eq!((found.site_id, signal), (candidates[0].site_id, Signal::Name));
        // A name in another ZIP code is another facility.
        assert!(find(&new, "43215", &candidates).is_none());
    }

    #[test]
    fn npis_and_building_numbers_tell_facilities_apart() {
        let site = |npi, street| Facility::new("Ruzelru Imaging", npi, street);
        let (a, b) = (Some("1234567893"), Some("1245319599"));
        assert_eq!(site(a, None).matches(&site(b, None), true), None, "two NPIs");
        assert_eq!(site(a, None).matches(&site(None, None), true), Some(Signal::Name));
        let (main, oak) = (Some("100 Main St"), Some("2200 Oak Ave"));
        assert_eq!(site(None, main).matches(&site(None, oak), true), None, "two buildings");
        assert_eq!(
            site(None, main).matches(&site(None, Some("100 Main Street, Suite 4")), true),
            Some(Signal::Name)
        );
        assert_eq!(site(None, main).matches(&site(None, None), true), Some(Signal::Name));
        // The same NPI is the same facility whatever the name, street or ZIP code.
        let other = Facility::new("Anything Else", a, oak);
        assert_eq!(site(a, main).matches(&other, false), Some(Signal::Npi));
    }

    #[test]
    fn override_reasons() {
        assert_eq!(read_override(None), Ok(None));
        assert_eq!(read_override(Some(Value::Null)), Ok(None));
        let reason = read_override(Some(json!("  our own imaging department  "))).unwrap();
        assert_eq!(reason.as_deref(), Some("our own imaging department"));
        for bad in [
            json!("too short"),
            json!("x".repeat(501)),
            json!(7),
            json!(["a reason, but a list"]),
        ] {
            assert_eq!(read_override(Some(bad)).unwrap_err().field, OVERRIDE_FIELD);
        }
    }

    #[test]
    fn street_numbers() {
        assert_eq!(street_number("410 W 10th Ave").as_deref(), Some("410"));
        assert_eq!(street_number("100A Main St").as_deref(), Some("100a"));
        assert_eq!(street_number("1200-1210 Oak Ave").as_deref(), Some("1200"));
        assert_eq!(street_number("One Medical Plaza"), None);
        assert_eq!(street_number("PO Box 12"), None);
        assert_eq!(street_number(""), None);
    }
}
