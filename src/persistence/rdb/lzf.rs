//! LZF, the compression RDB strings use (`RDB_ENC_LZF`): Marc Lehmann's format, which Redis
//! ships as liblzf.
//!
//! Written here rather than taken from a crate: the one crate implementing it is deprecated,
//! and its decompressor allocates the caller's declared output length up front, which an
//! RDB file controls. Here the output is bounded by what the input can produce (at most
//! 264 bytes per 3 input bytes), so a lying length field costs nothing.
//!
//! # Format
//!
//! A stream of chunks, each opened by a control byte `c`:
//! - `c < 32`: a literal run; the next `c + 1` bytes are copied as is.
//! - otherwise a back reference: `len = c >> 5` (7 means "add the next byte"), then
//!   `offset = ((c & 0x1f) << 8 | next byte) + 1` bytes back; `len + 2` bytes are copied,
//!   byte by byte because source and destination may overlap.
//!
//! The compressor is a greedy matcher over a hash of the next three bytes, like liblzf's
//! default (its output differs in places, but any valid stream decodes identically).

/// Largest back-reference distance (13 bits).
const MAX_OFF: usize = 1 << 13;
/// Longest back reference: `(7 + 255) + 2`.
const MAX_REF: usize = 264;
/// Longest literal run.
const MAX_LIT: usize = 32;
const HASH_LOG: u32 = 14;

/// Why a compressed payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzfError {
    /// The payload ends inside a chunk.
    Truncated,
    /// A back reference points before the start of the output.
    BadReference,
    /// The decoded length differs from the declared one.
    LengthMismatch { declared: usize, actual: usize },
}

impl std::fmt::Display for LzfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LzfError::Truncated => write!(f, "lzf payload truncated"),
            LzfError::BadReference => write!(f, "lzf back reference before start of output"),
            LzfError::LengthMismatch { declared, actual } => write!(
                f,
                "lzf payload decodes to {actual} bytes, {declared} declared"
            ),
        }
    }
}

/// The most bytes `compressed_len` input bytes can decode to.
pub fn max_decompressed_len(compressed_len: usize) -> usize {
    compressed_len.saturating_mul(MAX_REF) / 3 + MAX_LIT
}

/// Decodes `input`, which must decode to exactly `declared_len` bytes.
pub fn decompress(input: &[u8], declared_len: usize) -> Result<Vec<u8>, LzfError> {
    // Never trust the declared length beyond what the input can produce.
    let cap = declared_len.min(max_decompressed_len(input.len()));
    let mut out: Vec<u8> = Vec::with_capacity(cap);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or(LzfError::Truncated)?;
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(LzfError::Truncated)? as usize;
                ip += 1;
            }
            len += 2;
            let low = *input.get(ip).ok_or(LzfError::Truncated)? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8 | low) + 1;
            if back > out.len() {
                return Err(LzfError::BadReference);
            }
            let start = out.len() - back;
            if back >= len {
                out.extend_from_within(start..start + len);
            } else {
                for i in 0..len {
                    let b = out[start + i];
                    out.push(b);
                }
            }
        }
        if out.len() > declared_len {
            break;
        }
    }
    if out.len() != declared_len {
        return Err(LzfError::LengthMismatch {
            declared: declared_len,
            actual: out.len(),
        });
    }
    Ok(out)
}

/// Length of the common run of `input[r..]` and `input[ip..]` (`r < ip`), at least 3 (the
/// caller checked those) and at most `max_len`; compares eight bytes at a time.
#[inline]
fn match_len(input: &[u8], r: usize, ip: usize, max_len: usize) -> usize {
    let mut len = 3;
    while len + 8 <= max_len {
        let a = u64::from_le_bytes(input[r + len..r + len + 8].try_into().unwrap_or([0; 8]));
        let b = u64::from_le_bytes(input[ip + len..ip + len + 8].try_into().unwrap_or([0; 8]));
        let x = a ^ b;
        if x != 0 {
            return len + (x.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max_len && input[r + len] == input[ip + len] {
        len += 1;
    }
    len
}

#[inline]
fn hash3(a: u8, b: u8, c: u8) -> usize {
    let v = (a as u32) << 16 | (b as u32) << 8 | c as u32;
    (v.wrapping_mul(2654435761) >> (32 - HASH_LOG)) as usize
}

/// The match table of `compress`: positions + 1 of the last occurrence of each 3-byte hash
/// (0: none). It is kept per thread and reused, because allocating and zeroing its 16K slots
/// on every call costs about 1 µs, ten times the compression of a typical 100-byte value
/// (the RDB writer compresses every string longer than 20 bytes). Each slot carries the
/// generation of the call that wrote it, so slots of earlier calls read as empty and the
/// output depends on the input alone.
struct MatchTable {
    gen: u32,
    slots: Box<[u64]>,
}

impl MatchTable {
    fn new() -> MatchTable {
        MatchTable {
            gen: 0,
            slots: vec![0u64; 1 << HASH_LOG].into_boxed_slice(),
        }
    }

    /// Starts a call: every slot written before reads as empty.
    fn reset(&mut self) {
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.slots.fill(0);
            self.gen = 1;
        }
    }

    #[inline]
    fn get(&self, h: usize) -> usize {
        let s = self.slots[h];
        if (s >> 32) as u32 == self.gen {
            s as u32 as usize
        } else {
            0
        }
    }

    #[inline]
    fn set(&mut self, h: usize, pos_plus_one: usize) {
        self.slots[h] = (self.gen as u64) << 32 | pos_plus_one as u32 as u64;
    }
}

thread_local! {
    static MATCH_TABLE: std::cell::RefCell<Option<MatchTable>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses `input` into `out` (cleared first). Returns false — leaving `out` unspecified —
/// when the result would exceed `max_out` bytes; RDB then stores the string uncompressed.
pub fn compress(input: &[u8], max_out: usize, out: &mut Vec<u8>) -> bool {
    MATCH_TABLE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let table = slot.get_or_insert_with(MatchTable::new);
            table.reset();
            compress_with(input, max_out, out, table)
        }
        // Not re-entrant, but a private table is always correct.
        Err(_) => {
            let mut table = MatchTable::new();
            table.reset();
            compress_with(input, max_out, out, &mut table)
        }
    })
}

fn compress_with(input: &[u8], max_out: usize, out: &mut Vec<u8>, table: &mut MatchTable) -> bool {
    out.clear();
    if input.is_empty() {
        return true;
    }
    let n = input.len();
    let mut lit_start = out.len();
    out.push(0);
    let mut lit = 0usize;
    let mut ip = 0usize;
    while ip < n {
        // A match needs three bytes; the last two are always literals.
        let cand = if ip + 2 < n {
            let h = hash3(input[ip], input[ip + 1], input[ip + 2]);
            let cand = table.get(h);
            table.set(h, ip + 1);
            cand
        } else {
            0
        };
        if cand > 0 {
            let r = cand - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let len = match_len(input, r, ip, MAX_REF.min(n - ip));
                // Close the open literal run (or drop its unused control byte).
                if lit > 0 {
                    out[lit_start] = (lit - 1) as u8;
                } else {
                    out.pop();
                }
                let l = len - 2;
                if l < 7 {
                    out.push(((off >> 8) as u8) | ((l as u8) << 5));
                } else {
                    out.push(((off >> 8) as u8) | (7 << 5));
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                // Index the two positions before the match's end, as liblzf's default
                // (VERY_FAST) mode does: indexing every position inside long matches made
                // compression several times slower for no real gain in ratio.
                let end = ip + len;
                for p in end.saturating_sub(2).max(ip + 1)..end {
                    if p + 2 < n {
                        table.set(hash3(input[p], input[p + 1], input[p + 2]), p + 1);
                    }
                }
                ip = end;
                lit = 0;
                lit_start = out.len();
                out.push(0);
                if out.len() > max_out {
                    return false;
                }
                continue;
            }
        }
        out.push(input[ip]);
        lit += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[lit_start] = (MAX_LIT - 1) as u8;
            lit = 0;
            lit_start = out.len();
            out.push(0);
        }
        if out.len() > max_out {
            return false;
        }
    }
    if lit > 0 {
        out[lit_start] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    out.len() <= max_out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn roundtrip(data: &[u8]) {
        let mut out = Vec::new();
        assert!(compress(data, usize::MAX, &mut out));
        assert_eq!(decompress(&out, data.len()).unwrap(), data);
    }

    #[test]
    fn roundtrips() {
        roundtrip(b"");
        roundtrip(b"a");
        roundtrip(b"abcabcabcabcabcabcabcabcabcabcabcabc");
        roundtrip(&[b'x'; 10_000]);
        roundtrip(&(0..5000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..300 {
            let len = rng.gen_range(0..3000);
            let alphabet = rng.gen_range(1..=255u8);
            let v: Vec<u8> = (0..len).map(|_| rng.gen_range(0..=alphabet)).collect();
            roundtrip(&v);
        }
    }

    #[test]
    fn output_does_not_depend_on_earlier_calls() {
        let data = b"abcabcabc hello hello hello abcabcabc".repeat(3);
        let mut first = Vec::new();
        assert!(compress(&data, usize::MAX, &mut first));
        let mut other = Vec::new();
        for i in 0..50u8 {
            let noise: Vec<u8> = (0..500u32)
                .map(|j| (j as u8).wrapping_mul(i) ^ b'c')
                .collect();
            compress(&noise, usize::MAX, &mut other);
        }
        let mut again = Vec::new();
        assert!(compress(&data, usize::MAX, &mut again));
        assert_eq!(first, again);
        roundtrip(&data);
    }

    #[test]
    fn compresses_repetitive_data() {
        let data = vec![b'a'; 1000];
        let mut out = Vec::new();
        assert!(compress(&data, 100, &mut out));
        assert!(out.len() < 30, "{}", out.len());
        // Random bytes do not fit in less space.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let noise: Vec<u8> = (0..1000).map(|_| rng.gen()).collect();
        assert!(!compress(&noise, noise.len() - 4, &mut out));
    }

    #[test]
    fn decodes_liblzf_output() {
        // redis-server 7.0.15 saves a 50 x 'a' string as this payload (read off its
        // dump.rdb): literal "aa", a 46-byte back reference at distance 1, literal "aa".
        let payload = [0x01, b'a', b'a', 0xe0, 0x25, 0x00, 0x01, b'a', b'a'];
        assert_eq!(decompress(&payload, 50).unwrap(), vec![b'a'; 50]);
    }

    #[test]
    fn hostile_payloads_fail_cleanly() {
        assert_eq!(decompress(&[5, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x20, 0x00], 3), Err(LzfError::BadReference));
        assert!(matches!(
            decompress(&[0, b'a'], usize::MAX),
            Err(LzfError::LengthMismatch { .. })
        ));
        assert!(matches!(
            decompress(&[0, b'a', 0xe0, 0xff, 0x00], 3),
            Err(LzfError::LengthMismatch { .. })
        ));
    }
}
