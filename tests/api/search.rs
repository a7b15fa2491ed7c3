//! `GET /v1/sites`: every filter, radius against a great-circle reference, offer-level semantics,
//! typo tolerance, facets, cursor walks, and bad input.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use clinical_sites::geo::{MEAN_EARTH_RADIUS_M, great_circle_m};
use serde_json::{Value, json};

use crate::support::{TestApp, merge, site_body};

const MILE: f64 = 1609.344;

/// Adds a site: the base body with `overrides` merged in.
async fn add(app: &TestApp, token: &str, name: &str, zip: &str, overrides: Value) -> Value {
    let mut body = site_body(name, zip);
    merge(&mut body, &overrides);
    app.create_site(token, &body).await
}

async fn search(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/v1/sites?{query}")).await;
    assert_eq!(response.status, StatusCode::OK, "{query}: {response:?}");
    response.json()
}

/// The names found by `query` (one page of up to 100).
async fn names(app: &TestApp, query: &str) -> BTreeSet<String> {
    let page = search(app, &format!("{query}&limit=100")).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A small directory with one distinguishing trait per site.
async fn directory(app: &TestApp) -> String {
    let (_, admin) = app.admin("admin").await;
    add(app, &admin, "Alpha Hospital", "43210", json!({"site_type": "hospital", "payment": "free", "liability_insurance": "not_required", "hipaa_training": "provided_by_site", "housing": "free", "schedule": ["weekday"]})).await;
    add(app, &admin, "Beta Imaging", "44114", json!({"state": "OH", "city": "Cleveland", "payment": "fee", "fee_usd": 300, "liability_insurance": "required", "hipaa_training": "either", "schedule": ["evening", "weekend"], "offers": {"ct": null, "mri": {"accepts": ["independent"], "verifier_on_site": true}}})).await;
    add(app, &admin, "Gamma Clinic", "48104", json!({"state": "MI", "city": "Ann Arbor", "site_type": "clinic", "payment": "fee", "fee_usd": 1500, "hipaa_training": "bring_own_certificate", "housing": "none", "offers": {"ct": {"accepts": ["employees"], "verifier_on_site": false}, "mammography": {"accepts": ["independent"], "accepting": false}}})).await;
    add(app, &admin, "Delta Breast Center", "46202", json!({"state": "IN", "city": "Indianapolis", "site_type": "breast_center", "payment": "program_tuition", "housing": "help_finding", "aliases": ["Delta Mammography"], "offers": {"ct": null, "mammography": {"accepts": ["program_students"]}}})).await;
    let epsilon = add(
        app,
        &admin,
        "Epsilon Radiology",
        "43210",
        json!({"payment": "unknown", "schedule": ["night"]}),
    )
    .await;
    // An archived site never shows up unless asked for.
    let id = epsilon["site_id"].as_str().unwrap();
    app.call(Method::DELETE, &format!("/v1/sites/{id}"), Some(&admin), None)
        .await;
    add(
        app,
        &admin,
        "Zeta Radiology Partners",
        "43215",
        json!({"offers": {"ct": {"accepting": false}}}),
    )
    .await;
    admin
}

#[tokio::test]
async fn each_filter_alone_and_combined() {
    let app = TestApp::new().await;
    directory(&app).await;
    let all = set(&[
        "Alpha Hospital",
        "Beta Imaging",
        "Gamma Clinic",
        "Delta Breast Center",
        "Zeta Radiology Partners",
    ]);
    assert_eq!(names(&app, "").await, all, "archived sites are not listed");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "modality=CT",
            vec!["Alpha Hospital", "Gamma Clinic", "Zeta Radiology Partners"],
        ),
        ("modality=mr", vec!["Beta Imaging"]),
        (
            "modality=M&modality=MR",
            vec!["Beta Imaging", "Gamma Clinic", "Delta Breast Center"],
        ),
        (
            "modality=mammography,mri",
            vec!["Beta Imaging", "Gamma Clinic", "Delta Breast Center"],
        ),
        (
            "state=OH",
            vec!["Alpha Hospital", "Beta Imaging", "Zeta Radiology Partners"],
        ),
        ("state=mi&state=IN", vec!["Gamma Clinic", "Delta Breast Center"]),
        ("city=cleveland", vec!["Beta Imaging"]),
        ("postal_code=43210", vec!["Alpha Hospital"]),
        ("site_type=hospital", vec!["Alpha Hospital"]),
        (
            "site_type=clinic&site_type=breast_center",
            vec!["Gamma Clinic", "Delta Breast Center"],
        ),
        (
            "accepts=independent",
            vec![
                "Alpha Hospital",
                "Beta Imaging",
                "Gamma Clinic",
                "Zeta Radiology Partners",
            ],
        ),
        ("accepts=program_students", vec!["Delta Breast Center"]),
        ("verifier_on_site=false", vec!["Gamma Clinic"]),
        ("accepting=false", vec!["Gamma Clinic", "Zeta Radiology Partners"]),
        ("payment=free", vec!["Alpha Hospital", "Zeta Radiology Partners"]),
        (
            "payment=fee&payment=program_tuition",
            vec!["Beta Imaging", "Gamma Clinic", "Delta Breast Center"],
        ),
        (
            "max_fee_usd=500",
            vec![
                "Alpha Hospital",
                "Beta Imaging",
                "Delta Breast Center",
                "Zeta Radiology Partners",
            ],
        ),
        ("insurance_required=false", vec!["Alpha Hospital"]),
        ("insurance_required=true", vec!["Beta Imaging"]),
        (
            "hipaa_training=provided_by_site",
            vec!["Alpha Hospital", "Beta Imaging"],
        ),
        (
            "hipaa_training=bring_own_certificate",
            vec!["Beta Imaging", "Gamma Clinic"],
        ),
        ("housing=true", vec!["Alpha Hospital", "Delta Breast Center"]),
        // Only the site that says it offers none: unknown housing is not "no housing".
        ("housing=false", vec!["Gamma Clinic"]),
        ("housing=unknown", vec!["Beta Imaging", "Zeta Radiology Partners"]),
        (
            "schedule=evening&schedule=weekday",
            vec!["Alpha Hospital", "Beta Imaging"],
        ),
        ("status=archived", vec!["Epsilon Radiology"]),
        (
            "status=archived&status=unverified",
            vec![
                "Alpha Hospital",
                "Beta Imaging",
                "Gamma Clinic",
                "Delta Breast Center",
                "Epsilon Radiology",
                "Zeta Radiology Partners",
            ],
        ),
        ("q=delta%20mammography", vec!["Delta Breast Center"]),
        // Combined: AND across parameters.
        (
            "modality=CT&state=OH",
            vec!["Alpha Hospital", "Zeta Radiology Partners"],
        ),
        (
            "modality=CT&state=OH&payment=free&accepting=true",
            vec!["Alpha Hospital"],
        ),
        ("state=OH&max_fee_usd=500&insurance_required=true", vec!["Beta Imaging"]),
        (
            "modality=CT&near=43210&radius=60mi&payment=free&insurance_required=false",
            vec!["Alpha Hospital"],
        ),
        ("site_type=clinic&state=OH", vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(names(&app, query).await, set(&expected), "{query}");
    }
    let recent = search(&app, "updated_since=2000-01-01T00:00:00Z").await;
    assert_eq!(recent["items"].as_array().unwrap().len(), 5);
    let future = search(&app, "updated_since=2999-01-01T00:00:00%2B00:00").await;
    assert_eq!(future["items"], json!([]));
}

#[tokio::test]
async fn unknown_values_match_only_an_explicit_unknown_under_every_filter() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    // One site says yes, one says no, one says nothing, for every filter that can be unknown.
    add(
        &app,
        &admin,
        "Says Yes",
        "43210",
        json!({
            "payment": "free", "housing": "free", "liability_insurance": "required",
            "hipaa_training": "provided_by_site", "schedule": ["evening"],
            "offers": {"ct": {"verifier_on_site": true, "accepts": ["independent"]}}
        }),
    )
    .await;
    add(
        &app,
        &admin,
        "Says No",
        "43210",
        json!({
            "payment": "fee", "fee_usd": 100, "housing": "none", "liability_insurance": "not_required",
            "hipaa_training": "bring_own_certificate", "schedule": ["weekday"],
            "offers": {"ct": {"verifier_on_site": false, "accepts": ["employees"]}}
        }),
    )
    .await;
    let silent = add(
        &app,
        &admin,
        "Says Nothing",
        "43210",
        json!({
            "payment": null, "offers": {"ct": {"verifier_on_site": null, "accepts": null}}
        }),
    )
    .await;
    assert_eq!(silent["payment"], "unknown");
    for field in ["housing", "liability_insurance", "hipaa_training"] {
        assert!(silent[field].is_null(), "{field}: {silent}");
    }
    let cases: &[(&str, &[&str])] = &[
        ("housing=true", &["Says Yes"]),
        ("housing=false", &["Says No"]),
        ("housing=unknown", &["Says Nothing"]),
        ("insurance_required=true", &["Says Yes"]),
        ("insurance_required=false", &["Says No"]),
        ("insurance_required=unknown", &["Says Nothing"]),
        ("hipaa_training=provided_by_site", &["Says Yes"]),
        ("hipaa_training=bring_own_certificate", &["Says No"]),
        ("hipaa_training=either", &[]),
        ("hipaa_training=unknown", &["Says Nothing"]),
        ("payment=free", &["Says Yes"]),
        ("payment=fee", &["Says No"]),
        ("payment=unknown", &["Says Nothing"]),
        ("max_fee_usd=500", &["Says Yes", "Says No"]),
        ("max_fee_usd=50", &["Says Yes"]),
        ("verifier_on_site=true", &["Says Yes"]),
        ("verifier_on_site=false", &["Says No"]),
        ("verifier_on_site=unknown", &["Says Nothing"]),
        ("modality=CT&verifier_on_site=unknown", &["Says Nothing"]),
        ("accepts=independent", &["Says Yes"]),
        ("accepts=employees", &["Says No"]),
        ("accepts=unknown", &["Says Nothing"]),
        ("schedule=evening", &["Says Yes"]),
        ("schedule=weekday", &["Says No"]),
        ("schedule=unknown", &["Says Nothing"]),
        ("schedule=evening&schedule=unknown", &["Says Yes", "Says Nothing"]),
        ("schedule=weekday,unknown", &["Says No", "Says Nothing"]),
        (
            "housing=unknown&insurance_required=unknown&hipaa_training=unknown",
            &["Says Nothing"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(names(&app, query).await, set(expected), "{query}");
        // The same through the other plans: nearest first, and with facets.
        assert_eq!(
            names(&app, &format!("{query}&near=43210")).await,
            set(expected),
            "{query} nearest first"
        );
        assert_eq!(
            names(&app, &format!("{query}&facets=state")).await,
            set(expected),
            "{query} with facets"
        );
    }
    for query in ["housing=maybe", "insurance_required=yes", "verifier_on_site=null"] {
        let response = app.get(&format!("/v1/sites?{query}")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            response.problem().errors[0].message.contains("true, false or unknown"),
            "{query}"
        );
    }
    let response = app.get("/v1/sites?accepting=unknown").await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "an offer is always accepting or not"
    );
}

#[tokio::test]
async fn offer_filters_hold_for_the_same_offer() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    // Independent candidates only for MRI; CT is for employees.
    add(
        &app,
        &admin,
        "Split Offers Hospital",
        "43210",
        json!({"offers": {
            "ct": {"accepts": ["employees"], "verifier_on_site": true},
            "mri": {"accepts": ["independent"], "verifier_on_site": false}
        }}),
    )
    .await;
    assert_eq!(names(&app, "modality=CT&accepts=independent").await, set(&[]));
    assert_eq!(
        names(&app, "modality=MR&accepts=independent").await,
        set(&["Split Offers Hospital"])
    );
    assert_eq!(
        names(&app, "accepts=independent").await,
        set(&["Split Offers Hospital"])
    );
    // No single offer takes independent candidates with a verifier on site.
    assert_eq!(names(&app, "accepts=independent&verifier_on_site=true").await, set(&[]));
    assert_eq!(
        names(&app, "accepts=employees&verifier_on_site=true").await,
        set(&["Split Offers Hospital"])
    );
    assert_eq!(
        names(
            &app,
            "modality=CT&modality=MR&accepts=independent&verifier_on_site=false"
        )
        .await,
        set(&["Split Offers Hospital"])
    );
}

/// The point `distance_m` from `from` on `bearing_deg`, on the mean Earth sphere (where the server
/// measures distances, as maps do).
fn destination(from: (f64, f64), bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let (lat1, lon1) = (from.0.to_radians(), from.1.to_radians());
    let (theta, delta) = (bearing_deg.to_radians(), distance_m / MEAN_EARTH_RADIUS_M);
    let lat2 = (lat1.sin() * delta.cos() + lat1.cos() * delta.sin() * theta.cos()).asin();
    let lon2 = lon1 + (theta.sin() * delta.sin() * lat1.cos()).atan2(delta.cos() - lat1.sin() * lat2.sin());
    (lat2.to_degrees(), lon2.to_degrees())
}

#[tokio::test]
async fn radius_results_equal_a_great_circle_reference_in_both_units() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let center = (39.9612, -82.9988);
    let mut fixture = Vec::new();
    // Just inside and just outside 60 miles and 100 km, in several directions, plus a spread.
    let mut distances = vec![];
    for (i, bearing) in [0.0, 73.0, 145.0, 222.0, 301.0].iter().enumerate() {
        distances.push((*bearing, 60.0 * MILE - 150.0, format!("in60mi-{i}")));
        distances.push((*bearing, 60.0 * MILE + 150.0, format!("out60mi-{i}")));
        distances.push((*bearing + 10.0, 100_000.0 - 150.0, format!("in100km-{i}")));
        distances.push((*bearing + 10.0, 100_000.0 + 150.0, format!("out100km-{i}")));
        distances.push((*bearing + 20.0, 20_000.0 * (i as f64 + 1.0), format!("spread-{i}")));
    }
    for (index, (bearing, distance, name)) in distances.iter().enumerate() {
        let point = destination(center, *bearing, *distance);
        let overrides = json!({"latitude": point.0, "longitude": point.1});
        let site = add(&app, &admin, &format!("Radius Site {index} {name}"), "43210", overrides).await;
        fixture.push((site["name"].as_str().unwrap().to_owned(), point));
    }
    for (radius, meters, unit) in [
        ("60mi", 60.0 * MILE, "mi"),
        ("100km", 100_000.0, "km"),
        ("37.5", 37.5 * MILE, "mi"),
    ] {
        let query = format!("near={},{}&radius={radius}&limit=100", center.0, center.1);
        let page = search(&app, &query).await;
        let found: BTreeSet<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect();
        let reference: BTreeSet<String> = fixture
            .iter()
            .filter(|(_, point)| great_circle_m(center, *point) <= meters)
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(found, reference, "{radius}");
        assert!(!reference.is_empty());
        let mut previous = 0.0;
        for item in page["items"].as_array().unwrap() {
            let (_, point) = fixture.iter().find(|(name, _)| item["name"] == name.as_str()).unwrap();
            let expected = great_circle_m(center, *point) / if unit == "mi" { MILE } else { 1000.0 };
            let distance = item["distance"].as_f64().unwrap();
            assert!(
                (distance - expected).abs() < 1e-6 * expected.max(1.0),
                "{distance} vs {expected}"
            );
            assert_eq!(item["distance_unit"], unit);
            assert!(distance >= previous, "nearest first");
            previous = distance;
        }
    }
    // A ZIP as the centre means its centroid.
    let zip = search(&app, "near=43210&radius=1000km&limit=1&view=full").await;
    let centroid = clinical_sites::geo::zip_centroid("43210").unwrap();
    let first = &zip["items"][0];
    let point = (
        first["latitude"].as_f64().unwrap(),
        first["longitude"].as_f64().unwrap(),
    );
    assert!((first["distance"].as_f64().unwrap() - great_circle_m(centroid, point) / 1000.0).abs() < 1e-6);
}

/// The sites of a page as `(name, distance shown)`, in the page's order.
fn distances_shown(page: &Value) -> Vec<(String, f64)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["distance"].as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_site_59_95_miles_away_as_maps_measure_it_is_inside_60_miles() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let center = (39.9612, -82.9988);
    // Distances by haversine on the mean radius (6,371,008.8 m). On earthdistance's sphere the
    // first would be 60.02 miles and left out of 60.
    let fixture = [
        ("Inside 60 mi", 90.0, 59.95 * MILE),
        ("Outside 60 mi", 270.0, 60.05 * MILE),
        ("Inside 100 km", 0.0, 99_950.0),
        ("Outside 100 km", 180.0, 100_050.0),
    ];
    for (name, bearing, meters) in fixture {
        let point = destination(center, bearing, meters);
        assert!((great_circle_m(center, point) - meters).abs() < 1e-6, "{name}");
        add(
            &app,
            &admin,
            name,
            "43210",
            json!({"latitude": point.0, "longitude": point.1}),
        )
        .await;
    }
    let near = format!("near={},{}", center.0, center.1);
    let shown = distances_shown;
    let close = |shown: f64, expected: f64| (shown - expected).abs() < 1e-9 * expected;

    let page = search(&app, &format!("{near}&radius=60mi")).await;
    let items = shown(&page);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].0, "Inside 60 mi");
    assert!(close(items[0].1, 59.95), "{items:?}");
    assert_eq!(page["items"][0]["distance_unit"], "mi");
    assert_eq!(page["total"], json!({"value": 1, "relation": "eq"}));

    // A little wider takes the 60.05, in order, shown as 60.05.
    let items = shown(&search(&app, &format!("{near}&radius=60.1mi")).await);
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(close(items[0].1, 59.95) && close(items[1].1, 60.05), "{items:?}");

    // In kilometres: 59.95 and 60.05 miles are 96.48 and 96.64 km, both inside 100 km with 99.95.
    let page = search(&app, &format!("{near}&radius=100km")).await;
    let items = shown(&page);
    let names: Vec<&str> = items.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["Inside 60 mi", "Outside 60 mi", "Inside 100 km"]);
    assert!(close(items[0].1, 59.95 * MILE / 1000.0), "{items:?}");
    assert!(close(items[1].1, 60.05 * MILE / 1000.0), "{items:?}");
    assert!(close(items[2].1, 99.95), "{items:?}");
    assert_eq!(page["items"][0]["distance_unit"], "km");
    let items = shown(&search(&app, &format!("{near}&radius=100.1km")).await);
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(close(items[3].1, 100.05), "{items:?}");

    // A radius a centimetre short of a site's distance leaves it out, a centimetre more keeps it.
    for (name, _, meters) in fixture {
        for (radius, inside) in [(meters - 0.01, false), (meters + 0.01, true)] {
            let found = names_of(&search(&app, &format!("{near}&radius={}km&limit=100", radius / 1000.0)).await);
            assert_eq!(found.contains(name), inside, "{name} within {radius} m");
        }
    }
}

/// The names of a page's sites.
fn names_of(page: &Value) -> BTreeSet<String> {
    distances_shown(page).into_iter().map(|(name, _)| name).collect()
}

/// The WGS84 geodesic distance in metres (Karney's algorithm).
fn geodesic_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    use geographiclib_rs::{Geodesic, InverseGeodesic};
    Geodesic::wgs84().inverse(a.0, a.1, b.0, b.1)
}

#[tokio::test]
async fn distances_across_the_us_agree_with_the_wgs84_geodesic() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let cities = [
        ("Chicago IL", (41.8781, -87.6298)),
        ("New York NY", (40.7128, -74.0060)),
        ("Los Angeles CA", (34.0522, -118.2437)),
        ("Seattle WA", (47.6062, -122.3321)),
        ("Miami FL", (25.7617, -80.1918)),
        ("Boston MA", (42.3601, -71.0589)),
        ("Denver CO", (39.7392, -104.9903)),
        ("Ohio State", (40.0067, -83.0305)),
    ];
    for (name, point) in cities {
        add(
            &app,
            &admin,
            name,
            "43210",
            json!({"latitude": point.0, "longitude": point.1}),
        )
        .await;
    }
    let point_of = |name: &str| cities.iter().find(|(city, _)| *city == name).unwrap().1;
    // Centre, radius (none: every site), unit of the distances shown.
    for (center, radius, unit) in [
        ((39.9612, -82.9988), Some(("1000mi", 1000.0 * MILE)), MILE),
        ((39.9612, -82.9988), None, MILE),
        ((39.7392, -104.9903), Some(("1600km", 1_600_000.0)), 1000.0),
        ((25.7617, -80.1918), None, MILE),
    ] {
        let query = match radius {
            Some((radius, _)) => format!("near={},{}&radius={radius}", center.0, center.1),
            None => format!("near={},{}", center.0, center.1),
        };
        let items = distances_shown(&search(&app, &format!("{query}&limit=100")).await);
        let mut reference: Vec<(String, f64)> = cities
            .iter()
            .map(|(name, point)| (name.to_string(), great_circle_m(center, *point)))
            .filter(|(_, meters)| radius.is_none_or(|(_, radius)| *meters <= radius))
            .collect();
        reference.sort_by(|a, b| a.1.total_cmp(&b.1));
        let names: Vec<&str> = items.iter().map(|(name, _)| name.as_str()).collect();
        let expected: Vec<&str> = reference.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, expected, "{query}: nearest first, by the haversine");
        assert!(items.len() >= 3, "{query}");
        for window in items.windows(2) {
            assert!(
                window[0].1 <= window[1].1,
                "{query}: in the order of the distances shown"
            );
        }
        for ((name, shown), (_, haversine)) in items.iter().zip(&reference) {
            let meters = shown * unit;
            assert!(
                (meters - haversine).abs() <= 1e-6 * haversine,
                "{query} {name}: {meters} vs {haversine}"
            );
            let geodesic = geodesic_m(center, point_of(name));
            assert!(
                (meters - geodesic).abs() <= 0.005 * geodesic,
                "{query} {name}: {meters} m vs {geodesic} m on WGS84"
            );
        }
        // Page by page, the same sites in the same order.
        let page = search(&app, &format!("{query}&limit=100")).await;
        let unpaged: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["site_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            walk(&app, &query, 2, async |_| {}).await,
            unpaged,
            "{query} in pages of 2"
        );
    }
}

#[tokio::test]
async fn typos_still_find_names_cities_and_aliases_ranked() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    add(&app, &admin, "Riverside Radiology", "43210", json!({})).await;
    add(&app, &admin, "Radiology Associates of Ohio", "43215", json!({})).await;
    add(
        &app,
        &admin,
        "Hilltop Hospital",
        "43215",
        json!({"aliases": ["OSU Wexner Imaging"]}),
    )
    .await;
    add(&app, &admin, "Lakeside Clinic", "44114", json!({"city": "Cleveland"})).await;
    assert_eq!(
        names(&app, "q=radiolgy").await,
        set(&["Riverside Radiology", "Radiology Associates of Ohio"]),
        "a typo"
    );
    assert_eq!(names(&app, "q=wexnr").await, set(&["Hilltop Hospital"]), "an alias");
    assert_eq!(names(&app, "q=clevland").await, set(&["Lakeside Clinic"]), "a city");
    let ranked = search(&app, "q=riverside%20radiology").await;
    assert_eq!(ranked["sort"], "relevance");
    assert_eq!(
        ranked["items"][0]["name"], "Riverside Radiology",
        "the best match first"
    );
    let scores: Vec<f64> = ranked["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["relevance"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(names(&app, "q=zzzzqqq").await, set(&[]));
    // Common words and words like nothing listed are left out; the rest must all match.
    assert_eq!(
        names(&app, "q=the%20riverside%20radiolgy%20of%20zzzzqqq").await,
        set(&["Riverside Radiology"])
    );
    assert_eq!(
        names(&app, "q=of%20the").await,
        set(&["Radiology Associates of Ohio"]),
        "only common words: they are the query"
    );
    assert_eq!(
        names(&app, "q=hilltop%20b%20c%20d%20e%20f%20radiology").await,
        set(&["Hilltop Hospital"]),
        "only 6 words count"
    );
}

#[tokio::test]
async fn relevance_ranks_exact_words_first_and_lists_each_site_once() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let exact = add(&app, &admin, "Riverside Imaging", "43210", json!({})).await;
    let misspelt = add(&app, &admin, "Riversid Imaging", "43215", json!({})).await;
    // Has both the word and its misspelling: it belongs with the exact matches, once.
    let both = add(&app, &admin, "Riverside Riversid Imaging", "43201", json!({})).await;
    add(&app, &admin, "Riverside Clinic", "43201", json!({})).await;
    let id = |site: &Value| site["site_id"].as_str().unwrap().to_owned();

    let page = search(&app, "q=riverside%20imaging&limit=100").await;
    let items = page["items"].as_array().unwrap();
    let ids: Vec<String> = items.iter().map(id).collect();
    let mut top = [id(&exact), id(&both)];
    top.sort();
    assert_eq!(
        ids,
        [top[0].clone(), top[1].clone(), id(&misspelt)],
        "every word must match"
    );
    assert_eq!(items[0]["relevance"], 1.0);
    assert_eq!(items[1]["relevance"], 1.0);
    let typo = items[2]["relevance"].as_f64().unwrap();
    assert!(typo > 0.5 && typo < 1.0, "{typo}");
    assert_eq!(page["total"], json!({"value": 3, "relation": "eq"}));
    for limit in [1, 2] {
        assert_eq!(walk(&app, "q=riverside%20imaging", limit, async |_| {}).await, ids);
    }
    // Other orders and the facets see the same matches.
    let by_name = search(&app, "q=riverside%20imaging&sort=name").await;
    assert_eq!(by_name["total"]["value"], 3);
    let faceted = search(&app, "q=riverside%20imaging&facets=state").await;
    assert_eq!(faceted["facets"]["state"], json!([{"value": "OH", "count": 3}]));
}

#[tokio::test]
async fn a_relevance_walk_keeps_its_words_while_the_dictionary_changes() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let zips = [
        "43210", "43215", "43201", "44114", "48104", "46202", "45202", "43085", "43004", "43016", "43017",
    ];
    let mut expected = Vec::new();
    for (i, zip) in zips.iter().take(3).enumerate() {
        let site = add(&app, &admin, &format!("Abcdefgx Clinic {i}"), zip, json!({})).await;
        expected.push(site["site_id"].as_str().unwrap().to_owned());
    }
    expected.sort();
    // A one-word query stands for its 8 closest dictionary words; while walking, 8 closer words
    // arrive. The walk keeps the words it started with and loses nobody.
    let mut added = false;
    let walked = walk(&app, "q=abcdefgh", 1, async |_| {
        if !added {
            added = true;
            for (i, zip) in zips.iter().skip(3).enumerate() {
                let letter = (b'i' + i as u8) as char;
                add(&app, &admin, &format!("Abcdefgh{letter} Center {i}"), zip, json!({})).await;
            }
        }
    })
    .await;
    assert!(added);
    assert_eq!(walked, expected);
}

#[tokio::test]
async fn text_search_follows_renames_and_archiving() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    let site = add(&app, &admin, "Lakeside Clinic", "44114", json!({})).await;
    let site_id = site["site_id"].as_str().unwrap();
    assert_eq!(names(&app, "q=lakesde").await, set(&["Lakeside Clinic"]));
    let etag = app.etag(site_id).await;
    let response = app
        .patch_site(&admin, site_id, &etag, &json!({"name": "Harborview Clinic"}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(names(&app, "q=lakeside").await, set(&[]));
    assert_eq!(names(&app, "q=harborveiw%20clinic").await, set(&["Harborview Clinic"]));
    // Archived: out of text searches unless asked for.
    app.call(Method::DELETE, &format!("/v1/sites/{site_id}"), Some(&admin), None)
        .await;
    let archived = search(&app, "q=harborview").await;
    assert_eq!(archived["items"], json!([]));
    assert_eq!(archived["total"], json!({"value": 0, "relation": "eq"}));
    assert_eq!(
        names(&app, "q=harborview&status=archived").await,
        set(&["Harborview Clinic"])
    );
}

/// Every facet count of each base search equals the total of that search with the facet's own
/// filter replaced by the value; for facets with one value per site the counts also add up to the
/// total without that filter (no value missing).
async fn assert_facets_match(app: &TestApp, bases: &[&str]) {
    for base in bases {
        let page = search(
            app,
            &format!("{base}&facets=modality,site_type,state,payment,accepts,schedule,hipaa_training,status"),
        )
        .await;
        let facets = page["facets"].as_object().unwrap();
        assert_eq!(facets.len(), 8);
        for (facet, counts) in facets {
            // The same search without this facet's own filter.
            let others: Vec<&str> = base
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with(&format!("{facet}=")))
                .collect();
            let mut sum = 0;
            for count in counts.as_array().unwrap() {
                let value = count["value"].as_str().unwrap();
                let query = format!("{}&{facet}={value}&limit=100", others.join("&"));
                let filtered = search(app, &query).await;
                assert_eq!(filtered["total"]["relation"], "eq");
                // The total is the sites listed.
                assert_eq!(
                    filtered["total"]["value"],
                    filtered["items"].as_array().unwrap().len(),
                    "{query}"
                );
                assert_eq!(count["count"], filtered["total"]["value"], "{base}: {facet}={value}");
                sum += count["count"].as_i64().unwrap();
            }
            if facet == "status" {
                // Archived sites count here too (the facet ignores the status filter).
                let listed: Vec<&str> = counts
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["value"].as_str().unwrap())
                    .collect();
                for value in ["unverified", "verified", "archived"]
                    .iter()
                    .filter(|v| !listed.contains(v))
                {
                    let filtered = search(app, &format!("{}&status={value}", others.join("&"))).await;
                    assert_eq!(
                        filtered["total"]["value"], 0,
                        "{base}: status={value} missing from the facet"
                    );
                }
            }
            if ["site_type", "state", "payment"].contains(&facet.as_str()) {
                let without = search(app, &others.join("&")).await;
                assert_eq!(
                    sum,
                    without["total"]["value"].as_i64().unwrap(),
                    "{base}: {facet} adds up"
                );
            }
        }
    }
}

#[tokio::test]
async fn facet_counts_equal_the_counts_of_the_filtered_searches() {
    let app = TestApp::new().await;
    directory(&app).await;
    assert_facets_match(
        &app,
        &[
            "",
            "state=OH",
            "accepts=independent",
            "modality=CT&payment=free",
            "near=43210&radius=300mi",
            "q=radiology",
            "modality=CT&modality=MR",
            "status=archived",
            // No site matches, yet other values of each facet have some.
            "state=OH&site_type=clinic",
            "state=IN&accepts=independent",
        ],
    )
    .await;
}

#[tokio::test]
async fn facets_stay_exact_through_edits_archiving_and_restoring() {
    let app = TestApp::new().await;
    let admin = directory(&app).await;
    let bases = [
        "",
        "state=OH",
        "modality=CT&payment=free",
        "modality=MR&state=OH&site_type=hospital",
        "status=archived",
    ];
    let alpha = search(&app, "q=alpha").await["items"][0]["site_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta = search(&app, "q=beta").await["items"][0]["site_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let edits = [
        (
            alpha.clone(),
            json!({"state": "MI", "site_type": "clinic", "offers": {"mri": {}}}),
        ),
        (
            beta.clone(),
            json!({"payment": "free", "fee_usd": null, "offers": {"mri": null, "ct": {}}}),
        ),
    ];
    for (id, patch) in edits {
        let etag = app.etag(&id).await;
        let response = app.patch_site(&admin, &id, &etag, &patch).await;
        assert_eq!(response.status, StatusCode::OK, "{response:?}");
    }
    let response = app
        .call(Method::DELETE, &format!("/v1/sites/{alpha}"), Some(&admin), None)
        .await;
    assert!(response.status.is_success(), "{response:?}");
    assert_facets_match(&app, &bases).await;
    let response = app
        .call(Method::POST, &format!("/v1/sites/{alpha}/restore"), Some(&admin), None)
        .await;
    assert!(response.status.is_success(), "{response:?}");
    assert_facets_match(&app, &bases).await;
}

/// `site_derived_rebuild()`, for bulk loads that write sites with triggers off (their rows carry
/// no transaction id for the change feed): running search indexes reload, and find and count them.
#[tokio::test]
async fn sites_inserted_with_triggers_off_are_searchable_and_a_rebuild_keeps_them() {
    let app = TestApp::new().await;
    directory(&app).await;
    // The index is built (the site below is written after it).
    assert_eq!(search(&app, "q=omicron").await["total"]["value"], 0);
    // A site written with the triggers off, as a bulk load writes it, is found and counted once
    // the rebuild has run.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("alter table site disable trigger user")
        .execute(&mut *tx)
        .await
        .unwrap();
    for statement in [
        "insert into site (site_id, name, site_type, city, state, postal_code, modalities, source)
         values ('0190aaaa-0000-7000-8000-000000000001', 'Omicron Sonography', 'clinic', 'Dayton', 'OH', '45402',
                 '{sonography}', 'import')",
        "insert into site_offer (site_id, modality, accepts)
         values ('0190aaaa-0000-7000-8000-000000000001', 'sonography', '{independent}')",
        "update site set offers = site_offers_json(site_id) where site_id = '0190aaaa-0000-7000-8000-000000000001'",
    ] {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    sqlx::query("alter table site enable trigger user")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A new row takes the writing transaction's id as its default, triggers or not: found at once.
    app.sync_search().await;
    assert_eq!(names(&app, "q=omicron").await, set(&["Omicron Sonography"]));
    // The rebuild makes every index read the sites afresh: the site is still there, counted once.
    sqlx::query("select site_derived_rebuild()")
        .execute(&app.pool)
        .await
        .unwrap();
    app.sync_search().await;
    assert_eq!(names(&app, "q=omicron").await, set(&["Omicron Sonography"]));
    assert_facets_match(&app, &["", "state=OH", "modality=sonography"]).await;
}

/// Walks every page of `query` and returns the ids in order.
async fn walk(app: &TestApp, query: &str, limit: u32, mut between: impl AsyncFnMut(usize)) -> Vec<String> {
    let mut ids = Vec::new();
    let mut uri = format!("/v1/sites?{query}&limit={limit}");
    for page_number in 0.. {
        let response = app.get(&uri).await;
        assert_eq!(response.status, StatusCode::OK, "{uri}: {response:?}");
        let link = response.header("link").map(str::to_owned);
        let page = response.json();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["site_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let link = link.expect("a Link header with the next page");
                assert!(link.ends_with("rel=\"next\"") && link.contains(cursor), "{link}");
                uri = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
                between(page_number).await;
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
    }
    ids
}

#[tokio::test]
async fn a_cursor_walk_equals_the_unpaged_result_for_every_sort_even_with_ties_and_inserts() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    // 30 sites: groups share exact coordinates (a ZIP centroid), names repeat, so every sort has ties.
    let zips = ["43210", "43215", "43201"];
    for i in 0..30 {
        let name = format!("Radiology Center {}", i % 7);
        let zip = zips[i % 3];
        let mut body = site_body(&format!("{name} {}", i / 7), zip);
        body["aliases"] = json!([format!("Imaging {i}")]);
        app.create_site(&admin, &body).await;
    }
    for query in [
        "sort=name",
        "sort=-updated_at",
        "near=43210",
        "near=43210&radius=50mi",
        "q=radiology",
        "modality=CT&state=OH",
    ] {
        let unpaged = walk(&app, query, 100, async |_| {}).await;
        assert_eq!(unpaged.len(), 30, "{query}");
        for limit in [1, 4, 7] {
            let paged = walk(&app, query, limit, async |_| {}).await;
            assert_eq!(paged, unpaged, "{query} in pages of {limit}");
        }
    }
    // Inserting while walking (newest first): nothing repeats, and every site that existed is seen.
    let before: BTreeSet<String> = walk(&app, "sort=-updated_at", 100, async |_| {})
        .await
        .into_iter()
        .collect();
    let mut inserted = 0;
    let during = walk(&app, "sort=-updated_at", 4, async |page| {
        let body = site_body(&format!("Inserted During Walk {page}"), "44114");
        app.create_site(&admin, &body).await;
        inserted += 1;
    })
    .await;
    let unique: BTreeSet<String> = during.iter().cloned().collect();
    assert_eq!(unique.len(), during.len(), "no site twice");
    assert_eq!(
        unique, before,
        "exactly the sites that existed; new ones sort ahead of the cursor"
    );
    assert!(inserted > 3);
}

/// Seeds `count` sites directly at one point, inserted in descending id order (ids from `first`
/// down), so an index's order of equal distances is not the id order.
async fn seed_at(app: &TestApp, first: u32, count: u32, point: (f64, f64)) {
    sqlx::query(
        "insert into site (site_id, name, site_type, city, state, postal_code, source, status,
                           latitude, longitude, coordinates_source)
         select ('01900000-0000-7000-8000-' || lpad(to_hex($1 - i), 12, '0'))::uuid, 'Stacked ' || ($1 - i),
                'clinic', 'Columbus', 'OH', '43210', 'import', 'verified', $3, $4, 'zip_centroid'
           from generate_series(0, $2 - 1) i",
    )
    .bind(i64::from(first))
    .bind(i64::from(count))
    .bind(point.0)
    .bind(point.1)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync_search().await;
}

#[tokio::test]
async fn a_distance_walk_is_exact_through_ties_larger_than_its_window() {
    let app = TestApp::new().await;
    // 60 sites at exactly one point (more than a page's window of nearest matches) and 5 farther.
    let centre = clinical_sites::geo::zip_centroid("43210").unwrap();
    seed_at(&app, 1000, 60, centre).await;
    seed_at(&app, 2000, 5, (centre.0 + 0.1, centre.1)).await;
    let unpaged = walk(&app, "near=43210", 100, async |_| {}).await;
    assert_eq!(unpaged.len(), 65);
    let mut in_order = unpaged[..60].to_vec();
    in_order.sort();
    assert_eq!(unpaged[..60], in_order[..], "equal distances in id order");
    for limit in [1, 5, 20] {
        let paged = walk(&app, "near=43210", limit, async |_| {}).await;
        assert_eq!(paged, unpaged, "pages of {limit}");
    }
    // A radius search's total is exact, however many match.
    let page = search(&app, "near=43210&radius=5mi&limit=1").await;
    assert_eq!(page["total"], json!({"value": 60, "relation": "eq"}));
    let page = search(&app, "near=43210&radius=50mi&limit=1").await;
    assert_eq!(page["total"], json!({"value": 65, "relation": "eq"}));
    seed_at(&app, 3000, 40, centre).await;
    let page = search(&app, "near=43210&radius=50mi&limit=1").await;
    assert_eq!(page["total"], json!({"value": 105, "relation": "eq"}));
    let page = search(&app, "near=43210&radius=50mi&limit=100").await;
    assert_eq!(page["total"], json!({"value": 105, "relation": "eq"}));
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    let page = search(&app, "near=43210&radius=5mi&limit=1").await;
    assert_eq!(page["total"], json!({"value": 100, "relation": "eq"}));
}

#[tokio::test]
async fn totals_are_exact_whatever_the_filters() {
    let app = TestApp::new().await;
    directory(&app).await;
    let page = search(&app, "state=OH&limit=1").await;
    assert_eq!(page["total"], json!({"value": 3, "relation": "eq"}));
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // Seed rows directly, 100 in Sparks and 1001 in Reno.
    sqlx::query(
        "insert into site (site_id, name, site_type, city, state, postal_code, source, status)
         select gen_random_uuid(), 'Bulk ' || i, 'clinic', case when i <= 100 then 'Sparks' else 'Reno' end,
                'NV', '89501', 'import', 'verified'
           from generate_series(1, 1101) i",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync_search().await;
    for (query, total) in [
        ("state=NV&limit=1", 1101),
        ("state=NV&site_type=clinic&status=verified&limit=1", 1101),
        ("state=NV&city=sparks&limit=1", 100),
        ("state=NV&city=reno&limit=1", 1001),
        ("q=bulk&limit=1", 1101),
        ("q=bulk%20sparks&limit=1", 100),
        ("q=bulk&city=reno&facets=state&limit=1", 1001),
    ] {
        let page = search(&app, query).await;
        assert_eq!(page["total"], json!({"value": total, "relation": "eq"}), "{query}");
    }
    // The total is counted with the first page; the walk's later pages report it too.
    let first = search(&app, "state=OH&limit=1").await;
    sqlx::query(
        "insert into site (site_id, name, site_type, city, state, postal_code, source, status)
         values (gen_random_uuid(), 'Late Arrival', 'clinic', 'Columbus', 'OH', '43210', 'import', 'verified')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync_search().await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = search(&app, &format!("state=OH&limit=1&cursor={cursor}")).await;
    assert_eq!(second["total"], json!({"value": 3, "relation": "eq"}));
    assert_eq!(search(&app, "state=OH&limit=1").await["total"]["value"], 4);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    for i in 0..3 {
        app.create_site(&admin, &site_body(&format!("Cursor Site {i}"), "43210"))
            .await;
    }
    let page = search(&app, "sort=name&limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = vec![
        ("radius=60mi".to_owned(), "radius", "needs `near`"),
        ("modality=xray".to_owned(), "modality", "ct, mri"),
        ("payment=barter".to_owned(), "payment", "free, fee"),
        ("site_type=castle".to_owned(), "site_type", "hospital"),
        ("near=abc".to_owned(), "near", "LAT,LON"),
        ("near=91,0".to_owned(), "near", "latitude"),
        ("near=40,-200".to_owned(), "near", "longitude"),
        ("near=00000".to_owned(), "near", "not in the ZIP reference data"),
        ("near=43210&radius=-5mi".to_owned(), "radius", "positive"),
        ("near=43210&radius=5000mi".to_owned(), "radius", "at most"),
        ("near=43210&radius=ten".to_owned(), "radius", "positive"),
        ("limit=0".to_owned(), "limit", "1 to 100"),
        ("limit=101".to_owned(), "limit", "1 to 100"),
        ("sort=distance".to_owned(), "sort", "needs `near`"),
        ("sort=sideways".to_owned(), "sort", "relevance, distance"),
        (format!("sort=name&limit=1&cursor={tampered}"), "cursor", "not a cursor"),
        (
            format!("sort=-updated_at&limit=1&cursor={cursor}"),
            "cursor",
            "not a cursor",
        ),
        (
            format!("sort=name&state=MI&limit=1&cursor={cursor}"),
            "cursor",
            "not a cursor",
        ),
        ("cursor=garbage".to_owned(), "cursor", "not a cursor"),
        ("facets=colour".to_owned(), "facets", "modality"),
        ("facets=&facets=".to_owned(), "facets", "not a facet"),
        ("modality=ct,".to_owned(), "modality", "not a modality"),
        ("state=".to_owned(), "state", "USPS"),
        ("max_fee_usd=-1".to_owned(), "max_fee_usd", "0 to 100000"),
        (
            "verifier_on_site=maybe".to_owned(),
            "verifier_on_site",
            "true, false or unknown",
        ),
        ("updated_since=last%20week".to_owned(), "updated_since", "RFC 3339"),
        ("q=a".to_owned(), "q", "2 to 200"),
        ("city=%00".to_owned(), "city", "control characters"),
        ("q=ab%00cd".to_owned(), "q", "2 to 200"),
        ("colour=red".to_owned(), "colour", "not a search parameter"),
    ];
    for (query, parameter, message) in cases {
        let response = app.get(&format!("/v1/sites?{query}")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        let problem = response.problem();
        let error = problem.errors.iter().find(|e| e.field == parameter);
        let error = error.unwrap_or_else(|| panic!("{query}: {parameter} not named in {problem:?}"));
        assert!(error.message.contains(message), "{query}: {:?}", error.message);
    }
    // The same cursor with a different page size continues the same walk.
    let next = search(&app, &format!("sort=name&limit=2&cursor={cursor}")).await;
    assert_eq!(next["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_cursor_of_one_sort_is_refused_with_another() {
    let app = TestApp::new().await;
    let (_, admin) = app.admin("admin").await;
    for (name, zip) in [
        ("Kelvandri Imaging", "43210"),
        ("Kelvandri Imaging West", "43215"),
        ("Kelvandri Imaging North", "43085"),
    ] {
        app.create_site(&admin, &site_body(name, zip)).await;
    }
    // `q` and `near` together allow every sort, so only the cursor tells the walks apart.
    let base = "q=kelvandri&near=43210&limit=1";
    let mut cursors = Vec::new();
    for sort in ["distance", "relevance", "name", "-updated_at"] {
        let page = search(&app, &format!("{base}&sort={sort}")).await;
        let cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
        // Its own sort continues the walk.
        let next = search(&app, &format!("{base}&sort={sort}&cursor={cursor}")).await;
        assert_eq!(next["items"].as_array().unwrap().len(), 1, "{sort}");
        cursors.push((sort, cursor));
    }
    for (issued_for, cursor) in &cursors {
        for (sort, _) in &cursors {
            if sort == issued_for {
                continue;
            }
            let query = format!("{base}&sort={sort}&cursor={cursor}");
            let response = app.get(&format!("/v1/sites?{query}")).await;
            assert_eq!(response.status, StatusCode::BAD_REQUEST, "{issued_for} cursor, {query}");
            assert_eq!(response.problem().errors[0].field, "cursor", "{issued_for} -> {sort}");
        }
    }
    // Without `sort`, `q` sorts by relevance: a relevance cursor goes on, a distance one does not.
    let (_, relevance) = &cursors[1];
    assert_eq!(
        search(&app, &format!("{base}&cursor={relevance}")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, distance) = &cursors[0];
    let response = app.get(&format!("/v1/sites?{base}&cursor={distance}")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
}

/// A small seeded generator (the test must be the same every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Any combination of filters, on a directory of random sites: every facet count equals the total
/// of the search with that value, every total equals the number of sites a walk through its pages
/// shows, and every walk is in its sort's order without repeats.
#[tokio::test]
async fn random_combinations_of_filters_facets_and_sorts_agree() {
    // Thousands of searches: no rate limit.
    let app = TestApp::with_config(clinical_sites::config::Config {
        rate_limit_per_minute: 0,
        ..clinical_sites::config::Config::defaults()
    })
    .await;
    let (_, admin) = app.admin("admin").await;
    let mut rng = Lcg(15);
    let places = [
        ("43210", "OH", "Columbus"),
        ("44114", "OH", "Cleveland"),
        ("48104", "MI", "Ann Arbor"),
        ("46202", "IN", "Indianapolis"),
        ("45402", "OH", "Dayton"),
        ("60601", "IL", "Chicago"),
    ];
    let words = ["Riverside", "Mercy", "Lakeview", "Summit", "Valley", "Harbor"];
    let kinds = ["Imaging", "Radiology", "Medical Center", "Clinic"];
    let mut ids = Vec::new();
    for i in 0..90 {
        let (zip, state, city) = *rng.pick(&places);
        let name = format!("{} {} {i}", rng.pick(&words), rng.pick(&kinds));
        let mut offers = serde_json::Map::new();
        for modality in ["ct", "mri", "mammography", "sonography"] {
            if rng.below(2) == 0 {
                continue;
            }
            let mut offer = serde_json::Map::new();
            let accepts: Vec<&str> = ["employees", "program_students", "independent"]
                .into_iter()
                .filter(|_| rng.below(2) == 0)
                .collect();
            offer.insert("accepts".into(), json!(accepts));
            match rng.below(3) {
                0 => {}
                1 => {
                    offer.insert("verifier_on_site".into(), json!(true));
                }
                _ => {
                    offer.insert("verifier_on_site".into(), json!(false));
                }
            }
            offer.insert("accepting".into(), json!(rng.below(4) != 0));
            offers.insert(modality.into(), Value::Object(offer));
        }
        let payment = *rng.pick(&["free", "fee", "program_tuition", "unknown"]);
        let schedule: Vec<&str> = ["weekday", "evening", "night", "weekend"]
            .into_iter()
            .filter(|_| rng.below(3) == 0)
            .collect();
        let mut overrides = json!({
            "state": state, "city": city, "site_type": rng.pick(&["hospital", "clinic", "imaging_center"]),
            "payment": payment, "offers": offers,
            "schedule": schedule,
        });
        if payment == "fee" {
            overrides["fee_usd"] = json!(rng.pick(&[100, 400, 900]));
        }
        if let Some(v) = [None, Some("required"), Some("not_required")][rng.below(3)] {
            overrides["liability_insurance"] = json!(v);
        }
        if let Some(v) = [
            None,
            Some("provided_by_site"),
            Some("bring_own_certificate"),
            Some("either"),
        ][rng.below(4)]
        {
            overrides["hipaa_training"] = json!(v);
        }
        if let Some(v) = [None, Some("none"), Some("free"), Some("paid"), Some("help_finding")][rng.below(5)] {
            overrides["housing"] = json!(v);
        }
        let site = add(&app, &admin, &name, zip, overrides).await;
        ids.push(site["site_id"].as_str().unwrap().to_owned());
    }
    for id in ids.iter().step_by(9) {
        let response = app
            .call(Method::DELETE, &format!("/v1/sites/{id}"), Some(&admin), None)
            .await;
        assert!(response.status.is_success(), "{response:?}");
    }
    let filters = [
        "modality=CT",
        "modality=MR&modality=mammography",
        "state=OH",
        "state=MI&state=IL",
        "city=columbus",
        "postal_code=43210",
        "near=43210&radius=100mi",
        "near=60601&radius=250mi",
        "site_type=clinic",
        "payment=free",
        "payment=fee&payment=unknown",
        "max_fee_usd=500",
        "insurance_required=false",
        "insurance_required=unknown",
        "accepts=independent",
        "accepts=unknown",
        "verifier_on_site=true",
        "verifier_on_site=unknown",
        "accepting=false",
        "hipaa_training=provided_by_site",
        "hipaa_training=unknown",
        "housing=true",
        "housing=false",
        "schedule=evening&schedule=weekend",
        "schedule=unknown",
        "status=verified&status=archived",
        "q=riverside",
        "q=radiolgy%20mercy",
    ];
    let sorts = ["", "&sort=name", "&sort=-updated_at"];
    for _ in 0..30 {
        let mut chosen: Vec<&str> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let filter = *rng.pick(&filters);
            let name = filter.split('=').next().unwrap();
            if !chosen.iter().any(|c| c.split('=').next() == Some(name)) {
                chosen.push(filter);
            }
        }
        let base = chosen.join("&");
        assert_facets_match(&app, &[base.as_str()]).await;
        let sort = *rng.pick(&sorts);
        let query = format!("{base}{sort}");
        let total = search(&app, &query).await["total"]["value"].as_u64().unwrap();
        let walked = walk(&app, &query, 1 + rng.below(7) as u32, async |_| {}).await;
        assert_eq!(walked.len() as u64, total, "{query}");
        let unique: BTreeSet<&String> = walked.iter().collect();
        assert_eq!(unique.len(), walked.len(), "{query}: no repeats");
    }
}
