//! Typo-tolerant text search by words.
//!
//! Each word of `q` is resolved against the search index's dictionary of the words that occur in
//! sites' names, cities and aliases ([`Words`]): it stands for the dictionary words at least
//! [`SIMILARITY`] similar to it by trigrams, as pg_trgm measures it (numbers only for themselves). A site matches when, for every word
//! of `q`, it has one of that word's expansions; its relevance is the mean, over the words of `q`,
//! of the similarity of the best expansion it has (1.0 when it has every word exactly). Common
//! words (`of`, `the`, ...) and words like nothing in the dictionary (no site could have them) are
//! left out; when no word is left, nothing matches.
//!
//! The sites that have one particular choice of expansions (a [`Combo`]) all share a relevance:
//! the search index intersects the chosen words' sets of sites, and a page in `(relevance desc,
//! id)` order takes each combination's sites in id order.

use super::index::words::{Words, is_number};

/// How similar (pg_trgm `similarity`, 0 to 1) a dictionary word must be to a query word to count
/// as the same word: `radiolgy` ~ `radiology` is 0.58, `wexnr` ~ `wexner` 0.44.
pub(crate) const SIMILARITY: f32 = 0.4;

/// Words of `q` beyond this many are ignored.
pub(crate) const MAX_WORDS: usize = 6;

/// Words too common to narrow a search: left out of `q` (unless it has nothing else), so "Mercy
/// Hospital of Springfield" finds "Mercy Hospital Springfield".
const STOP_WORDS: &[&str] = &["a", "an", "and", "at", "for", "in", "of", "on", "the", "to"];

/// A text query resolved against the dictionary. A walk's cursor carries it, so every page of the
/// walk uses the same expansions even if the dictionary changes meanwhile.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct TextQuery {
    /// Per query word, its expansions with their similarity, best first.
    expansions: Vec<Vec<(String, f32)>>,
}

/// One choice of expansion per query word.
#[derive(Debug, Clone)]
pub(crate) struct Combo {
    /// The chosen word for each query word.
    pub(crate) words: Vec<String>,
    /// For each query word, the expansions ranked before the chosen one: a site having one of them
    /// belongs to a better combination, so it is excluded here (each site appears once).
    pub(crate) better: Vec<Vec<String>>,
    /// The relevance of every site of this combination.
    pub(crate) score: f32,
}

/// The words of a text, normalized as site names are (`normalize_site_name` in the database):
/// lower case, apostrophes and dots dropped, split at anything else that is not alphanumeric.
pub(crate) fn words(text: &str) -> Vec<String> {
    // Character by character, as PostgreSQL's `lower()` does ('İ' is 'i', not "i̇").
    let lowered: String = text
        .chars()
        .filter_map(|c| c.to_lowercase().next())
        .filter(|c| !['\'', '’', '`', '.'].contains(c))
        .collect();
    let mut words: Vec<String> = Vec::new();
    for word in lowered.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !words.iter().any(|w| w == word) {
            words.push(word.to_owned());
        }
    }
    words
}

impl TextQuery {
    /// Looks up the expansions of each word of `q` in the index's dictionary.
    pub(crate) fn resolve(dictionary: &Words, q: &str) -> Self {
        let mut words = words(q);
        if words.iter().any(|w| !STOP_WORDS.contains(&w.as_str())) {
            words.retain(|w| !STOP_WORDS.contains(&w.as_str()));
        }
        words.truncate(MAX_WORDS);
        // Fewer expansions per word the more words there are: at most 64 combinations.
        let per_word = match words.len() {
            0 | 1 => 8,
            2 => 5,
            3 => 3,
            _ => 2,
        };
        let expansions = words
            .iter()
            .map(|word| {
                if is_number(word) {
                    vec![(word.clone(), 1.0)]
                } else {
                    dictionary.similar(word, SIMILARITY, per_word)
                }
            })
            .collect();
        Self { expansions }
    }

    /// Every combination of expansions, best first (then by the expansions' ranks), over the words
    /// that have expansions. Empty when none has: nothing matches.
    pub(crate) fn combos(&self) -> Vec<Combo> {
        let expansions: Vec<&Vec<(String, f32)>> = self.expansions.iter().filter(|e| !e.is_empty()).collect();
        if expansions.is_empty() {
            return Vec::new();
        }
        let mut ranks: Vec<Vec<usize>> = vec![Vec::new()];
        for expansions in &expansions {
            ranks = ranks
                .into_iter()
                .flat_map(|prefix| {
                    (0..expansions.len()).map(move |j| {
                        let mut next = prefix.clone();
                        next.push(j);
                        next
                    })
                })
                .collect();
        }
        let n = expansions.len() as f64;
        let mut combos: Vec<(Vec<usize>, Combo)> = ranks
            .into_iter()
            .map(|rank| {
                let chosen = rank.iter().zip(&expansions).map(|(&j, e)| &e[j]);
                let score = (chosen.clone().map(|(_, sim)| f64::from(*sim)).sum::<f64>() / n) as f32;
                let combo = Combo {
                    words: chosen.map(|(word, _)| word.clone()).collect(),
                    better: rank
                        .iter()
                        .zip(&expansions)
                        .map(|(&j, e)| e[..j].iter().map(|(w, _)| w.clone()).collect())
                        .collect(),
                    score,
                };
                (rank, combo)
            })
            .collect();
        combos.sort_by(|(ra, a), (rb, b)| b.score.total_cmp(&a.score).then_with(|| ra.cmp(rb)));
        combos.into_iter().map(|(_, combo)| combo).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(expansions: &[&[(&str, f32)]]) -> TextQuery {
        TextQuery {
            expansions: expansions
                .iter()
                .map(|e| e.iter().map(|(w, s)| ((*w).to_owned(), *s)).collect())
                .collect(),
        }
    }

    #[test]
    fn words_are_normalized_like_names_and_deduplicated() {
        assert_eq!(words("St. Mary's  RADIOLOGY, radiology"), ["st", "marys", "radiology"]);
        assert_eq!(words(" -- "), Vec::<String>::new());
        assert_eq!(
            words("İZMİR Clinic"),
            ["izmir", "clinic"],
            "one character for one, like lower()"
        );
    }

    #[test]
    fn combinations_are_best_first_and_exclude_better_words() {
        let q = query(&[&[("riverside", 1.0), ("riverview", 0.5)], &[("radiology", 0.6)]]);
        let combos = q.combos();
        assert_eq!(combos.len(), 2);
        assert_eq!(combos[0].words, ["riverside", "radiology"]);
        assert_eq!(combos[0].score, 0.8);
        assert!(combos[0].better.iter().all(Vec::is_empty));
        assert_eq!(combos[1].words, ["riverview", "radiology"]);
        assert_eq!(combos[1].better, [vec!["riverside".to_owned()], vec![]]);
        assert!(combos[1].score < combos[0].score);
    }

    #[test]
    fn words_without_expansions_are_left_out_and_none_left_matches_nothing() {
        let combos = query(&[&[("riverside", 1.0)], &[]]).combos();
        assert_eq!(combos.len(), 1);
        assert_eq!(combos[0].words, ["riverside"]);
        assert_eq!(combos[0].score, 1.0);
        assert!(query(&[&[], &[]]).combos().is_empty());
        assert!(query(&[]).combos().is_empty());
    }
}
