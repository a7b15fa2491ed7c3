//! What the index keeps of a site, and the row it reads it from.

use sqlx::types::Json;
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::vocabulary::{
    Accepts, CodeSet, HipaaTraining, Housing, LiabilityInsurance, Modality, Payment, Schedule, SiteStatus, SiteType,
};

/// The columns of an [`IndexRow`], of `site s`.
pub(super) const INDEX_COLUMNS: &str = "s.site_id, s.name, s.site_type, s.city, s.state, s.postal_code,
    s.latitude, s.longitude, s.payment, s.fee_usd, s.hipaa_training, s.liability_insurance, s.housing,
    s.schedule, s.status, s.updated_at, s.search_text, s.index_xid, s.offers,
    coalesce((s.report_counts ->> 'reports')::int, 0) as reports,
    coalesce((s.report_counts ->> 'accepted_independent')::int, 0) as independent_reports,
    s.source = 'demo' as demo";

/// A site's searchable values, as PostgreSQL has them.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct IndexRow {
    pub(crate) site_id: Uuid,
    pub(crate) name: String,
    pub(crate) site_type: SiteType,
    pub(crate) city: String,
    pub(crate) state: String,
    pub(crate) postal_code: String,
    pub(crate) latitude: Option<f64>,
    pub(crate) longitude: Option<f64>,
    pub(crate) payment: Option<Payment>,
    pub(crate) fee_usd: Option<i32>,
    pub(crate) hipaa_training: Option<HipaaTraining>,
    pub(crate) liability_insurance: Option<LiabilityInsurance>,
    pub(crate) housing: Option<Housing>,
    pub(crate) schedule: Vec<Schedule>,
    pub(crate) status: SiteStatus,
    pub(crate) updated_at: chrono::DateTime<chrono::Utc>,
    pub(crate) search_text: Option<String>,
    pub(crate) index_xid: i64,
    pub(crate) offers: Json<BTreeMap<Modality, OfferKeys>>,
    /// Members' reports of the site, and those that say it accepted them as independent.
    pub(crate) reports: i32,
    pub(crate) independent_reports: i32,
    /// Demo data (`source = demo`): searchable, but left out of the statistics.
    pub(crate) demo: bool,
}

/// What search filters on in an offer.
#[derive(Debug, serde::Deserialize)]
pub(super) struct OfferKeys {
    #[serde(default = "yes")]
    accepting: bool,
    #[serde(default)]
    verifier_on_site: Option<bool>,
    #[serde(default)]
    accepts: Vec<Accepts>,
}

fn yes() -> bool {
    true
}

/// The position of a code in its set (0 is kept for "not stated" where a value may be missing).
pub(super) fn position<T: CodeSet + PartialEq>(value: T) -> u8 {
    T::ALL.iter().position(|v| *v == value).unwrap_or(0) as u8
}

/// 1 + the position of a stated code, 0 when none is stated.
pub(super) fn stated<T: CodeSet + PartialEq>(value: Option<T>) -> u8 {
    value.map_or(0, |v| position(v) + 1)
}

/// An offer packed in 16 bits: modality (4 bits), accepting (1), verifier on site (2: unknown,
/// no, yes), accepts (one bit per [`Accepts`] value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PackedOffer(u16);

impl PackedOffer {
    fn new(modality: Modality, keys: &OfferKeys) -> Self {
        let verifier = match keys.verifier_on_site {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        let accepts = keys.accepts.iter().fold(0u16, |bits, a| bits | (1 << position(*a)));
        Self(u16::from(position(modality)) | (u16::from(keys.accepting) << 4) | (verifier << 5) | (accepts << 7))
    }

    pub(crate) fn modality(self) -> usize {
        usize::from(self.0 & 0xF)
    }

    pub(crate) fn accepting(self) -> bool {
        self.0 & (1 << 4) != 0
    }

    /// 0 unknown, 1 no, 2 yes.
    pub(crate) fn verifier(self) -> usize {
        usize::from((self.0 >> 5) & 0b11)
    }

    /// The positions of the accepted candidates, in [`Accepts::ALL`].
    pub(crate) fn accepts(self) -> impl Iterator<Item = usize> {
        let bits = self.0 >> 7;
        (0..Accepts::ALL.len()).filter(move |i| bits & (1 << i) != 0)
    }
}

/// A site as read from its row, before it is filed in the index.
#[derive(Debug)]
pub(super) struct Doc {
    pub(crate) site_id: Uuid,
    pub(crate) name: String,
    /// The site's words (name, city, aliases), as ids of the index's dictionary.
    pub(crate) words: Vec<u32>,
    pub(crate) offers: Vec<PackedOffer>,
    /// Latitude and longitude, when it has them.
    pub(crate) location: Option<(f64, f64)>,
    /// Microseconds since the epoch, as PostgreSQL keeps them.
    pub(crate) updated_at: i64,
    /// The transaction that wrote this state of the row (`site.index_xid`), modulo 2^32.
    pub(crate) xid: u32,
    /// The stated fee of a site that charges one.
    pub(crate) fee: Option<i32>,
    pub(crate) zip5: u32,
    /// The ZIP+4 extension, [`NO_ZIP4`] when not stated.
    pub(crate) zip4: u16,
    pub(crate) city: u32,
    pub(crate) codes: Codes,
}

/// A `zip4` that says none is stated.
pub(super) const NO_ZIP4: u16 = u16::MAX;

/// A site's small codes: ids of the index's state table, and [`position`]s or [`stated`]
/// positions of its codes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Codes {
    pub(crate) state: u8,
    pub(crate) site_type: u8,
    pub(crate) status: u8,
    /// [`stated`] positions: 0 when not stated.
    pub(crate) payment: u8,
    pub(crate) insurance: u8,
    pub(crate) hipaa: u8,
    pub(crate) housing: u8,
    /// One bit per [`Schedule`] value.
    pub(crate) schedule: u8,
    /// Members' reports of the site.
    pub(crate) reports: u32,
    /// Whether a member reported being accepted as an independent candidate.
    pub(crate) reported_independent: bool,
    /// Demo data.
    pub(crate) demo: bool,
}

/// What a doc refers to by id: interned words, cities and states.
pub(super) trait Interner {
    fn word(&mut self, word: &str) -> u32;
    fn city(&mut self, lowered: &str) -> u32;
    fn state(&mut self, state: &str) -> u8;
}

/// Lower case, one character for one, as PostgreSQL's `lower()`.
pub(super) fn lower(text: &str) -> String {
    text.chars().filter_map(|c| c.to_lowercase().next()).collect()
}

/// The low 32 bits of a transaction id (ids of one database's live rows are never 2^31 apart).
pub(crate) fn short_xid(xid: i64) -> u32 {
    xid as u32
}

/// Whether transaction `a` is `b` or younger (modulo 2^32, as PostgreSQL compares its own).
pub(super) fn xid_at_least(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

impl Doc {
    pub(crate) fn new(row: IndexRow, interner: &mut impl Interner) -> Self {
        let mut words: Vec<u32> = row
            .search_text
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| interner.word(w))
            .collect();
        words.sort_unstable();
        words.dedup();
        let (zip5, zip4) = match row.postal_code.split_once('-') {
            Some((five, four)) => (five.parse().unwrap_or(0), four.parse().unwrap_or(NO_ZIP4)),
            None => (row.postal_code.parse().unwrap_or(0), NO_ZIP4),
        };
        Self {
            site_id: row.site_id,
            words,
            offers: row
                .offers
                .0
                .iter()
                .map(|(m, keys)| PackedOffer::new(*m, keys))
                .collect(),
            location: row.latitude.zip(row.longitude),
            updated_at: row.updated_at.timestamp_micros(),
            xid: short_xid(row.index_xid),
            fee: row.fee_usd.filter(|_| row.payment == Some(Payment::Fee)),
            zip5,
            zip4,
            city: interner.city(&lower(&row.city)),
            codes: Codes {
                state: interner.state(&row.state),
                site_type: position(row.site_type),
                status: position(row.status),
                payment: stated(row.payment),
                insurance: stated(row.liability_insurance),
                hipaa: stated(row.hipaa_training),
                housing: stated(row.housing),
                schedule: row.schedule.iter().fold(0, |bits, s| bits | (1 << position(*s))),
                reports: u32::try_from(row.reports).unwrap_or(0),
                reported_independent: row.independent_reports > 0,
                demo: row.demo,
            },
            name: row.name,
        }
    }
}

/// A's order against b in `sort=name`: A to Z ignoring case, then as written, then by id.
pub(super) fn name_order(a: (&str, Uuid), b: (&str, Uuid)) -> std::cmp::Ordering {
    fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars().flat_map(char::to_lowercase)
    }
    folded(a.0)
        .cmp(folded(b.0))
        .then_with(|| a.0.cmp(b.0))
        .then_with(|| a.1.cmp(&b.1))
}
