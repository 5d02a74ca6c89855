//! Transactions: MULTI/EXEC/DISCARD queuing and WATCH (optimistic locking).
//!
//! # Queuing
//!
//! After MULTI, `queue_command` (called by `Executor::execute_one` once a command passed the
//! unknown-command, arity, auth and pub/sub checks) stores each command with its spec and
//! replies `+QUEUED`; only EXEC, DISCARD, MULTI, WATCH, QUIT and RESET still run. A command
//! rejected before that point (unknown name, wrong arity, NOAUTH, no-multi...) flags the
//! transaction (`flag_transaction`) and EXEC then answers `-EXECABORT`, as Redis's
//! `rejectCommand` does. Errors raised while a queued command *runs* are simply part of the
//! EXEC array.
//!
//! EXEC's handler only validates and writes the array header; it sets `exec_ready` and
//! `Executor::call` then runs the queue through `call` itself (`run_exec`), so every
//! queued command gets the full treatment (stats, slowlog, MONITOR, propagation), and the
//! writes of the whole transaction land in one propagation group (`Propagator` nesting),
//! which the stream wraps in MULTI/EXEC when it holds more than one entry.
//!
//! # WATCH
//!
//! The server keeps, per database, watched key -> watchers; a write to a key (every
//! `State::signal_modified_key`, including lazy and active expiry) marks its watchers dirty.
//! The dirty flag is an `Rc<Cell<bool>>` shared between the client's `ClientTx` and its
//! watcher records, so that `touch_key`, which only sees `State`, can flag a client without
//! reaching the client table. A key that was already logically expired when it was watched is
//! remembered as such (Redis 7.0's `watchedKey.expired`): its deletion by expiry is no logical
//! change, and EXEC only fails for watched keys that expired *after* WATCH.
//!
//! When nothing is watched, `touch_key` is one branch.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;

use super::client::Client;
use super::state::State;
use super::Executor;
use crate::commands::{flags, CommandSpec, Ctx};

/// One client watching one key.
#[derive(Debug)]
struct Watcher {
    client: u64,
    /// The key was logically expired (but still stored) when WATCH ran.
    expired: bool,
    /// The client's CAS-dirty flag.
    dirty: Rc<Cell<bool>>,
}

type KeyWatchers = HashMap<Bytes, Vec<Watcher>, ahash::RandomState>;

/// Server-wide WATCH bookkeeping.
#[derive(Debug, Default)]
pub struct WatchState {
    /// Per database (grown on demand): watched key -> watchers in WATCH order.
    dbs: Vec<KeyWatchers>,
    /// Number of (db, key, client) watch records: zero makes every touch free.
    records: usize,
}

/// A queued command.
struct Queued {
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("command", &self.spec.full_name)
            .field("argc", &self.argv.len())
            .finish()
    }
}

/// Per-client transaction state.
#[derive(Debug, Default)]
pub struct ClientTx {
    /// Between MULTI and EXEC/DISCARD.
    pub multi: bool,
    /// A command was rejected while queuing: EXEC answers EXECABORT.
    dirty_exec: bool,
    /// Set by `touch_key` when a watched key changed (CAS failure); created by the first
    /// WATCH and shared with this client's watcher records.
    cas: Option<Rc<Cell<bool>>>,
    /// Keys this client watches, as (db, key).
    watched: Vec<(usize, Bytes)>,
    queue: Vec<Queued>,
    /// Union of the queued commands' flags (CLIENT PAUSE WRITE holds an EXEC with writes).
    queued_flags: u32,
    /// Sum of the queued arguments' sizes (CLIENT LIST multi-mem).
    queued_bytes: usize,
    /// While EXEC runs the queue: blocking commands must not block.
    pub in_exec: bool,
    /// EXEC validated the transaction; `Executor::call` runs the queue next.
    exec_ready: bool,
}

impl ClientTx {
    /// CLIENT LIST's `multi=`: queued commands inside MULTI, -1 outside.
    pub fn multi_count(&self) -> i64 {
        if self.multi {
            self.queue.len() as i64
        } else {
            -1
        }
    }

    /// A watched key was touched (CLIENT LIST flag `d`).
    pub fn is_dirty_cas(&self) -> bool {
        self.cas.as_ref().is_some_and(|c| c.get())
    }

    /// CLIENT LIST's `multi-mem=`: queued arguments plus the watch and queue overheads.
    pub fn mem_overhead(&self) -> usize {
        self.queued_bytes
            + self.watched.len() * 48
            + self.queue.capacity() * std::mem::size_of::<Queued>()
    }
}

/// Whether the client is inside EXEC: blocking commands then behave as non-blocking ones
/// (Redis's CLIENT_DENY_BLOCKING during EXEC).
pub fn in_exec(client: &Client) -> bool {
    client.tx.in_exec
}

/// Flags of the commands queued by the client (for checks that apply to EXEC as a whole,
/// e.g. CLIENT PAUSE WRITE and read-only replicas).
pub fn queued_flags(client: &Client) -> u32 {
    client.tx.queued_flags
}

/// Marks the transaction as failed because a command was rejected while queuing.
pub fn flag_transaction(client: &mut Client) {
    if client.tx.multi {
        client.tx.dirty_exec = true;
    }
}

/// Inside MULTI, a command flagged no-multi is rejected (and flags the transaction).
/// Writes the error and returns true when it is.
#[inline]
pub fn rejects(client: &mut Client, spec: &CommandSpec) -> bool {
    if client.tx.multi && spec.has(flags::NO_MULTI) {
        client.out.err("Command not allowed inside a transaction");
        return true;
    }
    false
}

/// The commands that run even inside MULTI instead of being queued.
fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.full_name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Inside MULTI: queues the command and replies `+QUEUED`, returning true. Returns false
/// when the command must run now.
#[inline]
pub fn queue_command(client: &mut Client, spec: &'static CommandSpec, argv: &[Bytes]) -> bool {
    if !client.tx.multi {
        return false;
    }
    queue_in_multi(client, spec, argv)
}

/// `queue_command` inside MULTI.
fn queue_in_multi(client: &mut Client, spec: &'static CommandSpec, argv: &[Bytes]) -> bool {
    if runs_inside_multi(spec) {
        return false;
    }
    client.last_cmd = spec.full_name;
    client.last_spec = Some(spec);
    let tx = &mut client.tx;
    // An aborted transaction will never run: do not spend memory on it.
    if !tx.dirty_exec && !tx.cas.as_ref().is_some_and(|c| c.get()) {
        tx.queued_flags |= spec.flags;
        tx.queued_bytes += argv.iter().map(|a| a.len() + 8).sum::<usize>();
        tx.queue.push(Queued {
            spec,
            argv: argv.to_vec(),
        });
    }
    client.out.raw(b"+QUEUED\r\n");
    true
}

/// Leaves MULTI state: drops the queue, clears the flags, unwatches everything.
pub fn discard_transaction(state: &mut State, client: &mut Client) {
    let tx = &mut client.tx;
    tx.multi = false;
    tx.dirty_exec = false;
    tx.exec_ready = false;
    tx.queue = Vec::new();
    tx.queued_flags = 0;
    tx.queued_bytes = 0;
    unwatch_all(state, client);
}

/// RESET: back to a fresh connection's transaction state.
pub fn reset_client(state: &mut State, client: &mut Client) {
    discard_transaction(state, client);
}

/// A client disconnects: its watch records go away.
pub fn remove_client(state: &mut State, client: &mut Client) {
    discard_transaction(state, client);
}

/// Whether `key` is stored in `db` with an expiry at or before `now` (Redis's `keyIsExpired`).
fn key_is_expired(state: &State, db: usize, key: &[u8]) -> bool {
    state.dbs[db]
        .expire_at(key)
        .is_some_and(|at| at <= state.now_ms)
}

/// Adds `key` in the client's current db to its watched keys.
fn watch_key(state: &mut State, client: &mut Client, key: &Bytes) {
    let db = client.db;
    let id = client.id;
    if state.watch.dbs.len() <= db {
        state.watch.dbs.resize_with(db + 1, Default::default);
    }
    if let Some(ws) = state.watch.dbs[db].get(key.as_ref()) {
        if ws.iter().any(|w| w.client == id) {
            return;
        }
    }
    let expired = key_is_expired(state, db, key);
    let dirty = client
        .tx
        .cas
        .get_or_insert_with(|| Rc::new(Cell::new(false)))
        .clone();
    // Copied: a slice of the input buffer would pin the whole read chunk while watched.
    let key = Bytes::copy_from_slice(key);
    state.watch.dbs[db]
        .entry(key.clone())
        .or_default()
        .push(Watcher {
            client: id,
            expired,
            dirty,
        });
    state.watch.records += 1;
    client.tx.watched.push((db, key));
}

/// Drops all of the client's watched keys and its CAS flag.
fn unwatch_all(state: &mut State, client: &mut Client) {
    let id = client.id;
    for (db, key) in client.tx.watched.drain(..) {
        let Some(map) = state.watch.dbs.get_mut(db) else {
            continue;
        };
        if let Some(ws) = map.get_mut(key.as_ref()) {
            let before = ws.len();
            ws.retain(|w| w.client != id);
            state.watch.records -= before - ws.len();
            if ws.is_empty() {
                map.remove(key.as_ref());
            }
        }
    }
    client.tx.cas = None;
}

/// Whether a watched key that was live at WATCH time has logically expired since.
fn watched_key_expired(state: &State, client: &Client) -> bool {
    client.tx.watched.iter().any(|(db, key)| {
        let was_expired = state.watch.dbs[*db]
            .get(key.as_ref())
            .and_then(|ws| ws.iter().find(|w| w.client == client.id))
            .is_some_and(|w| w.expired);
        !was_expired && key_is_expired(state, *db, key)
    })
}

/// A key changed: invalidate the transactions watching it.
pub fn touch_key(state: &mut State, db: usize, key: &[u8]) {
    if state.watch.records == 0 {
        return;
    }
    let Some(ws) = state.watch.dbs.get_mut(db).and_then(|m| m.get_mut(key)) else {
        return;
    };
    let exists = state.dbs[db].contains(key);
    for w in ws {
        if w.expired {
            // Watched while already expired: its deletion is no logical change. (Redis
            // also leaves such a watcher alone while the key is still stored.)
            if !exists {
                w.expired = false;
            }
            continue;
        }
        w.dirty.set(true);
    }
}

/// A database (None: all) is about to be flushed: watchers of keys that exist are dirtied.
pub fn touch_flush(state: &mut State, db: Option<usize>) {
    if state.watch.records == 0 {
        return;
    }
    let range = match db {
        Some(d) => d..d + 1,
        None => 0..state.dbs.len(),
    };
    for d in range {
        touch_all_in_db(state, d, None);
    }
}

/// Two databases are about to be swapped: a watched key changes if it exists on either side.
pub fn touch_swap(state: &mut State, a: usize, b: usize) {
    if state.watch.records == 0 {
        return;
    }
    touch_all_in_db(state, a, Some(b));
    touch_all_in_db(state, b, Some(a));
}

/// Redis's `touchAllWatchedKeysInDb`: database `emptied` loses its contents, replaced by
/// those of `replaced_with` (SWAPDB) or by nothing (FLUSHDB/FLUSHALL).
fn touch_all_in_db(state: &mut State, emptied: usize, replaced_with: Option<usize>) {
    let now = state.now_ms;
    let Some(map) = state.watch.dbs.get_mut(emptied) else {
        return;
    };
    let dbs = &state.dbs;
    let expired_in = |db: usize, key: &[u8]| dbs[db].expire_at(key).is_some_and(|at| at <= now);
    for (key, ws) in map.iter_mut() {
        let in_emptied = dbs[emptied].contains(key);
        let in_replacement = replaced_with.is_some_and(|r| dbs[r].contains(key));
        if !in_emptied && !in_replacement {
            continue;
        }
        for w in ws.iter_mut() {
            if w.expired {
                match replaced_with {
                    Some(r) if in_replacement => {
                        if expired_in(r, key) {
                            // Expired before, still expired: no logical change.
                            continue;
                        }
                    }
                    _ => {
                        // The expired key is now deleted: no logical change.
                        w.expired = false;
                        continue;
                    }
                }
            } else if !in_emptied && replaced_with.is_some_and(|r| expired_in(r, key)) {
                // A missing key replaced by an already expired one.
                w.expired = true;
                continue;
            }
            w.dirty.set(true);
        }
    }
}

/// MULTI
pub fn multi(ctx: &mut Ctx) {
    if ctx.client.tx.multi {
        ctx.reply().err("MULTI calls can not be nested");
        return;
    }
    ctx.client.tx.multi = true;
    ctx.reply().ok();
}

/// DISCARD
pub fn discard(ctx: &mut Ctx) {
    if !ctx.client.tx.multi {
        ctx.reply().err("DISCARD without MULTI");
        return;
    }
    discard_transaction(ctx.state, ctx.client);
    ctx.reply().ok();
}

/// EXEC: validates the transaction and writes the reply's array header; the queued commands
/// run right after this handler returns (`run_exec`, called by `Executor::call`).
pub fn exec(ctx: &mut Ctx) {
    if !ctx.client.tx.multi {
        ctx.reply().err("EXEC without MULTI");
        return;
    }
    if watched_key_expired(ctx.state, ctx.client) {
        if let Some(c) = &ctx.client.tx.cas {
            c.set(true);
        }
    }
    if ctx.client.tx.dirty_exec {
        ctx.reply()
            .error("EXECABORT Transaction discarded because of previous errors.");
        discard_transaction(ctx.state, ctx.client);
        return;
    }
    if ctx.client.tx.is_dirty_cas() {
        ctx.reply().null_array();
        discard_transaction(ctx.state, ctx.client);
        return;
    }
    // Unwatch before running: the transaction's own writes must not touch its watches.
    unwatch_all(ctx.state, ctx.client);
    let n = ctx.client.tx.queue.len();
    ctx.reply().array(n);
    ctx.client.tx.exec_ready = true;
}

/// Whether EXEC left a validated queue for `run_exec`.
pub fn exec_pending(client: &Client) -> bool {
    client.tx.exec_ready
}

/// Runs a validated transaction's queue, each command through `Executor::call`, as one
/// propagation unit; then leaves MULTI state.
pub fn run_exec(exec: &mut Executor, client: &mut Client) {
    client.tx.exec_ready = false;
    let queue = std::mem::take(&mut client.tx.queue);
    let (last_cmd, last_spec) = (client.last_cmd, client.last_spec);
    client.tx.in_exec = true;
    exec.state.propagation.enter_nested();
    for q in &queue {
        exec.call(client, q.spec, &q.argv);
    }
    exec.state.propagation.leave_nested();
    client.tx.in_exec = false;
    // CLIENT LIST's cmd= shows EXEC, not the last queued command.
    client.last_cmd = last_cmd;
    client.last_spec = last_spec;
    discard_transaction(&mut exec.state, client);
}

/// WATCH key [key ...]
pub fn watch(ctx: &mut Ctx) {
    if ctx.client.tx.multi {
        ctx.reply().err("WATCH inside MULTI is not allowed");
        return;
    }
    // No point in watching more once a watched key already changed.
    if !ctx.client.tx.is_dirty_cas() {
        for key in &ctx.argv[1..] {
            watch_key(ctx.state, ctx.client, key);
        }
    }
    ctx.reply().ok();
}

/// UNWATCH
pub fn unwatch(ctx: &mut Ctx) {
    unwatch_all(ctx.state, ctx.client);
    ctx.reply().ok();
}

#[cfg(test)]
mod tests {
    use crate::executor::test_support::{run, setup};

    use super::*;
    use crate::config::Config;
    use crate::db::Value;

    fn client(id: u64) -> Client {
        Client::new(
            id,
            "127.0.0.1:1".into(),
            "127.0.0.1:6379".into(),
            false,
            Rc::new(tokio::sync::Notify::new()),
            0,
        )
    }

    fn set(state: &mut State, db: usize, key: &[u8], expire_at: u64) {
        state.dbs[db].remove(key);
        state.dbs[db].insert_new(key, Value::from_bytes(b"v"), expire_at, 0);
    }

    #[test]
    fn touch_dirties_only_watchers_of_that_key_and_db() {
        let mut state = State::new(Config::default());
        let (mut a, mut b) = (client(1), client(2));
        watch_key(&mut state, &mut a, &Bytes::from_static(b"k"));
        b.db = 1;
        watch_key(&mut state, &mut b, &Bytes::from_static(b"k"));
        touch_key(&mut state, 0, b"other");
        assert!(!a.tx.is_dirty_cas());
        touch_key(&mut state, 0, b"k");
        assert!(a.tx.is_dirty_cas());
        assert!(!b.tx.is_dirty_cas());
        unwatch_all(&mut state, &mut a);
        unwatch_all(&mut state, &mut b);
        assert!(!a.tx.is_dirty_cas());
        assert_eq!(state.watch.records, 0);
        assert!(state.watch.dbs.iter().all(|m| m.is_empty()));
    }

    #[test]
    fn watching_twice_records_once() {
        let mut state = State::new(Config::default());
        let mut a = client(1);
        for _ in 0..3 {
            watch_key(&mut state, &mut a, &Bytes::from_static(b"k"));
        }
        assert_eq!(state.watch.records, 1);
        assert_eq!(a.tx.watched.len(), 1);
    }

    #[test]
    fn flush_dirties_only_existing_keys() {
        let mut state = State::new(Config::default());
        let (mut a, mut b) = (client(1), client(2));
        set(&mut state, 0, b"present", 0);
        watch_key(&mut state, &mut a, &Bytes::from_static(b"present"));
        watch_key(&mut state, &mut b, &Bytes::from_static(b"absent"));
        touch_flush(&mut state, None);
        assert!(a.tx.is_dirty_cas());
        assert!(!b.tx.is_dirty_cas());
    }

    #[test]
    fn expired_at_watch_time_is_not_a_change_when_deleted() {
        let mut state = State::new(Config::default());
        state.now_ms = 1000;
        set(&mut state, 0, b"k", 500);
        let mut a = client(1);
        watch_key(&mut state, &mut a, &Bytes::from_static(b"k"));
        assert!(!watched_key_expired(&state, &a));
        // Lazy expiry deletes it, then signals.
        state.dbs[0].remove(b"k");
        touch_key(&mut state, 0, b"k");
        assert!(!a.tx.is_dirty_cas());
        // A later write is a change.
        set(&mut state, 0, b"k", 0);
        touch_key(&mut state, 0, b"k");
        assert!(a.tx.is_dirty_cas());
    }

    #[test]
    fn key_expiring_after_watch_fails_exec() {
        let mut state = State::new(Config::default());
        state.now_ms = 1000;
        set(&mut state, 0, b"k", 2000);
        let mut a = client(1);
        watch_key(&mut state, &mut a, &Bytes::from_static(b"k"));
        assert!(!watched_key_expired(&state, &a));
        state.now_ms = 3000;
        assert!(watched_key_expired(&state, &a));
    }

    fn resp(cmds: &[&[&str]]) -> String {
        let mut b = bytes::BytesMut::new();
        for c in cmds {
            crate::executor::propagate::encode(&mut b, c);
        }
        String::from_utf8(b.to_vec()).expect("ascii")
    }

    #[test]
    fn transaction_writes_propagate_as_one_multi_exec_group() {
        let (mut exec, c) = setup();
        let (out, stream) = run(
            &mut exec,
            c,
            &[
                &["MULTI"],
                &["SET", "a", "1"],
                &["GET", "a"],
                &["INCR", "a"],
                &["EXEC"],
            ],
        );
        assert_eq!(
            out,
            "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n$1\r\n1\r\n:2\r\n"
        );
        let expected = resp(&[
            &["SELECT", "0"],
            &["MULTI"],
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["EXEC"],
        ]);
        assert_eq!(stream, expected);
        // A single write inside a transaction is atomic on its own: no wrapping (Redis 7.0).
        let (_, stream) = run(
            &mut exec,
            c,
            &[&["MULTI"], &["GET", "a"], &["INCR", "a"], &["EXEC"]],
        );
        assert_eq!(stream, resp(&[&["INCR", "a"]]));
        // A key lazily expired inside the transaction: its DEL joins the group, in order.
        run(&mut exec, c, &[&["SET", "k", "v"]]);
        exec.state.dbs[0].set_expire(b"k", 1);
        let (_, stream) = run(
            &mut exec,
            c,
            &[
                &["MULTI"],
                &["SET", "m", "1"],
                &["GET", "k"],
                &["SET", "m", "2"],
                &["EXEC"],
            ],
        );
        let expected = resp(&[
            &["MULTI"],
            &["SET", "m", "1"],
            &["DEL", "k"],
            &["SET", "m", "2"],
            &["EXEC"],
        ]);
        assert_eq!(stream, expected);
        // A read-only or failed transaction propagates nothing.
        let (out, stream) = run(&mut exec, c, &[&["MULTI"], &["GET", "a"], &["EXEC"]]);
        assert!(out.ends_with("*1\r\n$1\r\n3\r\n"), "{out}");
        assert_eq!(stream, "");
    }

    #[test]
    fn exec_runs_each_command_through_call() {
        let (mut exec, c) = setup();
        run(
            &mut exec,
            c,
            &[&["MULTI"], &["SET", "a", "x"], &["INCR", "a"], &["EXEC"]],
        );
        let stats = &exec.state.stats.commands;
        assert_eq!(stats["set"].calls, 1);
        assert_eq!(stats["incr"].calls, 1);
        assert_eq!(stats["incr"].failed_calls, 1);
        assert_eq!(stats["exec"].calls, 1);
        assert_eq!(stats["exec"].failed_calls, 0);
        let client = exec.clients[c].as_ref().expect("client");
        assert_eq!(client.last_cmd, "exec");
        assert!(!client.tx.multi && !client.tx.in_exec);
    }

    #[test]
    fn swap_with_expired_key_is_no_change() {
        let mut state = State::new(Config::default());
        state.now_ms = 1000;
        set(&mut state, 1, b"k", 500);
        let mut a = client(1);
        watch_key(&mut state, &mut a, &Bytes::from_static(b"k"));
        touch_swap(&mut state, 0, 1);
        assert!(!a.tx.is_dirty_cas());
        set(&mut state, 1, b"j", 0);
        watch_key(&mut state, &mut a, &Bytes::from_static(b"j"));
        touch_swap(&mut state, 0, 1);
        assert!(a.tx.is_dirty_cas());
    }
}
