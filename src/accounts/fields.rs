//! Account fields that can only be built valid (parse, don't validate).

use crate::error::FieldError;

/// An email address, trimmed and lower-cased (addresses are unique case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, no spaces, at most 254
    /// characters. Deliberately permissive: the real check is that mail arrives.
    pub(crate) fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_ascii_lowercase();
        let invalid = || FieldError::new(field, "must be an email address such as name@example.org");
        // ASCII only: lower-casing then agrees everywhere (the database checks `email = lower(email)`,
        // and Unicode case rules differ between Rust and PostgreSQL locales).
        if email.len() > 254 || !email.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The normalized address.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 12 to 256 characters that is not easily guessed. Never logged: `Debug` hides it.
#[derive(Clone)]
pub(crate) struct Password(String);

impl Password {
    /// Minimum length in characters.
    pub(crate) const MIN: usize = 12;
    /// Maximum length in characters (bounds the hashing cost).
    pub(crate) const MAX: usize = 256;

    /// The least `zxcvbn` score accepted (0 to 4): 3, "safely unguessable", about 10^10 guesses.
    pub(crate) const MIN_SCORE: u8 = 3;

    /// Checks the length rule, then that the password is not easily guessed (NIST SP 800-63B: no
    /// composition rules, but no common, repetitive or sequential passwords, nor ones made of the
    /// account's own email or name, given as `context`): the `zxcvbn` estimator, with its
    /// dictionaries of common passwords, names and words, must score it [`Password::MIN_SCORE`] or
    /// more. The message says why it is weak when the estimator can tell.
    pub(crate) fn parse(field: &str, raw: String, context: &[&str]) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&length) {
            return Err(FieldError::new(
                field,
                format!("must be {} to {} characters long", Self::MIN, Self::MAX),
            ));
        }
        let estimate = zxcvbn::zxcvbn(&raw, context);
        if u8::from(estimate.score()) < Self::MIN_SCORE {
            let why = estimate
                .feedback()
                .and_then(|feedback| feedback.warning())
                .map(|warning| format!(" ({warning})"))
                .unwrap_or_default();
            return Err(FieldError::new(
                field,
                format!("is too easy to guess{why}: use a few unrelated words, or a password manager's"),
            ));
        }
        Ok(Self(raw))
    }

    /// The password, for hashing.
    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DisplayName(String);

impl DisplayName {
    /// Parses a display name.
    pub(crate) fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let length = name.chars().count();
        if !(1..=100).contains(&length) {
            return Err(FieldError::new(field, "must be 1 to 100 characters long"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(field, "must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("e", "  Ann.Lee@Example.ORG ").unwrap().as_str(),
            "ann.lee@example.org"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "ann lee@example.org",
            "a@b@c.org",
            "a@-x.org",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
        assert_eq!(Email::parse("email", "x").unwrap_err().field, "email");
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("p", "short".into(), &[]).is_err());
        assert!(Password::parse("p", "x".repeat(257), &[]).is_err());
        assert!(Password::parse("p", "plum tiger lantern".into(), &[]).is_ok());
        assert!(
            Password::parse("p", "ünsere grüne Eule".into(), &[]).is_ok(),
            "characters, not bytes"
        );
        for weak in [
            "password1234",
            "            ",
            "aaaaaaaaaaaaaaaa",
            "123456789012",
            "qwertyuiopasdf",
            "iloveyou2024!",
        ] {
            let error = Password::parse("p", weak.into(), &[]).unwrap_err();
            assert!(error.message.contains("too easy to guess"), "{weak}: {}", error.message);
        }
        assert!(
            Password::parse("p", "ann.lee@example.org1".into(), &["ann.lee@example.org", "Ann Lee"]).is_err(),
            "the account's own email"
        );
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("p", "correct horse battery".into(), &[]).unwrap()
            ),
            "Password(***)"
        );
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("n", "  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("n", "   ").is_err());
        assert!(DisplayName::parse("n", &"x".repeat(101)).is_err());
        assert!(DisplayName::parse("n", "a\u{0}b").is_err());
    }

    #[test]
    fn email_lengths_and_domain_labels_at_their_limits() {
        // At most 254 characters in all, and at most 64 before the `@`.
        let email = |total: usize| format!("{}@{}.org", "a".repeat(64), "d".repeat(total - 69));
        assert_eq!(email(254).len(), 254);
        assert!(Email::parse("email", &email(254)).is_ok(), "254 characters");
        assert!(Email::parse("email", &email(255)).is_err(), "255 characters");
        assert!(Email::parse("email", &email(300)).is_err(), "300 characters");
        assert!(
            Email::parse("email", &format!("{}@example.org", "a".repeat(64))).is_ok(),
            "a 64-character local part"
        );
        assert!(
            Email::parse("email", &format!("{}@example.org", "a".repeat(65))).is_err(),
            "a 65-character local part"
        );
        // Letters, digits and inner hyphens in each label; nothing else, no empty label.
        assert!(Email::parse("email", "ann@st-mary-clinic.example.org").is_ok());
        for bad in [
            "ann@ex_ample.org",
            "ann@x-.org",
            "ann@example..org",
            "ann@.example.org",
            "ann@ex+ample.org",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_password_scored_exactly_the_minimum_is_accepted() {
        let candidates = [
            "Tr0ub4dor&3xy",
            "blue house 1990",
            "summer garden 77",
            "marmalade42!",
            "kettle orange",
            "violet canyon",
            "mountain lake",
            "Sunflower#2024",
            "green paper cup",
            "pinecone river",
            "harbor12lights",
            "jazzpiano1988",
        ];
        let at_minimum = candidates
            .iter()
            .find(|p| u8::from(zxcvbn::zxcvbn(p, &[]).score()) == Password::MIN_SCORE)
            .expect("a candidate scored exactly the minimum");
        assert!(Password::parse("p", (*at_minimum).into(), &[]).is_ok(), "{at_minimum}");
        let below = candidates
            .iter()
            .find(|p| u8::from(zxcvbn::zxcvbn(p, &[]).score()) < Password::MIN_SCORE && p.len() >= Password::MIN)
            .expect("a candidate scored below the minimum");
        assert!(Password::parse("p", (*below).into(), &[]).is_err(), "{below}");
    }
}
