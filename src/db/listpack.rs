//! `Listpack`: Redis 7's listpack, byte for byte.
//!
//! Small hashes, sorted sets and list nodes are stored as one contiguous buffer of
//! variable-length entries, which is what makes them cheap: a 10-field hash costs about as
//! much as its field and value bytes. We keep Redis's exact format (listpack.c) rather than
//! an equivalent of our own so that the RDB writer and loader can copy the buffer as
//! Redis's `RDB_TYPE_*_LISTPACK` blob without re-encoding, and so a blob from Redis can be
//! adopted after validation.
//!
//! Layout:
//!
//! ```text
//! <total-bytes u32 LE> <num-elements u16 LE> <entry> ... <entry> <0xFF>
//! entry = <encoding + data> <backlen>
//! ```
//!
//! `num-elements` saturates at 65535, meaning "unknown, count by walking". The backlen is
//! the size of `<encoding + data>` written so it can be read right-to-left (7 bits per byte,
//! the byte nearest the entry holds the high bits), which is what makes reverse iteration
//! possible. Elements that are the canonical decimal form of an i64 (Redis's
//! `lpStringToInt64`) are stored as integers in the smallest of the 7/13/16/24/32/64-bit
//! encodings; other strings use a 6-, 12- or 32-bit length.
//!
//! The buffer is an exact-size `Box<[u8]>` (16 bytes inline, no spare capacity), as Redis
//! reallocates the listpack to its exact size on every change: for the many-small-hashes
//! case memory matters more than the copy.
//!
//! Positions: besides index-based helpers, the API exposes *positions* (byte offsets of an
//! entry's first byte) so callers can walk, find and edit without re-seeking — the same
//! cursor style as Redis's `unsigned char *p`. A position is valid until the next mutation,
//! except where a method returns the new one.

use std::fmt;

use super::Elem;
use crate::util::parse_i64;

const HDR_SIZE: usize = 6;
const EOF: u8 = 0xFF;
/// `num-elements` value meaning "unknown".
const NUMELE_UNKNOWN: u16 = u16::MAX;

const ENC_7BIT_UINT_MASK: u8 = 0x80;
const ENC_6BIT_STR: u8 = 0x80;
const ENC_6BIT_STR_MASK: u8 = 0xC0;
const ENC_13BIT_INT: u8 = 0xC0;
const ENC_13BIT_INT_MASK: u8 = 0xE0;
const ENC_12BIT_STR: u8 = 0xE0;
const ENC_12BIT_STR_MASK: u8 = 0xF0;
const ENC_16BIT_INT: u8 = 0xF1;
const ENC_24BIT_INT: u8 = 0xF2;
const ENC_32BIT_INT: u8 = 0xF3;
const ENC_64BIT_INT: u8 = 0xF4;
const ENC_32BIT_STR: u8 = 0xF0;

/// Redis's LISTPACK_MAX_SAFETY_SIZE: collections convert to their big encoding before a
/// listpack grows past this.
pub const MAX_SAFETY_SIZE: usize = 1 << 30;

/// Why `from_bytes` rejected a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListpackError {
    /// Shorter than header + terminator, or the header's total disagrees with the length.
    BadSize,
    /// Missing 0xFF at the end, or a terminator in the middle.
    BadTerminator,
    /// An entry with an invalid encoding byte or data running past the end.
    BadEntry(usize),
    /// An entry whose backlen does not match its size.
    BadBacklen(usize),
    /// The header's element count disagrees with the entries.
    BadCount,
}

impl fmt::Display for ListpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListpackError::BadSize => write!(f, "listpack size mismatch"),
            ListpackError::BadTerminator => write!(f, "listpack terminator missing"),
            ListpackError::BadEntry(p) => write!(f, "invalid listpack entry at offset {p}"),
            ListpackError::BadBacklen(p) => write!(f, "invalid listpack backlen at offset {p}"),
            ListpackError::BadCount => write!(f, "listpack element count mismatch"),
        }
    }
}

impl std::error::Error for ListpackError {}

/// A listpack.
#[derive(Clone, PartialEq, Eq)]
pub struct Listpack {
    buf: Box<[u8]>,
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Default for Listpack {
    fn default() -> Self {
        Listpack::new()
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// One entry ready to be written: header (encoding byte(s) and any integer payload),
/// string data, backlen.
struct Encoded<'a> {
    head: [u8; 9],
    head_len: u8,
    data: &'a [u8],
    back: [u8; 5],
    back_len: u8,
}

impl Encoded<'_> {
    fn size(&self) -> usize {
        self.head_len as usize + self.data.len() + self.back_len as usize
    }

    fn write(&self, dst: &mut [u8]) {
        let h = self.head_len as usize;
        let d = self.data.len();
        dst[..h].copy_from_slice(&self.head[..h]);
        dst[h..h + d].copy_from_slice(self.data);
        dst[h + d..h + d + self.back_len as usize]
            .copy_from_slice(&self.back[..self.back_len as usize]);
    }
}

/// Bytes needed to store `l` as a backlen (Redis's thresholds, `<` not `<=` above 127).
fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

/// Redis's `lpEncodeBacklen`.
fn encode_backlen(l: usize, out: &mut [u8; 5]) -> u8 {
    let n = backlen_size(l);
    // The first byte carries the highest bits and no continuation flag; each later byte
    // carries 7 lower bits with 0x80 set, so reading right-to-left knows when to stop.
    for (i, b) in out.iter_mut().take(n).enumerate() {
        let shift = 7 * (n - 1 - i);
        let bits = ((l >> shift) & 127) as u8;
        *b = if i == 0 {
            (l >> shift) as u8
        } else {
            bits | 128
        };
    }
    n as u8
}

/// Redis's `lpDecodeBacklen`, reading backwards from `buf[end - 1]`; returns (value, size).
fn decode_backlen(buf: &[u8], end: usize) -> Option<(usize, usize)> {
    let mut val: u64 = 0;
    let mut shift = 0;
    let mut p = end;
    loop {
        p = p.checked_sub(1)?;
        let b = *buf.get(p)?;
        val |= ((b & 127) as u64) << shift;
        if b & 128 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    Some((val as usize, end - p))
}

fn encode_int(v: i64) -> Encoded<'static> {
    let mut head = [0u8; 9];
    let head_len: usize = if (0..=127).contains(&v) {
        head[0] = v as u8;
        1
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1i64 << 13) + v } else { v } as u64;
        head[0] = (u >> 8) as u8 | ENC_13BIT_INT;
        head[1] = u as u8;
        2
    } else if (-32768..=32767).contains(&v) {
        head[0] = ENC_16BIT_INT;
        head[1..3].copy_from_slice(&(v as i16).to_le_bytes());
        3
    } else if (-8388608..=8388607).contains(&v) {
        head[0] = ENC_24BIT_INT;
        head[1..4].copy_from_slice(&(v as i32).to_le_bytes()[..3]);
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        head[0] = ENC_32BIT_INT;
        head[1..5].copy_from_slice(&(v as i32).to_le_bytes());
        5
    } else {
        head[0] = ENC_64BIT_INT;
        head[1..9].copy_from_slice(&v.to_le_bytes());
        9
    };
    let mut back = [0u8; 5];
    let back_len = encode_backlen(head_len, &mut back);
    Encoded {
        head,
        head_len: head_len as u8,
        data: &[],
        back,
        back_len,
    }
}

fn encode_str(s: &[u8]) -> Encoded<'_> {
    let mut head = [0u8; 9];
    let len = s.len();
    let head_len = if len < 64 {
        head[0] = ENC_6BIT_STR | len as u8;
        1
    } else if len < 4096 {
        head[0] = ENC_12BIT_STR | (len >> 8) as u8;
        head[1] = len as u8;
        2
    } else {
        head[0] = ENC_32BIT_STR;
        head[1..5].copy_from_slice(&(len as u32).to_le_bytes());
        5
    };
    let mut back = [0u8; 5];
    let back_len = encode_backlen(head_len + len, &mut back);
    Encoded {
        head,
        head_len: head_len as u8,
        data: s,
        back,
        back_len,
    }
}

/// Encodes an element as Redis does: integer if it is an i64's canonical decimal form.
fn encode(ele: &[u8]) -> Encoded<'_> {
    match parse_i64(ele) {
        Some(v) => encode_int(v),
        None => encode_str(ele),
    }
}

/// Bytes the element would occupy as an entry (encoding, data and backlen).
pub fn entry_size(ele: &[u8]) -> usize {
    encode(ele).size()
}

/// Decodes the `<encoding + data>` part of the entry at `p`; returns the element and the
/// size of that part. `None` when malformed or out of bounds (only possible while
/// validating: a constructed listpack is always well formed).
fn decode(buf: &[u8], p: usize) -> Option<(Elem<'_>, usize)> {
    let b0 = *buf.get(p)?;
    let get = |n: usize| buf.get(p + 1..p + 1 + n);
    if b0 & ENC_7BIT_UINT_MASK == 0 {
        return Some((Elem::Int(b0 as i64), 1));
    }
    if b0 & ENC_6BIT_STR_MASK == ENC_6BIT_STR {
        let len = (b0 & 0x3F) as usize;
        return Some((Elem::Bytes(get(len)?), 1 + len));
    }
    if b0 & ENC_13BIT_INT_MASK == ENC_13BIT_INT {
        let u = (((b0 & 0x1F) as u16) << 8) | *get(1)?.first()? as u16;
        // Sign-extend 13 bits.
        let v = ((u << 3) as i16 >> 3) as i64;
        return Some((Elem::Int(v), 2));
    }
    if b0 & ENC_12BIT_STR_MASK == ENC_12BIT_STR {
        let len = (((b0 & 0x0F) as usize) << 8) | *get(1)?.first()? as usize;
        let data = buf.get(p + 2..p + 2 + len)?;
        return Some((Elem::Bytes(data), 2 + len));
    }
    match b0 {
        ENC_16BIT_INT => {
            let d = get(2)?;
            Some((Elem::Int(i16::from_le_bytes([d[0], d[1]]) as i64), 3))
        }
        ENC_24BIT_INT => {
            let d = get(3)?;
            // Place the 3 bytes high, then shift back arithmetically to sign-extend.
            let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
            Some((Elem::Int(v as i64), 4))
        }
        ENC_32BIT_INT => {
            let d = get(4)?;
            Some((
                Elem::Int(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64),
                5,
            ))
        }
        ENC_64BIT_INT => {
            let d: [u8; 8] = get(8)?.try_into().ok()?;
            Some((Elem::Int(i64::from_le_bytes(d)), 9))
        }
        ENC_32BIT_STR => {
            let d = get(4)?;
            let len = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
            let data = buf.get(p + 5..(p + 5).checked_add(len)?)?;
            Some((Elem::Bytes(data), 5 + len))
        }
        _ => None,
    }
}

/// Whether an element equals `needle`, where `needle_int` is the needle's integer form if
/// it has one (listpack integers only equal canonical decimal strings).
#[inline]
fn elem_matches(e: Elem<'_>, needle: &[u8], needle_int: Option<i64>) -> bool {
    match e {
        Elem::Bytes(b) => b == needle,
        Elem::Int(v) => needle_int == Some(v),
    }
}

// ---------------------------------------------------------------------------------------
// The listpack
// ---------------------------------------------------------------------------------------

impl Listpack {
    /// An empty listpack (7 bytes: header and terminator).
    pub fn new() -> Listpack {
        let mut buf = vec![0u8; HDR_SIZE + 1];
        buf[..4].copy_from_slice(&((HDR_SIZE + 1) as u32).to_le_bytes());
        buf[HDR_SIZE] = EOF;
        Listpack {
            buf: buf.into_boxed_slice(),
        }
    }

    /// Adopts a serialized listpack after validating it completely (every entry, backlen,
    /// the header's total and count): a corrupt or hostile blob is an error, never a panic
    /// or an out-of-bounds read later.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Listpack, ListpackError> {
        validate(&bytes)?;
        Ok(Listpack {
            buf: bytes.into_boxed_slice(),
        })
    }

    /// The serialized form (what an RDB listpack blob holds).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Total size in bytes, header and terminator included.
    pub fn bytes_len(&self) -> usize {
        self.buf.len()
    }

    /// Number of elements. O(1) unless the header count saturated (65535+ elements).
    pub fn len(&self) -> usize {
        let n = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        if n != NUMELE_UNKNOWN {
            return n as usize;
        }
        let mut count = 0;
        let mut p = self.first();
        while let Some(pos) = p {
            count += 1;
            p = self.next(pos);
        }
        count
    }

    pub fn is_empty(&self) -> bool {
        self.buf[HDR_SIZE] == EOF
    }

    /// Whether adding `extra` bytes keeps the listpack under Redis's safety limit.
    pub fn safe_to_add(&self, extra: usize) -> bool {
        self.buf.len() + extra <= MAX_SAFETY_SIZE
    }

    // --- positions -------------------------------------------------------------------

    /// Position of the terminator (inserting there appends).
    #[inline]
    pub fn end_pos(&self) -> usize {
        self.buf.len() - 1
    }

    /// Position of the first entry.
    #[inline]
    pub fn first(&self) -> Option<usize> {
        (self.buf[HDR_SIZE] != EOF).then_some(HDR_SIZE)
    }

    /// Position of the last entry.
    pub fn last(&self) -> Option<usize> {
        self.prev(self.end_pos())
    }

    /// Position of the entry after `pos`.
    #[inline]
    pub fn next(&self, pos: usize) -> Option<usize> {
        let n = pos + self.entry_len_at(pos);
        (self.buf[n] != EOF).then_some(n)
    }

    /// Position of the entry before `pos` (`pos` may be `end_pos()`).
    pub fn prev(&self, pos: usize) -> Option<usize> {
        if pos <= HDR_SIZE {
            return None;
        }
        let (l, bl) = decode_backlen(&self.buf, pos).unwrap_or((0, 0));
        Some(pos - bl - l)
    }

    /// The element at a position.
    #[inline]
    pub fn at(&self, pos: usize) -> Elem<'_> {
        match decode(&self.buf, pos) {
            Some((e, _)) => e,
            None => Elem::Bytes(&[]),
        }
    }

    /// Full size (encoding, data, backlen) of the entry at `pos`.
    #[inline]
    fn entry_len_at(&self, pos: usize) -> usize {
        let l = decode(&self.buf, pos).map_or(0, |(_, l)| l);
        l + backlen_size(l)
    }

    /// Position of the element at `index`; negative indexes count from the end. Walks
    /// from the nearer end, like `lpSeek`.
    pub fn seek(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let idx = if index < 0 { len + index } else { index };
        if idx < 0 || idx >= len {
            return None;
        }
        if idx < len / 2 {
            let mut p = self.first()?;
            for _ in 0..idx {
                p = self.next(p)?;
            }
            Some(p)
        } else {
            let mut p = self.last()?;
            for _ in 0..(len - 1 - idx) {
                p = self.prev(p)?;
            }
            Some(p)
        }
    }

    /// Starting at `pos`, compares every `skip + 1`-th entry with `needle` (Redis's
    /// `lpFind`: with skip 1 a hash's fields are checked and its values skipped).
    pub fn find_from(&self, mut pos: usize, needle: &[u8], skip: usize) -> Option<usize> {
        let needle_int = parse_i64(needle);
        loop {
            let (e, l) = decode(&self.buf, pos)?;
            if elem_matches(e, needle, needle_int) {
                return Some(pos);
            }
            pos += l + backlen_size(l);
            for _ in 0..skip {
                if self.buf[pos] == EOF {
                    return None;
                }
                pos += self.entry_len_at(pos);
            }
            if self.buf[pos] == EOF {
                return None;
            }
        }
    }

    /// Inserts `ele` before the entry at `pos` (or appends at `end_pos()`); returns the
    /// position of the new entry.
    pub fn insert_at(&mut self, pos: usize, ele: &[u8]) -> usize {
        self.splice(pos, 0, &encode(ele), 1);
        pos
    }

    /// `insert_at` for an integer element.
    pub fn insert_int_at(&mut self, pos: usize, v: i64) -> usize {
        self.splice(pos, 0, &encode_int(v), 1);
        pos
    }

    /// Replaces the entry at `pos`; the position stays valid.
    pub fn replace_at(&mut self, pos: usize, ele: &[u8]) {
        let old = self.entry_len_at(pos);
        self.splice(pos, old, &encode(ele), 0);
    }

    /// `replace_at` for an integer element.
    pub fn replace_int_at(&mut self, pos: usize, v: i64) {
        let old = self.entry_len_at(pos);
        self.splice(pos, old, &encode_int(v), 0);
    }

    /// Deletes up to `count` entries starting at `pos`; returns how many were deleted.
    /// `pos` then holds the following entry (or is `end_pos()`).
    pub fn delete_at(&mut self, pos: usize, count: usize) -> usize {
        let mut end = pos;
        let mut n = 0;
        while n < count && self.buf[end] != EOF {
            end += self.entry_len_at(end);
            n += 1;
        }
        if n > 0 {
            self.remove_bytes(pos, end - pos, n);
        }
        n
    }

    // --- index-based API ---------------------------------------------------------------

    pub fn push_back(&mut self, ele: &[u8]) {
        let end = self.end_pos();
        self.insert_at(end, ele);
    }

    pub fn push_front(&mut self, ele: &[u8]) {
        self.insert_at(HDR_SIZE, ele);
    }

    pub fn push_back_int(&mut self, v: i64) {
        let end = self.end_pos();
        self.insert_int_at(end, v);
    }

    /// The element at `index` (from the head).
    pub fn get(&self, index: usize) -> Option<Elem<'_>> {
        let idx = i64::try_from(index).ok()?;
        self.seek(idx).map(|p| self.at(p))
    }

    /// Inserts before the element at `index`; `index == len()` appends. Returns false if
    /// `index` is out of range.
    pub fn insert(&mut self, index: usize, ele: &[u8]) -> bool {
        let len = self.len();
        if index > len {
            return false;
        }
        let pos = if index == len {
            self.end_pos()
        } else {
            match self.seek(index as i64) {
                Some(p) => p,
                None => return false,
            }
        };
        self.insert_at(pos, ele);
        true
    }

    /// Removes the element at `index`; false if out of range.
    pub fn remove(&mut self, index: usize) -> bool {
        self.remove_range(index, 1) == 1
    }

    /// Removes up to `count` elements starting at `index`; returns how many.
    pub fn remove_range(&mut self, index: usize, count: usize) -> usize {
        match i64::try_from(index).ok().and_then(|i| self.seek(i)) {
            Some(p) => self.delete_at(p, count),
            None => 0,
        }
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn replace(&mut self, index: usize, ele: &[u8]) -> bool {
        match i64::try_from(index).ok().and_then(|i| self.seek(i)) {
            Some(p) => {
                self.replace_at(p, ele);
                true
            }
            None => false,
        }
    }

    /// Index of the first element equal to `ele`.
    pub fn find(&self, ele: &[u8]) -> Option<usize> {
        let needle_int = parse_i64(ele);
        self.iter().position(|e| elem_matches(e, ele, needle_int))
    }

    /// Head-to-tail iterator (double-ended: `.rev()` walks tail to head via backlens).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            front: HDR_SIZE,
            back: self.buf.len() - 1,
        }
    }

    /// Tail-to-head iterator.
    pub fn iter_rev(&self) -> std::iter::Rev<Iter<'_>> {
        self.iter().rev()
    }

    /// Heap bytes owned.
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }

    // --- raw edits ---------------------------------------------------------------------

    /// Replaces `remove` bytes at `pos` with the encoded entry; `added` elements net.
    fn splice(&mut self, pos: usize, remove: usize, enc: &Encoded<'_>, added: usize) {
        let new_size = enc.size();
        let old_len = self.buf.len();
        let new_len = old_len - remove + new_size;
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if new_size > remove {
            v.reserve_exact(new_size - remove);
            v.resize(new_len, 0);
            v.copy_within(pos + remove..old_len, pos + new_size);
        } else {
            v.copy_within(pos + remove..old_len, pos + new_size);
            v.truncate(new_len);
        }
        enc.write(&mut v[pos..pos + new_size]);
        self.buf = v.into_boxed_slice();
        self.set_total();
        if added > 0 {
            self.adjust_count(added as isize);
        }
    }

    fn remove_bytes(&mut self, pos: usize, n: usize, elems: usize) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.drain(pos..pos + n);
        self.buf = v.into_boxed_slice();
        self.set_total();
        self.adjust_count(-(elems as isize));
    }

    fn set_total(&mut self) {
        // Sizes beyond u32 cannot occur: collections convert at MAX_SAFETY_SIZE.
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
    }

    fn adjust_count(&mut self, delta: isize) {
        let n = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        if n == NUMELE_UNKNOWN {
            // As Redis: once unknown, stays unknown until recounted (len() walks).
            return;
        }
        let new = n as isize + delta;
        let stored = if new >= NUMELE_UNKNOWN as isize {
            NUMELE_UNKNOWN
        } else {
            new.max(0) as u16
        };
        self.buf[4..6].copy_from_slice(&stored.to_le_bytes());
    }
}

/// Checks a serialized listpack completely (Redis's `lpValidateIntegrity` with deep=1).
fn validate(b: &[u8]) -> Result<(), ListpackError> {
    if b.len() < HDR_SIZE + 1 {
        return Err(ListpackError::BadSize);
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() {
        return Err(ListpackError::BadSize);
    }
    if b[b.len() - 1] != EOF {
        return Err(ListpackError::BadTerminator);
    }
    let header_count = u16::from_le_bytes([b[4], b[5]]);
    let mut p = HDR_SIZE;
    let mut count: usize = 0;
    let end = b.len() - 1;
    while p < end {
        if b[p] == EOF {
            return Err(ListpackError::BadTerminator);
        }
        let (_, l) = decode(b, p).ok_or(ListpackError::BadEntry(p))?;
        let bl = backlen_size(l);
        let next = p + l + bl;
        if next > end {
            return Err(ListpackError::BadEntry(p));
        }
        match decode_backlen(b, next) {
            Some((v, s)) if v == l && s == bl => {}
            _ => return Err(ListpackError::BadBacklen(p)),
        }
        count += 1;
        p = next;
    }
    if header_count != NUMELE_UNKNOWN && header_count as usize != count {
        return Err(ListpackError::BadCount);
    }
    Ok(())
}

/// Iterator over a listpack's elements; double-ended.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    /// Position of the next entry from the front.
    front: usize,
    /// One past the last unconsumed entry (initially the terminator's position).
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    #[inline]
    fn next(&mut self) -> Option<Elem<'a>> {
        if self.front >= self.back {
            return None;
        }
        let (e, l) = decode(self.buf, self.front)?;
        self.front += l + backlen_size(l);
        Some(e)
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<Elem<'a>> {
        if self.front >= self.back {
            return None;
        }
        let (l, bl) = decode_backlen(self.buf, self.back)?;
        let start = self.back.checked_sub(bl + l)?;
        let (e, _) = decode(self.buf, start)?;
        self.back = start;
        Some(e)
    }
}

/// Builds a listpack by appending, in one growing buffer (the RDB loader's conversions from
/// legacy encodings): `push_back` on a `Listpack` reallocates its exact-size buffer per
/// element, which is quadratic for a whole node.
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0u8; HDR_SIZE]);
        Builder { buf, count: 0 }
    }

    fn append(&mut self, enc: &Encoded<'_>) {
        let start = self.buf.len();
        self.buf.resize(start + enc.size(), 0);
        enc.write(&mut self.buf[start..]);
        self.count += 1;
    }

    /// Appends an element as Redis's `lpAppend` does (integer when canonical decimal).
    pub fn push(&mut self, ele: &[u8]) {
        self.append(&encode(ele));
    }

    /// Appends an integer element (`lpAppendInteger`).
    pub fn push_int(&mut self, v: i64) {
        self.append(&encode_int(v));
    }

    pub fn push_elem(&mut self, e: Elem<'_>) {
        match e {
            Elem::Int(v) => self.push_int(v),
            Elem::Bytes(b) => self.push(b),
        }
    }

    /// Elements appended so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size the finished listpack would have (for `MAX_SAFETY_SIZE` checks).
    pub fn bytes_len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn finish(mut self) -> Listpack {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = self.count.min(NUMELE_UNKNOWN as usize) as u16;
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        Listpack {
            buf: self.buf.into_boxed_slice(),
        }
    }
}

impl<'a> IntoIterator for &'a Listpack {
    type Item = Elem<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a listpack holding exactly `entry` (header, entry, terminator).
    fn single(ele: &[u8]) -> Vec<u8> {
        let mut lp = Listpack::new();
        lp.push_back(ele);
        lp.as_bytes().to_vec()
    }

    fn entry_of(ele: &[u8]) -> Vec<u8> {
        let b = single(ele);
        b[HDR_SIZE..b.len() - 1].to_vec()
    }

    #[test]
    fn empty_layout() {
        assert_eq!(Listpack::new().as_bytes(), &[7, 0, 0, 0, 0, 0, 0xFF]);
        assert!(Listpack::new().is_empty());
    }

    #[test]
    fn integer_encodings_are_redis_bytes() {
        // Facts from listpack.c's lpEncodeGetType / lpEncodeBacklen.
        assert_eq!(entry_of(b"0"), [0x00, 1]);
        assert_eq!(entry_of(b"127"), [0x7F, 1]);
        assert_eq!(entry_of(b"128"), [0xC0, 0x80, 2]);
        assert_eq!(entry_of(b"4095"), [0xCF, 0xFF, 2]);
        assert_eq!(entry_of(b"-1"), [0xDF, 0xFF, 2]);
        assert_eq!(entry_of(b"-4096"), [0xD0, 0x00, 2]);
        assert_eq!(entry_of(b"4096"), [0xF1, 0x00, 0x10, 3]);
        assert_eq!(entry_of(b"-32768"), [0xF1, 0x00, 0x80, 3]);
        assert_eq!(entry_of(b"32768"), [0xF2, 0x00, 0x80, 0x00, 4]);
        assert_eq!(entry_of(b"-8388608"), [0xF2, 0x00, 0x00, 0x80, 4]);
        assert_eq!(entry_of(b"8388608"), [0xF3, 0x00, 0x00, 0x80, 0x00, 5]);
        assert_eq!(
            entry_of(b"2147483648"),
            [0xF4, 0, 0, 0, 0x80, 0, 0, 0, 0, 9]
        );
        assert_eq!(
            entry_of(b"-9223372036854775808"),
            [0xF4, 0, 0, 0, 0, 0, 0, 0, 0x80, 9]
        );
        // Non-canonical integers stay strings.
        assert_eq!(entry_of(b"01"), [0x82, b'0', b'1', 3]);
        assert_eq!(entry_of(b"-0"), [0x82, b'-', b'0', 3]);
        assert_eq!(entry_of(b"+1"), [0x82, b'+', b'1', 3]);
    }

    #[test]
    fn string_encodings_are_redis_bytes() {
        assert_eq!(entry_of(b""), [0x80, 1]);
        assert_eq!(
            single(b"hello"),
            [14, 0, 0, 0, 1, 0, 0x85, b'h', b'e', b'l', b'l', b'o', 6, 0xFF]
        );
        let s63 = vec![b'a'; 63];
        let e = entry_of(&s63);
        assert_eq!((e[0], e.len(), e[e.len() - 1]), (0xBF, 65, 64));
        let s64 = vec![b'a'; 64];
        let e = entry_of(&s64);
        assert_eq!((e[0], e[1], e.len(), e[e.len() - 1]), (0xE0, 64, 67, 66));
        // 198 bytes: entry size 200 needs a 2-byte backlen: [200>>7, (200&127)|128].
        let e = entry_of(&[b'x'; 198]);
        assert_eq!(&e[e.len() - 2..], [1, 72 | 128]);
        let s4095 = vec![b'a'; 4095];
        let e = entry_of(&s4095);
        assert_eq!((e[0], e[1]), (0xEF, 0xFF));
        let s4096 = vec![b'a'; 4096];
        let e = entry_of(&s4096);
        assert_eq!(&e[..5], [0xF0, 0x00, 0x10, 0, 0]);
        // 4101 = 32*128 + 5.
        assert_eq!(&e[e.len() - 2..], [32, 5 | 128]);
    }

    #[test]
    fn backlen_boundaries() {
        let mut b = [0u8; 5];
        for l in [
            0, 1, 127, 128, 16382, 16383, 2097150, 2097151, 268435454, 268435455,
        ] {
            let n = encode_backlen(l, &mut b) as usize;
            assert_eq!(n, backlen_size(l));
            assert_eq!(decode_backlen(&b[..n], n), Some((l, n)), "{l}");
        }
        assert_eq!(backlen_size(16383), 3);
    }

    #[test]
    fn redis_dump_blob_roundtrip() {
        // DUMP of `HSET h a 1 bb hello` from redis-server 7.0.15 (rdbcompression no):
        // the listpack part of the payload.
        let blob = vec![
            0x17, 0, 0, 0, 4, 0, 0x81, b'a', 2, 0x01, 1, 0x82, b'b', b'b', 3, 0x85, b'h', b'e',
            b'l', b'l', b'o', 6, 0xFF,
        ];
        let mut lp = Listpack::new();
        for e in [&b"a"[..], b"1", b"bb", b"hello"] {
            lp.push_back(e);
        }
        assert_eq!(lp.as_bytes(), &blob[..]);
        let back = Listpack::from_bytes(blob).unwrap();
        assert_eq!(back, lp);
    }

    #[test]
    fn ops_and_iteration() {
        let mut lp = Listpack::new();
        let items: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"-5000".to_vec(),
            vec![b'z'; 300],
            b"9223372036854775807".to_vec(),
            b"".to_vec(),
        ];
        for i in &items {
            lp.push_back(i);
        }
        assert_eq!(lp.len(), 5);
        let fwd: Vec<Vec<u8>> = lp.iter().map(|e| e.to_bytes().into_owned()).collect();
        assert_eq!(fwd, items);
        let mut rev: Vec<Vec<u8>> = lp.iter_rev().map(|e| e.to_bytes().into_owned()).collect();
        rev.reverse();
        assert_eq!(rev, items);
        // Mixed ends meet in the middle.
        let mut it = lp.iter();
        assert_eq!(it.next(), Some(Elem::Bytes(b"a")));
        assert_eq!(it.next_back(), Some(Elem::Bytes(b"")));
        assert_eq!(it.next_back(), Some(Elem::Int(i64::MAX)));
        assert_eq!(it.next(), Some(Elem::Int(-5000)));
        assert!(matches!(it.next(), Some(Elem::Bytes(_))));
        assert_eq!(it.next(), None);
        assert_eq!(it.next_back(), None);

        assert_eq!(lp.find(b"-5000"), Some(1));
        assert_eq!(lp.find(b"x"), None);
        assert_eq!(lp.get(3), Some(Elem::Int(i64::MAX)));
        assert!(lp.replace(1, b"hello"));
        assert_eq!(lp.get(1), Some(Elem::Bytes(b"hello")));
        lp.push_front(b"7");
        assert_eq!(lp.get(0), Some(Elem::Int(7)));
        assert!(lp.insert(6, b"end"));
        assert!(!lp.insert(8, b"no"));
        assert_eq!(lp.len(), 7);
        assert_eq!(lp.remove_range(1, 3), 3);
        let now: Vec<Vec<u8>> = lp.iter().map(|e| e.to_bytes().into_owned()).collect();
        assert_eq!(
            now,
            vec![
                b"7".to_vec(),
                i64::MAX.to_string().into_bytes(),
                b"".to_vec(),
                b"end".to_vec()
            ]
        );
        assert!(lp.remove(0));
        assert_eq!(lp.seek(-1).map(|p| lp.at(p)), Some(Elem::Bytes(b"end")));
        assert_eq!(lp.remove_range(0, 100), 3);
        assert!(lp.is_empty());
        assert_eq!(lp.as_bytes(), Listpack::new().as_bytes());
        // Every state along the way was valid.
        assert!(Listpack::from_bytes(lp.as_bytes().to_vec()).is_ok());
    }

    #[test]
    fn find_with_skip() {
        let mut lp = Listpack::new();
        for e in [&b"f1"[..], b"v", b"v", b"f1", b"10", b"x"] {
            lp.push_back(e);
        }
        let first = lp.first().unwrap();
        // Fields only: "v" as a value at index 1 is skipped, "v" as a field found at 2.
        let p = lp.find_from(first, b"v", 1).unwrap();
        assert_eq!(lp.at(lp.next(p).unwrap()), Elem::Bytes(b"f1"));
        let p = lp.find_from(first, b"10", 1).unwrap();
        assert_eq!(lp.at(lp.next(p).unwrap()), Elem::Bytes(b"x"));
        assert_eq!(lp.find_from(first, b"x", 1), None);
        assert_eq!(lp.find_from(first, b"010", 1), None);
    }

    #[test]
    fn count_saturates() {
        let mut lp = Listpack::new();
        for i in 0..65536 {
            lp.push_back_int(i % 100);
        }
        assert_eq!(&lp.as_bytes()[4..6], &[0xFF, 0xFF]);
        assert_eq!(lp.len(), 65536);
        lp.delete_at(lp.first().unwrap(), 2);
        assert_eq!(lp.len(), 65534);
        assert!(Listpack::from_bytes(lp.as_bytes().to_vec()).is_ok());
    }

    #[test]
    fn hostile_bytes_are_rejected() {
        let good = single(b"hello");
        assert!(Listpack::from_bytes(good.clone()).is_ok());
        assert_eq!(Listpack::from_bytes(vec![]), Err(ListpackError::BadSize));
        // Every truncation and every single-byte corruption must be rejected or valid,
        // never panic.
        for cut in 0..good.len() {
            assert!(Listpack::from_bytes(good[..cut].to_vec()).is_err());
        }
        for i in 0..good.len() {
            for v in [0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xE0, 0xF0, 0xF4, 0xF5, 0xFF] {
                let mut b = good.clone();
                b[i] = v;
                if let Ok(lp) = Listpack::from_bytes(b) {
                    let _ = lp.iter().count();
                    let _ = lp.iter_rev().count();
                }
            }
        }
        // A bad count.
        let mut b = good.clone();
        b[4] = 2;
        assert_eq!(Listpack::from_bytes(b), Err(ListpackError::BadCount));
        // A huge 32-bit string length.
        let b = vec![12, 0, 0, 0, 1, 0, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(Listpack::from_bytes(b).is_err());
    }

    #[test]
    fn builder_matches_push_back() {
        let elems: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"123".to_vec(),
            b"-7".to_vec(),
            vec![b'x'; 70],
            vec![b'y'; 5000],
            b"007".to_vec(),
            b"9223372036854775807".to_vec(),
        ];
        let mut lp = Listpack::new();
        let mut b = Builder::new();
        for e in &elems {
            lp.push_back(e);
            b.push(e);
        }
        b.push_int(-300);
        lp.push_back(b"-300");
        assert_eq!(b.len(), 8);
        let built = b.finish();
        assert_eq!(built.as_bytes(), lp.as_bytes());
        assert!(Listpack::from_bytes(built.as_bytes().to_vec()).is_ok());
        assert_eq!(
            Builder::new().finish().as_bytes(),
            Listpack::new().as_bytes()
        );
    }
}
