//! Zipmap: the small-hash encoding of Redis 2.2 to 2.4 (RDB type `HASH_ZIPMAP`). Files that
//! old can still be loaded: the loader validates the blob here and converts it to a listpack
//! hash, as Redis 7's `rdbLoadObject` does.
//!
//! Layout (zipmap.c), for `"foo" => "bar", "hello" => "world"`:
//!
//! ```text
//! <zmlen u8> <len>"foo"<len><free>"bar" <len>"hello"<len><free>"world" <0xFF>
//! ```
//!
//! `zmlen` is the pair count, or 254 meaning "count by walking". A `<len>` is one byte below
//! 254, else 254 (or 255 in value position) followed by a u32 little endian. `<free>` is a
//! byte counting unused bytes after the value. A 255 where a field length should start ends
//! the map.
//!
//! Validation is Redis's `zipmapValidateIntegrity` with deep checks (which Redis always
//! applies to zipmaps): everything inside the blob, at least one pair, and `zmlen` either 254
//! or the pair count. Duplicate fields are the loader's check.

use std::fmt;

const BIGLEN: u8 = 254;
const END: u8 = 0xFF;

/// Why a zipmap blob was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipmapError {
    /// Shorter than 2 bytes or no terminator.
    BadHeader,
    /// A length or string reaching past the end, at this offset.
    BadEntry(usize),
    /// No pairs at all.
    Empty,
    /// The header count disagrees with the pairs.
    BadCount,
}

impl fmt::Display for ZipmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZipmapError::BadHeader => write!(f, "zipmap header invalid"),
            ZipmapError::BadEntry(p) => write!(f, "invalid zipmap entry at offset {p}"),
            ZipmapError::Empty => write!(f, "zipmap empty"),
            ZipmapError::BadCount => write!(f, "zipmap element count mismatch"),
        }
    }
}

impl std::error::Error for ZipmapError {}

/// A validated zipmap blob.
#[derive(Debug, Clone, Copy)]
pub struct Zipmap<'a> {
    buf: &'a [u8],
    len: usize,
}

/// Reads the length at `p`: (length, bytes used). `None` when it would pass `last`.
fn read_len(b: &[u8], p: usize, last: usize) -> Option<(usize, usize)> {
    let first = *b.get(p)?;
    if first < BIGLEN {
        return (p < last).then_some((first as usize, 1));
    }
    if p + 5 > last {
        return None;
    }
    let d = b.get(p + 1..p + 5)?;
    Some((u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize, 5))
}

/// Decodes the pair at `p` (which is not the terminator): (field, value, next position).
fn pair(b: &[u8], p: usize, last: usize) -> Option<(&[u8], &[u8], usize)> {
    let (flen, s) = read_len(b, p, last)?;
    let fstart = p + s;
    let fend = fstart.checked_add(flen)?;
    if fend > last {
        return None;
    }
    let (vlen, s) = read_len(b, fend, last)?;
    let free = *b.get(fend + s)? as usize;
    let vstart = fend + s + 1;
    let vend = vstart.checked_add(vlen)?;
    let next = vend.checked_add(free)?;
    if next > last {
        return None;
    }
    Some((b.get(fstart..fend)?, b.get(vstart..vend)?, next))
}

impl<'a> Zipmap<'a> {
    /// Validates a blob completely (see the module doc).
    pub fn parse(buf: &'a [u8]) -> Result<Zipmap<'a>, ZipmapError> {
        if buf.len() < 2 || buf[buf.len() - 1] != END {
            return Err(ZipmapError::BadHeader);
        }
        let last = buf.len() - 1;
        let (mut p, mut count) = (1usize, 0usize);
        // Every pair ends at or before `last`, so `p` stays in bounds.
        while buf[p] != END {
            let (_, _, next) = pair(buf, p, last).ok_or(ZipmapError::BadEntry(p))?;
            p = next;
            count += 1;
        }
        if count == 0 {
            return Err(ZipmapError::Empty);
        }
        if buf[0] != BIGLEN && buf[0] as usize != count {
            return Err(ZipmapError::BadCount);
        }
        Ok(Zipmap { buf, len: count })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The (field, value) pairs in order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            buf: self.buf,
            pos: 1,
        }
    }
}

/// Iterator over a validated zipmap's pairs.
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let last = self.buf.len().checked_sub(1)?;
        if *self.buf.get(self.pos)? == END {
            return None;
        }
        let (f, v, next) = pair(self.buf, self.pos, last)?;
        self.pos = next;
        Some((f, v))
    }
}

/// Builds zipmaps as Redis's `zipmapSet` lays them out (for tests of the loader).
#[cfg(test)]
pub(crate) mod test_support {
    fn push_len(out: &mut Vec<u8>, n: usize) {
        if n < 254 {
            out.push(n as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }

    /// A zipmap of these pairs; `free` unused bytes follow every value.
    pub fn build(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
        let mut out = vec![pairs.len().min(254) as u8];
        for (f, v) in pairs {
            push_len(&mut out, f.len());
            out.extend_from_slice(f);
            push_len(&mut out, v.len());
            out.push(free);
            out.extend_from_slice(v);
            out.extend(std::iter::repeat_n(0u8, free as usize));
        }
        out.push(0xFF);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::build;
    use super::*;

    #[test]
    fn redis_doc_example() {
        // From zipmap.c's header comment.
        let b = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        let zm = Zipmap::parse(b).unwrap();
        assert_eq!(zm.len(), 2);
        let pairs: Vec<_> = zm.iter().collect();
        assert_eq!(
            pairs,
            [(&b"foo"[..], &b"bar"[..]), (&b"hello"[..], &b"world"[..])]
        );
        assert_eq!(build(&[(b"foo", b"bar"), (b"hello", b"world")], 0), b);
    }

    #[test]
    fn long_lengths_and_free_bytes() {
        let long_f = vec![b'f'; 300];
        let long_v = vec![b'v'; 70000];
        let b = build(&[(&long_f, b"x"), (b"k", &long_v), (b"", b"")], 3);
        let zm = Zipmap::parse(&b).unwrap();
        let pairs: Vec<_> = zm.iter().collect();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0], (&long_f[..], &b"x"[..]));
        assert_eq!(pairs[1], (&b"k"[..], &long_v[..]));
        assert_eq!(pairs[2], (&b""[..], &b""[..]));
    }

    #[test]
    fn count_rules() {
        // 254 means "unknown": accepted whatever the count.
        let mut b = build(&[(b"a", b"1")], 0);
        b[0] = 254;
        assert!(Zipmap::parse(&b).is_ok());
        b[0] = 2;
        assert_eq!(Zipmap::parse(&b).unwrap_err(), ZipmapError::BadCount);
        assert_eq!(Zipmap::parse(&[0, 0xFF]).unwrap_err(), ZipmapError::Empty);
        assert_eq!(Zipmap::parse(&[0]).unwrap_err(), ZipmapError::BadHeader);
    }

    #[test]
    fn rejects_or_survives_corruption() {
        let good = build(&[(b"name", b"foo"), (b"surname", b"bar"), (b"n", b"12")], 1);
        for n in 0..good.len() {
            assert!(Zipmap::parse(&good[..n]).is_err());
        }
        for i in 0..good.len() {
            for v in [0x00, 0x01, 0x10, 0xFD, 0xFE, 0xFF] {
                let mut b = good.clone();
                b[i] = v;
                if let Ok(zm) = Zipmap::parse(&b) {
                    assert_eq!(zm.iter().count(), zm.len());
                }
            }
        }
        // A field claiming 4 GB.
        let b = [1, 254, 0xFF, 0xFF, 0xFF, 0xFF, b'a', 0xFF];
        assert!(Zipmap::parse(&b).is_err());
    }
}
