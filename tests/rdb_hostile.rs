//! Hostile RDB input: damaged and malicious files must be rejected cleanly, never panic,
//! and never make the reader allocate what the input does not justify.
//!
//! The seed is a real dump written by redis-server 7.0.15 holding every type and encoding
//! (created here, with the real server), plus the legacy fixtures of tests/fixtures/rdb.
//!
//! - Decoder level: a few thousand deterministic mutants (bit flips, byte replacements,
//!   truncations, inserted/deleted/duplicated bytes, length fields set to huge values, lying
//!   headers inside compact encodings; each with the CRC-64 trailer fixed up or left stale)
//!   are decoded to the end. None may panic; an error's offset must lie inside the input;
//!   and a counting global allocator checks that no single allocation exceeds 1 GiB (the
//!   process aborts with the mutant's number if one is attempted) and that the peak of live
//!   bytes while decoding any mutant stays under 256 MiB. VmHWM is checked at the end too.
//! - Process level: a handful of hostile files given to `ferrodis-server` at startup. It
//!   must exit with a non-zero status, print no panic, name the problem and (where the
//!   problem has a place) the byte offset.
//!
//! `RDB_HOSTILE_MUTANTS=N` changes the number of mutants of the real dump (each fixture gets
//! N/20). The mutation sequence is fixed, but the real dump's AUX fields (ctime, used-mem)
//! differ from run to run, so a panicking input is saved to a file for replay.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferrodis::persistence::rdb::decode::Decoder;
use ferrodis::persistence::rdb::{Crc64, DecodeOptions};

use common::{RawConn, RedisServer, Resp, TempDir};

// ---------------------------------------------------------------------------------------
// Allocation watch

/// A single allocation larger than this is refused (and reported): decoding a file of a few
/// hundred KB never needs it, whatever lengths the file declares.
const MAX_SINGLE_ALLOC: usize = 1 << 30;
/// Peak live bytes allowed while decoding one mutant (above the level before it started).
const MAX_DECODE_PEAK: usize = 256 << 20;
/// VmHWM allowed for the whole test process.
const MAX_HWM_KB: u64 = 512 * 1024;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The mutant being decoded (usize::MAX: none), named when an allocation is refused.
static CURRENT_CASE: AtomicUsize = AtomicUsize::new(usize::MAX);

struct Watch;

impl Watch {
    fn grew(size: usize) {
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }

    /// Writes "refused an allocation of N bytes while decoding mutant #M" to stderr without
    /// allocating (we are inside the allocator).
    fn refuse(size: usize) {
        let mut buf = [0u8; 160];
        let mut n = 0;
        put(&mut buf, &mut n, b"rdb_hostile: refused an allocation of ");
        put_usize(&mut buf, &mut n, size);
        put(&mut buf, &mut n, b" bytes while decoding mutant #");
        put_usize(&mut buf, &mut n, CURRENT_CASE.load(Ordering::Relaxed));
        put(&mut buf, &mut n, b"\n");
        // SAFETY: writes an initialized stack buffer to fd 2.
        unsafe {
            libc::write(2, buf.as_ptr().cast(), n);
        }
    }
}

fn put(buf: &mut [u8], n: &mut usize, s: &[u8]) {
    let take = s.len().min(buf.len() - *n);
    buf[*n..*n + take].copy_from_slice(&s[..take]);
    *n += take;
}

fn put_usize(buf: &mut [u8], n: &mut usize, mut v: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(buf, n, &digits[i..]);
}

// SAFETY: every method forwards to `System` with the caller's arguments (or returns null,
// which the contract allows); the counters touch no memory handed out.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_SINGLE_ALLOC {
            Watch::refuse(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Watch::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_SINGLE_ALLOC {
            Watch::refuse(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Watch::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_SINGLE_ALLOC {
            Watch::refuse(new_size);
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            Watch::grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Deterministic randomness (splitmix64: stable across crate versions)

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// ---------------------------------------------------------------------------------------
// A structural scan of a well-formed file, to aim mutations at length fields and compact
// encodings and to know where each key lives. Only for the test's own inputs.

#[derive(Debug, Clone, Copy)]
struct LenField {
    pos: usize,
    width: usize,
}

#[derive(Debug, Clone, Copy)]
struct Blob {
    /// First byte of the string's payload (after its length or LZF header).
    data: usize,
    len: usize,
    lzf: bool,
}

#[derive(Debug, Clone)]
struct KeyRec {
    /// First byte of the key's record (its expiry/idle/freq opcode, or its type byte).
    start: usize,
    type_pos: usize,
    rtype: u8,
    name: Vec<u8>,
    /// Offset of the value's first byte.
    value_pos: usize,
    end: usize,
    blobs: Vec<Blob>,
}

#[derive(Debug, Default)]
struct Scan {
    lens: Vec<LenField>,
    keys: Vec<KeyRec>,
    eof: usize,
}

struct Cur<'a> {
    b: &'a [u8],
    p: usize,
    lens: Vec<LenField>,
}

impl Cur<'_> {
    fn byte(&mut self) -> u8 {
        let v = self.b[self.p];
        self.p += 1;
        v
    }

    fn skip(&mut self, n: usize) {
        self.p += n;
        assert!(self.p <= self.b.len(), "scan ran past the end");
    }

    /// A length; None for a special string encoding (the low 6 bits are returned in Err).
    fn len(&mut self) -> Result<u64, u8> {
        let pos = self.p;
        let first = self.byte();
        let (v, width) = match first >> 6 {
            0 => ((first & 0x3F) as u64, 1),
            1 => ((((first & 0x3F) as u64) << 8) | self.byte() as u64, 2),
            3 => return Err(first & 0x3F),
            _ if first == 0x80 => {
                let v = u32::from_be_bytes(self.b[self.p..self.p + 4].try_into().unwrap());
                self.skip(4);
                (v as u64, 5)
            }
            _ => {
                assert_eq!(first, 0x81, "unknown length encoding at {pos}");
                let v = u64::from_be_bytes(self.b[self.p..self.p + 8].try_into().unwrap());
                self.skip(8);
                (v, 9)
            }
        };
        self.lens.push(LenField { pos, width });
        Ok(v)
    }

    fn count(&mut self) -> u64 {
        self.len().expect("a count, not a string encoding")
    }

    /// A string: (its bytes when plain or an integer, else empty; where its payload is).
    fn string(&mut self) -> (Vec<u8>, Blob) {
        match self.len() {
            Ok(n) => {
                let data = self.p;
                self.skip(n as usize);
                (
                    self.b[data..self.p].to_vec(),
                    Blob {
                        data,
                        len: n as usize,
                        lzf: false,
                    },
                )
            }
            Err(enc) => {
                let data = self.p;
                let text = match enc {
                    0 => (self.byte() as i8).to_string(),
                    1 => {
                        let v = i16::from_le_bytes(self.b[self.p..self.p + 2].try_into().unwrap());
                        self.skip(2);
                        v.to_string()
                    }
                    2 => {
                        let v = i32::from_le_bytes(self.b[self.p..self.p + 4].try_into().unwrap());
                        self.skip(4);
                        v.to_string()
                    }
                    3 => {
                        let clen = self.count() as usize;
                        let _ulen = self.count();
                        let data = self.p;
                        self.skip(clen);
                        return (
                            Vec::new(),
                            Blob {
                                data,
                                len: clen,
                                lzf: true,
                            },
                        );
                    }
                    e => panic!("unknown string encoding {e}"),
                };
                (
                    text.clone().into_bytes(),
                    Blob {
                        data,
                        len: self.p - data,
                        lzf: false,
                    },
                )
            }
        }
    }
}

fn scan(b: &[u8]) -> Scan {
    assert!(b.starts_with(b"REDIS"), "not an RDB file");
    let mut c = Cur {
        b,
        p: 9,
        lens: Vec::new(),
    };
    let mut keys = Vec::new();
    let mut record_start = None;
    loop {
        let pos = c.p;
        let op = c.byte();
        match op {
            0xFF => break,
            0xFA => {
                c.string();
                c.string();
            }
            0xFB => {
                c.count();
                c.count();
            }
            0xFE => {
                c.count();
            }
            0xF5 => {
                c.string();
            }
            0xFC | 0xFD | 0xF8 | 0xF9 => {
                record_start.get_or_insert(pos);
                match op {
                    0xFC => c.skip(8),
                    0xFD => c.skip(4),
                    0xF8 => {
                        c.count();
                    }
                    _ => c.skip(1),
                }
            }
            rtype => {
                let start = record_start.take().unwrap_or(pos);
                let (name, _) = c.string();
                let value_pos = c.p;
                let mut blobs = Vec::new();
                match rtype {
                    0 => {
                        let (_, blob) = c.string();
                        blobs.push(blob);
                    }
                    1 | 2 => {
                        for _ in 0..c.count() {
                            blobs.push(c.string().1);
                        }
                    }
                    3 => {
                        for _ in 0..c.count() {
                            blobs.push(c.string().1);
                            let l = c.byte();
                            if l < 253 {
                                c.skip(l as usize);
                            }
                        }
                    }
                    4 => {
                        for _ in 0..c.count() * 2 {
                            blobs.push(c.string().1);
                        }
                    }
                    5 => {
                        for _ in 0..c.count() {
                            blobs.push(c.string().1);
                            c.skip(8);
                        }
                    }
                    9..=13 | 16 | 17 | 20 => blobs.push(c.string().1),
                    14 => {
                        for _ in 0..c.count() {
                            blobs.push(c.string().1);
                        }
                    }
                    18 => {
                        for _ in 0..c.count() {
                            c.count();
                            blobs.push(c.string().1);
                        }
                    }
                    t => panic!("the scan does not know type {t}"),
                }
                keys.push(KeyRec {
                    start,
                    type_pos: pos,
                    rtype,
                    name,
                    value_pos,
                    end: c.p,
                    blobs,
                });
            }
        }
    }
    Scan {
        lens: c.lens,
        keys,
        eof: c.p - 1,
    }
}

// ---------------------------------------------------------------------------------------
// Seeds

/// A dump written by redis-server 7.0.15 with every type and encoding, in two databases.
fn real_dump() -> &'static [u8] {
    static DUMP: OnceLock<Vec<u8>> = OnceLock::new();
    DUMP.get_or_init(|| {
        let srv = RedisServer::start(&[
            "--enable-debug-command",
            "yes",
            "--list-compress-depth",
            "1",
        ]);
        let mut c = srv.raw();
        let mut rng = Rng(7);
        let ok = |c: &mut RawConn, args: Vec<Vec<u8>>| {
            let r = c.cmd(&args);
            assert!(
                !r.is_error(),
                "redis refused {}: {r:?}",
                common::show_cmd(&args)
            );
        };
        let words = |s: &str| {
            s.split(' ')
                .map(|w| w.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        let many = |cmd: &[&str], items: Vec<Vec<u8>>| {
            let mut v: Vec<Vec<u8>> = cmd.iter().map(|s| s.as_bytes().to_vec()).collect();
            v.extend(items);
            v
        };
        let noise = |rng: &mut Rng, n: usize| (0..n).map(|_| rng.byte()).collect::<Vec<u8>>();

        ok(&mut c, words("SET str:small hello"));
        ok(&mut c, words("SET str:int 12345"));
        ok(&mut c, words("SET str:neg -7"));
        ok(&mut c, words("SET str:big 9223372036854775807"));
        ok(
            &mut c,
            vec![b"SET".to_vec(), b"str:empty".to_vec(), Vec::new()],
        );
        ok(
            &mut c,
            vec![
                b"SET".to_vec(),
                b"str:lzf".to_vec(),
                b"abcdefgh".repeat(150),
            ],
        );
        ok(
            &mut c,
            vec![b"SET".to_vec(), b"str:noise".to_vec(), noise(&mut rng, 300)],
        );
        ok(&mut c, words("PEXPIREAT str:small 4102444800000"));
        ok(&mut c, words("RPUSH list:small a b 1 2 -3 hello"));
        ok(
            &mut c,
            many(
                &["RPUSH", "list:big"],
                (0..3000)
                    .map(|i| {
                        if i % 3 == 0 {
                            i.to_string().into_bytes()
                        } else {
                            format!("element-{i}-{}", "x".repeat(i % 40)).into_bytes()
                        }
                    })
                    .collect(),
            ),
        );
        ok(&mut c, words("DEBUG QUICKLIST-PACKED-THRESHOLD 100"));
        ok(
            &mut c,
            vec![
                b"RPUSH".to_vec(),
                b"list:plain".to_vec(),
                b"p".repeat(200),
                b"small".to_vec(),
            ],
        );
        ok(&mut c, words("DEBUG QUICKLIST-PACKED-THRESHOLD 1073741824"));
        ok(&mut c, words("HSET hash:small f1 v1 f2 2 f3 -300"));
        ok(&mut c, words("HSET hash:lie f1 x9"));
        ok(
            &mut c,
            many(
                &["HSET", "hash:big"],
                (0..600)
                    .flat_map(|i| {
                        [
                            format!("field{i}").into_bytes(),
                            format!("value{i}").into_bytes(),
                        ]
                    })
                    .collect(),
            ),
        );
        ok(
            &mut c,
            vec![
                b"HSET".to_vec(),
                b"hash:longval".to_vec(),
                b"f".to_vec(),
                b"v".repeat(100),
            ],
        );
        ok(&mut c, words("EXPIRE hash:small 100000"));
        ok(&mut c, words("SADD set:ints 1 2 3 100"));
        ok(&mut c, words("SADD set:int64 1 5000000000 -9"));
        ok(&mut c, words("SADD set:strs a b c"));
        ok(
            &mut c,
            many(
                &["SADD", "set:bigints"],
                (0..600).map(|i| (i * 7).to_string().into_bytes()).collect(),
            ),
        );
        ok(
            &mut c,
            many(
                &["SADD", "set:big"],
                (0..300)
                    .map(|i| format!("member{i}").into_bytes())
                    .collect(),
            ),
        );
        ok(&mut c, words("ZADD zset:small 1 a 2.5 b inf c -inf d"));
        ok(
            &mut c,
            many(
                &["ZADD", "zset:big"],
                (0..200)
                    .flat_map(|i| {
                        [
                            format!("{}", i as f64 / 3.0).into_bytes(),
                            format!("m{i}").into_bytes(),
                        ]
                    })
                    .collect(),
            ),
        );
        ok(
            &mut c,
            vec![
                b"ZADD".to_vec(),
                b"zset:long".to_vec(),
                b"1".to_vec(),
                b"z".repeat(100),
            ],
        );
        ok(&mut c, words("PEXPIREAT zset:small 4102444800123"));
        ok(&mut c, words("SELECT 1"));
        ok(&mut c, words("SET db1:str in-db-1"));
        ok(&mut c, words("SADD db1:set x y z"));
        ok(&mut c, words("RPUSH db1:list q"));
        assert_eq!(c.cmds("SAVE"), Resp::Simple(b"OK".to_vec()));
        let dump = std::fs::read(srv.dir().join("dump.rdb")).expect("read redis's dump.rdb");
        drop(srv);
        dump
    })
}

fn fixture_seeds() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rdb");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("read fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).expect("read fixture");
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// Mutations

fn fix_checksum(b: &mut [u8]) {
    if b.len() >= 9 + 1 + 8 {
        let n = b.len() - 8;
        let mut crc = Crc64::new();
        crc.update(&b[..n]);
        b[n..].copy_from_slice(&crc.value().to_le_bytes());
    }
}

const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xBF, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xE0, 0xF0, 0xF1,
    0xF4, 0xFE, 0xFF, 200, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
];

fn mutate(orig: &[u8], s: &Scan, rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = orig.to_vec();
    let len = b.len();
    let desc = match rng.below(9) {
        0 => {
            let n = 1 + rng.below(4);
            for _ in 0..n {
                let p = rng.below(len);
                b[p] ^= 1 << rng.below(8);
            }
            format!("{n} bit flips")
        }
        1 => {
            let n = 1 + rng.below(4);
            for _ in 0..n {
                let p = rng.below(len);
                b[p] = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len())]
                } else {
                    rng.byte()
                };
            }
            format!("{n} byte replacements")
        }
        2 => {
            let at = rng.below(len);
            b.truncate(at);
            format!("truncated to {at}")
        }
        3 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let ins: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            b.splice(at..at, ins);
            format!("{n} bytes inserted at {at}")
        }
        4 => {
            let at = rng.below(len);
            let n = (1 + rng.below(16)).min(len - at);
            b.drain(at..at + n);
            format!("{n} bytes deleted at {at}")
        }
        5 | 6 if !s.lens.is_empty() => {
            let f = s.lens[rng.below(s.lens.len())];
            let huge: Vec<u8> = match rng.below(5) {
                0 => match f.width {
                    1 => vec![0x3F],
                    2 => vec![0x7F, 0xFF],
                    5 => vec![0x80, 0xFF, 0xFF, 0xFF, 0xFF],
                    _ => [&[0x81u8][..], &[0xFF; 8]].concat(),
                },
                1 => vec![0x80, 0xFF, 0xFF, 0xFF, 0xFF],
                2 => [&[0x81u8][..], &(1u64 << 62).to_be_bytes()].concat(),
                3 => [&[0x81u8][..], &u64::MAX.to_be_bytes()].concat(),
                _ => [
                    &[0x80u8][..],
                    &((1u32 << 31) + rng.below(1 << 20) as u32).to_be_bytes(),
                ]
                .concat(),
            };
            b.splice(f.pos..f.pos + f.width, huge.iter().copied());
            format!(
                "length field at {} (width {}) set to {:02x?}",
                f.pos, f.width, huge
            )
        }
        7 => {
            // Lie inside a compact encoding's header: total bytes, count, or an inner byte.
            let blobs: Vec<Blob> = s
                .keys
                .iter()
                .flat_map(|k| k.blobs.iter().copied())
                .filter(|bl| !bl.lzf && bl.len >= 8)
                .collect();
            if blobs.is_empty() {
                return (b, "no blob".into());
            }
            let bl = blobs[rng.below(blobs.len())];
            match rng.below(3) {
                0 => {
                    let v = [
                        0u32,
                        1,
                        7,
                        u32::MAX,
                        bl.len as u32 + 1,
                        bl.len as u32 - 1,
                        rng.next() as u32,
                    ][rng.below(7)];
                    b[bl.data..bl.data + 4].copy_from_slice(&v.to_le_bytes());
                    format!("blob at {}: first u32 set to {v}", bl.data)
                }
                1 => {
                    let v = [0u16, 1, u16::MAX, u16::MAX - 1, rng.next() as u16][rng.below(5)];
                    let at = bl.data + 4 + rng.below(5);
                    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
                    format!("blob at {}: u16 at {at} set to {v}", bl.data)
                }
                _ => {
                    let at = bl.data + 6 + rng.below(bl.len - 6);
                    b[at] = INTERESTING[rng.below(INTERESTING.len())];
                    format!("blob at {}: byte {at} set to {}", bl.data, b[at])
                }
            }
        }
        _ => {
            // Copy a chunk of the file over another place: plausible-looking garbage.
            let from = rng.below(len);
            let n = (1 + rng.below(64)).min(len - from);
            let to = rng.below(len);
            let chunk = orig[from..from + n].to_vec();
            b.splice(to..to, chunk);
            format!("{n} bytes from {from} copied to {to}")
        }
    };
    if rng.below(2) == 0 {
        fix_checksum(&mut b);
        (b, format!("{desc}, checksum fixed"))
    } else {
        (b, desc)
    }
}

/// Decodes to the end: Ok(items) or Err(message). Checks the error's offset is in range.
fn decode_all(data: &[u8], opts: &DecodeOptions) -> Result<usize, String> {
    let check = |e: ferrodis::persistence::rdb::RdbError| {
        let msg = e.to_string();
        if e.offset > data.len() as u64 {
            format!("OFFSET OUT OF RANGE ({} > {}): {msg}", e.offset, data.len())
        } else {
            msg
        }
    };
    let mut dec = Decoder::new(data, opts.clone()).map_err(check)?;
    let mut n = 0;
    loop {
        match dec.next_item() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok(n),
            Err(e) => return Err(check(e)),
        }
    }
}

fn mutants_per_seed(default: usize) -> usize {
    std::env::var("RDB_HOSTILE_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn decoder_survives_mutated_dumps() {
    let mut opts = DecodeOptions::from_config(&ferrodis::config::Config::default());
    let mut seeds = vec![(
        "redis-7.0.15-dump".to_string(),
        real_dump().to_vec(),
        mutants_per_seed(3000),
    )];
    for (name, bytes) in fixture_seeds() {
        seeds.push((name, bytes, mutants_per_seed(3000) / 20));
    }

    let mut failures = Vec::new();
    let mut worst_peak = (0usize, String::new());
    let mut case = 0usize;
    let mut rng = Rng(0x5EED_F00D);
    let started = Instant::now();
    let mut outcomes = [0usize; 2];
    let mut kinds = std::collections::BTreeMap::new();

    for (name, orig, count) in &seeds {
        let s = scan(orig);
        // The seed itself decodes cleanly (v11 files too: we read Redis 7.2's format).
        opts.deep_sanitize = false;
        if let Err(e) = decode_all(orig, &opts) {
            failures.push(format!("{name}: the unmodified file does not decode: {e}"));
        }
        for _ in 0..*count {
            let (data, desc) = mutate(orig, &s, &mut rng);
            opts.deep_sanitize = case % 2 == 1;
            CURRENT_CASE.store(case, Ordering::Relaxed);
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let res = catch_unwind(AssertUnwindSafe(|| decode_all(&data, &opts)));
            let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
            CURRENT_CASE.store(usize::MAX, Ordering::Relaxed);
            let what = format!(
                "mutant #{case} of {name} ({desc}, deep_sanitize {})",
                opts.deep_sanitize
            );
            if peak > worst_peak.0 {
                worst_peak = (peak, what.clone());
            }
            match res {
                Ok(Ok(_)) => outcomes[0] += 1,
                Ok(Err(msg)) => {
                    outcomes[1] += 1;
                    // The kind of error, without its numbers, for the summary.
                    let kind: String = if msg.contains("checksum") {
                        "Wrong RDB checksum".to_string()
                    } else {
                        msg.split(':')
                            .next_back()
                            .unwrap_or("")
                            .chars()
                            .filter(|c| !c.is_ascii_digit())
                            .take(60)
                            .collect()
                    };
                    *kinds.entry(kind.trim().to_string()).or_insert(0usize) += 1;
                    if msg.starts_with("OFFSET OUT OF RANGE") {
                        failures.push(format!("{what}: {msg}"));
                    }
                }
                Err(_) => {
                    let path =
                        std::env::temp_dir().join(format!("ferrodis-rdb-hostile-{case}.rdb"));
                    let _ = std::fs::write(&path, &data);
                    failures.push(format!("{what}: PANIC (input saved to {})", path.display()));
                }
            }
            if peak > MAX_DECODE_PEAK {
                failures.push(format!("{what}: decoding peaked at {} MiB", peak >> 20));
            }
            case += 1;
        }
    }
    eprintln!(
        "{case} mutants in {:?}: {} decoded, {} rejected; worst peak {} KiB ({}); VmHWM {} KiB",
        started.elapsed(),
        outcomes[0],
        outcomes[1],
        worst_peak.0 >> 10,
        worst_peak.1,
        vm_hwm_kb()
    );
    let mut by_count: Vec<(usize, String)> = kinds.into_iter().map(|(k, n)| (n, k)).collect();
    by_count.sort_by(|a, b| b.cmp(a));
    for (n, k) in by_count.iter().take(20) {
        eprintln!("  {n:>5}  {k}");
    }
    assert!(
        failures.is_empty(),
        "{} of {case} mutants misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let hwm = vm_hwm_kb();
    assert!(
        hwm < MAX_HWM_KB,
        "VmHWM {hwm} KiB after decoding the mutants"
    );
}

// ---------------------------------------------------------------------------------------
// Process level

/// Runs ferrodis on `file` at startup. Returns its exit status and everything it printed.
/// Panics if it starts serving instead of refusing the file.
fn run_ferrodis_on(file: &[u8], port: u16) -> (ExitStatus, String) {
    let dir = TempDir::new("rdb-hostile");
    std::fs::write(dir.path().join("dump.rdb"), file).expect("write hostile file");
    let log_path = dir.path().join("out.log");
    let log = std::fs::File::create(&log_path).expect("create log");
    let mut child = Command::new(common::FERRODIS_BIN)
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--dbfilename",
            "dump.rdb",
            "--dir",
        ])
        .arg(dir.path())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("clone log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn ferrodis-server");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        let serving = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| {
            let mut c = RawConn::from_stream(common::Stream::Tcp(s));
            c.set_timeout(Duration::from_secs(2));
            c.try_send(b"*1\r\n$4\r\nPING\r\n").is_ok()
                && matches!(c.try_read_raw(), Ok(Some(r)) if r.starts_with(b"+"))
        });
        if serving || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "ferrodis {} instead of refusing the file; its output:\n{out}",
                if serving {
                    "started serving"
                } else {
                    "neither exited nor served within 30 s"
                }
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
    (status, out)
}

/// The first "offset N" in the lines that mention one of `fragments`.
fn reported_offset(log: &str, fragments: &[&str]) -> Option<u64> {
    log.lines()
        .filter(|l| fragments.iter().any(|f| l.contains(f)))
        .find_map(|l| {
            let at = l.find("offset ")? + "offset ".len();
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
}

struct Hostile {
    name: &'static str,
    bytes: Vec<u8>,
    /// The message must contain one of these.
    fragments: &'static [&'static str],
    /// Where the reported offset must fall (inclusive), when the problem has a place.
    offset: Option<(usize, usize)>,
}

fn key<'a>(s: &'a Scan, name: &str) -> &'a KeyRec {
    s.keys
        .iter()
        .find(|k| k.name == name.as_bytes())
        .unwrap_or_else(|| panic!("key {name} not in the dump"))
}

fn hostile_files() -> Vec<Hostile> {
    let dump = real_dump();
    let s = scan(dump);
    let mut out = Vec::new();

    // Cut in the middle of a large value.
    let big = key(&s, "list:big");
    let cut = big.value_pos + (big.end - big.value_pos) / 2;
    out.push(Hostile {
        name: "truncated",
        bytes: dump[..cut].to_vec(),
        fragments: &["Short read"],
        offset: Some((big.start, cut)),
    });

    let mut b = dump.to_vec();
    let n = b.len();
    b[n - 3] ^= 0x55;
    out.push(Hostile {
        name: "bad checksum",
        bytes: b,
        fragments: &["checksum"],
        offset: Some((s.eof, n)),
    });

    let k = key(&s, "str:small");
    let mut b = dump.to_vec();
    b[k.type_pos] = 200;
    fix_checksum(&mut b);
    out.push(Hostile {
        name: "unknown type byte 200",
        bytes: b,
        fragments: &["Unknown RDB encoding type 200"],
        offset: Some((k.start, k.type_pos + 1)),
    });

    // The value of a string claims 2^62 bytes.
    let k = key(&s, "str:noise");
    let mut b = dump.to_vec();
    let lenfield = s
        .lens
        .iter()
        .find(|f| f.pos == k.value_pos)
        .expect("str:noise has a plain length");
    let huge = [&[0x81u8][..], &(1u64 << 62).to_be_bytes()].concat();
    b.splice(lenfield.pos..lenfield.pos + lenfield.width, huge);
    fix_checksum(&mut b);
    let blen = b.len();
    out.push(Hostile {
        name: "absurd string length",
        bytes: b,
        fragments: &["Short read", "Internal error", "Can't load"],
        offset: Some((k.start, blen)),
    });

    // A listpack whose first entry claims 63 bytes of string (it has 2): only the listpack's
    // own validation can notice.
    let k = key(&s, "hash:lie");
    assert_eq!(k.rtype, 16, "hash:lie should be a listpack hash");
    let blob = k.blobs[0];
    assert!(
        !blob.lzf,
        "hash:lie's listpack should be stored uncompressed"
    );
    let mut b = dump.to_vec();
    assert_eq!(b[blob.data + 6], 0x82, "first entry: a 2-byte string");
    b[blob.data + 6] = 0xBF;
    fix_checksum(&mut b);
    out.push(Hostile {
        name: "listpack with lying inner length",
        bytes: b,
        fragments: &["Internal error", "Can't load"],
        offset: Some((k.start, k.end)),
    });

    // The same listpack claiming more total bytes than its string holds.
    let mut b = dump.to_vec();
    let total = u32::from_le_bytes(b[blob.data..blob.data + 4].try_into().unwrap());
    b[blob.data..blob.data + 4].copy_from_slice(&(total + 1000).to_le_bytes());
    fix_checksum(&mut b);
    out.push(Hostile {
        name: "listpack with lying total size",
        bytes: b,
        fragments: &["Internal error", "Can't load"],
        offset: Some((k.start, k.end)),
    });

    let mut b = dump.to_vec();
    b[..5].copy_from_slice(b"REDIX");
    out.push(Hostile {
        name: "wrong signature",
        bytes: b,
        fragments: &["Wrong signature"],
        offset: None,
    });

    let mut b = dump.to_vec();
    b[5..9].copy_from_slice(b"0012");
    out.push(Hostile {
        name: "version 12",
        bytes: b,
        fragments: &["Can't handle RDB format version 12"],
        offset: None,
    });

    out.push(Hostile {
        name: "header only",
        bytes: dump[..9].to_vec(),
        fragments: &["Short read"],
        offset: Some((9, 9)),
    });
    out
}

#[test]
fn server_refuses_hostile_files_at_startup() {
    let mut problems = Vec::new();
    for (i, h) in hostile_files().into_iter().enumerate() {
        let (status, log) = run_ferrodis_on(&h.bytes, 7501 + i as u16);
        let tail: String = log
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        if status.success() || status.code().is_none() {
            problems.push(format!(
                "{}: exit status {status} (want a non-zero exit code)\n{tail}",
                h.name
            ));
        }
        if log.contains("panicked") {
            problems.push(format!("{}: panicked\n{tail}", h.name));
        }
        let said = log
            .lines()
            .find(|l| h.fragments.iter().any(|f| l.contains(f)))
            .unwrap_or("(nothing matching)");
        eprintln!("{:<34} {status}: {said}", h.name);
        if !h.fragments.iter().any(|f| log.contains(f)) {
            problems.push(format!(
                "{}: the log names none of {:?}\n{tail}",
                h.name, h.fragments
            ));
            continue;
        }
        if let Some((lo, hi)) = h.offset {
            match reported_offset(&log, h.fragments) {
                Some(off) if (lo as u64..=hi as u64).contains(&off) => {}
                other => problems.push(format!(
                    "{}: reported offset {other:?}, expected within {lo}..={hi}\n{tail}",
                    h.name
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
