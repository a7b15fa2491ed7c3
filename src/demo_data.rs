//! `clinical-sites demo-data`: a directory of clearly synthetic sites for a first look at search,
//! facets and radius searches, and `--remove` to take exactly those away again.
//!
//! Every demo site is named `Demo <invented word> <kind>` (no real facility is called that), has
//! `source = demo`, sits at a real ZIP point drawn in proportion to the ZIP's population
//! (`reference/zip_codes.csv`), and draws its site type, payment, HIPAA and insurance requirements
//! and whom its offers accept from the ASRT member survey's proportions (`../shared/domain/`; the
//! mapping is written beside each table below). A few are verified, and a few are claimed by demo
//! coordinators (accounts at `demo.invalid` that cannot sign in).
//!
//! The sites are generated from a seed: a second run makes the same sites with the same ids, so it
//! replaces the demo sites rather than doubling them, and `--count` sets how many there are.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::geo::{self, ZipPlace};
use crate::vocabulary::{
    Accepts, HipaaTraining, Housing, Immunization, InsuranceCoverage, LiabilityInsurance, Modality, Payment, Schedule,
    SiteSource, SiteStatus, SiteType, VolumeBand,
};

/// How many sites `demo-data` makes unless told.
pub(crate) const DEFAULT_COUNT: u32 = 3000;
/// The most it makes (a directory for a demonstration, not a load test: see `bench/`).
pub(crate) const MAX_COUNT: u32 = 100_000;
/// Demo coordinator accounts are `demo-coordinator-<n>@` this domain (reserved: it never delivers).
const ACCOUNT_DOMAIN: &str = "demo.invalid";
const COORDINATORS: u32 = 5;

/// Site types, from the survey's settings (hospital 78.9%, imaging center 19.7%, large clinic
/// 10.6%; several could apply), normalized, hospitals split between general and critical access,
/// imaging centers between general and breast imaging.
const SITE_TYPES: &[(SiteType, f64)] = &[
    (SiteType::Hospital, 62.0),
    (SiteType::CriticalAccessHospital, 10.0),
    (SiteType::ImagingCenter, 14.5),
    (SiteType::BreastCenter, 3.5),
    (SiteType::Clinic, 9.5),
    (SiteType::MobileImaging, 0.3),
    (SiteType::Other, 0.2),
];
/// Payment, from the survey's routes into the rotation (employer 71.3%: free to its employees;
/// educational program 24.5%: through tuition; a provider that was not the employer 8.4%: often a
/// fee), normalized, with 4% of listings not saying.
const PAYMENTS: &[(Payment, f64)] = &[
    (Payment::Free, 65.7),
    (Payment::ProgramTuition, 22.5),
    (Payment::Fee, 7.8),
    (Payment::Unknown, 4.0),
];
/// HIPAA training, from where members' training came from: the employer 65.5% (the site trains
/// its own people), the clinical facility 16.2% (a site that trains anyone, so either way), an
/// educational program 14.1% and online 1.4% (bring a certificate), unspecified 2.8% (not stated).
const HIPAA: &[(Option<HipaaTraining>, f64)] = &[
    (Some(HipaaTraining::ProvidedBySite), 65.5),
    (Some(HipaaTraining::Either), 16.2),
    (Some(HipaaTraining::BringOwnCertificate), 15.5),
    (None, 2.8),
];
/// Liability insurance: 78.6% of members needed none; of the rest, 3 points not stated.
const INSURANCE: &[(Option<LiabilityInsurance>, f64)] = &[
    (Some(LiabilityInsurance::NotRequired), 78.6),
    (Some(LiabilityInsurance::Required), 18.4),
    (None, 3.0),
];
/// Housing help: rare (one member's six-hour trip came with housing); often not stated.
const HOUSING: &[(Option<Housing>, f64)] = &[
    (Some(Housing::None), 50.0),
    (Some(Housing::HelpFinding), 6.0),
    (Some(Housing::Free), 3.0),
    (Some(Housing::Paid), 2.0),
    (None, 39.0),
];
/// How often a site offers each modality (at least one; breast centers always offer mammography).
const MODALITIES: &[(Modality, f64)] = &[
    (Modality::Ct, 0.70),
    (Modality::Mri, 0.50),
    (Modality::Mammography, 0.30),
    (Modality::BoneDensitometry, 0.20),
    (Modality::VascularInterventional, 0.15),
    (Modality::CardiacInterventional, 0.12),
    (Modality::VascularSonography, 0.15),
    (Modality::BreastSonography, 0.08),
    (Modality::RadiologistAssistant, 0.02),
    (Modality::Radiography, 0.30),
    (Modality::NuclearMedicine, 0.10),
    (Modality::RadiationTherapy, 0.05),
    (Modality::Sonography, 0.15),
];
/// Whom an offer accepts, each independently, from the survey's routes: employer 71.3%,
/// educational program 24.5%, non-employer provider 8.4% (the independent candidates).
const ACCEPTS: &[(Accepts, f64)] = &[
    (Accepts::Employees, 0.713),
    (Accepts::ProgramStudents, 0.245),
    (Accepts::Independent, 0.084),
];
const SYLLABLES: &[&str] = &[
    "vor", "tal", "quen", "bri", "mor", "zel", "kel", "dun", "fen", "lor", "nim", "ost", "pel", "rav", "sil", "tor",
    "ul", "wen", "yar", "cas", "dre", "gal", "hol", "isk", "jun", "mar", "nor", "pra", "sel", "tam", "vex", "zor",
];
const ENDINGS: &[&str] = &[
    "brook", "vale", "mere", "holt", "wick", "stead", "ridge", "haven", "field", "crest", "more", "ford",
];

/// A small, seeded random source (xorshift64*): the same seed makes the same directory.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, weighted: &[(T, f64)]) -> T {
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut at = self.unit() * total;
        for (value, weight) in weighted {
            if at < *weight {
                return *value;
            }
            at -= weight;
        }
        weighted[weighted.len() - 1].0
    }
}

/// One generated offer.
#[derive(Debug, Clone)]
pub(crate) struct DemoOffer {
    pub(crate) accepting: bool,
    pub(crate) capacity: Option<i32>,
    pub(crate) verifier_on_site: Option<bool>,
    pub(crate) accepts: Vec<Accepts>,
    pub(crate) volume_band: Option<VolumeBand>,
}

/// One generated site.
#[derive(Debug, Clone)]
pub(crate) struct DemoSite {
    pub(crate) site_id: Uuid,
    pub(crate) name: String,
    pub(crate) site_type: SiteType,
    pub(crate) zip: &'static str,
    pub(crate) place: &'static ZipPlace,
    pub(crate) payment: Payment,
    pub(crate) fee_usd: Option<i32>,
    pub(crate) hipaa_training: Option<HipaaTraining>,
    pub(crate) liability_insurance: Option<LiabilityInsurance>,
    pub(crate) housing: Option<Housing>,
    pub(crate) schedule: Vec<Schedule>,
    pub(crate) immunizations: Vec<Immunization>,
    pub(crate) status: SiteStatus,
    /// Claimed by the demo coordinator with this number.
    pub(crate) coordinator: Option<u32>,
    pub(crate) offers: BTreeMap<Modality, DemoOffer>,
    /// Days before now it was last updated.
    pub(crate) age_days: u32,
}

/// The demo directory of `count` sites: the same for the same count, each site the same whatever
/// the count (site `i` depends only on `i`).
pub(crate) fn generate(count: u32) -> Vec<DemoSite> {
    let mut zips: Vec<(&'static str, &'static ZipPlace)> =
        geo::zip_places().filter(|(_, p)| p.population > 0).collect();
    zips.sort_by_key(|(zip, _)| *zip);
    let mut cumulative = Vec::with_capacity(zips.len());
    let mut people = 0u64;
    for (_, place) in &zips {
        people += u64::from(place.population);
        cumulative.push(people);
    }
    let mut names = HashSet::new();
    (0..count)
        .map(|i| {
            let mut rng = Rng(0x5eed_5175_u64 ^ (u64::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for _ in 0..4 {
                rng.next();
            }
            let person = rng.next() % people;
            let (zip, place) = zips[cumulative.partition_point(|&c| c <= person)];
            site(i, &mut rng, zip, place, &mut names)
        })
        .collect()
}

fn site(
    i: u32,
    rng: &mut Rng,
    zip: &'static str,
    place: &'static ZipPlace,
    names: &mut HashSet<(&'static str, String)>,
) -> DemoSite {
    let site_type = rng.pick(SITE_TYPES);
    let name = unique_name(rng, site_type, zip, names);
    let payment = rng.pick(PAYMENTS);
    let offers = offers(rng, site_type);
    let schedule = schedule(rng);
    let immunizations = if rng.chance(0.8) {
        vec![
            Immunization::Tb,
            Immunization::Mmr,
            Immunization::HepB,
            Immunization::Influenza,
        ]
    } else {
        Vec::new()
    };
    let status = if rng.chance(0.06) {
        SiteStatus::Verified
    } else {
        SiteStatus::Unverified
    };
    let coordinator = rng.chance(0.03).then(|| 1 + (i % COORDINATORS));
    DemoSite {
        // `00000000-0000-7000-8000-dec0xxxxxxxx`: stable, and apart from any id the service makes.
        site_id: Uuid::from_u128(0x0000_0000_0000_7000_8000_dec0_0000_0000 | u128::from(i)),
        name,
        site_type,
        zip,
        place,
        payment,
        fee_usd: (payment == Payment::Fee).then(|| 100 * (1 + rng.below(25)) as i32),
        hipaa_training: rng.pick(HIPAA),
        liability_insurance: rng.pick(INSURANCE),
        housing: rng.pick(HOUSING),
        schedule,
        immunizations,
        status,
        coordinator,
        offers,
        age_days: rng.below(730) as u32,
    }
}

/// A name no other demo site of the ZIP code has: "Demo", a made-up word, and a kind of facility.
fn unique_name(
    rng: &mut Rng,
    site_type: SiteType,
    zip: &'static str,
    names: &mut HashSet<(&'static str, String)>,
) -> String {
    loop {
        let word = format!(
            "{}{}",
            SYLLABLES[rng.below(SYLLABLES.len())],
            ENDINGS[rng.below(ENDINGS.len())]
        );
        let mut word: Vec<char> = word.chars().collect();
        word[0] = word[0].to_ascii_uppercase();
        let kinds = kinds(site_type);
        let name = format!(
            "Demo {} {}",
            word.iter().collect::<String>(),
            kinds[rng.below(kinds.len())]
        );
        if names.insert((zip, name.clone())) {
            return name;
        }
    }
}

/// At least one offer: each modality by its share, mammography always at a breast center.
fn offers(rng: &mut Rng, site_type: SiteType) -> BTreeMap<Modality, DemoOffer> {
    let mut offers = BTreeMap::new();
    for (modality, p) in MODALITIES {
        let breast = site_type == SiteType::BreastCenter && *modality == Modality::Mammography;
        if breast || rng.chance(*p) {
            offers.insert(*modality, offer(rng, site_type));
        }
    }
    if offers.is_empty() {
        offers.insert(Modality::Ct, offer(rng, site_type));
    }
    offers
}

/// When rotations can be scheduled: weekdays mostly, sometimes evenings, nights or weekends.
fn schedule(rng: &mut Rng) -> Vec<Schedule> {
    [
        (Schedule::Weekday, 0.9),
        (Schedule::Evening, 0.25),
        (Schedule::Night, 0.1),
        (Schedule::Weekend, 0.2),
    ]
    .into_iter()
    .filter(|(_, p)| rng.chance(*p))
    .map(|(s, _)| s)
    .collect()
}

fn kinds(site_type: SiteType) -> &'static [&'static str] {
    match site_type {
        SiteType::Hospital => &[
            "Regional Medical Center",
            "Community Hospital",
            "General Hospital",
            "Memorial Hospital",
            "Medical Center",
        ],
        SiteType::CriticalAccessHospital => &["County Hospital", "Critical Access Hospital", "Rural Hospital"],
        SiteType::ImagingCenter => &[
            "Imaging Center",
            "Diagnostic Imaging",
            "Radiology Associates",
            "Outpatient Imaging",
        ],
        SiteType::BreastCenter => &["Breast Imaging Center", "Women's Imaging"],
        SiteType::Clinic => &["Clinic", "Medical Group", "Health Clinic"],
        SiteType::MobileImaging => &["Mobile Imaging"],
        SiteType::Other => &["Health Services"],
    }
}

fn offer(rng: &mut Rng, site_type: SiteType) -> DemoOffer {
    let accepts = ACCEPTS
        .iter()
        .filter(|(_, p)| rng.chance(*p))
        .map(|(a, _)| *a)
        .collect();
    DemoOffer {
        accepting: rng.chance(0.85),
        capacity: rng.chance(0.7).then(|| 1 + rng.below(4) as i32),
        verifier_on_site: rng.pick(&[(Some(true), 70.0), (Some(false), 15.0), (None, 15.0)]),
        accepts,
        volume_band: Some(match site_type {
            SiteType::Hospital => VolumeBand::High,
            SiteType::CriticalAccessHospital | SiteType::MobileImaging => VolumeBand::Low,
            _ => VolumeBand::Medium,
        }),
    }
}

impl DemoSite {
    /// The offers object as the API shows it (the shape of the SQL function `site_offers_json`).
    fn offers_json(&self) -> serde_json::Value {
        let offers: serde_json::Map<String, serde_json::Value> = self
            .offers
            .iter()
            .map(|(modality, o)| {
                let value = json!({
                    "accepting": o.accepting, "capacity": o.capacity, "verifier_on_site": o.verifier_on_site,
                    "accepts": o.accepts, "procedure_categories": [], "volume_band": o.volume_band, "notes": null
                });
                (crate::vocabulary::CodeSet::code(*modality).to_owned(), value)
            })
            .collect();
        serde_json::Value::Object(offers)
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Demo sites there were before (all replaced).
    pub replaced: u64,
    /// Demo sites there are now.
    pub sites: u64,
}

/// Makes the demo sites exactly `count` generated ones, in one transaction: earlier demo sites are
/// replaced (the same ids come back), other sites are never touched.
pub async fn load(pool: &PgPool, count: u32) -> Result<Loaded, sqlx::Error> {
    let sites = generate(count);
    let coordinators = coordinator_accounts().await;
    let mut tx = pool.begin().await?;
    let replaced = remove_sites(&mut tx).await?;
    for (n, hash) in &coordinators {
        sqlx::query!(
            "insert into account (account_id, email, display_name, password_hash, disabled)
             values ($1, $2, $3, $4, true)
             on conflict (email) do nothing",
            coordinator_id(*n),
            format!("demo-coordinator-{n}@{ACCOUNT_DOMAIN}"),
            format!("Demo Coordinator {n}"),
            hash,
        )
        .execute(&mut *tx)
        .await?;
    }
    for chunk in sites.chunks(500) {
        insert_sites(&mut tx, chunk).await?;
        insert_offers(&mut tx, chunk).await?;
        insert_claims(&mut tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(Loaded {
        replaced,
        sites: sites.len() as u64,
    })
}

/// Deletes every demo site and demo coordinator account; returns how many sites.
pub async fn remove(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let removed = remove_sites(&mut tx).await?;
    sqlx::query!(
        "delete from account where email like 'demo-coordinator-%@' || $1",
        ACCOUNT_DOMAIN
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(removed)
}

async fn remove_sites(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("delete from site where source = $1", SiteSource::Demo as SiteSource)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

fn coordinator_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_dec1_0000_0000 | u128::from(n))
}

/// The demo coordinators and a hash of a random password each (nobody knows it, and the accounts
/// are disabled: they exist to manage their listings, not to sign in).
async fn coordinator_accounts() -> Vec<(u32, String)> {
    let mut accounts = Vec::new();
    for n in 1..=COORDINATORS {
        let secret = crate::auth::token::generate(crate::auth::token::Kind::Session).plain;
        if let Ok(hash) = crate::auth::password::hash(secret).await {
            accounts.push((n, hash));
        }
    }
    accounts
}

async fn insert_sites(conn: &mut sqlx::PgConnection, sites: &[DemoSite]) -> Result<(), sqlx::Error> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
        "insert into site (site_id, name, site_type, city, state, postal_code, latitude, longitude,
            coordinates_source, payment, fee_usd, hipaa_training, liability_insurance, insurance_accepted,
            min_per_occurrence_usd, min_aggregate_usd, background_check, drug_screen, immunizations, housing,
            schedule, rotation_weeks_min, rotation_weeks_max, modalities, offers, status, source, verified_at,
            created_at, updated_at) ",
    );
    qb.push_values(sites, |mut row, site| {
        let required = site.liability_insurance == Some(LiabilityInsurance::Required);
        let insured: Vec<InsuranceCoverage> = if required {
            vec![InsuranceCoverage::OwnPolicy, InsuranceCoverage::ProgramPolicy]
        } else {
            Vec::new()
        };
        let at = chrono::Utc::now() - chrono::TimeDelta::days(i64::from(site.age_days));
        row.push_bind(site.site_id)
            .push_bind(site.name.clone())
            .push_bind(site.site_type)
            .push_bind(site.place.city)
            .push_bind(site.place.state)
            .push_bind(site.zip)
            .push_bind(site.place.latitude)
            .push_bind(site.place.longitude)
            .push_bind(site.place.source.coordinates_source())
            .push_bind(site.payment)
            .push_bind(site.fee_usd)
            .push_bind(site.hipaa_training)
            .push_bind(site.liability_insurance)
            .push_bind(insured)
            .push_bind(required.then_some(1_000_000))
            .push_bind(required.then_some(3_000_000))
            .push_bind(true)
            .push_bind(site.site_type != SiteType::Clinic)
            .push_bind(site.immunizations.clone())
            .push_bind(site.housing)
            .push_bind(site.schedule.clone())
            .push_bind(2)
            .push_bind(12)
            .push_bind(site.offers.keys().copied().collect::<Vec<_>>())
            .push_bind(sqlx::types::Json(site.offers_json()))
            .push_unseparated("::json")
            .push_bind(site.status)
            .push_bind(SiteSource::Demo)
            .push_bind((site.status == SiteStatus::Verified).then_some(at))
            .push_bind(at)
            .push_bind(at);
    });
    qb.build().execute(conn).await?;
    Ok(())
}

async fn insert_offers(conn: &mut sqlx::PgConnection, sites: &[DemoSite]) -> Result<(), sqlx::Error> {
    let offers: Vec<(Uuid, Modality, &DemoOffer)> = sites
        .iter()
        .flat_map(|s| s.offers.iter().map(|(m, o)| (s.site_id, *m, o)))
        .collect();
    for chunk in offers.chunks(1000) {
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
            "insert into site_offer (site_id, modality, accepting, capacity, verifier_on_site, accepts, volume_band) ",
        );
        qb.push_values(chunk, |mut row, (site_id, modality, offer)| {
            row.push_bind(*site_id)
                .push_bind(*modality)
                .push_bind(offer.accepting)
                .push_bind(offer.capacity)
                .push_bind(offer.verifier_on_site)
                .push_bind(offer.accepts.clone())
                .push_bind(offer.volume_band);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Claimed listings: an approved claim by a demo coordinator, who manages the site.
async fn insert_claims(conn: &mut sqlx::PgConnection, sites: &[DemoSite]) -> Result<(), sqlx::Error> {
    let claimed: Vec<(Uuid, Uuid)> = sites
        .iter()
        .filter_map(|s| s.coordinator.map(|n| (s.site_id, coordinator_id(n))))
        .collect();
    if claimed.is_empty() {
        return Ok(());
    }
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
        "insert into site_claim (site_claim_id, site_id, account_id, justification, status, decided_at) ",
    );
    qb.push_values(&claimed, |mut row, (site_id, account_id)| {
        row.push_bind(Uuid::now_v7())
            .push_bind(*site_id)
            .push_bind(*account_id)
            .push_bind("Demo data: the coordinator of this synthetic site.")
            .push_bind("approved")
            .push_bind(chrono::Utc::now());
    });
    qb.build().execute(&mut *conn).await?;
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("insert into site_manager (site_id, account_id) ");
    qb.push_values(&claimed, |mut row, (site_id, account_id)| {
        row.push_bind(*site_id).push_bind(*account_id);
    });
    qb.build().execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share<T: PartialEq>(sites: &[DemoSite], value: impl Fn(&DemoSite) -> T, wanted: T) -> f64 {
        sites.iter().filter(|s| value(s) == wanted).count() as f64 / sites.len() as f64
    }

    #[test]
    fn the_same_count_makes_the_same_directory_and_site_i_never_changes() {
        let small = generate(50);
        let large = generate(400);
        for (a, b) in small.iter().zip(&large) {
            assert_eq!((a.site_id, &a.name, a.zip), (b.site_id, &b.name, b.zip));
        }
        let ids: HashSet<Uuid> = large.iter().map(|s| s.site_id).collect();
        assert_eq!(ids.len(), 400);
    }

    #[test]
    fn names_are_clearly_synthetic_and_unique_in_their_zip() {
        let sites = generate(5000);
        let mut seen = HashSet::new();
        for site in &sites {
            assert!(site.name.starts_with("Demo "), "{}", site.name);
            assert!(
                seen.insert((site.zip, site.name.clone())),
                "{} twice in {}",
                site.name,
                site.zip
            );
            assert!(!site.offers.is_empty());
        }
    }

    #[test]
    fn proportions_follow_the_survey_and_the_population() {
        let sites = generate(20_000);
        let hospitals = share(
            &sites,
            |s| matches!(s.site_type, SiteType::Hospital | SiteType::CriticalAccessHospital),
            true,
        );
        assert!((0.69..0.75).contains(&hospitals), "{hospitals}");
        let no_insurance = share(&sites, |s| s.liability_insurance, Some(LiabilityInsurance::NotRequired));
        assert!((0.76..0.81).contains(&no_insurance), "{no_insurance}");
        let provided = share(&sites, |s| s.hipaa_training, Some(HipaaTraining::ProvidedBySite));
        assert!((0.63..0.68).contains(&provided), "{provided}");
        let free = share(&sites, |s| s.payment, Payment::Free);
        assert!((0.63..0.69).contains(&free), "{free}");
        // California holds about 11.7% of the population; Wyoming 0.17%.
        let california = share(&sites, |s| s.place.state, "CA");
        assert!((0.10..0.135).contains(&california), "{california}");
        let wyoming = share(&sites, |s| s.place.state, "WY");
        assert!(wyoming < 0.005, "{wyoming}");
        let independent = sites
            .iter()
            .flat_map(|s| s.offers.values())
            .filter(|o| o.accepts.contains(&Accepts::Independent))
            .count() as f64
            / sites.iter().map(|s| s.offers.len()).sum::<usize>() as f64;
        assert!((0.07..0.10).contains(&independent), "{independent}");
        assert!(sites.iter().any(|s| s.status == SiteStatus::Verified));
        assert!(sites.iter().any(|s| s.coordinator.is_some()));
    }
}
