//! Where sites are: a grid of cells of 1/16 degree, grouped in cells of 1/2 degree, each holding
//! the slots of its sites. A radius takes whole cells that lie inside it and measures only the
//! sites of the cells its edge crosses; nearest-first visits cells from the nearest outward and
//! stops once no unvisited cell can hold a nearer site.
//!
//! All geometry is in `earthdistance`'s earth-centred coordinates ([`geo::earth_point`]): a
//! straight-line (chord) distance between two points grows with their great-circle distance, and
//! the triangle inequality holds for it, so a cell's centre and its reach (the chord to its
//! farthest corner) bound every site in it without trigonometry per cell.

use std::collections::HashMap;

use roaring::{MultiOps, RoaringBitmap};

use crate::geo;

/// A point in earth-centred coordinates ([`geo::earth_point`]).
pub(crate) type Point = [f64; 3];

/// Fine cells per degree.
const FINE_PER_DEGREE: f64 = 16.0;
/// Fine cells per coarse cell along each axis.
const FINE_PER_COARSE: i32 = 8;
/// What a cell's bounds are widened by, in metres, so that rounding never decides a site's side.
const MARGIN_M: f64 = 1.0;
/// Below this many candidates nearest-first measures each of them instead of visiting cells.
const DIRECT_NEAREST: u64 = 4096;

/// The straight-line distance between two points.
pub(crate) fn chord(a: &Point, b: &Point) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    (x * x + y * y + z * z).sqrt()
}

/// The great-circle distance in metres the API shows between two points, as `geo` defines it.
pub(crate) fn distance_m(a: &Point, b: &Point) -> f64 {
    geo::distance_from_chord_m(chord(a, b))
}

/// The fine cell of a latitude and longitude.
pub(crate) fn fine_cell(latitude: f64, longitude: f64) -> (i32, i32) {
    // The north pole and the antimeridian's east side belong to the last row and column.
    let lat = ((latitude * FINE_PER_DEGREE).floor() as i32).min((90.0 * FINE_PER_DEGREE) as i32 - 1);
    let lon = ((longitude * FINE_PER_DEGREE).floor() as i32).min((180.0 * FINE_PER_DEGREE) as i32 - 1);
    (lat, lon)
}

fn coarse_of(fine: (i32, i32)) -> (i32, i32) {
    (fine.0.div_euclid(FINE_PER_COARSE), fine.1.div_euclid(FINE_PER_COARSE))
}

/// A cell's sites and bounds.
#[derive(Debug)]
struct Cell {
    sites: RoaringBitmap,
    centre: Point,
    /// No point of the cell is farther than this from `centre`.
    reach: f64,
}

impl Cell {
    /// The cell whose south-west corner is at `(lat, lon)` degrees, `size` degrees on each side.
    fn new(lat: f64, lon: f64, size: f64) -> Self {
        let centre = geo::earth_point(lat + size / 2.0, lon + size / 2.0);
        // The farthest point of a small latitude-longitude rectangle from its centre is a corner;
        // the edges' midpoints are measured too, for safety.
        let mut reach: f64 = 0.0;
        for (dlat, dlon) in [
            (0.0, 0.0),
            (0.0, 1.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (0.5, 0.0),
            (0.5, 1.0),
            (0.0, 0.5),
            (1.0, 0.5),
        ] {
            let corner = geo::earth_point((lat + dlat * size).min(90.0), lon + dlon * size);
            reach = reach.max(chord(&centre, &corner));
        }
        Self {
            sites: RoaringBitmap::new(),
            centre,
            reach: reach * (1.0 + 1e-9) + MARGIN_M,
        }
    }

    /// Where the cell lies against the sphere of `radius` (a chord) around `q`.
    fn against(&self, q: &Point, radius: f64) -> Side {
        let d = chord(q, &self.centre);
        if d + self.reach <= radius {
            Side::Inside
        } else if d - self.reach > radius {
            Side::Outside
        } else {
            Side::Edge
        }
    }

    /// No site of the cell is nearer to `q` than this chord.
    fn nearest_possible(&self, q: &Point) -> f64 {
        (chord(q, &self.centre) - self.reach).max(0.0)
    }
}

enum Side {
    Inside,
    Outside,
    Edge,
}

#[derive(Debug)]
struct Coarse {
    cell: Cell,
    fine: HashMap<(i32, i32), Cell>,
}

/// The grid of every located site.
#[derive(Debug, Default)]
pub(crate) struct Grid {
    coarse: HashMap<(i32, i32), Coarse>,
}

impl Grid {
    /// Adds `slot` at the fine cell `fine`.
    pub(crate) fn insert(&mut self, slot: u32, fine: (i32, i32)) {
        let key = coarse_of(fine);
        let coarse = self.coarse.entry(key).or_insert_with(|| Coarse {
            cell: Cell::new(
                f64::from(key.0) / 2.0,
                f64::from(key.1) / 2.0,
                f64::from(FINE_PER_COARSE) / FINE_PER_DEGREE,
            ),
            fine: HashMap::new(),
        });
        coarse.cell.sites.insert(slot);
        coarse
            .fine
            .entry(fine)
            .or_insert_with(|| {
                Cell::new(
                    f64::from(fine.0) / FINE_PER_DEGREE,
                    f64::from(fine.1) / FINE_PER_DEGREE,
                    1.0 / FINE_PER_DEGREE,
                )
            })
            .sites
            .insert(slot);
    }

    /// Removes `slot` from the fine cell `fine`.
    pub(crate) fn remove(&mut self, slot: u32, fine: (i32, i32)) {
        let key = coarse_of(fine);
        let Some(coarse) = self.coarse.get_mut(&key) else {
            return;
        };
        coarse.cell.sites.remove(slot);
        if let Some(cell) = coarse.fine.get_mut(&fine) {
            cell.sites.remove(slot);
            if cell.sites.is_empty() {
                coarse.fine.remove(&fine);
            }
        }
        if coarse.cell.sites.is_empty() {
            self.coarse.remove(&key);
        }
    }

    /// Approximate heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.coarse
            .values()
            .map(|c| {
                super::bitmap_bytes(&c.cell.sites)
                    + c.fine
                        .values()
                        .map(|f| super::bitmap_bytes(&f.sites) + 80)
                        .sum::<usize>()
                    + 120
            })
            .sum()
    }

    /// Compacts the cells' sets after a bulk load.
    pub(crate) fn optimize(&mut self) {
        for coarse in self.coarse.values_mut() {
            coarse.cell.sites.optimize();
            for cell in coarse.fine.values_mut() {
                cell.sites.optimize();
            }
        }
    }

    /// The `candidates` within `radius_m` of `q` (by the distance the API shows, `distance`).
    pub(crate) fn within(
        &self,
        q: &Point,
        radius_m: f64,
        candidates: &RoaringBitmap,
        distance: impl Fn(u32) -> f64,
    ) -> RoaringBitmap {
        let radius = geo::chord_m(radius_m);
        let mut whole: Vec<&RoaringBitmap> = Vec::new();
        let mut measured = RoaringBitmap::new();
        let mut measure = |cell: &Cell| {
            for slot in cell.sites.iter().filter(|slot| candidates.contains(*slot)) {
                if distance(slot) <= radius_m {
                    measured.insert(slot);
                }
            }
        };
        for coarse in self.coarse.values() {
            match coarse.cell.against(q, radius) {
                Side::Inside => whole.push(&coarse.cell.sites),
                Side::Outside => {}
                Side::Edge => {
                    for cell in coarse.fine.values() {
                        match cell.against(q, radius) {
                            Side::Inside => whole.push(&cell.sites),
                            Side::Outside => {}
                            Side::Edge => measure(cell),
                        }
                    }
                }
            }
        }
        let mut inside = whole.into_iter().union();
        inside &= candidates;
        inside |= measured;
        inside
    }

    /// The `want` nearest `candidates` to `q` after `after`, by `key` (distance in metres, then
    /// id), nearest first.
    pub(crate) fn nearest<Id: Ord + Copy>(
        &self,
        q: &Point,
        candidates: &RoaringBitmap,
        want: usize,
        after: Option<(f64, Id)>,
        key: impl Fn(u32) -> (f64, Id),
    ) -> Vec<((f64, Id), u32)> {
        let mut best = Best::new(want);
        let consider = |best: &mut Best<Id>, slot: u32| {
            let k = key(slot);
            if after.is_none_or(|after| order(&k, &after).is_gt()) {
                best.offer(k, slot);
            }
        };
        if candidates.len() <= DIRECT_NEAREST {
            for slot in candidates {
                consider(&mut best, slot);
            }
            return best.into_sorted();
        }
        let mut cells: Vec<(f64, &Coarse)> = self
            .coarse
            .values()
            .map(|coarse| (coarse.cell.nearest_possible(q), coarse))
            .collect();
        cells.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (nearest, coarse) in cells {
            if let Some(worst) = best.worst_distance()
                && geo::distance_from_chord_m(nearest) > worst
            {
                break;
            }
            let mine = &coarse.cell.sites & candidates;
            for slot in &mine {
                consider(&mut best, slot);
            }
        }
        best.into_sorted()
    }
}

/// Distance order, ties by id.
pub(crate) fn order<Id: Ord>(a: &(f64, Id), b: &(f64, Id)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1))
}

/// The `want` smallest keys seen, in order once `want` are kept.
struct Best<Id> {
    want: usize,
    items: Vec<((f64, Id), u32)>,
}

impl<Id: Ord + Copy> Best<Id> {
    fn new(want: usize) -> Self {
        Self {
            want,
            items: Vec::with_capacity(want.min(1024) + 1),
        }
    }

    fn offer(&mut self, key: (f64, Id), slot: u32) {
        if self.items.len() < self.want {
            self.items.push((key, slot));
            if self.items.len() == self.want {
                self.items.sort_by(|a, b| order(&a.0, &b.0));
            }
            return;
        }
        let Some(last) = self.items.last() else {
            return;
        };
        if order(&key, &last.0).is_lt() {
            let at = self.items.partition_point(|item| order(&item.0, &key).is_lt());
            self.items.insert(at, (key, slot));
            self.items.pop();
        }
    }

    /// The largest distance kept, once `want` are kept.
    fn worst_distance(&self) -> Option<f64> {
        if self.items.len() >= self.want {
            self.items.last().map(|item| item.0.0)
        } else {
            None
        }
    }

    fn into_sorted(mut self) -> Vec<((f64, Id), u32)> {
        self.items.sort_by(|a, b| order(&a.0, &b.0));
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_radius_takes_exactly_the_sites_within_it() {
        let mut grid = Grid::default();
        let mut points = Vec::new();
        let mut slot = 0u32;
        // A lattice around Columbus, OH, every 0.037 degrees over 4 by 6 degrees.
        for i in 0..108 {
            for j in 0..162 {
                let (lat, lon) = (38.0 + f64::from(i) * 0.037, -86.0 + f64::from(j) * 0.037);
                grid.insert(slot, fine_cell(lat, lon));
                points.push(geo::earth_point(lat, lon));
                slot += 1;
            }
        }
        grid.optimize();
        let all: RoaringBitmap = (0..slot).collect();
        let q = geo::earth_point(39.99, -83.01);
        for radius_m in [1_000.0, 25_000.0, 80_467.2, 160_000.0, 321_868.8] {
            let found = grid.within(&q, radius_m, &all, |s| distance_m(&q, &points[s as usize]));
            let expected: RoaringBitmap = (0..slot)
                .filter(|s| distance_m(&q, &points[*s as usize]) <= radius_m)
                .collect();
            assert_eq!(found, expected, "{radius_m}");
        }
        let odd: RoaringBitmap = (0..slot).filter(|s| s % 2 == 1).collect();
        let nearest = grid.nearest(&q, &odd, 25, None, |s| (distance_m(&q, &points[s as usize]), s));
        let after = nearest[9].0;
        let next = grid.nearest(&q, &odd, 15, Some(after), |s| (distance_m(&q, &points[s as usize]), s));
        assert_eq!(
            next.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            nearest[10..].iter().map(|(_, s)| *s).collect::<Vec<_>>()
        );
        let mut expected: Vec<(f64, u32)> = odd.iter().map(|s| (distance_m(&q, &points[s as usize]), s)).collect();
        expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let expected: Vec<u32> = expected.into_iter().take(25).map(|(_, s)| s).collect();
        assert_eq!(nearest.iter().map(|(_, s)| *s).collect::<Vec<_>>(), expected);
    }
}
