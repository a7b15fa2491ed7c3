//! Bearer secrets (session tokens and API keys): random, recognisable by prefix, stored only as
//! SHA-256 hashes.

use sha2::{Digest, Sha256};

/// What a bearer secret unlocks, told by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `cst_`: a session from signing in.
    Session,
    /// `csk_`: an API key for integrations.
    ApiKey,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Session => "cst_",
            Self::ApiKey => "csk_",
        }
    }
}

/// A freshly generated secret: shown to its owner once, then only its hash is kept.
pub struct NewSecret {
    /// The whole secret, e.g. `cst_3f9a...` (4 + 64 characters).
    pub plain: String,
    /// Its SHA-256 hash, what the database stores.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSecret(***)")
    }
}

/// Generates a secret of `kind`: the prefix and 32 random bytes from the OS, hex-encoded.
pub fn generate(kind: Kind) -> NewSecret {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let plain = format!("{}{}", kind.prefix(), hex(&bytes));
    let hash = digest(&plain);
    NewSecret { plain, hash }
}

/// Tells the kind of a presented secret and hashes it for lookup; `None` when it cannot be one of
/// ours (wrong prefix or shape), so it is rejected without touching the database.
pub(crate) fn parse(presented: &str) -> Option<(Kind, Vec<u8>)> {
    let kind = [Kind::Session, Kind::ApiKey]
        .into_iter()
        .find(|kind| presented.starts_with(kind.prefix()))?;
    let body = &presented[kind.prefix().len()..];
    (body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (kind, digest(presented)))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_back_to_their_hash() {
        for kind in [Kind::Session, Kind::ApiKey] {
            let secret = generate(kind);
            assert_eq!(secret.plain.len(), 68);
            assert_eq!(parse(&secret.plain), Some((kind, secret.hash.clone())));
            assert_ne!(secret.hash, secret.plain.as_bytes(), "only the hash is kept");
        }
        assert_ne!(generate(Kind::Session).plain, generate(Kind::Session).plain);
    }

    #[test]
    fn foreign_shapes_are_not_secrets() {
        for presented in [
            "",
            "cst_",
            "cst_xyz",
            "Bearer cst_00",
            &format!("abc_{}", "0".repeat(64)),
        ] {
            assert_eq!(parse(presented), None, "{presented}");
        }
        assert!(format!("{:?}", generate(Kind::ApiKey)).contains("***"));
    }
}
