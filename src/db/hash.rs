//! The hash type: a listpack of field/value pairs while small, a `FieldDict` when big.
//!
//! Redis 7.0's two encodings and their rules, because OBJECT ENCODING, HSCAN's cursor
//! behaviour and HGETALL's order are all observable:
//!
//! - **listpack**: fields and values alternate in one `Listpack`, in insertion order (an
//!   update replaces the value in place, so the field keeps its position). Lookups are a
//!   linear scan, cheap for the small sizes this encoding is limited to.
//! - **hashtable**: a `FieldDict` of `Pair`s (field and value in one exact-size allocation).
//!
//! A hash converts to a hashtable — never back — when a write would store a field or value
//! longer than `hash-max-listpack-value` bytes, when it would hold more than
//! `hash-max-listpack-entries` fields, or when the listpack would pass Redis's 1 GB safety
//! limit (`hashTypeTryConversion` / `hashTypeSet` in t_hash.c).
//!
//! Memory is the point of the listpack encoding (100k hashes of 10 small fields are almost
//! entirely listpack bytes): `Hash` is 16 bytes, the listpack is exact-size, and values
//! that are canonical integers are stored as integers exactly as Redis stores them.

use super::fielddict::{self, DictItem, FieldDict};
use super::listpack::{self, Listpack};
use super::Elem;

/// A hashtable entry: field and value bytes in one allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct Pair {
    data: Box<[u8]>,
    field_len: usize,
}

impl Pair {
    pub fn new(field: &[u8], value: &[u8]) -> Pair {
        let mut data = Vec::with_capacity(field.len() + value.len());
        data.extend_from_slice(field);
        data.extend_from_slice(value);
        Pair {
            data: data.into_boxed_slice(),
            field_len: field.len(),
        }
    }

    #[inline]
    pub fn field(&self) -> &[u8] {
        &self.data[..self.field_len]
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        &self.data[self.field_len..]
    }

    fn set_value(&mut self, value: &[u8]) {
        *self = Pair::new(self.field(), value);
    }
}

impl DictItem for Pair {
    #[inline]
    fn key(&self) -> &[u8] {
        self.field()
    }
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}={:?}",
            String::from_utf8_lossy(self.field()),
            String::from_utf8_lossy(self.value())
        )
    }
}

/// A hash value.
#[derive(Clone, Debug)]
pub enum Hash {
    /// Alternating field, value entries.
    Listpack(Listpack),
    Table(Box<FieldDict<Pair>>),
}

const _: () = assert!(std::mem::size_of::<Hash>() == 16);

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

/// The conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Limits {
    pub fn new(max_entries: u64, max_value: u64) -> Limits {
        Limits {
            max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX),
            max_value: usize::try_from(max_value).unwrap_or(usize::MAX),
        }
    }
}

impl Hash {
    /// An empty listpack-encoded hash.
    pub fn new() -> Hash {
        Hash::Listpack(Listpack::new())
    }

    /// A hash over a listpack of alternating fields and values (RDB loading); `None` if the
    /// listpack has an odd number of entries or a repeated field (Redis rejects both).
    pub fn from_listpack(lp: Listpack) -> Option<Hash> {
        if !lp.len().is_multiple_of(2) {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        let mut it = lp.iter();
        while let Some(f) = it.next() {
            it.next();
            if !seen.insert(f.to_bytes().into_owned()) {
                return None;
            }
        }
        Some(Hash::Listpack(lp))
    }

    /// An empty hashtable-encoded hash sized for `n` fields (RDB loading of big hashes).
    pub fn with_table(n: usize) -> Hash {
        Hash::Table(Box::new(FieldDict::with_capacity(n)))
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len() / 2,
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.heap_size(),
            Hash::Table(d) => {
                std::mem::size_of::<FieldDict<Pair>>()
                    + d.structure_size()
                    + d.iter().map(|p| p.data.len()).sum::<usize>()
            }
        }
    }

    /// Position of `field`'s entry in a listpack hash.
    fn lp_find(lp: &Listpack, field: &[u8]) -> Option<usize> {
        lp.find_from(lp.first()?, field, 1)
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<Elem<'_>> {
        match self {
            Hash::Listpack(lp) => {
                let p = Self::lp_find(lp, field)?;
                Some(lp.at(lp.next(p)?))
            }
            Hash::Table(d) => d.get(field).map(|p| Elem::Bytes(p.value())),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => Self::lp_find(lp, field).is_some(),
            Hash::Table(d) => d.contains(field),
        }
    }

    /// Redis's `hashTypeTryConversion`: before a write of these fields and values, converts
    /// to a hashtable if any is longer than `max_value` or the listpack would grow unsafe.
    pub fn convert_for_args<'a>(&mut self, args: impl Iterator<Item = &'a [u8]>, lim: Limits) {
        let Hash::Listpack(lp) = self else {
            return;
        };
        let mut sum = 0usize;
        for a in args {
            if a.len() > lim.max_value {
                self.convert_to_table();
                return;
            }
            sum += a.len();
        }
        if !lp.safe_to_add(sum) {
            self.convert_to_table();
        }
    }

    /// Sets `field` to `value`; returns true if the field is new. Converts as Redis's
    /// `hashTypeSet` does: before the write for a too-long field or value (the HINCRBY*
    /// path), after it when the field count passes `max_entries`.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        if let Hash::Listpack(lp) = self {
            if field.len() > lim.max_value
                || value.len() > lim.max_value
                || !lp.safe_to_add(field.len() + value.len())
            {
                self.convert_to_table();
            }
        }
        match self {
            Hash::Listpack(lp) => {
                if let Some(p) = Self::lp_find(lp, field) {
                    if let Some(vp) = lp.next(p) {
                        lp.replace_at(vp, value);
                    }
                    return false;
                }
                lp.push_back(field);
                lp.push_back(value);
                if lp.len() / 2 > lim.max_entries {
                    self.convert_to_table();
                }
                true
            }
            Hash::Table(d) => {
                if let Some(p) = d.get_mut(field) {
                    p.set_value(value);
                    false
                } else {
                    d.insert_new(Pair::new(field, value));
                    true
                }
            }
        }
    }

    /// Removes `field`; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => match Self::lp_find(lp, field) {
                Some(p) => {
                    lp.delete_at(p, 2);
                    true
                }
                None => false,
            },
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Switches to the hashtable encoding (no-op if already there).
    pub fn convert_to_table(&mut self) {
        let Hash::Listpack(lp) = self else {
            return;
        };
        let mut d = FieldDict::with_capacity(lp.len() / 2);
        let mut it = lp.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            d.insert(Pair::new(&f.to_bytes(), &v.to_bytes()));
        }
        *self = Hash::Table(Box::new(d));
    }

    /// Field/value pairs: insertion order for a listpack, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Listpack(lp) => Iter::Listpack(lp.iter()),
            Hash::Table(d) => Iter::Table(d.iter()),
        }
    }

    /// A random pair (HRANDFIELD without count, and its negative-count sampling).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<(Elem<'_>, Elem<'_>)> {
        match self {
            Hash::Listpack(lp) => {
                let n = lp.len() / 2;
                if n == 0 {
                    return None;
                }
                let i = rng.gen_range(0..n);
                let p = lp.seek(2 * i as i64)?;
                Some((lp.at(p), lp.at(lp.next(p)?)))
            }
            Hash::Table(d) => d
                .random(rng)
                .map(|p| (Elem::Bytes(p.field()), Elem::Bytes(p.value()))),
        }
    }

    /// `count` distinct random pairs (`count < len`). A listpack hash yields them in
    /// listpack order, as Redis's `lpRandomPairsUnique`; a table in random order.
    pub fn random_distinct(
        &self,
        count: usize,
        rng: &mut impl rand::Rng,
    ) -> Vec<(Elem<'_>, Elem<'_>)> {
        let n = self.len();
        match self {
            Hash::Listpack(_) => {
                // Selection sampling: each pair is taken with probability
                // needed/remaining, which yields a uniform subset in order.
                let mut out = Vec::with_capacity(count);
                let mut needed = count;
                for (i, pair) in self.iter().enumerate() {
                    if needed == 0 {
                        break;
                    }
                    if rng.gen_range(0..n - i) < needed {
                        out.push(pair);
                        needed -= 1;
                    }
                }
                out
            }
            Hash::Table(d) => {
                let mut all: Vec<(Elem<'_>, Elem<'_>)> = d
                    .iter()
                    .map(|p| (Elem::Bytes(p.field()), Elem::Bytes(p.value())))
                    .collect();
                let count = count.min(all.len());
                for i in 0..count {
                    let j = rng.gen_range(i..all.len());
                    all.swap(i, j);
                }
                all.truncate(count);
                all
            }
        }
    }

    /// One HSCAN step over a hashtable hash (see `FieldDict::scan`); a listpack hash is
    /// returned whole by the caller, with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Listpack(_) => {
                for (k, v) in self.iter() {
                    f(&k.to_bytes(), &v.to_bytes());
                }
                0
            }
            Hash::Table(d) => d.scan(cursor, |p| f(p.field(), p.value())),
        }
    }
}

/// Iterator over a hash's (field, value) pairs.
pub enum Iter<'a> {
    Listpack(listpack::Iter<'a>),
    Table(fielddict::Iter<'a, Pair>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => {
                let f = it.next()?;
                let v = it.next()?;
                Some((f, v))
            }
            Iter::Table(it) => it
                .next()
                .map(|p| (Elem::Bytes(p.field()), Elem::Bytes(p.value()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        max_entries: 4,
        max_value: 8,
    };

    fn pairs(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter()
            .map(|(f, v)| (f.to_bytes().into_owned(), v.to_bytes().into_owned()))
            .collect()
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let mut h = Hash::new();
        assert!(h.set(b"b", b"1", LIM));
        assert!(h.set(b"a", b"x", LIM));
        assert!(!h.set(b"b", b"22", LIM));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(
            pairs(&h),
            vec![
                (b"b".to_vec(), b"22".to_vec()),
                (b"a".to_vec(), b"x".to_vec())
            ]
        );
        assert_eq!(h.get(b"b"), Some(Elem::Int(22)));
        // A value equal to a field name is not mistaken for a field.
        assert!(h.set(b"c", b"a", LIM));
        assert_eq!(h.get(b"a"), Some(Elem::Bytes(b"x")));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn conversions() {
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", LIM);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", LIM);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f2"), Some(Elem::Bytes(b"v")));

        let mut h = Hash::new();
        h.set(b"f", b"123456789", LIM);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.convert_for_args([&b"short"[..], b"waytoolongvalue"].into_iter(), LIM);
        assert_eq!(h.encoding(), "hashtable");
        assert!(h.is_empty());
    }

    #[test]
    fn random_and_scan() {
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), LIM);
        }
        let mut rng = rand::thread_rng();
        let (f, v) = h.random(&mut rng).unwrap();
        assert_eq!(h.get(&f.to_bytes()), Some(v));
        let picked = h.random_distinct(2, &mut rng);
        assert_eq!(picked.len(), 2);
        assert_ne!(picked[0].0, picked[1].0);
        let mut n = 0;
        assert_eq!(h.scan(0, |_, _| n += 1), 0);
        assert_eq!(n, 4);
    }

    #[test]
    fn from_listpack_validates_pairs() {
        let mut lp = Listpack::new();
        lp.push_back(b"a");
        assert!(Hash::from_listpack(lp.clone()).is_none());
        lp.push_back(b"1");
        assert!(Hash::from_listpack(lp.clone()).is_some());
        lp.push_back(b"a");
        lp.push_back(b"2");
        assert!(Hash::from_listpack(lp).is_none());
    }
}
