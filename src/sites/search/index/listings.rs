//! The listing's own figures for the statistics (`GET /v1/stats`, `listings`): listed real sites
//! by modality and state, and those accepting independent candidates, counted from the index's
//! sets (intersections and counts, never a scan of the sites).

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use super::Inner;
use super::doc::position;
use crate::vocabulary::{Accepts, CodeSet, Modality, SiteType};

/// Listed sites (not archived, not demo data) under the given site filters.
#[derive(Debug, Default)]
pub(crate) struct ListingCounts {
    pub(crate) sites: u64,
    pub(crate) accepting_independent: u64,
    pub(crate) by_modality: BTreeMap<Modality, u64>,
    pub(crate) by_state: BTreeMap<String, u64>,
}

impl Inner {
    /// The listing's figures: sites offering `modality` (any, without one), in `state`, of
    /// `site_type`.
    pub(crate) fn listing_counts(
        &self,
        modality: Option<Modality>,
        state: Option<&str>,
        site_type: Option<SiteType>,
    ) -> ListingCounts {
        let s = &self.sets;
        let mut base = &s.listed - &s.demo;
        if let Some(state) = state {
            match self.dictionary.states.get(state) {
                Some(id) => base &= s.state.get((*id).into()),
                None => base.clear(),
            }
        }
        if let Some(site_type) = site_type {
            base &= s.site_type.get(position(site_type).into());
        }
        if let Some(modality) = modality {
            base &= s.modality.get(position(modality).into());
        }
        let independent = usize::from(position(Accepts::Independent)) + 1;
        let modalities: Vec<Modality> = modality.map_or_else(|| Modality::ALL.to_vec(), |m| vec![m]);
        let mut accepting = RoaringBitmap::new();
        for m in &modalities {
            accepting |= s.accepts[usize::from(position(*m))].get(independent);
        }
        ListingCounts {
            sites: base.len(),
            accepting_independent: base.intersection_len(&accepting),
            by_modality: modalities
                .iter()
                .map(|m| (*m, base.intersection_len(s.modality.get(position(*m).into()))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            by_state: self
                .dictionary
                .states
                .iter()
                .map(|(code, id)| (code.to_string(), base.intersection_len(s.state.get((*id).into()))))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}
