//! The list type: Redis 7.0's quicklist, a deque of listpack nodes.
//!
//! A list is a `VecDeque` of `Listpack` nodes, each holding a run of consecutive elements in
//! Redis's exact listpack format (integers stored as integers, strings with a 1-byte header
//! when short). This keeps what makes Redis lists cheap and fast:
//!
//! - **Memory**: an element costs its bytes plus 2–3 bytes of framing, not a pointer-sized
//!   node and an allocation. Nodes are exact-size buffers (see `listpack`).
//! - **Ends**: push and pop touch only the first or last node, so they are O(1) in the
//!   number of elements (at most one node's bytes are moved, as in Redis).
//! - **Indexes**: LINDEX/LSET/LRANGE find the node by walking node counts from the nearer
//!   end, then seek inside the node from its nearer end, so positions near either end are
//!   cheap, as with Redis's quicklist.
//!
//! Node size follows `list-max-listpack-size` ("fill") the way `quicklist.c` interprets it:
//! a negative fill -1..-5 caps a node at 4, 8, 16, 32 or 64 KiB; a positive fill caps the
//! element count (and, for safety, the size at 8 KiB). A list keeps the fill it was
//! created with, like a quicklist keeps the options it was created with. Because nodes are
//! real listpacks, the RDB writer can emit a list as Redis's `QUICKLIST_2` (one listpack
//! blob per node, `nodes()`), and the loader can adopt such blobs (`from_nodes`).
//! `list-compress-depth` is accepted by the config but nodes are never LZF-compressed:
//! compression trades CPU on every access for memory on long lists, and no reply depends
//! on it (OBJECT ENCODING is "quicklist" either way).
//!
//! Invariants: no node is empty; `len` is the sum of the nodes' lengths.

use std::collections::VecDeque;

use super::listpack::Listpack;
use super::Elem;
use crate::util::parse_i64;

/// One end of a list (Redis's LIST_HEAD / LIST_TAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl End {
    /// LEFT / RIGHT as LMOVE spells them.
    pub fn name(self) -> &'static str {
        match self {
            End::Head => "LEFT",
            End::Tail => "RIGHT",
        }
    }
}

/// Node byte limits for fill -1 .. -5 (quicklist.c's `optimization_level`).
const SIZE_LIMITS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Byte cap of a node when the fill is a count (quicklist.c's SIZE_SAFETY_LIMIT).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Elements this large always get a node of their own (quicklist.c's packed_threshold).
const LARGE_ELEMENT: usize = 1 << 30;
/// quicklist.c clamps the fill to [-5, FILL_MAX].
const FILL_MAX: i32 = (1 << 15) - 1;
/// Listpack header: total bytes (u32) and element count (u16).
const LP_HEADER: usize = 6;

/// A list value.
#[derive(Clone, Debug)]
pub struct List {
    nodes: VecDeque<Listpack>,
    len: usize,
    fill: i16,
}

impl Default for List {
    fn default() -> Self {
        List::new(-2)
    }
}

/// An element to compare list entries with: its bytes and, when it is the canonical
/// decimal form of an i64, that integer (listpack integers only equal such strings).
#[derive(Clone, Copy)]
pub struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    pub fn new(bytes: &'a [u8]) -> Needle<'a> {
        let int = if bytes.len() <= 20 {
            parse_i64(bytes)
        } else {
            None
        };
        Needle { bytes, int }
    }

    #[inline]
    pub fn matches(&self, e: Elem<'_>) -> bool {
        match e {
            Elem::Bytes(b) => b == self.bytes,
            Elem::Int(v) => self.int == Some(v),
        }
    }
}

/// Whether a node of this fill may take an element of `len` bytes (quicklist.c's
/// `_quicklistNodeAllowInsert`). Like Redis, the growth is estimated as the element's length
/// plus 8 (SIZE_ESTIMATE_OVERHEAD) rather than its exact entry size, so nodes split where
/// Redis's do and RDB/DUMP payloads of long lists match byte for byte.
fn allows(fill: i16, node: &Listpack, len: usize) -> bool {
    if len >= LARGE_ELEMENT {
        return false;
    }
    let new_size = node.bytes_len() + len + 8;
    if fill < 0 {
        new_size <= SIZE_LIMITS[(-(fill as i32) - 1) as usize]
    } else {
        new_size <= SIZE_SAFETY_LIMIT && node.len() < fill as usize
    }
}

/// A listpack holding `count` entries given as their raw encoded bytes (every slice is a
/// run of complete entries taken from other listpacks).
fn listpack_from_raw(parts: &[&[u8]], count: usize) -> Listpack {
    let total = LP_HEADER + parts.iter().map(|p| p.len()).sum::<usize>() + 1;
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&(total as u32).to_le_bytes());
    v.extend_from_slice(&(count.min(u16::MAX as usize) as u16).to_le_bytes());
    for p in parts {
        v.extend_from_slice(p);
    }
    v.push(0xFF);
    match Listpack::from_bytes(v) {
        Ok(lp) => lp,
        // Cannot happen (the parts are whole entries); rebuilding element by element is
        // the slow but always-correct fallback.
        Err(_) => {
            let mut lp = Listpack::new();
            for p in parts {
                let mut tmp = Vec::with_capacity(LP_HEADER + p.len() + 1);
                tmp.extend_from_slice(&((LP_HEADER + p.len() + 1) as u32).to_le_bytes());
                tmp.extend_from_slice(&u16::MAX.to_le_bytes());
                tmp.extend_from_slice(p);
                tmp.push(0xFF);
                if let Ok(part) = Listpack::from_bytes(tmp) {
                    for e in part.iter() {
                        lp.push_back(&e.to_bytes());
                    }
                }
            }
            lp
        }
    }
}

impl List {
    /// An empty list whose nodes follow `fill` (list-max-listpack-size).
    pub fn new(fill: i32) -> List {
        List {
            nodes: VecDeque::new(),
            len: 0,
            fill: fill.clamp(-5, FILL_MAX) as i16,
        }
    }

    /// A list of the given elements, head to tail (SORT ... STORE, RDB loading).
    pub fn from_elems<I, T>(fill: i32, elems: I) -> List
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut l = List::new(fill);
        for e in elems {
            l.push(e.as_ref(), End::Tail);
        }
        l
    }

    /// Adopts listpack nodes (the RDB loader's `QUICKLIST_2` blobs); empty ones are dropped.
    pub fn from_nodes(fill: i32, nodes: impl IntoIterator<Item = Listpack>) -> List {
        let mut l = List::new(fill);
        for n in nodes {
            if !n.is_empty() {
                l.len += n.len();
                l.nodes.push_back(n);
            }
        }
        l
    }

    /// The nodes, head to tail (the RDB writer emits one listpack blob per node).
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &Listpack> + '_ {
        self.nodes.iter()
    }

    /// OBJECT ENCODING's answer: Redis 7.0 reports every list as a quicklist.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned (for memory accounting).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Listpack>()
            + self.nodes.iter().map(|n| n.heap_size()).sum::<usize>()
    }

    /// Head-to-tail iterator; `.rev()` walks tail to head.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Elem<'_>> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// Iterator from the element at `start` (0-based from the head) to the tail.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = Elem<'_>> + '_ {
        let (first, offset) = if start < self.len {
            self.locate(start)
        } else {
            (self.nodes.len(), 0)
        };
        self.nodes
            .range(first..)
            .enumerate()
            .flat_map(move |(i, n)| n.iter().skip(if i == 0 { offset } else { 0 }))
    }

    /// Adds an element at one end.
    pub fn push(&mut self, ele: &[u8], end: End) {
        let add = ele.len();
        let fill = self.fill;
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        match node {
            Some(n) if allows(fill, n, add) => match end {
                End::Head => n.push_front(ele),
                End::Tail => n.push_back(ele),
            },
            _ => {
                let mut n = Listpack::new();
                n.push_back(ele);
                match end {
                    End::Head => self.nodes.push_front(n),
                    End::Tail => self.nodes.push_back(n),
                }
            }
        }
        self.len += 1;
    }

    /// Removes the element at one end, handing it to `f` before it is dropped (so popping
    /// into a reply costs no copy).
    pub fn pop_with<R>(&mut self, end: End, f: impl FnOnce(Elem<'_>) -> R) -> Option<R> {
        let idx = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().checked_sub(1)?,
        };
        let node = self.nodes.get_mut(idx)?;
        let pos = match end {
            End::Head => node.first()?,
            End::Tail => node.last()?,
        };
        let r = f(node.at(pos));
        node.delete_at(pos, 1);
        if node.is_empty() {
            self.nodes.remove(idx);
        }
        self.len -= 1;
        Some(r)
    }

    /// Removes and returns the element at one end.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        self.pop_with(end, |e| e.to_bytes().into_owned())
    }

    /// Node and offset inside it of the element at `index` (< len), walking from the
    /// nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut i = index;
            for (n, node) in self.nodes.iter().enumerate() {
                let l = node.len();
                if i < l {
                    return (n, i);
                }
                i -= l;
            }
        } else {
            // Offset from the tail.
            let mut i = self.len - 1 - index;
            for (n, node) in self.nodes.iter().enumerate().rev() {
                let l = node.len();
                if i < l {
                    return (n, l - 1 - i);
                }
                i -= l;
            }
        }
        (self.nodes.len(), 0)
    }

    /// Normalizes an index that may count from the tail (-1 is the last element).
    fn normalize(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at `index`; negative indexes count from the tail.
    pub fn get(&self, index: i64) -> Option<Elem<'_>> {
        let i = self.normalize(index)?;
        let (n, off) = self.locate(i);
        let node = self.nodes.get(n)?;
        let pos = node.seek(off as i64)?;
        Some(node.at(pos))
    }

    /// Replaces the element at `index` (negative counts from the tail); false when out of
    /// range. Replaced in place like quicklist's `quicklistReplaceEntry`.
    pub fn set(&mut self, index: i64, ele: &[u8]) -> bool {
        let Some(i) = self.normalize(index) else {
            return false;
        };
        let (n, off) = self.locate(i);
        let Some(node) = self.nodes.get_mut(n) else {
            return false;
        };
        match node.seek(off as i64) {
            Some(pos) => {
                node.replace_at(pos, ele);
                true
            }
            None => false,
        }
    }

    /// LINSERT: inserts `ele` before or after the first element equal to `pivot`, seeking
    /// from the head. False when the pivot is not found.
    pub fn insert_at_pivot(&mut self, pivot: &[u8], ele: &[u8], after: bool) -> bool {
        let needle = Needle::new(pivot);
        let mut found = None;
        'nodes: for (n, node) in self.nodes.iter().enumerate() {
            let mut p = node.first();
            while let Some(pos) = p {
                if needle.matches(node.at(pos)) {
                    found = Some((n, pos));
                    break 'nodes;
                }
                p = node.next(pos);
            }
        }
        let Some((n, pos)) = found else {
            return false;
        };
        let node = &self.nodes[n];
        let at = if after {
            node.next(pos).unwrap_or_else(|| node.end_pos())
        } else {
            pos
        };
        self.insert_at_pos(n, at, ele);
        true
    }

    /// Inserts `ele` before the entry at byte position `at` of node `n` (`end_pos()`
    /// appends), splitting a full node like quicklist's `_quicklistInsert`.
    fn insert_at_pos(&mut self, n: usize, at: usize, ele: &[u8]) {
        let add = ele.len();
        let fill = self.fill;
        self.len += 1;
        let node = &mut self.nodes[n];
        if allows(fill, node, add) {
            node.insert_at(at, ele);
            return;
        }
        let at_head = node.first() == Some(at);
        let at_tail = at == node.end_pos();
        if at_tail {
            match self.nodes.get_mut(n + 1) {
                Some(next) if allows(fill, next, add) => next.push_front(ele),
                _ => self.nodes.insert(n + 1, single(ele)),
            }
            return;
        }
        if at_head {
            match n.checked_sub(1).and_then(|p| self.nodes.get_mut(p)) {
                Some(prev) if allows(fill, prev, add) => prev.push_back(ele),
                _ => self.nodes.insert(n, single(ele)),
            }
            return;
        }
        // In the middle of a full node: split it at the insertion point and append the new
        // element to the first half (which now has room, or else gets a node of its own).
        let tail = split_off(&mut self.nodes[n], at);
        self.nodes.insert(n + 1, tail);
        let head = &mut self.nodes[n];
        if allows(fill, head, add) {
            head.push_back(ele);
        } else {
            self.nodes.insert(n + 1, single(ele));
        }
        self.try_merge(n + 1);
    }

    /// Merges node `n` with its successor when the result respects the fill.
    fn try_merge(&mut self, n: usize) {
        if n + 1 >= self.nodes.len() {
            return;
        }
        let (a, b) = (&self.nodes[n], &self.nodes[n + 1]);
        let merged_size = a.bytes_len() + b.bytes_len() - LP_HEADER - 1;
        let count = a.len() + b.len();
        let fits = if self.fill < 0 {
            merged_size <= SIZE_LIMITS[(-(self.fill as i32) - 1) as usize]
        } else {
            merged_size <= SIZE_SAFETY_LIMIT && count <= self.fill as usize
        };
        if !fits {
            return;
        }
        let merged = listpack_from_raw(&[entries_of(a), entries_of(b)], count);
        self.nodes[n] = merged;
        self.nodes.remove(n + 1);
    }

    /// LREM: removes up to `count` elements equal to `ele` (all when 0), from the head when
    /// `count > 0`, from the tail when negative. Returns how many were removed.
    pub fn remove_matching(&mut self, ele: &[u8], count: i64) -> usize {
        let needle = Needle::new(ele);
        let limit = count.unsigned_abs() as usize;
        let mut removed = 0;
        if count >= 0 {
            let mut n = 0;
            while n < self.nodes.len() {
                let node = &mut self.nodes[n];
                let mut p = node.first();
                while let Some(pos) = p {
                    if limit != 0 && removed == limit {
                        break;
                    }
                    if needle.matches(node.at(pos)) {
                        node.delete_at(pos, 1);
                        removed += 1;
                        // `pos` now holds the following entry.
                        p = (pos < node.end_pos()).then_some(pos);
                    } else {
                        p = node.next(pos);
                    }
                }
                if node.is_empty() {
                    self.nodes.remove(n);
                } else {
                    n += 1;
                }
                if limit != 0 && removed == limit {
                    break;
                }
            }
        } else {
            let mut n = self.nodes.len();
            while n > 0 {
                n -= 1;
                let node = &mut self.nodes[n];
                let mut p = node.last();
                while let Some(pos) = p {
                    if removed == limit {
                        break;
                    }
                    // The previous entry's position is not moved by deleting this one.
                    let prev = node.prev(pos);
                    if needle.matches(node.at(pos)) {
                        node.delete_at(pos, 1);
                        removed += 1;
                    }
                    p = prev;
                }
                if node.is_empty() {
                    self.nodes.remove(n);
                }
                if removed == limit {
                    break;
                }
            }
        }
        self.len -= removed;
        removed
    }

    /// Removes `count` elements starting at index `start` (from the head); the range is
    /// clamped to the list.
    pub fn delete_range(&mut self, start: usize, count: usize) {
        if start >= self.len || count == 0 {
            return;
        }
        let mut remaining = count.min(self.len - start);
        let (mut n, mut off) = self.locate(start);
        self.len -= remaining;
        while remaining > 0 && n < self.nodes.len() {
            let l = self.nodes[n].len();
            if off == 0 && remaining >= l {
                self.nodes.remove(n);
                remaining -= l;
                continue;
            }
            let take = (l - off).min(remaining);
            let node = &mut self.nodes[n];
            if let Some(pos) = node.seek(off as i64) {
                node.delete_at(pos, take);
            }
            remaining -= take;
            n += 1;
            off = 0;
        }
    }
}

/// A node holding one element.
fn single(ele: &[u8]) -> Listpack {
    let mut n = Listpack::new();
    n.push_back(ele);
    n
}

/// The raw entry bytes of a listpack (between header and terminator).
fn entries_of(lp: &Listpack) -> &[u8] {
    let b = lp.as_bytes();
    &b[LP_HEADER..b.len() - 1]
}

/// Splits `node` before the entry at byte position `at`: the node keeps the entries
/// before it, the returned listpack holds the rest.
fn split_off(node: &mut Listpack, at: usize) -> Listpack {
    let mut count = 0;
    let mut p = (at < node.end_pos()).then_some(at);
    while let Some(q) = p {
        count += 1;
        p = node.next(q);
    }
    let b = node.as_bytes();
    let tail = listpack_from_raw(&[&b[at..b.len() - 1]], count);
    node.delete_at(at, count);
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(&e.to_bytes()).into_owned())
            .collect()
    }

    fn check(l: &List) {
        assert_eq!(l.nodes.iter().map(|n| n.len()).sum::<usize>(), l.len);
        assert!(l.nodes.iter().all(|n| !n.is_empty()));
    }

    #[test]
    fn push_pop_both_ends_across_nodes() {
        // Fill 3: three elements per node, so every operation crosses nodes.
        let mut l = List::new(3);
        for i in 0..10 {
            l.push(i.to_string().as_bytes(), End::Tail);
            l.push(format!("h{i}").as_bytes(), End::Head);
        }
        check(&l);
        assert_eq!(l.len(), 20);
        assert!(l.nodes.len() >= 7);
        assert_eq!(l.pop(End::Head).unwrap(), b"h9");
        assert_eq!(l.pop(End::Tail).unwrap(), b"9");
        assert_eq!(l.get(0).unwrap().to_bytes().as_ref(), b"h8");
        assert_eq!(l.get(-1).unwrap().to_bytes().as_ref(), b"8");
        assert_eq!(l.get(9).unwrap().to_bytes().as_ref(), b"0");
        assert!(l.get(18).is_none());
        assert!(l.get(-19).is_none());
        let rev: Vec<_> = l.iter().rev().map(|e| e.to_bytes().into_owned()).collect();
        assert_eq!(rev[0], b"8");
        while l.pop(End::Head).is_some() {}
        check(&l);
        assert!(l.is_empty());
        assert_eq!(l.nodes.len(), 0);
    }

    #[test]
    fn byte_limit_fill() {
        let mut l = List::new(-1);
        let big = vec![b'x'; 1000];
        for _ in 0..10 {
            l.push(&big, End::Tail);
        }
        assert!(l.nodes.iter().all(|n| n.bytes_len() <= 4096));
        assert!(l.nodes.len() >= 3);
        // An element larger than the limit gets a node of its own.
        l.push(&vec![b'y'; 10000], End::Head);
        assert_eq!(l.nodes[0].len(), 1);
        check(&l);
    }

    #[test]
    fn set_insert_remove_trim() {
        let mut l = List::from_elems(2, ["a", "b", "c", "b", "d", "b"]);
        assert!(l.set(1, b"B"));
        assert!(l.set(-1, b"5"));
        assert!(!l.set(6, b"z"));
        assert_eq!(items(&l), ["a", "B", "c", "b", "d", "5"]);
        assert!(l.insert_at_pivot(b"c", b"x", false));
        assert!(l.insert_at_pivot(b"c", b"y", true));
        assert!(l.insert_at_pivot(b"5", b"end", true));
        assert!(l.insert_at_pivot(b"a", b"start", false));
        assert!(!l.insert_at_pivot(b"nope", b"q", true));
        assert_eq!(
            items(&l),
            ["start", "a", "B", "x", "c", "y", "b", "d", "5", "end"]
        );
        check(&l);
        l.push(b"b", End::Tail);
        l.push(b"b", End::Head);
        assert_eq!(l.remove_matching(b"b", -1), 1);
        assert_eq!(items(&l).last().unwrap(), "end");
        assert_eq!(l.remove_matching(b"b", 1), 1);
        assert_eq!(items(&l)[0], "start");
        assert_eq!(l.remove_matching(b"b", 0), 1);
        assert_eq!(l.remove_matching(b"5", 0), 1);
        check(&l);
        assert_eq!(items(&l), ["start", "a", "B", "x", "c", "y", "d", "end"]);
        l.delete_range(0, 2);
        l.delete_range(l.len() - 2, 2);
        assert_eq!(items(&l), ["B", "x", "c", "y"]);
        l.delete_range(1, 2);
        assert_eq!(items(&l), ["B", "y"]);
        check(&l);
        let from: Vec<_> = l.iter_from(1).map(|e| e.to_bytes().into_owned()).collect();
        assert_eq!(from, [b"y".to_vec()]);
        assert_eq!(l.iter_from(2).count(), 0);
    }

    #[test]
    fn integers_match_only_canonical_strings() {
        let mut l = List::from_elems(-2, ["12", "012", "-0", "12"]);
        assert_eq!(l.remove_matching(b"12", 0), 2);
        assert_eq!(items(&l), ["012", "-0"]);
        assert!(l.get(0).is_some_and(|e| e == Elem::Bytes(b"012")));
        l.push(b"-9223372036854775808", End::Tail);
        assert_eq!(l.get(-1), Some(Elem::Int(i64::MIN)));
    }

    #[test]
    fn split_keeps_order_in_full_nodes() {
        let mut l = List::new(4);
        for i in 0..8 {
            l.push(i.to_string().as_bytes(), End::Tail);
        }
        assert!(l.insert_at_pivot(b"1", b"x", true));
        assert!(l.insert_at_pivot(b"6", b"y", false));
        assert_eq!(
            items(&l),
            ["0", "1", "x", "2", "3", "4", "5", "y", "6", "7"]
        );
        check(&l);
        assert!(l.nodes.iter().all(|n| n.len() <= 4));
        for i in 0..l.len() {
            assert!(l.get(i as i64).is_some());
        }
    }
}
