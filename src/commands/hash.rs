//! Hash commands: HSET and friends, counters, whole-hash reads, HRANDFIELD and HSCAN.
//!
//! Each handler follows Redis 7.0's `t_hash.c` in the order it checks things (argument
//! parsing before the key lookup where Redis does so, WRONGTYPE before option errors in
//! HSCAN...), since clients observe which error wins. Writes notify with Redis's event
//! names and bump `dirty` by what Redis counts (HSET: one per pair, HDEL: one per deleted
//! field). HINCRBYFLOAT is propagated as `HSET key field <result>` so replicas never redo
//! the float formatting.

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::long_double::LongDouble;
use crate::commands::{scan, spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::hash::{Hash, Limits};
use crate::db::{Elem, Value};
use crate::executor::state::notify;
use crate::protocol::Reply;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    spec!("hset", -4, WRITE | DENYOOM | FAST, [1, 1, 1], hset, "hash", "2.0.0",
        "Set the string value of a hash field",
        "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
    spec!("hsetnx", 4, WRITE | DENYOOM | FAST, [1, 1, 1], hsetnx, "hash", "2.0.0",
        "Set the value of a hash field, only if the field does not exist", "O(1)"),
    spec!("hmset", -4, WRITE | DENYOOM | FAST, [1, 1, 1], hset, "hash", "2.0.0",
        "Set multiple hash fields to multiple values",
        "O(N) where N is the number of fields being set."),
    spec!("hget", 3, READONLY | FAST, [1, 1, 1], hget, "hash", "2.0.0",
        "Get the value of a hash field", "O(1)"),
    spec!("hmget", -3, READONLY | FAST, [1, 1, 1], hmget, "hash", "2.0.0",
        "Get the values of all the given hash fields",
        "O(N) where N is the number of fields being requested."),
    spec!("hdel", -3, WRITE | FAST, [1, 1, 1], hdel, "hash", "2.0.0",
        "Delete one or more hash fields",
        "O(N) where N is the number of fields to be removed."),
    spec!("hlen", 2, READONLY | FAST, [1, 1, 1], hlen, "hash", "2.0.0",
        "Get the number of fields in a hash", "O(1)"),
    spec!("hstrlen", 3, READONLY | FAST, [1, 1, 1], hstrlen, "hash", "3.2.0",
        "Get the length of the value of a hash field", "O(1)"),
    spec!("hexists", 3, READONLY | FAST, [1, 1, 1], hexists, "hash", "2.0.0",
        "Determine if a hash field exists", "O(1)"),
    spec!("hkeys", 2, READONLY, [1, 1, 1], hkeys, "hash", "2.0.0",
        "Get all the fields in a hash", "O(N) where N is the size of the hash."),
    spec!("hvals", 2, READONLY, [1, 1, 1], hvals, "hash", "2.0.0",
        "Get all the values in a hash", "O(N) where N is the size of the hash."),
    spec!("hgetall", 2, READONLY, [1, 1, 1], hgetall, "hash", "2.0.0",
        "Get all the fields and values in a hash", "O(N) where N is the size of the hash."),
    spec!("hincrby", 4, WRITE | DENYOOM | FAST, [1, 1, 1], hincrby, "hash", "2.0.0",
        "Increment the integer value of a hash field by the given number", "O(1)"),
    spec!("hincrbyfloat", 4, WRITE | DENYOOM | FAST, [1, 1, 1], hincrbyfloat, "hash", "2.6.0",
        "Increment the float value of a hash field by the given amount", "O(1)"),
    spec!("hrandfield", -2, READONLY, [1, 1, 1], hrandfield, "hash", "6.2.0",
        "Get one or multiple random fields from a hash",
        "O(N) where N is the number of fields returned"),
    spec!("hscan", -3, READONLY, [1, 1, 1], hscan, "hash", "2.8.0",
        "Incrementally iterate hash fields and associated values",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
];

/// The configured conversion thresholds.
fn limits(ctx: &Ctx) -> Limits {
    Limits::new(
        ctx.state.cfg.hash_max_listpack_entries,
        ctx.state.cfg.hash_max_listpack_value,
    )
}

/// Redis's `hashTypeLookupWriteOrCreate`: the hash at `key`, created empty if missing.
/// `None` after replying WRONGTYPE. Three dict lookups for an existing key (expiry check,
/// LRU touch, the value).
fn hash_for_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c mut Hash> {
    let clock = ctx.state.lru_clock();
    let dbi = ctx.db_index();
    if ctx.expire_if_needed(key) {
        ctx.state.dbs[dbi].touch_lru(key, clock);
    } else {
        ctx.state.dbs[dbi].set(key, Value::Hash(Default::default()), false, clock);
        notify_new(ctx, dbi, key);
        // Redis delivers "new" as the key is added, before the command's reply.
        ctx.deliver_notifications();
    }
    match ctx.state.dbs[dbi].get_value_mut(key) {
        Some(Value::Hash(h)) => Some(h),
        Some(_) => {
            ctx.client.out.error(WRONGTYPE);
            None
        }
        None => None,
    }
}

/// The hash at `key` for a write that never creates it: `Ok(None)` if missing, `Err` after
/// replying WRONGTYPE.
fn existing_for_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Hash>, ()> {
    if !ctx.expire_if_needed(key) {
        return Ok(None);
    }
    let clock = ctx.state.lru_clock();
    let db = &mut ctx.state.dbs[ctx.client.db];
    db.touch_lru(key, clock);
    match db.get_value_mut(key) {
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            ctx.client.out.error(WRONGTYPE);
            Err(())
        }
        None => Ok(None),
    }
}

/// Deletes `key` if its hash became empty; returns whether it did.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) -> bool {
    ctx.db().remove_if_empty(key)
}

fn arity_error(ctx: &mut Ctx) {
    let name = ctx.spec.full_name;
    ctx.reply()
        .err(&format!("wrong number of arguments for '{name}' command"));
}

fn hset(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() % 2 == 1 {
        return arity_error(ctx);
    }
    let lim = limits(ctx);
    let Some(h) = hash_for_write(ctx, &argv[1]) else {
        return;
    };
    h.convert_for_args(argv[2..].iter().map(|a| &a[..]), lim);
    let mut created = 0;
    for pair in argv[2..].chunks_exact(2) {
        if h.set(&pair[0], &pair[1], lim) {
            created += 1;
        }
    }
    // HSET answers the number of new fields, HMSET (deprecated) +OK.
    if ctx.spec.name == "hset" {
        ctx.reply().int(created);
    } else {
        ctx.reply().ok();
    }
    ctx.modified(&argv[1], notify::HASH, "hset");
    ctx.state.dirty += ((argv.len() - 2) / 2 - 1) as u64;
}

fn hsetnx(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let lim = limits(ctx);
    let Some(h) = hash_for_write(ctx, &argv[1]) else {
        return;
    };
    if h.contains(&argv[2]) {
        ctx.reply().int(0);
        return;
    }
    h.convert_for_args([&argv[2][..], &argv[3][..]].into_iter(), lim);
    h.set(&argv[2], &argv[3], lim);
    ctx.reply().int(1);
    ctx.modified(&argv[1], notify::HASH, "hset");
}

/// Runs `f` on the hash at argv[1] for a read; replies `missing` for no key, WRONGTYPE for
/// another type.
fn read_hash(ctx: &mut Ctx, missing: fn(&mut Reply), f: impl FnOnce(&Hash, &mut Reply)) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => missing(out),
        Some(Value::Hash(h)) => f(h, out),
        Some(_) => out.error(WRONGTYPE),
    });
}

fn hget(ctx: &mut Ctx) {
    let argv = ctx.argv;
    read_hash(ctx, Reply::null, |h, out| match h.get(&argv[2]) {
        Some(e) => e.reply(out),
        None => out.null(),
    });
}

fn hmget(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| {
        let h = match v {
            None => None,
            Some(Value::Hash(h)) => Some(h),
            Some(_) => return out.error(WRONGTYPE),
        };
        out.array(argv.len() - 2);
        for f in &argv[2..] {
            match h.and_then(|h| h.get(f)) {
                Some(e) => e.reply(out),
                None => out.null(),
            }
        }
    });
}

fn hdel(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1];
    let h = match existing_for_write(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply().int(0),
        Ok(Some(h)) => h,
    };
    let mut deleted = 0;
    for f in &argv[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let removed = delete_if_empty(ctx, key);
    if deleted > 0 {
        ctx.modified(key, notify::HASH, "hdel");
        if removed {
            let db = ctx.db_index();
            ctx.state
                .notify_keyspace_event(notify::GENERIC, "del", key, db);
            ctx.deliver_notifications();
        }
        ctx.state.dirty += (deleted - 1) as u64;
    }
    ctx.reply().int(deleted as i64);
}

fn zero(out: &mut Reply) {
    out.int(0);
}

fn empty_array(out: &mut Reply) {
    out.array(0);
}

fn empty_map(out: &mut Reply) {
    out.map(0);
}

fn hlen(ctx: &mut Ctx) {
    read_hash(ctx, zero, |h, out| out.int(h.len() as i64));
}

fn hstrlen(ctx: &mut Ctx) {
    let argv = ctx.argv;
    read_hash(ctx, zero, |h, out| {
        let n = match h.get(&argv[2]) {
            None => 0,
            Some(Elem::Bytes(b)) => b.len(),
            Some(Elem::Int(v)) => itoa::Buffer::new().format(v).len(),
        };
        out.int(n as i64);
    });
}

fn hexists(ctx: &mut Ctx) {
    let argv = ctx.argv;
    read_hash(ctx, zero, |h, out| out.int(h.contains(&argv[2]) as i64));
}

fn hkeys(ctx: &mut Ctx) {
    read_hash(ctx, empty_array, |h, out| {
        out.array(h.len());
        for (f, _) in h.iter() {
            f.reply(out);
        }
    });
}

fn hvals(ctx: &mut Ctx) {
    read_hash(ctx, empty_array, |h, out| {
        out.array(h.len());
        for (_, v) in h.iter() {
            v.reply(out);
        }
    });
}

fn hgetall(ctx: &mut Ctx) {
    read_hash(ctx, empty_map, |h, out| {
        out.map(h.len());
        for (f, v) in h.iter() {
            f.reply(out);
            v.reply(out);
        }
    });
}

fn hincrby(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(incr) = ctx.int_arg(3) else {
        return;
    };
    let lim = limits(ctx);
    let Some(h) = hash_for_write(ctx, &argv[1]) else {
        return;
    };
    let old = match h.get(&argv[2]) {
        None => 0,
        Some(Elem::Int(v)) => v,
        Some(Elem::Bytes(b)) => match parse_i64(b) {
            Some(v) => v,
            None => return ctx.reply().err("hash value is not an integer"),
        },
    };
    let Some(new) = old.checked_add(incr) else {
        ctx.reply().err("increment or decrement would overflow");
        return;
    };
    let mut buf = itoa::Buffer::new();
    h.set(&argv[2], buf.format(new).as_bytes(), lim);
    ctx.reply().int(new);
    ctx.modified(&argv[1], notify::HASH, "hincrby");
}

fn hincrbyfloat(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let incr = match LongDouble::parse(&argv[3]) {
        None => return ctx.reply().err("value is not a valid float"),
        Some(v) if !v.is_finite() => return ctx.reply().err("value is NaN or Infinity"),
        Some(v) => v,
    };
    let lim = limits(ctx);
    let Some(h) = hash_for_write(ctx, &argv[1]) else {
        return;
    };
    let old = match h.get(&argv[2]) {
        None => LongDouble::from_i64(0),
        Some(Elem::Int(v)) => LongDouble::from_i64(v),
        Some(Elem::Bytes(b)) => match LongDouble::parse(b) {
            Some(v) => v,
            None => return ctx.reply().err("hash value is not a float"),
        },
    };
    let sum = match old.checked_add(incr) {
        Some(v) if v.is_finite() => v,
        _ => return ctx.reply().err("increment would produce NaN or Infinity"),
    };
    let text = Bytes::from(sum.to_human_string());
    h.set(&argv[2], &text, lim);
    ctx.reply().bulk(&text);
    ctx.modified(&argv[1], notify::HASH, "hincrbyfloat");
    ctx.propagate(&[
        Bytes::from_static(b"HSET"),
        argv[1].clone(),
        argv[2].clone(),
        text,
    ]);
}

/// Writes one HRANDFIELD pick: RESP3 nests a pair in its own array.
fn reply_pick(out: &mut Reply, f: Elem<'_>, v: Elem<'_>, withvalues: bool) {
    if withvalues && out.is_resp3() {
        out.array(2);
    }
    f.reply(out);
    if withvalues {
        v.reply(out);
    }
}

fn hrandfield(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() == 2 {
        return hrandfield_one(ctx);
    }
    let Some(l) = ctx.int_arg(2) else {
        return;
    };
    if l == i64::MIN {
        ctx.reply().err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        );
        return;
    }
    let withvalues = argv.len() == 4;
    if argv.len() > 4 || (withvalues && !argv[3].eq_ignore_ascii_case(b"withvalues")) {
        return ctx.syntax_error();
    }
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        ctx.reply().err("value is out of range");
        return;
    }
    read_hash(ctx, empty_array, |h, out| {
        hrandfield_count(h, out, l, withvalues, &mut rand::thread_rng())
    });
}

fn hrandfield_one(ctx: &mut Ctx) {
    read_hash(ctx, Reply::null, |h, out| {
        match h.random(&mut rand::thread_rng()) {
            Some((f, _)) => f.reply(out),
            None => out.null(),
        }
    });
}

fn hrandfield_count(h: &Hash, out: &mut Reply, l: i64, withvalues: bool, rng: &mut impl rand::Rng) {
    let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
    if count == 0 {
        return out.array(0);
    }
    let size = h.len();
    let resp2_pairs = withvalues && !out.is_resp3();
    if !uniq || count == 1 {
        // Sampling with replacement, the whole hash every time.
        out.array(if resp2_pairs { count * 2 } else { count });
        if let Hash::Listpack(_) = h {
            // Index the (small) listpack once instead of seeking for every pick.
            let all: Vec<_> = h.iter().collect();
            for _ in 0..count {
                let (f, v) = all[rng.gen_range(0..all.len())];
                reply_pick(out, f, v, withvalues);
            }
            return;
        }
        for _ in 0..count {
            if let Some((f, v)) = h.random(rng) {
                reply_pick(out, f, v, withvalues);
            }
        }
        return;
    }
    let n = count.min(size);
    out.array(if resp2_pairs { n * 2 } else { n });
    if count >= size {
        for (f, v) in h.iter() {
            reply_pick(out, f, v, withvalues);
        }
        return;
    }
    for (f, v) in h.random_distinct(count, rng) {
        reply_pick(out, f, v, withvalues);
    }
}

fn hscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some((cursor, opts)) = scan::collection_args(ctx, |v| matches!(v, Value::Hash(_))) else {
        return;
    };
    let Some(Value::Hash(h)) = ctx.db().get(&argv[1]).map(|e| &e.value) else {
        return;
    };
    let mut items: Vec<Vec<u8>> = Vec::new();
    let cursor = match h {
        Hash::Listpack(_) => {
            // Small hashes are returned whole in one call, as Redis does.
            for (f, v) in h.iter() {
                items.push(f.to_bytes().into_owned());
                items.push(v.to_bytes().into_owned());
            }
            0
        }
        // Redis counts fields and values alike against COUNT.
        Hash::Table(_) => scan::collect(cursor, opts.count, &mut items, |c, items| {
            h.scan(c, |f, v| {
                items.push(f.to_vec());
                items.push(v.to_vec());
            })
        }),
    };
    if opts.pattern.is_some() {
        let mut kept = Vec::with_capacity(items.len());
        let mut it = items.into_iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            if opts.matches(&f) {
                kept.push(f);
                kept.push(v);
            }
        }
        items = kept;
    }
    scan::reply(ctx.reply(), cursor, &items);
}

#[cfg(test)]
mod tests {
    use crate::executor::test_support::{resp, run, setup};

    fn stream_of(cmds: &[&[&str]]) -> String {
        let (mut exec, c) = setup();
        run(&mut exec, c, cmds).1
    }

    #[test]
    fn hincrbyfloat_propagates_as_hset() {
        let s = stream_of(&[
            &["HINCRBYFLOAT", "h", "f", "0.1"],
            &["HINCRBYFLOAT", "h", "f", "x"],
            &["HGET", "h", "f"],
        ]);
        let expected = [resp(&["SELECT", "0"]), resp(&["HSET", "h", "f", "0.1"])].concat();
        assert_eq!(s, expected);
    }

    #[test]
    fn hdel_of_nothing_is_not_propagated() {
        let s = stream_of(&[
            &["HDEL", "h", "f"],
            &["HSET", "h", "f", "1"],
            &["HDEL", "h", "g"],
        ]);
        let expected = [resp(&["SELECT", "0"]), resp(&["HSET", "h", "f", "1"])].concat();
        assert_eq!(s, expected);
    }
}
