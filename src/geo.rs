//! Geography: US ZIP codes placed on the map (the shipped reference data) and great-circle
//! distances.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Every placed US ZIP code, embedded at build time (see `reference/README.md`): `zip, latitude,
/// longitude, source, state, population, city`.
const ZIP_CSV: &str = include_str!("../reference/zip_codes.csv");

/// Mean earth radius in metres, the one PostgreSQL's `earthdistance` uses (`earth()`).
pub const EARTH_RADIUS_M: f64 = 6_378_168.0;

/// Which source placed a ZIP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipSource {
    /// The US Census Bureau's ZIP Code Tabulation Areas (public domain): the internal point of a
    /// delivery area.
    Census,
    /// GeoNames (CC BY 4.0): the place of a ZIP that is not a ZCTA (PO boxes, single organisations
    /// such as many hospitals), which has no area of its own.
    GeoNames,
}

impl ZipSource {
    /// The site's `coordinates_source` for coordinates derived from a ZIP of this source.
    pub fn coordinates_source(self) -> &'static str {
        match self {
            Self::Census => "zip_centroid",
            Self::GeoNames => "zip_geonames",
        }
    }
}

/// A ZIP code's point and what the reference data says of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZipPlace {
    /// WGS 84 degrees.
    pub latitude: f64,
    /// WGS 84 degrees.
    pub longitude: f64,
    /// Who placed it.
    pub source: ZipSource,
    /// USPS state (or territory) code.
    pub state: &'static str,
    /// Residents (Census ZCTAs only, from SimpleMaps' ACS figures; 0 for the others).
    pub population: u32,
    /// The USPS city name.
    pub city: &'static str,
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
pub fn zip_place(zip5: &str) -> Option<&'static ZipPlace> {
    ZIPS.get(zip5)
}

/// The point `(latitude, longitude)` of a 5-digit ZIP, from either source.
pub fn zip_centroid(zip5: &str) -> Option<(f64, f64)> {
    zip_place(zip5).map(|place| (place.latitude, place.longitude))
}

/// Every placed ZIP.
pub fn zip_places() -> impl Iterator<Item = (&'static str, &'static ZipPlace)> {
    ZIPS.iter().map(|(zip, place)| (*zip, place))
}

/// The Census ZCTAs with their centroids (the benchmark generator's points).
pub fn zip_centroids() -> impl Iterator<Item = (&'static str, (f64, f64))> {
    zip_places()
        .filter(|(_, place)| place.source == ZipSource::Census)
        .map(|(zip, place)| (zip, (place.latitude, place.longitude)))
}

/// Great-circle distance in metres (haversine) on a sphere of [`EARTH_RADIUS_M`].
pub fn great_circle_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// A point on the surface as `earthdistance`'s `ll_to_earth` places it: earth-centred x, y, z in
/// metres, computed as that function computes them (so a search binds its centre as a `cube` of these
/// coordinates and PostgreSQL need not run the SQL function while planning).
pub fn earth_point(latitude: f64, longitude: f64) -> [f64; 3] {
    let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
    [
        EARTH_RADIUS_M * lat.cos() * lon.cos(),
        EARTH_RADIUS_M * lat.cos() * lon.sin(),
        EARTH_RADIUS_M * lat.sin(),
    ]
}

/// The straight-line (chord) distance between two surface points `great_circle_m` apart, as
/// `earthdistance`'s `gc_to_sec` computes it: how far a bounding cube must reach.
pub fn chord_m(great_circle_m: f64) -> f64 {
    if great_circle_m < 0.0 {
        0.0
    } else if great_circle_m / EARTH_RADIUS_M > std::f64::consts::PI {
        2.0 * EARTH_RADIUS_M
    } else {
        2.0 * EARTH_RADIUS_M * (great_circle_m / (2.0 * EARTH_RADIUS_M)).sin()
    }
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
}
