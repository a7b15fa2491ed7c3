//! A property of every search: walking its pages shows each matching site exactly once, in every
//! sort order, however the sort keys tie, and the walk's length equals `total` when it is exact.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{Rng, TestApp};

const CENTRE: (f64, f64) = (39.9612, -82.9988);
const WORDS: &[&str] = &["Riverside", "Lakeview", "Summit", "Valley", "Harbor", "Maple"];
const KINDS: &[&str] = &["Radiology", "Imaging Center", "Radiology Partners", "Hospital"];

/// Seeds `count` sites straight into the table: random points within ~120 miles of `CENTRE`, a
/// third of them on a point another site already has (equal distances), names drawn from a few
/// words (equal names, and equal text scores), and update times from a few instants (equal times).
async fn seed(app: &TestApp, rng: &mut Rng, count: usize) {
    let mut points: Vec<(f64, f64)> = Vec::new();
    let base = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00.123456Z").unwrap();
    for i in 0..count {
        let point = if !points.is_empty() && rng.below(3) == 0 {
            points[rng.below(points.len())]
        } else {
            let point = (CENTRE.0 + (rng.unit() - 0.5) * 3.4, CENTRE.1 + (rng.unit() - 0.5) * 4.4);
            points.push(point);
            point
        };
        let name = format!("{} {}", WORDS[rng.below(WORDS.len())], KINDS[rng.below(KINDS.len())]);
        let updated = base + chrono::TimeDelta::microseconds(rng.below(40) as i64 * 1_000_001);
        let state = if rng.below(4) == 0 { "MI" } else { "OH" };
        sqlx::query(
            "insert into site (site_id, name, site_type, city, state, postal_code, source, status, latitude,
                               longitude, coordinates_source, created_at, updated_at)
             values ($1, $2, 'clinic', 'Columbus', $3, '43210', 'import', 'verified', $4, $5, 'request', $6, $6)",
        )
        .bind(uuid::Uuid::from_u128(rng.next() as u128 | ((i as u128) << 64)))
        .bind(&name)
        .bind(state)
        .bind(point.0)
        .bind(point.1)
        .bind(updated)
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

/// Every page of `query` in pages of `limit`: the ids in order, and the first page's total.
async fn walk(app: &TestApp, query: &str, limit: usize) -> (Vec<String>, Value) {
    let mut ids = Vec::new();
    let mut uri = format!("/v1/sites?{query}&limit={limit}");
    let mut total = Value::Null;
    loop {
        let response = app.get(&uri).await;
        assert_eq!(response.status, StatusCode::OK, "{uri}: {response:?}");
        let page = response.json();
        if total.is_null() {
            total = page["total"].clone();
        }
        assert_eq!(page["total"], total, "every page of a walk repeats its total: {uri}");
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["site_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/sites?{query}&limit={limit}&cursor={cursor}"),
            None => return (ids, total),
        }
    }
}

#[tokio::test]
async fn every_walk_shows_each_site_once_in_every_order() {
    for seed_value in [0x5eed_0001_u64, 0x5eed_0002, 0x5eed_0003] {
        // Hundreds of pages: no rate limit.
        let config = clinical_sites::config::Config {
            rate_limit_per_minute: 0,
            ..clinical_sites::config::Config::defaults()
        };
        let app = TestApp::with_config(config).await;
        let mut rng = Rng(seed_value);
        seed(&app, &mut rng, 240).await;
        for query in [
            "near=39.9612,-82.9988",
            "near=39.9612,-82.9988&radius=40mi",
            "near=40.2,-83.3&radius=80km&state=OH",
            "sort=name",
            "sort=name&state=MI",
            "sort=-updated_at",
            "state=OH",
            "q=riverside%20radiology",
            "q=lakeview",
            "q=valley&sort=name",
        ] {
            let (unpaged, total) = walk(&app, query, 100).await;
            let expected: BTreeSet<&String> = unpaged.iter().collect();
            assert_eq!(
                expected.len(),
                unpaged.len(),
                "seed {seed_value:x}, {query}: a site twice in pages of 100"
            );
            for _ in 0..2 {
                let limit = 1 + rng.below(17);
                let (paged, paged_total) = walk(&app, query, limit).await;
                let seen: BTreeSet<&String> = paged.iter().collect();
                assert_eq!(
                    seen.len(),
                    paged.len(),
                    "seed {seed_value:x}, {query}, pages of {limit}: a site appears twice"
                );
                assert_eq!(
                    paged, unpaged,
                    "seed {seed_value:x}, {query}, pages of {limit}: the walk differs from pages of 100"
                );
                assert_eq!(paged_total, total);
                if total["relation"] == "eq" {
                    assert_eq!(
                        total["value"].as_u64(),
                        Some(paged.len() as u64),
                        "seed {seed_value:x}, {query}: an exact total equals the walk's length"
                    );
                }
            }
        }
    }
}
