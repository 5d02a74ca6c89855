//! Set commands: membership, random picks and pops, moves, and the algebra
//! (SINTER/SUNION/SDIFF, their STORE forms and SINTERCARD).
//!
//! The algebra follows Redis 7.0's `sinterGenericCommand` and `sunionDiffGenericCommand`
//! closely, not just in results but in how they are built, because the *encoding* of a
//! result decides the order of its reply and what OBJECT ENCODING says about a stored one:
//! SINTER replies in the iteration order of the smallest set; SUNION and SDIFF first build
//! a result set starting as an intset and reply in its order (ascending when it stayed an
//! intset), and SDIFF picks between Redis's two algorithms with the same cost estimate,
//! since they can leave the result in different encodings.
//!
//! SPOP is nondeterministic, so it is propagated as what it did: SREM of each popped member,
//! or DEL when it took the whole set.

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::{scan, spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::set::Set;
use crate::db::{Elem, Value};
use crate::executor::state::notify;
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    spec!("sadd", -3, WRITE | DENYOOM | FAST, [1, 1, 1], sadd, "set", "1.0.0",
        "Add one or more members to a set",
        "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    spec!("srem", -3, WRITE | FAST, [1, 1, 1], srem, "set", "1.0.0",
        "Remove one or more members from a set",
        "O(N) where N is the number of members to be removed."),
    spec!("scard", 2, READONLY | FAST, [1, 1, 1], scard, "set", "1.0.0",
        "Get the number of members in a set", "O(1)"),
    spec!("sismember", 3, READONLY | FAST, [1, 1, 1], sismember, "set", "1.0.0",
        "Determine if a given value is a member of a set", "O(1)"),
    spec!("smismember", -3, READONLY | FAST, [1, 1, 1], smismember, "set", "6.2.0",
        "Returns the membership associated with the given elements for a set",
        "O(N) where N is the number of elements being checked for membership"),
    spec!("smembers", 2, READONLY, [1, 1, 1], smembers, "set", "1.0.0",
        "Get all the members in a set", "O(N) where N is the set cardinality."),
    spec!("srandmember", -2, READONLY, [1, 1, 1], srandmember, "set", "1.0.0",
        "Get one or multiple random members from a set",
        "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."),
    spec!("spop", -2, WRITE | FAST, [1, 1, 1], spop, "set", "1.0.0",
        "Remove and return one or multiple random members from a set",
        "Without the count argument O(1), otherwise O(N) where N is the value of the passed count."),
    spec!("smove", 4, WRITE | FAST, [1, 2, 1], smove, "set", "1.0.0",
        "Move a member from one set to another", "O(1)"),
    spec!("sinter", -2, READONLY, [1, -1, 1], sinter, "set", "1.0.0",
        "Intersect multiple sets",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    spec!("sintercard", -3, READONLY | MOVABLE_KEYS, [0, 0, 0], sintercard, "set", "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    spec!("sinterstore", -3, WRITE | DENYOOM, [1, -1, 1], sinterstore, "set", "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    spec!("sunion", -2, READONLY, [1, -1, 1], sunion, "set", "1.0.0",
        "Add multiple sets", "O(N) where N is the total number of elements in all given sets."),
    spec!("sunionstore", -3, WRITE | DENYOOM, [1, -1, 1], sunionstore, "set", "1.0.0",
        "Add multiple sets and store the resulting set in a key",
        "O(N) where N is the total number of elements in all given sets."),
    spec!("sdiff", -2, READONLY, [1, -1, 1], sdiff, "set", "1.0.0",
        "Subtract multiple sets", "O(N) where N is the total number of elements in all given sets."),
    spec!("sdiffstore", -3, WRITE | DENYOOM, [1, -1, 1], sdiffstore, "set", "1.0.0",
        "Subtract multiple sets and store the resulting set in a key",
        "O(N) where N is the total number of elements in all given sets."),
    spec!("sscan", -3, READONLY, [1, 1, 1], sscan, "set", "2.8.0",
        "Incrementally iterate Set elements",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
];

/// Redis's "value is out of range, must be positive" family of count errors.
const OUT_OF_RANGE_POSITIVE: &str = "value is out of range, must be positive";
const OUT_OF_RANGE_LONG: &str =
    "value is out of range, value must between -9223372036854775807 and 9223372036854775807";
/// Redis's SPOP_MOVE_STRATEGY_MUL.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

fn max_intset(ctx: &Ctx) -> u64 {
    ctx.state.cfg.set_max_intset_entries
}

fn empty_set(out: &mut Reply) {
    out.set(0);
}

/// What a key holds, for commands that look several keys up before touching any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Missing,
    Set,
    WrongType,
}

fn classify(v: Option<&Value>) -> Slot {
    match v {
        None => Slot::Missing,
        Some(Value::Set(_)) => Slot::Set,
        Some(_) => Slot::WrongType,
    }
}

/// The set at `key` for a write: `Ok(None)` if missing, `Err` after replying WRONGTYPE.
/// Three dict lookups (expiry check, LRU touch, the value).
fn existing_for_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Set>, ()> {
    if !ctx.expire_if_needed(key) {
        return Ok(None);
    }
    let clock = ctx.state.lru_clock();
    let db = &mut ctx.state.dbs[ctx.client.db];
    db.touch_lru(key, clock);
    match db.get_value_mut(key) {
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => {
            ctx.client.out.error(WRONGTYPE);
            Err(())
        }
        None => Ok(None),
    }
}

/// Adds a brand-new key holding `value` (Redis's `dbAdd`, with its "new" event).
fn add_new_key(ctx: &mut Ctx, key: &[u8], value: Value) {
    let clock = ctx.state.lru_clock();
    let db = ctx.db_index();
    ctx.db().set(key, value, false, clock);
    notify_new(ctx, db, key);
    // Redis delivers "new" as the key is added, before the command's reply.
    ctx.deliver_notifications();
}

/// Removes `key` if its set became empty; returns whether it did.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) -> bool {
    ctx.db().remove_if_empty(key)
}

/// Emits a keyspace event now (subscribers on the caller's own connection see events and
/// the reply in Redis's order).
fn notify_now(ctx: &mut Ctx, class: u32, event: &str, key: &[u8]) {
    let db = ctx.db_index();
    ctx.state.notify_keyspace_event(class, event, key, db);
    ctx.deliver_notifications();
}

fn notify_del(ctx: &mut Ctx, key: &[u8]) {
    notify_now(ctx, notify::GENERIC, "del", key);
}

fn sadd(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1];
    let max = max_intset(ctx);
    // Create first if missing (Redis's setTypeCreate picks the encoding from the first
    // member), so an existing key costs no extra lookup.
    if !ctx.expire_if_needed(key) {
        add_new_key(ctx, key, Value::Set(Set::new_for(&argv[2])));
    }
    let set = match existing_for_write(ctx, key) {
        Ok(Some(s)) => s,
        _ => return,
    };
    let mut added = 0;
    for m in &argv[2..] {
        if set.add(m, max) {
            added += 1;
        }
    }
    if added > 0 {
        ctx.modified(key, notify::SET, "sadd");
        ctx.state.dirty += (added - 1) as u64;
    }
    ctx.reply().int(added as i64);
}

fn srem(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1];
    let set = match existing_for_write(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply().int(0),
        Ok(Some(s)) => s,
    };
    let mut deleted = 0;
    for m in &argv[2..] {
        if set.remove(m) {
            deleted += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    let removed = delete_if_empty(ctx, key);
    if deleted > 0 {
        ctx.modified(key, notify::SET, "srem");
        if removed {
            notify_del(ctx, key);
        }
        ctx.state.dirty += (deleted - 1) as u64;
    }
    ctx.reply().int(deleted as i64);
}

/// Runs `f` on the set at argv[1] for a read; `missing` replies for no key.
fn read_set(ctx: &mut Ctx, missing: fn(&mut Reply), f: impl FnOnce(&Set, &mut Reply)) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => missing(out),
        Some(Value::Set(s)) => f(s, out),
        Some(_) => out.error(WRONGTYPE),
    });
}

fn scard(ctx: &mut Ctx) {
    read_set(ctx, |o| o.int(0), |s, out| out.int(s.len() as i64));
}

fn sismember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    read_set(
        ctx,
        |o| o.int(0),
        |s, out| out.int(s.contains(&argv[2]) as i64),
    );
}

fn smismember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| {
        let s = match v {
            None => None,
            Some(Value::Set(s)) => Some(s),
            Some(_) => return out.error(WRONGTYPE),
        };
        out.array(argv.len() - 2);
        for m in &argv[2..] {
            out.int(s.is_some_and(|s| s.contains(m)) as i64);
        }
    });
}

fn smembers(ctx: &mut Ctx) {
    // Redis runs SMEMBERS as a one-key SINTER.
    let argv = ctx.argv;
    sinter_generic(ctx, &argv[1..2], None, Inter::Members);
}

fn srandmember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() > 3 {
        return ctx.syntax_error();
    }
    if argv.len() == 2 {
        read_set(ctx, Reply::null, |s, out| {
            match s.random(&mut rand::thread_rng()) {
                Some(e) => e.reply(out),
                None => out.null(),
            }
        });
        return;
    }
    let Some(l) = ctx.int_arg(2) else {
        return;
    };
    if l == i64::MIN {
        return ctx.reply().err(OUT_OF_RANGE_LONG);
    }
    read_set(
        ctx,
        |o| o.array(0),
        |s, out| {
            let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
            if count == 0 {
                return out.array(0);
            }
            let rng = &mut rand::thread_rng();
            if !uniq || count == 1 {
                out.array(count);
                for _ in 0..count {
                    if let Some(e) = s.random(rng) {
                        e.reply(out);
                    }
                }
                return;
            }
            if count >= s.len() {
                out.array(s.len());
                s.iter().for_each(|e| e.reply(out));
                return;
            }
            let picked = s.random_distinct(count, rng);
            out.array(picked.len());
            picked.iter().for_each(|e| e.reply(out));
        },
    );
}

fn spop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() > 3 {
        return ctx.syntax_error();
    }
    if argv.len() == 3 {
        return spop_count(ctx);
    }
    let key = &argv[1];
    let set = match existing_for_write(ctx, key) {
        Err(()) => return,
        Ok(None) => return ctx.reply().null(),
        Ok(Some(s)) => s,
    };
    let Some(member) = set.pop_random(&mut rand::thread_rng()) else {
        return ctx.reply().null();
    };
    let db = ctx.db_index();
    notify_now(ctx, notify::SET, "spop", key);
    let member = Bytes::from(member);
    ctx.propagate(&[Bytes::from_static(b"SREM"), key.clone(), member.clone()]);
    ctx.reply().bulk(&member);
    if delete_if_empty(ctx, key) {
        notify_del(ctx, key);
    }
    ctx.state.signal_modified_key(db, key);
    ctx.state.dirty += 1;
}

fn spop_count(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1];
    let count = match crate::util::parse_i64(&argv[2]) {
        Some(n) if n >= 0 => n as usize,
        _ => return ctx.reply().err(OUT_OF_RANGE_POSITIVE),
    };
    let max = max_intset(ctx);
    let size = match existing_for_write(ctx, key) {
        Err(()) => return,
        Ok(None) => None,
        Ok(Some(s)) => Some(s.len()),
    };
    let Some(size) = size else {
        return empty_set(ctx.reply());
    };
    if count == 0 {
        return empty_set(ctx.reply());
    }
    let db = ctx.db_index();
    notify_now(ctx, notify::SET, "spop", key);
    // Redis counts what was actually popped.
    ctx.state.dirty += count.min(size) as u64;

    if count >= size {
        // The whole set: replied through the union machinery (as Redis does, which
        // decides the reply order), then deleted; propagated as DEL.
        sunion_diff(ctx, &argv[1..2], None, SetOp::Union);
        ctx.db().remove(key);
        notify_del(ctx, key);
        ctx.propagate(&[Bytes::from_static(b"DEL"), key.clone()]);
        ctx.state.signal_modified_key(db, key);
        return;
    }

    let Some(Value::Set(set)) = ctx.db().get_value_mut(key) else {
        return;
    };
    let rng = &mut rand::thread_rng();
    let remaining = size - count;
    let mut popped: Vec<Bytes> = Vec::with_capacity(count);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // Few to pop: pop them one by one.
        for _ in 0..count {
            match set.pop_random(rng) {
                Some(m) => popped.push(Bytes::from(m)),
                None => break,
            }
        }
    } else {
        // Most of the set: move the survivors into a new set (created by the encoding
        // rules of its first member, as Redis) and return what is left of the old one.
        let mut survivors: Option<Set> = None;
        for _ in 0..remaining {
            let Some(m) = set.pop_random(rng) else {
                break;
            };
            survivors
                .get_or_insert_with(|| Set::new_for(&m))
                .add(&m, max);
        }
        popped.extend(set.iter().map(|e| Bytes::from(e.to_bytes().into_owned())));
        if let Some(s) = survivors {
            *set = s;
        }
    }
    let out = ctx.reply();
    out.set(popped.len());
    for m in &popped {
        out.bulk(m);
    }
    let srem = Bytes::from_static(b"SREM");
    for m in popped {
        ctx.propagate(&[srem.clone(), key.clone(), m]);
    }
    ctx.state.signal_modified_key(db, key);
}

fn smove(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    let max = max_intset(ctx);
    let src_slot = classify(ctx.lookup_write(src).map(|v| &*v));
    let dst_slot = classify(ctx.lookup_write(dst).map(|v| &*v));
    if src_slot == Slot::Missing {
        return ctx.reply().int(0);
    }
    if src_slot == Slot::WrongType || dst_slot == Slot::WrongType {
        return ctx.wrongtype();
    }
    if src == dst {
        let is = matches!(ctx.db().get(src).map(|e| &e.value), Some(Value::Set(s)) if s.contains(member));
        return ctx.reply().int(is as i64);
    }
    let removed = match ctx.db().get_value_mut(src) {
        Some(Value::Set(s)) => s.remove(member),
        _ => false,
    };
    if !removed {
        return ctx.reply().int(0);
    }
    let db = ctx.db_index();
    notify_now(ctx, notify::SET, "srem", src);
    if delete_if_empty(ctx, src) {
        notify_del(ctx, src);
    }
    if dst_slot == Slot::Missing {
        add_new_key(ctx, dst, Value::Set(Set::new_for(member)));
    }
    ctx.state.signal_modified_key(db, src);
    ctx.state.dirty += 1;
    let added = match ctx.db().get_value_mut(dst) {
        Some(Value::Set(s)) => s.add(member, max),
        _ => false,
    };
    if added {
        ctx.modified(dst, notify::SET, "sadd");
    }
    ctx.deliver_notifications();
    ctx.reply().int(1);
}

// ---------------------------------------------------------------------------------------
// The algebra
// ---------------------------------------------------------------------------------------

/// Looks every source key up (STORE forms as writes, like Redis, which only changes the
/// stats) and checks types in order. `None` after replying WRONGTYPE.
fn lookup_sources(ctx: &mut Ctx, keys: &[Bytes], write: bool) -> Option<Vec<Slot>> {
    let mut slots = Vec::with_capacity(keys.len());
    for k in keys {
        let slot = if write {
            classify(ctx.lookup_write(k).map(|v| &*v))
        } else {
            classify(ctx.lookup_read(k))
        };
        if slot == Slot::WrongType {
            ctx.wrongtype();
            return None;
        }
        slots.push(slot);
    }
    Some(slots)
}

/// The sets behind `keys` (after `lookup_sources`), `None` for missing keys.
fn gather<'d>(db: &'d crate::db::Db, keys: &[Bytes]) -> Vec<Option<&'d Set>> {
    keys.iter()
        .map(|k| match db.get(k).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(s),
            _ => None,
        })
        .collect()
}

/// Stores `result` at `dst` (Redis's `setKey`, dropping any TTL) when non-empty and
/// replies with its size; deletes `dst` and replies 0 otherwise.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set, event: &str) {
    let n = result.len();
    if n > 0 {
        let existed = ctx.db().contains(dst);
        let clock = ctx.state.lru_clock();
        ctx.db().set(dst, Value::Set(result), false, clock);
        if !existed {
            let db = ctx.db_index();
            notify_new(ctx, db, dst);
            ctx.deliver_notifications();
        }
        ctx.reply().int(n as i64);
        ctx.modified(dst, notify::SET, event);
    } else {
        ctx.reply().int(0);
        delete_dst(ctx, dst);
    }
}

/// Deletes the destination of a STORE whose result is empty.
fn delete_dst(ctx: &mut Ctx, dst: &[u8]) {
    if ctx.db().remove(dst).is_some() {
        ctx.modified(dst, notify::GENERIC, "del");
    }
}

/// What an intersection produces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inter {
    Members,
    Store,
    Card { limit: usize },
}

fn sinter(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sinter_generic(ctx, &argv[1..], None, Inter::Members);
}

fn sinterstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sinter_generic(ctx, &argv[2..], Some(&argv[1]), Inter::Store);
}

fn sintercard(ctx: &mut Ctx) {
    let argv = ctx.argv;
    const NUMKEYS: &str = "numkeys should be greater than 0";
    let numkeys = match crate::util::parse_i64(&argv[1]) {
        Some(n) if n >= 1 => n as usize,
        _ => return ctx.reply().err(NUMKEYS),
    };
    if numkeys > argv.len() - 2 {
        return ctx
            .reply()
            .err("Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if argv[j].eq_ignore_ascii_case(b"limit") && more > 0 {
            j += 1;
            match crate::util::parse_i64(&argv[j]) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return ctx.reply().err("LIMIT can't be negative"),
            }
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    sinter_generic(ctx, &argv[2..2 + numkeys], None, Inter::Card { limit });
}

fn sinter_generic(ctx: &mut Ctx, keys: &[Bytes], dst: Option<&Bytes>, mode: Inter) {
    let Some(slots) = lookup_sources(ctx, keys, dst.is_some()) else {
        return;
    };
    if slots.contains(&Slot::Missing) {
        // Intersecting with an empty set: empty, and a STORE deletes its destination.
        match (mode, dst) {
            (Inter::Store, Some(d)) => {
                delete_dst(ctx, d);
                ctx.reply().int(0);
            }
            (Inter::Card { .. }, _) => ctx.reply().int(0),
            _ => empty_set(ctx.reply()),
        }
        return;
    }
    let max = max_intset(ctx);
    let dbi = ctx.db_index();
    let mut result = Set::new_intset();
    {
        let db = &ctx.state.dbs[dbi];
        let out = &mut ctx.client.out;
        let mut sets: Vec<&Set> = gather(db, keys).into_iter().flatten().collect();
        // Smallest first: its members are the candidates.
        sets.sort_by_key(|s| s.len());
        let first = sets[0];
        let mut found: Vec<Elem<'_>> = Vec::new();
        let mut card = 0usize;
        for e in first.iter() {
            let in_all = sets[1..]
                .iter()
                .all(|s| std::ptr::eq(*s, first) || s.contains_elem(e));
            if !in_all {
                continue;
            }
            match mode {
                Inter::Card { limit } => {
                    card += 1;
                    if limit != 0 && card >= limit {
                        break;
                    }
                }
                Inter::Members => found.push(e),
                Inter::Store => {
                    result.add_elem(e, max);
                }
            }
        }
        match mode {
            Inter::Card { .. } => return out.int(card as i64),
            Inter::Members => {
                out.set(found.len());
                found.iter().for_each(|e| e.reply(out));
                return;
            }
            Inter::Store => {}
        }
    }
    if let Some(d) = dst {
        store_result(ctx, d, result, "sinterstore");
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

fn sunion(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff(ctx, &argv[1..], None, SetOp::Union);
}

fn sunionstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff(ctx, &argv[2..], Some(&argv[1]), SetOp::Union);
}

fn sdiff(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff(ctx, &argv[1..], None, SetOp::Diff);
}

fn sdiffstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff(ctx, &argv[2..], Some(&argv[1]), SetOp::Diff);
}

fn sunion_diff(ctx: &mut Ctx, keys: &[Bytes], dst: Option<&Bytes>, op: SetOp) {
    if lookup_sources(ctx, keys, dst.is_some()).is_none() {
        return;
    }
    let max = max_intset(ctx);
    let dbi = ctx.db_index();
    let mut result = Set::new_intset();
    {
        let db = &ctx.state.dbs[dbi];
        let mut sets = gather(db, keys);
        let same = |a: Option<&Set>, b: Option<&Set>| match (a, b) {
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            (None, None) => true,
            _ => false,
        };
        // As Redis compares object pointers, two missing keys count as "the same set".
        let sameset = (1..sets.len()).any(|j| same(sets[0], sets[j]));
        match op {
            SetOp::Union => {
                for s in sets.iter().flatten() {
                    for e in s.iter() {
                        result.add_elem(e, max);
                    }
                }
            }
            SetOp::Diff if sameset => {}
            SetOp::Diff => {
                if let Some(first) = sets[0] {
                    // Redis's cost model: algorithm 1 checks each member of the first set
                    // against the others, algorithm 2 adds the first set and removes
                    // the others; algorithm 1 gets a 2x advantage.
                    let mut one = 0usize;
                    let mut two = 0usize;
                    for s in sets.iter().flatten() {
                        one += first.len();
                        two += s.len();
                    }
                    if one / 2 <= two {
                        sets[1..].sort_by_key(|s| std::cmp::Reverse(s.map_or(0, |s| s.len())));
                        for e in first.iter() {
                            let elsewhere = sets[1..]
                                .iter()
                                .flatten()
                                .any(|s| std::ptr::eq(*s, first) || s.contains_elem(e));
                            if !elsewhere {
                                result.add_elem(e, max);
                            }
                        }
                    } else {
                        for e in first.iter() {
                            result.add_elem(e, max);
                        }
                        for s in sets[1..].iter().flatten() {
                            for e in s.iter() {
                                result.remove_elem(e);
                            }
                            if result.is_empty() {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    match dst {
        None => {
            let out = ctx.reply();
            out.set(result.len());
            result.iter().for_each(|e| e.reply(out));
        }
        Some(d) => {
            let event = if op == SetOp::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            };
            store_result(ctx, d, result, event);
        }
    }
}

fn sscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some((cursor, opts)) = scan::collection_args(ctx, |v| matches!(v, Value::Set(_))) else {
        return;
    };
    let Some(Value::Set(s)) = ctx.db().get(&argv[1]).map(|e| &e.value) else {
        return;
    };
    let mut items: Vec<Vec<u8>> = Vec::new();
    let cursor = match s {
        // Small sets are returned whole in one call, as Redis does.
        Set::Intset(_) => s.scan(0, |e| items.push(e.to_bytes().into_owned())),
        Set::Table(_) => scan::collect(cursor, opts.count, &mut items, |c, items| {
            s.scan(c, |e| items.push(e.to_bytes().into_owned()))
        }),
    };
    items.retain(|m| opts.matches(m));
    scan::reply(ctx.reply(), cursor, &items);
}

#[cfg(test)]
mod tests {
    use crate::executor::test_support::{resp, run, setup};

    #[test]
    fn spop_propagates_srem_or_del() {
        let (mut exec, c) = setup();
        run(
            &mut exec,
            c,
            &[&["SADD", "s", "1", "2", "3", "4", "5", "6"]],
        );
        let (out, s) = run(&mut exec, c, &[&["SPOP", "s"]]);
        let member = out.split("\r\n").nth(1).expect("a bulk reply").to_string();
        assert!(s.ends_with(&resp(&["SREM", "s", &member])), "{s}");
        assert!(!s.contains("SPOP"));

        // Several members: one SREM each, applied atomically.
        let (_, s) = run(&mut exec, c, &[&["SPOP", "s", "2"]]);
        assert!(s.starts_with(&resp(&["MULTI"])), "{s}");
        assert_eq!(s.matches("SREM").count(), 2, "{s}");
        assert!(s.ends_with(&resp(&["EXEC"])), "{s}");
        // Most of the set (the other strategy) still propagates each popped member.
        let (_, s) = run(&mut exec, c, &[&["SPOP", "s", "2"]]);
        assert_eq!(s.matches("SREM").count(), 2, "{s}");

        // The whole set: a DEL.
        let (out, s) = run(&mut exec, c, &[&["SPOP", "s", "10"]]);
        assert!(out.starts_with("*1\r\n"), "{out}");
        assert_eq!(s, resp(&["DEL", "s"]));
        assert!(!exec.state.dbs[0].contains(b"s"));
    }

    #[test]
    fn no_op_writes_do_not_propagate() {
        let (mut exec, c) = setup();
        let (_, s) = run(
            &mut exec,
            c,
            &[
                &["SREM", "nokey", "a"],
                &["SINTERSTORE", "d", "nokey"],
                &["SMOVE", "nokey", "d", "a"],
                &["SPOP", "nokey"],
            ],
        );
        assert_eq!(s, "");
        let (_, s) = run(&mut exec, c, &[&["SADD", "a", "x"], &["SADD", "a", "x"]]);
        assert_eq!(
            s,
            [resp(&["SELECT", "0"]), resp(&["SADD", "a", "x"])].concat()
        );
        let (_, s) = run(&mut exec, c, &[&["SINTERSTORE", "d", "a"]]);
        assert_eq!(s, resp(&["SINTERSTORE", "d", "a"]));
    }
}
