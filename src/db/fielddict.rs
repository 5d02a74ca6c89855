//! `FieldDict<T>`: the "hashtable" encoding of hashes and sets — Redis's dict design for
//! the members of one collection.
//!
//! Big hashes and sets need what the keyspace table needs (see `db::dict` for the long
//! form): HSCAN/SSCAN's guarantee that a member present for the whole scan is returned even
//! if the table resizes between calls (power-of-two chained tables walked in reverse-binary
//! cursor order), and growth without a stall (incremental rehashing, one bucket per write).
//! An open-addressing map offers neither, so this is the same algorithm, generic over the
//! stored item (a hash's field+value pair, a set's member) and without the keyspace's
//! per-entry metadata.
//!
//! Memory: a node is `next` + the item (a set member: 8 + 16 bytes; a hash pair: 8 + 24), plus
//! one 8-byte bucket slot per member at load factor 1. The hasher's keys are process-wide
//! (one random seed per process, as Redis's siphash seed) rather than 32 bytes per table.

use std::sync::OnceLock;

/// What a `FieldDict` stores: anything with a byte-string key.
pub trait DictItem {
    fn key(&self) -> &[u8];
}

impl DictItem for Box<[u8]> {
    #[inline]
    fn key(&self) -> &[u8] {
        self
    }
}

struct Node<T> {
    next: Option<Box<Node<T>>>,
    item: T,
}

/// Redis's DICT_HT_INITIAL_SIZE.
const INITIAL_SIZE: usize = 4;
/// Redis's HASHTABLE_MIN_FILL (percent): below it a table shrinks.
const MIN_FILL: usize = 10;

struct Table<T> {
    buckets: Vec<Option<Box<Node<T>>>>,
    used: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }
}

impl<T> Table<T> {
    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

fn hasher() -> &'static ahash::RandomState {
    static H: OnceLock<ahash::RandomState> = OnceLock::new();
    H.get_or_init(ahash::RandomState::new)
}

#[inline]
fn hash(key: &[u8]) -> usize {
    hasher().hash_one(key) as usize
}

fn empty_buckets<T>(n: usize) -> Vec<Option<Box<Node<T>>>> {
    let mut v = Vec::with_capacity(n);
    v.resize_with(n, || None);
    v
}

/// A chained hash table with incremental rehashing; keys are unique.
pub struct FieldDict<T: DictItem> {
    tables: [Table<T>; 2],
    /// Next bucket of `tables[0]` to move; `None` when not rehashing.
    rehash_idx: Option<usize>,
}

impl<T: DictItem> Default for FieldDict<T> {
    fn default() -> Self {
        FieldDict::new()
    }
}

impl<T: DictItem + Clone> Clone for FieldDict<T> {
    fn clone(&self) -> Self {
        let mut d = FieldDict::with_capacity(self.len());
        for item in self.iter() {
            d.insert_new(item.clone());
        }
        d
    }
}

impl<T: DictItem + std::fmt::Debug> std::fmt::Debug for FieldDict<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<T: DictItem> FieldDict<T> {
    pub fn new() -> Self {
        FieldDict {
            tables: [Table::default(), Table::default()],
            rehash_idx: None,
        }
    }

    /// A table pre-sized for `n` items (conversions from the compact encodings).
    pub fn with_capacity(n: usize) -> Self {
        let mut d = FieldDict::new();
        if n > 0 {
            d.tables[0].buckets = empty_buckets(n.max(INITIAL_SIZE).next_power_of_two());
        }
        d
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Bucket slots allocated (memory accounting).
    pub fn slots(&self) -> usize {
        self.tables[0].buckets.len() + self.tables[1].buckets.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        let h = hash(key);
        let n = if self.is_rehashing() { 2 } else { 1 };
        for t in &self.tables[..n] {
            if t.buckets.is_empty() {
                continue;
            }
            let mut cur = t.buckets[h & t.mask()].as_deref();
            while let Some(node) = cur {
                if node.item.key() == key {
                    return Some(&node.item);
                }
                cur = node.next.as_deref();
            }
        }
        None
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Mutable access to an item; the caller must not change its key.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = hash(key);
        let rehashing = self.is_rehashing();
        let [t0, t1] = &mut self.tables;
        if let Some(item) = find_in(t0, h, key) {
            return Some(item);
        }
        if rehashing {
            return find_in(t1, h, key);
        }
        None
    }

    /// Inserts an item whose key must not be present (callers check first).
    pub fn insert_new(&mut self, item: T) {
        self.rehash_step();
        self.expand_if_needed();
        let h = hash(item.key());
        let t = if self.is_rehashing() {
            &mut self.tables[1]
        } else {
            &mut self.tables[0]
        };
        let idx = h & t.mask();
        let next = t.buckets[idx].take();
        t.buckets[idx] = Some(Box::new(Node { next, item }));
        t.used += 1;
    }

    /// Inserts unless the key is present; returns whether it inserted.
    pub fn insert(&mut self, item: T) -> bool {
        if self.contains(item.key()) {
            return false;
        }
        self.insert_new(item);
        true
    }

    /// Removes and returns the item with `key`; shrinks a sparse table (as Redis does after
    /// deleting from a hash or set).
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = hash(key);
        let n = if self.is_rehashing() { 2 } else { 1 };
        let mut found = None;
        for t in &mut self.tables[..n] {
            if t.buckets.is_empty() {
                continue;
            }
            let idx = h & t.mask();
            let mut link = &mut t.buckets[idx];
            while link.as_ref().is_some_and(|node| node.item.key() != key) {
                link = &mut link.as_mut().expect("checked above").next;
            }
            if let Some(mut node) = link.take() {
                *link = node.next.take();
                t.used -= 1;
                found = Some(node.item);
                break;
            }
        }
        if found.is_some() {
            self.shrink_if_needed();
        }
        found
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let t = &self.tables[0];
        if t.buckets.is_empty() {
            self.tables[0].buckets = empty_buckets(INITIAL_SIZE);
        } else if t.used >= t.buckets.len() {
            self.resize_to((t.used + 1).next_power_of_two());
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let t = &self.tables[0];
        let size = t.buckets.len();
        if size > INITIAL_SIZE && t.used * 100 / size < MIN_FILL {
            self.resize_to(t.used.max(INITIAL_SIZE).next_power_of_two());
        }
    }

    fn resize_to(&mut self, size: usize) {
        if size == self.tables[0].buckets.len() {
            return;
        }
        self.tables[1] = Table {
            buckets: empty_buckets(size),
            used: 0,
        };
        self.rehash_idx = Some(0);
    }

    fn rehash_step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Moves up to `n` buckets (visiting at most 10n empty ones); true while more remain.
    fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * 10;
        let mut n = n;
        let [t0, t1] = &mut self.tables;
        while n > 0 && t0.used > 0 {
            while t0.buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut cur = t0.buckets[idx].take();
            let mask = t1.mask();
            while let Some(mut node) = cur {
                cur = node.next.take();
                let slot = &mut t1.buckets[hash(node.item.key()) & mask];
                node.next = slot.take();
                *slot = Some(node);
                t0.used -= 1;
                t1.used += 1;
            }
            idx += 1;
            n -= 1;
        }
        if t0.used == 0 {
            self.tables[0] = std::mem::take(&mut self.tables[1]);
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// One SCAN step (Redis's `dictScan`): calls `f` for the items of the visited
    /// bucket(s) and returns the next cursor, 0 when complete.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&T)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let visit = |t: &Table<T>, idx: usize, f: &mut dyn FnMut(&T)| {
            let mut cur = t.buckets[idx].as_deref();
            while let Some(node) = cur {
                f(&node.item);
                cur = node.next.as_deref();
            }
        };
        if !self.is_rehashing() {
            let t0 = &self.tables[0];
            let m0 = t0.mask() as u64;
            visit(t0, (v & m0) as usize, &mut f);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (mut small, mut large) = (&self.tables[0], &self.tables[1]);
            if small.buckets.len() > large.buckets.len() {
                std::mem::swap(&mut small, &mut large);
            }
            let m0 = small.mask() as u64;
            let m1 = large.mask() as u64;
            visit(small, (v & m0) as usize, &mut f);
            loop {
                visit(large, (v & m1) as usize, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// A random item: a random non-empty bucket, then a random item of its chain (Redis's
    /// `dictGetFairRandomKey` is close to this).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        let (s0, s1) = (self.tables[0].buckets.len(), self.tables[1].buckets.len());
        loop {
            let i = rng.gen_range(0..s0 + s1);
            let (t, idx) = if i < s0 {
                (&self.tables[0], i)
            } else {
                (&self.tables[1], i - s0)
            };
            let Some(head) = t.buckets[idx].as_deref() else {
                continue;
            };
            let mut len = 0;
            let mut cur = Some(head);
            while let Some(node) = cur {
                len += 1;
                cur = node.next.as_deref();
            }
            let mut pick = rng.gen_range(0..len);
            let mut node = head;
            while pick > 0 {
                match node.next.as_deref() {
                    Some(n) => node = n,
                    None => break,
                }
                pick -= 1;
            }
            return Some(&node.item);
        }
    }

    /// Every item, in table order.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            tables: &self.tables,
            table: 0,
            bucket: 0,
            node: None,
            left: self.len(),
        }
    }

    /// Drops every item. Chains are unlinked iteratively (a recursive drop of a long chain
    /// could overflow the stack).
    pub fn clear(&mut self) {
        for t in &mut self.tables {
            for b in &mut t.buckets {
                let mut cur = b.take();
                while let Some(mut node) = cur {
                    cur = node.next.take();
                }
            }
        }
        self.tables = [Table::default(), Table::default()];
        self.rehash_idx = None;
    }

    /// Heap bytes owned by the table structure (nodes and buckets), not counting what the
    /// items themselves own.
    pub fn structure_size(&self) -> usize {
        self.slots() * 8 + self.len() * std::mem::size_of::<Node<T>>()
    }
}

impl<T: DictItem> Drop for FieldDict<T> {
    fn drop(&mut self) {
        self.clear();
    }
}

fn find_in<'a, T: DictItem>(t: &'a mut Table<T>, h: usize, key: &[u8]) -> Option<&'a mut T> {
    if t.buckets.is_empty() {
        return None;
    }
    let idx = h & t.mask();
    let mut cur = t.buckets[idx].as_deref_mut();
    while let Some(node) = cur {
        if node.item.key() == key {
            return Some(&mut node.item);
        }
        cur = node.next.as_deref_mut();
    }
    None
}

/// Iterator over a `FieldDict`'s items.
pub struct Iter<'a, T> {
    tables: &'a [Table<T>; 2],
    table: usize,
    bucket: usize,
    node: Option<&'a Node<T>>,
    left: usize,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(node) = self.node {
                self.node = node.next.as_deref();
                self.left -= 1;
                return Some(&node.item);
            }
            if self.left == 0 || self.table >= 2 {
                return None;
            }
            let t = &self.tables[self.table];
            if self.bucket >= t.buckets.len() {
                self.table += 1;
                self.bucket = 0;
                continue;
            }
            self.node = t.buckets[self.bucket].as_deref();
            self.bucket += 1;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn item(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn insert_get_remove_iter() {
        let mut d: FieldDict<Box<[u8]>> = FieldDict::new();
        for i in 0..5000 {
            assert!(d.insert(item(&format!("m{i}"))));
        }
        assert!(!d.insert(item("m7")));
        assert_eq!(d.len(), 5000);
        assert_eq!(d.iter().count(), 5000);
        for i in 0..4990 {
            assert!(d.remove(format!("m{i}").as_bytes()).is_some());
        }
        assert!(d.remove(b"m1").is_none());
        assert_eq!(d.len(), 10);
        // The shrink is incremental: each access moves a bucket (or skips up to ten empty ones).
        for _ in 0..2000 {
            d.get_mut(b"m4995");
        }
        assert!(d.slots() < 4096, "shrunk: {}", d.slots());
        let got: HashSet<Vec<u8>> = d.iter().map(|m| m.to_vec()).collect();
        assert_eq!(got.len(), 10);
        let mut rng = rand::thread_rng();
        assert!(d.random(&mut rng).is_some());
        assert_eq!(d.clone().len(), 10);
    }

    #[test]
    fn scan_survives_resizes() {
        let mut d: FieldDict<Box<[u8]>> = FieldDict::new();
        for i in 0..1000 {
            d.insert_new(item(&format!("k{i}")));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |m| {
                seen.insert(m.to_vec());
            });
            step += 1;
            if step == 50 {
                for i in 1000..5000 {
                    d.insert_new(item(&format!("k{i}")));
                }
            }
            if step == 200 {
                for i in 1000..5000 {
                    d.remove(format!("k{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missing k{i}");
        }
    }
}
