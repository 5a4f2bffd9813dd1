//! Outstanding calls, indexed directly by call id.
//!
//! Call ids are handed out sequentially, so `id & mask` spreads live calls over a power-of-two
//! table with no hashing; an id whose slot is still taken (a call outstanding for a whole lap) is
//! skipped by the allocator. The table doubles when it gets half full, so skips stay rare. Ids in
//! replies come from the peer and are only looked up, and a lookup checks the stored id, so a
//! bogus id finds nothing.

use super::frame::CallId;

#[derive(Debug)]
pub(crate) struct CallTable<V> {
    slots: Vec<Option<(CallId, V)>>,
    len: usize,
}

impl<V> CallTable<V> {
    pub(crate) fn new() -> Self {
        Self { slots: (0..64).map(|_| None).collect(), len: 0 }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when `id` can be inserted without displacing a live call.
    pub(crate) fn is_free(&self, id: CallId) -> bool {
        self.slots[id as usize & self.mask()].is_none()
    }

    pub(crate) fn contains(&self, id: CallId) -> bool {
        matches!(&self.slots[id as usize & self.mask()], Some((stored, _)) if *stored == id)
    }

    /// Inserts a call whose slot [`CallTable::is_free`].
    pub(crate) fn insert(&mut self, id: CallId, value: V) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.mask();
        let slot = &mut self.slots[id as usize & mask];
        debug_assert!(slot.is_none(), "call id slot taken");
        *slot = Some((id, value));
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, id: CallId) -> Option<V> {
        let mask = self.mask();
        let slot = &mut self.slots[id as usize & mask];
        match slot {
            Some((stored, _)) if *stored == id => {
                self.len -= 1;
                slot.take().map(|(_, value)| value)
            }
            _ => None,
        }
    }

    /// Removes every call.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (CallId, V)> + '_ {
        self.len = 0;
        self.slots.iter_mut().filter_map(Option::take)
    }

    fn grow(&mut self) {
        let bigger = self.slots.len() * 2;
        let mut slots: Vec<Option<(CallId, V)>> = (0..bigger).map(|_| None).collect();
        // Distinct slots under the old mask stay distinct under the wider one.
        for (id, value) in self.slots.iter_mut().filter_map(Option::take) {
            slots[id as usize & (bigger - 1)] = Some((id, value));
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_grow_keep_every_call() {
        let mut table = CallTable::new();
        for id in 1..=1000u32 {
            assert!(table.is_free(id));
            table.insert(id, id * 2);
        }
        assert_eq!(table.len(), 1000);
        assert!(table.contains(500) && !table.contains(1001));
        for id in (1..=1000u32).step_by(2) {
            assert_eq!(table.remove(id), Some(id * 2));
            assert_eq!(table.remove(id), None);
        }
        assert_eq!(table.len(), 500);
        let mut rest: Vec<_> = table.drain().collect();
        rest.sort();
        assert_eq!(rest.len(), 500);
        assert!(rest.iter().all(|(id, v)| id % 2 == 0 && *v == id * 2));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_bogus_id_with_a_live_slot_finds_nothing() {
        let mut table = CallTable::new();
        table.insert(3, "live");
        let alias = 3 + 64 * 1024;
        assert!(!table.contains(alias));
        assert_eq!(table.remove(alias), None);
        assert!(!table.is_free(alias));
        assert_eq!(table.remove(3), Some("live"));
    }
}
