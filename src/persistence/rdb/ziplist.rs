//! Ziplist: the compact list encoding Redis used before listpacks (RDB types
//! `LIST_ZIPLIST`, `ZSET_ZIPLIST`, `HASH_ZIPLIST` and the nodes of `LIST_QUICKLIST`, written
//! by Redis 2.6 to 6.2). Nothing in memory uses it any more: the loader validates a blob here
//! and converts it to a listpack, as Redis 7's `rdbLoadObject` does.
//!
//! Layout (ziplist.c):
//!
//! ```text
//! <zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE> <entry> ... <entry> <0xFF>
//! entry = <prevlen: 1 byte < 254, or 0xFE + u32 LE> <encoding> <data>
//! ```
//!
//! Encodings: `00pppppp` (string, 6-bit length), `01pppppp qqqqqqqq` (14-bit length, big
//! endian), `10xxxxxx` + u32 big endian (32-bit length); integers `0xC0` i16, `0xD0` i32,
//! `0xE0` i64, `0xF0` i24, `0xFE` i8 (little endian), `0xF1..=0xFD` an immediate 0..=12.
//!
//! Validation is Redis's `ziplistValidateIntegrity` with deep checks, which Redis always
//! applies to ziplists when loading: header size equals the blob size, every entry lies
//! inside the blob, every prevlen equals the previous entry's size, the entries end exactly
//! at the terminator, `zltail` points at the last entry and `zllen` (unless saturated at
//! 65535) equals the count. After that, iteration cannot fail.

use std::fmt;

use crate::db::listpack::{Builder, Listpack};
use crate::db::Elem;

const HEADER: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 254;

/// Why a ziplist blob was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZiplistError {
    /// Too short, size field disagreeing with the blob, no terminator, or tail past the end.
    BadHeader,
    /// An entry with an invalid encoding or reaching past the end, at this offset.
    BadEntry(usize),
    /// An entry whose prevlen is not the previous entry's size.
    BadPrevlen(usize),
    /// `zltail` does not point at the last entry.
    BadTail,
    /// `zllen` disagrees with the entries.
    BadCount,
}

impl fmt::Display for ZiplistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZiplistError::BadHeader => write!(f, "ziplist header invalid"),
            ZiplistError::BadEntry(p) => write!(f, "invalid ziplist entry at offset {p}"),
            ZiplistError::BadPrevlen(p) => write!(f, "invalid ziplist prevlen at offset {p}"),
            ZiplistError::BadTail => write!(f, "ziplist tail offset invalid"),
            ZiplistError::BadCount => write!(f, "ziplist element count mismatch"),
        }
    }
}

impl std::error::Error for ZiplistError {}

/// A validated ziplist blob.
#[derive(Debug, Clone, Copy)]
pub struct Ziplist<'a> {
    buf: &'a [u8],
    len: usize,
}

/// Decodes the entry at `p`, which must end at or before `last` (the terminator's index).
/// Returns (prevlen, element, entry size); `None` if malformed or out of range.
fn entry(b: &[u8], p: usize, last: usize) -> Option<(usize, Elem<'_>, usize)> {
    let within = |end: usize| (end <= last).then_some(());
    // prevlen
    let first = *b.get(p)?;
    let (prevlen, plen) = if first < BIG_PREVLEN {
        (first as usize, 1)
    } else {
        within(p + 5)?;
        let d = b.get(p + 1..p + 5)?;
        (u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize, 5)
    };
    let h = p + plen;
    within(h)?;
    let enc = *b.get(h)?;
    // Returns the element and the size of <encoding + data>.
    let (elem, body) = match enc >> 6 {
        0 => {
            let len = (enc & 0x3F) as usize;
            let end = h + 1 + len;
            within(end)?;
            (Elem::Bytes(b.get(h + 1..end)?), 1 + len)
        }
        1 => {
            within(h + 2)?;
            let len = (((enc & 0x3F) as usize) << 8) | *b.get(h + 1)? as usize;
            let end = h + 2 + len;
            within(end)?;
            (Elem::Bytes(b.get(h + 2..end)?), 2 + len)
        }
        2 => {
            within(h + 5)?;
            let d = b.get(h + 1..h + 5)?;
            let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
            let end = (h + 5).checked_add(len)?;
            within(end)?;
            (Elem::Bytes(b.get(h + 5..end)?), 5 + len)
        }
        _ => {
            let n = match enc {
                0xC0 => 2,
                0xD0 => 4,
                0xE0 => 8,
                0xF0 => 3,
                0xFE => 1,
                0xF1..=0xFD => 0,
                _ => return None,
            };
            within(h + 1 + n)?;
            let d = b.get(h + 1..h + 1 + n)?;
            let v = match enc {
                0xC0 => i16::from_le_bytes([d[0], d[1]]) as i64,
                0xD0 => i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64,
                0xE0 => i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]),
                // 24 bits placed high, shifted back arithmetically to sign-extend.
                0xF0 => (i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64,
                0xFE => d[0] as i8 as i64,
                _ => (enc & 0x0F) as i64 - 1,
            };
            (Elem::Int(v), 1 + n)
        }
    };
    Some((prevlen, elem, plen + body))
}

impl<'a> Ziplist<'a> {
    /// Validates a blob completely (see the module doc).
    pub fn parse(buf: &'a [u8]) -> Result<Ziplist<'a>, ZiplistError> {
        if buf.len() < HEADER + 1 {
            return Err(ZiplistError::BadHeader);
        }
        let bytes = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let last = buf.len() - 1;
        if bytes != buf.len() || buf[last] != END {
            return Err(ZiplistError::BadHeader);
        }
        let tail = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if tail > last {
            return Err(ZiplistError::BadHeader);
        }
        let header_count = u16::from_le_bytes([buf[8], buf[9]]);
        let (mut p, mut prev_size, mut prev, mut count) = (HEADER, 0usize, None, 0usize);
        // Every entry ends at or before `last`, so `p` stays in bounds.
        while buf[p] != END {
            let (prevlen, _, size) = entry(buf, p, last).ok_or(ZiplistError::BadEntry(p))?;
            if prevlen != prev_size {
                return Err(ZiplistError::BadPrevlen(p));
            }
            prev = Some(p);
            prev_size = size;
            p += size;
            count += 1;
        }
        // A 0xFF where an entry should start, before the real terminator.
        if p != last {
            return Err(ZiplistError::BadEntry(p));
        }
        if prev.is_some_and(|pp| pp != tail) {
            return Err(ZiplistError::BadTail);
        }
        if header_count != u16::MAX && header_count as usize != count {
            return Err(ZiplistError::BadCount);
        }
        Ok(Ziplist { buf, len: count })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> Iter<'a> {
        Iter {
            buf: self.buf,
            pos: HEADER,
        }
    }

    /// The same elements as a listpack (Redis appends each with `lpAppend` /
    /// `lpAppendInteger`, which is what `Builder` does).
    pub fn to_listpack(&self) -> Listpack {
        let mut b = Builder::new();
        for e in self.iter() {
            b.push_elem(e);
        }
        b.finish()
    }
}

/// Iterator over a validated ziplist's elements.
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        let last = self.buf.len().checked_sub(1)?;
        if *self.buf.get(self.pos)? == END {
            return None;
        }
        let (_, e, size) = entry(self.buf, self.pos, last)?;
        self.pos += size;
        Some(e)
    }
}

/// Builds ziplists exactly as Redis's `ziplistPush` encodes them (for tests of the loader).
#[cfg(test)]
pub(crate) mod test_support {
    use crate::util::parse_i64;

    fn encode_entry(prevlen: usize, ele: &[u8], out: &mut Vec<u8>) {
        if prevlen < 254 {
            out.push(prevlen as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(prevlen as u32).to_le_bytes());
        }
        // zipTryEncoding: integers only for 1..31-byte canonical decimals.
        let int = if !ele.is_empty() && ele.len() < 32 {
            parse_i64(ele)
        } else {
            None
        };
        match int {
            Some(v @ 0..=12) => out.push(0xF1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => {
                out.push(0xFE);
                out.push(v as i8 as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                out.push(0xC0);
                out.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                out.push(0xF0);
                out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                out.push(0xD0);
                out.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                out.push(0xE0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            None => {
                let n = ele.len();
                if n < 64 {
                    out.push(n as u8);
                } else if n < 16384 {
                    out.push(0x40 | (n >> 8) as u8);
                    out.push(n as u8);
                } else {
                    out.push(0x80);
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                }
                out.extend_from_slice(ele);
            }
        }
    }

    /// A ziplist of these elements.
    pub fn build(elems: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; 10];
        let (mut prev, mut tail) = (0usize, 10usize);
        for e in elems {
            let start = out.len();
            encode_entry(prev, e, &mut out);
            prev = out.len() - start;
            tail = start;
        }
        out.push(0xFF);
        let total = out.len() as u32;
        out[..4].copy_from_slice(&total.to_le_bytes());
        out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        out[8..10].copy_from_slice(&(elems.len().min(65535) as u16).to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::build;
    use super::*;

    fn elems(zl: &Ziplist<'_>) -> Vec<Vec<u8>> {
        zl.iter().map(|e| e.to_bytes().into_owned()).collect()
    }

    #[test]
    fn redis_doc_example() {
        // The example in ziplist.c's header comment: a ziplist holding "2" and "5".
        let b = [
            0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff,
        ];
        let zl = Ziplist::parse(&b).unwrap();
        assert_eq!(zl.len(), 2);
        assert_eq!(zl.iter().collect::<Vec<_>>(), [Elem::Int(2), Elem::Int(5)]);
        assert_eq!(build(&[b"2", b"5"]), b);
    }

    #[test]
    fn every_encoding_round_trips() {
        let long = vec![b'x'; 300];
        let huge = vec![b'y'; 20000];
        let items: Vec<&[u8]> = vec![
            b"",
            b"hello",
            &long,
            &huge,
            b"0",
            b"12",
            b"13",
            b"-1",
            b"-128",
            b"127",
            b"128",
            b"-32768",
            b"40000",
            b"-8388608",
            b"8388608",
            b"-2147483648",
            b"2147483648",
            b"-9223372036854775808",
            b"9223372036854775807",
            b"007",
        ];
        let b = build(&items);
        let zl = Ziplist::parse(&b).unwrap();
        assert_eq!(zl.len(), items.len());
        let got = elems(&zl);
        for (g, want) in got.iter().zip(&items) {
            assert_eq!(g.as_slice(), *want);
        }
        // Entries after the 300-byte one carry a 5-byte prevlen.
        let lp = zl.to_listpack();
        assert_eq!(lp.len(), items.len());
        let back: Vec<Vec<u8>> = lp.iter().map(|e| e.to_bytes().into_owned()).collect();
        assert_eq!(back, got);
    }

    #[test]
    fn empty_ziplist() {
        let b = build(&[]);
        assert_eq!(b, [11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF]);
        let zl = Ziplist::parse(&b).unwrap();
        assert!(zl.is_empty());
        assert_eq!(zl.iter().count(), 0);
    }

    #[test]
    fn rejects_corruption() {
        let good = build(&[b"a", b"bb", b"300", b"ccc"]);
        assert!(Ziplist::parse(&good).is_ok());
        assert_eq!(
            Ziplist::parse(&good[..5]).unwrap_err(),
            ZiplistError::BadHeader
        );
        // Wrong count.
        let mut b = good.clone();
        b[8] = 3;
        assert_eq!(Ziplist::parse(&b).unwrap_err(), ZiplistError::BadCount);
        // Saturated count is accepted.
        b[8] = 0xFF;
        b[9] = 0xFF;
        assert!(Ziplist::parse(&b).is_ok());
        // Wrong tail.
        let mut b = good.clone();
        b[4] += 1;
        assert_eq!(Ziplist::parse(&b).unwrap_err(), ZiplistError::BadTail);
        // Wrong prevlen of the second entry.
        let mut b = good.clone();
        b[13] = 7;
        assert_eq!(
            Ziplist::parse(&b).unwrap_err(),
            ZiplistError::BadPrevlen(13)
        );
        // Invalid encoding byte.
        let mut b = good.clone();
        b[11] = 0xC1;
        assert!(Ziplist::parse(&b).is_err());
        // A 32-bit string length pointing far past the end.
        let mut b = build(&[b"abc"]);
        b[11] = 0x80;
        assert!(Ziplist::parse(&b).is_err());
        // Every single-byte mutation is either rejected or yields a safe iteration.
        for i in 0..good.len() {
            for v in [
                0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xD0, 0xE0, 0xF0, 0xFE, 0xFF,
            ] {
                let mut b = good.clone();
                b[i] = v;
                if let Ok(zl) = Ziplist::parse(&b) {
                    assert_eq!(zl.iter().count(), zl.len());
                    let _ = zl.to_listpack();
                }
            }
        }
        // Every truncation is rejected.
        for n in 0..good.len() {
            assert!(Ziplist::parse(&good[..n]).is_err());
        }
    }
}
