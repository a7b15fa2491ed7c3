//! Geography: US ZIP centroids (from the shipped Census ZCTA data) and great-circle distances.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The Census ZCTA centroids, embedded at build time (see `reference/README.md`).
const ZCTA_CSV: &str = include_str!("../reference/zcta_centroids.csv");

/// Mean earth radius in metres, the one PostgreSQL's `earthdistance` uses (`earth()`).
pub const EARTH_RADIUS_M: f64 = 6_378_168.0;

static CENTROIDS: LazyLock<HashMap<&'static str, (f64, f64)>> = LazyLock::new(|| {
    ZCTA_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let zip = fields.next()?;
            let latitude = fields.next()?.parse().ok()?;
            let longitude = fields.next()?.parse().ok()?;
            Some((zip, (latitude, longitude)))
        })
        .collect()
});

/// The centroid `(latitude, longitude)` of a 5-digit ZIP, if the Census data knows it.
pub fn zip_centroid(zip5: &str) -> Option<(f64, f64)> {
    CENTROIDS.get(zip5).copied()
}

/// Every known ZIP with its centroid (for generators and tests).
pub fn zip_centroids() -> impl Iterator<Item = (&'static str, (f64, f64))> {
    CENTROIDS.iter().map(|(zip, point)| (*zip, *point))
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
        assert!(zip_centroids().count() > 33_000);
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
