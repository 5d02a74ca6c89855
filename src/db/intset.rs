//! `IntSet`: Redis's intset, byte for byte.
//!
//! A set whose members are all integers (and few, `set-max-intset-entries`) is stored as a
//! sorted array of fixed-width integers: 2, 4 or 8 bytes each, the width being the smallest
//! that fits every member. Adding a member that needs a wider width rewrites the whole
//! array ("upgrade"); removing never narrows it, as in Redis. Membership is a binary search.
//!
//! The buffer is Redis's serialized layout — `<encoding u32 LE> <length u32 LE>
//! <members LE...>` — so the RDB writer can emit it as an `RDB_TYPE_SET_INTSET` blob, and it
//! is an exact-size `Box<[u8]>`: a 10-member set of small integers costs 28 bytes.

use std::fmt;

const HDR: usize = 8;

/// Why `from_bytes` rejected a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntSetError {
    /// Header shorter than 8 bytes, encoding not 2/4/8, or length disagreeing with size.
    BadHeader,
    /// Zero members (Redis never stores an empty intset).
    Empty,
    /// Members not strictly ascending.
    Unsorted,
}

impl fmt::Display for IntSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntSetError::BadHeader => write!(f, "intset header invalid"),
            IntSetError::Empty => write!(f, "intset empty"),
            IntSetError::Unsorted => write!(f, "intset not sorted or has duplicates"),
        }
    }
}

impl std::error::Error for IntSetError {}

/// A sorted set of distinct integers.
#[derive(Clone, PartialEq, Eq)]
pub struct IntSet {
    buf: Box<[u8]>,
}

impl fmt::Debug for IntSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::new()
    }
}

/// The smallest width (2, 4 or 8 bytes) holding `v`: Redis's `_intsetValueEncoding`.
fn width_for(v: i64) -> usize {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        8
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        4
    } else {
        2
    }
}

#[inline]
fn read(buf: &[u8], width: usize, i: usize) -> i64 {
    let p = HDR + i * width;
    match width {
        2 => i16::from_le_bytes([buf[p], buf[p + 1]]) as i64,
        4 => i32::from_le_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]) as i64,
        _ => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[p..p + 8]);
            i64::from_le_bytes(b)
        }
    }
}

#[inline]
fn write(buf: &mut [u8], width: usize, i: usize, v: i64) {
    let p = HDR + i * width;
    match width {
        2 => buf[p..p + 2].copy_from_slice(&(v as i16).to_le_bytes()),
        4 => buf[p..p + 4].copy_from_slice(&(v as i32).to_le_bytes()),
        _ => buf[p..p + 8].copy_from_slice(&v.to_le_bytes()),
    }
}

impl IntSet {
    /// An empty intset with the 16-bit encoding.
    pub fn new() -> IntSet {
        let mut buf = vec![0u8; HDR];
        buf[..4].copy_from_slice(&2u32.to_le_bytes());
        IntSet {
            buf: buf.into_boxed_slice(),
        }
    }

    /// Adopts a serialized intset after validating it (Redis's `intsetValidateIntegrity`
    /// with deep checks): bad input is an error, never a panic.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<IntSet, IntSetError> {
        if bytes.len() < HDR {
            return Err(IntSetError::BadHeader);
        }
        let width = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if !matches!(width, 2 | 4 | 8) {
            return Err(IntSetError::BadHeader);
        }
        let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if len == 0 {
            return Err(IntSetError::Empty);
        }
        if len.checked_mul(width).and_then(|n| n.checked_add(HDR)) != Some(bytes.len()) {
            return Err(IntSetError::BadHeader);
        }
        let mut prev = read(&bytes, width, 0);
        for i in 1..len {
            let v = read(&bytes, width, i);
            if v <= prev {
                return Err(IntSetError::Unsorted);
            }
            prev = v;
        }
        Ok(IntSet {
            buf: bytes.into_boxed_slice(),
        })
    }

    /// The serialized form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    #[inline]
    fn width(&self) -> usize {
        // Always 2, 4 or 8 (constructed or validated).
        self.buf[0] as usize
    }

    #[inline]
    pub fn len(&self) -> usize {
        u32::from_le_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        self.buf[4..8].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// Encoding width in bytes (2, 4 or 8).
    pub fn encoding_width(&self) -> usize {
        self.width()
    }

    /// The member at sorted position `i`.
    pub fn get(&self, i: usize) -> Option<i64> {
        (i < self.len()).then(|| read(&self.buf, self.width(), i))
    }

    /// Binary search: Ok(position) if present, Err(insertion point) if not.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (w, n) = (self.width(), self.len());
        if n == 0 {
            return Err(0);
        }
        // Fast paths for appends/prepends, as Redis's intsetSearch.
        if v > read(&self.buf, w, n - 1) {
            return Err(n);
        }
        if v < read(&self.buf, w, 0) {
            return Err(0);
        }
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = read(&self.buf, w, mid);
            match m.cmp(&v) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_for(v) <= self.width() && self.search(v).is_ok()
    }

    /// Adds `v`; returns false if it was already present.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_for(v);
        let n = self.len();
        if need > self.width() {
            self.upgrade_and_add(v, need);
            return true;
        }
        let pos = match self.search(v) {
            Ok(_) => return false,
            Err(p) => p,
        };
        let w = self.width();
        let mut b = std::mem::take(&mut self.buf).into_vec();
        b.reserve_exact(w);
        b.resize(HDR + (n + 1) * w, 0);
        b.copy_within(HDR + pos * w..HDR + n * w, HDR + (pos + 1) * w);
        write(&mut b, w, pos, v);
        self.buf = b.into_boxed_slice();
        self.set_len(n + 1);
        true
    }

    /// Rewrites every member at the wider width; the new value is necessarily the new
    /// minimum (negative) or maximum (positive), since it did not fit the old width.
    fn upgrade_and_add(&mut self, v: i64, new_w: usize) {
        let old_w = self.width();
        let n = self.len();
        let mut b = vec![0u8; HDR + (n + 1) * new_w];
        b[..4].copy_from_slice(&(new_w as u32).to_le_bytes());
        let prepend = usize::from(v < 0);
        for i in 0..n {
            write(&mut b, new_w, i + prepend, read(&self.buf, old_w, i));
        }
        write(&mut b, new_w, if v < 0 { 0 } else { n }, v);
        self.buf = b.into_boxed_slice();
        self.set_len(n + 1);
    }

    /// Removes `v`; returns false if it was absent.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_for(v) > self.width() {
            return false;
        }
        let Ok(pos) = self.search(v) else {
            return false;
        };
        self.remove_at(pos);
        true
    }

    /// Removes the member at sorted position `pos` (SPOP, SRANDMEMBER-driven pops).
    pub fn remove_at(&mut self, pos: usize) -> Option<i64> {
        let v = self.get(pos)?;
        let (w, n) = (self.width(), self.len());
        let mut b = std::mem::take(&mut self.buf).into_vec();
        b.copy_within(HDR + (pos + 1) * w..HDR + n * w, HDR + pos * w);
        b.truncate(HDR + (n - 1) * w);
        self.buf = b.into_boxed_slice();
        self.set_len(n - 1);
        Some(v)
    }

    /// Largest member.
    pub fn max(&self) -> Option<i64> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Members in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Heap bytes owned.
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }
}

/// Ascending iterator over an intset.
pub struct Iter<'a> {
    set: &'a IntSet,
    front: usize,
    back: usize,
}

impl Iterator for Iter<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        if self.front >= self.back {
            return None;
        }
        let v = read(&self.set.buf, self.set.width(), self.front);
        self.front += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<i64> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(read(&self.set.buf, self.set.width(), self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_redis_dump() {
        // DUMP of `SADD s 1 2 3` and `SADD s 5 -3 70000 1` from redis-server 7.0.15.
        let mut s = IntSet::new();
        for v in [1, 2, 3] {
            assert!(s.insert(v));
        }
        assert_eq!(s.as_bytes(), &[2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0]);
        let mut s = IntSet::new();
        for v in [5, -3, 70000, 1] {
            assert!(s.insert(v));
        }
        assert_eq!(
            s.as_bytes(),
            &[
                4, 0, 0, 0, 4, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff, 1, 0, 0, 0, 5, 0, 0, 0, 0x70, 0x11,
                1, 0
            ]
        );
    }

    #[test]
    fn insert_remove_upgrade() {
        let mut s = IntSet::new();
        assert!(s.insert(10));
        assert!(!s.insert(10));
        assert!(s.insert(-10));
        assert_eq!(s.encoding_width(), 2);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.encoding_width(), 8);
        assert!(s.insert(40000));
        assert!(s.insert(i64::MAX));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![i64::MIN, -10, 10, 40000, i64::MAX]
        );
        assert!(s.contains(40000));
        assert!(!s.contains(3));
        assert!(s.remove(10));
        assert!(!s.remove(10));
        assert_eq!(s.len(), 4);
        assert_eq!(s.iter().next_back(), Some(i64::MAX));
        assert_eq!(s.remove_at(0), Some(i64::MIN));
        assert_eq!(s.max(), Some(i64::MAX));
        assert!(IntSet::from_bytes(s.as_bytes().to_vec()).is_ok());
        // A 16-bit set does not contain a value wider than its encoding.
        let mut t = IntSet::new();
        t.insert(1);
        assert!(!t.contains(1 << 40));
        assert!(!t.remove(1 << 40));
    }

    #[test]
    fn validation() {
        assert_eq!(
            IntSet::from_bytes(vec![2, 0, 0]),
            Err(IntSetError::BadHeader)
        );
        assert_eq!(
            IntSet::from_bytes(vec![3, 0, 0, 0, 0, 0, 0, 0]),
            Err(IntSetError::BadHeader)
        );
        assert_eq!(
            IntSet::from_bytes(vec![2, 0, 0, 0, 0, 0, 0, 0]),
            Err(IntSetError::Empty)
        );
        assert_eq!(
            IntSet::from_bytes(vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0]),
            Err(IntSetError::BadHeader)
        );
        assert_eq!(
            IntSet::from_bytes(vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0]),
            Err(IntSetError::Unsorted)
        );
        assert_eq!(
            IntSet::from_bytes(vec![2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0]),
            Err(IntSetError::BadHeader)
        );
        assert!(IntSet::from_bytes(vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0]).is_ok());
    }
}
