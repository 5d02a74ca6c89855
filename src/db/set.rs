//! The set type: an `IntSet` while every member is an integer and the set is small, a
//! `FieldDict` of members otherwise (Redis 7.0 has no listpack sets).
//!
//! The rules are Redis's `setTypeCreate` / `setTypeAdd` (t_set.c), since OBJECT ENCODING
//! and the order of SMEMBERS/SUNION replies depend on them: a new set starts as an intset
//! when its first member is an integer (`string2ll`, the same canonical form the listpack
//! uses); adding a non-integer, or growing past `set-max-intset-entries` (capped at 2^30),
//! converts to a hashtable, and nothing converts back. Intset members iterate in ascending
//! order, which is why those replies are deterministic.

use super::fielddict::{self, FieldDict};
use super::intset::{self, IntSet};
use super::Elem;
use crate::util::parse_i64;

/// A set value.
#[derive(Clone, Debug)]
pub enum Set {
    Intset(IntSet),
    Table(Box<FieldDict<Box<[u8]>>>),
}

const _: () = assert!(std::mem::size_of::<Set>() == 16);

impl Default for Set {
    fn default() -> Self {
        Set::new_intset()
    }
}

/// Redis caps set-max-intset-entries at 2^30 "due to intset internals".
fn cap(max_intset: u64) -> usize {
    max_intset.min(1 << 30) as usize
}

impl Set {
    /// An empty intset-encoded set (what SINTERSTORE/SUNIONSTORE start from).
    pub fn new_intset() -> Set {
        Set::Intset(IntSet::new())
    }

    /// An empty hashtable-encoded set sized for `n` members.
    pub fn with_table(n: usize) -> Set {
        Set::Table(Box::new(FieldDict::with_capacity(n)))
    }

    /// Redis's `setTypeCreate`: the encoding suited to a set whose first member is `first`.
    pub fn new_for(first: &[u8]) -> Set {
        if parse_i64(first).is_some() {
            Set::new_intset()
        } else {
            Set::with_table(0)
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(s) => s.len(),
            Set::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Set::Intset(s) => s.heap_size(),
            Set::Table(d) => {
                std::mem::size_of::<FieldDict<Box<[u8]>>>()
                    + d.structure_size()
                    + d.iter().map(|m| m.len()).sum::<usize>()
            }
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Intset(s) => parse_i64(member).is_some_and(|v| s.contains(v)),
            Set::Table(d) => d.contains(member),
        }
    }

    /// Membership of an element taken from another set (no formatting when both sides
    /// are intsets).
    pub fn contains_elem(&self, e: Elem<'_>) -> bool {
        match (self, e) {
            (Set::Intset(s), Elem::Int(v)) => s.contains(v),
            (Set::Table(d), Elem::Int(v)) => d.contains(itoa::Buffer::new().format(v).as_bytes()),
            (_, Elem::Bytes(b)) => self.contains(b),
        }
    }

    /// Adds `member`; returns whether it was new. Converts as `setTypeAdd` does.
    pub fn add(&mut self, member: &[u8], max_intset: u64) -> bool {
        match self {
            Set::Intset(s) => match parse_i64(member) {
                Some(v) => self.add_int(v, max_intset),
                None => {
                    let mut d = FieldDict::with_capacity(s.len() + 1);
                    for v in s.iter() {
                        d.insert_new(itoa::Buffer::new().format(v).as_bytes().into());
                    }
                    d.insert_new(member.into());
                    *self = Set::Table(Box::new(d));
                    true
                }
            },
            Set::Table(d) => {
                if d.contains(member) {
                    return false;
                }
                d.insert_new(member.into());
                true
            }
        }
    }

    /// Adds an integer member.
    pub fn add_int(&mut self, v: i64, max_intset: u64) -> bool {
        match self {
            Set::Intset(s) => {
                if !s.insert(v) {
                    return false;
                }
                if s.len() > cap(max_intset) {
                    self.convert_to_table();
                }
                true
            }
            Set::Table(_) => self.add(itoa::Buffer::new().format(v).as_bytes(), max_intset),
        }
    }

    /// Adds an element taken from another set.
    pub fn add_elem(&mut self, e: Elem<'_>, max_intset: u64) -> bool {
        match e {
            Elem::Int(v) => self.add_int(v, max_intset),
            Elem::Bytes(b) => self.add(b, max_intset),
        }
    }

    /// Removes `member`; returns whether it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(s) => parse_i64(member).is_some_and(|v| s.remove(v)),
            Set::Table(d) => d.remove(member).is_some(),
        }
    }

    pub fn remove_elem(&mut self, e: Elem<'_>) -> bool {
        match (&mut *self, e) {
            (Set::Intset(s), Elem::Int(v)) => s.remove(v),
            (Set::Table(d), Elem::Int(v)) => {
                d.remove(itoa::Buffer::new().format(v).as_bytes()).is_some()
            }
            (_, Elem::Bytes(b)) => self.remove(b),
        }
    }

    /// Switches to the hashtable encoding (no-op if already there).
    pub fn convert_to_table(&mut self) {
        let Set::Intset(s) = self else {
            return;
        };
        let mut d = FieldDict::with_capacity(s.len());
        for v in s.iter() {
            d.insert_new(itoa::Buffer::new().format(v).as_bytes().into());
        }
        *self = Set::Table(Box::new(d));
    }

    /// Members: ascending for an intset, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Intset(s) => Iter::Intset(s.iter()),
            Set::Table(d) => Iter::Table(d.iter()),
        }
    }

    /// A random member.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<Elem<'_>> {
        match self {
            Set::Intset(s) => {
                if s.is_empty() {
                    return None;
                }
                s.get(rng.gen_range(0..s.len())).map(Elem::Int)
            }
            Set::Table(d) => d.random(rng).map(|m| Elem::Bytes(m)),
        }
    }

    /// Removes and returns a random member as bytes.
    pub fn pop_random(&mut self, rng: &mut impl rand::Rng) -> Option<Vec<u8>> {
        match self {
            Set::Intset(s) => {
                if s.is_empty() {
                    return None;
                }
                let v = s.remove_at(rng.gen_range(0..s.len()))?;
                Some(itoa::Buffer::new().format(v).as_bytes().to_vec())
            }
            Set::Table(d) => {
                let m = d.random(rng)?.to_vec();
                d.remove(&m);
                Some(m)
            }
        }
    }

    /// `count` distinct random members (`count < len`), in random order.
    pub fn random_distinct(&self, count: usize, rng: &mut impl rand::Rng) -> Vec<Elem<'_>> {
        let n = self.len();
        let count = count.min(n);
        if count * 3 > n {
            // Many of the members: a partial shuffle of all of them.
            let mut all: Vec<Elem<'_>> = self.iter().collect();
            for i in 0..count {
                let j = rng.gen_range(i..all.len());
                all.swap(i, j);
            }
            all.truncate(count);
            all
        } else {
            // Few: draw until enough distinct members are collected.
            let mut seen = std::collections::HashSet::with_capacity(count);
            let mut out = Vec::with_capacity(count);
            while out.len() < count {
                let Some(e) = self.random(rng) else {
                    break;
                };
                // `Elem` is not `Hash`: key the dedup on its parts.
                let k = match e {
                    Elem::Int(v) => (v, &[][..]),
                    Elem::Bytes(b) => (i64::MIN, b),
                };
                let fresh = match e {
                    Elem::Int(_) => seen.insert((true, k)),
                    Elem::Bytes(_) => seen.insert((false, k)),
                };
                if fresh {
                    out.push(e);
                }
            }
            out
        }
    }

    /// One SSCAN step over a hashtable set; an intset is returned whole, with cursor 0.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(Elem<'_>)) -> u64 {
        match self {
            Set::Intset(s) => {
                s.iter().for_each(|v| f(Elem::Int(v)));
                0
            }
            Set::Table(d) => d.scan(cursor, |m| f(Elem::Bytes(m))),
        }
    }
}

/// Iterator over a set's members.
pub enum Iter<'a> {
    Intset(intset::Iter<'a>),
    Table(fielddict::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    #[inline]
    fn next(&mut self) -> Option<Elem<'a>> {
        match self {
            Iter::Intset(it) => it.next().map(Elem::Int),
            Iter::Table(it) => it.next().map(|m| Elem::Bytes(m)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Intset(it) => it.size_hint(),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(|e| e.to_bytes().into_owned()).collect()
    }

    #[test]
    fn intset_then_hashtable() {
        let mut s = Set::new_for(b"5");
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"5", 512));
        assert!(s.add(b"-2", 512));
        assert!(!s.add(b"5", 512));
        assert_eq!(members(&s), vec![b"-2".to_vec(), b"5".to_vec()]);
        assert!(s.contains(b"-2"));
        assert!(!s.contains(b"05"));
        assert!(s.add(b"x", 512));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"5") && s.contains(b"x"));
        assert!(s.contains_elem(Elem::Int(-2)));
        assert!(s.remove(b"x"));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 2);
        assert_eq!(Set::new_for(b"a").encoding(), "hashtable");
    }

    #[test]
    fn intset_size_limit() {
        let mut s = Set::new_intset();
        for i in 0..3 {
            s.add_int(i, 3);
        }
        assert_eq!(s.encoding(), "intset");
        s.add_int(3, 3);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn random_pop_scan() {
        let mut s = Set::new_intset();
        for i in 0..10 {
            s.add_int(i, 512);
        }
        let mut rng = rand::thread_rng();
        let d = s.random_distinct(4, &mut rng);
        assert_eq!(d.len(), 4);
        let d = s.random_distinct(2, &mut rng);
        assert_eq!(d.len(), 2);
        assert_ne!(d[0], d[1]);
        let p = s.pop_random(&mut rng).unwrap();
        assert!(!s.contains(&p));
        assert_eq!(s.len(), 9);
        let mut n = 0;
        assert_eq!(s.scan(0, |_| n += 1), 0);
        assert_eq!(n, 9);
    }
}
