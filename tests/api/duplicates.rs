//! The duplicate guard refuses duplicates only: over a thousand distinct facilities sharing ZIP
//! codes and generic words are all accepted, and every one of well over a hundred true duplicates,
//! written in each of the ways people write one facility differently, is refused with a 409 naming
//! the listed site. Then the rules around it: street numbers, NPIs, renames, concurrency.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use clinical_sites::config::Config;
use serde_json::{Value, json};

use crate::support::{Rng, TestApp, TestResponse, site_body};

/// ZIP codes the fixture fills, 42 facilities each.
const ZIPS: [&str; 25] = [
    "43201", "43202", "43203", "43204", "43205", "43206", "43207", "43209", "43210", "43211", "43212", "43213",
    "43214", "43215", "43219", "43220", "43221", "43222", "43223", "43224", "43227", "43228", "43229", "43230",
    "43231",
];
const PER_ZIP: usize = 42;

/// Generic endings, grouped by the kind of facility they name: one stem may carry one ending of
/// each group (a hospital and the imaging center beside it are two sites), never two of a group.
const ENDINGS: &[&[&str]] = &[
    &[
        "Regional Medical Center",
        "Medical Center",
        "Community Hospital",
        "Hospital",
        "Memorial Hospital",
        "General Hospital",
        "University Hospital",
    ],
    &[
        "Imaging Center",
        "Outpatient Imaging",
        "Diagnostic Imaging",
        "Radiology",
        "Radiology Associates",
        "MRI and CT Center",
    ],
    &["Breast Center", "Women's Imaging Center", "Breast Imaging"],
    &["Heart and Vascular Center", "Heart Institute"],
    &["Cancer Center", "Cancer Institute"],
    &["Children's Hospital"],
    &["Surgery Center"],
    &["Urgent Care"],
    &["Family Health Clinic", "Clinic"],
];
/// Place words that many stems of one ZIP share ("Ruzelru Lakeshore", "Tordraru Lakeshore").
const PLACES: &[&str] = &[
    "Lakeshore",
    "Riverside",
    "Hillcrest",
    "Valley",
    "Summit",
    "Harbor",
    "Parkview",
    "Westfield",
    "Meadowbrook",
    "Fairview",
    "Oakwood",
    "Bayview",
];
/// Saints, as facility names write them.
const SAINTS: &[&str] = &[
    "St. Mary's",
    "Saint Joseph",
    "St. Luke's",
    "St. Francis",
    "Saint Vincent",
    "St. Elizabeth",
    "St. Anthony",
    "Saint Catherine",
    "St. Agnes",
    "St. Clare",
    "St. Jude",
    "Saint Peter",
    "St. Michael",
    "St. Rita's",
    "Saint Margaret",
    "St. Patrick",
    "St. Thomas",
    "St. Bernard",
    "St. Dominic",
    "Saint Raphael",
    "St. Benedict",
    "St. Teresa",
    "St. Gabriel",
    "St. Cloud",
];
const TREES: &[&str] = &[
    "Oak", "Maple", "Elm", "Cedar", "Pine", "Birch", "Willow", "Walnut", "Chestnut", "Magnolia", "Sycamore",
];
const WAYS: &[&str] = &["Street", "Avenue", "Road", "Parkway"];

/// An invented place or family name such as "Ruzelru" or "Tordraru": at least 6 letters, with a
/// z, k, v or x or a consonant cluster, so it is never an English word of facility names.
fn invented(rng: &mut Rng) -> String {
    const ONSETS: &[&str] = &[
        "b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u"];
    const CODAS: &[&str] = &["", "", "", "l", "n", "r", "m"];
    loop {
        let mut word = String::new();
        for _ in 0..2 + rng.below(2) {
            word.push_str(rng.pick(ONSETS));
            word.push_str(rng.pick(VOWELS));
            word.push_str(rng.pick(CODAS));
        }
        let unusual =
            word.contains(['z', 'k', 'v', 'x']) || ["br", "dr", "gr", "kr", "tr"].iter().any(|c| word.contains(c));
        if word.len() >= 6 && unusual {
            let mut chars = word.chars();
            let first = chars.next().unwrap().to_ascii_uppercase();
            return std::iter::once(first).chain(chars).collect();
        }
    }
}

/// The letters of a name's distinctive part, lower-cased: what the fixture keeps apart.
fn letters(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Edit distance with adjacent transpositions (the fixture's own, not the server's).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// A facility of the fixture.
#[derive(Debug, Clone)]
struct Facility {
    zip: &'static str,
    /// The distinctive part ("Ruzelru Lakeshore", "St. Mary's", "Oak Street"); empty for a name of
    /// generic words only ("Imaging Center 2").
    stem: String,
    name: String,
    npi: Option<String>,
}

/// A valid NPI: nine digits from `seed` and the Luhn check digit over the prefix 80840.
pub(crate) fn npi(seed: u64) -> String {
    let payload = format!("{:09}", seed % 1_000_000_000);
    let digits: Vec<u32> = format!("80840{payload}").bytes().map(|b| u32::from(b - b'0')).collect();
    // The check digit will be rightmost, so the payload's rightmost digit is doubled.
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    format!("{payload}{}", (10 - sum % 10) % 10)
}

/// The distinct facilities: 42 in each of 25 ZIP codes. In one ZIP, distinctive parts are at least
/// three edits apart (so one typo never lands near another facility); many share a place word, and
/// all share generic endings; some stems carry endings of several kinds (the hospital and its
/// imaging center); numbered ones differ only in their number; a few names are generic words only.
fn distinct_facilities() -> Vec<Facility> {
    let mut rng = Rng(0x5eed_d0b1_e5a1_07e5);
    let mut facilities = Vec::new();
    let mut npi_seed = 100_000_000u64;
    for (z, &zip) in ZIPS.iter().enumerate() {
        let mut in_zip: Vec<Facility> = Vec::new();
        let mut stems: Vec<String> = Vec::new();
        let mut add = |in_zip: &mut Vec<Facility>, stem: &str, name: String, rng: &mut Rng| {
            let with_npi = rng.below(6) == 0;
            if with_npi {
                npi_seed += 7919;
            }
            in_zip.push(Facility {
                zip,
                stem: stem.to_owned(),
                name,
                npi: with_npi.then(|| npi(npi_seed)),
            });
        };
        let far_enough =
            |stems: &[String], stem: &str| stems.iter().all(|other| distance(&letters(other), &letters(stem)) >= 3);
        if z == 0 {
            // The pair that the trigram guard refused.
            for stem in ["Ruzelru Lakeshore", "Tordraru Lakeshore"] {
                stems.push(stem.to_owned());
                add(&mut in_zip, stem, format!("{stem} Regional Medical Center"), &mut rng);
            }
        }
        // Names of generic words only, told apart by their words or their number.
        for name in [
            "Imaging Center 2",
            "Imaging Center 3",
            "Community Hospital",
            "Breast Center",
        ] {
            if rng.below(2) == 0 || z == 0 {
                add(&mut in_zip, "", name.to_owned(), &mut rng);
            }
        }
        let place = rng.pick(PLACES);
        while in_zip.len() < PER_ZIP {
            let stem = match rng.below(10) {
                0..=3 => invented(&mut rng),
                // Several stems of the ZIP share this place word.
                4 | 5 => format!("{} {place}", invented(&mut rng)),
                6 => rng.pick(SAINTS).to_owned(),
                7 => format!("{} {}", rng.pick(TREES), rng.pick(WAYS)),
                8 => format!("{} and {}", invented(&mut rng), invented(&mut rng)),
                _ => format!("{} {}", invented(&mut rng), rng.pick(PLACES)),
            };
            if !far_enough(&stems, &stem) {
                continue;
            }
            stems.push(stem.clone());
            let room = PER_ZIP - in_zip.len();
            match rng.below(8) {
                // The hospital and the imaging center (or another kind) of one name.
                0 | 1 if room >= 2 => {
                    let first = rng.below(ENDINGS.len());
                    let second = (first + 1 + rng.below(ENDINGS.len() - 1)) % ENDINGS.len();
                    for group in [first, second] {
                        let ending = rng.pick(ENDINGS[group]);
                        add(&mut in_zip, &stem, format!("{stem} {ending}"), &mut rng);
                    }
                }
                // Numbered sites of one name.
                2 if room >= 2 => {
                    let ending = rng.pick(&["Imaging Center", "Outpatient Imaging", "Urgent Care"]);
                    for number in [2, 3] {
                        add(&mut in_zip, &stem, format!("{stem} {ending} {number}"), &mut rng);
                    }
                }
                // "Radiology Associates of Ruzelru".
                3 => add(&mut in_zip, &stem, format!("Radiology Associates of {stem}"), &mut rng),
                _ => {
                    let group = rng.below(ENDINGS.len());
                    let ending = rng.pick(ENDINGS[group]);
                    add(&mut in_zip, &stem, format!("{stem} {ending}"), &mut rng);
                }
            }
        }
        facilities.extend(in_zip);
    }
    facilities
}

/// One way of writing a listed facility differently: its label and the new name (`None` where the
/// variant does not apply to this name).
type Variant = (&'static str, fn(&Facility, usize) -> Option<String>);

const VARIANTS: &[Variant] = &[
    ("case", |f, i| {
        Some(if i % 2 == 0 {
            f.name.to_uppercase()
        } else {
            f.name.to_lowercase()
        })
    }),
    ("punctuation", |f, i| {
        let bare: String = f.name.chars().filter(|c| !matches!(c, '.' | '\'')).collect();
        let stem_end = f.stem.len();
        if f.stem.is_empty() || bare == f.name && i % 2 == 0 {
            return Some(format!("{}.", f.name.replace(' ', "  ")));
        }
        if i % 2 == 0 {
            Some(bare)
        } else {
            // "Ruzelru Lakeshore - Regional Medical Center, "
            f.name
                .starts_with(&f.stem)
                .then(|| format!("{} -{},", &f.name[..stem_end], &f.name[stem_end..]))
        }
    }),
    ("St./Saint", |f, _| {
        if f.name.contains("St. ") {
            Some(f.name.replacen("St. ", "Saint ", 1))
        } else if f.name.contains("Saint ") {
            Some(f.name.replacen("Saint ", "St ", 1))
        } else {
            None
        }
    }),
    ("Ctr/Center", |f, i| {
        f.name
            .contains("Center")
            .then(|| f.name.replace("Center", if i % 2 == 0 { "Ctr" } else { "Ctr." }))
    }),
    ("Med/Medical", |f, i| {
        f.name
            .contains("Medical")
            .then(|| f.name.replace("Medical", if i % 2 == 0 { "Med" } else { "Med." }))
    }),
    ("&/and", |f, _| {
        if f.name.contains(" and ") {
            Some(f.name.replacen(" and ", " & ", 1))
        } else {
            None
        }
    }),
    ("word order", |f, _| {
        if let Some(rest) = f.name.strip_prefix("Radiology Associates of ") {
            return Some(format!("{rest} Radiology Associates"));
        }
        let ending = f.name.strip_prefix(&f.stem)?.trim();
        match f.stem.split(' ').collect::<Vec<_>>().as_slice() {
            // "Lakeshore Ruzelru Regional Medical Center"
            [first, place] if PLACES.contains(place) => Some(format!("{place} {first} {ending}")),
            // "Regional Medical Center of Ruzelru", "Hospital of Saint Joseph"
            _ if !f.stem.is_empty() && !ending.chars().any(|c| c.is_ascii_digit()) => {
                Some(format!("{ending} of {}", f.stem))
            }
            _ => None,
        }
    }),
    ("one typo", |f, i| {
        // In the longest word of the distinctive part, if it has 5 letters or more.
        let word = f.stem.split(' ').max_by_key(|w| w.len())?;
        let clean = letters(word);
        if clean.len() < 5 || word.contains(['.', '\'']) {
            return None;
        }
        let chars: Vec<char> = word.chars().collect();
        let at = 2 + i % (chars.len() - 3);
        let mut typo = chars.clone();
        match i % 4 {
            0 => typo[at] = if chars[at] == 'e' { 'a' } else { 'e' },
            1 => {
                typo.remove(at);
            }
            2 => typo.insert(at, chars[at]),
            _ => typo.swap(at, at + 1),
        }
        let typo: String = typo.into_iter().collect();
        (typo != word).then(|| f.name.replacen(word, &typo, 1))
    }),
];

async fn create(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(Method::POST, "/v1/sites", Some(token), Some(body)).await
}

fn body_of(facility: &Facility) -> Value {
    let mut body = site_body(&facility.name, facility.zip);
    if let Some(npi) = &facility.npi {
        body["npi"] = json!(npi);
    }
    body
}

/// Asserts that `response` is the 409 of a duplicate of `site` (as created), found by `matched_on`.
fn assert_refused_as_duplicate_of(response: &TestResponse, site: &Value, matched_on: &str, what: &str) {
    assert_eq!(response.status, StatusCode::CONFLICT, "{what}: {response:?}");
    let problem = response.problem();
    assert_eq!(problem.kind, "/problems/conflict", "{what}");
    let existing = problem.existing.unwrap_or_else(|| panic!("{what}: no existing site"));
    let id = site["site_id"].as_str().unwrap();
    assert_eq!(
        existing.id.to_string(),
        id,
        "{what}: names {:?}, not {}",
        existing.name,
        site["name"]
    );
    assert_eq!(existing.href, format!("/v1/sites/{id}"), "{what}");
    assert_eq!(existing.name.as_deref(), site["name"].as_str(), "{what}");
    assert_eq!(existing.street.as_deref(), site["street"].as_str(), "{what}");
    assert_eq!(existing.city.as_deref(), site["city"].as_str(), "{what}");
    assert_eq!(existing.state.as_deref(), site["state"].as_str(), "{what}");
    assert_eq!(existing.postal_code.as_deref(), site["postal_code"].as_str(), "{what}");
    assert_eq!(existing.matched_on.as_deref(), Some(matched_on), "{what}");
}

async fn site_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from site")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_thousand_distinct_facilities_are_accepted_and_every_duplicate_is_refused() {
    let app = TestApp::with_config(Config {
        rate_limit_per_minute: 0,
        ..Config::defaults()
    })
    .await;
    let (_, token) = app.member("ann").await;
    let facilities = distinct_facilities();
    assert!(facilities.len() >= 1000, "{}", facilities.len());
    let names: std::collections::BTreeSet<(&str, &str)> = facilities.iter().map(|f| (f.zip, f.name.as_str())).collect();
    assert_eq!(names.len(), facilities.len(), "the fixture's names are distinct");
    let pair = [
        "Ruzelru Lakeshore Regional Medical Center",
        "Tordraru Lakeshore Regional Medical Center",
    ];
    assert!(
        pair.iter()
            .all(|name| facilities.iter().any(|f| f.name == *name && f.zip == ZIPS[0]))
    );

    let started = std::time::Instant::now();
    let mut refused = Vec::new();
    let mut created: Vec<(Facility, Value)> = Vec::new();
    for facility in &facilities {
        let response = create(&app, &token, &body_of(facility)).await;
        match response.status {
            StatusCode::CREATED => created.push((facility.clone(), response.json())),
            StatusCode::CONFLICT => {
                let existing = response.problem().existing.and_then(|e| e.name).unwrap_or_default();
                refused.push(format!("{} {:?} (as {existing:?})", facility.zip, facility.name));
            }
            other => panic!("{other} for {facility:?}: {response:?}"),
        }
    }
    eprintln!(
        "{} distinct facilities created in {:?}",
        facilities.len(),
        started.elapsed()
    );
    assert!(
        refused.is_empty(),
        "{} of {} distinct facilities were refused: {refused:#?}",
        refused.len(),
        facilities.len()
    );

    // Duplicates: each variant applied to listed facilities in turn, 20 of each where it applies.
    let started = std::time::Instant::now();
    let mut tried: BTreeMap<&str, usize> = BTreeMap::new();
    for (v, (label, variant)) in VARIANTS.iter().enumerate() {
        let mut i = 0;
        for (facility, site) in created.iter().skip(v * 37).chain(created.iter().take(v * 37)) {
            let Some(name) = variant(facility, i) else {
                continue;
            };
            assert_ne!(name, facility.name, "{label}");
            let mut body = site_body(&name, facility.zip);
            body["site_type"] = json!("hospital");
            let response = create(&app, &token, &body).await;
            assert_refused_as_duplicate_of(
                &response,
                site,
                "name",
                &format!("{label}: {name:?} ({:?})", facility.name),
            );
            i += 1;
            if i == 20 {
                break;
            }
        }
        tried.insert(label, i);
    }
    // The same NPI under another name, in the same ZIP and in another.
    let mut i = 0;
    for (facility, site) in created.iter().filter(|(f, _)| f.npi.is_some()).take(20) {
        let zip = if i % 4 == 3 {
            ZIPS[(i + 5) % ZIPS.len()]
        } else {
            facility.zip
        };
        let mut body = site_body(&format!("Outpatient Campus {i}"), zip);
        body["npi"] = json!(facility.npi);
        let response = create(&app, &token, &body).await;
        assert_refused_as_duplicate_of(
            &response,
            site,
            "npi",
            &format!("same NPI: {:?} in {zip}", facility.name),
        );
        i += 1;
    }
    tried.insert("same NPI", i);
    eprintln!("duplicates tried in {:?}: {tried:?}", started.elapsed());
    for (label, count) in &tried {
        assert!(*count >= 10, "too few duplicates of the kind {label}: {count}");
    }
    assert!(tried.values().sum::<usize>() >= 100, "{tried:?}");
    assert_eq!(
        site_count(&app).await,
        facilities.len() as i64,
        "no duplicate was created"
    );
}

fn at(name: &str, zip: &str, street: Option<&str>, npi: Option<&str>) -> Value {
    let mut body = site_body(name, zip);
    if let Some(street) = street {
        body["street"] = json!(street);
    }
    if let Some(npi) = npi {
        body["npi"] = json!(npi);
    }
    body
}

#[tokio::test]
async fn building_numbers_and_npis_tell_sites_of_one_name_apart() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    // Two buildings of one imaging group in one ZIP code are two sites.
    let main = app
        .create_site(&token, &at("Ruzelru Imaging", "43210", Some("100 Main St"), None))
        .await;
    app.create_site(&token, &at("Ruzelru Imaging", "43210", Some("2200 Oak Ave"), None))
        .await;
    let same_building = create(
        &app,
        &token,
        &at("Ruzelru Imaging", "43210", Some("100 Main Street, Suite 4"), None),
    )
    .await;
    assert_refused_as_duplicate_of(&same_building, &main, "name", "the same building");
    let no_street = create(&app, &token, &at("Ruzelru Imaging Ctr.", "43210", None, None)).await;
    assert_refused_as_duplicate_of(&no_street, &main, "name", "no street: the oldest of the name");

    // Two NPIs are two providers; the same NPI is one facility, in any ZIP code and by any name.
    let (first, second) = (npi(111_111_111), npi(222_222_222));
    let hospital = app
        .create_site(&token, &at("Tordraru Hospital", "43210", None, Some(&first)))
        .await;
    app.create_site(&token, &at("Tordraru Hospital", "43210", None, Some(&second)))
        .await;
    let without = create(&app, &token, &at("Tordraru Hospital", "43210", None, None)).await;
    assert_refused_as_duplicate_of(&without, &hospital, "name", "a name without an NPI");
    let elsewhere = create(
        &app,
        &token,
        &at("Downtown Outpatient Campus", "44114", Some("1 Lake Ave"), Some(&first)),
    )
    .await;
    assert_refused_as_duplicate_of(&elsewhere, &hospital, "npi", "the same NPI elsewhere");
    let problem = elsewhere.problem();
    assert!(
        problem.detail.contains("Tordraru Hospital") && problem.detail.contains("NPI"),
        "{}",
        problem.detail
    );
    assert_eq!(site_count(&app).await, 4);
}

#[tokio::test]
async fn a_change_onto_a_listed_facility_is_refused_and_others_are_not() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let listed_npi = npi(333_333_333);
    let ruzelru = app
        .create_site(
            &admin,
            &at(
                "Ruzelru Lakeshore Regional Medical Center",
                "43210",
                Some("1 Lakeshore Dr"),
                Some(&listed_npi),
            ),
        )
        .await;
    let mut cleveland = at("Tordraru Lakeshore Regional Medical Center", "44114", None, None);
    cleveland["city"] = json!("Cleveland");
    let cleveland = app.create_site(&admin, &cleveland).await;
    let site = app
        .create_site(&admin, &site_body("Tordraru Imaging Center", "43210"))
        .await;
    let id = site["site_id"].as_str().unwrap();

    let renamed = app
        .patch_site(
            &admin,
            id,
            "\"1\"",
            &json!({"name": "Ruzelru Lakeshore Reg. Med. Ctr."}),
        )
        .await;
    assert_refused_as_duplicate_of(&renamed, &ruzelru, "name", "a rename onto a listed site");
    let npi = app.patch_site(&admin, id, "\"1\"", &json!({"npi": listed_npi})).await;
    assert_refused_as_duplicate_of(&npi, &ruzelru, "npi", "another site's NPI");
    let moved = app
        .patch_site(
            &admin,
            id,
            "\"1\"",
            &json!({"name": "Tordraru Lakeshore Regional Medical Center", "postal_code": "44114", "city": "Cleveland"}),
        )
        .await;
    assert_refused_as_duplicate_of(&moved, &cleveland, "name", "a move onto a listed site");
    assert_eq!(app.history_count(id).await, 1, "nothing changed");

    // Sharing the generic and place words of a listed site is fine, and so is its own new spelling.
    for (etag, name) in [
        ("\"1\"", "Tordraru Lakeshore Regional Medical Center"),
        ("\"2\"", "Tordraru Lakeshore Regional Med. Ctr."),
    ] {
        let response = app.patch_site(&admin, id, etag, &json!({"name": name})).await;
        assert_eq!(response.status, StatusCode::OK, "{name}: {response:?}");
    }
}

#[tokio::test]
async fn concurrent_writes_of_one_facility_have_one_winner() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let (_, token) = app.member("ann").await;
    let names = [
        "St. Mary's Regional Medical Center",
        "Saint Marys Regional Medical Center",
        "ST. MARY'S REGIONAL MED CTR",
        "St Mary Regional Medical Centre",
        "Regional Medical Center of Saint Mary",
        "St. Mary's Reg. Med. Center",
        "Saint Mary's Regional Medical Ctr.",
        "st. mary's regional medical center",
    ];
    let tasks: Vec<_> = names
        .iter()
        .map(|name| {
            let (app, token) = (app.clone(), token.clone());
            let body = site_body(name, "43210");
            tokio::spawn(async move { create(&app, &token, &body).await })
        })
        .collect();
    let mut created = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        let response = task.await.unwrap();
        match response.status {
            StatusCode::CREATED => created.push(response.json()),
            StatusCode::CONFLICT => refused.push(response.problem().existing.unwrap().id.to_string()),
            other => panic!("{other}: {response:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one listing");
    let winner = created[0]["site_id"].as_str().unwrap();
    assert!(refused.iter().all(|id| id == winner), "the rest name it");
    assert_eq!(site_count(&app).await, 1);
}

#[tokio::test]
async fn odd_names_are_compared_without_failing() {
    let app = TestApp::new().await;
    let (_, token) = app.member("ann").await;
    let long = format!("{} Imaging", "Zorvath ".repeat(23).trim());
    let names = [
        "!!",
        "??",
        "🏥🏥",
        "St.",
        "St. St. St.",
        "& &",
        "12345",
        "Ⅻ Imaging",
        "Straße Klinik",
        "Strasse Klinik",
        "Ñandú Hospital",
        "Nandu Hospital",
        "A B C D E",
        "N S E W",
        "Ste",
        "co co co",
        long.as_str(),
    ];
    let mut statuses = Vec::new();
    for name in names {
        let response = create(&app, &token, &site_body(name, "43210")).await;
        assert!(
            matches!(response.status, StatusCode::CREATED | StatusCode::CONFLICT),
            "{name:?}: {response:?}"
        );
        if response.status == StatusCode::CONFLICT {
            response.problem();
        }
        statuses.push((name, response.status.as_u16()));
    }
    let refused: Vec<&str> = statuses.iter().filter(|(_, s)| *s == 409).map(|(n, _)| *n).collect();
    assert_eq!(refused, ["Strasse Klinik", "Nandu Hospital"], "{statuses:?}");
}

const REASON: &str = "Our outpatient imaging center: a separate department with its own staff, on the 2nd floor";

/// The site's history as its managers and administrators read it, newest first.
async fn history(app: &TestApp, token: &str, site_id: &str) -> Vec<Value> {
    let uri = format!("/v1/sites/{site_id}/history");
    let response = app.call(Method::GET, &uri, Some(token), None).await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    response.json()["items"].as_array().unwrap().clone()
}

fn with_reason(mut body: Value, manage: Option<bool>, reason: Value) -> Value {
    if let Some(manage) = manage {
        body["manage"] = json!(manage);
    }
    body["duplicate_override_reason"] = reason;
    body
}

#[tokio::test]
async fn a_coordinator_or_an_administrator_may_override_a_name_match_with_a_recorded_reason() {
    let app = TestApp::new().await;
    let (_, member) = app.member("member").await;
    let (coordinator_id, coordinator) = app.member("coordinator").await;
    let (_, admin) = app.admin("admin").await;
    let listed_npi = npi(444_444_444);
    let listed = app
        .create_site(&member, &at("Ruzelru Imaging Center", "43210", None, Some(&listed_npi)))
        .await;
    let listed_id = listed["site_id"].as_str().unwrap();
    let body = || site_body("Ruzelru Imaging Ctr.", "43210");

    // Without a reason, the 409 says how a coordinator goes on.
    let refused = create(&app, &coordinator, &with_reason(body(), Some(true), Value::Null)).await;
    assert_refused_as_duplicate_of(&refused, &listed, "name", "no reason");
    assert!(refused.problem().detail.contains("duplicate_override_reason"));

    // Anyone else sending a reason is refused (403), naming the field; nothing is written.
    for manage in [None, Some(false)] {
        let response = create(&app, &member, &with_reason(body(), manage, json!(REASON))).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{response:?}");
        assert_eq!(response.problem().errors[0].field, "duplicate_override_reason");
    }
    // A reason must be a string of 10 to 500 characters.
    for (reason, message) in [
        (json!("because"), "10 to 500"),
        (json!("x".repeat(501)), "10 to 500"),
        (json!(42), "string"),
    ] {
        let response = create(&app, &coordinator, &with_reason(body(), Some(true), reason.clone())).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason}: {response:?}"
        );
        let problem = response.problem();
        assert_eq!(problem.errors[0].field, "duplicate_override_reason");
        assert!(problem.errors[0].message.contains(message), "{:?}", problem.errors);
    }
    // The same NPI is the same facility: no reason lets it through.
    let mut same_npi = with_reason(body(), Some(true), json!(REASON));
    same_npi["npi"] = json!(listed_npi);
    let response = create(&app, &coordinator, &same_npi).await;
    assert_refused_as_duplicate_of(&response, &listed, "npi", "the same NPI with a reason");
    assert!(response.problem().detail.contains("cannot be overridden"));
    assert_eq!(site_count(&app).await, 1);

    // The coordinator registering their facility, with a reason: created, managed, recorded.
    let site = app
        .create_site(&coordinator, &with_reason(body(), Some(true), json!(REASON)))
        .await;
    let id = site["site_id"].as_str().unwrap();
    assert_eq!(site["source"], "coordinator");
    assert!(
        site.get("duplicate_override_reason").is_none(),
        "not a field of the site"
    );
    let items = history(&app, &coordinator, id).await;
    assert_eq!(items[0]["kind"], "create");
    assert_eq!(items[0]["account_id"], coordinator_id.as_str());
    assert_eq!(
        items[0]["changes"]["duplicate_override"],
        json!({"reason": REASON, "existing": {"id": listed_id, "name": "Ruzelru Imaging Center"}})
    );
    assert_eq!(items[0]["changes"]["name"]["new"], "Ruzelru Imaging Ctr.");

    // An administrator may too, without managing it.
    let site = app
        .create_site(
            &admin,
            &with_reason(site_body("RUZELRU IMAGING CENTER", "43210"), None, json!(REASON)),
        )
        .await;
    let items = history(&app, &admin, site["site_id"].as_str().unwrap()).await;
    assert_eq!(items[0]["changes"]["duplicate_override"]["reason"], REASON);
    assert_eq!(items[0]["changes"]["duplicate_override"]["existing"]["id"], listed_id);

    // A reason where nothing was suspected overrides nothing, so nothing is recorded.
    let site = app
        .create_site(
            &admin,
            &with_reason(site_body("Tordraru Hospital", "43210"), None, json!(REASON)),
        )
        .await;
    let items = history(&app, &admin, site["site_id"].as_str().unwrap()).await;
    assert!(items[0]["changes"].get("duplicate_override").is_none(), "{}", items[0]);
    assert_eq!(site_count(&app).await, 4);
}

#[tokio::test]
async fn a_manager_may_override_a_name_match_of_a_change_with_a_recorded_reason() {
    let app = TestApp::new().await;
    let (_, coordinator) = app.member("coordinator").await;
    let listed_npi = npi(555_555_555);
    let listed = app
        .create_site(&coordinator, &at("Tordraru Hospital", "43210", None, Some(&listed_npi)))
        .await;
    let mut body = site_body("Kelvandri Imaging", "43210");
    body["manage"] = json!(true);
    let site = app.create_site(&coordinator, &body).await;
    let id = site["site_id"].as_str().unwrap();

    let rename = json!({"name": "Tordraru Community Hospital"});
    let refused = app.patch_site(&coordinator, id, "\"1\"", &rename).await;
    assert_refused_as_duplicate_of(&refused, &listed, "name", "a rename without a reason");
    let mut bad = rename.clone();
    bad["duplicate_override_reason"] = json!("short");
    let invalid = app.patch_site(&coordinator, id, "\"1\"", &bad).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.problem().errors[0].field, "duplicate_override_reason");
    let mut npi = json!({"npi": listed_npi});
    npi["duplicate_override_reason"] = json!(REASON);
    let same_npi = app.patch_site(&coordinator, id, "\"1\"", &npi).await;
    assert_refused_as_duplicate_of(&same_npi, &listed, "npi", "another site's NPI with a reason");

    let mut overriding = rename.clone();
    overriding["duplicate_override_reason"] = json!(REASON);
    let renamed = app.patch_site(&coordinator, id, "\"1\"", &overriding).await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert_eq!(renamed.json()["name"], "Tordraru Community Hospital");
    let items = history(&app, &coordinator, id).await;
    assert_eq!(items[0]["kind"], "update");
    assert_eq!(items[0]["changes"]["duplicate_override"]["reason"], REASON);
    assert_eq!(
        items[0]["changes"]["duplicate_override"]["existing"]["id"],
        listed["site_id"]
    );
    // A reason with a change the guard does not look at is not recorded.
    let city = json!({"city": "Dublin", "duplicate_override_reason": REASON});
    let moved = app.patch_site(&coordinator, id, "\"2\"", &city).await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    assert!(
        history(&app, &coordinator, id).await[0]["changes"]
            .get("duplicate_override")
            .is_none()
    );
}
