//! String commands: GET/SET and their variants, counters, ranges, APPEND and LCS.
//!
//! Behaviour follows Redis 7.0's `t_string.c` step for step, because clients can observe
//! the order of checks through which error wins (SET parses its expire time before GET
//! reads the old value; GETEX validates the time only after finding the key; ...).
//!
//! Writes that carry a relative time are propagated in absolute form so replicas and the
//! AOF agree on the exact expiry: SET/SETEX/PSETEX with an expiry become
//! `SET key value PXAT <ms>`, GETEX becomes PEXPIREAT, PERSIST or DEL, GETSET becomes
//! SET, GETDEL becomes DEL and INCRBYFLOAT becomes `SET key <result> KEEPTTL` (so float
//! formatting can never differ between master and replica).

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::keys::{already_expired, invalid_expire_time, notify_new, stored_expiry};
use crate::commands::long_double::LongDouble;
use crate::commands::{spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::Value;
use crate::executor::client::ClientKind;
use crate::executor::state::notify;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    spec!("get", 2, READONLY | FAST, [1, 1, 1], get, "string", "1.0.0",
        "Get the value of a key", "O(1)"),
    spec!("set", -3, WRITE | DENYOOM, [1, 1, 1], set, "string", "1.0.0",
        "Set the string value of a key", "O(1)"),
    spec!("setnx", 3, WRITE | DENYOOM | FAST, [1, 1, 1], setnx, "string", "1.0.0",
        "Set the value of a key, only if the key does not exist", "O(1)"),
    spec!("setex", 4, WRITE | DENYOOM, [1, 1, 1], setex, "string", "2.0.0",
        "Set the value and expiration of a key", "O(1)"),
    spec!("psetex", 4, WRITE | DENYOOM, [1, 1, 1], psetex, "string", "2.6.0",
        "Set the value and expiration in milliseconds of a key", "O(1)"),
    spec!("mset", -3, WRITE | DENYOOM, [1, -1, 2], mset, "string", "1.0.1",
        "Set multiple keys to multiple values",
        "O(N) where N is the number of keys to set."),
    spec!("msetnx", -3, WRITE | DENYOOM, [1, -1, 2], msetnx, "string", "1.0.1",
        "Set multiple keys to multiple values, only if none of the keys exist",
        "O(N) where N is the number of keys to set."),
    spec!("mget", -2, READONLY | FAST, [1, -1, 1], mget, "string", "1.0.0",
        "Get the values of all the given keys",
        "O(N) where N is the number of keys to retrieve."),
    spec!("getset", 3, WRITE | DENYOOM | FAST, [1, 1, 1], getset, "string", "1.0.0",
        "Set the string value of a key and return its old value", "O(1)"),
    spec!("getdel", 2, WRITE | FAST, [1, 1, 1], getdel, "string", "6.2.0",
        "Get the value of a key and delete the key", "O(1)"),
    spec!("getex", -2, WRITE | FAST, [1, 1, 1], getex, "string", "6.2.0",
        "Get the value of a key and optionally set its expiration", "O(1)"),
    spec!("append", 3, WRITE | DENYOOM | FAST, [1, 1, 1], append, "string", "2.0.0",
        "Append a value to a key",
        "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation."),
    spec!("strlen", 2, READONLY | FAST, [1, 1, 1], strlen, "string", "2.2.0",
        "Get the length of the value stored in a key", "O(1)"),
    spec!("getrange", 4, READONLY, [1, 1, 1], getrange, "string", "2.4.0",
        "Get a substring of the string stored at a key",
        "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."),
    spec!("setrange", 4, WRITE | DENYOOM, [1, 1, 1], setrange, "string", "2.2.0",
        "Overwrite part of a string at key starting at the specified offset",
        "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument."),
    spec!("substr", 4, READONLY, [1, 1, 1], getrange, "string", "1.0.0",
        "Get a substring of the string stored at a key",
        "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."),
    spec!("incr", 2, WRITE | DENYOOM | FAST, [1, 1, 1], incr, "string", "1.0.0",
        "Increment the integer value of a key by one", "O(1)"),
    spec!("decr", 2, WRITE | DENYOOM | FAST, [1, 1, 1], decr, "string", "1.0.0",
        "Decrement the integer value of a key by one", "O(1)"),
    spec!("incrby", 3, WRITE | DENYOOM | FAST, [1, 1, 1], incrby, "string", "1.0.0",
        "Increment the integer value of a key by the given amount", "O(1)"),
    spec!("decrby", 3, WRITE | DENYOOM | FAST, [1, 1, 1], decrby, "string", "1.0.0",
        "Decrement the integer value of a key by the given number", "O(1)"),
    spec!("incrbyfloat", 3, WRITE | DENYOOM | FAST, [1, 1, 1], incrbyfloat, "string", "2.6.0",
        "Increment the float value of a key by the given amount", "O(1)"),
    spec!("lcs", -3, READONLY, [1, 2, 1], lcs, "string", "7.0.0",
        "Find longest common substring",
        "O(N*M) where N and M are the lengths of s1 and s2, respectively"),
];

// ---------------------------------------------------------------------------------------
// SET / GETEX option parsing (Redis's parseExtendedStringArgumentsOrReply)
// ---------------------------------------------------------------------------------------

/// Option bits, as Redis's OBJ_SET_NX ... OBJ_PERSIST.
pub(crate) mod opt {
    pub const NX: u32 = 1 << 0;
    pub const XX: u32 = 1 << 1;
    pub const EX: u32 = 1 << 2;
    pub const PX: u32 = 1 << 3;
    pub const KEEPTTL: u32 = 1 << 4;
    pub const GET: u32 = 1 << 5;
    pub const EXAT: u32 = 1 << 6;
    pub const PXAT: u32 = 1 << 7;
    pub const PERSIST: u32 = 1 << 8;
}

/// Parsed SET/GETEX options: flags, whether the time is in ms, and the time's argv index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrOpts {
    pub flags: u32,
    pub millis: bool,
    pub expire: Option<usize>,
}

/// Parses SET's (options from argv[3]) or GETEX's (from argv[2]) options; `None` is a
/// syntax error. Conflicts are exactly Redis's: an option is rejected when a conflicting
/// one came earlier, while repeating the same one is allowed (the last time wins).
pub(crate) fn parse_string_options(argv: &[Bytes], for_set: bool) -> Option<StrOpts> {
    use opt::*;
    let mut o = StrOpts {
        flags: 0,
        millis: false,
        expire: None,
    };
    let mut j = if for_set { 3 } else { 2 };
    while j < argv.len() {
        let a = &argv[j][..];
        let has_next = j + 1 < argv.len();
        let f = o.flags;
        let is = |name: &[u8]| a.eq_ignore_ascii_case(name);
        if for_set && is(b"nx") && f & XX == 0 {
            o.flags |= NX;
        } else if for_set && is(b"xx") && f & NX == 0 {
            o.flags |= XX;
        } else if for_set && is(b"get") {
            o.flags |= GET;
        } else if for_set && is(b"keepttl") && f & (PERSIST | EX | EXAT | PX | PXAT) == 0 {
            o.flags |= KEEPTTL;
        } else if !for_set && is(b"persist") && f & (EX | EXAT | PX | PXAT | KEEPTTL) == 0 {
            o.flags |= PERSIST;
        } else if is(b"ex") && f & (KEEPTTL | PERSIST | EXAT | PX | PXAT) == 0 && has_next {
            o.flags |= EX;
            o.expire = Some(j + 1);
            j += 1;
        } else if is(b"px") && f & (KEEPTTL | PERSIST | EX | EXAT | PXAT) == 0 && has_next {
            o.flags |= PX;
            o.millis = true;
            o.expire = Some(j + 1);
            j += 1;
        } else if is(b"exat") && f & (KEEPTTL | PERSIST | EX | PX | PXAT) == 0 && has_next {
            o.flags |= EXAT;
            o.expire = Some(j + 1);
            j += 1;
        } else if is(b"pxat") && f & (KEEPTTL | PERSIST | EX | EXAT | PX) == 0 && has_next {
            o.flags |= PXAT;
            o.millis = true;
            o.expire = Some(j + 1);
            j += 1;
        } else {
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Converts an expire argument to an absolute Unix time in ms: `Err(true)` for Redis's
/// "invalid expire time" (not positive, or overflowing), `Err(false)` when not an integer.
pub(crate) fn expire_ms(arg: &[u8], flags: u32, millis: bool, now: i64) -> Result<i64, bool> {
    let v = parse_i64(arg).ok_or(false)?;
    if v <= 0 || (!millis && v > i64::MAX / 1000) {
        return Err(true);
    }
    let mut ms = if millis { v } else { v * 1000 };
    if flags & (opt::EX | opt::PX) != 0 {
        // Redis adds in C and checks for the wrapped result.
        ms = ms.wrapping_add(now);
    }
    if ms <= 0 {
        return Err(true);
    }
    Ok(ms)
}

/// `expire_ms` replying with Redis's errors.
fn expire_ms_or_reply(ctx: &mut Ctx, idx: usize, flags: u32, millis: bool) -> Option<i64> {
    let now = ctx.state.now_ms as i64;
    match expire_ms(&ctx.argv[idx], flags, millis, now) {
        Ok(ms) => Some(ms),
        Err(true) => {
            invalid_expire_time(ctx);
            None
        }
        Err(false) => {
            ctx.reply().err("value is not an integer or out of range");
            None
        }
    }
}

/// Redis's `checkStringLength`: the size limit is proto-max-bulk-len, not enforced for
/// our master's stream (it already accepted the write).
fn check_string_length(ctx: &mut Ctx, size: u64) -> bool {
    if ctx.client.kind == ClientKind::Master || size <= ctx.state.cfg.proto_max_bulk_len {
        return true;
    }
    ctx.reply()
        .err("string exceeds maximum allowed size (proto-max-bulk-len)");
    false
}

fn ms_arg(ms: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(ms).as_bytes())
}

// ---------------------------------------------------------------------------------------
// GET, SET and friends
// ---------------------------------------------------------------------------------------

/// Redis's `getGenericCommand`: replies with the value of argv[1] or null; false (after
/// replying WRONGTYPE) when the key holds another type.
fn get_generic(ctx: &mut Ctx) -> bool {
    // `argv` outlives the borrow of `ctx`: no refcount bump for the key.
    let argv = ctx.argv;
    ctx.read_with(&argv[1], |v, out| match v {
        None => {
            out.null();
            true
        }
        Some(v) => match v.as_str() {
            Some(mut s) => {
                out.bulk(s.bytes());
                true
            }
            None => {
                out.error(WRONGTYPE);
                false
            }
        },
    })
}

fn get(ctx: &mut Ctx) {
    get_generic(ctx);
}

/// What SET-like commands answer: SET and SETEX say OK/null, SETNX says 1/0.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetReply {
    Ok,
    Int,
}

/// Redis's `setGenericCommand`.
fn set_generic(ctx: &mut Ctx, o: StrOpts, val_idx: usize, reply: SetReply) {
    let expire = match o.expire {
        Some(i) => match expire_ms_or_reply(ctx, i, o.flags, o.millis) {
            Some(ms) => Some(ms),
            None => return,
        },
        None => None,
    };
    let get = o.flags & opt::GET != 0;
    if get && !get_generic(ctx) {
        return;
    }
    let key = ctx.argv[1].clone();
    // Only NX/XX need to know beforehand whether the key exists; a plain SET learns it
    // from the overwrite itself (one hash lookup fewer on the hottest write).
    if o.flags & (opt::NX | opt::XX) != 0 {
        let found = ctx.lookup_write(&key).is_some();
        if (o.flags & opt::NX != 0 && found) || (o.flags & opt::XX != 0 && !found) {
            if !get {
                match reply {
                    SetReply::Ok => ctx.reply().null(),
                    SetReply::Int => ctx.reply().int(0),
                }
            }
            return;
        }
    } else {
        ctx.expire_if_needed(&key);
    }
    let value = Value::from_bytes(&ctx.argv[val_idx]);
    let lru = ctx.state.lru_clock();
    let keep_ttl = o.flags & opt::KEEPTTL != 0;
    if !ctx.db().set(&key, value, keep_ttl, lru) {
        let db = ctx.db_index();
        notify_new(ctx, db, &key);
    }
    ctx.modified(&key, notify::STRING, "set");
    if let Some(ms) = expire {
        ctx.db().set_expire(&key, stored_expiry(ms));
        ctx.propagate(&[
            Bytes::from_static(b"SET"),
            key.clone(),
            ctx.argv[val_idx].clone(),
            Bytes::from_static(b"PXAT"),
            ms_arg(ms),
        ]);
        let db = ctx.db_index();
        ctx.state
            .notify_keyspace_event(notify::GENERIC, "expire", &key, db);
        ctx.deliver_notifications();
    }
    if !get {
        match reply {
            SetReply::Ok => ctx.reply().ok(),
            SetReply::Int => ctx.reply().int(1),
        }
    } else if expire.is_none() {
        // Replicas must not see GET (it changes nothing): drop every GET token.
        let argv: Vec<Bytes> = ctx
            .argv
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !a.eq_ignore_ascii_case(b"get"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.propagate(&argv);
    }
}

fn set(ctx: &mut Ctx) {
    let Some(o) = parse_string_options(ctx.argv, true) else {
        ctx.syntax_error();
        return;
    };
    set_generic(ctx, o, 2, SetReply::Ok);
}

fn setnx(ctx: &mut Ctx) {
    let o = StrOpts {
        flags: opt::NX,
        millis: false,
        expire: None,
    };
    set_generic(ctx, o, 2, SetReply::Int);
}

fn setex(ctx: &mut Ctx) {
    let o = StrOpts {
        flags: opt::EX,
        millis: false,
        expire: Some(2),
    };
    set_generic(ctx, o, 3, SetReply::Ok);
}

fn psetex(ctx: &mut Ctx) {
    let o = StrOpts {
        flags: opt::PX,
        millis: true,
        expire: Some(2),
    };
    set_generic(ctx, o, 3, SetReply::Ok);
}

fn getex(ctx: &mut Ctx) {
    let Some(o) = parse_string_options(ctx.argv, false) else {
        ctx.syntax_error();
        return;
    };
    let key = ctx.argv[1].clone();
    // Found and a string? (the lookup counts as a read: stats and LRU)
    let found = ctx.read_with(&key, |v, out| match v {
        None => {
            out.null();
            false
        }
        Some(v) if !v.is_string() => {
            out.error(WRONGTYPE);
            false
        }
        Some(_) => true,
    });
    if !found {
        return;
    }
    let expire = match o.expire {
        Some(i) => match expire_ms_or_reply(ctx, i, o.flags, o.millis) {
            Some(ms) => Some(ms),
            None => return,
        },
        None => None,
    };
    // Reply before the key may be deleted below.
    {
        let db = &ctx.state.dbs[ctx.client.db];
        if let Some(mut s) = db.get(&key).and_then(|e| e.value.as_str()) {
            ctx.client.out.bulk(s.bytes());
        }
    }
    match expire {
        Some(ms) if o.flags & (opt::EXAT | opt::PXAT) != 0 && already_expired(ctx, ms) => {
            ctx.db().remove(&key);
            ctx.propagate(&[Bytes::from_static(b"DEL"), key.clone()]);
            ctx.modified(&key, notify::GENERIC, "del");
        }
        Some(ms) => {
            ctx.db().set_expire(&key, stored_expiry(ms));
            ctx.propagate(&[Bytes::from_static(b"PEXPIREAT"), key.clone(), ms_arg(ms)]);
            ctx.modified(&key, notify::GENERIC, "expire");
        }
        None if o.flags & opt::PERSIST != 0 && ctx.db().expire_at(&key).is_some() => {
            ctx.db().set_expire(&key, 0);
            ctx.propagate(&[Bytes::from_static(b"PERSIST"), key.clone()]);
            ctx.modified(&key, notify::GENERIC, "persist");
        }
        None => {}
    }
}

fn getdel(ctx: &mut Ctx) {
    if !get_generic(ctx) {
        return;
    }
    let key = ctx.argv[1].clone();
    if ctx.db().remove(&key).is_some() {
        ctx.propagate(&[Bytes::from_static(b"DEL"), key.clone()]);
        ctx.modified(&key, notify::GENERIC, "del");
    }
}

fn getset(ctx: &mut Ctx) {
    if !get_generic(ctx) {
        return;
    }
    let key = ctx.argv[1].clone();
    let found = ctx.db().contains(&key);
    let value = Value::from_bytes(&ctx.argv[2]);
    let lru = ctx.state.lru_clock();
    ctx.db().set(&key, value, false, lru);
    if !found {
        let db = ctx.db_index();
        notify_new(ctx, db, &key);
    }
    ctx.modified(&key, notify::STRING, "set");
    ctx.propagate(&[Bytes::from_static(b"SET"), key.clone(), ctx.argv[2].clone()]);
}

fn mset(ctx: &mut Ctx) {
    mset_generic(ctx, false);
}

fn msetnx(ctx: &mut Ctx) {
    mset_generic(ctx, true);
}

fn mset_generic(ctx: &mut Ctx, nx: bool) {
    if ctx.argv.len().is_multiple_of(2) {
        let msg = format!(
            "wrong number of arguments for '{}' command",
            ctx.spec.full_name
        );
        ctx.reply().err(&msg);
        return;
    }
    let argv = ctx.argv;
    if nx {
        for pair in argv[1..].chunks_exact(2) {
            if ctx.lookup_write(&pair[0]).is_some() {
                ctx.reply().int(0);
                return;
            }
        }
    }
    let db = ctx.db_index();
    let lru = ctx.state.lru_clock();
    for pair in argv[1..].chunks_exact(2) {
        ctx.expire_if_needed(&pair[0]);
        let existed = ctx
            .db()
            .set(&pair[0], Value::from_bytes(&pair[1]), false, lru);
        if !existed {
            notify_new(ctx, db, &pair[0]);
        }
        ctx.modified(&pair[0], notify::STRING, "set");
    }
    if nx {
        ctx.reply().int(1);
    } else {
        ctx.reply().ok();
    }
}

fn mget(ctx: &mut Ctx) {
    let argv = ctx.argv;
    ctx.reply().array(argv.len() - 1);
    for key in &argv[1..] {
        ctx.read_with(key, |v, out| match v.and_then(|v| v.as_str()) {
            Some(mut s) => out.bulk(s.bytes()),
            None => out.null(),
        });
    }
}

// ---------------------------------------------------------------------------------------
// APPEND, STRLEN, GETRANGE, SETRANGE
// ---------------------------------------------------------------------------------------

fn append(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    let tail = ctx.argv[2].clone();
    let current = ctx.lookup_write(&key).map(|v| v.str_len());
    let total = match current {
        None => {
            let value = Value::from_bytes(&tail);
            let lru = ctx.state.lru_clock();
            ctx.db().insert_new(&key, value, 0, lru);
            let db = ctx.db_index();
            notify_new(ctx, db, &key);
            tail.len()
        }
        Some(None) => {
            ctx.wrongtype();
            return;
        }
        Some(Some(len)) => {
            let total = len + tail.len();
            if !check_string_length(ctx, total as u64) {
                return;
            }
            if let Some(buf) = ctx.db().get_value_mut(&key).and_then(|v| v.make_raw()) {
                buf.extend_from_slice(&tail);
            }
            total
        }
    };
    ctx.modified(&key, notify::STRING, "append");
    ctx.reply().int(total as i64);
}

fn strlen(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    ctx.read_with(&key, |v, out| match v {
        None => out.int(0),
        Some(v) => match v.str_len() {
            Some(n) => out.int(n as i64),
            None => out.error(WRONGTYPE),
        },
    });
}

/// The byte range GETRANGE returns for a string of `len` bytes, Redis's index rules:
/// negative indexes count from the end, out-of-range ends are clamped.
pub(crate) fn range_of(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize + 1))
}

/// GETRANGE and SUBSTR.
fn getrange(ctx: &mut Ctx) {
    let Some(start) = ctx.int_arg(2) else {
        return;
    };
    let Some(end) = ctx.int_arg(3) else {
        return;
    };
    let key = ctx.argv[1].clone();
    ctx.read_with(&key, |v, out| match v {
        None => out.bulk(b""),
        Some(v) => match v.as_str() {
            None => out.error(WRONGTYPE),
            Some(mut s) => {
                let s = s.bytes();
                match range_of(s.len(), start, end) {
                    Some((a, b)) => out.bulk(&s[a..b]),
                    None => out.bulk(b""),
                }
            }
        },
    });
}

fn setrange(ctx: &mut Ctx) {
    let Some(offset) = ctx.int_arg(2) else {
        return;
    };
    if offset < 0 {
        ctx.reply().err("offset is out of range");
        return;
    }
    let offset = offset as u64;
    let key = ctx.argv[1].clone();
    let value = ctx.argv[3].clone();
    let end = offset.saturating_add(value.len() as u64);
    match ctx.lookup_write(&key).map(|v| v.str_len()) {
        None => {
            // Nothing to write on a missing key: no key is created.
            if value.is_empty() {
                ctx.reply().int(0);
                return;
            }
            if !check_string_length(ctx, end) {
                return;
            }
            let mut buf = vec![0u8; end as usize];
            buf[offset as usize..].copy_from_slice(&value);
            let lru = ctx.state.lru_clock();
            ctx.db().insert_new(&key, Value::Raw(Box::new(buf)), 0, lru);
            let db = ctx.db_index();
            notify_new(ctx, db, &key);
        }
        Some(None) => {
            ctx.wrongtype();
            return;
        }
        Some(Some(len)) => {
            if value.is_empty() {
                ctx.reply().int(len as i64);
                return;
            }
            if !check_string_length(ctx, end) {
                return;
            }
            if let Some(buf) = ctx.db().get_value_mut(&key).and_then(|v| v.make_raw()) {
                if buf.len() < end as usize {
                    buf.resize(end as usize, 0);
                }
                buf[offset as usize..end as usize].copy_from_slice(&value);
            }
        }
    }
    ctx.modified(&key, notify::STRING, "setrange");
    let len = ctx
        .db()
        .get(&key)
        .and_then(|e| e.value.str_len())
        .unwrap_or(0);
    ctx.reply().int(len as i64);
}

// ---------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------

fn incr(ctx: &mut Ctx) {
    incr_decr(ctx, 1);
}

fn decr(ctx: &mut Ctx) {
    incr_decr(ctx, -1);
}

fn incrby(ctx: &mut Ctx) {
    if let Some(n) = ctx.int_arg(2) {
        incr_decr(ctx, n);
    }
}

fn decrby(ctx: &mut Ctx) {
    let Some(n) = ctx.int_arg(2) else {
        return;
    };
    if n == i64::MIN {
        ctx.reply().err("decrement would overflow");
        return;
    }
    incr_decr(ctx, -n);
}

fn incr_decr(ctx: &mut Ctx, by: i64) {
    /// The outcome of updating an existing key in place.
    enum Step {
        Missing,
        Done(i64),
        WrongType,
        NotInt,
        Overflow,
    }
    let key = ctx.argv[1].clone();
    // Existing keys are updated in place, so the TTL stays (Redis's dbOverwrite).
    let step = match ctx.lookup_write(&key) {
        None => Step::Missing,
        Some(v) => {
            let old = match &*v {
                Value::Int(n) => Ok(*n),
                other => match other.as_str() {
                    None => Err(Step::WrongType),
                    Some(mut s) => parse_i64(s.bytes()).ok_or(Step::NotInt),
                },
            };
            match old.map(|n| n.checked_add(by)) {
                Err(e) => e,
                Ok(None) => Step::Overflow,
                Ok(Some(new)) => {
                    *v = Value::Int(new);
                    Step::Done(new)
                }
            }
        }
    };
    let new = match step {
        Step::Done(new) => new,
        Step::Missing => {
            store_keeping_ttl(ctx, &key, Value::Int(by), false);
            by
        }
        Step::WrongType => return ctx.wrongtype(),
        Step::NotInt => return ctx.reply().err("value is not an integer or out of range"),
        Step::Overflow => return ctx.reply().err("increment or decrement would overflow"),
    };
    ctx.modified(&key, notify::STRING, "incrby");
    ctx.reply().int(new);
}

/// Overwrites an existing key's value keeping its TTL (Redis's `dbOverwrite`), or adds
/// the key.
fn store_keeping_ttl(ctx: &mut Ctx, key: &[u8], value: Value, exists: bool) {
    if exists {
        if let Some(v) = ctx.db().get_value_mut(key) {
            *v = value;
        }
    } else {
        let lru = ctx.state.lru_clock();
        ctx.db().insert_new(key, value, 0, lru);
        let db = ctx.db_index();
        notify_new(ctx, db, key);
    }
}

/// What INCRBYFLOAT finds at the key.
enum Current {
    Missing,
    WrongType,
    Invalid,
    Value(LongDouble),
}

fn incrbyfloat(ctx: &mut Ctx) {
    const NOT_FLOAT: &str = "value is not a valid float";
    let key = ctx.argv[1].clone();
    let current = match ctx.lookup_write(&key) {
        None => Current::Missing,
        Some(Value::Int(n)) => Current::Value(LongDouble::from_i64(*n)),
        Some(v) => match v.as_str() {
            None => Current::WrongType,
            Some(mut s) => LongDouble::parse(s.bytes()).map_or(Current::Invalid, Current::Value),
        },
    };
    let old = match current {
        Current::Missing => LongDouble::from_i64(0),
        Current::Value(v) => v,
        Current::WrongType => return ctx.wrongtype(),
        Current::Invalid => return ctx.reply().err(NOT_FLOAT),
    };
    let Some(by) = LongDouble::parse(&ctx.argv[2]) else {
        ctx.reply().err(NOT_FLOAT);
        return;
    };
    let sum = match old.checked_add(by) {
        Some(v) if v.is_finite() => v,
        _ => {
            ctx.reply().err("increment would produce NaN or Infinity");
            return;
        }
    };
    let text = sum.to_human_string();
    let exists = !matches!(current, Current::Missing);
    store_keeping_ttl(ctx, &key, Value::string_no_int(text.as_bytes()), exists);
    ctx.modified(&key, notify::STRING, "incrbyfloat");
    ctx.reply().bulk(text.as_bytes());
    let text = Bytes::from(text);
    ctx.propagate(&[
        Bytes::from_static(b"SET"),
        key,
        text,
        Bytes::from_static(b"KEEPTTL"),
    ]);
}

// ---------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------

/// One matching range of LCS IDX: positions in a, positions in b (inclusive), length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LcsMatch {
    pub a: (u32, u32),
    pub b: (u32, u32),
    pub len: u32,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LcsResult {
    pub len: u32,
    /// The subsequence itself (when requested).
    pub string: Vec<u8>,
    /// Ranges from the end of the strings backwards, as Redis emits them.
    pub matches: Vec<LcsMatch>,
}

/// Longest common subsequence by the classic dynamic program, walked back from the end
/// exactly as Redis does so that ties pick the same ranges. `None` if the table cannot be
/// allocated.
pub(crate) fn lcs_compute(a: &[u8], b: &[u8], walk: bool, min_match: u64) -> Option<LcsResult> {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let cells = (alen + 1).checked_mul(w)?;
    let mut t: Vec<u32> = Vec::new();
    t.try_reserve_exact(cells).ok()?;
    t.resize(cells, 0);
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let len = t[alen * w + blen];
    let mut res = LcsResult {
        len,
        ..Default::default()
    };
    if !walk {
        return Some(res);
    }
    let mut out = vec![0u8; len as usize];
    let mut idx = len as usize;
    let (mut i, mut j) = (alen, blen);
    // alen as range start means "no range in progress".
    let none = alen as u32;
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (none, 0u32, 0u32, 0u32);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            out[idx - 1] = a[i - 1];
            if a_start == none {
                a_start = (i - 1) as u32;
                a_end = (i - 1) as u32;
                b_start = (j - 1) as u32;
                b_end = (j - 1) as u32;
            } else if a_start == i as u32 && b_start == j as u32 {
                // Contiguous with the current range: extend it backwards.
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != none {
                emit = true;
            }
        }
        if emit {
            let mlen = a_end.wrapping_sub(a_start).wrapping_add(1);
            if min_match == 0 || mlen as u64 >= min_match {
                res.matches.push(LcsMatch {
                    a: (a_start, a_end),
                    b: (b_start, b_end),
                    len: mlen,
                });
            }
            a_start = none;
        }
    }
    res.string = out;
    Some(res)
}

fn lcs(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let a = ctx.lookup_read(&argv[1]).map(|v| v.to_vec());
    let b = ctx.lookup_read(&argv[2]).map(|v| v.to_vec());
    let (a, b) = match (a, b) {
        (Some(None), _) | (_, Some(None)) => {
            ctx.reply()
                .err("The specified keys must contain string values");
            return;
        }
        (a, b) => (
            a.flatten().unwrap_or_default(),
            b.flatten().unwrap_or_default(),
        ),
    };
    let (mut get_len, mut get_idx, mut with_len) = (false, false, false);
    let mut min_match: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let o = &argv[j][..];
        let more = argv.len() - 1 - j;
        if o.eq_ignore_ascii_case(b"idx") {
            get_idx = true;
        } else if o.eq_ignore_ascii_case(b"len") {
            get_len = true;
        } else if o.eq_ignore_ascii_case(b"withmatchlen") {
            with_len = true;
        } else if o.eq_ignore_ascii_case(b"minmatchlen") && more > 0 {
            let Some(n) = ctx.int_arg(j + 1) else {
                return;
            };
            min_match = n.max(0);
            j += 1;
        } else {
            ctx.syntax_error();
            return;
        }
        j += 1;
    }
    if get_len && get_idx {
        ctx.reply()
            .err("If you want both the length and indexes, please just use IDX.");
        return;
    }
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        ctx.reply().err("String too long for LCS");
        return;
    }
    let table_bytes = (a.len() as u64 + 1) * (b.len() as u64 + 1) * 4;
    if table_bytes > ctx.state.cfg.proto_max_bulk_len {
        ctx.reply()
            .err("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    let walk = get_idx || !get_len;
    let Some(res) = lcs_compute(&a, &b, walk, min_match as u64) else {
        ctx.reply()
            .err("Insufficient memory, failed allocating transient memory for LCS");
        return;
    };
    let out = ctx.reply();
    if get_idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(res.matches.len());
        for m in &res.matches {
            out.array(2 + with_len as usize);
            out.array(2);
            out.int(m.a.0 as i64);
            out.int(m.a.1 as i64);
            out.array(2);
            out.int(m.b.0 as i64);
            out.int(m.b.1 as i64);
            if with_len {
                out.int(m.len as i64);
            }
        }
        out.bulk(b"len");
        out.int(res.len as i64);
    } else if get_len {
        out.int(res.len as i64);
    } else {
        out.bulk(&res.string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn set_options() {
        use opt::*;
        let p = |s: &str| parse_string_options(&argv(s), true);
        assert_eq!(p("set k v").map(|o| o.flags), Some(0));
        let o = p("set k v nx ex 10").unwrap();
        assert_eq!((o.flags, o.millis, o.expire), (NX | EX, false, Some(5)));
        let o = p("set k v PXAT 5 get").unwrap();
        assert_eq!((o.flags, o.millis, o.expire), (PXAT | GET, true, Some(4)));
        assert_eq!(p("set k v ex 1 ex 2").map(|o| o.expire), Some(Some(6)));
        assert_eq!(p("set k v get get").map(|o| o.flags), Some(GET));
        for bad in [
            "set k v nx xx",
            "set k v xx nx",
            "set k v ex 10 px 10",
            "set k v ex 10 keepttl",
            "set k v keepttl exat 1",
            "set k v ex",
            "set k v persist",
            "set k v foo",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        let g = |s: &str| parse_string_options(&argv(s), false);
        assert_eq!(g("getex k persist").map(|o| o.flags), Some(PERSIST));
        assert_eq!(g("getex k ex 10 persist"), None);
        assert_eq!(g("getex k persist ex 10"), None);
        assert_eq!(g("getex k keepttl"), None);
        assert_eq!(g("getex k nx"), None);
    }

    #[test]
    fn expire_times() {
        use opt::*;
        assert_eq!(expire_ms(b"10", EX, false, 1000), Ok(11_000));
        assert_eq!(expire_ms(b"10", PX, true, 1000), Ok(1010));
        assert_eq!(expire_ms(b"10", EXAT, false, 1000), Ok(10_000));
        assert_eq!(expire_ms(b"0", EX, false, 1000), Err(true));
        assert_eq!(expire_ms(b"-1", PXAT, true, 1000), Err(true));
        assert_eq!(expire_ms(b"abc", EX, false, 1000), Err(false));
        assert_eq!(expire_ms(b"9223372036854775807", EX, false, 1), Err(true));
        assert_eq!(expire_ms(b"9223372036854775807", PX, true, 1), Err(true));
        assert_eq!(
            expire_ms(b"9223372036854775807", PXAT, true, 1),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn getrange_indexes() {
        // "Hello World": 11 bytes.
        assert_eq!(range_of(11, 0, -1), Some((0, 11)));
        assert_eq!(range_of(11, -3, -1), Some((8, 11)));
        assert_eq!(range_of(11, -1, -3), None);
        assert_eq!(range_of(11, 5, 2), None);
        assert_eq!(range_of(11, 100, 200), None);
        assert_eq!(range_of(11, -100, -50), Some((0, 1)));
        assert_eq!(range_of(11, -100, 2), Some((0, 3)));
        assert_eq!(range_of(0, 0, -1), None);
        assert_eq!(range_of(11, i64::MAX, i64::MIN), None);
    }

    #[test]
    fn lcs_like_redis() {
        let r = lcs_compute(b"ohmytext", b"mynewtext", true, 0).unwrap();
        assert_eq!(r.len, 6);
        assert_eq!(r.string, b"mytext");
        assert_eq!(
            r.matches,
            vec![
                LcsMatch {
                    a: (4, 7),
                    b: (5, 8),
                    len: 4
                },
                LcsMatch {
                    a: (2, 3),
                    b: (0, 1),
                    len: 2
                },
            ]
        );
        let r = lcs_compute(b"ohmytext", b"mynewtext", true, 4).unwrap();
        assert_eq!(r.matches.len(), 1);
        let r = lcs_compute(b"ohmytext", b"mynewtext", false, 0).unwrap();
        assert_eq!((r.len, r.string.len()), (6, 0));
        let r = lcs_compute(b"", b"abc", true, 0).unwrap();
        assert_eq!(r, LcsResult::default());
    }
}
