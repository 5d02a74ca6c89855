//! The SCAN family's shared parts. SCAN, HSCAN, SSCAN and ZSCAN parse the cursor and the
//! MATCH/COUNT options (plus SCAN's TYPE) the same way, check the key the same way, bound
//! the work of one call the same way and reply in the same shape — Redis has one
//! `scanGenericCommand` (db.c) for all four, and clients observe every detail of it (which
//! error wins, the empty reply of a missing key, the cursor as a bulk string), so the
//! commands share one implementation here and keep only how they walk their value.

use bytes::Bytes;

use crate::commands::{Ctx, WRONGTYPE};
use crate::db::Value;
use crate::protocol::Reply;
use crate::util::glob_match;

/// Parses a cursor as Redis does with `strtoul`: optional sign (a minus negates modulo
/// 2^64), decimal digits, nothing else; the empty string is cursor 0.
pub(crate) fn parse_cursor(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The cursor in `argv[i]`; `None` after replying `ERR invalid cursor` (checked before
/// anything else, as Redis's `parseScanCursorOrReply`).
pub(crate) fn cursor_arg(ctx: &mut Ctx, i: usize) -> Option<u64> {
    let cursor = parse_cursor(&ctx.argv[i]);
    if cursor.is_none() {
        ctx.reply().err("invalid cursor");
    }
    cursor
}

/// The parsed options of a scan.
pub(crate) struct ScanOpts {
    /// COUNT: how many items to aim for (a hint; default 10).
    pub count: usize,
    /// MATCH, or `None` when absent or `*` (which matches everything anyway).
    pub pattern: Option<Bytes>,
    /// TYPE (SCAN only).
    pub type_name: Option<Bytes>,
}

impl ScanOpts {
    /// Whether `item` passes MATCH.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| glob_match(p, item, false))
    }
}

/// Parses the option pairs from `argv[first..]`; TYPE is accepted only with `allow_type`
/// (SCAN). `None` after replying with the error: a non-integer COUNT is `ERR value is not
/// an integer or out of range`, a COUNT below 1 or anything unknown or incomplete is a
/// syntax error.
pub(crate) fn parse_opts(ctx: &mut Ctx, first: usize, allow_type: bool) -> Option<ScanOpts> {
    let argv = ctx.argv;
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = first;
    while i < argv.len() {
        let left = argv.len() - i;
        let opt = &argv[i][..];
        if opt.eq_ignore_ascii_case(b"count") && left >= 2 {
            let n = ctx.int_arg(i + 1)?;
            if n < 1 {
                ctx.syntax_error();
                return None;
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") && left >= 2 {
            let p = argv[i + 1].clone();
            o.pattern = (&p[..] != b"*").then_some(p);
        } else if allow_type && opt.eq_ignore_ascii_case(b"type") && left >= 2 {
            o.type_name = Some(argv[i + 1].clone());
        } else {
            ctx.syntax_error();
            return None;
        }
        i += 2;
    }
    Some(o)
}

/// Checks the key of an HSCAN/SSCAN/ZSCAN: true to proceed. Otherwise it has replied: a
/// missing key scans as empty, a key of another type is WRONGTYPE (both before the options
/// are parsed, as in Redis).
pub(crate) fn key_check(ctx: &mut Ctx, want: fn(&Value) -> bool) -> bool {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => {
            reply(out, 0, &[] as &[&[u8]]);
            false
        }
        Some(v) if want(v) => true,
        Some(_) => {
            out.error(WRONGTYPE);
            false
        }
    })
}

/// The arguments of HSCAN/SSCAN/ZSCAN (`key cursor [MATCH p] [COUNT n]`) in Redis's order:
/// cursor, then the key's existence and type, then the options. `None` after replying.
pub(crate) fn collection_args(ctx: &mut Ctx, want: fn(&Value) -> bool) -> Option<(u64, ScanOpts)> {
    let cursor = cursor_arg(ctx, 2)?;
    if !key_check(ctx, want) {
        return None;
    }
    Some((cursor, parse_opts(ctx, 3, false)?))
}

/// Runs `step` (one table SCAN step from a cursor, pushing what it visits into `items`)
/// until COUNT items are collected or the walk completes, with at most 10*COUNT extra steps
/// so a sparse table cannot stall the server (Redis's bound and loop shape). Returns the
/// next cursor.
pub(crate) fn collect<T>(
    mut cursor: u64,
    count: usize,
    items: &mut Vec<T>,
    mut step: impl FnMut(u64, &mut Vec<T>) -> u64,
) -> u64 {
    let mut budget = count.saturating_mul(10);
    loop {
        cursor = step(cursor, items);
        if cursor == 0 || budget == 0 || items.len() >= count {
            return cursor;
        }
        budget -= 1;
    }
}

/// Writes a scan reply: the next cursor as a bulk string, then the kept items as bulks.
pub(crate) fn reply<T: AsRef<[u8]>>(out: &mut Reply, cursor: u64, items: &[T]) {
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(items.len());
    for i in items {
        out.bulk(i.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_like_strtoul() {
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-18446744073709551615"), Some(1));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"abc",
            b"-",
            b"1x",
            b"0x10",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn collect_stops_at_count_or_budget() {
        // Every step visits one item: stops once COUNT items are in.
        let mut items = Vec::new();
        let next = collect(1, 3, &mut items, |c, v| {
            v.push(c);
            c + 1
        });
        assert_eq!((next, items.len()), (4, 3));
        // Empty buckets only: stops after 1 + 10*COUNT steps.
        let mut steps = 0;
        let next = collect(1, 2, &mut Vec::<u8>::new(), |c, _| {
            steps += 1;
            c + 1
        });
        assert_eq!((next, steps), (22, 21));
        // A completed walk returns cursor 0 at once.
        assert_eq!(collect(5, 10, &mut Vec::<u8>::new(), |_, _| 0), 0);
    }
}
