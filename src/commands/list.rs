//! List commands and the blocking pops: LPUSH ... LMPOP, BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/
//! BLMPOP, and the sorted-set blocking pops BZPOPMIN/BZPOPMAX/BZMPOP (which share the
//! blocking machinery in `executor::blocking` and pop through `zset::zpop_key`).
//!
//! Behaviour follows Redis 7.0's `t_list.c` step for step, because the order of checks is
//! visible through which error wins: LRANGE parses its indexes before looking the key up
//! while LINDEX looks the key up first; LPOP validates its count before the key; BLMPOP
//! parses numkeys, direction and COUNT before the timeout; and so on.
//!
//! What is propagated is deterministic: a popping BLPOP/BRPOP goes out as LPOP/RPOP, LMPOP
//! and BLMPOP as LPOP/RPOP with the number of elements actually popped, BLMOVE/BRPOPLPUSH as
//! LMOVE/RPOPLPUSH; an LTRIM that removes nothing is not propagated (it adds nothing to
//! `dirty`), exactly as in Redis. Writes bump `dirty` by the number of elements changed.

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::zset::{parse_mpop_args, zpop_key, ZPop};
use crate::commands::{spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::list::{End, List, Needle};
use crate::db::Value;
use crate::executor::blocking::{self, BlockOp, ListWait, ZSetWait};
use crate::executor::state::notify;
use crate::protocol::Reply;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    spec!("lpush", -3, WRITE | DENYOOM | FAST, [1, 1, 1], lpush, "list", "1.0.0",
        "Prepend one or multiple elements to a list", ""),
    spec!("rpush", -3, WRITE | DENYOOM | FAST, [1, 1, 1], rpush, "list", "1.0.0",
        "Append one or multiple elements to a list", ""),
    spec!("lpushx", -3, WRITE | DENYOOM | FAST, [1, 1, 1], lpushx, "list", "2.2.0",
        "Prepend an element to a list, only if the list exists", ""),
    spec!("rpushx", -3, WRITE | DENYOOM | FAST, [1, 1, 1], rpushx, "list", "2.2.0",
        "Append an element to a list, only if the list exists", ""),
    spec!("lpop", -2, WRITE | FAST, [1, 1, 1], lpop, "list", "1.0.0",
        "Remove and get the first elements in a list", ""),
    spec!("rpop", -2, WRITE | FAST, [1, 1, 1], rpop, "list", "1.0.0",
        "Remove and get the last elements in a list", ""),
    spec!("llen", 2, READONLY | FAST, [1, 1, 1], llen, "list", "1.0.0",
        "Get the length of a list", ""),
    spec!("lrange", 4, READONLY, [1, 1, 1], lrange, "list", "1.0.0",
        "Get a range of elements from a list", ""),
    spec!("lindex", 3, READONLY, [1, 1, 1], lindex, "list", "1.0.0",
        "Get an element from a list by its index", ""),
    spec!("lset", 4, WRITE | DENYOOM, [1, 1, 1], lset, "list", "1.0.0",
        "Set the value of an element in a list by its index", ""),
    spec!("linsert", 5, WRITE | DENYOOM, [1, 1, 1], linsert, "list", "2.2.0",
        "Insert an element before or after another element in a list", ""),
    spec!("lrem", 4, WRITE, [1, 1, 1], lrem, "list", "1.0.0",
        "Remove elements from a list", ""),
    spec!("ltrim", 4, WRITE, [1, 1, 1], ltrim, "list", "1.0.0",
        "Trim a list to the specified range", ""),
    spec!("lpos", -3, READONLY, [1, 1, 1], lpos, "list", "6.0.6",
        "Return the index of matching elements on a list", ""),
    spec!("lmove", 5, WRITE | DENYOOM, [1, 2, 1], lmove, "list", "6.2.0",
        "Pop an element from a list, push it to another list and return it", ""),
    spec!("rpoplpush", 3, WRITE | DENYOOM, [1, 2, 1], rpoplpush, "list", "1.2.0",
        "Remove the last element in a list, prepend it to another list and return it", ""),
    spec!("lmpop", -4, WRITE | MOVABLE_KEYS, [0, 0, 0], lmpop, "list", "7.0.0",
        "Pop elements from a list", ""),
    spec!("blpop", -3, WRITE | NOSCRIPT | BLOCKING, [1, -2, 1], blpop, "list", "2.0.0",
        "Remove and get the first element in a list, or block until one is available", ""),
    spec!("brpop", -3, WRITE | NOSCRIPT | BLOCKING, [1, -2, 1], brpop, "list", "2.0.0",
        "Remove and get the last element in a list, or block until one is available", ""),
    spec!("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, [1, 2, 1], blmove, "list",
        "6.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
        ""),
    spec!("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, [1, 2, 1], brpoplpush,
        "list", "2.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
        ""),
    spec!("blmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, [0, 0, 0], blmpop, "list", "7.0.0",
        "Pop elements from a list, or block until one is available", ""),
    spec!("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, [1, -2, 1], bzpopmin,
        "sorted-set", "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
        ""),
    spec!("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, [1, -2, 1], bzpopmax,
        "sorted-set", "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
        ""),
    spec!("bzmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, [0, 0, 0], bzmpop, "sorted-set",
        "7.0.0",
        "Remove and return members with scores in a sorted set or block until one is available",
        ""),
];

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

const OUT_OF_RANGE_POSITIVE: &str = "value is out of range, must be positive";
const NOT_AN_INTEGER: &str = "value is not an integer or out of range";

/// Lazy expiry and LRU touch for a key about to be written (Redis's `lookupKeyWrite`);
/// returns whether the key exists.
fn touch_for_write(ctx: &mut Ctx, key: &[u8]) -> bool {
    if !ctx.expire_if_needed(key) {
        return false;
    }
    let clock = ctx.state.lru_clock();
    let db = ctx.client.db;
    ctx.state.dbs[db].touch_lru(key, clock);
    true
}

/// The list at `key` in the client's db: Ok(None) when missing, Err(()) for another type.
/// Borrows only the state, so replies can be written to `ctx.client.out` meanwhile.
fn list_in<'s>(
    state: &'s mut crate::executor::state::State,
    db: usize,
    key: &[u8],
) -> Result<Option<&'s mut List>, ()> {
    match state.dbs[db].get_value_mut(key) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(()),
    }
}

fn fill(ctx: &Ctx) -> i32 {
    ctx.state.cfg.list_max_listpack_size
}

fn event_of(end: End, push: bool) -> &'static str {
    match (end, push) {
        (End::Head, true) => "lpush",
        (End::Tail, true) => "rpush",
        (End::Head, false) => "lpop",
        (End::Tail, false) => "rpop",
    }
}

/// Deletes the list at `key` if it became empty (Redis deletes empty collections and
/// fires "del"); returns whether it did.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) -> bool {
    let db = ctx.client.db;
    let empty = ctx.state.dbs[db].remove_if_empty(key);
    if empty {
        ctx.state
            .notify_keyspace_event(notify::GENERIC, "del", key, db);
    }
    empty
}

/// Redis's `listElementsRemoved`: the pop event, deletion of an emptied list, the signal
/// and `dirty`.
fn elements_removed(ctx: &mut Ctx, key: &[u8], end: End, count: usize) {
    let db = ctx.client.db;
    ctx.state
        .notify_keyspace_event(notify::LIST, event_of(end, false), key, db);
    delete_if_empty(ctx, key);
    ctx.state.signal_modified_key(db, key);
    ctx.state.dirty += count as u64;
}

/// Parses LEFT/RIGHT (`getListPositionFromObjectOrReply`).
fn end_arg(ctx: &mut Ctx, i: usize) -> Option<End> {
    let a = &ctx.argv[i];
    if a.eq_ignore_ascii_case(b"right") {
        Some(End::Tail)
    } else if a.eq_ignore_ascii_case(b"left") {
        Some(End::Head)
    } else {
        ctx.syntax_error();
        None
    }
}

/// Redis's `getRangeLongFromObjectOrReply(min..=max)` with one message for both a
/// non-integer and an out-of-range value.
fn range_arg(ctx: &mut Ctx, i: usize, min: i64, msg: &str) -> Option<i64> {
    match parse_i64(&ctx.argv[i]) {
        Some(n) if n >= min => Some(n),
        _ => {
            ctx.reply().err(msg);
            None
        }
    }
}

/// Redis's `addListRangeReply`: elements `start..=end` (negative indexes count from the
/// tail, the range is clamped), tail to head when `reverse`.
fn range_reply(out: &mut Reply, l: &List, start: i64, end: i64, reverse: bool) {
    let llen = l.len() as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        out.array(0);
        return;
    }
    if end >= llen {
        end = llen - 1;
    }
    let n = (end - start + 1) as usize;
    out.array(n);
    if reverse {
        let skip = (llen - 1 - end) as usize;
        for e in l.iter().rev().skip(skip).take(n) {
            e.reply(out);
        }
    } else {
        for e in l.iter_from(start as usize).take(n) {
            e.reply(out);
        }
    }
}

/// Pops up to `count` elements from one end, replying `[key, [elements]]` (Redis's
/// `listPopRangeAndReplyWithKey`); returns how many were popped. The key must hold a
/// non-empty list.
fn pop_range_with_key(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> usize {
    let db = ctx.client.db;
    let out = &mut ctx.client.out;
    let Ok(Some(l)) = list_in(ctx.state, db, key) else {
        return 0;
    };
    let n = count.min(l.len());
    out.array(2);
    out.bulk(key);
    pop_range(out, l, end, n);
    elements_removed(ctx, key, end, n);
    n
}

/// Replies the `n` elements at one end (head first, or tail first) and removes them.
fn pop_range(out: &mut Reply, l: &mut List, end: End, n: usize) {
    match end {
        End::Head => {
            range_reply(out, l, 0, n as i64 - 1, false);
            l.delete_range(0, n);
        }
        End::Tail => {
            range_reply(out, l, -(n as i64), -1, true);
            l.delete_range(l.len() - n, n);
        }
    }
}

/// Propagates `LPOP|RPOP key [count]`.
fn propagate_pop(ctx: &mut Ctx, key: &[u8], end: End, count: Option<usize>) {
    let cmd = Bytes::from_static(match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    });
    let key = Bytes::copy_from_slice(key);
    match count {
        None => ctx.propagate(&[cmd, key]),
        Some(n) => {
            let n = Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes());
            ctx.propagate(&[cmd, key, n]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// LPUSH, RPUSH, LPUSHX, RPUSHX
// ---------------------------------------------------------------------------------------

fn lpush(ctx: &mut Ctx) {
    push_generic(ctx, End::Head, false);
}

fn rpush(ctx: &mut Ctx) {
    push_generic(ctx, End::Tail, false);
}

fn lpushx(ctx: &mut Ctx) {
    push_generic(ctx, End::Head, true);
}

fn rpushx(ctx: &mut Ctx) {
    push_generic(ctx, End::Tail, true);
}

fn push_generic(ctx: &mut Ctx, end: End, only_existing: bool) {
    let argv = ctx.argv;
    let key = &argv[1];
    let db = ctx.client.db;
    let exists = touch_for_write(ctx, key);
    let len = if exists {
        match list_in(ctx.state, db, key) {
            Ok(Some(l)) => {
                for e in &argv[2..] {
                    l.push(e, end);
                }
                l.len()
            }
            _ => {
                ctx.wrongtype();
                return;
            }
        }
    } else {
        if only_existing {
            ctx.reply().int(0);
            return;
        }
        let mut l = List::new(fill(ctx));
        for e in &argv[2..] {
            l.push(e, end);
        }
        let len = l.len();
        let clock = ctx.state.lru_clock();
        ctx.state.dbs[db].set(key, Value::List(Box::new(l)), false, clock);
        notify_new(ctx, db, key);
        len
    };
    ctx.state.dirty += (argv.len() - 2) as u64;
    ctx.reply().int(len as i64);
    ctx.state.signal_modified_key(db, key);
    ctx.state
        .notify_keyspace_event(notify::LIST, event_of(end, true), key, db);
}

// ---------------------------------------------------------------------------------------
// LPOP, RPOP
// ---------------------------------------------------------------------------------------

fn lpop(ctx: &mut Ctx) {
    pop_generic(ctx, End::Head);
}

fn rpop(ctx: &mut Ctx) {
    pop_generic(ctx, End::Tail);
}

fn pop_generic(ctx: &mut Ctx, end: End) {
    let argv = ctx.argv;
    if argv.len() > 3 {
        let name = ctx.spec.full_name;
        ctx.reply()
            .err(&format!("wrong number of arguments for '{name}' command"));
        return;
    }
    let count = if argv.len() == 3 {
        match range_arg(ctx, 2, 0, OUT_OF_RANGE_POSITIVE) {
            Some(n) => Some(n as usize),
            None => return,
        }
    } else {
        None
    };
    let key = &argv[1];
    let db = ctx.client.db;
    if !touch_for_write(ctx, key) {
        if count.is_some() {
            ctx.reply().null_array();
        } else {
            ctx.reply().null();
        }
        return;
    }
    let out = &mut ctx.client.out;
    let l = match list_in(ctx.state, db, key) {
        Ok(Some(l)) => l,
        Ok(None) => {
            out.null();
            return;
        }
        Err(()) => {
            out.error(WRONGTYPE);
            return;
        }
    };
    match count {
        Some(0) => out.array(0),
        None => {
            l.pop_with(end, |e| e.reply(out));
            elements_removed(ctx, key, end, 1);
        }
        Some(c) => {
            let n = c.min(l.len());
            pop_range(out, l, end, n);
            elements_removed(ctx, key, end, n);
        }
    }
}

// ---------------------------------------------------------------------------------------
// LLEN, LRANGE, LINDEX, LPOS
// ---------------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.int(0),
        Some(Value::List(l)) => out.int(l.len() as i64),
        Some(_) => out.error(WRONGTYPE),
    });
}

fn lrange(ctx: &mut Ctx) {
    let Some(start) = ctx.int_arg(2) else {
        return;
    };
    let Some(end) = ctx.int_arg(3) else {
        return;
    };
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.array(0),
        Some(Value::List(l)) => range_reply(out, l, start, end, false),
        Some(_) => out.error(WRONGTYPE),
    });
}

fn lindex(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let index = parse_i64(&argv[2]);
    ctx.read_with(&argv[1], |v, out| match v {
        None => out.null(),
        Some(Value::List(l)) => match index {
            None => out.err(NOT_AN_INTEGER),
            Some(i) => match l.get(i) {
                Some(e) => e.reply(out),
                None => out.null(),
            },
        },
        Some(_) => out.error(WRONGTYPE),
    });
}

fn lpos(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        let more = j + 1 < argv.len();
        if opt.eq_ignore_ascii_case(b"rank") && more {
            j += 1;
            match parse_i64(&argv[j]) {
                None => {
                    ctx.reply().err(NOT_AN_INTEGER);
                    return;
                }
                Some(0) => {
                    ctx.reply().err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                    return;
                }
                Some(r) => rank = r,
            }
        } else if opt.eq_ignore_ascii_case(b"count") && more {
            j += 1;
            match range_arg(ctx, j, 0, "COUNT can't be negative") {
                Some(c) => count = Some(c),
                None => return,
            }
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
            j += 1;
            match range_arg(ctx, j, 0, "MAXLEN can't be negative") {
                Some(m) => maxlen = m,
                None => return,
            }
        } else {
            ctx.syntax_error();
            return;
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis negates it in C, so LLONG_MIN stays
    // negative and then every match qualifies; the wrapping arithmetic below mirrors that.
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let needle = Needle::new(&argv[2]);
    ctx.read_with(&argv[1], |v, out| {
        let l = match v {
            None => {
                if count.is_some() {
                    out.array(0);
                } else {
                    out.null();
                }
                return;
            }
            Some(Value::List(l)) => l,
            Some(_) => {
                out.error(WRONGTYPE);
                return;
            }
        };
        let llen = l.len() as u64;
        let limit = if maxlen == 0 { u64::MAX } else { maxlen as u64 };
        let mut matches: i64 = 0;
        let mut found: Vec<i64> = Vec::new();
        let mut visit = |index: u64, e| {
            // Returns false to stop.
            if index >= limit {
                return false;
            }
            if needle.matches(e) {
                matches += 1;
                if matches >= rank {
                    let pos = if from_tail { llen - index - 1 } else { index };
                    found.push(pos as i64);
                    match count {
                        None => return false,
                        Some(c) => {
                            if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c {
                                return false;
                            }
                        }
                    }
                }
            }
            true
        };
        if from_tail {
            for (i, e) in l.iter().rev().enumerate() {
                if !visit(i as u64, e) {
                    break;
                }
            }
        } else {
            for (i, e) in l.iter().enumerate() {
                if !visit(i as u64, e) {
                    break;
                }
            }
        }
        match count {
            Some(_) => {
                out.array(found.len());
                for p in found {
                    out.int(p);
                }
            }
            None => match found.first() {
                Some(&p) => out.int(p),
                None => out.null(),
            },
        }
    });
}

// ---------------------------------------------------------------------------------------
// LSET, LINSERT, LREM, LTRIM
// ---------------------------------------------------------------------------------------

fn lset(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1];
    let db = ctx.client.db;
    if !touch_for_write(ctx, key) {
        ctx.reply().err("no such key");
        return;
    }
    let out = &mut ctx.client.out;
    let l = match list_in(ctx.state, db, key) {
        Ok(Some(l)) => l,
        Ok(None) => {
            out.err("no such key");
            return;
        }
        Err(()) => {
            out.error(WRONGTYPE);
            return;
        }
    };
    let Some(index) = parse_i64(&argv[2]) else {
        out.err(NOT_AN_INTEGER);
        return;
    };
    if !l.set(index, &argv[3]) {
        out.err("index out of range");
        return;
    }
    out.ok();
    ctx.modified(key, notify::LIST, "lset");
}

fn linsert(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let after = if argv[2].eq_ignore_ascii_case(b"after") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        ctx.syntax_error();
        return;
    };
    let key = &argv[1];
    let db = ctx.client.db;
    if !touch_for_write(ctx, key) {
        ctx.reply().int(0);
        return;
    }
    let out = &mut ctx.client.out;
    let l = match list_in(ctx.state, db, key) {
        Ok(Some(l)) => l,
        Ok(None) => {
            out.int(0);
            return;
        }
        Err(()) => {
            out.error(WRONGTYPE);
            return;
        }
    };
    if !l.insert_at_pivot(&argv[3], &argv[4], after) {
        out.int(-1);
        return;
    }
    let len = l.len() as i64;
    ctx.modified(key, notify::LIST, "linsert");
    ctx.reply().int(len);
}

fn lrem(ctx: &mut Ctx) {
    let Some(count) = ctx.int_arg(2) else {
        return;
    };
    let argv = ctx.argv;
    let key = &argv[1];
    let db = ctx.client.db;
    if !touch_for_write(ctx, key) {
        ctx.reply().int(0);
        return;
    }
    let removed = match list_in(ctx.state, db, key) {
        Ok(Some(l)) => l.remove_matching(&argv[3], count),
        Ok(None) => 0,
        Err(()) => {
            ctx.wrongtype();
            return;
        }
    };
    if removed > 0 {
        ctx.state.dirty += removed as u64;
        ctx.state.signal_modified_key(db, key);
        ctx.state
            .notify_keyspace_event(notify::LIST, "lrem", key, db);
    }
    delete_if_empty(ctx, key);
    ctx.reply().int(removed as i64);
}

fn ltrim(ctx: &mut Ctx) {
    let Some(start) = ctx.int_arg(2) else {
        return;
    };
    let Some(end) = ctx.int_arg(3) else {
        return;
    };
    let argv = ctx.argv;
    let key = &argv[1];
    let db = ctx.client.db;
    if !touch_for_write(ctx, key) {
        ctx.reply().ok();
        return;
    }
    let removed = match list_in(ctx.state, db, key) {
        Ok(Some(l)) => {
            let llen = l.len() as i64;
            let mut start = if start < 0 { llen + start } else { start };
            let mut end = if end < 0 { llen + end } else { end };
            if start < 0 {
                start = 0;
            }
            let (ltrim, rtrim) = if start > end || start >= llen {
                (llen, 0)
            } else {
                if end >= llen {
                    end = llen - 1;
                }
                (start, llen - end - 1)
            };
            l.delete_range(0, ltrim as usize);
            let left = l.len();
            l.delete_range(left - rtrim as usize, rtrim as usize);
            (ltrim + rtrim) as u64
        }
        Ok(None) => {
            ctx.reply().ok();
            return;
        }
        Err(()) => {
            ctx.wrongtype();
            return;
        }
    };
    ctx.state
        .notify_keyspace_event(notify::LIST, "ltrim", key, db);
    delete_if_empty(ctx, key);
    ctx.state.signal_modified_key(db, key);
    // Nothing removed: no change, so nothing to propagate either.
    ctx.state.dirty += removed;
    ctx.reply().ok();
}

// ---------------------------------------------------------------------------------------
// LMOVE, RPOPLPUSH, LMPOP
// ---------------------------------------------------------------------------------------

fn lmove(ctx: &mut Ctx) {
    let Some(from) = end_arg(ctx, 3) else {
        return;
    };
    let Some(to) = end_arg(ctx, 4) else {
        return;
    };
    lmove_generic(ctx, from, to);
}

fn rpoplpush(ctx: &mut Ctx) {
    lmove_generic(ctx, End::Tail, End::Head);
}

/// LMOVE semantics on `argv[1]` -> `argv[2]` (Redis's `lmoveGenericCommand`); the
/// blocking forms are propagated as their non-blocking equivalents.
fn lmove_generic(ctx: &mut Ctx, from: End, to: End) {
    let argv = ctx.argv;
    let (src, dst) = (&argv[1], &argv[2]);
    let db = ctx.client.db;
    if !touch_for_write(ctx, src) {
        ctx.reply().null();
        return;
    }
    match list_in(ctx.state, db, src) {
        Ok(Some(l)) if !l.is_empty() => {}
        Ok(_) => {
            ctx.reply().null();
            return;
        }
        Err(()) => {
            ctx.wrongtype();
            return;
        }
    }
    if !move_element(ctx, src, dst, from, to) {
        return;
    }
    match ctx.spec.full_name {
        "blmove" => ctx.propagate(&[
            Bytes::from_static(b"LMOVE"),
            argv[1].clone(),
            argv[2].clone(),
            argv[3].clone(),
            argv[4].clone(),
        ]),
        "brpoplpush" => ctx.propagate(&[
            Bytes::from_static(b"RPOPLPUSH"),
            argv[1].clone(),
            argv[2].clone(),
        ]),
        _ => {}
    }
}

/// Moves one element from the non-empty list `src` to `dst` and replies it (or WRONGTYPE
/// when `dst` holds another type; nothing moves then). Returns whether it moved.
fn move_element(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> bool {
    let db = ctx.client.db;
    let dst_exists = touch_for_write(ctx, dst);
    if dst_exists && list_in(ctx.state, db, dst).is_err() {
        ctx.wrongtype();
        return false;
    }
    // Owned: the destination may be the source list itself.
    let Some(value) = list_in(ctx.state, db, src)
        .ok()
        .flatten()
        .and_then(|l| l.pop(from))
    else {
        ctx.reply().null();
        return false;
    };
    // Redis's `lmoveHandlePush`.
    match list_in(ctx.state, db, dst) {
        Ok(Some(l)) => l.push(&value, to),
        _ => {
            let mut l = List::new(fill(ctx));
            l.push(&value, to);
            let clock = ctx.state.lru_clock();
            ctx.state.dbs[db].set(dst, Value::List(Box::new(l)), false, clock);
            notify_new(ctx, db, dst);
        }
    }
    ctx.state.signal_modified_key(db, dst);
    ctx.state
        .notify_keyspace_event(notify::LIST, event_of(to, true), dst, db);
    ctx.reply().bulk(&value);
    ctx.state
        .notify_keyspace_event(notify::LIST, event_of(from, false), src, db);
    delete_if_empty(ctx, src);
    ctx.state.signal_modified_key(db, src);
    ctx.state.dirty += 1;
    true
}

/// LMPOP/BLMPOP arguments: the keys' range in argv, the end and the count.
struct MpopArgs {
    keys: std::ops::Range<usize>,
    end: End,
    count: usize,
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at `numkeys_idx`
/// (Redis's `lmpopGenericCommand`; BZMPOP's MIN|MAX via `ends`).
fn mpop_args(ctx: &mut Ctx, numkeys_idx: usize, ends: [&[u8]; 2]) -> Option<MpopArgs> {
    let numkeys = range_arg(ctx, numkeys_idx, 1, "numkeys should be greater than 0")?;
    let argc = ctx.argv.len();
    let where_idx = match usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
    {
        Some(w) if w < argc => w,
        _ => {
            ctx.syntax_error();
            return None;
        }
    };
    let w = &ctx.argv[where_idx];
    let end = if w.eq_ignore_ascii_case(ends[0]) {
        End::Head
    } else if w.eq_ignore_ascii_case(ends[1]) {
        End::Tail
    } else {
        ctx.syntax_error();
        return None;
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argc {
        if count.is_none() && ctx.argv[j].eq_ignore_ascii_case(b"count") && j + 1 < argc {
            j += 1;
            count = Some(range_arg(ctx, j, 1, "count should be greater than 0")? as usize);
        } else {
            ctx.syntax_error();
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        keys: numkeys_idx + 1..where_idx,
        end,
        count: count.unwrap_or(1),
    })
}

fn lmpop(ctx: &mut Ctx) {
    let Some(a) = mpop_args(ctx, 1, [b"left", b"right"]) else {
        return;
    };
    let argv = ctx.argv;
    let db = ctx.client.db;
    for key in &argv[a.keys] {
        if !touch_for_write(ctx, key) {
            continue;
        }
        match list_in(ctx.state, db, key) {
            Ok(Some(l)) if !l.is_empty() => {}
            Ok(_) => continue,
            Err(()) => {
                ctx.wrongtype();
                return;
            }
        }
        let n = pop_range_with_key(ctx, key, a.end, a.count);
        propagate_pop(ctx, key, a.end, Some(n));
        return;
    }
    ctx.reply().null_array();
}

// ---------------------------------------------------------------------------------------
// BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH
// ---------------------------------------------------------------------------------------

fn blpop(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    blocking_pop(ctx, 1..n - 1, End::Head, n - 1, None);
}

fn brpop(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    blocking_pop(ctx, 1..n - 1, End::Tail, n - 1, None);
}

fn blmpop(ctx: &mut Ctx) {
    let Some(a) = mpop_args(ctx, 2, [b"left", b"right"]) else {
        return;
    };
    blocking_pop(ctx, a.keys, a.end, 1, Some(a.count));
}

/// Redis's `blockingPopGenericCommand`: pops from the first non-empty list among the keys,
/// or blocks. `count` is BLMPOP's (nested reply); None is BLPOP/BRPOP's `[key, value]`.
fn blocking_pop(
    ctx: &mut Ctx,
    keys: std::ops::Range<usize>,
    end: End,
    timeout_idx: usize,
    count: Option<usize>,
) {
    let Some(deadline) = blocking::timeout_arg(ctx, timeout_idx) else {
        return;
    };
    let argv = ctx.argv;
    let db = ctx.client.db;
    for key in &argv[keys.clone()] {
        if !touch_for_write(ctx, key) {
            continue;
        }
        match list_in(ctx.state, db, key) {
            Ok(Some(l)) if !l.is_empty() => {}
            Ok(_) => continue,
            Err(()) => {
                ctx.wrongtype();
                return;
            }
        }
        match count {
            Some(c) => {
                let n = pop_range_with_key(ctx, key, end, c);
                propagate_pop(ctx, key, end, Some(n));
            }
            None => {
                pop_one_with_key(ctx, key, end);
                propagate_pop(ctx, key, end, None);
            }
        }
        return;
    }
    if blocking::deny_blocking(ctx.client) {
        ctx.reply().null_array();
        return;
    }
    let op = BlockOp::List(ListWait {
        from: end,
        to: End::Head,
        target: None,
        count,
    });
    blocking::block(ctx, &argv[keys], deadline, op);
}

/// Pops one element and replies `[key, value]` (BLPOP/BRPOP). The key holds a non-empty
/// list.
fn pop_one_with_key(ctx: &mut Ctx, key: &[u8], end: End) {
    let db = ctx.client.db;
    let out = &mut ctx.client.out;
    let Ok(Some(l)) = list_in(ctx.state, db, key) else {
        return;
    };
    out.array(2);
    out.bulk(key);
    l.pop_with(end, |e| e.reply(out));
    elements_removed(ctx, key, end, 1);
}

fn blmove(ctx: &mut Ctx) {
    let Some(from) = end_arg(ctx, 3) else {
        return;
    };
    let Some(to) = end_arg(ctx, 4) else {
        return;
    };
    let Some(deadline) = blocking::timeout_arg(ctx, 5) else {
        return;
    };
    blmove_generic(ctx, from, to, deadline);
}

fn brpoplpush(ctx: &mut Ctx) {
    let Some(deadline) = blocking::timeout_arg(ctx, 3) else {
        return;
    };
    blmove_generic(ctx, End::Tail, End::Head, deadline);
}

fn blmove_generic(ctx: &mut Ctx, from: End, to: End, deadline: u64) {
    let argv = ctx.argv;
    let db = ctx.client.db;
    if touch_for_write(ctx, &argv[1]) {
        match list_in(ctx.state, db, &argv[1]) {
            Ok(Some(l)) if !l.is_empty() => {
                lmove_generic(ctx, from, to);
                return;
            }
            Ok(_) => {}
            Err(()) => {
                ctx.wrongtype();
                return;
            }
        }
    }
    if blocking::deny_blocking(ctx.client) {
        // Redis answers a null bulk here (not the null array of the other pops).
        ctx.reply().null();
        return;
    }
    let op = BlockOp::List(ListWait {
        from,
        to,
        target: Some(Bytes::copy_from_slice(&argv[2])),
        count: None,
    });
    blocking::block(ctx, &argv[1..2], deadline, op);
}

/// Serves a client blocked by BLPOP/BRPOP/BLMPOP/BLMOVE/BRPOPLPUSH from `key`, which holds
/// a non-empty list (Redis's `serveClientBlockedOnList`). `ctx` is the blocked client's.
pub fn serve_blocked(ctx: &mut Ctx, key: &Bytes, op: &ListWait) {
    match &op.target {
        None => match op.count {
            Some(c) => {
                let n = pop_range_with_key(ctx, key, op.from, c);
                propagate_pop(ctx, key, op.from, Some(n));
            }
            None => {
                pop_one_with_key(ctx, key, op.from);
                propagate_pop(ctx, key, op.from, None);
            }
        },
        Some(dst) => {
            if !move_element(ctx, key, dst, op.from, op.to) {
                return;
            }
            if ctx.spec.full_name == "brpoplpush" {
                ctx.propagate(&[Bytes::from_static(b"RPOPLPUSH"), key.clone(), dst.clone()]);
            } else {
                ctx.propagate(&[
                    Bytes::from_static(b"LMOVE"),
                    key.clone(),
                    dst.clone(),
                    Bytes::from_static(position_name(op.from)),
                    Bytes::from_static(position_name(op.to)),
                ]);
            }
        }
    }
}

/// How Redis spells a list end when it rewrites a served BLMOVE.
fn position_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"left",
        End::Tail => b"right",
    }
}

// ---------------------------------------------------------------------------------------
// BZPOPMIN, BZPOPMAX, BZMPOP
// ---------------------------------------------------------------------------------------

fn bzpopmin(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    blocking_zpop(ctx, 1..n - 1, false, n - 1, None);
}

fn bzpopmax(ctx: &mut Ctx) {
    let n = ctx.argv.len();
    blocking_zpop(ctx, 1..n - 1, true, n - 1, None);
}

fn bzmpop(ctx: &mut Ctx) {
    // Parsed exactly as ZMPOP parses (numkeys, MIN|MAX, COUNT), before the timeout.
    let Some(a) = parse_mpop_args(ctx, 2) else {
        return;
    };
    blocking_zpop(ctx, a.keys, a.max, 1, Some(a.count));
}

/// How the blocking sorted-set pops reply and propagate: `[key, member, score]` for
/// BZPOPMIN/BZPOPMAX, `[key, [[member, score] ...]]` for BZMPOP; propagated as
/// `ZPOPMIN|ZPOPMAX key [count popped]`.
fn zpop_opts(max: bool, count: Option<usize>) -> ZPop {
    ZPop {
        max,
        count,
        emit_key: true,
        nested: count.is_some(),
        propagate: true,
    }
}

/// Redis's `blockingGenericZpopCommand`: pops from the first non-empty sorted set among
/// the keys, or blocks. `count` is BZMPOP's.
fn blocking_zpop(
    ctx: &mut Ctx,
    keys: std::ops::Range<usize>,
    max: bool,
    timeout_idx: usize,
    count: Option<usize>,
) {
    let Some(deadline) = blocking::timeout_arg(ctx, timeout_idx) else {
        return;
    };
    let argv = ctx.argv;
    for key in &argv[keys.clone()] {
        match ctx.lookup_write(key) {
            None => continue,
            Some(Value::ZSet(z)) if z.is_empty() => continue,
            Some(Value::ZSet(_)) => {}
            Some(_) => {
                ctx.wrongtype();
                return;
            }
        }
        zpop_key(ctx, key, zpop_opts(max, count));
        return;
    }
    if blocking::deny_blocking(ctx.client) {
        ctx.reply().null_array();
        return;
    }
    let op = BlockOp::ZSet(ZSetWait { max, count });
    blocking::block(ctx, &argv[keys], deadline, op);
}

/// Serves a client blocked by BZPOPMIN/BZPOPMAX/BZMPOP from `key`, which holds a non-empty
/// sorted set (Redis's `serveClientsBlockedOnSortedSetKey`). `ctx` is the blocked client's.
pub fn serve_blocked_zset(ctx: &mut Ctx, key: &Bytes, op: &ZSetWait) {
    zpop_key(ctx, key, zpop_opts(op.max, op.count));
}
