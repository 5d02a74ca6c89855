//! `ChainDict`: Redis's dict design in safe Rust — the one hash table behind the keyspace
//! (`Dict`, whose nodes are keyspace `Entry`s) and behind big hashes and sets
//! (`fielddict::FieldDict`, whose nodes wrap a field/value pair or a member).
//!
//! # Why not `HashMap`
//!
//! Three things the server needs are not offered by an open-addressing map:
//!
//! 1. **SCAN's guarantee** (SCAN, HSCAN, SSCAN): every key present for the whole scan is
//!    returned, even if the table grows or shrinks between calls. Redis gets this from
//!    power-of-two chained tables walked in reverse-binary cursor order (`dictScan`); bucket
//!    `i` of a table of size `2^n` holds exactly the keys of buckets `i` and `i + 2^n` of a
//!    table twice the size, so a cursor stays meaningful across resizes. Open addressing
//!    moves keys along probe sequences and has no such mapping.
//! 2. **No latency spike on resize**: like Redis, a resize allocates the new table and moves
//!    buckets incrementally — one bucket per lookup/insert plus a bounded step from the cron —
//!    so growing a table of millions of keys never stalls the executor.
//! 3. **Per-entry metadata for the fork-free snapshot**: each keyspace entry carries `epoch`,
//!    the snapshot epoch in which it was last serialized. The snapshot (persistence issue)
//!    walks the table in SCAN order and a pre-mutation hook in `Db` serializes an entry
//!    before it changes if the running snapshot has not seen it yet. Because the marker is
//!    per entry, resizes during a snapshot cannot cause a key to be emitted twice or missed.
//!
//! # One algorithm, two kinds of node
//!
//! The table is generic over its node (`Chained`): a node owns its successor in the bucket
//! chain (a `Link`) and names the key it is filed under. The keyspace's `Entry` *is* its own
//! node, so a key costs one allocation; a collection's `fielddict::Node<T>` wraps the stored
//! item. Lookups hand out the node's `Item` (the entry itself, or the wrapped item), so
//! callers never see the chain. The hasher is a parameter too: the keyspace keeps its own
//! random seed per table, collections share one process-wide seed (Redis's siphash seed) so
//! a small hash does not pay 32 bytes of hasher keys.
//!
//! # Layout and cost
//!
//! A keyspace entry is one allocation: `next` (8) + `Key` (24, keys up to 22 bytes inline) +
//! `Value` (24, strings up to 22 bytes inline) + `expire_at` (8) + `lru` (4) + `epoch` (4) =
//! 72 bytes, plus one 8-byte bucket slot per entry at load factor 1. Redis spends a 24-byte
//! dictEntry, a 16-byte robj, an sds key and an embstr value on the same key (≈ 100 bytes for
//! a 16-byte key and value). The keyspace bench (`benches/keyspace.rs`) compares GET/SET cost
//! against std's `HashMap` and records the numbers in `db/mod.rs`.

use std::sync::OnceLock;

use super::key::Key;
use super::value::Value;

/// One key and everything the server keeps per key.
#[derive(Debug)]
pub struct Entry {
    /// The next entry of the same bucket chain.
    next: Link<Entry>,
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
            next: Link::EMPTY,
            key,
            value,
            expire_at: 0,
            lru: 0,
            epoch: 0,
        })
    }
}

const _: () = assert!(std::mem::size_of::<Entry>() == 72);

impl Chained for Entry {
    type Item = Entry;

    #[inline]
    fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }

    #[inline]
    fn link(&self) -> &Link<Entry> {
        &self.next
    }

    #[inline]
    fn link_mut(&mut self) -> &mut Link<Entry> {
        &mut self.next
    }

    #[inline]
    fn item(&self) -> &Entry {
        self
    }

    #[inline]
    fn item_mut(&mut self) -> &mut Entry {
        self
    }
}

/// The keyspace table: entries with a per-table random hash seed.
pub type Dict = ChainDict<Entry, ahash::RandomState>;

impl Dict {
    /// Inserts an entry whose key must not be present (callers check with `get` first).
    pub fn insert_new(&mut self, entry: Box<Entry>) -> &mut Entry {
        self.insert_node(entry)
    }

    /// Removes a key, returning its entry. Unlike a collection, the keyspace does not shrink
    /// here: the cron calls `shrink_if_needed` (Redis's `htNeedsResize` in `databasesCron`).
    pub fn remove(&mut self, key: &[u8]) -> Option<Box<Entry>> {
        self.remove_node(key)
    }

    /// Inserts an entry unless its key is present (see `ChainDict::insert_node_unique`).
    pub fn try_insert_new(&mut self, entry: Box<Entry>) -> Result<(), Box<Entry>> {
        self.insert_node_unique(entry)
    }

    /// RANDOMKEY's pick (see `ChainDict::random`).
    pub fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<&Entry> {
        self.random(rng)
    }
}

/// A node of a bucket chain: it owns its successor and names the key it is filed under.
pub trait Chained: Sized {
    /// What lookups hand out: the node itself (keyspace) or the item it wraps (collections).
    type Item;
    /// The bytes the node is hashed and compared by.
    fn key(&self) -> &[u8];
    fn link(&self) -> &Link<Self>;
    fn link_mut(&mut self) -> &mut Link<Self>;
    fn item(&self) -> &Self::Item;
    /// Mutable access to the item; callers must not change what `key` returns.
    fn item_mut(&mut self) -> &mut Self::Item;
}

/// A bucket chain's link to the next node. Only the table moves nodes between links (the
/// field is private), so the `used` counts cannot be broken from outside this module.
#[derive(Debug)]
pub struct Link<N>(Option<Box<N>>);

impl<N> Link<N> {
    /// The end of a chain, for a node not yet in a table.
    pub const EMPTY: Link<N> = Link(None);
}

/// How a table hashes keys.
pub trait KeyHasher: Default {
    fn hash_key(&self, key: &[u8]) -> u64;
}

impl KeyHasher for ahash::RandomState {
    #[inline]
    fn hash_key(&self, key: &[u8]) -> u64 {
        self.hash_one(key)
    }
}

/// One process-wide random seed (as Redis's siphash seed), for tables too numerous to keep
/// 32 bytes of seed each.
#[derive(Default, Clone, Copy, Debug)]
pub struct SharedHasher;

impl KeyHasher for SharedHasher {
    #[inline]
    fn hash_key(&self, key: &[u8]) -> u64 {
        static H: OnceLock<ahash::RandomState> = OnceLock::new();
        H.get_or_init(ahash::RandomState::new).hash_one(key)
    }
}

/// Smallest non-empty table, as Redis's DICT_HT_INITIAL_SIZE.
const INITIAL_SIZE: usize = 4;
/// Redis's HASHTABLE_MIN_FILL (percent): below it a table shrinks.
const MIN_FILL: usize = 10;

type Bucket<N> = Option<Box<N>>;

struct Table<N> {
    /// Power-of-two number of bucket heads, or empty.
    buckets: Vec<Bucket<N>>,
    /// Nodes stored in this table.
    used: usize,
}

impl<N> Default for Table<N> {
    fn default() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }
}

impl<N> Table<N> {
    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

/// A chained hash table with incremental rehashing. Keys are unique.
pub struct ChainDict<N: Chained, H: KeyHasher> {
    /// `tables[0]` is the main table; `tables[1]` is non-empty only while rehashing into it.
    tables: [Table<N>; 2],
    /// Next bucket of `tables[0]` to move; `None` when not rehashing.
    rehash_idx: Option<usize>,
    hasher: H,
}

impl<N: Chained, H: KeyHasher> Default for ChainDict<N, H> {
    fn default() -> Self {
        ChainDict::new()
    }
}

impl<N: Chained, H: KeyHasher> std::fmt::Debug for ChainDict<N, H>
where
    N::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<N: Chained, H: KeyHasher> ChainDict<N, H> {
    pub fn new() -> Self {
        ChainDict {
            tables: [Table::default(), Table::default()],
            rehash_idx: None,
            hasher: H::default(),
        }
    }

    /// A table pre-sized for `n` nodes (conversions from the compact encodings).
    pub fn with_capacity(n: usize) -> Self {
        let mut d = Self::new();
        if n > 0 {
            d.tables[0].buckets = empty_buckets(n.max(INITIAL_SIZE).next_power_of_two());
        }
        d
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bucket slots (for memory accounting and INFO).
    pub fn slots(&self) -> usize {
        self.tables[0].buckets.len() + self.tables[1].buckets.len()
    }

    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_key(key)
    }

    /// Heap bytes owned by the table structure (nodes and buckets), not counting what the
    /// nodes' items own themselves.
    pub fn structure_size(&self) -> usize {
        self.slots() * std::mem::size_of::<Bucket<N>>() + self.len() * std::mem::size_of::<N>()
    }

    /// Looks a key up without moving anything.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&N::Item> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key) as usize;
        for t in &self.tables[..if self.is_rehashing() { 2 } else { 1 }] {
            if t.buckets.is_empty() {
                continue;
            }
            let mut cur = t.buckets[h & t.mask()].as_deref();
            while let Some(node) = cur {
                if node.key() == key {
                    return Some(node.item());
                }
                cur = node.link().0.as_deref();
            }
        }
        None
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Looks a key up for modification (and advances an ongoing rehash by one bucket). The
    /// caller must not change the item's key.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut N::Item> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key) as usize;
        let rehashing = self.is_rehashing();
        let [t0, t1] = &mut self.tables;
        if let Some(node) = find_in(t0, h, key) {
            return Some(node.item_mut());
        }
        if rehashing {
            return find_in(t1, h, key).map(|node| node.item_mut());
        }
        None
    }

    /// Links in a node whose key must not be present (callers check first).
    pub(super) fn insert_node(&mut self, mut node: Box<N>) -> &mut N::Item {
        self.rehash_step();
        self.expand_if_needed();
        let h = self.hash(node.key()) as usize;
        let t = if self.is_rehashing() {
            &mut self.tables[1]
        } else {
            &mut self.tables[0]
        };
        let idx = h & t.mask();
        node.link_mut().0 = t.buckets[idx].take();
        t.used += 1;
        t.buckets[idx].insert(node).item_mut()
    }

    /// Links in a node unless its key is already present, with one hash and one probe (the
    /// loader's path: a key read twice from a file is an error, not an overwrite). Gives the
    /// node back when the key exists.
    pub(super) fn insert_node_unique(&mut self, mut node: Box<N>) -> Result<(), Box<N>> {
        self.rehash_step();
        self.expand_if_needed();
        let h = self.hash(node.key()) as usize;
        let n = if self.is_rehashing() { 2 } else { 1 };
        for t in &self.tables[..n] {
            if !t.buckets.is_empty() {
                let mut cur = t.buckets[h & t.mask()].as_deref();
                while let Some(c) = cur {
                    if c.key() == node.key() {
                        return Err(node);
                    }
                    cur = c.link().0.as_deref();
                }
            }
        }
        let t = &mut self.tables[n - 1];
        let idx = h & t.mask();
        node.link_mut().0 = t.buckets[idx].take();
        t.used += 1;
        t.buckets[idx] = Some(node);
        Ok(())
    }

    /// Makes room for `n` nodes up front (Redis's `dictExpand` on an RDB's RESIZEDB), so a
    /// load does not rehash its way up through every power of two.
    pub fn reserve(&mut self, n: usize) {
        if self.is_rehashing() {
            return;
        }
        let want = n.max(INITIAL_SIZE).next_power_of_two();
        if want <= self.tables[0].buckets.len() {
            return;
        }
        if self.is_empty() {
            self.tables[0].buckets = empty_buckets(want);
        } else {
            self.resize_to(want);
        }
    }

    /// Unlinks and returns the node filed under `key`.
    pub(super) fn remove_node(&mut self, key: &[u8]) -> Option<Box<N>> {
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
            if let Some(node) = unlink(&mut t.buckets[idx], key) {
                t.used -= 1;
                return Some(node);
            }
        }
        None
    }

    /// Drops every node. Chains are unlinked iteratively: a recursive Box drop of a long
    /// chain could overflow the stack.
    pub fn clear(&mut self) {
        for t in &mut self.tables {
            for b in &mut t.buckets {
                let mut cur = b.take();
                while let Some(mut node) = cur {
                    cur = node.link_mut().0.take();
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

    /// Shrinks the table when it is under 10% full (Redis's `htNeedsResize`/`dictResize`):
    /// the keyspace calls it from the cron, collections after every removal.
    pub fn shrink_if_needed(&mut self) {
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

    /// Moves one bucket (visiting at most 10 empty ones), as Redis's `_dictRehashStep`.
    #[inline]
    fn rehash_step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Moves up to `n` buckets (visiting at most 10n empty ones); returns true while
    /// rehashing remains to be done.
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
            while let Some(mut node) = cur {
                cur = node.link_mut().0.take();
                let h = self.hasher.hash_key(node.key()) as usize;
                let slot = &mut t1.buckets[h & mask];
                node.link_mut().0 = slot.take();
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

    /// Rehashes for about `budget` of wall time (Redis's `dictRehashMilliseconds`).
    pub fn rehash_for(&mut self, budget: std::time::Duration) {
        let start = std::time::Instant::now();
        while self.rehash(100) {
            if start.elapsed() >= budget {
                break;
            }
        }
    }

    /// One SCAN step from `cursor`: calls `f` for every item of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's `dictScan` algorithm:
    /// the cursor's bits are incremented from the most significant masked bit down, so
    /// every bucket present for the whole scan is visited even across resizes.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&N::Item)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let tables = &self.tables;
        scan_step(self.scan_masks(), cursor, |t, idx| {
            for_chain(&tables[t].buckets[idx], &mut f)
        })
    }

    /// `scan` with mutable access to each item (the snapshot walk marks what it serialized).
    /// Callers must not change what an item is filed under.
    pub fn scan_mut(&mut self, cursor: u64, mut f: impl FnMut(&mut N::Item)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let masks = self.scan_masks();
        let tables = &mut self.tables;
        scan_step(masks, cursor, |t, idx| {
            let mut cur = tables[t].buckets[idx].as_deref_mut();
            while let Some(node) = cur {
                f(node.item_mut());
                cur = node.link_mut().0.as_deref_mut();
            }
        })
    }

    /// (table index, mask) of the smaller table, and of the larger one while rehashing.
    fn scan_masks(&self) -> ScanMasks {
        if !self.is_rehashing() {
            return ScanMasks {
                small: (0, self.tables[0].mask() as u64),
                large: None,
            };
        }
        let (s, l) = if self.tables[0].buckets.len() > self.tables[1].buckets.len() {
            (1, 0)
        } else {
            (0, 1)
        };
        ScanMasks {
            small: (s, self.tables[s].mask() as u64),
            large: Some((l, self.tables[l].mask() as u64)),
        }
    }

    /// A random item: a uniformly-chosen non-empty bucket, then a uniformly-chosen item of
    /// its chain (Redis's `dictGetFairRandomKey` is close to this; exact uniformity is not
    /// promised by RANDOMKEY or SRANDMEMBER either).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<&N::Item> {
        if self.is_empty() {
            return None;
        }
        let (s0, s1) = (self.tables[0].buckets.len(), self.tables[1].buckets.len());
        loop {
            // Not rehashing, `s1` is 0 and this is a pick in the main table.
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
                cur = node.link().0.as_deref();
            }
            let mut pick = rng.gen_range(0..len);
            let mut node = head;
            while pick > 0 {
                match node.link().0.as_deref() {
                    Some(n) => node = n,
                    None => break,
                }
                pick -= 1;
            }
            return Some(node.item());
        }
    }

    /// Samples up to `count` items starting at a random bucket (Redis's `dictGetSomeKeys`),
    /// for the active expiry cycle and eviction; calls `f` with each sampled item.
    pub fn sample(&self, count: usize, rng: &mut impl rand::Rng, mut f: impl FnMut(&N::Item)) {
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
                for_chain(&t.buckets[idx], &mut |item| {
                    f(item);
                    got += 1;
                });
            }
            idx = (idx + 1) & (max_size - 1);
            steps -= 1;
        }
    }

    /// Calls `f` for every item (KEYS, DEBUG DIGEST, memory accounting); order is arbitrary.
    pub fn for_each(&self, mut f: impl FnMut(&N::Item)) {
        for t in &self.tables {
            for b in &t.buckets {
                for_chain(b, &mut f);
            }
        }
    }

    /// Every item, in table order.
    pub fn iter(&self) -> Iter<'_, N> {
        Iter {
            tables: &self.tables,
            table: 0,
            bucket: 0,
            node: None,
            left: self.len(),
        }
    }
}

impl<N: Chained, H: KeyHasher> Drop for ChainDict<N, H> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The tables a scan step visits (see `scan_step`).
#[derive(Clone, Copy)]
struct ScanMasks {
    small: (usize, u64),
    large: Option<(usize, u64)>,
}

/// One step of Redis's reverse-binary cursor walk (`dictScan`): visits the cursor's bucket of
/// the smaller table and, while rehashing, every bucket of the larger table that expands it.
/// Returns the next cursor (0 when the walk is complete).
fn scan_step(masks: ScanMasks, cursor: u64, mut visit: impl FnMut(usize, usize)) -> u64 {
    let mut v = cursor;
    let (t0, m0) = masks.small;
    visit(t0, (v & m0) as usize);
    match masks.large {
        None => {
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        }
        Some((t1, m1)) => loop {
            visit(t1, (v & m1) as usize);
            v |= !m1;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v & (m0 ^ m1) == 0 {
                break;
            }
        },
    }
    v
}

/// Unlinks the node filed under `key` from a bucket chain. The node's position is found
/// first by a shared walk, then reached by a mutable one (a single mutable walk that stops
/// at the match cannot be expressed with today's borrow checker without an `unwrap`).
fn unlink<N: Chained>(head: &mut Bucket<N>, key: &[u8]) -> Option<Box<N>> {
    let mut pos = 0;
    let mut cur = head.as_deref();
    loop {
        let node = cur?;
        if node.key() == key {
            break;
        }
        pos += 1;
        cur = node.link().0.as_deref();
    }
    let mut link = head;
    for _ in 0..pos {
        link = &mut link.as_mut()?.link_mut().0;
    }
    let mut node = link.take()?;
    *link = node.link_mut().0.take();
    Some(node)
}

/// Calls `f` for every item of one bucket chain.
#[inline]
fn for_chain<N: Chained, F: FnMut(&N::Item) + ?Sized>(head: &Bucket<N>, f: &mut F) {
    let mut cur = head.as_deref();
    while let Some(node) = cur {
        f(node.item());
        cur = node.link().0.as_deref();
    }
}

#[inline]
fn find_in<'a, N: Chained>(t: &'a mut Table<N>, h: usize, key: &[u8]) -> Option<&'a mut N> {
    if t.buckets.is_empty() {
        return None;
    }
    let idx = h & t.mask();
    let mut cur = t.buckets[idx].as_deref_mut();
    while let Some(node) = cur {
        if node.key() == key {
            return Some(node);
        }
        cur = node.link_mut().0.as_deref_mut();
    }
    None
}

fn empty_buckets<N>(n: usize) -> Vec<Bucket<N>> {
    let mut v = Vec::with_capacity(n);
    v.resize_with(n, || None);
    v
}

/// Iterator over a `ChainDict`'s items.
pub struct Iter<'a, N> {
    tables: &'a [Table<N>; 2],
    table: usize,
    bucket: usize,
    node: Option<&'a N>,
    left: usize,
}

impl<'a, N: Chained> Iterator for Iter<'a, N> {
    type Item = &'a N::Item;

    fn next(&mut self) -> Option<&'a N::Item> {
        loop {
            if let Some(node) = self.node {
                self.node = node.link().0.as_deref();
                self.left -= 1;
                return Some(node.item());
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

impl<N: Chained> ExactSizeIterator for Iter<'_, N> {}

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
