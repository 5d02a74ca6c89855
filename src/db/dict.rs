//! `Dict`: the keyspace hash table — Redis's dict design, in safe Rust.
//!
//! # Why not `HashMap`
//!
//! Three things the server needs are not offered by an open-addressing map:
//!
//! 1. **SCAN's guarantee**: every key present for the whole scan is returned, even if the table
//!    grows or shrinks between calls. Redis gets this from power-of-two chained tables walked
//!    in reverse-binary cursor order (`dictScan`); bucket `i` of a table of size `2^n` holds
//!    exactly the keys of buckets `i` and `i + 2^n` of a table twice the size, so a cursor
//!    stays meaningful across resizes. Open addressing moves keys along probe sequences and
//!    has no such mapping.
//! 2. **No latency spike on resize**: like Redis, a resize allocates the new table and moves
//!    buckets incrementally — one bucket per lookup/insert plus a bounded step from the cron —
//!    so growing a table of millions of keys never stalls the executor.
//! 3. **Per-entry metadata for the fork-free snapshot**: each entry carries `epoch`, the
//!    snapshot epoch in which it was last serialized. The snapshot (persistence issue)
//!    walks the table in SCAN order and a pre-mutation hook in `Db` serializes an entry
//!    before it changes if the running snapshot has not seen it yet. Because the marker is
//!    per entry, resizes during a snapshot cannot cause a key to be emitted twice or missed.
//!
//! # Layout and cost
//!
//! An entry is one allocation: `next` (8) + `Key` (24, keys up to 22 bytes inline) + `Value`
//! (24, strings up to 22 bytes inline) + `expire_at` (8) + `lru` (4) + `epoch` (4) = 72 bytes,
//! plus one 8-byte bucket slot per entry at load factor 1. Redis spends a 24-byte dictEntry,
//! a 16-byte robj, an sds key and an embstr value on the same key (≈ 100 bytes for a 16-byte
//! key and value). The keyspace bench (`benches/keyspace.rs`) compares GET/SET cost against
//! std's `HashMap` and records the numbers in `db/mod.rs`.

use super::key::Key;
use super::value::Value;

/// One key and everything the server keeps per key.
#[derive(Debug)]
pub struct Entry {
    /// The next entry of the same bucket chain.
    next: Option<Box<Entry>>,
    pub key: Key,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means no expiry.
    pub expire_at: u64,
    /// LRU clock (seconds, see `Db::lru_clock`) of the last access, for OBJECT IDLETIME.
    pub lru: u32,
    /// Snapshot epoch in which this entry was last serialized (0: never). See module doc.
    pub epoch: u32,
}

impl Entry {
    pub fn new(key: Key, value: Value) -> Box<Entry> {
        Box::new(Entry {
            next: None,
            key,
            value,
            expire_at: 0,
            lru: 0,
            epoch: 0,
        })
    }
}

/// Smallest non-empty table, as Redis's DICT_HT_INITIAL_SIZE.
const INITIAL_SIZE: usize = 4;

#[derive(Default)]
struct Table {
    /// Power-of-two number of bucket heads, or empty.
    buckets: Vec<Option<Box<Entry>>>,
    /// Entries stored in this table.
    used: usize,
}

impl Table {
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

/// A chained hash table with incremental rehashing. Keys are unique.
pub struct Dict {
    /// `tables[0]` is the main table; `tables[1]` is non-empty only while rehashing into it.
    tables: [Table; 2],
    /// Next bucket of `tables[0]` to move; `None` when not rehashing.
    rehash_idx: Option<usize>,
    hasher: ahash::RandomState,
}

impl Default for Dict {
    fn default() -> Self {
        Dict::new()
    }
}

impl Dict {
    pub fn new() -> Dict {
        Dict {
            tables: [Table::default(), Table::default()],
            rehash_idx: None,
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bucket slots (for memory accounting and INFO).
    pub fn slots(&self) -> usize {
        self.tables[0].buckets.len() + self.tables[1].buckets.len()
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Looks a key up without moving anything.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key) as usize;
        for t in &self.tables[..if self.is_rehashing() { 2 } else { 1 }] {
            if t.buckets.is_empty() {
                continue;
            }
            let mut cur = t.buckets[h & t.mask()].as_deref();
            while let Some(e) = cur {
                if e.key.as_bytes() == key {
                    return Some(e);
                }
                cur = e.next.as_deref();
            }
        }
        None
    }

    /// Looks a key up for modification (and advances an ongoing rehash by one bucket).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key) as usize;
        let rehashing = self.is_rehashing();
        let [t0, t1] = &mut self.tables;
        if let Some(e) = find_in(t0, h, key) {
            return Some(e);
        }
        if rehashing {
            return find_in(t1, h, key);
        }
        None
    }

    /// Inserts an entry whose key must not be present (callers check with `get` first).
    pub fn insert_new(&mut self, entry: Box<Entry>) -> &mut Entry {
        self.rehash_step();
        self.expand_if_needed();
        let h = self.hash(entry.key.as_bytes()) as usize;
        let t = if self.is_rehashing() {
            &mut self.tables[1]
        } else {
            &mut self.tables[0]
        };
        let idx = h & t.mask();
        let mut entry = entry;
        entry.next = t.buckets[idx].take();
        t.used += 1;
        t.buckets[idx] = Some(entry);
        t.buckets[idx].as_deref_mut().expect("just inserted")
    }

    /// Removes a key, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Box<Entry>> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key) as usize;
        let n = if self.is_rehashing() { 2 } else { 1 };
        for t in &mut self.tables[..n] {
            if t.buckets.is_empty() {
                continue;
            }
            let idx = h & t.mask();
            let mut link = &mut t.buckets[idx];
            while link.as_ref().is_some_and(|e| e.key.as_bytes() != key) {
                link = &mut link.as_mut().expect("checked").next;
            }
            if let Some(mut e) = link.take() {
                *link = e.next.take();
                t.used -= 1;
                return Some(e);
            }
        }
        None
    }

    /// Drops every entry. Chains are unlinked iteratively: a recursive Box drop of a long
    /// chain could overflow the stack.
    pub fn clear(&mut self) {
        for t in &mut self.tables {
            for b in &mut t.buckets {
                let mut cur = b.take();
                while let Some(mut e) = cur {
                    cur = e.next.take();
                }
            }
        }
        self.tables = [Table::default(), Table::default()];
        self.rehash_idx = None;
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

    /// Shrinks the table when it is under 10% full (called from the cron, like Redis's
    /// `htNeedsResize`/`dictResize`).
    pub fn shrink_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let t = &self.tables[0];
        let size = t.buckets.len();
        if size > INITIAL_SIZE && t.used * 100 / size < 10 {
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

    /// Moves one bucket (visiting at most 10 empty ones), as Redis's `_dictRehashStep`.
    fn rehash_step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Moves up to `n` buckets; returns true while rehashing remains to be done.
    pub fn rehash(&mut self, n: usize) -> bool {
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
            while let Some(mut e) = cur {
                cur = e.next.take();
                let h = self.hasher.hash_one(e.key.as_bytes()) as usize;
                let slot = &mut t1.buckets[h & mask];
                e.next = slot.take();
                *slot = Some(e);
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

    /// Rehashes for about `budget` of wall time (Redis's `dictRehashMilliseconds`).
    pub fn rehash_for(&mut self, budget: std::time::Duration) {
        let start = std::time::Instant::now();
        while self.rehash(100) {
            if start.elapsed() >= budget {
                break;
            }
        }
    }

    /// One SCAN step from `cursor`: calls `f` for every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's `dictScan` algorithm:
    /// the cursor's bits are incremented from the most significant masked bit down, so
    /// every bucket present for the whole scan is visited even across resizes.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Entry)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let visit = |t: &Table, idx: usize, f: &mut dyn FnMut(&Entry)| {
            let mut cur = t.buckets[idx].as_deref();
            while let Some(e) = cur {
                f(e);
                cur = e.next.as_deref();
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

    /// A uniformly-chosen bucket's random entry (Redis's `dictGetFairRandomKey` is close to
    /// this; exact uniformity is not promised by RANDOMKEY either).
    pub fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        loop {
            let (t, idx) = if self.is_rehashing() {
                let total = self.tables[0].buckets.len() + self.tables[1].buckets.len();
                let i = rng.gen_range(0..total);
                if i < self.tables[0].buckets.len() {
                    (&self.tables[0], i)
                } else {
                    (&self.tables[1], i - self.tables[0].buckets.len())
                }
            } else {
                let t = &self.tables[0];
                (t, rng.gen_range(0..t.buckets.len()))
            };
            if let Some(head) = t.buckets[idx].as_deref() {
                let mut len = 0;
                let mut cur = Some(head);
                while let Some(e) = cur {
                    len += 1;
                    cur = e.next.as_deref();
                }
                let mut pick = rng.gen_range(0..len);
                let mut cur = head;
                while pick > 0 {
                    cur = cur.next.as_deref().expect("within chain length");
                    pick -= 1;
                }
                return Some(cur);
            }
        }
    }

    /// Samples up to `count` entries starting at a random bucket (Redis's `dictGetSomeKeys`),
    /// used by the active expiry cycle; calls `f` with each sampled key.
    pub fn sample(&self, count: usize, rng: &mut impl rand::Rng, mut f: impl FnMut(&Entry)) {
        if self.is_empty() || count == 0 {
            return;
        }
        let n = if self.is_rehashing() { 2 } else { 1 };
        let max_size = self.tables[..n]
            .iter()
            .map(|t| t.buckets.len())
            .max()
            .unwrap_or(0);
        let mut idx = rng.gen_range(0..max_size);
        let mut got = 0;
        let mut steps = count * 10;
        while got < count && steps > 0 {
            for t in &self.tables[..n] {
                if idx >= t.buckets.len() {
                    continue;
                }
                let mut cur = t.buckets[idx].as_deref();
                while let Some(e) = cur {
                    f(e);
                    got += 1;
                    cur = e.next.as_deref();
                }
            }
            idx = (idx + 1) & (max_size - 1);
            steps -= 1;
        }
    }

    /// Iterates every entry (for KEYS, DEBUG DIGEST, FLUSH accounting); order is arbitrary.
    pub fn for_each(&self, mut f: impl FnMut(&Entry)) {
        for t in &self.tables {
            for b in &t.buckets {
                let mut cur = b.as_deref();
                while let Some(e) = cur {
                    f(e);
                    cur = e.next.as_deref();
                }
            }
        }
    }
}

impl Drop for Dict {
    fn drop(&mut self) {
        self.clear();
    }
}

fn find_in<'a>(t: &'a mut Table, h: usize, key: &[u8]) -> Option<&'a mut Entry> {
    if t.buckets.is_empty() {
        return None;
    }
    let idx = h & t.mask();
    let mut cur = t.buckets[idx].as_deref_mut();
    while let Some(e) = cur {
        if e.key.as_bytes() == key {
            return Some(e);
        }
        cur = e.next.as_deref_mut();
    }
    None
}

fn empty_buckets(n: usize) -> Vec<Option<Box<Entry>>> {
    let mut v = Vec::with_capacity(n);
    v.resize_with(n, || None);
    v
}

const _: () = assert!(std::mem::size_of::<Entry>() == 72);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn put(d: &mut Dict, k: &str) {
        d.insert_new(Entry::new(Key::new(k.as_bytes()), Value::from_bytes(b"v")));
    }

    #[test]
    fn insert_get_remove_through_rehash() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            put(&mut d, &format!("k{i}"));
        }
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000 {
            assert!(d.get(format!("k{i}").as_bytes()).is_some());
        }
        for i in 0..5_000 {
            assert!(d.remove(format!("k{i}").as_bytes()).is_some());
        }
        assert_eq!(d.len(), 5_000);
        assert!(d.get(b"k1").is_none());
        assert!(d.get_mut(b"k9999").is_some());
        d.shrink_if_needed();
        d.rehash_for(std::time::Duration::from_secs(1));
        assert_eq!(d.len(), 5_000);
    }

    #[test]
    fn scan_survives_resizes() {
        let mut d = Dict::new();
        for i in 0..1000 {
            put(&mut d, &format!("k{i}"));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |e| {
                seen.insert(e.key.as_bytes().to_vec());
            });
            step += 1;
            // Grow mid-scan, then shrink mid-scan: keys k0..k999 stay present throughout.
            if step == 50 {
                for i in 1000..5000 {
                    put(&mut d, &format!("k{i}"));
                }
            }
            if step == 200 {
                for i in 1000..5000 {
                    d.remove(format!("k{i}").as_bytes());
                }
                d.shrink_if_needed();
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missing k{i}");
        }
    }

    #[test]
    fn random_and_sample() {
        let mut d = Dict::new();
        let mut rng = rand::thread_rng();
        assert!(d.random_entry(&mut rng).is_none());
        for i in 0..100 {
            put(&mut d, &format!("k{i}"));
        }
        assert!(d.random_entry(&mut rng).is_some());
        let mut n = 0;
        d.sample(20, &mut rng, |_| n += 1);
        assert!(n >= 1);
    }
}
