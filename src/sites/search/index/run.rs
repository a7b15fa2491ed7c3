//! Answering a search from the index: the matching set (an intersection of one set per filter),
//! its total (a count), each facet (a count per value under every other filter) and one page in
//! the sort's order.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use roaring::{MultiOps, RoaringBitmap};
use uuid::Uuid;

use super::Inner;
use super::doc::{lower, name_order, position, stated};
use super::grid::{self, Point};
use crate::geo;
use crate::sites::search::cursor::Key;
use crate::sites::search::params::{Facet, SearchParams, Sort, Wanted};
use crate::sites::search::text::TextQuery;
use crate::vocabulary::{
    Accepts, CodeSet, HipaaTraining, Housing, LiabilityInsurance, Modality, Payment, Schedule, SiteStatus, SiteType,
};

/// Where the previous page ended: its last site's sort key and id.
#[derive(Debug, Clone)]
pub(crate) enum After {
    Name(String, Uuid),
    Updated(DateTime<Utc>, Uuid),
    Distance(f64, Uuid),
    Score(f32, Uuid),
    Reports(u32, Uuid),
}

/// A search to answer.
pub(crate) struct Query<'a> {
    pub(crate) params: &'a SearchParams,
    /// With `q`: its words, resolved.
    pub(crate) text: Option<&'a TextQuery>,
    pub(crate) after: Option<&'a After>,
    /// How many sites to return (a page and one more, to tell whether there is a next page).
    pub(crate) fetch: usize,
}

/// A site on the page.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) site_id: Uuid,
    /// The version of the site the index has ([`super::short_xid`] of the transaction that
    /// wrote it).
    pub(crate) version: u32,
    /// Metres from `near`, when given.
    pub(crate) distance_m: Option<f64>,
    /// Text match, 0 to 1, when `q` is given.
    pub(crate) score: Option<f32>,
    /// Its key in the sort's order, for the cursor.
    pub(crate) key: Key,
}

/// Counts per value of each facet asked for.
pub(crate) type FacetCounts = BTreeMap<Facet, BTreeMap<String, u64>>;

/// The answer: a page, the exact total, the facets.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) hits: Vec<Hit>,
    pub(crate) total: u64,
    pub(crate) facets: FacetCounts,
}

/// A filter's set: borrowed from the index when it is one value's, else computed.
type Set<'a> = Cow<'a, RoaringBitmap>;

fn union<'a>(sets: impl IntoIterator<Item = &'a RoaringBitmap>) -> Set<'a> {
    let mut sets: Vec<&RoaringBitmap> = sets.into_iter().collect();
    match sets.len() {
        0 => Cow::Owned(RoaringBitmap::new()),
        1 => Cow::Borrowed(sets.remove(0)),
        _ => Cow::Owned(sets.into_iter().union()),
    }
}

/// The intersection of `sets` (of `universe` when there are none), smallest first.
fn intersection(universe: &RoaringBitmap, sets: &[&RoaringBitmap]) -> RoaringBitmap {
    let mut sets: Vec<&RoaringBitmap> = sets.to_vec();
    sets.sort_by_key(|set| set.len());
    let Some((first, rest)) = sets.split_first() else {
        return universe.clone();
    };
    let mut result = (*first).clone();
    for set in rest {
        if result.is_empty() {
            break;
        }
        result &= *set;
    }
    result
}

/// The filters of a search as sets: those no facet drops, and those a facet drops.
struct Filters<'a> {
    /// The intersection of every filter no facet drops (text, place, requirements, ...).
    common: RoaringBitmap,
    /// Filters a facet counts over, with that facet.
    own: Vec<(Facet, Set<'a>)>,
}

impl Inner {
    /// Answers `query`.
    /// Every site matching a search's filters, whatever its sort or page, in id order, demo sites
    /// only with `include_demo`: what an export writes.
    pub(crate) fn matching_ids(&self, p: &SearchParams, text: Option<&TextQuery>, include_demo: bool) -> Vec<Uuid> {
        let centre = p.near.map(|near| geo::earth_point(near.latitude, near.longitude));
        let (filters, _) = self.filters(p, centre.as_ref(), text);
        let mut matching = self.matching(p, &filters, None);
        if !include_demo {
            matching -= &self.sets.demo;
        }
        let mut ids: Vec<Uuid> = matching.iter().map(|slot| self.site_id(slot)).collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn run(&self, query: &Query) -> Outcome {
        let p = query.params;
        let centre = p.near.map(|near| geo::earth_point(near.latitude, near.longitude));
        let (filters, groups) = self.filters(p, centre.as_ref(), query.text);
        let matching = self.matching(p, &filters, None);
        let facets = p
            .facets
            .iter()
            .map(|facet| (*facet, self.facet(p, &filters, *facet, &matching)))
            .collect();
        let slots = match p.effective_sort() {
            Sort::Relevance => self.ranked(&matching, groups.as_deref().unwrap_or_default(), query),
            Sort::Name => self.by_name(&matching, query),
            Sort::UpdatedDesc => self.by_updated(&matching, query),
            Sort::Distance => self.nearest(&matching, centre.as_ref(), query),
            Sort::ReportsDesc => self.by_reports(&matching, query),
        };
        let hits = slots
            .into_iter()
            .map(|(slot, key)| Hit {
                site_id: self.site_id(slot),
                version: self.columns.xid(slot),
                distance_m: centre
                    .zip(self.point(slot))
                    .map(|(c, point)| grid::distance_m(&c, &point)),
                score: groups.as_deref().map(|groups| {
                    groups
                        .iter()
                        .find(|(_, set)| set.contains(slot))
                        .map_or(0.0, |(s, _)| *s)
                }),
                key,
            })
            .collect();
        Outcome {
            hits,
            total: matching.len(),
            facets,
        }
    }

    /// The text's matches as groups of one relevance each, best first (each site in one group).
    fn text_groups(&self, text: &TextQuery, within: Option<&RoaringBitmap>) -> Vec<(f32, RoaringBitmap)> {
        let word = |w: &str| self.dictionary.words.sites_of(w);
        let mut groups: Vec<(f32, RoaringBitmap)> = Vec::new();
        for combo in text.combos() {
            let words: Vec<Set> = combo.words.iter().map(|w| word(w)).collect();
            let mut refs: Vec<&RoaringBitmap> = words.iter().map(AsRef::as_ref).collect();
            // From the other filters' matches on: a combination of common words costs what the
            // sites that pass them cost, not what the words' sets cost.
            refs.extend(within);
            let mut set = intersection(&self.sets.live, &refs);
            for better in combo.better.iter().flatten() {
                set -= word(better).as_ref();
            }
            match groups.last_mut() {
                Some((score, group)) if *score == combo.score => *group |= set,
                _ => groups.push((combo.score, set)),
            }
        }
        groups
    }

    /// The filters' sets, and with `q` its matches by relevance (among those of the other filters
    /// no facet drops).
    #[allow(clippy::type_complexity)]
    fn filters<'a>(
        &'a self,
        p: &SearchParams,
        centre: Option<&Point>,
        text: Option<&TextQuery>,
    ) -> (Filters<'a>, Option<Vec<(f32, RoaringBitmap)>>) {
        let common = self.common_sets(p);
        let refs: Vec<&RoaringBitmap> = common.iter().map(AsRef::as_ref).collect();
        // Whether anything but `q` narrows the sites before the text does.
        let narrowed = !refs.is_empty() || p.radius_m.is_some();
        let mut common = intersection(&self.sets.live, &refs);
        if let (Some(centre), Some(radius_m)) = (centre, p.radius_m) {
            common = self.grid.within(centre, radius_m, &common, |slot| {
                self.point(slot)
                    .map_or(f64::INFINITY, |point| grid::distance_m(centre, &point))
            });
        }
        let groups = text.map(|text| self.text_groups(text, narrowed.then_some(&common)));
        if let Some(groups) = &groups {
            common = union(groups.iter().map(|(_, set)| set)).into_owned();
        }
        let own = self.own_sets(p);
        (Filters { common, own }, groups)
    }

    /// The sets of the filters no facet drops (place, fee, insurance, housing, recency).
    fn common_sets(&self, p: &SearchParams) -> Vec<Set<'_>> {
        let s = &self.sets;
        let mut common: Vec<Set> = Vec::new();
        if let Some(city) = &p.city {
            common.push(self.city(city));
        }
        if let Some(postal_code) = &p.postal_code {
            common.push(self.postal_code(postal_code));
        }
        if let Some(max_fee) = p.max_fee_usd {
            let free = [Payment::Free, Payment::ProgramTuition].map(|v| s.payment.get(stated(Some(v)).into()));
            common.push(union(
                free.into_iter().chain(s.fee.range(..=max_fee).map(|(_, set)| set)),
            ));
        }
        match p.insurance_required {
            Some(Wanted::Value(required)) => {
                let wanted = if required {
                    LiabilityInsurance::Required
                } else {
                    LiabilityInsurance::NotRequired
                };
                common.push(Cow::Borrowed(s.insurance.get(stated(Some(wanted)).into())));
            }
            Some(Wanted::Unknown) => common.push(Cow::Borrowed(s.insurance.get(0))),
            None => {}
        }
        if p.reported_independent {
            common.push(Cow::Borrowed(&s.reported_independent));
        }
        match p.housing {
            Some(Wanted::Value(true)) => common.push(union(
                [Housing::Free, Housing::Paid, Housing::HelpFinding].map(|h| s.housing.get(stated(Some(h)).into())),
            )),
            Some(Wanted::Value(false)) => common.push(Cow::Borrowed(s.housing.get(stated(Some(Housing::None)).into()))),
            Some(Wanted::Unknown) => common.push(Cow::Borrowed(s.housing.get(0))),
            None => {}
        }
        if let Some(since) = p.updated_since {
            let since = since.timestamp_micros();
            let from = self.by_updated.partition_point(|slot| self.updated_at(slot) < since);
            let mut recent: Vec<u32> = self.by_updated.from(from).collect();
            recent.sort_unstable();
            common.push(Cow::Owned(RoaringBitmap::from_sorted_iter(recent).unwrap_or_default()));
        }
        if p.near.is_some() {
            common.push(Cow::Borrowed(&s.located));
        }
        common
    }

    /// The sets of the filters a facet drops when it counts over its own values.
    fn own_sets(&self, p: &SearchParams) -> Vec<(Facet, Set<'_>)> {
        let s = &self.sets;
        let mut own: Vec<(Facet, Set)> = Vec::new();
        own.push((
            Facet::Status,
            if p.statuses.is_empty() {
                Cow::Borrowed(&s.listed)
            } else {
                union(p.statuses.iter().map(|v| s.status.get(position(*v).into())))
            },
        ));
        if !p.modalities.is_empty() {
            own.push((
                Facet::Modality,
                union(p.modalities.iter().map(|m| s.modality.get(position(*m).into()))),
            ));
        }
        if !p.states.is_empty() {
            own.push((Facet::State, self.states(&p.states)));
        }
        if !p.site_types.is_empty() {
            own.push((
                Facet::SiteType,
                union(p.site_types.iter().map(|v| s.site_type.get(position(*v).into()))),
            ));
        }
        if !p.payments.is_empty() {
            own.push((
                Facet::Payment,
                union(p.payments.iter().map(|v| s.payment.get(stated(Some(*v)).into()))),
            ));
        }
        if !p.schedules.is_empty() {
            let sets = p.schedules.iter().map(|wanted| match wanted {
                Wanted::Value(v) => s.schedule.get(position(*v).into()),
                Wanted::Unknown => &s.no_schedule,
            });
            own.push((Facet::Schedule, union(sets)));
        }
        match p.hipaa_training {
            Some(Wanted::Value(h)) => own.push((Facet::HipaaTraining, self.hipaa(h))),
            Some(Wanted::Unknown) => own.push((Facet::HipaaTraining, Cow::Borrowed(s.hipaa.get(0)))),
            None => {}
        }
        own
    }

    /// The sites matching every filter but the one `except` counts over.
    fn matching(&self, p: &SearchParams, filters: &Filters, except: Option<Facet>) -> RoaringBitmap {
        let mut sets: Vec<&RoaringBitmap> = vec![&filters.common];
        sets.extend(
            filters
                .own
                .iter()
                .filter(|(facet, _)| Some(*facet) != except)
                .map(|(_, set)| set.as_ref()),
        );
        let base = intersection(&self.sets.live, &sets);
        let (modalities, accepts) = match except {
            Some(Facet::Modality) => (modality_positions(&[]), p.accepts),
            Some(Facet::Accepts) => (modality_positions(&p.modalities), None),
            _ => (modality_positions(&p.modalities), p.accepts),
        };
        self.offer(&base, &modalities, accepts, p).unwrap_or(base)
    }

    /// The sites of `within` with an offer of one of `modalities` that meets every offer filter
    /// (`accepts` given apart, as its facet drops it); `None` without offer filters.
    fn offer(
        &self,
        within: &RoaringBitmap,
        modalities: &[usize],
        accepts: Option<Wanted<Accepts>>,
        p: &SearchParams,
    ) -> Option<RoaringBitmap> {
        if accepts.is_none() && p.verifier_on_site.is_none() && p.accepting.is_none() {
            return None;
        }
        let s = &self.sets;
        let per_modality = modalities.iter().map(|&m| {
            let mut sets: Vec<&RoaringBitmap> = vec![within, s.modality.get(m)];
            match accepts {
                Some(Wanted::Value(a)) => sets.push(s.accepts[m].get(usize::from(position(a)) + 1)),
                Some(Wanted::Unknown) => sets.push(s.accepts[m].get(0)),
                None => {}
            }
            match p.verifier_on_site {
                Some(Wanted::Value(v)) => sets.push(s.verifier[m].get(if v { 2 } else { 1 })),
                Some(Wanted::Unknown) => sets.push(s.verifier[m].get(0)),
                None => {}
            }
            if let Some(accepting) = p.accepting {
                sets.push(s.accepting[m].get(usize::from(accepting)));
            }
            intersection(&s.live, &sets)
        });
        Some(per_modality.union())
    }

    /// Counts per value of `facet` under every other filter; values no matching site has are
    /// left out.
    fn facet(
        &self,
        p: &SearchParams,
        filters: &Filters,
        facet: Facet,
        matching: &RoaringBitmap,
    ) -> BTreeMap<String, u64> {
        // A facet counts under every filter but its own: without a filter of its own (and, for the
        // offer facets, without offer filters, whose modalities it would change), that is the
        // search's matching set itself.
        let own = filters.own.iter().any(|(f, _)| *f == facet);
        let offers_differ = matches!(facet, Facet::Modality | Facet::Accepts) && p.has_offer_filters();
        let base = if own || offers_differ {
            Cow::Owned(self.matching(p, filters, Some(facet)))
        } else {
            Cow::Borrowed(matching)
        };
        let counts = self.counts(p, facet, base.as_ref());
        counts.into_iter().filter(|(_, n)| *n > 0).collect()
    }

    /// How many sites of `base` have each value of `facet`.
    fn counts(&self, p: &SearchParams, facet: Facet, base: &RoaringBitmap) -> Vec<(String, u64)> {
        let s = &self.sets;
        let count = |set: &RoaringBitmap| base.intersection_len(set);
        let mut counts: Vec<(String, u64)> = Vec::new();
        match facet {
            Facet::Modality => {
                for (i, m) in Modality::ALL.iter().enumerate() {
                    let n = if p.has_offer_filters() {
                        self.offer(base, &[i], p.accepts, p).map_or(0, |set| set.len())
                    } else {
                        count(s.modality.get(i))
                    };
                    counts.push((m.code().to_owned(), n));
                }
            }
            Facet::Accepts => {
                let modalities = modality_positions(&p.modalities);
                for a in Accepts::ALL {
                    let n = self
                        .offer(base, &modalities, Some(Wanted::Value(*a)), p)
                        .map_or(0, |set| set.len());
                    counts.push((a.code().to_owned(), n));
                }
            }
            Facet::Schedule => {
                for (i, v) in Schedule::ALL.iter().enumerate() {
                    counts.push((v.code().to_owned(), count(s.schedule.get(i))));
                }
            }
            Facet::HipaaTraining => {
                for h in HipaaTraining::ALL {
                    counts.push((h.code().to_owned(), count(&self.hipaa(*h))));
                }
            }
            Facet::SiteType => {
                for (i, v) in SiteType::ALL.iter().enumerate() {
                    counts.push((v.code().to_owned(), count(s.site_type.get(i))));
                }
            }
            Facet::Payment => {
                for v in Payment::ALL {
                    counts.push((v.code().to_owned(), count(s.payment.get(stated(Some(*v)).into()))));
                }
            }
            Facet::Status => {
                for (i, v) in SiteStatus::ALL.iter().enumerate() {
                    counts.push((v.code().to_owned(), count(s.status.get(i))));
                }
            }
            Facet::State => {
                for (state, id) in &self.dictionary.states {
                    counts.push((state.to_string(), count(s.state.get((*id).into()))));
                }
            }
        }
        counts
    }

    /// Sites matching a HIPAA training wish: a site accepting either way matches both specific
    /// wishes.
    fn hipaa(&self, wanted: HipaaTraining) -> Set<'_> {
        let s = &self.sets.hipaa;
        let either = s.get(stated(Some(HipaaTraining::Either)).into());
        match wanted {
            HipaaTraining::Either => Cow::Borrowed(either),
            specific => union([s.get(stated(Some(specific)).into()), either]),
        }
    }

    fn states(&self, states: &[String]) -> Set<'_> {
        union(
            states
                .iter()
                .filter_map(|state| self.dictionary.states.get(state.as_str()))
                .map(|id| self.sets.state.get((*id).into())),
        )
    }

    fn city(&self, city: &str) -> Set<'_> {
        match self.dictionary.cities.get(lower(city).as_str()) {
            Some(id) => Cow::Borrowed(self.sets.city.get(*id as usize)),
            None => Cow::Owned(RoaringBitmap::new()),
        }
    }

    fn postal_code(&self, code: &str) -> Set<'_> {
        let (five, four) = match code.split_once('-') {
            Some((five, four)) => (five, Some(four)),
            None => (code, None),
        };
        let Some(set) = five.parse().ok().and_then(|zip: u32| self.sets.zip5.get(&zip)) else {
            return Cow::Owned(RoaringBitmap::new());
        };
        match four.and_then(|four| four.parse::<u16>().ok()) {
            None => Cow::Borrowed(set),
            Some(four) => Cow::Owned(set.iter().filter(|slot| self.zip4(*slot) == Some(four)).collect()),
        }
    }

    /// Relevance order: groups best first, each in id order.
    fn ranked(&self, matching: &RoaringBitmap, groups: &[(f32, RoaringBitmap)], query: &Query) -> Vec<(u32, Key)> {
        let mut page = Vec::new();
        for (score, group) in groups {
            let after = match query.after {
                Some(After::Score(after, id)) => match score.total_cmp(after) {
                    std::cmp::Ordering::Greater => continue,
                    std::cmp::Ordering::Equal => Some(*id),
                    std::cmp::Ordering::Less => None,
                },
                _ => None,
            };
            let set = group & matching;
            let wanted = query.fetch - page.len();
            let start = after.map_or((0, 0), |id| self.by_id.partition_point(|slot| self.site_id(slot) <= id));
            let slots = self.first_in_order(
                &set,
                self.by_id.from(start),
                self.by_id.len(),
                wanted,
                |slot| after.is_none_or(|id| self.site_id(slot) > id),
                |a, b| self.site_id(a).cmp(&self.site_id(b)),
            );
            page.extend(slots.into_iter().map(|slot| (slot, Key::Score(score.to_bits()))));
            if page.len() >= query.fetch {
                break;
            }
        }
        page
    }

    fn by_name(&self, matching: &RoaringBitmap, query: &Query) -> Vec<(u32, Key)> {
        let after = match query.after {
            Some(After::Name(name, id)) => Some((name.as_str(), *id)),
            _ => None,
        };
        let doc_key = |slot: u32| (self.name(slot), self.site_id(slot));
        let start = after.map_or((0, 0), |after| {
            self.by_name
                .partition_point(|slot| name_order(doc_key(slot), after).is_le())
        });
        let slots = self.first_in_order(
            matching,
            self.by_name.from(start),
            self.by_name.len(),
            query.fetch,
            |slot| after.is_none_or(|after| name_order(doc_key(slot), after).is_gt()),
            |a, b| name_order(doc_key(a), doc_key(b)),
        );
        slots
            .into_iter()
            .map(|slot| (slot, Key::Name(self.name(slot).to_owned())))
            .collect()
    }

    fn by_updated(&self, matching: &RoaringBitmap, query: &Query) -> Vec<(u32, Key)> {
        let after = match query.after {
            Some(After::Updated(at, id)) => Some((at.timestamp_micros(), *id)),
            _ => None,
        };
        let end = after.map_or(self.by_updated.end(), |after| {
            self.by_updated.partition_point(|slot| self.updated_key(slot) < after)
        });
        let slots = self.first_in_order(
            matching,
            self.by_updated.before(end),
            self.by_updated.len(),
            query.fetch,
            |slot| after.is_none_or(|after| self.updated_key(slot) < after),
            |a, b| self.updated_key(b).cmp(&self.updated_key(a)),
        );
        slots
            .into_iter()
            .map(|slot| {
                let at = DateTime::from_timestamp_micros(self.updated_at(slot)).unwrap_or_default();
                (slot, Key::UpdatedAt(at))
            })
            .collect()
    }

    /// `sort=-reports`: the sites with most reports first, ties (and the sites without reports,
    /// last) by id.
    fn by_reports(&self, matching: &RoaringBitmap, query: &Query) -> Vec<(u32, Key)> {
        let after = match query.after {
            Some(After::Reports(reports, id)) => Some((*reports, *id)),
            _ => None,
        };
        let past = |reports: u32, id: Uuid| after.is_none_or(|(r, a)| reports < r || (reports == r && id > a));
        let mut found = Vec::with_capacity(query.fetch);
        let mut reported = RoaringBitmap::new();
        for (&reports, set) in self.sets.reports.iter().rev() {
            reported |= set;
            if found.len() == query.fetch || after.is_some_and(|(r, _)| reports > r) {
                continue;
            }
            let mut ids: Vec<(Uuid, u32)> = (set & matching)
                .iter()
                .map(|slot| (self.site_id(slot), slot))
                .filter(|(id, _)| past(reports, *id))
                .collect();
            ids.sort_unstable();
            let room = query.fetch - found.len();
            found.extend(
                ids.into_iter()
                    .take(room)
                    .map(|(_, slot)| (slot, Key::Reports(reports))),
            );
        }
        if found.len() < query.fetch {
            let unreported = matching - &reported;
            let start = match after {
                Some((0, id)) => self.by_id.partition_point(|slot| self.site_id(slot) <= id),
                _ => (0, 0),
            };
            let slots = self.first_in_order(
                &unreported,
                self.by_id.from(start),
                self.by_id.len(),
                query.fetch - found.len(),
                |slot| past(0, self.site_id(slot)),
                |a, b| self.site_id(a).cmp(&self.site_id(b)),
            );
            found.extend(slots.into_iter().map(|slot| (slot, Key::Reports(0))));
        }
        found
    }

    fn nearest(&self, matching: &RoaringBitmap, centre: Option<&Point>, query: &Query) -> Vec<(u32, Key)> {
        let Some(centre) = centre else { return Vec::new() };
        let after = match query.after {
            Some(After::Distance(distance, id)) => Some((*distance, *id)),
            _ => None,
        };
        self.grid
            .nearest(centre, matching, query.fetch, after, |slot| {
                let distance = self
                    .point(slot)
                    .map_or(f64::INFINITY, |point| grid::distance_m(centre, &point));
                (distance, self.site_id(slot))
            })
            .into_iter()
            .map(|((distance, _), slot)| (slot, Key::Distance(distance.to_bits())))
            .collect()
    }

    /// The first `want` members of `set` in an order: by walking `walk` (the order's slots from
    /// the cursor on; `span` slots in all) when `set` is dense enough that a member comes up every
    /// few steps, else by selecting among the members `after` admits with `cmp`.
    fn first_in_order(
        &self,
        set: &RoaringBitmap,
        walk: impl Iterator<Item = u32>,
        span: usize,
        want: usize,
        after: impl Fn(u32) -> bool,
        cmp: impl Fn(u32, u32) -> std::cmp::Ordering,
    ) -> Vec<u32> {
        let members = set.len() as usize;
        if want == 0 || members == 0 {
            return Vec::new();
        }
        // Walking visits about want * span / members slots if the members are spread evenly
        // along the order, each a test of a bit; selecting reads every member's key. Measured at
        // a million sites, the two cost about the same per step (a walk's tests are binary
        // searches among the set's containers). Members bunched in the order (the sites of one
        // state in id order, where ids were given state by state) would make a walk long: it
        // gives up after four times the steps expected, and the members are selected.
        if members.saturating_mul(members) >= want.saturating_mul(span.max(1)) {
            let expected = want.saturating_mul(span) / members;
            let mut found = Vec::with_capacity(want);
            for slot in walk.take(expected.saturating_mul(4).saturating_add(64)) {
                if set.contains(slot) {
                    found.push(slot);
                    if found.len() == want {
                        return found;
                    }
                }
            }
        }
        let mut candidates: Vec<u32> = set.iter().filter(|slot| after(*slot)).collect();
        if candidates.len() > want {
            candidates.select_nth_unstable_by(want - 1, |a, b| cmp(*a, *b));
            candidates.truncate(want);
        }
        candidates.sort_unstable_by(|a, b| cmp(*a, *b));
        candidates
    }
}

/// Positions of `modalities` in [`Modality::ALL`]; every modality when none is given.
fn modality_positions(modalities: &[Modality]) -> Vec<usize> {
    if modalities.is_empty() {
        (0..Modality::ALL.len()).collect()
    } else {
        modalities.iter().map(|m| usize::from(position(*m))).collect()
    }
}
