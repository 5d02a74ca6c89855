//! The command table and the context every command runs with.
//!
//! Each family lives in its own file and exports `COMMANDS: &[CommandSpec]`; `table()`
//! gathers them. A spec carries what Redis's command table carries: arity (negative: at
//! least), flags, key positions (first, last, step), subcommands, and docs. The executor
//! uses it for arity errors, auth, read-only and loading checks, COMMAND INFO/DOCS/GETKEYS,
//! and to decide what is propagated.
//!
//! A handler gets a `Ctx`: the server `State`, the calling `Client` (with its output buffer)
//! and the other clients, plus `argv`. Key access goes through `Ctx::lookup_read` /
//! `lookup_write` so that lazy expiry, keyspace hit/miss stats and LRU are applied in one
//! place, and writes go through `Ctx::modified` so that WATCH, blocking wake-ups and
//! keyspace notifications see them.

pub mod bitmap;
pub mod client;
pub mod config;
pub mod connection;
pub mod debug;
pub mod hash;
pub mod hll;
pub mod info;
pub mod introspect;
pub mod keys;
pub mod list;
pub mod long_double;
pub mod persistence;
pub mod pubsub;
pub mod replicaof;
pub mod replication;
pub mod scan;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod transaction;
pub mod zset;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use slab::Slab;

use crate::db::{Db, ExpireCheck, Value};
use crate::executor::client::Client;
use crate::executor::state::{notify, State};
use crate::protocol::Reply;

/// Command flags (Redis's CMD_*), as a bit set.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 4;
    pub const PUBSUB: u32 = 1 << 5;
    pub const NOSCRIPT: u32 = 1 << 6;
    pub const BLOCKING: u32 = 1 << 8;
    pub const LOADING: u32 = 1 << 9;
    pub const STALE: u32 = 1 << 10;
    pub const SKIP_MONITOR: u32 = 1 << 11;
    pub const SKIP_SLOWLOG: u32 = 1 << 12;
    pub const FAST: u32 = 1 << 14;
    pub const NO_AUTH: u32 = 1 << 15;
    pub const MAY_REPLICATE: u32 = 1 << 16;
    pub const SENTINEL: u32 = 1 << 17;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 19;
    pub const PROTECTED: u32 = 1 << 20;
    pub const NO_ASYNC_LOADING: u32 = 1 << 23;
    pub const NO_MULTI: u32 = 1 << 24;
    pub const MOVABLE_KEYS: u32 = 1 << 25;
    pub const ALLOW_BUSY: u32 = 1 << 26;

    /// Names as COMMAND INFO reports them, in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

pub type Handler = fn(&mut Ctx);

/// Redis's WRONGTYPE error text.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// One command (or subcommand) as the table describes it.
pub struct CommandSpec {
    /// Lowercase name; for a subcommand, just the subcommand ("get" under "config").
    pub name: &'static str,
    /// Lowercase full name: "get", "config|get".
    pub full_name: &'static str,
    /// Exact argument count including the name if positive; at least -arity if negative.
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first key index (0: no keys), last (negative: from the end), step.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub handler: Handler,
    /// Redis's command group ("string", "generic", "server", "connection"...).
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether `argc` satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a > 0 && argc as i32 == a) || (a < 0 && argc as i32 >= -a)
    }

    /// Key argument indexes for this argv (COMMAND GETKEYS, later cluster routing).
    pub fn key_indexes(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let mut v = Vec::new();
        let mut i = self.first_key;
        while i <= last && (i as usize) < argc {
            v.push(i as usize);
            i += self.step.max(1);
        }
        v
    }
}

/// Builds a `CommandSpec` with less ceremony: `cmd!("get", 2, READONLY|FAST, 1,1,1, handler, "string", "summary")`.
#[macro_export]
macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $first:expr, $last:expr, $step:expr, $handler:expr, $group:literal, $summary:literal) => {
        $crate::commands::CommandSpec {
            name: $name,
            full_name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            step: $step,
            handler: $handler,
            group: $group,
            summary: $summary,
            since: "1.0.0",
            complexity: "",
            subcommands: &[],
        }
    };
}

/// Like `cmd!`, with the COMMAND DOCS fields `since` and `complexity` filled in.
macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, [$first:expr, $last:expr, $step:expr], $handler:expr,
     $group:literal, $since:literal, $summary:literal, $complexity:literal) => {
        $crate::commands::CommandSpec {
            name: $name,
            full_name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            step: $step,
            handler: $handler,
            group: $group,
            summary: $summary,
            since: $since,
            complexity: $complexity,
            subcommands: &[],
        }
    };
}
pub(crate) use spec;

/// A subcommand spec: `subcmd!("config|get", "get", -3, ADMIN|..., handler, "server", "summary")`.
#[macro_export]
macro_rules! subcmd {
    ($full:literal, $name:literal, $arity:expr, $flags:expr, $handler:expr, $group:literal, $summary:literal) => {
        $crate::commands::CommandSpec {
            name: $name,
            full_name: $full,
            arity: $arity,
            flags: $flags,
            first_key: 0,
            last_key: 0,
            step: 0,
            handler: $handler,
            group: $group,
            summary: $summary,
            since: "1.0.0",
            complexity: "",
            subcommands: &[],
        }
    };
}

/// A container command's handler when no subcommand matched (never called: the executor
/// resolves subcommands first).
pub fn container_handler(ctx: &mut Ctx) {
    let name = String::from_utf8_lossy(&ctx.argv[0]).to_uppercase();
    ctx.reply()
        .err(&format!("unknown subcommand. Try {name} HELP."));
}

/// Every command, by lowercase name.
/// The command table's map type: ahash, since a lookup happens for every command.
pub type Table = HashMap<&'static str, &'static CommandSpec, ahash::RandomState>;

pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut m = Table::default();
        for family in [
            string::COMMANDS,
            keys::COMMANDS,
            list::COMMANDS,
            connection::COMMANDS,
            server::COMMANDS,
            client::COMMANDS,
            config::COMMANDS,
            info::COMMANDS,
            introspect::COMMANDS,
            debug::COMMANDS,
            hash::COMMANDS,
            set::COMMANDS,
            transaction::COMMANDS,
            pubsub::COMMANDS,
            hll::COMMANDS,
            bitmap::COMMANDS,
            sort::COMMANDS,
            zset::COMMANDS,
            persistence::COMMANDS,
            replication::COMMANDS,
            replicaof::COMMANDS,
        ] {
            for spec in family {
                m.insert(spec.name, spec);
            }
        }
        m
    })
}

/// Looks a command up case-insensitively without allocating for names up to 32 bytes.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
    table().get(lower).copied()
}

/// Finds a subcommand of a container spec, case-insensitively.
pub fn lookup_sub(spec: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    spec.subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Everything a command handler can touch.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub client: &'a mut Client,
    /// All other clients; the slot of the calling client is `None` during the call.
    pub clients: &'a mut Slab<Option<Client>>,
    pub argv: &'a [Bytes],
    pub spec: &'static CommandSpec,
    /// Set when the handler propagated its own rewritten form (so argv is not propagated).
    pub propagated: bool,
}

impl<'a> Ctx<'a> {
    #[inline]
    pub fn reply(&mut self) -> &mut Reply {
        &mut self.client.out
    }

    #[inline]
    pub fn arg(&self, i: usize) -> &[u8] {
        &self.argv[i]
    }

    /// The argument as lossy UTF-8 (for error messages).
    pub fn arg_str(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.argv[i]).into_owned()
    }

    #[inline]
    pub fn db_index(&self) -> usize {
        self.client.db
    }

    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.state.dbs[self.client.db]
    }

    /// Applies lazy expiry to `key` in `db`: a master deletes and propagates a DEL; a
    /// replica keeps the key but reports it missing. Returns whether the key is visible.
    pub fn expire_if_needed_in(&mut self, db: usize, key: &[u8]) -> bool {
        let now = self.state.now_ms;
        let is_master = self.state.is_master;
        // Commands from our master see every key as live: the master ran them while the key
        // existed there, and its DEL follows (Redis's expireIfNeeded: "when replicating
        // commands from the master, keys are never considered expired").
        if !is_master && self.client.kind == crate::executor::client::ClientKind::Master {
            return self.state.dbs[db].contains(key);
        }
        match self.state.dbs[db].check_expired(key, now, is_master) {
            ExpireCheck::Live => true,
            ExpireCheck::Missing | ExpireCheck::Hidden => false,
            ExpireCheck::Deleted => {
                self.state.stats.expired_keys += 1;
                let del = [Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)];
                self.state.propagate(db, &del);
                self.state
                    .notify_keyspace_event(notify::EXPIRED, "expired", key, db);
                self.state.signal_modified_key(db, key);
                self.deliver_notifications();
                false
            }
        }
    }

    /// Applies lazy expiry in the selected db.
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let db = self.client.db;
        self.expire_if_needed_in(db, key)
    }

    /// Looks a key up for reading: lazy expiry, hit/miss stats, LRU touch.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&Value> {
        if !self.expire_if_needed(key) {
            self.state.stats.keyspace_misses += 1;
            return None;
        }
        self.state.stats.keyspace_hits += 1;
        let clock = self.state.lru_clock();
        let db = &mut self.state.dbs[self.client.db];
        db.touch_lru(key, clock);
        db.get(key).map(|e| &e.value)
    }

    /// Looks a key up for reading and hands the value and the reply buffer to `f` together
    /// (the common shape of read commands: borrow the value, write it into the reply).
    pub fn read_with<R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>, &mut Reply) -> R,
    ) -> R {
        let (now, clock, dbi) = (self.state.now_ms, self.state.lru_clock(), self.client.db);
        let expired = match self.state.dbs[dbi].read_live(key, now, clock) {
            Ok(v) => {
                self.state.stats.keyspace_hits += 1;
                return f(Some(v), &mut self.client.out);
            }
            Err(expired) => expired,
        };
        if expired && self.expire_if_needed(key) {
            // Still live for a command from our master (see `expire_if_needed_in`).
            let v = self.state.dbs[dbi].get(key).map(|e| &e.value);
            return f(v, &mut self.client.out);
        }
        self.state.stats.keyspace_misses += 1;
        f(None, &mut self.client.out)
    }

    /// Looks a key up without touching stats or LRU (EXISTS-like checks inside writes).
    pub fn lookup_quiet(&mut self, key: &[u8]) -> Option<&Value> {
        if !self.expire_if_needed(key) {
            return None;
        }
        self.state.dbs[self.client.db].get(key).map(|e| &e.value)
    }

    /// Looks a key up for writing (lazy expiry applied first).
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Value> {
        if !self.expire_if_needed(key) {
            return None;
        }
        let clock = self.state.lru_clock();
        let db = &mut self.state.dbs[self.client.db];
        db.touch_lru(key, clock);
        db.get_value_mut(key)
    }

    /// Records a write to `key` in the selected db: dirty counter, WATCH/blocking signal and
    /// a keyspace notification of `class`/`event`.
    pub fn modified(&mut self, key: &[u8], class: u32, event: &str) {
        let db = self.client.db;
        self.state.dirty += 1;
        self.state.signal_modified_key(db, key);
        self.state.notify_keyspace_event(class, event, key, db);
        self.deliver_notifications();
    }

    /// Delivers queued keyspace notifications now, so that a subscriber sees them in the
    /// order Redis sends them (before the command's reply, for the caller itself).
    #[inline]
    pub fn deliver_notifications(&mut self) {
        crate::executor::pubsub::flush_pending(self.state, Some(&mut *self.client), self.clients);
    }

    /// Propagates `argv` instead of the command's own argv (e.g. EXPIRE as PEXPIREAT).
    /// May be called several times; each call is one stream entry.
    pub fn propagate(&mut self, argv: &[Bytes]) {
        self.propagated = true;
        let db = self.client.db;
        self.state.propagate(db, argv);
    }

    /// The WRONGTYPE error.
    pub fn wrongtype(&mut self) {
        self.reply().error(WRONGTYPE);
    }

    /// `-ERR syntax error`
    pub fn syntax_error(&mut self) {
        self.reply().err("syntax error");
    }

    /// Parses argument `i` as an integer with Redis's error.
    pub fn int_arg(&mut self, i: usize) -> Option<i64> {
        match crate::util::parse_i64(&self.argv[i]) {
            Some(n) => Some(n),
            None => {
                self.reply().err("value is not an integer or out of range");
                None
            }
        }
    }
}
