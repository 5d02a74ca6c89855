//! Generic key commands: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, MOVE, COPY, KEYS,
//! SCAN, RANDOMKEY, DBSIZE, TOUCH, OBJECT, the EXPIRE family, TTL family and PERSIST.
//!
//! Also home of the helpers the string family shares with these commands: the expiry
//! rules (when an absolute time counts as already past, Redis's "invalid expire time"
//! error), "new key" notifications and the no-touch lookup that TTL, EXISTS, TYPE and
//! OBJECT use (Redis's LOOKUP_NOTOUCH: stats count, the LRU clock does not move, so that
//! OBJECT IDLETIME can observe a key without resetting it).
//!
//! Propagation follows Redis 7.0: relative expiries travel as PEXPIREAT with the absolute
//! time, an expiry already in the past travels as DEL (the key is deleted here and now),
//! and everything else is propagated as the client sent it.

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::{scan, spec, CommandSpec, Ctx};
use crate::executor::state::notify;
use crate::util::glob_match;

/// An OBJECT subcommand whose key is argument 2.
macro_rules! object_sub {
    ($full:literal, $name:literal, $arity:expr, $flags:expr, $first:expr, $handler:expr,
     $since:literal, $summary:literal) => {
        CommandSpec {
            name: $name,
            full_name: $full,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $first,
            step: ($first != 0) as i32,
            handler: $handler,
            group: "generic",
            summary: $summary,
            since: $since,
            complexity: "O(1)",
            subcommands: &[],
        }
    };
}

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    object_sub!(
        "object|encoding",
        "encoding",
        3,
        READONLY,
        2,
        object_encoding,
        "2.2.3",
        "Inspect the internal encoding of a Redis object"
    ),
    object_sub!(
        "object|freq",
        "freq",
        3,
        READONLY,
        2,
        object_freq,
        "4.0.0",
        "Get the logarithmic access frequency counter of a Redis object"
    ),
    object_sub!(
        "object|help",
        "help",
        2,
        LOADING | STALE,
        0,
        object_help,
        "6.2.0",
        "Show helpful text about the different subcommands"
    ),
    object_sub!(
        "object|idletime",
        "idletime",
        3,
        READONLY,
        2,
        object_idletime,
        "2.2.3",
        "Get the time since a Redis object was last accessed"
    ),
    object_sub!(
        "object|refcount",
        "refcount",
        3,
        READONLY,
        2,
        object_refcount,
        "2.2.3",
        "Get the number of references to the value of the key"
    ),
];

pub static COMMANDS: &[CommandSpec] = &[
    spec!("del", -2, WRITE, [1, -1, 1], del, "generic", "1.0.0",
        "Delete a key",
        "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1)."),
    spec!("unlink", -2, WRITE | FAST, [1, -1, 1], del, "generic", "4.0.0",
        "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of."),
    spec!("exists", -2, READONLY | FAST, [1, -1, 1], exists, "generic", "1.0.0",
        "Determine if a key exists",
        "O(N) where N is the number of keys to check."),
    spec!("type", 2, READONLY | FAST, [1, 1, 1], type_cmd, "generic", "1.0.0",
        "Determine the type stored at key", "O(1)"),
    spec!("rename", 3, WRITE, [1, 2, 1], rename, "generic", "1.0.0",
        "Rename a key", "O(1)"),
    spec!("renamenx", 3, WRITE | FAST, [1, 2, 1], renamenx, "generic", "1.0.0",
        "Rename a key, only if the new key does not exist", "O(1)"),
    spec!("move", 3, WRITE | FAST, [1, 1, 1], move_cmd, "generic", "1.0.0",
        "Move a key to another database", "O(1)"),
    spec!("copy", -3, WRITE | DENYOOM, [1, 2, 1], copy, "generic", "6.2.0",
        "Copy a key",
        "O(N) worst case for collections, where N is the number of nested items. O(1) for string values."),
    spec!("keys", 2, READONLY, [0, 0, 0], keys, "generic", "1.0.0",
        "Find all keys matching the given pattern",
        "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length."),
    spec!("scan", -2, READONLY, [0, 0, 0], scan, "generic", "2.8.0",
        "Incrementally iterate the keys space",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
    spec!("randomkey", 1, READONLY, [0, 0, 0], randomkey, "generic", "1.0.0",
        "Return a random key from the keyspace", "O(1)"),
    spec!("dbsize", 1, READONLY | FAST, [0, 0, 0], dbsize, "server", "1.0.0",
        "Return the number of keys in the selected database", "O(1)"),
    spec!("touch", -2, READONLY | FAST, [1, -1, 1], touch, "generic", "3.2.1",
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        "O(N) where N is the number of keys that will be touched."),
    CommandSpec {
        name: "object",
        full_name: "object",
        arity: -2,
        flags: 0,
        first_key: 0,
        last_key: 0,
        step: 0,
        handler: crate::commands::container_handler,
        group: "generic",
        summary: "A container for object introspection commands",
        since: "2.2.3",
        complexity: "Depends on subcommand.",
        subcommands: OBJECT_SUBCOMMANDS,
    },
    spec!("expire", -3, WRITE | FAST, [1, 1, 1], expire, "generic", "1.0.0",
        "Set a key's time to live in seconds", "O(1)"),
    spec!("pexpire", -3, WRITE | FAST, [1, 1, 1], pexpire, "generic", "2.6.0",
        "Set a key's time to live in milliseconds", "O(1)"),
    spec!("expireat", -3, WRITE | FAST, [1, 1, 1], expireat, "generic", "1.2.0",
        "Set the expiration for a key as a UNIX timestamp", "O(1)"),
    spec!("pexpireat", -3, WRITE | FAST, [1, 1, 1], pexpireat, "generic", "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds", "O(1)"),
    spec!("ttl", 2, READONLY | FAST, [1, 1, 1], ttl, "generic", "1.0.0",
        "Get the time to live for a key in seconds", "O(1)"),
    spec!("pttl", 2, READONLY | FAST, [1, 1, 1], pttl, "generic", "2.6.0",
        "Get the time to live for a key in milliseconds", "O(1)"),
    spec!("expiretime", 2, READONLY | FAST, [1, 1, 1], expiretime, "generic", "7.0.0",
        "Get the expiration Unix timestamp for a key", "O(1)"),
    spec!("pexpiretime", 2, READONLY | FAST, [1, 1, 1], pexpiretime, "generic", "7.0.0",
        "Get the expiration Unix timestamp for a key in milliseconds", "O(1)"),
    spec!("persist", 2, WRITE | FAST, [1, 1, 1], persist, "generic", "2.2.0",
        "Remove the expiration from a key", "O(1)"),
];

// ---------------------------------------------------------------------------------------
// Helpers shared with the string family.
// ---------------------------------------------------------------------------------------

/// Redis's `checkAlreadyExpired`: an absolute expiry at or before now deletes the key at
/// once, except on a replica, which keeps it until its master's DEL arrives.
pub(crate) fn already_expired(ctx: &Ctx, when_ms: i64) -> bool {
    ctx.state.is_master && when_ms <= ctx.state.now_ms as i64
}

/// Redis's `addReplyErrorExpireTime`.
pub(crate) fn invalid_expire_time(ctx: &mut Ctx) {
    let msg = format!("invalid expire time in '{}' command", ctx.spec.full_name);
    ctx.reply().err(&msg);
}

/// The stored form of an absolute expiry: 0 means "none" in `Db`, so a time at or before
/// the epoch (reachable only on replicas, which keep already-expired keys) becomes 1 ms,
/// which is just as expired.
pub(crate) fn stored_expiry(when_ms: i64) -> u64 {
    when_ms.max(1) as u64
}

/// The "new" keyspace event Redis fires whenever a command creates a key (`dbAdd`).
pub(crate) fn notify_new(ctx: &mut Ctx, db: usize, key: &[u8]) {
    ctx.state.notify_keyspace_event(notify::NEW, "new", key, db);
}

/// A second key touched by the same write (RENAME's destination, MOVE's target): the
/// command already counted its one `dirty` increment, this only signals and notifies.
fn also_modified(ctx: &mut Ctx, db: usize, key: &[u8], class: u32, event: &str) {
    ctx.state.signal_modified_key(db, key);
    ctx.state.notify_keyspace_event(class, event, key, db);
    ctx.deliver_notifications();
}

/// A read lookup that applies lazy expiry and counts hits/misses but leaves the key's LRU
/// clock alone (Redis's LOOKUP_NOTOUCH). Returns whether the key is visible.
pub(crate) fn lookup_notouch(ctx: &mut Ctx, key: &[u8]) -> bool {
    let found = ctx.expire_if_needed(key) && ctx.db().contains(key);
    if found {
        ctx.state.stats.keyspace_hits += 1;
    } else {
        ctx.state.stats.keyspace_misses += 1;
    }
    found
}

/// A write lookup in any database (Redis's `lookupKeyWrite`): lazy expiry, then presence.
fn exists_for_write_in(ctx: &mut Ctx, db: usize, key: &[u8]) -> bool {
    ctx.expire_if_needed_in(db, key) && ctx.state.dbs[db].contains(key)
}

/// Parses a database index like `getIntFromObjectOrReply` + `selectDb` do, with their
/// exact errors.
fn db_index_arg(ctx: &mut Ctx, i: usize) -> Option<usize> {
    let n = ctx.int_arg(i)?;
    if i32::try_from(n).is_err() {
        ctx.reply()
            .err("value is out of range, value must between -2147483648 and 2147483647");
        return None;
    }
    if n < 0 || n as usize >= ctx.state.dbs.len() {
        ctx.reply().err("DB index is out of range");
        return None;
    }
    Some(n as usize)
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH, DBSIZE
// ---------------------------------------------------------------------------------------

/// DEL and UNLINK (memory is freed inline either way; the difference is Redis's threads).
fn del(ctx: &mut Ctx) {
    let mut deleted = 0;
    for i in 1..ctx.argv.len() {
        let key = ctx.argv[i].clone();
        ctx.expire_if_needed(&key);
        if ctx.db().remove(&key).is_some() {
            ctx.modified(&key, notify::GENERIC, "del");
            deleted += 1;
        }
    }
    ctx.reply().int(deleted);
}

fn exists(ctx: &mut Ctx) {
    let mut count = 0;
    for i in 1..ctx.argv.len() {
        let key = ctx.argv[i].clone();
        if lookup_notouch(ctx, &key) {
            count += 1;
        }
    }
    ctx.reply().int(count);
}

fn type_cmd(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    let name = if lookup_notouch(ctx, &key) {
        ctx.db()
            .get(&key)
            .map_or("none", |e| e.value.value_type().name())
    } else {
        "none"
    };
    ctx.reply().simple(name);
}

fn touch(ctx: &mut Ctx) {
    let mut count = 0;
    for i in 1..ctx.argv.len() {
        let key = ctx.argv[i].clone();
        if ctx.lookup_read(&key).is_some() {
            count += 1;
        }
    }
    ctx.reply().int(count);
}

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.db().len();
    ctx.reply().int(n as i64);
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX, MOVE, COPY
// ---------------------------------------------------------------------------------------

fn rename(ctx: &mut Ctx) {
    rename_generic(ctx, false);
}

fn renamenx(ctx: &mut Ctx) {
    rename_generic(ctx, true);
}

fn rename_generic(ctx: &mut Ctx, nx: bool) {
    let src = ctx.argv[1].clone();
    let dst = ctx.argv[2].clone();
    if ctx.lookup_write(&src).is_none() {
        ctx.reply().err("no such key");
        return;
    }
    // Same name: nothing changes, but a missing key was still an error above.
    if src == dst {
        if nx {
            ctx.reply().int(0);
        } else {
            ctx.reply().ok();
        }
        return;
    }
    let db = ctx.db_index();
    if exists_for_write_in(ctx, db, &dst) {
        if nx {
            ctx.reply().int(0);
            return;
        }
        ctx.db().remove(&dst);
    }
    let lru = ctx.state.lru_clock();
    let Some((value, expire_at)) = ctx.db().remove(&src) else {
        return;
    };
    ctx.db().insert_new(&dst, value, expire_at, lru);
    notify_new(ctx, db, &dst);
    ctx.modified(&src, notify::GENERIC, "rename_from");
    also_modified(ctx, db, &dst, notify::GENERIC, "rename_to");
    if nx {
        ctx.reply().int(1);
    } else {
        ctx.reply().ok();
    }
}

fn move_cmd(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    let src = ctx.db_index();
    let Some(dst) = db_index_arg(ctx, 2) else {
        return;
    };
    if src == dst {
        ctx.reply()
            .err("source and destination objects are the same");
        return;
    }
    if ctx.lookup_write(&key).is_none() {
        ctx.reply().int(0);
        return;
    }
    if exists_for_write_in(ctx, dst, &key) {
        ctx.reply().int(0);
        return;
    }
    let lru = ctx.state.lru_clock();
    let Some((value, expire_at)) = ctx.db().remove(&key) else {
        return;
    };
    ctx.state.dbs[dst].insert_new(&key, value, expire_at, lru);
    notify_new(ctx, dst, &key);
    ctx.modified(&key, notify::GENERIC, "move_from");
    also_modified(ctx, dst, &key, notify::GENERIC, "move_to");
    ctx.reply().int(1);
}

fn copy(ctx: &mut Ctx) {
    let src_db = ctx.db_index();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < ctx.argv.len() {
        let more = ctx.argv.len() - j - 1;
        if ctx.arg(j).eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if ctx.arg(j).eq_ignore_ascii_case(b"db") && more >= 1 {
            let Some(d) = db_index_arg(ctx, j + 1) else {
                return;
            };
            dst_db = d;
            j += 1;
        } else {
            ctx.syntax_error();
            return;
        }
        j += 1;
    }
    let key = ctx.argv[1].clone();
    let newkey = ctx.argv[2].clone();
    if src_db == dst_db && key == newkey {
        ctx.reply()
            .err("source and destination objects are the same");
        return;
    }
    let Some(value) = ctx.lookup_write(&key).map(|v| v.clone()) else {
        ctx.reply().int(0);
        return;
    };
    let expire_at = ctx.db().expire_at(&key).unwrap_or(0);
    if exists_for_write_in(ctx, dst_db, &newkey) {
        if !replace {
            ctx.reply().int(0);
            return;
        }
        ctx.state.dbs[dst_db].remove(&newkey);
    }
    let lru = ctx.state.lru_clock();
    ctx.state.dbs[dst_db].insert_new(&newkey, value, expire_at, lru);
    notify_new(ctx, dst_db, &newkey);
    ctx.state.dirty += 1;
    also_modified(ctx, dst_db, &newkey, notify::GENERIC, "copy_to");
    ctx.reply().int(1);
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY
// ---------------------------------------------------------------------------------------

fn keys(ctx: &mut Ctx) {
    let pattern = ctx.argv[1].clone();
    let all = &pattern[..] == b"*";
    let now = ctx.state.now_ms;
    let db = &ctx.state.dbs[ctx.client.db];
    // Logically expired keys are skipped but not deleted, as Redis's KEYS does. The bulks
    // go to a scratch buffer first because the array header needs the final count.
    let mut body = crate::protocol::Reply::new();
    body.resp = ctx.client.out.resp;
    let mut n = 0;
    db.dict().for_each(|e| {
        let k = e.key.as_bytes();
        let live = e.expire_at == 0 || e.expire_at > now;
        if live && (all || glob_match(&pattern, k, false)) {
            body.bulk(k);
            n += 1;
        }
    });
    let out = &mut ctx.client.out;
    out.array(n);
    out.raw(&body.buf);
}

fn scan(ctx: &mut Ctx) {
    let Some(cursor) = scan::cursor_arg(ctx, 1) else {
        return;
    };
    let Some(opts) = scan::parse_opts(ctx, 2, true) else {
        return;
    };
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let db = &ctx.state.dbs[ctx.client.db];
    let cursor = scan::collect(cursor, opts.count, &mut keys, |c, keys| {
        db.scan(c, |e| keys.push(e.key.as_bytes().to_vec()))
    });

    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !opts.matches(&k) {
            continue;
        }
        if let Some(t) = &opts.type_name {
            let name = if lookup_notouch(ctx, &k) {
                ctx.db()
                    .get(&k)
                    .map_or("none", |e| e.value.value_type().name())
            } else {
                "none"
            };
            if !name.as_bytes().eq_ignore_ascii_case(t) {
                continue;
            }
        }
        if !ctx.expire_if_needed(&k) {
            continue;
        }
        kept.push(k);
    }
    scan::reply(ctx.reply(), cursor, &kept);
}

fn randomkey(ctx: &mut Ctx) {
    let dbi = ctx.db_index();
    let all_volatile = {
        let db = &ctx.state.dbs[dbi];
        db.len() == db.expires_count()
    };
    let mut tries = 100;
    loop {
        let picked = {
            let st = &mut *ctx.state;
            st.dbs[dbi]
                .dict()
                .random_entry(&mut st.rng)
                .map(|e| (e.key.as_bytes().to_vec(), e.expire_at != 0))
        };
        let Some((key, volatile)) = picked else {
            ctx.reply().null();
            return;
        };
        if volatile {
            // On a replica every key may be logically expired yet present: give up after
            // some tries and return one anyway, as Redis does, instead of looping forever.
            tries -= 1;
            if all_volatile && !ctx.state.is_master && tries == 0 {
                ctx.reply().bulk(&key);
                return;
            }
            if !ctx.expire_if_needed(&key) {
                continue;
            }
        }
        ctx.reply().bulk(&key);
        return;
    }
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

/// Whether maxmemory-policy is one of the LFU policies.
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.state
        .cfg
        .maxmemory_policy
        .to_ascii_lowercase()
        .ends_with("-lfu")
}

/// Looks the key up for OBJECT without touching it; replies null when missing.
fn object_lookup(ctx: &mut Ctx) -> Option<Bytes> {
    let key = ctx.argv[2].clone();
    if lookup_notouch(ctx, &key) {
        Some(key)
    } else {
        ctx.reply().null();
        None
    }
}

fn object_encoding(ctx: &mut Ctx) {
    let Some(key) = object_lookup(ctx) else {
        return;
    };
    let enc = ctx.db().get(&key).map_or("", |e| e.value.encoding());
    ctx.reply().bulk(enc.as_bytes());
}

fn object_refcount(ctx: &mut Ctx) {
    let Some(key) = object_lookup(ctx) else {
        return;
    };
    // Redis shares the objects for 0..9999 between all keys (refcount INT_MAX) unless an
    // LRU/LFU maxmemory policy needs per-object access data.
    let policy = ctx.state.cfg.maxmemory_policy.to_ascii_lowercase();
    let sharing =
        ctx.state.cfg.maxmemory == 0 || !(policy.ends_with("-lru") || policy.ends_with("-lfu"));
    let shared = sharing
        && matches!(
            ctx.db().get(&key).map(|e| &e.value),
            Some(crate::db::Value::Int(n)) if (0..10_000).contains(n)
        );
    ctx.reply().int(if shared { i32::MAX as i64 } else { 1 });
}

fn object_idletime(ctx: &mut Ctx) {
    let Some(key) = object_lookup(ctx) else {
        return;
    };
    if lfu_policy(ctx) {
        ctx.reply().err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        return;
    }
    let lru = ctx.db().get(&key).map_or(0, |e| e.lru);
    let idle = ctx.state.idle_seconds(lru);
    ctx.reply().int(idle as i64);
}

fn object_freq(ctx: &mut Ctx) {
    let Some(key) = object_lookup(ctx) else {
        return;
    };
    if !lfu_policy(ctx) {
        ctx.reply().err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        return;
    }
    // The key's LFU counter, decayed to now (Redis's LFUDecrAndReturn).
    let word = ctx.db().get(&key).map_or(0, |e| e.lru);
    let freq = crate::executor::evict::lfu_frequency(ctx.state, word);
    ctx.reply().int(freq as i64);
}

fn object_help(ctx: &mut Ctx) {
    ctx.reply().help(&[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ]);
}

// ---------------------------------------------------------------------------------------
// EXPIRE family, TTL family, PERSIST
// ---------------------------------------------------------------------------------------

/// EXPIRE's NX/XX/GT/LT options.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExpireFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

impl ExpireFlags {
    fn any(&self) -> bool {
        self.nx || self.xx || self.gt || self.lt
    }

    /// Whether the condition allows replacing `current` (-1: no expiry) with `when`.
    fn allows(&self, current: i64, when: i64) -> bool {
        if self.nx && current != -1 {
            return false;
        }
        if self.xx && current == -1 {
            return false;
        }
        // No expiry counts as infinite: GT never beats it, LT always does.
        if self.gt && (when <= current || current == -1) {
            return false;
        }
        if self.lt && current != -1 && when >= current {
            return false;
        }
        true
    }
}

/// Parses EXPIRE's options (arguments 3..), with Redis's error texts.
pub(crate) fn parse_expire_flags(args: &[Bytes]) -> Result<ExpireFlags, Vec<u8>> {
    let mut f = ExpireFlags::default();
    for a in args {
        if a.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if a.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if a.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else {
            let mut msg = b"Unsupported option ".to_vec();
            msg.extend_from_slice(a);
            return Err(msg);
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(b"NX and XX, GT or LT options at the same time are not compatible".to_vec());
    }
    if f.gt && f.lt {
        return Err(b"GT and LT options at the same time are not compatible".to_vec());
    }
    Ok(f)
}

/// EXPIRE's time argument to absolute ms: `None` on overflow (Redis's "invalid expire time").
pub(crate) fn absolute_expiry(when: i64, seconds: bool, base: i64) -> Option<i64> {
    let when = if seconds {
        when.checked_mul(1000)?
    } else {
        when
    };
    if when > i64::MAX - base {
        return None;
    }
    Some(when + base)
}

fn expire(ctx: &mut Ctx) {
    let now = ctx.state.now_ms as i64;
    expire_generic(ctx, now, true);
}

fn pexpire(ctx: &mut Ctx) {
    let now = ctx.state.now_ms as i64;
    expire_generic(ctx, now, false);
}

fn expireat(ctx: &mut Ctx) {
    expire_generic(ctx, 0, true);
}

fn pexpireat(ctx: &mut Ctx) {
    expire_generic(ctx, 0, false);
}

fn expire_generic(ctx: &mut Ctx, base: i64, seconds: bool) {
    let flags = match parse_expire_flags(&ctx.argv[3..]) {
        Ok(f) => f,
        Err(e) => {
            let mut msg = b"ERR ".to_vec();
            msg.extend_from_slice(&e);
            ctx.reply().error_bytes(&msg);
            return;
        }
    };
    let Some(when) = ctx.int_arg(2) else {
        return;
    };
    let Some(when) = absolute_expiry(when, seconds, base) else {
        invalid_expire_time(ctx);
        return;
    };
    let key = ctx.argv[1].clone();
    if ctx.lookup_write(&key).is_none() {
        ctx.reply().int(0);
        return;
    }
    if flags.any() {
        let current = ctx.db().expire_at(&key).map_or(-1, |t| t as i64);
        if !flags.allows(current, when) {
            ctx.reply().int(0);
            return;
        }
    }
    if already_expired(ctx, when) {
        ctx.db().remove(&key);
        ctx.propagate(&[Bytes::from_static(b"DEL"), key.clone()]);
        ctx.modified(&key, notify::GENERIC, "del");
        ctx.reply().int(1);
        return;
    }
    ctx.db().set_expire(&key, stored_expiry(when));
    ctx.reply().int(1);
    let when_arg = Bytes::copy_from_slice(itoa::Buffer::new().format(when).as_bytes());
    ctx.propagate(&[Bytes::from_static(b"PEXPIREAT"), key.clone(), when_arg]);
    ctx.modified(&key, notify::GENERIC, "expire");
}

fn ttl(ctx: &mut Ctx) {
    ttl_generic(ctx, false, false);
}

fn pttl(ctx: &mut Ctx) {
    ttl_generic(ctx, true, false);
}

fn expiretime(ctx: &mut Ctx) {
    ttl_generic(ctx, false, true);
}

fn pexpiretime(ctx: &mut Ctx) {
    ttl_generic(ctx, true, true);
}

fn ttl_generic(ctx: &mut Ctx, ms: bool, absolute: bool) {
    let key = ctx.argv[1].clone();
    if !lookup_notouch(ctx, &key) {
        ctx.reply().int(-2);
        return;
    }
    let Some(at) = ctx.db().expire_at(&key) else {
        ctx.reply().int(-1);
        return;
    };
    let at = at as i64;
    let t = if absolute {
        at
    } else {
        at - ctx.state.now_ms as i64
    }
    .max(0);
    ctx.reply().int(if ms { t } else { (t + 500) / 1000 });
}

fn persist(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    if ctx.lookup_write(&key).is_none() || ctx.db().expire_at(&key).is_none() {
        ctx.reply().int(0);
        return;
    }
    ctx.db().set_expire(&key, 0);
    ctx.modified(&key, notify::GENERIC, "persist");
    ctx.reply().int(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn expire_flag_parsing() {
        assert_eq!(parse_expire_flags(&args(&[])), Ok(ExpireFlags::default()));
        let f = parse_expire_flags(&args(&["Xx", "gT"])).unwrap();
        assert!(f.xx && f.gt && !f.nx && !f.lt);
        assert_eq!(
            parse_expire_flags(&args(&["nx", "xx"])),
            Err(b"NX and XX, GT or LT options at the same time are not compatible".to_vec())
        );
        assert_eq!(
            parse_expire_flags(&args(&["xx", "gt", "lt"])),
            Err(b"GT and LT options at the same time are not compatible".to_vec())
        );
        assert_eq!(
            parse_expire_flags(&args(&["nx", "foo"])),
            Err(b"Unsupported option foo".to_vec())
        );
    }

    #[test]
    fn expire_conditions() {
        let gt = ExpireFlags {
            gt: true,
            ..Default::default()
        };
        let lt = ExpireFlags {
            lt: true,
            ..Default::default()
        };
        assert!(!gt.allows(-1, 100));
        assert!(gt.allows(50, 100));
        assert!(!gt.allows(100, 100));
        assert!(lt.allows(-1, 100));
        assert!(!lt.allows(50, 100));
        let nx = ExpireFlags {
            nx: true,
            ..Default::default()
        };
        assert!(nx.allows(-1, 1) && !nx.allows(5, 1));
    }

    #[test]
    fn expiry_overflow() {
        assert_eq!(absolute_expiry(10, true, 1000), Some(11_000));
        assert_eq!(absolute_expiry(i64::MAX, true, 0), None);
        assert_eq!(absolute_expiry(i64::MIN, true, 0), None);
        assert_eq!(
            absolute_expiry(9_223_372_036_854_775, true, 0),
            Some(9_223_372_036_854_775_000)
        );
        assert_eq!(absolute_expiry(9_223_372_036_854_776, true, 0), None);
        assert_eq!(absolute_expiry(i64::MAX, false, 0), Some(i64::MAX));
        assert_eq!(absolute_expiry(i64::MAX, false, 1), None);
        assert_eq!(absolute_expiry(-5, false, 0), Some(-5));
    }
}
