//! Synthetic sites for the benchmark: `cargo run --release --example generate -- <count>` with
//! `DATABASE_URL` set (the database must be migrated). Deterministic for a given count.
//!
//! Realistic spread: states weighted by population, coordinates at real ZIP centroids of the state
//! (Census ZCTA data shipped in `reference/`), site types in the ASRT survey's proportions, 1 to 5
//! modalities per site, requirements in the survey's proportions. Loaded with `COPY`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// 2020 census populations in thousands.
const POPULATION: &[(&str, u32)] = &[
    ("CA", 39538),
    ("TX", 29146),
    ("FL", 21538),
    ("NY", 20201),
    ("PA", 13003),
    ("IL", 12813),
    ("OH", 11799),
    ("GA", 10712),
    ("NC", 10439),
    ("MI", 10077),
    ("NJ", 9289),
    ("VA", 8631),
    ("WA", 7705),
    ("AZ", 7152),
    ("MA", 7030),
    ("TN", 6911),
    ("IN", 6786),
    ("MD", 6177),
    ("MO", 6155),
    ("WI", 5894),
    ("CO", 5774),
    ("MN", 5706),
    ("SC", 5119),
    ("AL", 5024),
    ("LA", 4658),
    ("KY", 4506),
    ("OR", 4237),
    ("OK", 3959),
    ("CT", 3606),
    ("UT", 3272),
    ("IA", 3190),
    ("NV", 3105),
    ("AR", 3012),
    ("MS", 2961),
    ("KS", 2938),
    ("NM", 2118),
    ("NE", 1962),
    ("ID", 1839),
    ("WV", 1794),
    ("HI", 1455),
    ("NH", 1378),
    ("ME", 1362),
    ("RI", 1097),
    ("MT", 1084),
    ("DE", 990),
    ("SD", 887),
    ("ND", 779),
    ("AK", 733),
    ("DC", 690),
    ("VT", 643),
    ("WY", 577),
    ("PR", 3286),
];

/// The state of a ZIP code by its first three digits (USPS prefix ranges).
fn state_of(zip: &str) -> Option<&'static str> {
    let p: u32 = zip[..3].parse().ok()?;
    Some(match p {
        6 | 7 | 9 => "PR",
        10..=27 | 55 => "MA",
        28..=29 => "RI",
        30..=38 => "NH",
        39..=49 => "ME",
        50..=59 => "VT",
        60..=69 => "CT",
        70..=89 => "NJ",
        100..=149 | 5 => "NY",
        150..=196 => "PA",
        197..=199 => "DE",
        200 | 202..=205 | 569 => "DC",
        206..=219 => "MD",
        201 | 220..=246 => "VA",
        247..=268 => "WV",
        270..=289 => "NC",
        290..=299 => "SC",
        300..=319 | 398..=399 => "GA",
        320..=339 | 341..=349 => "FL",
        350..=369 => "AL",
        370..=385 => "TN",
        386..=397 => "MS",
        400..=427 => "KY",
        430..=459 => "OH",
        460..=479 => "IN",
        480..=499 => "MI",
        500..=528 => "IA",
        530..=549 => "WI",
        550..=567 => "MN",
        570..=577 => "SD",
        580..=588 => "ND",
        590..=599 => "MT",
        600..=629 => "IL",
        630..=658 => "MO",
        660..=679 => "KS",
        680..=693 => "NE",
        700..=715 => "LA",
        716..=729 => "AR",
        730..=749 => "OK",
        750..=799 | 885 => "TX",
        800..=816 => "CO",
        820..=831 => "WY",
        832..=838 => "ID",
        840..=847 => "UT",
        850..=865 => "AZ",
        870..=884 => "NM",
        889..=898 => "NV",
        900..=961 => "CA",
        967..=968 => "HI",
        970..=979 => "OR",
        980..=994 => "WA",
        995..=999 => "AK",
        _ => return None,
    })
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// An index into `weights`, proportionally.
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = (self.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Survey proportions: hospitals 78.9%, imaging centers 19.7%, large clinics 10.6% (several could
/// apply), split over the product's types.
const SITE_TYPES: &[(&str, f64)] = &[
    ("hospital", 0.60),
    ("critical_access_hospital", 0.09),
    ("imaging_center", 0.13),
    ("breast_center", 0.04),
    ("clinic", 0.09),
    ("mobile_imaging", 0.02),
    ("other", 0.03),
];
const MODALITIES: &[(&str, f64)] = &[
    ("ct", 0.30),
    ("mri", 0.22),
    ("mammography", 0.14),
    ("bone_densitometry", 0.06),
    ("vascular_interventional", 0.05),
    ("cardiac_interventional", 0.04),
    ("breast_sonography", 0.03),
    ("vascular_sonography", 0.04),
    ("radiography", 0.06),
    ("nuclear_medicine", 0.03),
    ("radiation_therapy", 0.02),
    ("sonography", 0.04),
    ("radiologist_assistant", 0.01),
];
const FIRST: &[&str] = &[
    "Riverside",
    "Lakeview",
    "Mercy",
    "St. Mary's",
    "Memorial",
    "Regional",
    "Community",
    "Valley",
    "Summit",
    "Grace",
    "Providence",
    "Baptist",
    "Methodist",
    "University",
    "County",
    "Northside",
    "Southern",
    "Pioneer",
    "Cedar",
    "Harbor",
    "Prairie",
    "Highland",
    "Good Samaritan",
    "Sacred Heart",
    "Unity",
    "Trinity",
    "Bayview",
];
const SECOND: &[&str] = &[
    "Medical Center",
    "Health",
    "Imaging",
    "Radiology",
    "Diagnostics",
    "Hospital",
    "Clinic",
];
const CITIES: &[&str] = &[
    "Springfield",
    "Franklin",
    "Greenville",
    "Clinton",
    "Madison",
    "Georgetown",
    "Salem",
    "Fairview",
    "Bristol",
    "Riverton",
    "Oakland",
    "Milford",
    "Ashland",
    "Dayton",
    "Jackson",
    "Lexington",
    "Marion",
    "Newport",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to the benchmark database")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(load(count, &url))
}

/// Runs the index definitions `indexes` (name, definition) on `conn`, one after another.
async fn build(conn: &mut sqlx::PgConnection, indexes: &[(String, String)]) -> Result<(), sqlx::Error> {
    for (_, definition) in indexes {
        sqlx::query(sqlx::AssertSqlSafe(definition.clone()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn load(count: usize, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        // Index and key builds take what they need in one pass.
        .connect_with(PgConnectOptions::from_str(url)?.options([("maintenance_work_mem", "1GB")]))
        .await?;

    type Centroid = (&'static str, (f64, f64));
    let mut zips_by_state: HashMap<&str, Vec<Centroid>> = HashMap::new();
    for (zip, point) in clinical_sites::geo::zip_centroids() {
        if let Some(state) = state_of(zip) {
            zips_by_state.entry(state).or_default().push((zip, point));
        }
    }
    for zips in zips_by_state.values_mut() {
        zips.sort_by(|a, b| a.0.cmp(b.0));
    }
    let states: Vec<(&str, f64)> = POPULATION
        .iter()
        .filter(|(s, _)| zips_by_state.contains_key(s))
        .map(|(s, p)| (*s, f64::from(*p)))
        .collect();
    let state_weights: Vec<f64> = states.iter().map(|(_, w)| *w).collect();
    let type_weights: Vec<f64> = SITE_TYPES.iter().map(|(_, w)| *w).collect();
    let modality_weights: Vec<f64> = MODALITIES.iter().map(|(_, w)| *w).collect();

    let mut rng = Rng(count as u64);
    let mut sites = String::with_capacity(count * 300);
    let mut offers = String::with_capacity(count * 3 * 80);
    let base = chrono::Utc::now() - chrono::TimeDelta::days(730);
    // Each site's row and offer rows, without its id: they are written in ZIP order (below).
    let mut rows: Vec<(&str, String, String)> = Vec::with_capacity(count);
    for i in 0..count {
        let (state, _) = states[rng.weighted(&state_weights)];
        let (zip, (lat, lon)) = *rng.pick(&zips_by_state[state]);
        let site_type = SITE_TYPES[rng.weighted(&type_weights)].0;
        let name = format!("{} {} {}", rng.pick(FIRST), rng.pick(SECOND), i);
        let city = rng.pick(CITIES);
        let payment = *rng.pick(&[
            "free",
            "free",
            "free",
            "free",
            "fee",
            "fee",
            "program_tuition",
            "unknown",
            "unknown",
            "free",
        ]);
        let fee = if payment == "fee" {
            (rng.below(40) * 50).to_string()
        } else {
            "\\N".to_owned()
        };
        let insurance = if rng.chance(0.786) { "not_required" } else { "required" };
        let hipaa = *rng.pick(&[
            "provided_by_site",
            "bring_own_certificate",
            "either",
            "provided_by_site",
        ]);
        let housing = *rng.pick(&["none", "none", "none", "free", "paid", "help_finding"]);
        let schedule = *rng.pick(&[
            "{weekday}",
            "{weekday,evening}",
            "{weekday,weekend}",
            "{evening,weekend}",
            "{weekday}",
        ]);
        let updated = (base + chrono::TimeDelta::seconds(rng.below(730 * 86_400) as i64)).to_rfc3339();
        let status = if rng.chance(0.3) { "verified" } else { "unverified" };
        let mut modalities: Vec<&str> = Vec::new();
        for _ in 0..1 + rng.below(5) {
            let m = MODALITIES[rng.weighted(&modality_weights)].0;
            if !modalities.contains(&m) {
                modalities.push(m);
            }
        }
        modalities.sort();
        // The offers, as rows of `site_offer` and as the site's `offers` object (the shape
        // `site_offers_json` gives it), in modality order.
        let mut offers_json = String::from("{");
        let mut offer_rows = String::new();
        for (k, m) in modalities.iter().enumerate() {
            let (accepts, accepts_json) = *rng.pick(&[
                ("{employees}", r#"["employees"]"#),
                ("{employees,program_students}", r#"["employees","program_students"]"#),
                ("{independent}", r#"["independent"]"#),
                (
                    "{program_students,independent}",
                    r#"["program_students","independent"]"#,
                ),
                ("{employees,independent}", r#"["employees","independent"]"#),
            ]);
            let (accepting, capacity, verifier) = (rng.chance(0.8), 1 + rng.below(4), rng.chance(0.75));
            writeln!(offer_rows, "\t{m}\t{accepting}\t{capacity}\t{verifier}\t{accepts}")?;
            write!(
                offers_json,
                r#"{}"{m}":{{"accepting":{accepting},"capacity":{capacity},"verifier_on_site":{verifier},"accepts":{accepts_json},"procedure_categories":[],"volume_band":null,"notes":null}}"#,
                if k == 0 { "" } else { "," }
            )?;
        }
        offers_json.push('}');
        let mut site_row = String::new();
        writeln!(
            site_row,
            "\t{name}\t{site_type}\t{city}\t{state}\t{zip}\t{lat}\t{lon}\tzip_centroid\t{payment}\t{fee}\t{insurance}\t{hipaa}\t{housing}\t{schedule}\t{{{}}}\t{offers_json}\t{status}\timport\t{updated}\t{updated}",
            modalities.join(","),
        )?;
        rows.push((zip, site_row, offer_rows));
    }
    // Written in ZIP order, as a bulk import of a directory sorted by ZIP would be, and numbered in
    // that order (time-ordered ids, so the primary key is appended to). The earth index is built
    // over the rows in table order: over rows in ZIP order, a radius search reads 71 of its pages
    // instead of 305 over rows in random order (docs/performance.md, "Index build order").
    rows.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (_, site_row, offer_rows)) in rows.into_iter().enumerate() {
        let id = uuid::Uuid::from_u64_pair(
            0x0190_0000_0000_7000 | (i as u64 >> 48),
            i as u64 | 0x8000_0000_0000_0000,
        );
        write!(sites, "{id}{site_row}")?;
        for offer_row in offer_rows.lines() {
            writeln!(offers, "{id}{offer_row}")?;
        }
    }
    let generated = started.elapsed();

    let mut conn = pool.acquire().await?;
    // Bulk load as pg_restore does: secondary indexes are dropped, the rows copied, and the indexes
    // built again in one pass each (far faster than maintaining them row by row).
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "select indexrelid::regclass::text, pg_get_indexdef(indexrelid) from pg_index
          where indrelid in ('site'::regclass, 'site_offer'::regclass)
            and not indisunique",
    )
    .fetch_all(&mut *conn)
    .await?;
    // So are the keys of the tables nothing references (rows are unique by construction).
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "select conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) from pg_constraint
          where conrelid = 'site_offer'::regclass and contype in ('p', 'u')",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!("drop index {name}")))
            .execute(&mut *conn)
            .await?;
    }
    for (table, name, _) in &keys {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "alter table {table} drop constraint {name}"
        )))
        .execute(&mut *conn)
        .await?;
    }
    // Triggers off while copying, as a data-only restore runs: each offer row's foreign key would
    // be checked (12 s at a million sites). Rows are valid by construction; running search indexes
    // are told to reload below (`site_derived_rebuild()`). (Needs a superuser, as the benchmark's
    // private cluster has.)
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    let mut copy = conn
        .copy_in_raw(
            "copy site (site_id, name, site_type, city, state, postal_code, latitude, longitude, coordinates_source,
                        payment, fee_usd, liability_insurance, hipaa_training, housing, schedule, modalities, offers, status,
                        source, created_at, updated_at) from stdin",
        )
        .await?;
    copy.send(sites.into_bytes()).await?;
    copy.finish().await?;
    let copied = started.elapsed();
    // From here both cores work: the earth index (GiST, by far the slowest to build) on a second
    // connection, while this one copies the offers and builds the rest.
    let (gist, others): (Vec<_>, Vec<_>) = indexes
        .into_iter()
        .partition(|(_, definition)| definition.contains("USING gist"));
    let mut second = pool.acquire().await?;
    let gist_built = build(&mut second, &gist);
    let rest_built = async {
        let mut copy = conn
            .copy_in_raw(
                "copy site_offer (site_id, modality, accepting, capacity, verifier_on_site, accepts) from stdin",
            )
            .await?;
        copy.send(offers.into_bytes()).await?;
        copy.finish().await?;
        sqlx::query("reset session_replication_role")
            .execute(&mut *conn)
            .await?;
        sqlx::query("select site_derived_rebuild()").execute(&mut *conn).await?;
        for (table, name, definition) in &keys {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "alter table {table} add constraint {name} {definition}"
            )))
            .execute(&mut *conn)
            .await?;
        }
        build(&mut conn, &others).await?;
        sqlx::query("analyze site_offer").execute(&mut *conn).await?;
        Ok::<_, sqlx::Error>(())
    };
    let (gist_built, rest_built) = tokio::join!(gist_built, rest_built);
    gist_built?;
    rest_built?;
    // After the builds: `analyze` and `create index` on the same table wait for each other.
    sqlx::query("analyze site").execute(&mut *conn).await?;
    println!(
        "loaded {count} sites in {:.1} s (generated in {:.1} s, sites copied by {:.1} s)",
        started.elapsed().as_secs_f64(),
        generated.as_secs_f64(),
        copied.as_secs_f64()
    );
    Ok(())
}
