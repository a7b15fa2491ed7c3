//! What the index keeps of each site besides its sets: what searches read after filtering (id,
//! name, location, update time, ZIP+4) and what taking the site out of its sets needs (city, ZIP,
//! words), one column per value, by slot. About 110 bytes a site (docs/search.md): no per-site
//! allocation, and names and word lists side by side in two arenas.

use uuid::Uuid;

use super::doc::{Doc, NO_ZIP4};
use super::grid::{self, Point};
use crate::geo;

/// Values of varying length by slot, in one allocation. A value rewritten is appended; once half
/// of the arena is values no slot has any more, it is rewritten without them.
#[derive(Debug, Default)]
struct Arena<T> {
    items: Vec<T>,
    at: Vec<u32>,
    len: Vec<u16>,
    garbage: usize,
}

impl<T: Copy> Arena<T> {
    fn get(&self, slot: u32) -> &[T] {
        let (at, len) = (self.at[slot as usize] as usize, usize::from(self.len[slot as usize]));
        &self.items[at..at + len]
    }

    fn append(&mut self, values: &[T]) -> (u32, u16) {
        // Bounded by the API's limits (a name of 200 characters, a few dozen words).
        let values = &values[..values.len().min(usize::from(u16::MAX))];
        let at = u32::try_from(self.items.len()).expect("arenas stay under 4 billion items");
        room(&mut self.items, values.len());
        self.items.extend_from_slice(values);
        (at, values.len() as u16)
    }

    fn push(&mut self, values: &[T]) {
        let (at, len) = self.append(values);
        push(&mut self.at, at);
        push(&mut self.len, len);
    }

    fn set(&mut self, slot: u32, values: &[T]) {
        let slot = slot as usize;
        self.garbage += usize::from(self.len[slot]);
        let (at, len) = self.append(values);
        self.at[slot] = at;
        self.len[slot] = len;
        if self.garbage > 4096 && self.garbage * 2 > self.items.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let mut items = Vec::with_capacity(self.items.len() - self.garbage);
        for (at, len) in self.at.iter_mut().zip(&self.len) {
            let start = *at as usize;
            *at = items.len() as u32;
            items.extend_from_slice(&self.items[start..start + usize::from(*len)]);
        }
        self.items = items;
        self.garbage = 0;
    }

    /// The same values with slot `i` holding what slot `order[i]` held.
    fn permuted(&self, order: &[u32]) -> Self {
        let mut arena = Self {
            items: Vec::with_capacity(self.items.len() - self.garbage),
            at: Vec::with_capacity(order.len()),
            len: Vec::with_capacity(order.len()),
            garbage: 0,
        };
        for &slot in order {
            arena.push(self.get(slot));
        }
        arena
    }

    fn shrink_to_fit(&mut self) {
        self.items.shrink_to_fit();
        self.at.shrink_to_fit();
        self.len.shrink_to_fit();
    }

    fn bytes(&self) -> usize {
        self.items.capacity() * size_of::<T>() + self.at.capacity() * 4 + self.len.capacity() * 2
    }
}

/// Makes room for `additional` more values, growing `column` by a sixteenth rather than doubling
/// it: at a million sites the next site costs a few bytes more, not megabytes.
pub(super) fn room<T>(column: &mut Vec<T>, additional: usize) {
    if column.capacity() - column.len() < additional {
        column.reserve_exact(additional.max(column.len() / 16 + 64));
    }
}

/// Pushes with [`room`]'s growth.
pub(super) fn push<T>(column: &mut Vec<T>, value: T) {
    room(column, 1);
    column.push(value);
}

fn permute<T: Copy>(column: &mut Vec<T>, order: &[u32]) {
    *column = order.iter().map(|&slot| column[slot as usize]).collect();
}

/// The sites' columns, by slot. A free slot has the nil id.
#[derive(Debug, Default)]
pub(super) struct Columns {
    site_id: Vec<Uuid>,
    names: Arena<u8>,
    /// Word ids, ascending, as [`encode_words`] writes them.
    words: Arena<u8>,
    /// Latitude and longitude; NaN when not located.
    location: Vec<[f64; 2]>,
    updated_at: Vec<i64>,
    /// [`super::doc::short_xid`] of the transaction that wrote the slot's state.
    xid: Vec<u32>,
    city: Vec<u32>,
    zip5: Vec<u32>,
    zip4: Vec<u16>,
    /// Slots no site has, to be used again.
    free: Vec<u32>,
}

impl Columns {
    pub(crate) fn with_capacity(sites: usize) -> Self {
        Self {
            site_id: Vec::with_capacity(sites),
            location: Vec::with_capacity(sites),
            updated_at: Vec::with_capacity(sites),
            xid: Vec::with_capacity(sites),
            city: Vec::with_capacity(sites),
            zip5: Vec::with_capacity(sites),
            zip4: Vec::with_capacity(sites),
            ..Self::default()
        }
    }

    /// How many slots there are (free ones included).
    pub(crate) fn len(&self) -> usize {
        self.site_id.len()
    }

    /// Stores `doc` in a new slot or a free one.
    pub(crate) fn add(&mut self, doc: &Doc) -> u32 {
        if let Some(slot) = self.free.pop() {
            self.set(slot, doc);
            return slot;
        }
        let slot = u32::try_from(self.len()).expect("fewer than 2^31 sites");
        push(&mut self.site_id, doc.site_id);
        self.names.push(doc.name.as_bytes());
        self.words.push(&encode_words(&doc.words));
        push(&mut self.location, location(doc));
        push(&mut self.updated_at, doc.updated_at);
        push(&mut self.xid, doc.xid);
        push(&mut self.city, doc.city);
        push(&mut self.zip5, doc.zip5);
        push(&mut self.zip4, doc.zip4);
        slot
    }

    /// Stores `doc` in `slot`, in place of what it held.
    pub(crate) fn set(&mut self, slot: u32, doc: &Doc) {
        let i = slot as usize;
        self.site_id[i] = doc.site_id;
        self.names.set(slot, doc.name.as_bytes());
        self.words.set(slot, &encode_words(&doc.words));
        self.location[i] = location(doc);
        self.updated_at[i] = doc.updated_at;
        self.xid[i] = doc.xid;
        self.city[i] = doc.city;
        self.zip5[i] = doc.zip5;
        self.zip4[i] = doc.zip4;
    }

    /// Frees `slot`.
    pub(crate) fn clear(&mut self, slot: u32) {
        self.site_id[slot as usize] = Uuid::nil();
        self.names.set(slot, &[]);
        self.words.set(slot, &[]);
        self.free.push(slot);
    }

    pub(crate) fn site_id(&self, slot: u32) -> Uuid {
        self.site_id[slot as usize]
    }

    pub(crate) fn name(&self, slot: u32) -> &str {
        // Whole strings go in, so whole strings come out.
        std::str::from_utf8(self.names.get(slot)).unwrap_or_default()
    }

    pub(crate) fn words(&self, slot: u32) -> Vec<u32> {
        decode_words(self.words.get(slot))
    }

    pub(crate) fn location(&self, slot: u32) -> Option<(f64, f64)> {
        let [lat, lon] = self.location[slot as usize];
        (!lat.is_nan()).then_some((lat, lon))
    }

    /// Where the site is, in earth-centred coordinates.
    pub(crate) fn point(&self, slot: u32) -> Option<Point> {
        self.location(slot).map(|(lat, lon)| geo::earth_point(lat, lon))
    }

    /// Its fine cell of the grid.
    pub(crate) fn cell(&self, slot: u32) -> Option<(i32, i32)> {
        self.location(slot).map(|(lat, lon)| grid::fine_cell(lat, lon))
    }

    pub(crate) fn updated_at(&self, slot: u32) -> i64 {
        self.updated_at[slot as usize]
    }

    pub(crate) fn xid(&self, slot: u32) -> u32 {
        self.xid[slot as usize]
    }

    pub(crate) fn city(&self, slot: u32) -> u32 {
        self.city[slot as usize]
    }

    pub(crate) fn zip5(&self, slot: u32) -> u32 {
        self.zip5[slot as usize]
    }

    pub(crate) fn zip4(&self, slot: u32) -> Option<u16> {
        Some(self.zip4[slot as usize]).filter(|z| *z != NO_ZIP4)
    }

    /// Renumbers the slots (of a fresh load, with none free): slot `i` becomes what `order[i]` was.
    pub(crate) fn permute(&mut self, order: &[u32]) {
        debug_assert!(self.free.is_empty());
        permute(&mut self.site_id, order);
        self.names = self.names.permuted(order);
        self.words = self.words.permuted(order);
        permute(&mut self.location, order);
        permute(&mut self.updated_at, order);
        permute(&mut self.xid, order);
        permute(&mut self.city, order);
        permute(&mut self.zip5, order);
        permute(&mut self.zip4, order);
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.site_id.shrink_to_fit();
        self.names.shrink_to_fit();
        self.words.shrink_to_fit();
        self.location.shrink_to_fit();
        self.updated_at.shrink_to_fit();
        self.xid.shrink_to_fit();
        self.city.shrink_to_fit();
        self.zip5.shrink_to_fit();
        self.zip4.shrink_to_fit();
    }

    /// Approximate heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.site_id.capacity() * 16
            + self.names.bytes()
            + self.words.bytes()
            + self.location.capacity() * 16
            + (self.updated_at.capacity() * 8)
            + (self.xid.capacity() + self.city.capacity() + self.zip5.capacity() + self.free.capacity()) * 4
            + self.zip4.capacity() * 2
    }
}

/// Ascending word ids as the differences between neighbours, seven bits a byte (the high bit
/// set on every byte but a number's last): the common words' small ids take a byte each.
fn encode_words(words: &[u32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 2);
    let mut previous = 0;
    for &word in words {
        let mut rest = word - previous;
        previous = word;
        while rest >= 0x80 {
            bytes.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        bytes.push(rest as u8);
    }
    bytes
}

fn decode_words(bytes: &[u8]) -> Vec<u32> {
    let mut words = Vec::with_capacity(bytes.len());
    let (mut previous, mut rest, mut shift) = (0u32, 0u32, 0);
    for &byte in bytes {
        rest |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            previous += rest;
            words.push(previous);
            (rest, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    words
}

fn location(doc: &Doc) -> [f64; 2] {
    doc.location.map_or([f64::NAN; 2], |(lat, lon)| [lat, lon])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lists_are_kept_exactly() {
        for words in [vec![], vec![0], vec![3, 127, 128, 16_383, 16_384, 2_000_000, u32::MAX]] {
            let bytes = encode_words(&words);
            assert_eq!(decode_words(&bytes), words);
        }
        assert_eq!(encode_words(&[1, 2, 3, 4]).len(), 4, "a byte per common word");
    }

    #[test]
    fn arenas_keep_each_slots_values_through_rewrites_and_compaction() {
        let mut arena = Arena::<u32>::default();
        for slot in 0..100u32 {
            arena.push(&[slot, slot + 1]);
        }
        for round in 0..200u32 {
            for slot in 0..100u32 {
                arena.set(slot, &vec![round; (slot % 5) as usize]);
            }
        }
        for slot in 0..100u32 {
            assert_eq!(arena.get(slot), vec![199; (slot % 5) as usize].as_slice());
        }
        assert!(arena.items.len() <= 2 * 200 + 4096 * 2, "garbage is dropped");
        let permuted = arena.permuted(&[3, 2, 1]);
        assert_eq!(permuted.get(0), arena.get(3));
        assert_eq!(permuted.get(2), arena.get(1));
    }
}
