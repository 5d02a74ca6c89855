//! `FieldDict<T>`: the "hashtable" encoding of hashes and sets — the members of one
//! collection in the same table as the keyspace (`db::dict::ChainDict`, which documents the
//! algorithm: chained power-of-two tables, incremental rehash, reverse-binary SCAN).
//!
//! HSCAN/SSCAN need what SCAN needs (a member present for the whole scan is returned even
//! if the table resizes between calls) and big collections must grow without a stall, so
//! they reuse the keyspace's table. What differs is kept here: the stored item (a hash's
//! field+value pair, a set's member) is wrapped in a `Node` rather than being the node
//! itself, the hash seed is process-wide (`SharedHasher`) rather than 32 bytes per table,
//! and a removal shrinks a sparse table at once, as Redis does after deleting from a hash or
//! set (the keyspace leaves that to the cron).
//!
//! Memory: a node is `next` + the item (a set member: 8 + 16 bytes; a hash pair: 8 + 24), plus
//! one 8-byte bucket slot per member at load factor 1.

use super::dict::{self, ChainDict, Chained, Link, SharedHasher};

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

/// A collection item in a bucket chain.
pub struct Node<T> {
    next: Link<Node<T>>,
    item: T,
}

impl<T: DictItem> Chained for Node<T> {
    type Item = T;

    #[inline]
    fn key(&self) -> &[u8] {
        self.item.key()
    }

    #[inline]
    fn link(&self) -> &Link<Self> {
        &self.next
    }

    #[inline]
    fn link_mut(&mut self) -> &mut Link<Self> {
        &mut self.next
    }

    #[inline]
    fn item(&self) -> &T {
        &self.item
    }

    #[inline]
    fn item_mut(&mut self) -> &mut T {
        &mut self.item
    }
}

/// A hash's or set's hashtable.
pub type FieldDict<T> = ChainDict<Node<T>, SharedHasher>;

/// Iterator over a `FieldDict`'s items.
pub type Iter<'a, T> = dict::Iter<'a, Node<T>>;

impl<T: DictItem + Clone> Clone for FieldDict<T> {
    fn clone(&self) -> Self {
        let mut d = FieldDict::with_capacity(self.len());
        for item in self.iter() {
            d.insert_new(item.clone());
        }
        d
    }
}

impl<T: DictItem> FieldDict<T> {
    /// Inserts an item whose key must not be present (callers check first).
    pub fn insert_new(&mut self, item: T) {
        self.insert_node(Box::new(Node {
            next: Link::EMPTY,
            item,
        }));
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
        let node = self.remove_node(key)?;
        self.shrink_if_needed();
        Some(node.item)
    }
}

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
