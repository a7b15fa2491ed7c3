//! Slots kept in an order (by name, by update, by id) in chunks, so that a write moves one chunk
//! of a few kilobytes instead of the whole order (megabytes at a million sites, under the lock
//! every search waits for).

/// Slots per chunk, at most.
const CHUNK: usize = 1024;

/// A position: chunk and offset in it.
pub(crate) type At = (usize, usize);

/// Slots in an order.
#[derive(Debug, Default)]
pub(crate) struct Order {
    chunks: Vec<Vec<u32>>,
    len: usize,
}

impl Order {
    /// The order of `slots`, which are in it already.
    pub(crate) fn from_sorted(slots: Vec<u32>) -> Self {
        let len = slots.len();
        let chunks = slots.chunks(CHUNK * 3 / 4).map(<[u32]>::to_vec).collect();
        Self { chunks, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first position whose slot is not `before` (every slot before it is), as
    /// `slice::partition_point`.
    pub(crate) fn partition_point(&self, before: impl Fn(u32) -> bool) -> At {
        let chunk = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(|last| before(*last)));
        match self.chunks.get(chunk) {
            Some(slots) => (chunk, slots.partition_point(|slot| before(*slot))),
            None => (chunk, 0),
        }
    }

    pub(crate) fn insert(&mut self, at: At, slot: u32) {
        let (mut chunk, mut offset) = at;
        if self.chunks.is_empty() {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if chunk == self.chunks.len() {
            chunk -= 1;
            offset = self.chunks[chunk].len();
        }
        self.chunks[chunk].insert(offset, slot);
        if self.chunks[chunk].len() > CHUNK {
            let tail = self.chunks[chunk].split_off(CHUNK / 2);
            self.chunks.insert(chunk + 1, tail);
        }
        self.len += 1;
    }

    /// Removes the slot at `at`, if there is one; returns it.
    pub(crate) fn remove(&mut self, at: At) -> Option<u32> {
        let slots = self.chunks.get_mut(at.0)?;
        if at.1 >= slots.len() {
            return None;
        }
        let slot = slots.remove(at.1);
        if slots.is_empty() {
            self.chunks.remove(at.0);
        }
        self.len -= 1;
        Some(slot)
    }

    /// The slot at `at`, if there is one.
    pub(crate) fn get(&self, at: At) -> Option<u32> {
        self.chunks.get(at.0)?.get(at.1).copied()
    }

    /// The slots from `at` on.
    pub(crate) fn from(&self, at: At) -> impl Iterator<Item = u32> + '_ {
        let (chunk, offset) = at;
        self.chunks
            .get(chunk)
            .map(|slots| &slots[offset.min(slots.len())..])
            .into_iter()
            .chain(self.chunks.iter().skip(chunk + 1).map(Vec::as_slice))
            .flatten()
            .copied()
    }

    /// The slots before `at`, nearest first.
    pub(crate) fn before(&self, at: At) -> impl Iterator<Item = u32> + '_ {
        let (chunk, offset) = at;
        self.chunks
            .get(chunk)
            .map(|slots| &slots[..offset.min(slots.len())])
            .into_iter()
            .chain(
                self.chunks[..chunk.min(self.chunks.len())]
                    .iter()
                    .rev()
                    .map(Vec::as_slice),
            )
            .flat_map(|slots| slots.iter().rev())
            .copied()
    }

    /// The end of the order.
    pub(crate) fn end(&self) -> At {
        (self.chunks.len(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_and_removals_keep_the_order_across_chunks() {
        let mut order = Order::from_sorted((0..5000).map(|i| i * 2).collect());
        let mut reference: Vec<u32> = (0..5000).map(|i| i * 2).collect();
        for odd in (1..10_000).step_by(7) {
            let at = order.partition_point(|slot| slot < odd);
            order.insert(at, odd);
            let at = reference.partition_point(|slot| *slot < odd);
            reference.insert(at, odd);
        }
        for gone in (0..10_000).step_by(3) {
            let Ok(i) = reference.binary_search(&gone) else {
                continue;
            };
            reference.remove(i);
            let at = order.partition_point(|slot| slot < gone);
            assert_eq!(order.remove(at), Some(gone));
        }
        assert_eq!(order.len(), reference.len());
        assert_eq!(order.from((0, 0)).collect::<Vec<_>>(), reference);
        let at = order.partition_point(|slot| slot < 5000);
        let split = reference.partition_point(|slot| *slot < 5000);
        assert_eq!(order.from(at).collect::<Vec<_>>(), reference[split..]);
        assert_eq!(
            order.before(at).collect::<Vec<_>>(),
            reference[..split].iter().rev().copied().collect::<Vec<_>>()
        );
        assert_eq!(order.before(order.end()).count(), reference.len());
        let mut empty = Order::default();
        empty.insert(empty.partition_point(|_| true), 7);
        assert_eq!(empty.from((0, 0)).collect::<Vec<_>>(), [7]);
    }
}
