//! SORT and SORT_RO: sorting the elements of a list, set or sorted set, optionally by
//! weights or values fetched from other keys, and storing the result in a list.
//!
//! Redis 7.0's `sort.c`, step by step, because the details are visible to clients:
//!
//! - Options are parsed before the key is looked up (a syntax error wins over WRONGTYPE).
//! - `BY <pattern>` without a `*` means "don't sort": lists and sorted sets keep their
//!   order (reversed by DESC, windowed by LIMIT); a set sorted with STORE is then sorted
//!   alphabetically anyway so that the stored result is deterministic.
//! - Numeric weights are parsed like C's `strtod` on a NUL-terminated string: an empty
//!   string is 0, trailing garbage, NaN or out-of-range values make the whole command fail
//!   with `One or more scores can't be converted into double` (after sorting, so the
//!   sorted set conversion below still happened). Equal weights fall back to comparing the
//!   elements as binary strings. (Redis tests `errno` after `strtod` without clearing it
//!   first, so after some earlier out-of-range conversion it can reject valid weights until
//!   unrelated code resets `errno`; we judge each weight on its own.)
//! - ALPHA without STORE compares with `strcoll`, i.e. up to the first NUL byte under the C
//!   and C.UTF-8 locales, which is what we implement; with STORE the comparison is binary.
//!   Elements without a BY value sort first with ALPHA.
//! - Sorting a listpack-encoded sorted set converts it to a skiplist first (Redis does it
//!   destructively, and OBJECT ENCODING shows it).
//! - Pattern lookups (`BY`, `GET`) go through the normal read path: they count keyspace hits
//!   and misses and expire keys lazily. `#` is the element itself; `key*->field` reads a
//!   hash field; only the first `*` is substituted; patterns are read as C strings where
//!   Redis does (`strchr`/`strstr` stop at a NUL).
//!
//! The sort is stable, like glibc's `qsort` (a merge sort) that Redis uses: elements that
//! compare equal keep the order in which they were loaded. When BY is combined with a LIMIT
//! window Redis uses its own partial quicksort, which orders equal elements differently; we
//! run the same algorithm there. (Only ALPHA with equal BY values can tell the difference,
//! and for hashtable-encoded sets and sorted sets the load order itself is Redis's hash
//! table order, which we cannot reproduce.)
//!
//! STORE replaces the destination with a list (or deletes it when the result is empty) and
//! is propagated as the command itself.

use std::cmp::Ordering;

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::{spec, CommandSpec, Ctx};
use crate::db::list::List;
use crate::db::zset::strtod;
use crate::db::Value;
use crate::executor::state::notify;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    spec!("sort", -2, WRITE | DENYOOM | MOVABLE_KEYS, [1, 1, 1], sort, "generic", "1.0.0",
        "Sort the elements in a list, set or sorted set",
        "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
    spec!("sort_ro", -2, READONLY | MOVABLE_KEYS, [1, 1, 1], sort_ro, "generic", "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
];

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]
fn sort(ctx: &mut Ctx) {
    sort_generic(ctx, false);
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
fn sort_ro(ctx: &mut Ctx) {
    sort_generic(ctx, true);
}

/// One element to sort with its weight.
struct Item {
    ele: Vec<u8>,
    score: f64,
    /// The BY value for ALPHA sorting (None when the BY key is missing).
    cmp: Option<Vec<u8>>,
}

/// The part of a byte string C would see (up to the first NUL).
fn cstr(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// A weight as Redis parses it with `strtod`: the value, or None when it "can't be
/// converted into double".
fn parse_weight(s: &[u8]) -> Option<f64> {
    let (v, used, out_of_range) = strtod(s);
    // C checks the byte after the number against the terminator.
    let next = s.get(used).copied().unwrap_or(0);
    if next != 0 || out_of_range || v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Redis's `lookupKeyByPattern`: the value a BY/GET pattern designates for `subst`.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    if pattern.first() == Some(&b'#') && pattern.get(1).copied().unwrap_or(0) == 0 {
        return Some(subst.to_vec());
    }
    let c = cstr(pattern);
    let star = memchr::memchr(b'*', c)?;
    // A hash field dereference: "->" after the star with something after it.
    let field: Option<&[u8]> = c[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < c.len())
        .map(|f| &pattern[f + 2..]);
    let fieldlen = field.map_or(0, |f| f.len());
    let postfix_len = pattern.len() - (star + 1) - if fieldlen > 0 { fieldlen + 2 } else { 0 };
    let mut key = Vec::with_capacity(star + subst.len() + postfix_len);
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..star + 1 + postfix_len]);
    let v = ctx.lookup_read(&key)?;
    match field.filter(|f| !f.is_empty()) {
        Some(f) => match v {
            Value::Hash(h) => h.get(f).map(|e| e.to_bytes().into_owned()),
            _ => None,
        },
        None => v.to_vec(),
    }
}

/// Redis's `pqsort`: the Bentley-McIlroy quicksort of NetBSD's libc that only recurses
/// into partitions overlapping the window `[lo, hi]`. Used, as in Redis, when BY is
/// combined with a LIMIT; reproducing it keeps the order of equal elements identical.
fn pqsort<T>(v: &mut [T], lo: i64, hi: i64, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    // Redis compares byte addresses; element indexes scaled by 2 keep its off-by-one
    // boundaries (`(hi + 1) * size - 1`) exact.
    let (lr, rr) = (lo * 2, (hi + 1) * 2 - 1);
    let overlaps = |start: usize, n: usize| {
        let (l, r) = (start as i64 * 2, (start + n) as i64 * 2 - 1);
        !((lr < l && rr < l) || (lr > r && rr > r))
    };
    let mut c = |v: &[T], i: usize, j: usize| cmp(&v[i], &v[j]);
    let mut stack: Vec<(usize, usize)> = vec![(0, v.len())];
    while let Some((mut a, mut n)) = stack.pop() {
        loop {
            if n < 7 {
                insertion_sort(v, a, n, &mut c);
                break;
            }
            let mut pm = a + n / 2;
            if n > 7 {
                let mut pl = a;
                let mut pn = a + n - 1;
                if n > 40 {
                    let d = n / 8;
                    pl = med3(v, pl, pl + d, pl + 2 * d, &mut c);
                    pm = med3(v, pm - d, pm, pm + d, &mut c);
                    pn = med3(v, pn - 2 * d, pn - d, pn, &mut c);
                }
                pm = med3(v, pl, pm, pn, &mut c);
            }
            v.swap(a, pm);
            let (mut pa, mut pb) = (a + 1, a + 1);
            let (mut pc, mut pd) = (a + n - 1, a + n - 1);
            loop {
                while pb <= pc {
                    let r = c(v, pb, a);
                    if r == Ordering::Greater {
                        break;
                    }
                    if r == Ordering::Equal {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    pb += 1;
                }
                while pb <= pc {
                    let r = c(v, pc, a);
                    if r == Ordering::Less {
                        break;
                    }
                    if r == Ordering::Equal {
                        v.swap(pc, pd);
                        pd -= 1;
                    }
                    pc -= 1;
                }
                if pb > pc {
                    break;
                }
                v.swap(pb, pc);
                pb += 1;
                pc -= 1;
            }
            let pn = a + n;
            let r = (pa - a).min(pb - pa);
            vec_swap(v, a, pb - r, r);
            let r = (pd - pc).min(pn - pd - 1);
            vec_swap(v, pb, pn - r, r);
            let left = pb - pa;
            let right = pd - pc;
            let mut next = None;
            if right > 1 && overlaps(pn - right, right) {
                next = Some((pn - right, right));
            }
            if left > 1 && overlaps(a, left) {
                // Redis recurses into the left part first, then loops on the right one.
                if let Some(r) = next {
                    stack.push(r);
                }
                next = Some((a, left));
            }
            match next {
                Some((na, nn)) => {
                    a = na;
                    n = nn;
                }
                None => break,
            }
        }
    }
}

fn insertion_sort<T>(
    v: &mut [T],
    a: usize,
    n: usize,
    c: &mut impl FnMut(&[T], usize, usize) -> Ordering,
) {
    for pm in a + 1..a + n {
        let mut pl = pm;
        while pl > a && c(v, pl - 1, pl) == Ordering::Greater {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

fn med3<T>(
    v: &[T],
    a: usize,
    b: usize,
    d: usize,
    c: &mut impl FnMut(&[T], usize, usize) -> Ordering,
) -> usize {
    use Ordering::*;
    if c(v, a, b) == Less {
        if c(v, b, d) == Less {
            b
        } else if c(v, a, d) == Less {
            d
        } else {
            a
        }
    } else if c(v, b, d) == Greater {
        b
    } else if c(v, a, d) == Less {
        a
    } else {
        d
    }
}

fn vec_swap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

fn sort_generic(ctx: &mut Ctx, readonly: bool) {
    let argv = ctx.argv;
    let mut desc = false;
    let mut alpha = false;
    let mut limit_start: i64 = 0;
    let mut limit_count: i64 = -1;
    let mut dontsort = false;
    let mut sortby: Option<&Bytes> = None;
    let mut storekey: Option<&Bytes> = None;
    let mut gets: Vec<&Bytes> = Vec::new();

    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j][..];
        if a.eq_ignore_ascii_case(b"asc") {
            desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            let Some(s) = ctx.int_arg(j + 1) else {
                return;
            };
            let Some(c) = ctx.int_arg(j + 2) else {
                return;
            };
            limit_start = s;
            limit_count = c;
            j += 2;
        } else if !readonly && a.eq_ignore_ascii_case(b"store") && left >= 1 {
            storekey = Some(&argv[j + 1]);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            sortby = Some(&argv[j + 1]);
            // A pattern without '*' names no per-element key: nothing to sort by.
            if memchr::memchr(b'*', cstr(&argv[j + 1])).is_none() {
                dontsort = true;
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            gets.push(&argv[j + 1]);
            j += 1;
        } else {
            ctx.syntax_error();
            return;
        }
        j += 1;
    }

    let key = &argv[1];
    #[derive(PartialEq)]
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let kind = match ctx.lookup_read(key) {
        None => None,
        Some(Value::List(_)) => Some(Kind::List),
        Some(Value::Set(_)) => Some(Kind::Set),
        Some(Value::ZSet(_)) => Some(Kind::ZSet),
        Some(_) => {
            ctx.wrongtype();
            return;
        }
    };

    // A set has no order of its own: when the result is stored, sort it alphabetically.
    if dontsort && kind == Some(Kind::Set) && storekey.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }

    // Redis converts a listpack sorted set to a skiplist before sorting it.
    if kind == Some(Kind::ZSet) {
        if let Some(Value::ZSet(z)) = ctx.db().get_value_mut(key) {
            z.convert_to_skiplist();
        }
    }

    let value = if kind.is_some() {
        ctx.db().get(key).map(|e| &e.value)
    } else {
        None
    };
    let len = match value {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;

    // LIMIT sanity checks, with the inputs bounded by the length to avoid overflow.
    let mut start = limit_start.clamp(0, len);
    let count = limit_count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    // Load the elements. Lists and sorted sets that are not sorted only load the window.
    let mut items: Vec<Item> = Vec::new();
    let item = |e: crate::db::Elem<'_>| Item {
        ele: e.to_bytes().into_owned(),
        score: 0.0,
        cmp: None,
    };
    match value {
        Some(Value::List(l)) if dontsort && end >= start => {
            let n = (end - start + 1) as usize;
            if desc {
                let skip = start as usize;
                items.extend(l.iter().rev().skip(skip).take(n).map(item));
            } else {
                items.extend(l.iter_from(start as usize).take(n).map(item));
            }
            end -= start;
            start = 0;
        }
        // An empty window of an unsorted list: nothing to load.
        Some(Value::List(_)) if dontsort => {}
        Some(Value::List(l)) => items.extend(l.iter().map(item)),
        Some(Value::Set(s)) => items.extend(s.iter().map(item)),
        Some(Value::ZSet(z)) if dontsort => {
            if end >= start {
                let n = (end - start + 1) as usize;
                let first = z.by_rank(start as usize, desc);
                items.extend(z.iter_from(first, desc).take(n).map(|(m, _)| item(m)));
            }
            end -= start;
            start = 0;
        }
        Some(Value::ZSet(z)) => items.extend(z.iter().map(|(m, _)| item(m))),
        _ => {}
    }

    // Weights.
    let mut conversion_error = false;
    if !dontsort {
        for it in items.iter_mut() {
            let byval = match sortby {
                Some(p) => match lookup_by_pattern(ctx, p, &it.ele) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !alpha {
                        match parse_weight(&it.ele) {
                            Some(s) => it.score = s,
                            None => conversion_error = true,
                        }
                    }
                    continue;
                }
            };
            if alpha {
                it.cmp = Some(byval);
            } else {
                match parse_weight(&byval) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        if !conversion_error {
            let by = sortby.is_some();
            let store = storekey.is_some();
            let cmp = |a: &Item, b: &Item| {
                let ord = if !alpha {
                    a.score
                        .partial_cmp(&b.score)
                        .unwrap_or(Ordering::Equal)
                        .then_with(|| a.ele.cmp(&b.ele))
                } else if by {
                    match (&a.cmp, &b.cmp) {
                        (None, None) => Ordering::Equal,
                        (None, Some(_)) => Ordering::Less,
                        (Some(_), None) => Ordering::Greater,
                        (Some(x), Some(y)) if store => x.cmp(y),
                        (Some(x), Some(y)) => cstr(x).cmp(cstr(y)),
                    }
                } else if store {
                    a.ele.cmp(&b.ele)
                } else {
                    cstr(&a.ele).cmp(cstr(&b.ele))
                };
                if desc {
                    ord.reverse()
                } else {
                    ord
                }
            };
            if by && (start != 0 || end != len - 1) {
                pqsort(&mut items, start, end, cmp);
            } else {
                items.sort_by(cmp);
            }
        }
    }

    let window = (end - start + 1).max(0) as usize;
    let outputlen = if gets.is_empty() {
        window
    } else {
        gets.len() * window
    };
    if conversion_error {
        ctx.reply()
            .err("One or more scores can't be converted into double");
        return;
    }
    let range = if window > 0 {
        start as usize..start as usize + window
    } else {
        0..0
    };
    let Some(dest) = storekey else {
        ctx.reply().array(outputlen);
        for it in &items[range] {
            if gets.is_empty() {
                ctx.reply().bulk(&it.ele);
            }
            for g in &gets {
                match lookup_by_pattern(ctx, g, &it.ele) {
                    Some(v) => ctx.reply().bulk(&v),
                    None => ctx.reply().null(),
                }
            }
        }
        return;
    };

    let mut out: Vec<Vec<u8>> = Vec::with_capacity(outputlen);
    for it in items.drain(range) {
        if gets.is_empty() {
            out.push(it.ele);
            continue;
        }
        for g in &gets {
            out.push(lookup_by_pattern(ctx, g, &it.ele).unwrap_or_default());
        }
    }
    if outputlen > 0 {
        let list = List::from_elems(ctx.state.cfg.list_max_listpack_size, &out);
        ctx.expire_if_needed(dest);
        let lru = ctx.state.lru_clock();
        if !ctx.db().set(dest, Value::List(Box::new(list)), false, lru) {
            let db = ctx.db_index();
            notify_new(ctx, db, dest);
        }
        ctx.modified(dest, notify::LIST, "sortstore");
        ctx.state.dirty += outputlen as u64 - 1;
    } else if ctx.db().remove(dest).is_some() {
        ctx.modified(dest, notify::GENERIC, "del");
    }
    ctx.reply().int(outputlen as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_like_strtod() {
        assert_eq!(parse_weight(b"1.5"), Some(1.5));
        assert_eq!(parse_weight(b""), Some(0.0));
        assert_eq!(parse_weight(b" 7"), Some(7.0));
        assert_eq!(parse_weight(b"7 "), None);
        assert_eq!(parse_weight(b"3\0junk"), Some(3.0));
        assert_eq!(parse_weight(b"abc"), None);
        assert_eq!(parse_weight(b"nan"), None);
        assert_eq!(parse_weight(b"1e999"), None);
        assert_eq!(parse_weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_weight(b"0x10"), Some(16.0));
    }

    #[test]
    fn pqsort_sorts_the_window() {
        let mut seed = 12345u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [0usize, 1, 5, 7, 8, 30, 41, 100, 500] {
            for _ in 0..20 {
                let v: Vec<u64> = (0..n).map(|_| next() % 50).collect();
                let mut sorted = v.clone();
                sorted.sort();
                let lo = if n > 0 {
                    (next() as usize % n) as i64
                } else {
                    0
                };
                let hi = if n > 0 {
                    (lo + (next() % 10) as i64).min(n as i64 - 1)
                } else {
                    -1
                };
                let mut w = v.clone();
                pqsort(&mut w, lo, hi, |a, b| a.cmp(b));
                for i in lo.max(0)..=hi {
                    assert_eq!(w[i as usize], sorted[i as usize], "n={n} lo={lo} hi={hi}");
                }
                let mut full = v.clone();
                pqsort(&mut full, 0, n as i64 - 1, |a, b| a.cmp(b));
                assert_eq!(full, sorted);
            }
        }
    }

    #[test]
    fn c_strings() {
        assert_eq!(cstr(b"ab\0c"), b"ab");
        assert_eq!(cstr(b"abc"), b"abc");
    }
}
