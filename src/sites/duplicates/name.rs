//! Facility names as the duplicate guard compares them: taken apart into the words that tell one
//! facility from another ("Ruzelru", "Lakeshore", "Saint Mary") and the generic words many
//! facilities share ("Regional Medical Center"), so that two hospitals with one generic ending are
//! two facilities while one facility written two ways is one. See docs/duplicates.md.

use std::collections::BTreeSet;

/// A facility name taken apart for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FacilityName {
    /// The words that tell this facility apart (places, people, saints, streets), canonical, in
    /// the order written.
    distinctive: Vec<String>,
    /// Every generic word, canonical.
    generic: BTreeSet<&'static str>,
    /// The kinds of facility the generic words name: `hospital`, `imaging`, `women`, ...
    kinds: BTreeSet<&'static str>,
    /// The numbers, in the order written ("Imaging Center 2").
    numbers: Vec<String>,
    /// The whole name lower-cased: compared when it has no words at all ("!!").
    fallback: String,
}

impl FacilityName {
    /// Takes `name` apart: lower-cased, accents and punctuation folded, abbreviations expanded
    /// (`St.` before a name is Saint, `Ctr` is Center, `&` is and), stop words dropped, plurals and
    /// possessives singular, then each word sorted into distinctive, generic or number.
    pub(crate) fn parse(name: &str) -> Self {
        let words = expand(join_initials(split(name)));
        let mut parsed = Self {
            distinctive: Vec::new(),
            generic: BTreeSet::new(),
            kinds: BTreeSet::new(),
            numbers: Vec::new(),
            fallback: name.trim().to_lowercase(),
        };
        for (i, word) in words.iter().enumerate() {
            if STOP_WORDS.contains(&word.as_str()) {
                continue;
            }
            if word.bytes().any(|b| b.is_ascii_digit()) {
                parsed.numbers.push(number(word));
            } else if let Some(&(generic, kind)) = generic(word) {
                parsed.generic.insert(generic);
                parsed.kinds.extend(kind);
                let next = words.get(i + 1).map(String::as_str);
                if let Some(kind) = PHRASES
                    .iter()
                    .find(|p| p.0 == generic && Some(p.1) == next)
                    .map(|p| p.2)
                {
                    parsed.kinds.insert(kind);
                }
            } else {
                parsed.distinctive.push(word.clone());
            }
        }
        parsed
    }

    fn has_words(&self) -> bool {
        !(self.distinctive.is_empty() && self.generic.is_empty() && self.numbers.is_empty())
    }

    /// Whether the two names name the same facility. Their numbers must be the same (Imaging
    /// Center 2 is not 3); then either the whole names are the same words but for at most one typo,
    /// or both have distinctive words, these are the same but for at most one typo (or the same
    /// letters spaced differently, "Lake Shore"), and the generic words name the same kind of
    /// facility (or one name has no kind at all: "Ruzelru" and "Ruzelru Hospital").
    pub(crate) fn same_facility(&self, other: &Self) -> bool {
        if self.numbers != other.numbers {
            return false;
        }
        if !self.has_words() && !other.has_words() {
            return self.fallback == other.fallback;
        }
        let all = |name: &Self| -> Vec<String> {
            let mut words = name.distinctive.clone();
            words.extend(name.generic.iter().map(|g| g.to_string()));
            words
        };
        if within_one_typo(&all(self), &all(other)) {
            return true;
        }
        if self.distinctive.is_empty() || other.distinctive.is_empty() {
            return false;
        }
        let kinds_agree = self.kinds == other.kinds || self.kinds.is_empty() || other.kinds.is_empty();
        kinds_agree
            && (within_one_typo(&self.distinctive, &other.distinctive)
                || self.distinctive.concat() == other.distinctive.concat())
    }
}

/// Lower-cased words with accents folded and apostrophes dropped ("St. Mary's" -> `st`, `marys`);
/// `&` and `+` are "and"; any other character that is not a letter or digit separates words.
fn split(name: &str) -> Vec<String> {
    let mut folded = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            '\'' | '’' | '‘' | '`' | '´' | 'ʼ' => {}
            '&' | '+' => folded.push_str(" and "),
            // Combining accents (a name typed in decomposed form).
            '\u{300}'..='\u{36f}' => {}
            c if c.is_alphanumeric() => match fold(c) {
                Some(plain) => folded.push_str(plain),
                None => folded.push(c),
            },
            _ => folded.push(' '),
        }
    }
    folded.split_whitespace().map(str::to_owned).collect()
}

/// The plain letters of an accented Latin letter.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Runs of single letters are one word: "U.S." and "US", "N.E." and "NE".
fn join_initials(words: Vec<String>) -> Vec<String> {
    let single = |w: &str| w.len() == 1 && w.bytes().all(|b| b.is_ascii_alphabetic());
    let mut joined: Vec<String> = Vec::with_capacity(words.len());
    let mut previous_single = false;
    for word in words {
        let is_single = single(&word);
        match joined.last_mut() {
            Some(last) if is_single && previous_single => last.push_str(&word),
            _ => joined.push(word),
        }
        previous_single = is_single;
    }
    joined
}

/// Abbreviations expanded and words made singular. `St`, `Ste` and compass letters depend on
/// what follows: before a name ("St. Mary's", "N. Shore") they are Saint, Sainte and the
/// direction; elsewhere ("Oak St Imaging", "Imaging Center E") Street, Suite and the letter.
fn expand(words: Vec<String>) -> Vec<String> {
    let words: Vec<String> = words
        .into_iter()
        .filter(|w| !LEGAL_SUFFIXES.contains(&w.as_str()))
        .map(|w| {
            if w.bytes().any(|b| b.is_ascii_digit()) {
                return w;
            }
            let expanded = abbreviation(&w).or_else(|| abbreviation(singular(&w)));
            expanded.map_or_else(|| singular(&w).to_owned(), str::to_owned)
        })
        .collect();
    let names_follow: Vec<bool> = (0..words.len())
        .map(|i| words.get(i + 1).is_some_and(|next| is_name_word(next)))
        .collect();
    words
        .into_iter()
        .zip(names_follow)
        .map(|(word, name_follows)| match CONTEXTUAL.iter().find(|c| c.0 == word) {
            Some(&(_, before_a_name, otherwise)) => {
                if name_follows {
                    before_a_name.to_owned()
                } else {
                    otherwise.unwrap_or(&word).to_owned()
                }
            }
            None => word,
        })
        .collect()
}

/// A word that can be part of a proper name: not a number, stop word or generic word.
fn is_name_word(word: &str) -> bool {
    word.bytes().all(|b| !b.is_ascii_digit()) && !STOP_WORDS.contains(&word) && generic(word).is_none()
}

/// Plurals and possessives singular, for comparison only: "Hospitals", "Mary's" (after the
/// apostrophe went) and "Lukes" lose their final s; "Cross", "Marcus" and "Francis" keep it.
fn singular(word: &str) -> &str {
    let long = word.chars().count() >= 4;
    if long && word.ends_with('s') && !["ss", "us", "is"].iter().any(|e| word.ends_with(e)) {
        &word[..word.len() - 1]
    } else {
        word
    }
}

/// A number word: "2nd" and "2" are the same number.
fn number(word: &str) -> String {
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(digits) = word.strip_suffix(suffix)
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return digits.to_owned();
        }
    }
    word.to_owned()
}

fn abbreviation(word: &str) -> Option<&'static str> {
    ABBREVIATIONS.iter().find(|a| a.0 == word).map(|a| a.1)
}

fn generic(word: &str) -> Option<&'static (&'static str, Option<&'static str>)> {
    GENERIC.iter().find(|g| g.0 == word)
}

/// Whether two word lists are the same words, in any order, but for one word each that differs
/// by one typo (a letter changed, added, dropped or two swapped) in a word of 5 letters or more.
fn within_one_typo(a: &[String], b: &[String]) -> bool {
    let (mut only_a, mut only_b): (Vec<&str>, Vec<&str>) = (Vec::new(), b.iter().map(String::as_str).collect());
    for word in a {
        match only_b.iter().position(|w| w == word) {
            Some(at) => {
                only_b.swap_remove(at);
            }
            None => only_a.push(word),
        }
    }
    match (only_a.as_slice(), only_b.as_slice()) {
        ([], []) => true,
        ([x], [y]) => x.chars().count().max(y.chars().count()) >= 5 && one_edit_apart(x, y),
        _ => false,
    }
}

/// At most one edit apart: a substitution, an insertion, a deletion or a swap of neighbours.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    let prefix = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    if prefix == long.len() {
        return true;
    }
    match long.len() - short.len() {
        0 => {
            short[prefix + 1..] == long[prefix + 1..]
                || (prefix + 1 < short.len()
                    && short[prefix] == long[prefix + 1]
                    && short[prefix + 1] == long[prefix]
                    && short[prefix + 2..] == long[prefix + 2..])
        }
        1 => short[prefix..] == long[prefix + 1..],
        _ => false,
    }
}

/// Dropped: they join words but tell no facility from another.
const STOP_WORDS: &[&str] = &["the", "of", "and", "at", "for", "in", "on", "by"];

/// Dropped: the legal form of the business behind a facility.
const LEGAL_SUFFIXES: &[&str] = &["inc", "llc", "pllc", "llp", "lp", "ltd", "corp", "corporation", "pc"];

/// Abbreviations of generic and common words, to the word (singular).
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("ctr", "center"),
    ("cntr", "center"),
    ("cent", "center"),
    ("centre", "center"),
    ("med", "medical"),
    ("medl", "medical"),
    ("hosp", "hospital"),
    ("hsptl", "hospital"),
    ("reg", "regional"),
    ("regl", "regional"),
    ("rgnl", "regional"),
    ("mem", "memorial"),
    ("meml", "memorial"),
    ("gen", "general"),
    ("genl", "general"),
    ("univ", "university"),
    ("comm", "community"),
    ("cmty", "community"),
    ("cmnty", "community"),
    ("hlth", "health"),
    ("svc", "service"),
    ("serv", "service"),
    ("assoc", "associate"),
    ("dx", "diagnostic"),
    ("diag", "diagnostic"),
    ("rad", "radiology"),
    ("radiol", "radiology"),
    ("img", "imaging"),
    ("imgng", "imaging"),
    ("ortho", "orthopedic"),
    ("ped", "pediatric"),
    ("onc", "oncology"),
    ("rehab", "rehabilitation"),
    ("inst", "institute"),
    ("dept", "department"),
    ("natl", "national"),
    ("co", "county"),
    ("cnty", "county"),
    ("mt", "mount"),
    ("ft", "fort"),
];

/// Abbreviations read by what follows: (word, before a name, elsewhere; `None` keeps the word).
const CONTEXTUAL: &[(&str, &str, Option<&str>)] = &[
    ("st", "saint", Some("street")),
    ("ste", "sainte", Some("suite")),
    ("n", "north", None),
    ("s", "south", None),
    ("e", "east", None),
    ("w", "west", None),
    ("ne", "northeast", None),
    ("nw", "northwest", None),
    ("se", "southeast", None),
    ("sw", "southwest", None),
];

/// Generic facility words (singular) and the kind of facility each names, if any. Words without a
/// kind qualify a facility without changing what it is ("Regional", "Memorial", "Center").
const GENERIC: &[(&str, Option<&str>)] = &[
    ("hospital", Some("hospital")),
    ("infirmary", Some("hospital")),
    ("imaging", Some("imaging")),
    ("radiology", Some("imaging")),
    ("radiologic", Some("imaging")),
    ("radiological", Some("imaging")),
    ("diagnostic", Some("imaging")),
    ("xray", Some("imaging")),
    ("mri", Some("imaging")),
    ("ct", Some("imaging")),
    ("ultrasound", Some("imaging")),
    ("sonography", Some("imaging")),
    ("breast", Some("women")),
    ("mammography", Some("women")),
    ("women", Some("women")),
    ("woman", Some("women")),
    ("maternity", Some("women")),
    ("obstetric", Some("women")),
    ("gynecology", Some("women")),
    ("heart", Some("heart")),
    ("cardiac", Some("heart")),
    ("cardiology", Some("heart")),
    ("cardiovascular", Some("heart")),
    ("vascular", Some("heart")),
    ("cancer", Some("cancer")),
    ("oncology", Some("cancer")),
    ("orthopedic", Some("orthopedic")),
    ("orthopaedic", Some("orthopedic")),
    ("spine", Some("orthopedic")),
    ("sport", Some("orthopedic")),
    ("children", Some("children")),
    ("child", Some("children")),
    ("pediatric", Some("children")),
    ("surgery", Some("surgery")),
    ("surgical", Some("surgery")),
    ("surgicenter", Some("surgery")),
    ("urgent", Some("urgent")),
    ("emergency", Some("urgent")),
    ("clinic", Some("clinic")),
    ("practice", Some("clinic")),
    ("rehabilitation", Some("rehabilitation")),
    ("therapy", Some("rehabilitation")),
    ("behavioral", Some("behavioral")),
    ("psychiatric", Some("behavioral")),
    ("laboratory", Some("laboratory")),
    ("lab", Some("laboratory")),
    ("hospice", Some("hospice")),
    ("nursing", Some("nursing")),
    ("dialysis", Some("dialysis")),
    ("veteran", Some("veteran")),
    ("center", None),
    ("regional", None),
    ("community", None),
    ("general", None),
    ("memorial", None),
    ("health", None),
    ("healthcare", None),
    ("medical", None),
    ("medicine", None),
    ("outpatient", None),
    ("inpatient", None),
    ("ambulatory", None),
    ("system", None),
    ("network", None),
    ("service", None),
    ("associate", None),
    ("partner", None),
    ("group", None),
    ("institute", None),
    ("foundation", None),
    ("campus", None),
    ("specialty", None),
    ("specialist", None),
    ("physician", None),
    ("care", None),
    ("family", None),
    ("primary", None),
    ("university", None),
    ("academic", None),
    ("department", None),
    ("unit", None),
    ("affiliate", None),
    ("affair", None),
    ("county", None),
    ("district", None),
    ("national", None),
];

/// Two generic words that together name a kind neither names alone: a Medical Center is a
/// hospital, a Health Center a clinic.
const PHRASES: &[(&str, &str, &str)] = &[("medical", "center", "hospital"), ("health", "center", "clinic")];

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        let (a, b) = (FacilityName::parse(a), FacilityName::parse(b));
        let forward = a.same_facility(&b);
        assert_eq!(forward, b.same_facility(&a), "symmetric");
        forward
    }

    #[test]
    fn the_same_facility_written_differently() {
        for (a, b) in [
            ("St. Mary's Hospital", "ST MARYS HOSPITAL"),
            ("St. Mary's Hospital", "Saint Mary's Hospital"),
            ("St. Mary's Hospital", "St. Mary's Hospitals"),
            ("Saint Mary Hospital", "St. Mary's Hosp."),
            ("Ruzelru Regional Medical Center", "Ruzelru Reg. Med. Ctr."),
            ("Ruzelru Regional Medical Center", "Ruzelru Regional Medical Centre"),
            ("Women & Infants Hospital", "Women and Infants Hospital"),
            ("Ruzelru Lakeshore Imaging", "Lakeshore Ruzelru Imaging"),
            ("Radiology Associates of Ruzelru", "Ruzelru Radiology Associates"),
            ("Ruzelru Imaging Center", "Ruzelu Imaging Center"),
            ("Ruzelru Imaging Center", "Ruzerlu Imaging Center"),
            ("Ruzelru Imaging Center", "Ruzelrru Imaging Center"),
            ("Ruzelru Imaging Center", "Ruzelru Imaging Centre, Inc."),
            ("Ruzelru Regional Medical Center", "Ruzelru Regional Medcal Center"),
            ("Ruzelru Imaging", "Ruzelru Outpatient Imaging Center"),
            ("Ruzelru", "Ruzelru Regional Medical Center"),
            ("Ruzelru Regional Hospital", "Ruzelru Regional Medical Center"),
            ("Regional Medical Center of Ruzelru", "Ruzelru Regional Medical Center"),
            ("Lake Shore Hospital", "Lakeshore Hospital"),
            ("Hôpital Sainte-Justine", "Hopital Ste. Justine"),
            ("N. Shore Medical Center", "North Shore Medical Center"),
            ("U.S. Imaging", "US Imaging"),
            ("Imaging Center 2", "imaging ctr. #2"),
            ("Imaging Center 2nd", "Imaging Center 2"),
            ("Community Hospital", "The Community Hospital"),
            ("!!", "!!"),
        ] {
            assert!(same(a, b), "{a:?} and {b:?} are one facility");
        }
    }

    #[test]
    fn different_facilities_sharing_generic_words() {
        for (a, b) in [
            (
                "Ruzelru Lakeshore Regional Medical Center",
                "Tordraru Lakeshore Regional Medical Center",
            ),
            ("Ruzelru Imaging Center", "Tordraru Imaging Center"),
            ("Imaging Center 2", "Imaging Center 3"),
            ("Ruzelru Imaging Center 2", "Ruzelru Imaging Center 3"),
            ("Radiology Center 1 2", "Radiology Center 2 1"),
            ("Imaging Center", "Ruzelru Imaging Center"),
            ("Imaging Center", "Breast Center"),
            ("Community Hospital", "Regional Medical Center"),
            ("Ruzelru Medical Center", "Ruzelru Imaging Center"),
            ("Ruzelru Hospital", "Ruzelru Breast Center"),
            ("Ruzelru Imaging Center", "Ruzelru Women's Imaging Center"),
            ("Ruzelru Hospital", "Ruzelru Children's Hospital"),
            ("Ruzelru Breast Center", "Ruzelru Breast Imaging"),
            ("Ruzelru Hospital", "Ruzelru Lakeshore Hospital"),
            ("St. Mary's Hospital", "St. Mark's Hospital"),
            ("St. Mary's Hospital", "Mary's Hospital"),
            ("Oak Street Imaging", "Oak Avenue Imaging"),
            ("Oak St Imaging", "Saint Oak Imaging"),
            ("Imaging Center A", "Imaging Center B"),
            ("Imaging Center II", "Imaging Center III"),
            ("Saint Clare Hospital", "Saint Cloud Hospital"),
            ("!!", "??"),
        ] {
            assert!(!same(a, b), "{a:?} and {b:?} are two facilities");
        }
    }

    #[test]
    fn names_come_apart_into_distinctive_generic_and_numbers() {
        let name = FacilityName::parse("St. Luke's Reg'l Med. Ctr. & Imaging, 2nd Floor");
        assert_eq!(name.distinctive, ["saint", "luke", "floor"]);
        assert_eq!(name.numbers, ["2"]);
        assert_eq!(
            name.generic,
            BTreeSet::from(["regional", "medical", "center", "imaging"])
        );
        assert_eq!(name.kinds, BTreeSet::from(["hospital", "imaging"]));
        assert_eq!(FacilityName::parse("Main St Imaging").distinctive, ["main", "street"]);
        assert_eq!(FacilityName::parse("St. Main Imaging").distinctive, ["saint", "main"]);
    }

    #[test]
    fn one_edit() {
        for (a, b) in [
            ("ruzelru", "ruzelru"),
            ("ruzelru", "ruzelu"),
            ("ruzelru", "ruzerlu"),
            ("abc", "abd"),
        ] {
            assert!(one_edit_apart(a, b) && one_edit_apart(b, a), "{a} {b}");
        }
        for (a, b) in [
            ("ruzelru", "tordraru"),
            ("ruzelru", "ruzel"),
            ("abcd", "badc"),
            ("ab", "ba c"),
        ] {
            assert!(!one_edit_apart(a, b) && !one_edit_apart(b, a), "{a} {b}");
        }
    }
}
