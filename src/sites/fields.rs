//! Site fields that can only be built valid, and the small parsers the site input reader uses.
//! Each parser takes a JSON value and returns the value or a message for the field's error.

use serde_json::Value;

use crate::vocabulary::CodeSet;

/// USPS codes of the states, DC and the inhabited territories.
const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR",
    "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP",
];

/// A USPS state or territory code, in the contract: the codes `UsState::parse` accepts.
pub(crate) struct UsStateCode;

impl utoipa::PartialSchema for UsStateCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some(
                "A USPS code of a state, DC or an inhabited territory, upper case in responses (requests may use any case).",
            ))
            .enum_values(Some(US_STATES.iter().copied()))
            .into()
    }
}

impl utoipa::ToSchema for UsStateCode {}

/// A US state or territory, as its upper-case USPS code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct UsState(String);

impl UsState {
    /// Parses a USPS code in any case.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        if US_STATES.contains(&code.as_str()) {
            Ok(Self(code))
        } else {
            Err("must be a USPS state or territory code such as OH, CA, DC or PR".to_owned())
        }
    }

    /// The code.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A US ZIP code: `12345` or ZIP+4 `12345-6789` (nine digits without the hyphen are accepted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PostalCode(String);

impl PostalCode {
    /// Parses and normalizes a ZIP code.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let shape_ok = raw.chars().all(|c| c.is_ascii_digit() || c == '-') && raw.matches('-').count() <= 1;
        match digits.len() {
            5 if shape_ok && !raw.contains('-') => Ok(Self(digits)),
            9 if shape_ok && (!raw.contains('-') || raw.find('-') == Some(5)) => {
                Ok(Self(format!("{}-{}", &digits[..5], &digits[5..])))
            }
            _ => Err("must be a 5-digit ZIP code or ZIP+4 (12345 or 12345-6789)".to_owned()),
        }
    }

    /// The code as stored.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The 5-digit ZIP.
    pub(crate) fn zip5(&self) -> &str {
        &self.0[..5]
    }
}

/// A US phone number in E.164 form (`+16145551234`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Phone(String);

impl Phone {
    /// The E.164 form.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Accepts the usual ways of writing a US number: `(614) 555-1234`, `614.555.1234`,
    /// `+1 614 555 1234`.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let allowed = raw.chars().all(|c| c.is_ascii_digit() || " ()-.+".contains(c));
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let national = match digits.len() {
            10 => Some(digits.as_str()),
            11 if digits.starts_with('1') => Some(&digits[1..]),
            _ => None,
        };
        match national {
            // North American numbers: area code and exchange do not start with 0 or 1.
            Some(n) if allowed && !n.starts_with(['0', '1']) && !n[3..].starts_with(['0', '1']) => {
                Ok(Self(format!("+1{n}")))
            }
            _ => Err("must be a US phone number such as (614) 555-1234".to_owned()),
        }
    }
}

/// An `http` or `https` URL with a host name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct WebsiteUrl(String);

impl WebsiteUrl {
    /// Parses a website address.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let url = raw.trim();
        let error = || "must be an http:// or https:// address such as https://www.example.org".to_owned();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(error)?;
        let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host_port.split(':').next().unwrap_or("");
        let host_ok = host.contains('.')
            && host
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let port_ok = host_port.split(':').nth(1).is_none_or(|p| p.parse::<u16>().is_ok());
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) || !host_ok || !port_ok {
            return Err(error());
        }
        Ok(Self(url.to_owned()))
    }
}

/// A National Provider Identifier: 10 digits whose last is a Luhn check digit computed with the
/// prefix 80840.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Npi(String);

impl Npi {
    /// Parses and checks an NPI.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let npi = raw.trim();
        if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be a 10-digit NPI".to_owned());
        }
        if !luhn_valid(&format!("80840{npi}")) {
            return Err("is not a valid NPI (its check digit does not match)".to_owned());
        }
        Ok(Self(npi.to_owned()))
    }

    /// The NPI.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

// --- Parsers of JSON values, for the input reader -------------------------------------------

/// A string, trimmed, of `min..=max` characters, without control characters.
pub(crate) fn text(value: &Value, min: usize, max: usize) -> Result<String, String> {
    let s = value.as_str().ok_or("must be a string")?.trim();
    let length = s.chars().count();
    if length == 0 {
        return Err("must not be empty".to_owned());
    }
    if length < min || length > max {
        return Err(if min <= 1 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min} to {max} characters")
        });
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".to_owned());
    }
    Ok(s.to_owned())
}

/// A string parsed by `parse`.
pub(crate) fn with<T>(value: &Value, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, String> {
    parse(value.as_str().ok_or("must be a string")?)
}

/// An integer in `min..=max`.
pub(crate) fn integer(value: &Value, min: i64, max: i64) -> Result<i32, String> {
    let n = value
        .as_i64()
        .ok_or_else(|| format!("must be a whole number from {min} to {max}"))?;
    if (min..=max).contains(&n) {
        Ok(n as i32)
    } else {
        Err(format!("must be a whole number from {min} to {max}"))
    }
}

/// A number in `min..=max`.
pub(crate) fn number(value: &Value, min: f64, max: f64) -> Result<f64, String> {
    match value.as_f64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be a number from {min} to {max}")),
    }
}

/// `true` or `false`.
pub(crate) fn boolean(value: &Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| "must be true or false".to_owned())
}

/// One code of the set `T`.
pub(crate) fn code<T: CodeSet>(value: &Value) -> Result<T, String> {
    value
        .as_str()
        .and_then(T::from_code)
        .ok_or_else(|| format!("must be one of: {}", T::allowed()))
}

/// An array of codes of `T`, deduplicated and in vocabulary order.
pub(crate) fn code_list<T: CodeSet + Ord>(value: &Value) -> Result<Vec<T>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("must be an array of: {}", T::allowed()))?;
    let mut codes = Vec::with_capacity(items.len());
    for item in items {
        let code = code::<T>(item).map_err(|_| {
            format!(
                "contains {}, which is not one of: {}",
                item.as_str().map_or_else(|| item.to_string(), |s| format!("`{s}`")),
                T::allowed()
            )
        })?;
        codes.push(code);
    }
    codes.sort();
    codes.dedup();
    Ok(codes)
}

/// An array of at most `max_items` strings of 1 to `max_len` characters, trimmed and deduplicated.
pub(crate) fn text_list(
    value: &Value,
    max_items: usize,
    min_len: usize,
    max_len: usize,
) -> Result<Vec<String>, String> {
    let items = value.as_array().ok_or("must be an array of strings")?;
    if items.len() > max_items {
        return Err(format!("must have at most {max_items} entries"));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let s = text(item, min_len, max_len).map_err(|m| format!("each entry {m}"))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

// --- Rules: what a field's type says its value must be ----------------------------------------

/// A field's rule, carried by its type: how a JSON value becomes a valid value, or the message
/// for the field's error. The input declaration (`input::SiteBody`) gives each field a rule type,
/// so a field's rule is written once, with the field.
pub(crate) trait Rule: Sized {
    /// The value, or what is wrong with it.
    fn read(value: &Value) -> Result<Self, String>;
}

/// Text of `MIN..=MAX` characters, trimmed, without control characters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text<const MIN: usize, const MAX: usize>(pub(crate) String);

impl<const MIN: usize, const MAX: usize> Rule for Text<MIN, MAX> {
    fn read(value: &Value) -> Result<Self, String> {
        text(value, MIN, MAX).map(Self)
    }
}

/// At most `ITEMS` texts of `MIN..=MAX` characters, deduplicated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextList<const ITEMS: usize, const MIN: usize, const MAX: usize>(pub(crate) Vec<String>);

impl<const ITEMS: usize, const MIN: usize, const MAX: usize> Rule for TextList<ITEMS, MIN, MAX> {
    fn read(value: &Value) -> Result<Self, String> {
        text_list(value, ITEMS, MIN, MAX).map(Self)
    }
}

/// A whole number in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Int<const MIN: i64, const MAX: i64>(pub(crate) i32);

impl<const MIN: i64, const MAX: i64> Rule for Int<MIN, MAX> {
    fn read(value: &Value) -> Result<Self, String> {
        integer(value, MIN, MAX).map(Self)
    }
}

/// A latitude in degrees, -90 to 90.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Latitude(pub(crate) f64);

impl Rule for Latitude {
    fn read(value: &Value) -> Result<Self, String> {
        number(value, -90.0, 90.0).map(Self)
    }
}

/// A longitude in degrees, -180 to 180.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Longitude(pub(crate) f64);

impl Rule for Longitude {
    fn read(value: &Value) -> Result<Self, String> {
        number(value, -180.0, 180.0).map(Self)
    }
}

impl Rule for bool {
    fn read(value: &Value) -> Result<Self, String> {
        boolean(value)
    }
}

/// One code of a closed set.
impl<T: CodeSet> Rule for T {
    fn read(value: &Value) -> Result<Self, String> {
        code(value)
    }
}

/// Codes of a closed set, deduplicated and in vocabulary order.
impl<T: CodeSet + Ord> Rule for Vec<T> {
    fn read(value: &Value) -> Result<Self, String> {
        code_list(value)
    }
}

/// The newtypes parsed from a string by their own `parse`.
macro_rules! rule_by_parse {
    ($($newtype:ty),+) => {$(
        impl Rule for $newtype {
            fn read(value: &Value) -> Result<Self, String> {
                with(value, Self::parse)
            }
        }
    )+};
}

rule_by_parse!(UsState, PostalCode, Phone, WebsiteUrl, Npi);

impl Rule for crate::accounts::fields::Email {
    fn read(value: &Value) -> Result<Self, String> {
        with(value, |s| Self::parse("email", s).map_err(|e| e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(UsState::parse(" oh ").unwrap().as_str(), "OH");
        assert_eq!(UsState::parse("PR").unwrap().as_str(), "PR");
        for bad in ["", "O", "OHI", "XX", "Ohio"] {
            assert!(UsState::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postal_codes() {
        assert_eq!(PostalCode::parse("43210").unwrap().as_str(), "43210");
        assert_eq!(PostalCode::parse("43210-1234").unwrap().as_str(), "43210-1234");
        assert_eq!(PostalCode::parse("432101234").unwrap().as_str(), "43210-1234");
        assert_eq!(PostalCode::parse("43210-1234").unwrap().zip5(), "43210");
        for bad in ["4321", "432100", "43210-123", "4321O", "43-2101234", "43210--1234", ""] {
            assert!(PostalCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for ok in ["(614) 555-1234", "614.555.1234", "+1 614 555 1234", "16145551234"] {
            assert_eq!(Phone::parse(ok).unwrap().as_str(), "+16145551234", "{ok}");
        }
        for bad in [
            "555-1234",
            "(014) 555-1234",
            "614-155-1234",
            "+44 20 7946 0958",
            "614-555-1234 ext 5",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn websites() {
        assert!(WebsiteUrl::parse("https://www.osumc.edu/radiology").is_ok());
        assert!(WebsiteUrl::parse("http://example.org:8080/x?y=1").is_ok());
        for bad in [
            "ftp://example.org",
            "example.org",
            "https://",
            "https://localhost",
            "https://a b.org",
            "javascript:alert(1)",
        ] {
            assert!(WebsiteUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn npis() {
        // 1234567893 is the check-digit example of the NPI standard.
        assert!(Npi::parse("1234567893").is_ok());
        assert!(Npi::parse("1234567890").is_err());
        assert!(Npi::parse("123456789").is_err());
        assert!(Npi::parse("12345678a3").is_err());
    }
}
