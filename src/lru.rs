//! A map of at most `capacity` entries that, when full, drops the entry used least
//! recently: the caches of plans, GPU programs and bind groups keep what a training loop
//! replays however many other computations pass through (emptying a full cache instead
//! would rebuild the loop's own plans each time it filled).

use std::collections::HashMap;
use std::hash::Hash;

pub(crate) struct Lru<K, V> {
    /// Each value with the clock reading of its last use.
    entries: HashMap<K, (V, u64)>,
    clock: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            entries: HashMap::new(),
            clock: 0,
            capacity: capacity.max(1),
        }
    }

    /// The value of `key`, now the most recently used.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|(v, used)| {
            *used = clock;
            &*v
        })
    }

    /// Insert `value`, first dropping the least recently used entries while the map is
    /// full or `too_much` says the entries left and the new value are too many.
    pub(crate) fn insert_evicting(
        &mut self,
        key: K,
        value: V,
        too_much: impl Fn(&mut dyn Iterator<Item = &V>, &V) -> bool,
    ) {
        self.entries.remove(&key);
        while !self.entries.is_empty()
            && (self.entries.len() >= self.capacity
                || too_much(&mut self.entries.values().map(|(v, _)| v), &value))
        {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.clock += 1;
        self.entries.insert(key, (value, self.clock));
    }

    /// Insert `value`, dropping the least recently used entry if the map is full.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.insert_evicting(key, value, |_, _| false);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn a_full_map_drops_the_least_recently_used() {
        let mut lru = Lru::new(3);
        for k in 0..3 {
            lru.insert(k, k * 10);
        }
        // 0 is used again, so 1 is now the oldest.
        assert_eq!(lru.get(&0).copied(), Some(0));
        lru.insert(3, 30);
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.get(&1), None);
        let kept: Vec<_> = [0, 2, 3].iter().map(|k| lru.get(k).copied()).collect();
        assert_eq!(kept, [Some(0), Some(20), Some(30)]);
        // Replacing a key keeps the count.
        lru.insert(2, 21);
        assert_eq!((lru.len(), lru.get(&2).copied()), (3, Some(21)));
    }

    #[test]
    fn a_budget_drops_as_many_as_it_takes() {
        let mut lru = Lru::new(100);
        for k in 0..5 {
            lru.insert(k, 4u64);
        }
        // A budget of 11: the new 7 leaves room for one of the old 4s, the most recent.
        let over = |held: &mut dyn Iterator<Item = &u64>, new: &u64| held.sum::<u64>() + new > 11;
        lru.insert_evicting(9, 7, over);
        assert_eq!(lru.len(), 1 + 1);
        let kept: Vec<_> = [4, 9].iter().map(|k| lru.get(k).copied()).collect();
        assert_eq!(kept, [Some(4), Some(7)]);
        // A value over the budget by itself still goes in, alone.
        lru.insert_evicting(10, 50, over);
        assert_eq!((lru.len(), lru.get(&10).copied()), (1, Some(50)));
    }
}
