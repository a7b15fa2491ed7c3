//! Opaque, tamper-evident keyset cursors.
//!
//! A cursor is base64url(JSON payload ‖ HMAC-SHA256 tag) with the installation's secret key. The
//! tag covers the search it belongs to (a fingerprint of its filters and sort) besides the payload,
//! without carrying it, so a cursor edited by hand, or reused with another search, is refused with
//! a 400. The payload's names are one letter each: a cursor is in every page twice (body and
//! `Link`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of the tag kept (128 bits).
const TAG_LEN: usize = 16;

/// Where the previous page ended, in the order of the search's sort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// The search this cursor belongs to (covered by the tag, not carried).
    #[serde(skip)]
    pub(crate) search: String,
    /// The sort key of the last item, exactly as the index ordered by it.
    #[serde(rename = "k")]
    pub(crate) key: Key,
    /// The id of the last item (the tie-breaker).
    #[serde(rename = "i")]
    pub(crate) id: uuid::Uuid,
    /// The walk's total, counted with its first page.
    #[serde(rename = "t")]
    pub(crate) total: i64,
    /// With `q`: the words the walk's first page resolved it to, so every page uses the same.
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<super::text::TextQuery>,
}

/// A sort key that survives the round trip through the cursor exactly: the next page's keyset
/// condition compares it with the same value computed again by the database, so a key read back
/// one unit in the last place lower would let the last site of a page in again. Floats are carried
/// as their bit patterns (a decimal rendering need not parse back to the same bits), times with
/// every digit they have (PostgreSQL keeps microseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Key {
    /// `sort=name`.
    #[serde(rename = "n")]
    Name(String),
    /// `sort=-updated_at`, in microseconds since the epoch (as PostgreSQL keeps it).
    #[serde(rename = "u")]
    UpdatedAt(#[serde(with = "chrono::serde::ts_microseconds")] chrono::DateTime<chrono::Utc>),
    /// `sort=distance`: the distance in metres, as `f64::to_bits`.
    #[serde(rename = "d")]
    Distance(u64),
    /// `sort=relevance`: the score, as `f32::to_bits`.
    #[serde(rename = "s")]
    Score(u32),
    /// `sort=-reports`: the site's number of reports.
    #[serde(rename = "r")]
    Reports(u32),
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// What the tag covers: the search, then the payload.
fn signed(search: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(search.len() + 1 + payload.len());
    message.extend_from_slice(search.as_bytes());
    message.push(0);
    message.extend_from_slice(payload);
    message
}

/// Encodes a position.
pub(crate) fn encode(key: &[u8], position: &Position) -> String {
    let mut bytes = serde_json::to_vec(position).expect("a position serializes");
    let tag = hmac(key, &signed(&position.search, &bytes));
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a cursor this installation issued for the search `search`; `None` otherwise.
pub(crate) fn decode(key: &[u8], cursor: &str, search: &str) -> Option<Position> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    if bytes.len() <= TAG_LEN {
        return None;
    }
    let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    let expected = hmac(key, &signed(search, payload));
    // Constant-time comparison: do not leak how much of a forged tag was right.
    let difference = expected[..TAG_LEN]
        .iter()
        .zip(tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if difference != 0 {
        return None;
    }
    let mut position: Position = serde_json::from_slice(payload).ok()?;
    position.search = search.to_owned();
    Some(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name-sorted position of search `abc`.
    fn sample_position() -> Position {
        Position {
            search: "abc".into(),
            key: Key::Name("Riverside".into()),
            id: uuid::Uuid::now_v7(),
            total: 12,
            text: None,
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let tag = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::auth::token::hex(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering_and_other_searches() {
        let key = [7u8; 32];
        let position = sample_position();
        let cursor = encode(&key, &position);
        assert_eq!(decode(&key, &cursor, "abc"), Some(position));
        assert_eq!(decode(&key, &cursor, "other search"), None);
        assert_eq!(decode(&[8u8; 32], &cursor, "abc"), None, "another installation's key");
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        bytes[5] ^= 1;
        assert_eq!(decode(&key, &URL_SAFE_NO_PAD.encode(&bytes), "abc"), None);
        assert_eq!(decode(&key, "not-a-cursor", "abc"), None);
        assert_eq!(decode(&key, "", "abc"), None);
    }

    #[test]
    fn every_key_comes_back_with_the_same_bits() {
        let key = [7u8; 32];
        // Distances whose shortest decimal rendering parses back one unit in the last place off
        // without an exact parser, and extremes.
        let mut distances = vec![0.0, f64::MIN_POSITIVE, 1.0e-300, f64::MAX, 96_540.123_456_789];
        let mut x = 1234.5678_f64;
        for _ in 0..2000 {
            x = (x * 1.618_033_988_749_895).rem_euclid(1_600_000.0) + 0.000_001;
            distances.push(x);
        }
        let at = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00.123456Z").unwrap();
        let keys = distances
            .iter()
            .map(|d| Key::Distance(d.to_bits()))
            .chain([0.7312_f32, 1.0, f32::MIN_POSITIVE].map(|s| Key::Score(s.to_bits())))
            .chain([
                Key::UpdatedAt(at.with_timezone(&chrono::Utc)),
                Key::Name("Zoë's \"Clinic\"".into()),
            ]);
        for sort_key in keys {
            let position = Position {
                search: "s".into(),
                key: sort_key,
                id: uuid::Uuid::nil(),
                total: 1,
                text: None,
            };
            assert_eq!(decode(&key, &encode(&key, &position), "s"), Some(position));
        }
    }

    #[test]
    fn the_search_a_cursor_belongs_to_includes_its_sort() {
        use super::super::params;
        use super::super::plan::search_id;
        let id = |query: &str| search_id(&params::parse(query).unwrap());
        let base = "q=riverside&near=40.0,-83.0";
        let sorts = ["distance", "relevance", "name", "-updated_at"].map(|sort| id(&format!("{base}&sort={sort}")));
        for (i, a) in sorts.iter().enumerate() {
            for b in &sorts[i + 1..] {
                assert_ne!(a, b, "two sorts, one fingerprint");
            }
        }
        // The sort is the effective one: `q` sorts by relevance unless told otherwise.
        assert_eq!(id(base), sorts[1]);
        // Page size, facets and view do not change the walk.
        assert_eq!(
            id(&format!("{base}&sort=name&limit=5&facets=modality&view=full")),
            sorts[2]
        );
    }

    #[test]
    fn hmac_hashes_only_keys_longer_than_one_block() {
        // RFC 4231 test case 6: a 131-byte key is hashed first.
        let tag = hmac(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            crate::auth::token::hex(&tag),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // A key of exactly one block (64 bytes) is used as it is (Python's `hmac` module).
        let key: Vec<u8> = (0..64).collect();
        assert_eq!(
            crate::auth::token::hex(&hmac(&key, b"a key of exactly one block")),
            "4160934932697efcd68b6416b5ef5d5f636b1117cf3e740649df906895cd9186"
        );
    }

    #[test]
    fn a_forged_tag_is_refused_however_it_differs() {
        let key = [7u8; 32];
        let position = sample_position();
        let bytes = URL_SAFE_NO_PAD.decode(encode(&key, &position)).unwrap();
        let tag_at = bytes.len() - TAG_LEN;
        // The payload intact, the tag wrong: in one byte, in its last byte, and in the same bit
        // of two bytes (differences that would cancel out if they were combined by xor).
        for flips in [vec![(0, 0x01)], vec![(TAG_LEN - 1, 0x80)], vec![(0, 0x01), (1, 0x01)]] {
            let mut forged = bytes.clone();
            for (at, bit) in flips {
                forged[tag_at + at] ^= bit;
            }
            assert_eq!(decode(&key, &URL_SAFE_NO_PAD.encode(&forged), "abc"), None);
        }
    }
}
