//! Sorted set commands: ZADD ... ZSCAN, ZMPOP, the set algebra (ZUNION/ZINTER/ZDIFF and
//! their STORE forms, ZINTERCARD), and the pop routine the blocking variants reuse
//! (`generic_zpop`, `zpop_key`, `parse_mpop_args`).
//!
//! Behaviour follows Redis 7.0's `t_zset.c` step for step, because the order of checks is
//! observable through which error wins: ZADD validates its flags and every score before
//! looking the key up; the range commands parse their ranges first; the set algebra looks
//! every input key up (WRONGTYPE) before parsing WEIGHTS/AGGREGATE; ZSCAN checks the cursor
//! before the key and its options after.
//!
//! Replies: scores are doubles (`%.17g` bulk strings in RESP2, `,` doubles in RESP3). With
//! WITHSCORES, RESP2 gets a flat member/score array and RESP3 an array of [member, score]
//! pairs, as Redis 7.0 does; ZSCAN always returns flat bulk strings.
//!
//! Propagation: writes are deterministic and propagate verbatim, except ZMPOP (and the
//! blocking pops through `zpop_key`), which propagate as `ZPOPMIN|ZPOPMAX key count`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use bytes::Bytes;
use rand::Rng;

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::{scan, spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::set::Set;
use crate::db::zset::{add_flags, parse_score, AddOutcome, LexRange, Limits, ScoreRange, ZSet};
use crate::db::{Elem, Value};
use crate::executor::state::notify;
use crate::protocol::Reply;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    spec!("zadd", -4, WRITE | DENYOOM | FAST, [1, 1, 1], zadd, "sorted-set", "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists",
        "O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    spec!("zincrby", 4, WRITE | DENYOOM | FAST, [1, 1, 1], zincrby, "sorted-set", "1.2.0",
        "Increment the score of a member in a sorted set",
        "O(log(N)) where N is the number of elements in the sorted set."),
    spec!("zrem", -3, WRITE | FAST, [1, 1, 1], zrem, "sorted-set", "1.2.0",
        "Remove one or more members from a sorted set",
        "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."),
    spec!("zcard", 2, READONLY | FAST, [1, 1, 1], zcard, "sorted-set", "1.2.0",
        "Get the number of members in a sorted set", "O(1)"),
    spec!("zscore", 3, READONLY | FAST, [1, 1, 1], zscore, "sorted-set", "1.2.0",
        "Get the score associated with the given member in a sorted set", "O(1)"),
    spec!("zmscore", -3, READONLY | FAST, [1, 1, 1], zmscore, "sorted-set", "6.2.0",
        "Get the score associated with the given members in a sorted set",
        "O(N) where N is the number of members being requested."),
    spec!("zrank", 3, READONLY | FAST, [1, 1, 1], zrank, "sorted-set", "2.0.0",
        "Determine the index of a member in a sorted set", "O(log(N))"),
    spec!("zrevrank", 3, READONLY | FAST, [1, 1, 1], zrevrank, "sorted-set", "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
        "O(log(N))"),
    spec!("zcount", 4, READONLY | FAST, [1, 1, 1], zcount, "sorted-set", "2.0.0",
        "Count the members in a sorted set with scores within the given values",
        "O(log(N)) with N being the number of elements in the sorted set."),
    spec!("zlexcount", 4, READONLY | FAST, [1, 1, 1], zlexcount, "sorted-set", "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range",
        "O(log(N)) with N being the number of elements in the sorted set."),
    spec!("zrange", -4, READONLY, [1, 1, 1], zrange, "sorted-set", "1.2.0",
        "Return a range of members in a sorted set",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
    spec!("zrangestore", -5, WRITE | DENYOOM, [1, 2, 1], zrangestore, "sorted-set", "6.2.0",
        "Store a range of members from sorted set into another key",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."),
    spec!("zrevrange", -4, READONLY, [1, 1, 1], zrevrange, "sorted-set", "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
    spec!("zrangebyscore", -4, READONLY, [1, 1, 1], zrangebyscore, "sorted-set", "1.0.5",
        "Return a range of members in a sorted set, by score",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    spec!("zrevrangebyscore", -4, READONLY, [1, 1, 1], zrevrangebyscore, "sorted-set", "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    spec!("zrangebylex", -4, READONLY, [1, 1, 1], zrangebylex, "sorted-set", "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    spec!("zrevrangebylex", -4, READONLY, [1, 1, 1], zrevrangebylex, "sorted-set", "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    spec!("zremrangebyrank", 4, WRITE, [1, 1, 1], zremrangebyrank, "sorted-set", "2.0.0",
        "Remove all members in a sorted set within the given indexes",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    spec!("zremrangebyscore", 4, WRITE, [1, 1, 1], zremrangebyscore, "sorted-set", "1.2.0",
        "Remove all members in a sorted set within the given scores",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    spec!("zremrangebylex", 4, WRITE, [1, 1, 1], zremrangebylex, "sorted-set", "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    spec!("zpopmin", -2, WRITE | FAST, [1, 1, 1], zpopmin, "sorted-set", "5.0.0",
        "Remove and return members with the lowest scores in a sorted set",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    spec!("zpopmax", -2, WRITE | FAST, [1, 1, 1], zpopmax, "sorted-set", "5.0.0",
        "Remove and return members with the highest scores in a sorted set",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    spec!("zmpop", -4, WRITE | MOVABLE_KEYS, [0, 0, 0], zmpop, "sorted-set", "7.0.0",
        "Remove and return members with scores in a sorted set",
        "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
    spec!("zunion", -3, READONLY | MOVABLE_KEYS, [0, 0, 0], zunion, "sorted-set", "6.2.0",
        "Add multiple sorted sets",
        "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    spec!("zinter", -3, READONLY | MOVABLE_KEYS, [0, 0, 0], zinter, "sorted-set", "6.2.0",
        "Intersect multiple sorted sets",
        "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    spec!("zdiff", -3, READONLY | MOVABLE_KEYS, [0, 0, 0], zdiff, "sorted-set", "6.2.0",
        "Subtract multiple sorted sets",
        "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    spec!("zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, [1, 1, 1], zunionstore, "sorted-set", "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
        "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    spec!("zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, [1, 1, 1], zinterstore, "sorted-set", "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    spec!("zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, [1, 1, 1], zdiffstore, "sorted-set", "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    spec!("zintercard", -3, READONLY | MOVABLE_KEYS, [0, 0, 0], zintercard, "sorted-set", "7.0.0",
        "Intersect multiple sorted sets and return the cardinality of the result",
        "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."),
    spec!("zrandmember", -2, READONLY, [1, 1, 1], zrandmember, "sorted-set", "6.2.0",
        "Get one or multiple random elements from a sorted set",
        "O(N) where N is the number of elements returned"),
    spec!("zscan", -3, READONLY, [1, 1, 1], zscan, "sorted-set", "2.8.0",
        "Incrementally iterate sorted sets elements and associated scores",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
];

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

fn limits(ctx: &Ctx) -> Limits {
    Limits::from_config(&ctx.state.cfg)
}

#[inline]
fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

/// One element of a range reply: `[member, score]` pairs in RESP3, flat in RESP2.
#[inline]
fn emit(out: &mut Reply, m: Elem<'_>, s: f64, withscores: bool) {
    if withscores && out.resp >= 3 {
        out.array(2);
    }
    m.reply(out);
    if withscores {
        out.double(s);
    }
}

/// The array header for `n` elements of a range reply.
#[inline]
fn header(out: &mut Reply, n: usize, withscores: bool) {
    out.array(if withscores && out.resp < 3 { 2 * n } else { n });
}

/// The "del" event of a collection that became empty and was removed.
fn notify_del(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.db_index();
    ctx.state
        .notify_keyspace_event(notify::GENERIC, "del", key, db);
}

/// Redis's `setKey` for a store command's destination: overwrites any value and clears the
/// TTL; a new key fires "new". The caller then calls `modified` (signal, event, dirty).
fn set_key(ctx: &mut Ctx, key: &[u8], value: Value) {
    let existed = ctx.lookup_write(key).is_some();
    let lru = ctx.state.lru_clock();
    ctx.db().set(key, value, false, lru);
    if !existed {
        let db = ctx.db_index();
        notify_new(ctx, db, key);
    }
}

/// A store command with an empty result deletes its destination (`dbDelete`, which does
/// not look at the expiry first).
fn delete_destination(ctx: &mut Ctx, key: &[u8]) {
    if ctx.db().remove(key).is_some() {
        ctx.modified(key, notify::GENERIC, "del");
    }
}

/// Stores a non-empty result (in (score, member) order) and replies with its size.
fn store_result(ctx: &mut Ctx, dst: &[u8], items: &[(Vec<u8>, f64)], event: &str) {
    let lim = limits(ctx);
    let max_len = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let z = ZSet::from_sorted(
        items.iter().map(|(m, s)| (Cow::Borrowed(&m[..]), *s)),
        items.len(),
        max_len,
        &lim,
    );
    set_key(ctx, dst, Value::ZSet(Box::new(z)));
    ctx.reply().int(items.len() as i64);
    ctx.modified(dst, notify::ZSET, event);
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx) {
    zadd_generic(ctx, 0);
}

fn zincrby(ctx: &mut Ctx) {
    zadd_generic(ctx, add_flags::INCR);
}

/// `zaddGenericCommand`: ZINCRBY is ZADD INCR with its arguments read the same way (so
/// `ZINCRBY key nx member` is a syntax error, as in Redis).
fn zadd_generic(ctx: &mut Ctx, mut flags: u8) {
    use add_flags::*;
    let argv = ctx.argv;
    let mut ch = false;
    let mut idx = 2;
    while idx < argv.len() {
        let o = &argv[idx][..];
        if is(o, "nx") {
            flags |= NX;
        } else if is(o, "xx") {
            flags |= XX;
        } else if is(o, "ch") {
            ch = true;
        } else if is(o, "incr") {
            flags |= INCR;
        } else if is(o, "gt") {
            flags |= GT;
        } else if is(o, "lt") {
            flags |= LT;
        } else {
            break;
        }
        idx += 1;
    }
    let (incr, nx, xx, gt, lt) = (
        flags & INCR != 0,
        flags & NX != 0,
        flags & XX != 0,
        flags & GT != 0,
        flags & LT != 0,
    );
    let rest = argv.len() - idx;
    if rest == 0 || !rest.is_multiple_of(2) {
        ctx.syntax_error();
        return;
    }
    let elements = rest / 2;
    if nx && xx {
        ctx.reply()
            .err("XX and NX options at the same time are not compatible");
        return;
    }
    if (nx && (gt || lt)) || (gt && lt) {
        ctx.reply()
            .err("GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if incr && elements > 1 {
        ctx.reply()
            .err("INCR option supports a single increment-element pair");
        return;
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        match parse_score(&argv[idx + 2 * j]) {
            Some(s) => scores.push(s),
            None => {
                ctx.reply().err("value is not a valid float");
                return;
            }
        }
    }

    let key = &argv[1][..];
    let lim = limits(ctx);
    match ctx.lookup_write(key) {
        Some(Value::ZSet(_)) => {}
        Some(_) => {
            ctx.wrongtype();
            return;
        }
        None => {
            if xx {
                if incr {
                    ctx.reply().null();
                } else {
                    ctx.reply().int(0);
                }
                return;
            }
            let z = ZSet::new_for(argv[idx + 1].len(), &lim);
            let lru = ctx.state.lru_clock();
            ctx.db().insert_new(key, Value::ZSet(Box::new(z)), 0, lru);
            let db = ctx.db_index();
            notify_new(ctx, db, key);
        }
    }
    let Some(Value::ZSet(z)) = ctx.db().get_value_mut(key) else {
        return;
    };
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut score = 0.0;
    let mut nan = false;
    for (j, &s) in scores.iter().enumerate() {
        match z.add(s, &argv[idx + 1 + 2 * j], flags, &lim) {
            AddOutcome::Nan => {
                nan = true;
                break;
            }
            AddOutcome::Nop => {}
            AddOutcome::Added(n) => {
                added += 1;
                processed += 1;
                score = n;
            }
            AddOutcome::Updated(n) => {
                updated += 1;
                processed += 1;
                score = n;
            }
            AddOutcome::Same(n) => {
                processed += 1;
                score = n;
            }
        }
    }
    if nan {
        ctx.reply().err("resulting score is not a number (NaN)");
    } else if incr {
        if processed > 0 {
            ctx.reply().double(score);
        } else {
            ctx.reply().null();
        }
    } else {
        ctx.reply()
            .int((if ch { added + updated } else { added }) as i64);
    }
    if added + updated > 0 {
        ctx.modified(key, notify::ZSET, if incr { "zincr" } else { "zadd" });
        // Redis counts one change per element; a NaN error skips the count.
        if nan {
            ctx.state.dirty -= 1;
        } else {
            ctx.state.dirty += added + updated - 1;
        }
    }
}

fn zrem(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let (deleted, emptied) = match ctx.lookup_write(key) {
        None => {
            ctx.reply().int(0);
            return;
        }
        Some(Value::ZSet(z)) => {
            let (mut n, mut emptied) = (0u64, false);
            for m in &argv[2..] {
                if z.remove(m) {
                    n += 1;
                }
                if z.is_empty() {
                    emptied = true;
                    break;
                }
            }
            (n, emptied)
        }
        Some(_) => {
            ctx.wrongtype();
            return;
        }
    };
    if emptied {
        ctx.db().remove(key);
    }
    if deleted > 0 {
        ctx.modified(key, notify::ZSET, "zrem");
        if emptied {
            notify_del(ctx, key);
        }
        ctx.state.dirty += deleted - 1;
    }
    ctx.reply().int(deleted as i64);
}

// ---------------------------------------------------------------------------------------
// ZCARD, ZSCORE, ZMSCORE, ZRANK, ZCOUNT, ZLEXCOUNT
// ---------------------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    ctx.read_with(&key, |v, out| match v {
        None => out.int(0),
        Some(Value::ZSet(z)) => out.int(z.len() as i64),
        Some(_) => out.error(WRONGTYPE),
    });
}

fn zscore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.null(),
        Some(Value::ZSet(z)) => match z.score(&argv[2]) {
            Some(s) => out.double(s),
            None => out.null(),
        },
        Some(_) => out.error(WRONGTYPE),
    });
}

fn zmscore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| {
        let z = match v {
            None => None,
            Some(Value::ZSet(z)) => Some(z),
            Some(_) => {
                out.error(WRONGTYPE);
                return;
            }
        };
        out.array(argv.len() - 2);
        for m in &argv[2..] {
            match z.and_then(|z| z.score(m)) {
                Some(s) => out.double(s),
                None => out.null(),
            }
        }
    });
}

fn zrank(ctx: &mut Ctx) {
    zrank_generic(ctx, false);
}

fn zrevrank(ctx: &mut Ctx) {
    zrank_generic(ctx, true);
}

fn zrank_generic(ctx: &mut Ctx, rev: bool) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.null(),
        Some(Value::ZSet(z)) => match z.rank(&argv[2], rev) {
            Some(r) => out.int(r as i64),
            None => out.null(),
        },
        Some(_) => out.error(WRONGTYPE),
    });
}

fn zcount(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(r) = ScoreRange::parse(&argv[2], &argv[3]) else {
        ctx.reply().err("min or max is not a float");
        return;
    };
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.int(0),
        Some(Value::ZSet(z)) => out.int(z.count_in_score(&r) as i64),
        Some(_) => out.error(WRONGTYPE),
    });
}

fn zlexcount(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(r) = LexRange::parse(&argv[2], &argv[3]) else {
        ctx.reply().err("min or max not valid string range item");
        return;
    };
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.int(0),
        Some(Value::ZSet(z)) => out.int(z.count_in_lex(&r) as i64),
        Some(_) => out.error(WRONGTYPE),
    });
}

// ---------------------------------------------------------------------------------------
// Range queries: ZRANGE and friends, ZRANGESTORE
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Debug, Clone, Copy)]
enum Spec<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// A parsed range query.
#[derive(Debug, Clone, Copy)]
struct Query<'a> {
    spec: Spec<'a>,
    rev: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
}

/// Normalizes rank bounds as Redis does: (first rank, count), or None when empty.
fn rank_span(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let llen = len as i64;
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start = start.saturating_add(llen);
    }
    if end < 0 {
        end = end.saturating_add(llen);
    }
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

/// Visits the query's result in reply order; returns how many elements it has.
fn for_each_in(z: &ZSet, q: &Query<'_>, mut f: impl FnMut(Elem<'_>, f64)) -> usize {
    let limit = if q.limit < 0 {
        usize::MAX
    } else {
        q.limit as usize
    };
    let mut n = 0;
    match q.spec {
        Spec::Rank(start, end) => {
            let Some((first, count)) = rank_span(z.len(), start, end) else {
                return 0;
            };
            for (m, s) in z.iter_from(z.by_rank(first, q.rev), q.rev).take(count) {
                f(m, s);
                n += 1;
            }
        }
        Spec::Score(r) => {
            // A negative offset walks off the end in Redis (`while (ln && offset--)`).
            if q.offset < 0 || (q.offset > 0 && q.offset as u64 >= z.len() as u64) {
                return 0;
            }
            let it = z
                .iter_from(z.first_in_score(&r, q.rev), q.rev)
                .skip(q.offset as usize)
                .take_while(|&(_, s)| if q.rev { r.gte_min(s) } else { r.lte_max(s) })
                .take(limit);
            for (m, s) in it {
                f(m, s);
                n += 1;
            }
        }
        Spec::Lex(r) => {
            if q.offset < 0 {
                return 0;
            }
            let it = z
                .iter_from(z.first_in_lex(&r, q.rev), q.rev)
                .skip(q.offset as usize)
                .take_while(|&(m, _)| {
                    let b = m.to_bytes();
                    if q.rev {
                        r.gte_min(&b)
                    } else {
                        r.lte_max(&b)
                    }
                })
                .take(limit);
            for (m, s) in it {
                f(m, s);
                n += 1;
            }
        }
    }
    n
}

/// The number of elements a query returns.
fn query_len(z: &ZSet, q: &Query<'_>) -> usize {
    match q.spec {
        Spec::Rank(start, end) => rank_span(z.len(), start, end).map_or(0, |(_, n)| n),
        _ => for_each_in(z, q, |_, _| {}),
    }
}

fn zrange(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Kind::Auto, None);
}

fn zrangestore(ctx: &mut Ctx) {
    zrange_generic(ctx, 2, true, Kind::Auto, None);
}

fn zrevrange(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Kind::Rank, Some(true));
}

fn zrangebyscore(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Kind::Score, Some(false));
}

fn zrevrangebyscore(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Kind::Score, Some(true));
}

fn zrangebylex(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Kind::Lex, Some(false));
}

fn zrevrangebylex(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, false, Kind::Lex, Some(true));
}

/// `zrangeGenericCommand`: `start` is the index of the source key; `rev` None means the
/// direction may be chosen with REV, `kind` Auto that BYSCORE/BYLEX may choose the kind.
fn zrange_generic(ctx: &mut Ctx, start: usize, store: bool, mut kind: Kind, mut rev: Option<bool>) {
    let argv = ctx.argv;
    let (mut minidx, mut maxidx) = (start + 1, start + 2);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = start + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j][..];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            let Some(o) = ctx.int_arg(j + 1) else { return };
            let Some(l) = ctx.int_arg(j + 2) else { return };
            offset = o;
            limit = l;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if kind == Kind::Auto && is(a, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && is(a, "byscore") {
            kind = Kind::Score;
        } else {
            ctx.syntax_error();
            return;
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        ctx.reply().err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return;
    }
    if withscores && kind == Kind::Lex {
        ctx.reply()
            .err("syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let spec = match kind {
        Kind::Score => match ScoreRange::parse(&argv[minidx], &argv[maxidx]) {
            Some(r) => Spec::Score(r),
            None => {
                ctx.reply().err("min or max is not a float");
                return;
            }
        },
        Kind::Lex => match LexRange::parse(&argv[minidx], &argv[maxidx]) {
            Some(r) => Spec::Lex(r),
            None => {
                ctx.reply().err("min or max not valid string range item");
                return;
            }
        },
        _ => {
            let Some(a) = ctx.int_arg(minidx) else { return };
            let Some(b) = ctx.int_arg(maxidx) else { return };
            Spec::Rank(a, b)
        }
    };
    let q = Query {
        spec,
        rev,
        offset,
        limit,
    };
    let key = &argv[start][..];

    if !store {
        ctx.read_with(key, |v, out| match v {
            None => out.array(0),
            Some(Value::ZSet(z)) => {
                header(out, query_len(z, &q), withscores);
                for_each_in(z, &q, |m, s| emit(out, m, s, withscores));
            }
            Some(_) => out.error(WRONGTYPE),
        });
        return;
    }

    let found = ctx.read_with(key, |v, _| match v {
        None => Ok(Vec::new()),
        Some(Value::ZSet(z)) => {
            let mut items = Vec::new();
            for_each_in(z, &q, |m, s| items.push((m.to_bytes().into_owned(), s)));
            Ok(items)
        }
        Some(_) => Err(()),
    });
    let Ok(items) = found else {
        ctx.wrongtype();
        return;
    };
    let dst = &argv[1][..];
    if items.is_empty() {
        ctx.reply().int(0);
        delete_destination(ctx, dst);
        return;
    }
    // Built the way Redis builds it (`zrangeResultBeginStore` + `zsetAdd` per element): a
    // listpack unless a rank range is known to be too long, converted when it outgrows
    // the limits. Observable: a -0 score that went through the listpack reads back as 0.
    let lim = limits(ctx);
    let mut z = match q.spec {
        Spec::Rank(..) if items.len() > lim.entries => ZSet::new_skiplist(),
        _ => ZSet::new_listpack(),
    };
    for (m, s) in &items {
        z.add(*s, m, 0, &lim);
    }
    let n = z.len();
    set_key(ctx, dst, Value::ZSet(Box::new(z)));
    ctx.reply().int(n as i64);
    ctx.modified(dst, notify::ZSET, "zrangestore");
}

// ---------------------------------------------------------------------------------------
// ZREMRANGEBYRANK / BYSCORE / BYLEX
// ---------------------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx) {
    zremrange_generic(ctx, Kind::Rank);
}

fn zremrangebyscore(ctx: &mut Ctx) {
    zremrange_generic(ctx, Kind::Score);
}

fn zremrangebylex(ctx: &mut Ctx) {
    zremrange_generic(ctx, Kind::Lex);
}

fn zremrange_generic(ctx: &mut Ctx, kind: Kind) {
    let argv = ctx.argv;
    let (spec, event) = match kind {
        Kind::Score => match ScoreRange::parse(&argv[2], &argv[3]) {
            Some(r) => (Spec::Score(r), "zremrangebyscore"),
            None => {
                ctx.reply().err("min or max is not a float");
                return;
            }
        },
        Kind::Lex => match LexRange::parse(&argv[2], &argv[3]) {
            Some(r) => (Spec::Lex(r), "zremrangebylex"),
            None => {
                ctx.reply().err("min or max not valid string range item");
                return;
            }
        },
        _ => {
            let Some(a) = ctx.int_arg(2) else { return };
            let Some(b) = ctx.int_arg(3) else { return };
            (Spec::Rank(a, b), "zremrangebyrank")
        }
    };
    let key = &argv[1][..];
    let (deleted, emptied) = match ctx.lookup_write(key) {
        None => {
            ctx.reply().int(0);
            return;
        }
        Some(Value::ZSet(z)) => {
            let n = match spec {
                Spec::Rank(a, b) => match rank_span(z.len(), a, b) {
                    Some((first, count)) => z.remove_rank_range(first, first + count - 1),
                    None => 0,
                },
                Spec::Score(r) => z.remove_score_range(&r),
                Spec::Lex(r) => z.remove_lex_range(&r),
            };
            (n as u64, z.is_empty())
        }
        Some(_) => {
            ctx.wrongtype();
            return;
        }
    };
    if emptied {
        ctx.db().remove(key);
    }
    if deleted > 0 {
        ctx.modified(key, notify::ZSET, event);
        if emptied {
            notify_del(ctx, key);
        }
        ctx.state.dirty += deleted - 1;
    }
    ctx.reply().int(deleted as i64);
}

// ---------------------------------------------------------------------------------------
// Pops: ZPOPMIN, ZPOPMAX, ZMPOP (and the routine BZPOPMIN/BZPOPMAX/BZMPOP reuse)
// ---------------------------------------------------------------------------------------

/// How to pop and reply (the parameters of Redis's `genericZpopCommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZPop {
    /// Pop the highest scores (ZPOPMAX) instead of the lowest.
    pub max: bool,
    /// How many; `None` is "no count given" (one element, and no count when propagated).
    pub count: Option<usize>,
    /// Reply with the key first (ZMPOP, BZPOPMIN, BZMPOP).
    pub emit_key: bool,
    /// Reply each element as a [member, score] array (ZMPOP, BZMPOP, RESP3 ZPOPMIN count).
    pub nested: bool,
    /// Propagate as `ZPOPMIN|ZPOPMAX key [count]` instead of the command's own argv
    /// (ZMPOP and the blocking variants). The count is the number actually popped.
    pub propagate: bool,
}

/// Pops from the first of `keys` that holds a sorted set, replying as Redis does; a key of
/// another type is WRONGTYPE; with none, a null array (`nil_when_empty`) or an empty one.
pub fn generic_zpop(ctx: &mut Ctx, keys: &[Bytes], opts: ZPop, nil_when_empty: bool) {
    for key in keys {
        match ctx.lookup_write(key) {
            None => continue,
            Some(Value::ZSet(_)) => {
                zpop_key(ctx, key, opts);
                return;
            }
            Some(_) => {
                ctx.wrongtype();
                return;
            }
        }
    }
    if nil_when_empty {
        ctx.reply().null_array();
    } else {
        ctx.reply().array(0);
    }
}

/// Pops from the sorted set at `key` and does everything Redis's `genericZpopCommand`
/// does for one key: the reply (shape per `opts`), the "zpopmin"/"zpopmax" event and key
/// signal, one `dirty` per element, deleting an emptied key ("del"), and, with
/// `opts.propagate`, the `ZPOPMIN|ZPOPMAX key [count]` stream entry.
///
/// Meant to be called once the caller knows `key` holds a non-empty sorted set (BZPOPMIN
/// serving a blocked client, ZMPOP after its lookup); a missing key replies like an empty
/// result and another type replies WRONGTYPE.
pub fn zpop_key(ctx: &mut Ctx, key: &[u8], opts: ZPop) {
    if opts.count == Some(0) {
        ctx.reply().array(0);
        return;
    }
    let want = opts.count.unwrap_or(1);
    let (popped, emptied) = match ctx.lookup_write(key) {
        Some(Value::ZSet(z)) => {
            let p = z.pop(want, opts.max);
            (p, z.is_empty())
        }
        Some(_) => {
            ctx.wrongtype();
            return;
        }
        None => {
            if opts.emit_key {
                ctx.reply().null_array();
            } else {
                ctx.reply().array(0);
            }
            return;
        }
    };
    let out = ctx.reply();
    let n = popped.len();
    match (opts.nested, opts.emit_key) {
        (false, false) => out.array(n * 2),
        (true, false) => out.array(n),
        (false, true) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for (m, s) in &popped {
        if opts.nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    if n > 0 {
        let event = if opts.max { "zpopmax" } else { "zpopmin" };
        ctx.modified(key, notify::ZSET, event);
        ctx.state.dirty += n as u64 - 1;
    }
    if emptied {
        ctx.db().remove(key);
        notify_del(ctx, key);
    }
    if opts.propagate {
        let name: &'static [u8] = if opts.max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        let mut argv = vec![Bytes::from_static(name), Bytes::copy_from_slice(key)];
        if opts.count.is_some() {
            argv.push(Bytes::from(itoa::Buffer::new().format(n).to_owned()));
        }
        ctx.propagate(&argv);
    }
}

fn zpopmin(ctx: &mut Ctx) {
    zpop_minmax(ctx, false);
}

fn zpopmax(ctx: &mut Ctx) {
    zpop_minmax(ctx, true);
}

fn zpop_minmax(ctx: &mut Ctx, max: bool) {
    let argv = ctx.argv;
    if argv.len() > 3 {
        ctx.syntax_error();
        return;
    }
    let mut count = None;
    if argv.len() == 3 {
        match parse_i64(&argv[2]) {
            Some(n) if n >= 0 => count = Some(n as usize),
            _ => {
                ctx.reply().err("value is out of range, must be positive");
                return;
            }
        }
    }
    let nested = ctx.client.out.resp >= 3 && count.is_some();
    let opts = ZPop {
        max,
        count,
        emit_key: false,
        nested,
        propagate: false,
    };
    generic_zpop(ctx, &argv[1..2], opts, false);
}

/// The parsed arguments of ZMPOP / BZMPOP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpopArgs {
    /// The keys' argv indexes.
    pub keys: Range<usize>,
    pub max: bool,
    pub count: usize,
}

/// Parses `numkeys key... MIN|MAX [COUNT count]` starting at `numkeys_idx` (1 for ZMPOP,
/// 2 for BZMPOP), replying Redis's errors on failure (`zmpopGenericCommand`).
pub fn parse_mpop_args(ctx: &mut Ctx, numkeys_idx: usize) -> Option<MpopArgs> {
    let argv = ctx.argv;
    let numkeys = match parse_i64(&argv[numkeys_idx]) {
        Some(n) if n >= 1 => n as u64,
        _ => {
            ctx.reply().err("numkeys should be greater than 0");
            return None;
        }
    };
    let where_idx = (numkeys_idx as u64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= argv.len() as u64 {
        ctx.syntax_error();
        return None;
    }
    let where_idx = where_idx as usize;
    let max = if is(&argv[where_idx], "min") {
        false
    } else if is(&argv[where_idx], "max") {
        true
    } else {
        ctx.syntax_error();
        return None;
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && is(&argv[j], "count") && more > 0 {
            j += 1;
            match parse_i64(&argv[j]) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => {
                    ctx.reply().err("count should be greater than 0");
                    return None;
                }
            }
        } else {
            ctx.syntax_error();
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        keys: numkeys_idx + 1..where_idx,
        max,
        count: count.unwrap_or(1),
    })
}

fn zmpop(ctx: &mut Ctx) {
    let Some(a) = parse_mpop_args(ctx, 1) else {
        return;
    };
    let opts = ZPop {
        max: a.max,
        count: Some(a.count),
        emit_key: true,
        nested: true,
        propagate: true,
    };
    let argv = ctx.argv;
    generic_zpop(ctx, &argv[a.keys], opts, true);
}

// ---------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`.
#[inline]
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            // inf + -inf: Redis makes it 0 rather than storing a NaN.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if val < *target { val } else { *target },
        Aggregate::Max => *target = if val > *target { val } else { *target },
    }
}

/// An input of the set algebra: sets count as sorted sets with every score 1.
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a Set),
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn elems(&self) -> Vec<(Elem<'a>, f64)> {
        match *self {
            Src::Missing => Vec::new(),
            Src::Z(z) => z.iter().collect(),
            Src::S(s) => s.iter().map(|e| (e, 1.0)).collect(),
        }
    }

    fn find(&self, m: Elem<'_>) -> Option<f64> {
        match *self {
            Src::Missing => None,
            Src::Z(z) => z.score(&m.to_bytes()),
            Src::S(s) => s.contains_elem(m).then_some(1.0),
        }
    }
}

fn zunion(ctx: &mut Ctx) {
    zset_op(ctx, None, 1, SetOp::Union, false);
}

fn zinter(ctx: &mut Ctx) {
    zset_op(ctx, None, 1, SetOp::Inter, false);
}

fn zdiff(ctx: &mut Ctx) {
    zset_op(ctx, None, 1, SetOp::Diff, false);
}

fn zunionstore(ctx: &mut Ctx) {
    zset_op(ctx, Some(1), 2, SetOp::Union, false);
}

fn zinterstore(ctx: &mut Ctx) {
    zset_op(ctx, Some(1), 2, SetOp::Inter, false);
}

fn zdiffstore(ctx: &mut Ctx) {
    zset_op(ctx, Some(1), 2, SetOp::Diff, false);
}

fn zintercard(ctx: &mut Ctx) {
    zset_op(ctx, None, 1, SetOp::Inter, true);
}

/// `zunionInterDiffGenericCommand`.
fn zset_op(ctx: &mut Ctx, dst: Option<usize>, numkeys_idx: usize, op: SetOp, card_only: bool) {
    let argv = ctx.argv;
    let Some(setnum) = ctx.int_arg(numkeys_idx) else {
        return;
    };
    if setnum < 1 {
        let msg = format!(
            "at least 1 input key is needed for '{}' command",
            ctx.spec.full_name
        );
        ctx.reply().err(&msg);
        return;
    }
    if setnum > (argv.len() - (numkeys_idx + 1)) as i64 {
        ctx.syntax_error();
        return;
    }
    let setnum = setnum as usize;
    let keys = &argv[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    let mut present = Vec::with_capacity(setnum);
    for k in keys {
        match ctx.lookup_read(k) {
            None => present.push(false),
            Some(Value::ZSet(_)) | Some(Value::Set(_)) => present.push(true),
            Some(_) => {
                ctx.wrongtype();
                return;
            }
        }
    }

    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = &argv[j][..];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse_score(&argv[j]) {
                    Some(v) => *w = v,
                    None => {
                        ctx.reply().err("weight value is not a float");
                        return;
                    }
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(a, "aggregate") {
            let v = &argv[j + 1][..];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                ctx.syntax_error();
                return;
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            match parse_i64(&argv[j + 1]) {
                Some(n) if n >= 0 => limit = n as u64,
                _ => {
                    ctx.reply().err("LIMIT can't be negative");
                    return;
                }
            }
            j += 2;
        } else {
            ctx.syntax_error();
            return;
        }
    }

    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut card: u64 = 0;
    {
        let db = &ctx.state.dbs[ctx.client.db];
        let mut srcs: Vec<(Src<'_>, f64)> = keys
            .iter()
            .zip(&present)
            .zip(&weights)
            .map(|((k, &here), &w)| {
                let src = match (here, db.get(k).map(|e| &e.value)) {
                    (true, Some(Value::ZSet(z))) => Src::Z(z),
                    (true, Some(Value::Set(s))) => Src::S(s),
                    _ => Src::Missing,
                };
                (src, w)
            })
            .collect();
        if op != SetOp::Diff {
            // Stable, like the merge sort behind glibc's qsort: equal sizes keep key order,
            // which fixes the order scores are aggregated in.
            srcs.sort_by_key(|(s, _)| s.len());
        }
        let (first, rest) = srcs
            .split_first()
            .map_or((None, &[][..]), |(f, r)| (Some(f), r));
        match op {
            SetOp::Inter => {
                if let Some((src0, w0)) = first {
                    for (m, s) in src0.elems() {
                        let mut score = w0 * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        let mut all = true;
                        for (src, w) in rest {
                            match src.find(m) {
                                Some(v) => aggregate(&mut score, v * w, agg),
                                None => {
                                    all = false;
                                    break;
                                }
                            }
                        }
                        if !all {
                            continue;
                        }
                        if card_only {
                            card += 1;
                            if limit > 0 && card >= limit {
                                break;
                            }
                        } else {
                            result.push((m.to_bytes().into_owned(), score));
                        }
                    }
                }
            }
            SetOp::Union => {
                let mut acc: HashMap<Vec<u8>, f64, ahash::RandomState> = HashMap::default();
                for (src, w) in &srcs {
                    for (m, s) in src.elems() {
                        let mut score = w * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        let b = m.to_bytes();
                        match acc.get_mut(&*b) {
                            Some(t) => aggregate(t, score, agg),
                            None => {
                                acc.insert(b.into_owned(), score);
                            }
                        }
                    }
                }
                result = acc.into_iter().collect();
            }
            SetOp::Diff => {
                if let Some((src0, _)) = first {
                    for (m, s) in src0.elems() {
                        if !rest.iter().any(|(src, _)| src.find(m).is_some()) {
                            result.push((m.to_bytes().into_owned(), s));
                        }
                    }
                }
            }
        }
    }
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });

    if let Some(di) = dst {
        let dst = &argv[di][..];
        if result.is_empty() {
            ctx.reply().int(0);
            delete_destination(ctx, dst);
        } else {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, dst, &result, event);
        }
    } else if card_only {
        ctx.reply().int(card as i64);
    } else {
        let out = ctx.reply();
        header(out, result.len(), withscores);
        for (m, s) in &result {
            emit(out, Elem::Bytes(m), *s, withscores);
        }
    }
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() >= 3 {
        let Some(l) = ctx.int_arg(2) else { return };
        let mut withscores = false;
        if argv.len() > 4 || (argv.len() == 4 && !is(&argv[3], "withscores")) {
            ctx.syntax_error();
            return;
        } else if argv.len() == 4 {
            withscores = true;
            if !(i64::MIN / 2..=i64::MAX / 2).contains(&l) {
                ctx.reply().err("value is out of range");
                return;
            }
        }
        zrandmember_count(ctx, l, withscores);
        return;
    }
    let key = &argv[1][..];
    match ctx.lookup_read(key) {
        None => {
            ctx.reply().null();
            return;
        }
        Some(Value::ZSet(_)) => {}
        Some(_) => {
            ctx.wrongtype();
            return;
        }
    }
    let dbi = ctx.client.db;
    let state = &mut *ctx.state;
    if let Some(Value::ZSet(z)) = state.dbs[dbi].get(key).map(|e| &e.value) {
        if let Some((m, _)) = z.random(&mut state.rng) {
            m.reply(&mut ctx.client.out);
        }
    }
}

/// `zrandmemberWithCountCommand`.
fn zrandmember_count(ctx: &mut Ctx, l: i64, withscores: bool) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    match ctx.lookup_read(key) {
        None => {
            ctx.reply().array(0);
            return;
        }
        Some(Value::ZSet(_)) => {}
        Some(_) => {
            ctx.wrongtype();
            return;
        }
    }
    let dbi = ctx.client.db;
    let state = &mut *ctx.state;
    let Some(Value::ZSet(z)) = state.dbs[dbi].get(key).map(|e| &e.value) else {
        return;
    };
    let rng = &mut state.rng;
    let out = &mut ctx.client.out;
    let size = z.len();
    let (count, uniq) = (l.unsigned_abs(), l >= 0);
    if count == 0 {
        out.array(0);
        return;
    }
    // Repetitions allowed (or a single element): independent draws.
    if !uniq || count == 1 {
        out.array(if withscores && out.resp < 3 {
            (count * 2) as usize
        } else {
            count as usize
        });
        for _ in 0..count {
            if let Some((m, s)) = z.random(rng) {
                emit(out, m, s, withscores);
            }
        }
        return;
    }
    // The whole set, walked from the top as Redis's zset iterator does.
    if count >= size as u64 {
        header(out, size, withscores);
        for (m, s) in z.iter_rev() {
            emit(out, m, s, withscores);
        }
        return;
    }
    let count = count as usize;
    header(out, count, withscores);
    if count * 3 > size {
        // Most of the set: drop random elements until `count` remain.
        let mut ranks: Vec<usize> = (0..size).collect();
        while ranks.len() > count {
            let i = rng.gen_range(0..ranks.len());
            ranks.swap_remove(i);
        }
        for r in ranks {
            if let Some(p) = z.by_rank(r, false) {
                let (m, s) = z.entry(p);
                emit(out, m, s, withscores);
            }
        }
    } else {
        // Few: draw until `count` distinct ones were seen.
        let mut seen = HashSet::with_capacity(count);
        while seen.len() < count {
            let r = rng.gen_range(0..size);
            if seen.insert(r) {
                if let Some(p) = z.by_rank(r, false) {
                    let (m, s) = z.entry(p);
                    emit(out, m, s, withscores);
                }
            }
        }
    }
}

fn zscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some((cursor, opts)) = scan::collection_args(ctx, |v| matches!(v, Value::ZSet(_))) else {
        return;
    };
    let Some(Value::ZSet(z)) = ctx.db().get(&argv[1]).map(|e| &e.value) else {
        return;
    };
    // The skiplist's own walk applies the COUNT bound (see `ZSet::scan`).
    let mut items: Vec<Vec<u8>> = Vec::new();
    let next = z.scan(cursor, opts.count, |m, s| {
        let m = m.to_bytes();
        if opts.matches(&m) {
            items.push(m.into_owned());
            items.push(s.to_vec());
        }
    });
    scan::reply(ctx.reply(), next, &items);
}

#[cfg(test)]
mod tests {
    use crate::executor::test_support::{resp, run, setup};

    use super::*;

    /// Runs commands through the executor; returns the propagated stream.
    fn stream(cmds: &[&[&str]]) -> String {
        let (mut exec, c) = setup();
        run(&mut exec, c, cmds).1
    }

    #[test]
    fn propagation() {
        let s = stream(&[
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["ZADD", "z", "1", "a"],
            &["ZINCRBY", "z", "1", "a"],
            &["ZREM", "z", "nope"],
            &["ZRANGESTORE", "d", "nokey", "0", "-1"],
            &["ZMPOP", "2", "nokey", "z", "MIN", "COUNT", "2"],
            &["ZPOPMAX", "z", "5"],
            &["ZMPOP", "1", "z", "MAX"],
        ]);
        let expect = [
            resp(&["SELECT", "0"]),
            resp(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
            resp(&["ZINCRBY", "z", "1", "a"]),
            resp(&["ZPOPMIN", "z", "2"]),
            resp(&["ZPOPMAX", "z", "5"]),
        ]
        .concat();
        assert_eq!(s, expect);
    }

    #[test]
    fn pop_helpers_for_blocking() {
        let s = stream(&[
            &["ZADD", "z", "1", "a", "2", "b"],
            &["ZMPOP", "1", "z", "MAX", "COUNT", "10"],
        ]);
        assert!(s.ends_with(&resp(&["ZPOPMAX", "z", "2"])), "{s}");
    }

    #[test]
    fn rank_spans_like_redis() {
        assert_eq!(rank_span(5, 0, -1), Some((0, 5)));
        assert_eq!(rank_span(5, -2, -1), Some((3, 2)));
        assert_eq!(rank_span(5, -100, 100), Some((0, 5)));
        assert_eq!(rank_span(5, 3, 1), None);
        assert_eq!(rank_span(5, 5, 10), None);
        assert_eq!(rank_span(0, 0, -1), None);
        assert_eq!(rank_span(5, i64::MIN, i64::MAX), Some((0, 5)));
    }

    #[test]
    fn aggregate_like_redis() {
        let mut t = f64::INFINITY;
        aggregate(&mut t, f64::NEG_INFINITY, Aggregate::Sum);
        assert_eq!(t, 0.0);
        let mut t = 1.0;
        aggregate(&mut t, f64::NAN, Aggregate::Min);
        assert_eq!(t, 1.0);
        aggregate(&mut t, 0.5, Aggregate::Min);
        assert_eq!(t, 0.5);
        aggregate(&mut t, 3.0, Aggregate::Max);
        assert_eq!(t, 3.0);
    }
}
