//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO.
//!
//! Bits are numbered from the most significant bit of the first byte, and a string reads as
//! if padded with zero bytes to infinity. Writes grow the string with zero bytes and leave it
//! in the growable "raw" encoding (a new key created by SETBIT or BITFIELD is "raw" too, as
//! in Redis); offsets are limited to proto-max-bulk-len bytes except for our master's stream.
//!
//! The order of checks follows Redis 7.0's `bitops.c` because it is observable: BITCOUNT and
//! BITPOS look the key up before parsing their range (a missing key answers 0 / -1 even with
//! malformed arguments), BITFIELD parses every operation before touching the key, and
//! BITFIELD_RO rejects writes only after parsing them all. Writes are propagated as
//! themselves; a SETBIT or BITFIELD that changes nothing (same bits, string not grown) is
//! not a write at all: no dirty count, no event, no propagation.

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::{spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::Value;
use crate::executor::client::ClientKind;
use crate::executor::state::notify;
use crate::protocol::Reply;
use crate::util::parse_i64;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    spec!("setbit", 4, WRITE | DENYOOM, [1, 1, 1], setbit, "bitmap", "2.2.0",
        "Sets or clears the bit at offset in the string value stored at key", "O(1)"),
    spec!("getbit", 3, READONLY | FAST, [1, 1, 1], getbit, "bitmap", "2.2.0",
        "Returns the bit value at offset in the string value stored at key", "O(1)"),
    spec!("bitcount", -2, READONLY, [1, 1, 1], bitcount, "bitmap", "2.6.0",
        "Count set bits in a string", "O(N)"),
    spec!("bitpos", -3, READONLY, [1, 1, 1], bitpos, "bitmap", "2.8.7",
        "Find first bit set or clear in a string", "O(N)"),
    spec!("bitop", -4, WRITE | DENYOOM, [2, -1, 1], bitop, "bitmap", "2.6.0",
        "Perform bitwise operations between strings", "O(N)"),
    spec!("bitfield", -2, WRITE | DENYOOM, [1, 1, 1], bitfield, "bitmap", "3.2.0",
        "Perform arbitrary bitfield integer operations on strings",
        "O(1) for each subcommand specified"),
    spec!("bitfield_ro", -2, READONLY | FAST, [1, 1, 1], bitfield_ro, "bitmap", "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        "O(1) for each subcommand specified"),
];

const BIT_OFFSET_ERR: &str = "bit offset is not an integer or out of range";
const NOT_INT_ERR: &str = "value is not an integer or out of range";
const BITFIELD_TYPE_ERR: &str =
    "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Redis's `getBitOffsetFromArgument`: a non-negative integer below proto-max-bulk-len
/// bytes; with `bits` > 0 the `#<n>` form means `n * bits` (BITFIELD).
fn bit_offset(ctx: &mut Ctx, idx: usize, bits: u32) -> Option<u64> {
    let arg = &ctx.argv[idx][..];
    let hash = bits > 0 && arg.first() == Some(&b'#');
    let parsed = if hash {
        parse_i64(&arg[1..]).map(|n| n.wrapping_mul(bits as i64))
    } else {
        parse_i64(arg)
    };
    let unlimited = ctx.client.kind == ClientKind::Master;
    match parsed {
        Some(n)
            if n >= 0 && (unlimited || ((n >> 3) as u64) < ctx.state.cfg.proto_max_bulk_len) =>
        {
            Some(n as u64)
        }
        _ => {
            ctx.reply().err(BIT_OFFSET_ERR);
            None
        }
    }
}

/// The string at `key` for a bit write, grown with zero bytes to hold bit `maxbit`
/// (Redis's `lookupStringForBitCommand`). Creates a raw string when missing. Replies
/// WRONGTYPE and returns None for other types; else returns whether the string was created
/// or grew.
fn string_for_bit_write(ctx: &mut Ctx, key: &[u8], maxbit: u64) -> Option<bool> {
    let need = (maxbit >> 3) as usize + 1;
    match ctx.lookup_write(key) {
        None => {
            let lru = ctx.state.lru_clock();
            ctx.db()
                .insert_new(key, Value::Raw(Box::new(vec![0u8; need])), 0, lru);
            let db = ctx.db_index();
            notify_new(ctx, db, key);
            Some(true)
        }
        Some(v) => match v.make_raw() {
            None => {
                ctx.wrongtype();
                None
            }
            Some(buf) => {
                let grew = buf.len() < need;
                if grew {
                    buf.resize(need, 0);
                }
                Some(grew)
            }
        },
    }
}

/// The raw buffer of a string key known to exist.
fn raw_buf<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c mut Vec<u8>> {
    ctx.db().get_value_mut(key).and_then(|v| v.make_raw())
}

/// Number of set bits in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let w = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        n += w.count_ones() as u64;
    }
    for &b in chunks.remainder() {
        n += b.count_ones() as u64;
    }
    n
}

/// Parses a BYTE|BIT unit argument: Some(true) for BIT.
fn parse_unit(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        None
    }
}

/// Redis's index normalisation for BITCOUNT/BITPOS: negative from the end, clamped to
/// `[0, totlen - 1]` (end may become -1 on an empty string).
fn normalize(mut start: i64, mut end: i64, totlen: i64) -> (i64, i64) {
    if start < 0 {
        start += totlen;
    }
    if end < 0 {
        end += totlen;
    }
    if start < 0 {
        start = 0;
    }
    if end < 0 {
        end = 0;
    }
    if end >= totlen {
        end = totlen - 1;
    }
    (start, end)
}

#[inline]
fn bit_at(s: &[u8], bit: u64) -> bool {
    match s.get((bit >> 3) as usize) {
        Some(&b) => b & (0x80 >> (bit & 7)) != 0,
        None => false,
    }
}

// ---------------------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------------------

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx) {
    const BIT_ERR: &str = "bit is not an integer or out of range";
    let Some(offset) = bit_offset(ctx, 2, 0) else {
        return;
    };
    let on = match parse_i64(&ctx.argv[3]) {
        Some(v) if v & !1 == 0 => v == 1,
        _ => {
            ctx.reply().err(BIT_ERR);
            return;
        }
    };
    let key = ctx.argv[1].clone();
    let Some(grew) = string_for_bit_write(ctx, &key, offset) else {
        return;
    };
    let Some(buf) = raw_buf(ctx, &key) else {
        return;
    };
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let old = buf[byte] & mask != 0;
    if grew || old != on {
        if on {
            buf[byte] |= mask;
        } else {
            buf[byte] &= !mask;
        }
        ctx.modified(&key, notify::STRING, "setbit");
    }
    ctx.reply().int(old as i64);
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx) {
    let Some(offset) = bit_offset(ctx, 2, 0) else {
        return;
    };
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.int(0),
        Some(v) => match v.as_str() {
            None => out.error(WRONGTYPE),
            Some(mut s) => out.int(bit_at(s.bytes(), offset) as i64),
        },
    });
}

// ---------------------------------------------------------------------------------------
// BITCOUNT / BITPOS
// ---------------------------------------------------------------------------------------

/// Counts the set bits of `s` in the inclusive bit range `[sbit, ebit]`.
fn count_bits(s: &[u8], sbit: u64, ebit: u64) -> u64 {
    let (sb, eb) = ((sbit >> 3) as usize, (ebit >> 3) as usize);
    let mut n = popcount(&s[sb..=eb]);
    // Take out the bits of the edge bytes that lie outside the range.
    let head = s[sb] & !(0xffu8 >> (sbit & 7));
    let tail = s[eb] & (0xffu32 >> ((ebit & 7) + 1)) as u8;
    n -= head.count_ones() as u64 + tail.count_ones() as u64;
    n
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| {
        let Some(v) = v else {
            out.int(0);
            return;
        };
        let Some(mut s) = v.as_str() else {
            out.error(WRONGTYPE);
            return;
        };
        let s = s.bytes();
        let len = s.len() as i64;
        let (start, end, isbit) = match argv.len() {
            2 => (0, len - 1, false),
            4 | 5 => {
                let (Some(start), Some(end)) = (parse_i64(&argv[2]), parse_i64(&argv[3])) else {
                    out.err(NOT_INT_ERR);
                    return;
                };
                // An inverted all-negative range is empty, whatever the unit says.
                if start < 0 && end < 0 && start > end {
                    out.int(0);
                    return;
                }
                let isbit = if argv.len() == 5 {
                    match parse_unit(&argv[4]) {
                        Some(b) => b,
                        None => {
                            out.err("syntax error");
                            return;
                        }
                    }
                } else {
                    false
                };
                let totlen = if isbit { len << 3 } else { len };
                let (start, end) = normalize(start, end, totlen);
                (start, end, isbit)
            }
            _ => {
                out.err("syntax error");
                return;
            }
        };
        if start > end {
            out.int(0);
            return;
        }
        let (sbit, ebit) = if isbit {
            (start as u64, end as u64)
        } else {
            ((start as u64) << 3, ((end as u64) << 3) + 7)
        };
        out.int(count_bits(s, sbit, ebit) as i64);
    });
}

/// The first bit equal to `bit` in the inclusive bit range `[sbit, ebit]` of `s`.
fn find_bit(s: &[u8], bit: bool, sbit: u64, ebit: u64) -> Option<u64> {
    let skip = if bit { 0u8 } else { 0xff };
    let mut pos = sbit;
    // Bit by bit up to a byte boundary, then whole bytes, then bit by bit again.
    while pos <= ebit && pos & 7 != 0 {
        if bit_at(s, pos) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    while pos + 7 <= ebit {
        let b = s[(pos >> 3) as usize];
        if b != skip {
            let off = if bit {
                b.leading_zeros()
            } else {
                (!b).leading_zeros()
            };
            return Some(pos + off as u64);
        }
        pos += 8;
    }
    while pos <= ebit {
        if bit_at(s, pos) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let bit = match parse_i64(&argv[2]) {
        None => {
            ctx.reply().err(NOT_INT_ERR);
            return;
        }
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => {
            ctx.reply().err("The bit argument must be 1 or 0.");
            return;
        }
    };
    ctx.read_with(&argv[1], |v, out| {
        // A missing key is an infinite run of zero bits.
        let Some(v) = v else {
            out.int(if bit { -1 } else { 0 });
            return;
        };
        let Some(mut s) = v.as_str() else {
            out.error(WRONGTYPE);
            return;
        };
        let s = s.bytes();
        let len = s.len() as i64;
        let mut end_given = false;
        let (start, end, isbit) = match argv.len() {
            3 => (0, len - 1, false),
            4..=6 => {
                let Some(start) = parse_i64(&argv[3]) else {
                    out.err(NOT_INT_ERR);
                    return;
                };
                let mut isbit = false;
                if argv.len() == 6 {
                    match parse_unit(&argv[5]) {
                        Some(b) => isbit = b,
                        None => {
                            out.err("syntax error");
                            return;
                        }
                    }
                }
                let end = if argv.len() >= 5 {
                    let Some(end) = parse_i64(&argv[4]) else {
                        out.err(NOT_INT_ERR);
                        return;
                    };
                    end_given = true;
                    end
                } else if isbit {
                    (len << 3) + 7
                } else {
                    len - 1
                };
                let totlen = if isbit { len << 3 } else { len };
                let (start, end) = normalize(start, end, totlen);
                (start, end, isbit)
            }
            _ => {
                out.err("syntax error");
                return;
            }
        };
        // An empty range holds neither a 0 nor a 1.
        if start > end {
            out.int(-1);
            return;
        }
        let (sbit, ebit) = if isbit {
            (start as u64, end as u64)
        } else {
            ((start as u64) << 3, ((end as u64) << 3) + 7)
        };
        match find_bit(s, bit, sbit, ebit) {
            Some(p) => out.int(p as i64),
            // Looking for a 0 without an explicit end: the string continues with zeros
            // right after the last byte of the range.
            None if !bit && !end_given => out.int((((ebit >> 3) + 1) << 3) as i64),
            None => out.int(-1),
        }
    });
}

// ---------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP <AND|OR|XOR|NOT> destkey key [key ...]
fn bitop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let name = &argv[1][..];
    let op = if name.eq_ignore_ascii_case(b"and") {
        Op::And
    } else if name.eq_ignore_ascii_case(b"or") {
        Op::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        Op::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        Op::Not
    } else {
        ctx.syntax_error();
        return;
    };
    if op == Op::Not && argv.len() != 4 {
        ctx.reply()
            .err("BITOP NOT must be called with a single source key.");
        return;
    }
    // Fold the sources into `res` one at a time; missing keys are empty strings and every
    // string reads as zero-padded to the longest one.
    let mut res: Vec<u8> = Vec::new();
    for (j, key) in argv[3..].iter().enumerate() {
        let mut wrong = false;
        {
            let src: &[u8];
            let mut sref;
            match ctx.lookup_read(key) {
                None => src = &[],
                Some(v) => match v.as_str() {
                    None => {
                        wrong = true;
                        src = &[];
                    }
                    Some(s) => {
                        sref = s;
                        src = sref.bytes();
                    }
                },
            }
            if !wrong {
                if j == 0 {
                    res.extend_from_slice(src);
                    if op == Op::Not {
                        for b in &mut res {
                            *b = !*b;
                        }
                    }
                } else {
                    if src.len() > res.len() {
                        res.resize(src.len(), 0);
                    }
                    match op {
                        Op::And => {
                            for (i, r) in res.iter_mut().enumerate() {
                                *r &= src.get(i).copied().unwrap_or(0);
                            }
                        }
                        Op::Or => {
                            for (r, s) in res.iter_mut().zip(src) {
                                *r |= s;
                            }
                        }
                        Op::Xor => {
                            for (r, s) in res.iter_mut().zip(src) {
                                *r ^= s;
                            }
                        }
                        Op::Not => {}
                    }
                }
            }
        }
        if wrong {
            ctx.wrongtype();
            return;
        }
    }
    let dest = argv[2].clone();
    let len = res.len();
    if len > 0 {
        ctx.expire_if_needed(&dest);
        let lru = ctx.state.lru_clock();
        if !ctx.db().set(&dest, Value::Raw(Box::new(res)), false, lru) {
            let db = ctx.db_index();
            notify_new(ctx, db, &dest);
        }
        ctx.modified(&dest, notify::STRING, "set");
    } else if ctx.db().remove(&dest).is_some() {
        ctx.modified(&dest, notify::GENERIC, "del");
    }
    ctx.reply().int(len as i64);
}

// ---------------------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    offset: u64,
    value: i64,
    signed: bool,
    bits: u32,
    overflow: Overflow,
}

/// Parses `i<n>` (n in 1..=64) or `u<n>` (n in 1..=63). Like Redis, the width is read as
/// a C string (it stops at a NUL byte).
fn bitfield_type(arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let rest = &arg[1..];
    let rest = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
    let n = parse_i64(rest)?;
    if n < 1 || (signed && n > 64) || (!signed && n > 63) {
        return None;
    }
    Some((signed, n as u32))
}

fn get_unsigned(s: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for _ in 0..bits {
        v = (v << 1) | bit_at(s, offset) as u64;
        offset += 1;
    }
    v
}

fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(s, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Writes the low `bits` bits of `value`, most significant first (the buffer was grown to
/// hold them).
fn set_unsigned(s: &mut [u8], mut offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let bitval = (value >> (bits - 1 - j)) & 1;
        let byte = (offset >> 3) as usize;
        let mask = 0x80u8 >> (offset & 7);
        if bitval == 1 {
            s[byte] |= mask;
        } else {
            s[byte] &= !mask;
        }
        offset += 1;
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: (overflowed, the value to store when the
/// policy gives one).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, Option<u64>) {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        return (
            true,
            match ow {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(max),
                Overflow::Fail => None,
            },
        );
    }
    if incr < 0 && incr < minincr {
        return (
            true,
            match ow {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(0),
                Overflow::Fail => None,
            },
        );
    }
    (false, None)
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, Option<i64>) {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        return (
            true,
            match ow {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(max),
                Overflow::Fail => None,
            },
        );
    }
    if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        return (
            true,
            match ow {
                Overflow::Wrap => Some(wrap()),
                Overflow::Sat => Some(min),
                Overflow::Fail => None,
            },
        );
    }
    (false, None)
}

/// Executes one SET or INCRBY on `s`, replying with its result (nil on a FAIL overflow).
/// Returns whether it wrote a different value (None when it failed).
fn field_write(s: &mut [u8], f: &Field, out: &mut Reply) -> Option<bool> {
    let incr = f.op == FieldOp::Incrby;
    if f.signed {
        let old = get_signed(s, f.offset, f.bits);
        let (overflow, newval, ret) = if incr {
            let (o, l) = signed_overflow(old, f.value, f.bits, f.overflow);
            let nv = if o {
                l
            } else {
                Some(old.wrapping_add(f.value))
            };
            (o, nv, nv)
        } else {
            let (o, l) = signed_overflow(f.value, 0, f.bits, f.overflow);
            (o, if o { l } else { Some(f.value) }, Some(old))
        };
        match (overflow && f.overflow == Overflow::Fail, newval, ret) {
            (false, Some(nv), Some(r)) => {
                out.int(r);
                set_unsigned(s, f.offset, f.bits, nv as u64);
                Some(nv != old)
            }
            _ => {
                out.null();
                None
            }
        }
    } else {
        let old = get_unsigned(s, f.offset, f.bits);
        let (overflow, newval, ret) = if incr {
            let (o, l) = unsigned_overflow(old, f.value, f.bits, f.overflow);
            let nv = if o {
                l
            } else {
                Some(old.wrapping_add(f.value as u64))
            };
            (o, nv, nv)
        } else {
            let v = f.value as u64;
            let (o, l) = unsigned_overflow(v, 0, f.bits, f.overflow);
            (o, if o { l } else { Some(v) }, Some(old))
        };
        match (overflow && f.overflow == Overflow::Fail, newval, ret) {
            (false, Some(nv), Some(r)) => {
                out.int(r as i64);
                set_unsigned(s, f.offset, f.bits, nv);
                Some(nv != old)
            }
            _ => {
                out.null();
                None
            }
        }
    }
}

fn field_get(s: &[u8], f: &Field, out: &mut Reply) {
    if f.signed {
        out.int(get_signed(s, f.offset, f.bits));
    } else {
        out.int(get_unsigned(s, f.offset, f.bits) as i64);
    }
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset value |
/// INCRBY type offset increment ...]
fn bitfield(ctx: &mut Ctx) {
    bitfield_generic(ctx, false);
}

/// BITFIELD_RO key [GET type offset ...]
fn bitfield_ro(ctx: &mut Ctx) {
    bitfield_generic(ctx, true);
}

fn bitfield_generic(ctx: &mut Ctx, ro: bool) {
    let argv = ctx.argv;
    let mut ops: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest_write: u64 = 0;
    let mut j = 2;
    while j < argv.len() {
        let remargs = argv.len() - j - 1;
        let sub = &argv[j][..];
        let op = if sub.eq_ignore_ascii_case(b"get") && remargs >= 2 {
            FieldOp::Get
        } else if sub.eq_ignore_ascii_case(b"set") && remargs >= 3 {
            FieldOp::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && remargs >= 3 {
            FieldOp::Incrby
        } else if sub.eq_ignore_ascii_case(b"overflow") && remargs >= 1 {
            let t = &argv[j + 1][..];
            overflow = if t.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if t.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if t.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                ctx.reply().err("Invalid OVERFLOW type specified");
                return;
            };
            j += 2;
            continue;
        } else {
            ctx.syntax_error();
            return;
        };
        let Some((signed, bits)) = bitfield_type(&argv[j + 1]) else {
            ctx.reply().err(BITFIELD_TYPE_ERR);
            return;
        };
        let Some(offset) = bit_offset(ctx, j + 2, bits) else {
            return;
        };
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest_write = highest_write.max(offset + bits as u64 - 1);
            let Some(v) = ctx.int_arg(j + 3) else {
                return;
            };
            value = v;
        }
        ops.push(Field {
            op,
            offset,
            value,
            signed,
            bits,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    if readonly {
        // Read-only: a missing key reads as zeros, and nothing is created.
        ctx.read_with(&argv[1], |v, out| {
            let mut sref = None;
            if let Some(v) = v {
                match v.as_str() {
                    None => {
                        out.error(WRONGTYPE);
                        return;
                    }
                    Some(s) => sref = Some(s),
                }
            }
            let s: &[u8] = match sref.as_mut() {
                Some(s) => s.bytes(),
                None => &[],
            };
            out.array(ops.len());
            for f in &ops {
                field_get(s, f, out);
            }
        });
        return;
    }
    if ro {
        ctx.reply()
            .err("BITFIELD_RO only supports the GET subcommand");
        return;
    }
    let key = argv[1].clone();
    let Some(grew) = string_for_bit_write(ctx, &key, highest_write) else {
        return;
    };
    let mut changes = 0u64;
    {
        let crate::commands::Ctx { state, client, .. } = ctx;
        let Some(buf) = state.dbs[client.db]
            .get_value_mut(&key)
            .and_then(|v| v.make_raw())
        else {
            return;
        };
        let out = &mut client.out;
        out.array(ops.len());
        for f in &ops {
            if f.op == FieldOp::Get {
                field_get(buf, f, out);
            } else if let Some(changed) = field_write(buf, f, out) {
                // Like Redis 7.0, a write counts when the value changed or the string was
                // created or grown; a failed one never does (even if it created the key).
                if grew || changed {
                    changes += 1;
                }
            }
        }
    }
    if changes > 0 {
        ctx.modified(&key, notify::STRING, "setbit");
        ctx.state.dirty += changes - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_ranges() {
        let s = [0b1010_1010u8, 0xff, 0x01];
        assert_eq!(count_bits(&s, 0, 23), 13);
        assert_eq!(count_bits(&s, 1, 1), 0);
        assert_eq!(count_bits(&s, 0, 0), 1);
        assert_eq!(count_bits(&s, 3, 9), 4);
        assert_eq!(find_bit(&s, true, 1, 23), Some(2));
        assert_eq!(find_bit(&s, false, 8, 15), None);
        assert_eq!(find_bit(&s, false, 8, 23), Some(16));
        assert_eq!(find_bit(&s, true, 16, 23), Some(23));
    }

    #[test]
    fn bitfield_types() {
        assert_eq!(bitfield_type(b"i64"), Some((true, 64)));
        assert_eq!(bitfield_type(b"u63"), Some((false, 63)));
        assert_eq!(bitfield_type(b"u64"), None);
        assert_eq!(bitfield_type(b"i0"), None);
        assert_eq!(bitfield_type(b"x8"), None);
        assert_eq!(bitfield_type(b"u8\0junk"), Some((false, 8)));
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(
            unsigned_overflow(250, 10, 8, Overflow::Wrap),
            (true, Some(4))
        );
        assert_eq!(
            unsigned_overflow(250, 10, 8, Overflow::Sat),
            (true, Some(255))
        );
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), (true, Some(0)));
        assert_eq!(unsigned_overflow(5, -5, 8, Overflow::Wrap), (false, None));
        assert_eq!(
            signed_overflow(127, 1, 8, Overflow::Wrap),
            (true, Some(-128))
        );
        assert_eq!(
            signed_overflow(-128, -1, 8, Overflow::Sat),
            (true, Some(-128))
        );
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (true, Some(i64::MIN))
        );
        assert_eq!(
            signed_overflow(0, i64::MAX, 64, Overflow::Fail),
            (false, None)
        );
    }

    #[test]
    fn field_roundtrip() {
        let mut s = vec![0u8; 4];
        set_unsigned(&mut s, 3, 12, 0xabc);
        assert_eq!(get_unsigned(&s, 3, 12), 0xabc);
        assert_eq!(get_signed(&s, 3, 12), 0xabc - 0x1000);
        assert_eq!(get_unsigned(&s, 30, 8), 0);
    }
}
