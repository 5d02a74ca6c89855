//! `SkipList`: the large ("skiplist") encoding of sorted sets — Redis's skiplist with spans
//! plus a member index, in safe Rust.
//!
//! # Why a skiplist with spans
//!
//! ZRANK, ZRANGE by rank and ZREMRANGEBYRANK need order statistics in O(log n): every
//! forward link carries a `span`, the number of level-0 steps it jumps, so a descent from
//! the top level can add up ranks on the way (Pugh's skiplist as Redis's `t_zset.c` extends
//! it). Keeping Redis's algorithm (and not, say, a B-tree with subtree counts) also keeps
//! its observable quirks: range lookups are the same descents, so edge cases such as lex
//! ranges over members with different scores behave the same way.
//!
//! # Layout: an arena of nodes, addressed by `u32`
//!
//! Nodes live in one `Vec<Node>` and link to each other by index, which needs no `unsafe`
//! and no reference counting. A node is 32 bytes: its score, its level-0 forward and
//! backward links, and one exact-size allocation holding the level count, the links of
//! levels 1 and up (8 bytes each: next, span) and the member's bytes. 75% of nodes have a
//! single level, so most of them pay 1 byte for their links. Level-0 spans are not stored:
//! a level-0 link always jumps exactly one node.
//!
//! The member -> node index is a `hashbrown::HashTable<u32>` of node indexes: the member's
//! bytes are stored once (in the node) and a lookup compares against them. Per element this
//! is about 32 (node) + 1..9 + member (allocation) + ~6 (index) bytes, against Redis's
//! ~110 (skiplist node, sds, dictEntry, bucket) for short members.
//!
//! Freed slots form a free list threaded through `next` and are reused; nodes never move.
//! That is what makes ZSCAN's cursor simple and safe: the cursor is a slot index, and an
//! element present for the whole scan stays in its slot (a score change relinks the node
//! in place), so it is returned exactly once. The cost is that the arena does not shrink
//! after mass deletions (a zset that becomes empty is deleted with its key).

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use hashbrown::HashTable;

/// Redis's ZSKIPLIST_MAXLEVEL.
pub const MAX_LEVEL: usize = 32;

/// "No node".
pub const NIL: u32 = u32::MAX;

/// The header's pseudo index in link accessors.
const HEAD: u32 = u32::MAX - 1;

#[derive(Clone, Copy, Debug, Default)]
struct Link {
    next: u32,
    span: u32,
}

const NIL_LINK: Link = Link { next: NIL, span: 0 };

#[derive(Clone)]
struct Node {
    /// Byte 0: the node's level L (1..=32); then L-1 upper links (next u32 LE, span u32 LE);
    /// then the member. Empty for a free slot.
    data: Box<[u8]>,
    score: f64,
    /// Level-0 forward link; for a free slot, the next free slot.
    next: u32,
    /// Level-0 backward link.
    prev: u32,
}

#[inline]
fn read_u32(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

impl Node {
    #[inline]
    fn level(&self) -> usize {
        self.data[0] as usize
    }

    #[inline]
    fn is_free(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    fn member(&self) -> &[u8] {
        &self.data[1 + 8 * (self.level() - 1)..]
    }

    /// The link of level `i >= 1`.
    #[inline]
    fn upper(&self, i: usize) -> Link {
        let o = 1 + 8 * (i - 1);
        Link {
            next: read_u32(&self.data, o),
            span: read_u32(&self.data, o + 4),
        }
    }

    #[inline]
    fn set_upper(&mut self, i: usize, l: Link) {
        let o = 1 + 8 * (i - 1);
        self.data[o..o + 4].copy_from_slice(&l.next.to_le_bytes());
        self.data[o + 4..o + 8].copy_from_slice(&l.span.to_le_bytes());
    }
}

/// Builds a node's data block.
fn node_data(level: usize, member: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(1 + 8 * (level - 1) + member.len());
    v.push(level as u8);
    v.resize(1 + 8 * (level - 1), 0);
    v.extend_from_slice(member);
    v.into_boxed_slice()
}

fn hasher() -> &'static ahash::RandomState {
    static H: OnceLock<ahash::RandomState> = OnceLock::new();
    H.get_or_init(ahash::RandomState::new)
}

#[inline]
fn hash(member: &[u8]) -> u64 {
    hasher().hash_one(member)
}

thread_local! {
    static LEVEL_RNG: Cell<u64> = Cell::new(rand::random::<u64>() | 1);
}

/// Redis's `zslRandomLevel`: each extra level with probability 1/4 (ZSKIPLIST_P), capped at
/// 32. One xorshift draw supplies 32 two-bit coin flips.
fn random_level() -> usize {
    let mut bits = LEVEL_RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        x
    });
    let mut level = 1;
    while level < MAX_LEVEL && bits & 3 == 0 {
        level += 1;
        bits >>= 2;
    }
    level
}

/// A sorted set's skiplist and member index. Order: by score, then member bytes.
#[derive(Clone)]
pub struct SkipList {
    nodes: Vec<Node>,
    /// Head of the free-slot list (NIL: none).
    free: u32,
    head: [Link; MAX_LEVEL],
    /// Levels in use (>= 1).
    level: usize,
    tail: u32,
    len: usize,
    index: HashTable<u32>,
    /// Total bytes of all node data blocks (memory accounting).
    data_bytes: usize,
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl fmt::Debug for SkipList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipList")
            .field("len", &self.len)
            .field("level", &self.level)
            .field("slots", &self.nodes.len())
            .finish()
    }
}

/// Forward iterator over (member, score).
pub struct Iter<'a> {
    sl: &'a SkipList,
    cur: u32,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL {
            return None;
        }
        let n = &self.sl.nodes[self.cur as usize];
        self.cur = n.next;
        Some((n.member(), n.score))
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        SkipList {
            nodes: Vec::new(),
            free: NIL,
            head: [NIL_LINK; MAX_LEVEL],
            level: 1,
            tail: NIL,
            len: 0,
            index: HashTable::new(),
            data_bytes: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned (node arena, data blocks, index).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.data_bytes
            + self.index.allocation_size()
    }

    // --- navigation ------------------------------------------------------------------

    /// The lowest-ranked node.
    #[inline]
    pub fn first(&self) -> Option<u32> {
        let n = self.head[0].next;
        (n != NIL).then_some(n)
    }

    /// The highest-ranked node.
    #[inline]
    pub fn last(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    #[inline]
    pub fn next(&self, x: u32) -> Option<u32> {
        let n = self.nodes[x as usize].next;
        (n != NIL).then_some(n)
    }

    #[inline]
    pub fn prev(&self, x: u32) -> Option<u32> {
        let p = self.nodes[x as usize].prev;
        (p != NIL).then_some(p)
    }

    #[inline]
    pub fn member(&self, x: u32) -> &[u8] {
        self.nodes[x as usize].member()
    }

    #[inline]
    pub fn score_of(&self, x: u32) -> f64 {
        self.nodes[x as usize].score
    }

    /// Forward iterator starting at `from` (NIL: empty).
    pub fn iter_from(&self, from: u32) -> Iter<'_> {
        Iter {
            sl: self,
            cur: from,
        }
    }

    /// All (member, score) in rank order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(self.head[0].next)
    }

    /// The node holding `member`.
    pub fn find(&self, member: &[u8]) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(hash(member), |&i| nodes[i as usize].member() == member)
            .copied()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|x| self.nodes[x as usize].score)
    }

    // --- links -----------------------------------------------------------------------

    #[inline]
    fn link(&self, x: u32, i: usize) -> Link {
        if x == HEAD {
            return self.head[i];
        }
        let n = &self.nodes[x as usize];
        if i == 0 {
            Link {
                next: n.next,
                span: 1,
            }
        } else {
            n.upper(i)
        }
    }

    #[inline]
    fn set_link(&mut self, x: u32, i: usize, l: Link) {
        if x == HEAD {
            self.head[i] = l;
            return;
        }
        let n = &mut self.nodes[x as usize];
        if i == 0 {
            n.next = l.next;
        } else {
            n.set_upper(i, l);
        }
    }

    #[inline]
    fn add_span(&mut self, x: u32, i: usize, delta: u32) {
        let l = self.link(x, i);
        self.set_link(
            x,
            i,
            Link {
                next: l.next,
                span: l.span.wrapping_add(delta),
            },
        );
    }

    /// Whether node `a` sorts before node `b`.
    #[inline]
    fn node_lt(&self, a: u32, b: u32) -> bool {
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        na.score < nb.score || (na.score == nb.score && na.member() < nb.member())
    }

    /// Descends from the top level, moving forward while `go(node)` holds; returns the
    /// last node visited on each level (Redis's `update[]`) and the final node.
    #[inline]
    fn descend(&self, mut go: impl FnMut(&Node) -> bool) -> ([u32; MAX_LEVEL], u32) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && go(&self.nodes[l.next as usize]) {
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        (update, x)
    }

    // --- slots -----------------------------------------------------------------------

    fn alloc(&mut self, data: Box<[u8]>, score: f64) -> u32 {
        self.data_bytes += data.len();
        if self.free != NIL {
            let x = self.free;
            let n = &mut self.nodes[x as usize];
            self.free = n.next;
            *n = Node {
                data,
                score,
                next: NIL,
                prev: NIL,
            };
            return x;
        }
        let x = self.nodes.len();
        debug_assert!(
            x < HEAD as usize,
            "a sorted set is limited to 2^32-2 elements"
        );
        self.nodes.push(Node {
            data,
            score,
            next: NIL,
            prev: NIL,
        });
        x as u32
    }

    fn release(&mut self, x: u32) {
        let free = self.free;
        let n = &mut self.nodes[x as usize];
        self.data_bytes -= n.data.len();
        n.data = Box::default();
        n.next = free;
        n.prev = NIL;
        self.free = x;
        if self.len == 0 {
            // Nothing is live: drop the arena instead of keeping a free list over it.
            self.nodes = Vec::new();
            self.free = NIL;
        }
    }

    // --- insertion and removal --------------------------------------------------------

    /// Links the (unlinked) node `x` at its place by (score, member): `zslInsert`.
    fn link_node(&mut self, x: u32) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(cur, i);
                if l.next != NIL && self.node_lt(l.next, x) {
                    rank[i] = rank[i].wrapping_add(l.span);
                    cur = l.next;
                } else {
                    break;
                }
            }
            update[i] = cur;
        }
        let level = self.nodes[x as usize].level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.head[i].span = self.len as u32;
            }
            self.level = level;
        }
        for i in 0..level {
            let ul = self.link(update[i], i);
            let d = rank[0].wrapping_sub(rank[i]);
            self.set_link(
                x,
                i,
                Link {
                    next: ul.next,
                    span: ul.span.wrapping_sub(d),
                },
            );
            self.set_link(
                update[i],
                i,
                Link {
                    next: x,
                    span: d.wrapping_add(1),
                },
            );
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.add_span(u, i, 1);
        }
        let prev = if update[0] == HEAD { NIL } else { update[0] };
        let next = self.nodes[x as usize].next;
        self.nodes[x as usize].prev = prev;
        if next != NIL {
            self.nodes[next as usize].prev = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Unlinks `x` given the predecessors on every level: `zslDeleteNode`.
    fn unlink_with(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.link(u, i);
            if ul.next == x {
                let xl = self.link(x, i);
                self.set_link(
                    u,
                    i,
                    Link {
                        next: xl.next,
                        span: ul.span.wrapping_add(xl.span).wrapping_sub(1),
                    },
                );
            } else {
                self.add_span(u, i, u32::MAX);
            }
        }
        let (next, prev) = {
            let n = &self.nodes[x as usize];
            (n.next, n.prev)
        };
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        while self.level > 1 && self.head[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Unlinks `x` (found by its own score and member).
    fn unlink(&mut self, x: u32) {
        let (score, nodes) = (self.nodes[x as usize].score, &self.nodes);
        let member = nodes[x as usize].member();
        let (update, _) =
            self.descend(|n| n.score < score || (n.score == score && n.member() < member));
        self.unlink_with(x, &update);
    }

    fn unindex(&mut self, x: u32) {
        let h = hash(self.nodes[x as usize].member());
        if let Ok(e) = self.index.find_entry(h, |&i| i == x) {
            e.remove();
        }
    }

    /// Adds `member`, which must not be present. Returns its node.
    pub fn insert(&mut self, member: &[u8], score: f64) -> u32 {
        debug_assert!(!score.is_nan());
        let x = self.alloc(node_data(random_level(), member), score);
        self.link_node(x);
        let nodes = &self.nodes;
        self.index
            .insert_unique(hash(member), x, |&i| hash(nodes[i as usize].member()));
        x
    }

    /// Changes the score of node `x`: in place when the order is kept (Redis's
    /// `zslUpdateScore` fast path), else unlinked and relinked at its new place.
    pub fn update_score(&mut self, x: u32, score: f64) {
        let n = &self.nodes[x as usize];
        let prev_ok = n.prev == NIL || self.nodes[n.prev as usize].score < score;
        let next_ok = n.next == NIL || self.nodes[n.next as usize].score > score;
        if prev_ok && next_ok {
            self.nodes[x as usize].score = score;
            return;
        }
        self.unlink(x);
        self.nodes[x as usize].score = score;
        self.link_node(x);
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let nodes = &self.nodes;
        let e = self
            .index
            .find_entry(hash(member), |&i| nodes[i as usize].member() == member)
            .ok()?;
        let (x, _) = e.remove();
        let score = self.nodes[x as usize].score;
        self.unlink(x);
        self.release(x);
        Some(score)
    }

    /// Removes node `x`.
    pub fn remove_node(&mut self, x: u32) {
        self.unindex(x);
        self.unlink(x);
        self.release(x);
    }

    // --- ranks and ranges ---------------------------------------------------------------

    /// 1-based rank of node `x`: `zslGetRank`.
    pub fn rank(&self, x: u32) -> usize {
        let (score, member) = (
            self.nodes[x as usize].score,
            self.nodes[x as usize].member(),
        );
        let mut rank: u64 = 0;
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(cur, i);
                if l.next == NIL {
                    break;
                }
                let n = &self.nodes[l.next as usize];
                if n.score < score || (n.score == score && n.member() <= member) {
                    rank += l.span as u64;
                    cur = l.next;
                } else {
                    break;
                }
            }
            if cur == x {
                return rank as usize;
            }
        }
        0
    }

    /// The node of 1-based `rank`: `zslGetElementByRank`.
    pub fn by_rank(&self, rank: usize) -> Option<u32> {
        let rank = rank as u64;
        let mut traversed: u64 = 0;
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(cur, i);
                if l.next != NIL && traversed + l.span as u64 <= rank {
                    traversed += l.span as u64;
                    cur = l.next;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return (cur != HEAD).then_some(cur);
            }
        }
        None
    }

    /// The first node for which `before(score, member)` is false, found by descent (the
    /// shape of `zslFirstInRange` / `zslFirstInLexRange` after their range checks).
    pub fn first_not(&self, before: impl Fn(f64, &[u8]) -> bool) -> Option<u32> {
        let (_, x) = self.descend(|n| before(n.score, n.member()));
        let next = self.link(x, 0).next;
        (next != NIL).then_some(next)
    }

    /// The last node for which `within(score, member)` holds, found by descent (the shape
    /// of `zslLastInRange` / `zslLastInLexRange`).
    pub fn last_where(&self, within: impl Fn(f64, &[u8]) -> bool) -> Option<u32> {
        let (_, x) = self.descend(|n| within(n.score, n.member()));
        (x != HEAD).then_some(x)
    }

    /// Removes the nodes from the first for which `before` is false, while `within` holds
    /// (`zslDeleteRangeByScore` / `zslDeleteRangeByLex`). Returns how many.
    pub fn remove_range(
        &mut self,
        before: impl Fn(f64, &[u8]) -> bool,
        within: impl Fn(f64, &[u8]) -> bool,
    ) -> usize {
        let (update, x) = self.descend(|n| before(n.score, n.member()));
        let mut x = self.link(x, 0).next;
        let mut removed = 0;
        while x != NIL {
            let n = &self.nodes[x as usize];
            if !within(n.score, n.member()) {
                break;
            }
            let next = n.next;
            self.unindex(x);
            self.unlink_with(x, &update);
            self.release(x);
            removed += 1;
            x = next;
        }
        removed
    }

    /// Removes the nodes of 1-based ranks `start..=end`: `zslDeleteRangeByRank`.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        let mut traversed: usize = 0;
        let (update, x) = self.descend_rank(start, &mut traversed);
        traversed += 1;
        let mut x = self.link(x, 0).next;
        let mut removed = 0;
        while x != NIL && traversed <= end {
            let next = self.nodes[x as usize].next;
            self.unindex(x);
            self.unlink_with(x, &update);
            self.release(x);
            removed += 1;
            traversed += 1;
            x = next;
        }
        removed
    }

    /// Descends to the node just before 1-based rank `start`.
    fn descend_rank(&self, start: usize, traversed: &mut usize) -> ([u32; MAX_LEVEL], u32) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(cur, i);
                if l.next != NIL && *traversed + (l.span as usize) < start {
                    *traversed += l.span as usize;
                    cur = l.next;
                } else {
                    break;
                }
            }
            update[i] = cur;
        }
        (update, cur)
    }

    // --- scanning ------------------------------------------------------------------------

    /// One ZSCAN step: visits slots from `cursor` until `count` elements were reported or
    /// `10 * count` slots were visited; returns the next cursor (0: done). Slots never move
    /// (see the module doc), so an element present for the whole scan is reported once.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let total = self.nodes.len();
        if cursor >= total as u64 {
            return 0;
        }
        let mut i = cursor as usize;
        let (mut found, mut visited) = (0usize, 0usize);
        let max_visits = count.saturating_mul(10).max(1);
        while i < total {
            let n = &self.nodes[i];
            i += 1;
            visited += 1;
            if !n.is_free() {
                f(n.member(), n.score);
                found += 1;
            }
            if found >= count || visited >= max_visits {
                break;
            }
        }
        if i >= total {
            0
        } else {
            i as u64
        }
    }

    /// Checks every structural invariant (tests and debugging): order, spans, backward
    /// links, tail, length, index.
    #[cfg(test)]
    pub fn check(&self) {
        let mut count = 0;
        let mut prev = NIL;
        let mut x = self.head[0].next;
        while x != NIL {
            let n = &self.nodes[x as usize];
            assert!(!n.is_free());
            assert_eq!(n.prev, prev);
            if prev != NIL {
                assert!(self.node_lt(prev, x));
            }
            assert_eq!(self.find(n.member()), Some(x));
            count += 1;
            assert_eq!(self.rank(x), count);
            prev = x;
            x = n.next;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(count, self.len);
        assert_eq!(self.index.len(), self.len);
        // Spans: for every level, the sum of spans to each linked node equals its rank.
        for i in 1..self.level {
            let mut cur = HEAD;
            let mut rank = 0usize;
            loop {
                let l = self.link(cur, i);
                if l.next == NIL {
                    break;
                }
                rank += l.span as usize;
                assert_eq!(self.rank(l.next), rank, "level {i}");
                cur = l.next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// A reference model: (score bits ordered, member) -> ().
    fn model_order(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
        v
    }

    #[test]
    fn random_ops_match_model() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut sl = SkipList::new();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for step in 0..4000 {
            let m = format!("m{}", rng.gen_range(0..300)).into_bytes();
            let s = rng.gen_range(-20..20) as f64 / 2.0;
            match rng.gen_range(0..10) {
                0..=4 => {
                    if let Some(x) = sl.find(&m) {
                        sl.update_score(x, s);
                    } else {
                        sl.insert(&m, s);
                    }
                    model.insert(m, s);
                }
                5..=6 => {
                    assert_eq!(sl.remove(&m), model.remove(&m));
                }
                7 => {
                    let lo = rng.gen_range(-10..10) as f64;
                    let n = sl.remove_range(|sc, _| sc < lo, |sc, _| sc <= lo + 1.0);
                    let before = model.len();
                    model.retain(|_, sc| !(*sc >= lo && *sc <= lo + 1.0));
                    assert_eq!(n, before - model.len());
                }
                8 => {
                    if !model.is_empty() {
                        let a = rng.gen_range(1..=model.len());
                        let b = rng.gen_range(a..=model.len().min(a + 5));
                        let order = model_order(&model);
                        for (k, _) in &order[a - 1..b] {
                            model.remove(k);
                        }
                        assert_eq!(sl.remove_rank_range(a, b), b - a + 1);
                    }
                }
                _ => {
                    let order = model_order(&model);
                    for (r, (k, s)) in order.iter().enumerate() {
                        let x = sl.by_rank(r + 1).unwrap();
                        assert_eq!(sl.member(x), &k[..]);
                        assert_eq!(sl.score_of(x), *s);
                    }
                    assert_eq!(sl.by_rank(order.len() + 1), None);
                }
            }
            if step % 97 == 0 {
                sl.check();
            }
            let got: Vec<(Vec<u8>, f64)> = sl.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(got, model_order(&model), "step {step}");
        }
        sl.check();
    }

    #[test]
    fn scan_reports_every_element_once() {
        let mut sl = SkipList::new();
        for i in 0..1000 {
            sl.insert(format!("e{i}").as_bytes(), i as f64);
        }
        for i in (0..1000).step_by(3) {
            sl.remove(format!("e{i}").as_bytes());
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = sl.scan(cursor, 10, |m, _| seen.push(m.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!(before, seen.len());
        assert_eq!(seen.len(), sl.len());
    }

    #[test]
    fn first_and_last_in_range() {
        let mut sl = SkipList::new();
        for i in 0..100 {
            sl.insert(format!("{i:03}").as_bytes(), (i / 10) as f64);
        }
        let x = sl.first_not(|s, _| s < 3.0).unwrap();
        assert_eq!(sl.member(x), b"030");
        let y = sl.last_where(|s, _| s <= 3.0).unwrap();
        assert_eq!(sl.member(y), b"039");
        assert_eq!(sl.rank(y) - sl.rank(x) + 1, 10);
        assert_eq!(sl.first_not(|s, _| s < 100.0), None);
        assert_eq!(sl.last_where(|s, _| s < -1.0), None);
    }
}
