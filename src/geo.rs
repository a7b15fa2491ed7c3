//! Geography: US ZIP codes placed on the map (the shipped reference data) and great-circle
//! distances.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Every placed US ZIP code, embedded at build time (see `reference/README.md`): `zip, latitude,
/// longitude, source, state, population, city`.
const ZIP_CSV: &str = include_str!("../reference/zip_codes.csv");

/// Radius in metres of the sphere PostgreSQL's `earthdistance` places points on (`earth()`): the
/// earth index stores `ll_to_earth` points on it, and a search's centre and bounding cube are built
/// on it to match. No distance the API reports or filters by is measured on it.
pub const EARTHDISTANCE_RADIUS_M: f64 = 6_378_168.0;

/// The mean Earth radius in metres (IUGG's R1, (2a + b) / 3 of WGS84), the sphere maps and haversine
/// calculators measure on. Every distance the API reports, filters by and sorts by is a great-circle
/// distance on it: within 0.5% of the WGS84 geodesic across the US, and 0.11% shorter than on
/// [`EARTHDISTANCE_RADIUS_M`]'s sphere.
pub const MEAN_EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Which source placed a ZIP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZipSource {
    /// The US Census Bureau's ZIP Code Tabulation Areas (public domain): the internal point of a
    /// delivery area.
    Census,
    /// GeoNames (CC BY 4.0): the place of a ZIP that is not a ZCTA (PO boxes, single organisations
    /// such as many hospitals), which has no area of its own.
    GeoNames,
}

impl ZipSource {
    /// The site's `coordinates_source` for coordinates derived from a ZIP of this source.
    pub(crate) fn coordinates_source(self) -> &'static str {
        match self {
            Self::Census => "zip_centroid",
            Self::GeoNames => "zip_geonames",
        }
    }
}

/// A ZIP code's point and what the reference data says of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ZipPlace {
    /// WGS 84 degrees.
    pub(crate) latitude: f64,
    /// WGS 84 degrees.
    pub(crate) longitude: f64,
    /// Who placed it.
    pub(crate) source: ZipSource,
    /// USPS state (or territory) code.
    pub(crate) state: &'static str,
    /// Residents (Census ZCTAs only, from SimpleMaps' ACS figures; 0 for the others).
    pub(crate) population: u32,
    /// The USPS city name.
    pub(crate) city: &'static str,
}

static ZIPS: LazyLock<HashMap<&'static str, ZipPlace>> = LazyLock::new(|| {
    ZIP_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.splitn(7, ',');
            let zip = fields.next()?;
            let latitude = fields.next()?.parse().ok()?;
            let longitude = fields.next()?.parse().ok()?;
            let source = match fields.next()? {
                "census" => ZipSource::Census,
                "geonames" => ZipSource::GeoNames,
                _ => return None,
            };
            let state = fields.next()?;
            let population = fields.next()?.parse().ok()?;
            let city = fields.next()?;
            Some((
                zip,
                ZipPlace {
                    latitude,
                    longitude,
                    source,
                    state,
                    population,
                    city,
                },
            ))
        })
        .collect()
});

/// What the reference data knows of a 5-digit ZIP.
pub(crate) fn zip_place(zip5: &str) -> Option<&'static ZipPlace> {
    ZIPS.get(zip5)
}

/// The point `(latitude, longitude)` of a 5-digit ZIP, from either source.
pub fn zip_centroid(zip5: &str) -> Option<(f64, f64)> {
    zip_place(zip5).map(|place| (place.latitude, place.longitude))
}

/// Every placed ZIP.
pub(crate) fn zip_places() -> impl Iterator<Item = (&'static str, &'static ZipPlace)> {
    ZIPS.iter().map(|(zip, place)| (*zip, place))
}

/// The Census ZCTAs with their centroids (the benchmark generator's points).
pub fn zip_centroids() -> impl Iterator<Item = (&'static str, (f64, f64))> {
    zip_places()
        .filter(|(_, place)| place.source == ZipSource::Census)
        .map(|(zip, place)| (zip, (place.latitude, place.longitude)))
}

/// Great-circle distance in metres (haversine) on the mean Earth sphere ([`MEAN_EARTH_RADIUS_M`]):
/// what the API reports between two points.
pub fn great_circle_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * MEAN_EARTH_RADIUS_M * h.sqrt().asin()
}

/// A point on the surface as `earthdistance`'s `ll_to_earth` places it: earth-centred x, y, z in
/// metres on [`EARTHDISTANCE_RADIUS_M`]'s sphere, computed as that function computes them (so a
/// search binds its centre as a `cube` of these coordinates and PostgreSQL need not run the SQL
/// function while planning).
pub fn earth_point(latitude: f64, longitude: f64) -> [f64; 3] {
    let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
    [
        EARTHDISTANCE_RADIUS_M * lat.cos() * lon.cos(),
        EARTHDISTANCE_RADIUS_M * lat.cos() * lon.sin(),
        EARTHDISTANCE_RADIUS_M * lat.sin(),
    ]
}

/// The straight-line (chord) distance between two [`earth_point`]s whose great-circle distance on
/// the mean sphere is `distance_m`: how far a bounding cube around a search's centre must reach.
/// Both spheres see the same central angle, `distance_m / MEAN_EARTH_RADIUS_M`; the chord spans it
/// on `earthdistance`'s sphere. The inverse of [`distance_from_chord_m`].
pub fn chord_m(distance_m: f64) -> f64 {
    let angle = (distance_m / MEAN_EARTH_RADIUS_M).clamp(0.0, std::f64::consts::PI);
    2.0 * EARTHDISTANCE_RADIUS_M * (angle / 2.0).sin()
}

/// The great-circle distance on the mean sphere between two [`earth_point`]s `chord_m` apart in a
/// straight line: the central angle `2 asin(chord / 2R)` on `earthdistance`'s sphere, times the mean
/// radius. Searches compute distances in SQL with exactly this arithmetic, from `cube_distance`
/// (`sql.rs`, `push_distance`); for the same two points it equals [`great_circle_m`] within 1e-9
/// relative (tested).
pub fn distance_from_chord_m(chord_m: f64) -> f64 {
    2.0 * MEAN_EARTH_RADIUS_M * (chord_m / (2.0 * EARTHDISTANCE_RADIUS_M)).min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_zips() {
        let (lat, lon) = zip_centroid("43210").expect("Ohio State's ZIP");
        assert!((39.9..40.1).contains(&lat) && (-83.1..-82.9).contains(&lon));
        assert_eq!(zip_centroid("00000"), None);
        assert_eq!(zip_centroids().count(), 33_791, "every Census ZCTA");
        let columbus = zip_place("43210").unwrap();
        assert_eq!(
            (columbus.source, columbus.state, columbus.city),
            (ZipSource::Census, "OH", "Columbus")
        );
        assert!(columbus.population > 10_000);
    }

    #[test]
    fn zips_that_are_not_zctas_are_placed_from_geonames() {
        // Duke University Medical Center's own ZIP: no delivery area, so no Census ZCTA.
        let duke = zip_place("27710").expect("a hospital-only ZIP");
        assert_eq!(
            (duke.source, duke.state, duke.city),
            (ZipSource::GeoNames, "NC", "Durham")
        );
        assert!((35.9..36.2).contains(&duke.latitude) && (-79.0..-78.7).contains(&duke.longitude));
        let placed = zip_places().count();
        assert!(placed > 41_000, "{placed}");
        // No point at 0,0 (GeoNames' placeholder) and every ZIP has a state.
        assert!(zip_places().all(|(_, p)| p.latitude != 0.0 && p.state.len() == 2));
        let people: u64 = zip_places().map(|(_, p)| u64::from(p.population)).sum();
        assert!((320_000_000..350_000_000).contains(&people), "{people}");
    }

    #[test]
    fn distances() {
        // Columbus to Cleveland is about 200 km.
        let columbus = zip_centroid("43210").unwrap();
        let cleveland = zip_centroid("44114").unwrap();
        let km = great_circle_m(columbus, cleveland) / 1000.0;
        assert!((190.0..215.0).contains(&km), "{km}");
        assert_eq!(great_circle_m(columbus, columbus), 0.0);
    }

    /// `(latitude, longitude)` in degrees.
    type Point = (f64, f64);

    const COLUMBUS: Point = (39.9612, -82.9988);
    const CHICAGO: Point = (41.8781, -87.6298);

    /// Pairs across the US, long and short, north-south and east-west (a short north-south pair in
    /// the far south is where the sphere strays most from the ellipsoid in the contiguous states).
    const PAIRS: [(&str, Point, Point); 8] = [
        ("Columbus OH - Chicago IL", COLUMBUS, CHICAGO),
        (
            "New York NY - Los Angeles CA",
            (40.7128, -74.0060),
            (34.0522, -118.2437),
        ),
        ("Seattle WA - Miami FL", (47.6062, -122.3321), (25.7617, -80.1918)),
        ("Boston MA - Denver CO", (42.3601, -71.0589), (39.7392, -104.9903)),
        (
            "Minneapolis MN - New Orleans LA",
            (44.9778, -93.2650),
            (29.9511, -90.0715),
        ),
        ("downtown Columbus - Ohio State", COLUMBUS, (40.0067, -83.0305)),
        ("Miami, 0.1 degree north", (25.7617, -80.1918), (25.8617, -80.1918)),
        ("Seattle, 0.1 degree east", (47.6062, -122.3321), (47.6062, -122.2321)),
    ];

    /// The WGS84 geodesic distance in metres (Karney's algorithm).
    fn geodesic_m(a: Point, b: Point) -> f64 {
        use geographiclib_rs::{Geodesic, InverseGeodesic};
        Geodesic::wgs84().inverse(a.0, a.1, b.0, b.1)
    }

    #[test]
    fn columbus_to_chicago_as_maps_measure_it() {
        // GeographicLib's own (Python) implementation gives 444,313.753 m on WGS84: the reference is
        // called right.
        assert!((geodesic_m(COLUMBUS, CHICAGO) - 444_313.753).abs() < 0.001);
        // A haversine on the mean radius (6,371.0088 km), as maps and calculators give it: 443.57
        // km. On `earthdistance`'s sphere it would be 444.07 km.
        let distance = great_circle_m(COLUMBUS, CHICAGO);
        assert!((distance - 443_571.508).abs() < 0.001, "{distance}");
        // One degree of a meridian on the mean sphere.
        let degree = great_circle_m((40.0, -83.0), (41.0, -83.0));
        assert!((degree - MEAN_EARTH_RADIUS_M.to_radians()).abs() < 1e-6, "{degree}");
        assert!((degree - 111_195.08).abs() < 0.01, "{degree}");
    }

    #[test]
    fn distances_agree_with_the_wgs84_geodesic_within_half_a_percent() {
        for (name, a, b) in PAIRS {
            let (sphere, geodesic) = (great_circle_m(a, b), geodesic_m(a, b));
            let error = sphere / geodesic - 1.0;
            assert!(error.abs() < 0.005, "{name}: {sphere} m vs {geodesic} m ({error:+.4})");
            // Symmetric, as a distance is.
            assert_eq!(great_circle_m(b, a), sphere, "{name}");
        }
    }

    #[test]
    fn chords_between_earth_points_give_the_same_distances() {
        for (name, a, b) in PAIRS {
            let (p, q) = (earth_point(a.0, a.1), earth_point(b.0, b.1));
            let chord = p.iter().zip(q).map(|(p, q)| (p - q).powi(2)).sum::<f64>().sqrt();
            let distance = great_circle_m(a, b);
            // What a search computes from `cube_distance`, and the haversine.
            let from_chord = distance_from_chord_m(chord);
            assert!(
                (from_chord - distance).abs() <= 1e-9 * distance,
                "{name}: {from_chord} vs {distance}"
            );
            // The bounding cube reaches exactly that chord.
            assert!((chord_m(distance) - chord).abs() <= 1e-9 * chord, "{name}");
            assert!((distance_from_chord_m(chord_m(distance)) - distance).abs() <= 1e-9 * distance);
        }
        // Points on earthdistance's sphere, distances on the mean one.
        let [x, _, _] = earth_point(0.0, 0.0);
        assert_eq!(x, EARTHDISTANCE_RADIUS_M);
        assert_eq!(chord_m(-1.0), 0.0);
        assert_eq!(chord_m(0.0), 0.0);
        let antipodes = std::f64::consts::PI * MEAN_EARTH_RADIUS_M;
        assert!((chord_m(antipodes) - 2.0 * EARTHDISTANCE_RADIUS_M).abs() < 1e-6);
        assert_eq!(chord_m(2.0 * antipodes), chord_m(antipodes));
        assert!((distance_from_chord_m(2.0 * EARTHDISTANCE_RADIUS_M) - antipodes).abs() < 1e-6);
        assert_eq!(
            distance_from_chord_m(3.0 * EARTHDISTANCE_RADIUS_M),
            distance_from_chord_m(2.0 * EARTHDISTANCE_RADIUS_M)
        );
    }
}
