//! The dictionary of the words in sites' names, cities and aliases: each word's sites, and the
//! trigrams that find a word from a mistyped one, with pg_trgm's similarity computed here (so `q`
//! is resolved without a round trip to PostgreSQL).
//!
//! Built for large directories, where most words (surnames, place names, numbers) belong to one
//! or two sites: a word costs its text, a 4-byte entry in the table and a 4-byte posting that holds
//! its one site itself; only a word of two sites or more has a bitmap.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use roaring::RoaringBitmap;

use super::columns::push;

/// A posting of no site.
const NONE: u32 = u32::MAX;
/// A posting that names a bitmap (its index in the low bits) rather than one slot.
const SET: u32 = 1 << 31;

/// A trigram: three characters, 21 bits each.
type Trigram = u64;

/// Every word any site has had, by id (ids are never reused while the index lives).
#[derive(Default)]
pub(crate) struct Words {
    /// The words' text, one after the other; word `i` ends at `ends[i]`.
    text: String,
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: RandomState,
    /// Per word: [`NONE`], one slot, or [`SET`] and the index of its bitmap in `sets`.
    postings: Vec<u32>,
    sets: Vec<RoaringBitmap>,
    /// Indexes of `sets` no word uses any more.
    free: Vec<u32>,
    /// Per word: how many distinct trigrams it has (0 for numbers, which only match themselves).
    trigram_counts: Vec<u8>,
    /// The words that have each trigram (numbers left out).
    trigrams: HashMap<Trigram, Vec<u32>>,
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Words")
            .field("words", &self.ends.len())
            .finish_non_exhaustive()
    }
}

fn text_of<'a>(text: &'a str, ends: &[u32], id: u32) -> &'a str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &text[start..ends[id] as usize]
}

/// Whether a word only matches itself (a number).
pub(crate) fn is_number(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
}

/// A word's distinct trigrams as pg_trgm makes them for a word: padded with two spaces before and
/// one after, every run of three characters.
fn trigrams(word: &str) -> Vec<Trigram> {
    let chars: Vec<u64> = [' ', ' ']
        .into_iter()
        .chain(word.chars())
        .chain([' '])
        .map(u64::from)
        .collect();
    let mut grams: Vec<Trigram> = chars.windows(3).map(|w| (w[0] << 42) | (w[1] << 21) | w[2]).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

impl Words {
    /// The id of `word`, if any site has ever had it.
    pub(crate) fn id(&self, word: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(word);
        self.table
            .find(hash, |&id| text_of(&self.text, &self.ends, id) == word)
            .copied()
    }

    /// The id of `word`, added to the dictionary if it is new.
    pub(crate) fn intern(&mut self, word: &str) -> u32 {
        if let Some(id) = self.id(word) {
            return id;
        }
        let id = u32::try_from(self.ends.len()).expect("fewer than 4 billion words");
        if self.text.capacity() - self.text.len() < word.len() {
            self.text.reserve_exact(word.len().max(self.text.len() / 16 + 64));
        }
        self.text.push_str(word);
        push(
            &mut self.ends,
            u32::try_from(self.text.len()).expect("under 4 GB of words"),
        );
        push(&mut self.postings, NONE);
        let (text, ends, hasher) = (&self.text, &self.ends, &self.hasher);
        self.table.insert_unique(hasher.hash_one(word), id, |&id| {
            hasher.hash_one(text_of(text, ends, id))
        });
        if is_number(word) {
            push(&mut self.trigram_counts, 0);
        } else {
            let grams = trigrams(word);
            push(&mut self.trigram_counts, u8::try_from(grams.len()).unwrap_or(u8::MAX));
            for gram in grams {
                self.trigrams.entry(gram).or_default().push(id);
            }
        }
        id
    }

    pub(crate) fn text(&self, id: u32) -> &str {
        text_of(&self.text, &self.ends, id)
    }

    /// The sites that have word `id`.
    pub(crate) fn sites(&self, id: u32) -> Cow<'_, RoaringBitmap> {
        match self.postings[id as usize] {
            NONE => Cow::Owned(RoaringBitmap::new()),
            set if set & SET != 0 => Cow::Borrowed(&self.sets[(set & !SET) as usize]),
            slot => Cow::Owned(std::iter::once(slot).collect()),
        }
    }

    /// The sites that have `word` (none for a word no site has).
    pub(crate) fn sites_of(&self, word: &str) -> Cow<'_, RoaringBitmap> {
        self.id(word)
            .map_or(Cow::Owned(RoaringBitmap::new()), |id| self.sites(id))
    }

    /// Whether some site has word `id`.
    fn is_used(&self, id: u32) -> bool {
        self.postings[id as usize] != NONE
    }

    /// Adds `slot` to the sites of word `id`.
    pub(crate) fn add(&mut self, id: u32, slot: u32) {
        debug_assert!(slot < SET, "slots stay below 2^31");
        let posting = &mut self.postings[id as usize];
        match *posting {
            NONE => *posting = slot,
            set if set & SET != 0 => {
                self.sets[(set & !SET) as usize].insert(slot);
            }
            one if one == slot => {}
            one => {
                let pair: RoaringBitmap = [one, slot].into_iter().collect();
                let index = match self.free.pop() {
                    Some(index) => {
                        self.sets[index as usize] = pair;
                        index
                    }
                    None => {
                        self.sets.push(pair);
                        u32::try_from(self.sets.len() - 1).expect("fewer than 2^31 sets")
                    }
                };
                *posting = SET | index;
            }
        }
    }

    /// Takes `slot` out of the sites of word `id`.
    pub(crate) fn remove(&mut self, id: u32, slot: u32) {
        let posting = &mut self.postings[id as usize];
        match *posting {
            NONE => {}
            set if set & SET != 0 => {
                let index = set & !SET;
                let sites = &mut self.sets[index as usize];
                sites.remove(slot);
                if sites.len() <= 1 {
                    *posting = sites.min().unwrap_or(NONE);
                    *sites = RoaringBitmap::new();
                    self.free.push(index);
                }
            }
            one if one == slot => *posting = NONE,
            _ => {}
        }
    }

    /// Compacts the bitmaps after a bulk load.
    pub(crate) fn optimize(&mut self) {
        self.sets.iter_mut().for_each(|set| {
            set.optimize();
        });
        self.sets.shrink_to_fit();
        self.trigrams.values_mut().for_each(Vec::shrink_to_fit);
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.postings.shrink_to_fit();
        self.trigram_counts.shrink_to_fit();
    }

    /// The words some site has that are at least `threshold` similar to `word` (pg_trgm's
    /// `similarity`: shared trigrams over all the trigrams of either), best first, then in byte
    /// order; at most `limit`.
    pub(crate) fn similar(&self, word: &str, threshold: f32, limit: usize) -> Vec<(String, f32)> {
        let grams = trigrams(word);
        let mut shared: HashMap<u32, u32> = HashMap::new();
        for gram in &grams {
            for &id in self.trigrams.get(gram).map_or(&[][..], Vec::as_slice) {
                *shared.entry(id).or_default() += 1;
            }
        }
        let mut found: Vec<(&str, f32)> = shared
            .into_iter()
            .filter(|(id, _)| self.is_used(*id))
            .filter_map(|(id, count)| {
                let all = grams.len() as u32 + u32::from(self.trigram_counts[id as usize]) - count;
                // As pg_trgm computes it, in single precision.
                let similarity = count as f32 / all as f32;
                (similarity >= threshold).then(|| (self.text(id), similarity))
            })
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        found.truncate(limit);
        found.into_iter().map(|(w, s)| (w.to_owned(), s)).collect()
    }

    /// Approximate heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        let sets: usize = self.sets.iter().map(super::bitmap_bytes).sum();
        let trigrams: usize = self.trigrams.values().map(|ids| ids.capacity() * 4 + 40).sum();
        self.text.capacity()
            + self.ends.capacity() * 4
            + self.table.capacity() * 5
            + self.postings.capacity() * 4
            + self.trigram_counts.capacity()
            + sets
            + trigrams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_pg_trgms() {
        let mut words = Words::default();
        for (slot, word) in ["radiology", "riverside", "wexner", "5532"].into_iter().enumerate() {
            let id = words.intern(word);
            words.add(id, slot as u32);
        }
        // As PostgreSQL computes them: similarity('radiology', 'radiolgy') = 0.58333, and
        // similarity('wexner', 'wexnr') = 0.44444.
        assert_eq!(
            words.similar("radiolgy", 0.4, 8),
            [("radiology".to_owned(), 7.0 / 12.0)]
        );
        assert_eq!(words.similar("wexnr", 0.4, 8), [("wexner".to_owned(), 4.0 / 9.0)]);
        assert!(
            words.similar("5532", 0.4, 8).is_empty(),
            "numbers only match themselves"
        );
        assert!(words.similar("zzz", 0.4, 8).is_empty());
    }

    #[test]
    fn a_posting_holds_one_site_and_grows_into_a_set_and_back() {
        let mut words = Words::default();
        let id = words.intern("mercy");
        assert_eq!(words.intern("mercy"), id);
        assert!(words.sites(id).is_empty());
        words.add(id, 7);
        assert_eq!(words.sites(id).iter().collect::<Vec<_>>(), [7]);
        words.add(id, 3);
        words.add(id, 9);
        assert_eq!(words.sites(id).iter().collect::<Vec<_>>(), [3, 7, 9]);
        words.remove(id, 7);
        words.remove(id, 3);
        assert_eq!(words.sites(id).iter().collect::<Vec<_>>(), [9]);
        assert!(
            matches!(words.sites(id), Cow::Owned(_)),
            "back to one site in the posting"
        );
        words.remove(id, 9);
        assert!(words.sites(id).is_empty());
        assert!(
            words.similar("mercy", 0.4, 8).is_empty(),
            "a word no site has is not offered"
        );
        words.add(id, 1);
        assert_eq!(words.similar("mercyy", 0.4, 8).len(), 1);
    }
}
