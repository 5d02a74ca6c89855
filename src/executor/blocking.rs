//! Blocking commands: clients waiting on keys (BLPOP, BLMOVE, BLMPOP, BZPOPMIN ...), their
//! wake-up when a key gets data, and their timeouts. Redis 7.0's `blocked.c`, in our shape.
//!
//! # Life of a blocked client
//!
//! 1. A blocking command finds nothing to pop. Unless blocking is denied (inside EXEC, or
//!    for the master link) it calls `block`: the client is appended to the FIFO wait queue
//!    of every key it named (duplicates once), its deadline goes into a time-ordered set,
//!    and `ClientBlock::active` is set. The executor's `execute` sees `is_blocked` and
//!    keeps the rest of the client's batch unexecuted; while blocked, new input only
//!    accumulates in that batch (`execute` returns at once for a blocked client).
//! 2. Every write ends in `State::signal_modified_key`, which calls `signal_key_ready`.
//!    When a client waits on that key (one hash lookup; nothing at all when nobody is
//!    blocked) the key is queued as ready, once.
//! 3. After each batch (so after a whole MULTI/EXEC too) `execute` calls `serve_ready`. For
//!    each ready key it walks the key's queue in blocking order and serves every waiter
//!    whose kind matches the key's current type (list waiters on a list, sorted-set waiters
//!    on a sorted set) until the key is gone; waiters of another kind, and waiters on a
//!    key that was deleted or now holds another type, keep waiting (Redis 7.0). Serving
//!    pops with the waiter's own context, writes its reply, propagates what Redis
//!    propagates (BLPOP as LPOP, BLMPOP as LPOP with a count, BLMOVE as LMOVE, BZPOPMIN as
//!    ZPOPMIN ...) as one execution unit, and wakes the waiter's connection, which writes
//!    the reply and runs the commands that were held back. A BLMOVE that pushes onto a key
//!    other clients wait on makes that key ready in turn: the loop runs until no key is
//!    ready, so chains of BLMOVEs resolve within one call.
//! 4. A timeout replies with a null array (`*-1`, RESP3 `_`). Deadlines have millisecond
//!    precision: each blocked connection arms a timer for its own deadline
//!    (`timer_deadline`, checked by `timeout_if_due`), and the cron sweeps the ordered set
//!    as a backstop (`timeouts`), so precision does not depend on `hz`.
//! 5. CLIENT UNBLOCK answers as a timeout or with `-UNBLOCKED`; a disconnecting client is
//!    removed from every queue (`remove_client`).
//!
//! Keys and arguments are copied when a client blocks, so a waiting client pins no part of
//! the connection's read buffer.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::Bytes;
use slab::Slab;

use super::client::{Client, ClientKind};
use super::state::State;
use super::Executor;
use crate::commands::long_double::LongDouble;
use crate::commands::{CommandSpec, Ctx};
use crate::db::list::End;
use crate::db::ValueType;

/// How a list waiter pops when served.
#[derive(Debug, Clone)]
pub struct ListWait {
    /// End popped from.
    pub from: End,
    /// End pushed to (BLMOVE/BRPOPLPUSH).
    pub to: End,
    /// Destination of BLMOVE/BRPOPLPUSH.
    pub target: Option<Bytes>,
    /// BLMPOP's COUNT (None for BLPOP/BRPOP/BLMOVE).
    pub count: Option<usize>,
}

/// How a sorted-set waiter pops when served.
#[derive(Debug, Clone)]
pub struct ZSetWait {
    /// Pop the highest scores (BZPOPMAX, BZMPOP MAX).
    pub max: bool,
    /// BZMPOP's COUNT (None for BZPOPMIN/BZPOPMAX).
    pub count: Option<usize>,
}

/// What a blocked client waits to do.
#[derive(Debug, Clone)]
pub enum BlockOp {
    List(ListWait),
    ZSet(ZSetWait),
    /// WAIT: until `replicas` replicas acknowledged `offset` (served by REPLCONF ACKs, see
    /// `serve_waits`; a timeout replies with the count reached, not a null).
    Wait {
        replicas: usize,
        offset: u64,
    },
}

impl BlockOp {
    /// The type of key that can serve this waiter (None: it waits on no key).
    fn serves_on(&self) -> Option<ValueType> {
        match self {
            BlockOp::List(_) => Some(ValueType::List),
            BlockOp::ZSet(_) => Some(ValueType::ZSet),
            BlockOp::Wait { .. } => None,
        }
    }
}

/// One blocked client, as the server sees it.
struct Waiter {
    /// The client's slot in the executor's client table.
    slot: usize,
    db: usize,
    /// The distinct keys waited on, in argument order.
    keys: Vec<Bytes>,
    /// Unix ms; 0 waits forever.
    deadline: u64,
    op: BlockOp,
    /// The blocked command, for serving it later with its own context.
    argv: Vec<Bytes>,
    spec: &'static CommandSpec,
}

type KeyQueues = HashMap<Bytes, VecDeque<u64>, ahash::RandomState>;

/// Server-wide blocking bookkeeping.
#[derive(Default)]
pub struct BlockingState {
    /// Blocked clients by client id.
    waiters: HashMap<u64, Waiter, ahash::RandomState>,
    /// Per database (grown on demand): key -> ids of the clients waiting on it, in order.
    queues: Vec<KeyQueues>,
    /// Keys written since the last `serve_ready` that have waiters, in signal order.
    ready: Vec<(usize, Bytes)>,
    /// The same keys per database, so each is queued once.
    ready_set: Vec<HashSet<Bytes, ahash::RandomState>>,
    /// (deadline, client id) of the waiters with a timeout.
    deadlines: BTreeSet<(u64, u64)>,
}

impl std::fmt::Debug for BlockingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingState")
            .field("blocked", &self.waiters.len())
            .field("ready", &self.ready.len())
            .field("with_timeout", &self.deadlines.len())
            .finish()
    }
}

/// Per-client blocking state.
#[derive(Debug, Default)]
pub struct ClientBlock {
    /// The client waits on keys: its remaining commands are held back.
    active: bool,
}

/// Whether the client is blocked (its remaining commands wait).
#[inline]
pub fn is_blocked(client: &Client) -> bool {
    client.blocked.active
}

/// Number of blocked clients (INFO `blocked_clients`).
pub fn blocked_count(state: &State) -> usize {
    state.blocking.waiters.len()
}

/// Number of blocked clients with a timeout (INFO `clients_in_timeout_table`).
pub fn in_timeout_table(state: &State) -> usize {
    state.blocking.deadlines.len()
}

/// Whether the calling client must not block (Redis's CLIENT_DENY_BLOCKING): inside EXEC,
/// and for our master's link. The command then answers as if it had timed out.
pub fn deny_blocking(client: &Client) -> bool {
    super::watch::in_exec(client) || client.kind == ClientKind::Master
}

/// Parses a blocking command's timeout (seconds as a float, Redis 7.0's
/// `getTimeoutFromObjectOrReply`) into an absolute deadline in Unix ms, 0 meaning
/// forever. Replies with Redis's error and returns None when invalid.
pub fn timeout_arg(ctx: &mut Ctx, idx: usize) -> Option<u64> {
    let Some(ld) = LongDouble::parse(&ctx.argv[idx]) else {
        ctx.reply().err("timeout is not a float or out of range");
        return None;
    };
    let ms = seconds_to_ms(ld);
    if ms < 0 {
        ctx.reply().err("timeout is negative");
        return None;
    }
    if ms == 0 {
        return Some(0);
    }
    // Redis 7.0 adds without an overflow check; a deadline that far away never comes.
    Some(ctx.state.now_ms.saturating_add(ms as u64))
}

/// `(long long) ceill(seconds * 1000.0L)` as computed on x86-64: the product is rounded to
/// the 64-bit significand of `long double`, then rounded up to an integer; values outside
/// the `long long` range (and infinities) convert to `LLONG_MIN`, which is negative.
fn seconds_to_ms(ld: LongDouble) -> i64 {
    let LongDouble::Finite { neg, mant, exp } = ld else {
        return i64::MIN;
    };
    if mant == 0 {
        return 0;
    }
    // The exact product, then rounded to 64 significant bits (round half to even).
    let prod = mant as u128 * 1000;
    let bits = 128 - prod.leading_zeros() as i32;
    let (mut m, mut e) = (prod, exp);
    if bits > 64 {
        let shift = (bits - 64) as u32;
        let rem = m & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        m >>= shift;
        e += shift as i32;
        if rem > half || (rem == half && m & 1 == 1) {
            m += 1;
            if m >> 64 != 0 {
                m >>= 1;
                e += 1;
            }
        }
    }
    // value = m * 2^e; ceil for positives, truncation (which is ceil) for negatives.
    let magnitude: u128 = if e >= 0 {
        if e >= 64 {
            return i64::MIN;
        }
        match m.checked_shl(e as u32) {
            Some(v) if v >> e == m => v,
            _ => return i64::MIN,
        }
    } else {
        let shift = (-e) as u32;
        let (int, frac) = if shift >= 128 {
            (0, m != 0)
        } else {
            (m >> shift, m & ((1u128 << shift) - 1) != 0)
        };
        if !neg && frac {
            int + 1
        } else {
            int
        }
    };
    if neg {
        if magnitude > 1u128 << 63 {
            i64::MIN
        } else {
            (magnitude as i128).wrapping_neg() as i64
        }
    } else if magnitude > i64::MAX as u128 {
        i64::MIN
    } else {
        magnitude as i64
    }
}

/// Blocks the calling client on `keys` until `deadline` (Unix ms, 0: forever); it will be
/// served as `op` says. The command must have replied nothing.
pub fn block(ctx: &mut Ctx, keys: &[Bytes], deadline: u64, op: BlockOp) {
    let id = ctx.client.id;
    let db = ctx.client.db;
    let slot = ctx.client.slot;
    let mut distinct: Vec<Bytes> = Vec::with_capacity(keys.len());
    for k in keys {
        if !distinct.iter().any(|d| d == k) {
            distinct.push(Bytes::copy_from_slice(k));
        }
    }
    let bs = &mut ctx.state.blocking;
    if bs.queues.len() <= db {
        bs.queues.resize_with(db + 1, Default::default);
    }
    for k in &distinct {
        bs.queues[db].entry(k.clone()).or_default().push_back(id);
    }
    if deadline != 0 {
        bs.deadlines.insert((deadline, id));
    }
    let argv = ctx.argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    bs.waiters.insert(
        id,
        Waiter {
            slot,
            db,
            keys: distinct,
            deadline,
            op,
            argv,
            spec: ctx.spec,
        },
    );
    ctx.client.blocked.active = true;
}

/// A key was written: clients blocked on it may be served.
pub fn signal_key_ready(state: &mut State, db: usize, key: &[u8]) {
    let bs = &mut state.blocking;
    if bs.waiters.is_empty() {
        return;
    }
    let Some((k, _)) = bs.queues.get(db).and_then(|q| q.get_key_value(key)) else {
        return;
    };
    let k = k.clone();
    mark_ready(bs, db, k);
}

fn mark_ready(bs: &mut BlockingState, db: usize, key: Bytes) {
    if bs.ready_set.len() <= db {
        bs.ready_set.resize_with(db + 1, Default::default);
    }
    if bs.ready_set[db].insert(key.clone()) {
        bs.ready.push((db, key));
    }
}

/// Two databases are about to be swapped: every key waited on in either may now hold data.
pub fn signal_swap(state: &mut State, a: usize, b: usize) {
    let bs = &mut state.blocking;
    for db in [a, b] {
        let keys: Vec<Bytes> = match bs.queues.get(db) {
            Some(q) => q.keys().cloned().collect(),
            None => continue,
        };
        for k in keys {
            mark_ready(bs, db, k);
        }
    }
}

/// Serves clients blocked on keys that became ready (after every command batch).
pub fn serve_ready(exec: &mut Executor) {
    while !exec.state.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut exec.state.blocking.ready);
        for (db, key) in ready {
            if let Some(set) = exec.state.blocking.ready_set.get_mut(db) {
                set.remove(&key);
            }
            serve_key(exec, db, &key);
        }
    }
}

/// The type of a live (not logically expired) key.
fn live_type(state: &State, db: usize, key: &[u8]) -> Option<ValueType> {
    let e = state.dbs.get(db)?.get(key)?;
    if e.expire_at != 0 && e.expire_at <= state.now_ms {
        return None;
    }
    Some(e.value.value_type())
}

/// Serves the waiters of one ready key, in blocking order, while the key can serve them.
fn serve_key(exec: &mut Executor, db: usize, key: &Bytes) {
    let ids: Vec<u64> = match exec.state.blocking.queues.get(db).and_then(|q| q.get(key)) {
        Some(q) => q.iter().copied().collect(),
        None => return,
    };
    for id in ids {
        let Some(t) = live_type(&exec.state, db, key) else {
            return;
        };
        if !matches!(t, ValueType::List | ValueType::ZSet) {
            return;
        }
        let Some(w) = exec.state.blocking.waiters.get(&id) else {
            continue;
        };
        if w.op.serves_on() != Some(t) {
            continue;
        }
        // A client being closed is not served: what it popped would be lost.
        let closing = matches!(exec.clients.get(w.slot), Some(Some(c)) if c.close_asap);
        if closing {
            continue;
        }
        serve_one(exec, id, key);
    }
}

/// Serves one waiter from `key` (which holds data of the waiter's kind).
fn serve_one(exec: &mut Executor, id: u64, key: &Bytes) {
    let Some(w) = detach(&mut exec.state, id) else {
        return;
    };
    let Some(mut client) = exec.clients.get_mut(w.slot).and_then(|s| s.take()) else {
        return;
    };
    if client.id != id {
        exec.clients[w.slot] = Some(client);
        return;
    }
    client.blocked.active = false;
    {
        let mut ctx = Ctx {
            state: &mut exec.state,
            client: &mut client,
            clients: &mut exec.clients,
            argv: &w.argv,
            spec: w.spec,
            propagated: false,
        };
        match &w.op {
            BlockOp::List(op) => crate::commands::list::serve_blocked(&mut ctx, key, op),
            BlockOp::ZSet(op) => crate::commands::list::serve_blocked_zset(&mut ctx, key, op),
            // Never queued on a key.
            BlockOp::Wait { .. } => {}
        }
    }
    // What the served command propagated forms its own execution unit.
    exec.state.propagation.flush_pending();
    account_errors(&mut exec.state, &mut client, w.spec, false);
    client.notify.notify_one();
    exec.clients[w.slot] = Some(client);
}

/// Removes a waiter from the bookkeeping (queues, deadlines); returns it.
fn detach(state: &mut State, id: u64) -> Option<Waiter> {
    let bs = &mut state.blocking;
    let w = bs.waiters.remove(&id)?;
    if let Some(q) = bs.queues.get_mut(w.db) {
        for k in &w.keys {
            if let Some(list) = q.get_mut(k) {
                if let Some(i) = list.iter().position(|&c| c == id) {
                    list.remove(i);
                }
                if list.is_empty() {
                    q.remove(k);
                }
            }
        }
    }
    if w.deadline != 0 {
        bs.deadlines.remove(&(w.deadline, id));
    }
    Some(w)
}

/// Counts errors a blocked command replied when it was finally answered (failed_calls,
/// errorstats), as Redis's `updateStatsOnUnblock` does; `failed` counts the call as failed
/// even without an error reply (Redis does so for every CLIENT UNBLOCK).
fn account_errors(
    state: &mut State,
    client: &mut Client,
    spec: &'static CommandSpec,
    failed: bool,
) {
    if client.out.errors.is_empty() && !failed {
        return;
    }
    state.stats.commands.stat_mut(spec.full_name).failed_calls += 1;
    for code in client.out.errors.drain(..) {
        state.stats.total_error_replies += 1;
        *state.stats.errors.entry(code).or_default() += 1;
    }
}

/// Answers a blocked client as timed out and releases it.
fn time_out(state: &mut State, clients: &mut Slab<Option<Client>>, id: u64) {
    let Some(w) = detach(state, id) else {
        return;
    };
    if let Some(Some(c)) = clients.get_mut(w.slot) {
        if c.id == id {
            c.blocked.active = false;
            match w.op {
                BlockOp::Wait { offset, .. } => c
                    .out
                    .int(crate::replication::master::acked(state, offset) as i64),
                _ => c.out.null_array(),
            }
            c.notify.notify_one();
        }
    }
}

/// Answers the WAIT clients whose replica count has been reached (after an ACK).
pub fn serve_waits(state: &mut State, clients: &mut Slab<Option<Client>>) {
    let done: Vec<(u64, usize)> = state
        .blocking
        .waiters
        .iter()
        .filter_map(|(id, w)| match w.op {
            BlockOp::Wait { replicas, offset } => {
                let n = crate::replication::master::acked(state, offset);
                (n >= replicas).then_some((*id, n))
            }
            _ => None,
        })
        .collect();
    for (id, n) in done {
        let Some(w) = detach(state, id) else {
            continue;
        };
        if let Some(Some(c)) = clients.get_mut(w.slot) {
            if c.id == id {
                c.blocked.active = false;
                c.out.int(n as i64);
                c.notify.notify_one();
            }
        }
    }
}

/// Times out blocked clients whose deadline passed (from the cron).
pub fn timeouts(exec: &mut Executor) {
    let now = exec.state.now_ms;
    while let Some(&(deadline, id)) = exec.state.blocking.deadlines.first() {
        // Redis times a client out once its deadline is strictly in the past.
        if deadline >= now {
            break;
        }
        time_out(&mut exec.state, &mut exec.clients, id);
    }
}

/// How long the connection in `slot` should sleep before checking its blocked client's
/// deadline; None when it is not blocked or waits forever.
pub fn timer_deadline(exec: &Executor, slot: usize) -> Option<std::time::Duration> {
    let c = exec.clients.get(slot)?.as_ref()?;
    if !c.blocked.active {
        return None;
    }
    let w = exec.state.blocking.waiters.get(&c.id)?;
    if w.deadline == 0 {
        return None;
    }
    let now = crate::util::now_ms();
    // Due once the deadline is strictly past: wake one ms after it.
    Some(std::time::Duration::from_millis(
        (w.deadline + 1).saturating_sub(now),
    ))
}

/// Times the client in `slot` out if its deadline has passed (its connection's timer fired).
pub fn timeout_if_due(exec: &mut Executor, slot: usize) {
    let Some(Some(c)) = exec.clients.get(slot) else {
        return;
    };
    let id = c.id;
    let due = matches!(
        exec.state.blocking.waiters.get(&id),
        Some(w) if w.deadline != 0 && w.deadline < crate::util::now_ms()
    );
    if due {
        time_out(&mut exec.state, &mut exec.clients, id);
    }
}

/// CLIENT UNBLOCK: releases the client with this id if it is blocked, answering as a
/// timeout or with `-UNBLOCKED`. Returns whether a client was unblocked.
pub fn unblock_client(
    state: &mut State,
    clients: &mut Slab<Option<Client>>,
    id: u64,
    error: bool,
) -> bool {
    let Some(slot) = state.blocking.waiters.get(&id).map(|w| w.slot) else {
        return false;
    };
    match clients.get(slot) {
        Some(Some(c)) if c.id == id => {}
        _ => return false,
    }
    let Some(w) = detach(state, id) else {
        return false;
    };
    let Some(Some(c)) = clients.get_mut(slot) else {
        return false;
    };
    c.blocked.active = false;
    if error {
        c.out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    } else {
        c.out.null_array();
    }
    account_errors(state, c, w.spec, true);
    c.notify.notify_one();
    true
}

/// A client disconnects: it leaves every wait queue.
pub fn remove_client(exec: &mut Executor, client_id: u64) {
    detach(&mut exec.state, client_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::protocol::Batch;
    use bytes::BytesMut;
    use std::rc::Rc;

    fn exec_with_clients(n: usize) -> (Executor, Vec<usize>) {
        let mut exec = Executor::new(Config::default());
        exec.state.propagation.enabled = true;
        let slots = (0..n)
            .map(|i| {
                exec.register(
                    format!("127.0.0.1:{}", 1000 + i),
                    "127.0.0.1:6379".into(),
                    false,
                    -1,
                    Rc::new(tokio::sync::Notify::new()),
                )
                .expect("room for a client")
            })
            .collect();
        (exec, slots)
    }

    fn batch(cmds: &[&[&str]]) -> Batch {
        let mut b = Batch::new();
        for c in cmds {
            b.push(c.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())));
        }
        b
    }

    /// Runs commands for one client; returns its replies and what was propagated.
    fn run(exec: &mut Executor, slot: usize, cmds: &[&[&str]]) -> (String, String) {
        let mut b = batch(cmds);
        exec.refresh_clock();
        exec.execute(slot, &mut b);
        (output(exec, slot), stream(exec))
    }

    fn output(exec: &mut Executor, slot: usize) -> String {
        let mut out = BytesMut::new();
        exec.take_output(slot, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn stream(exec: &mut Executor) -> String {
        let s = String::from_utf8_lossy(&exec.state.propagation.take()).into_owned();
        // Drop the SELECT that starts the stream.
        s.strip_prefix("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
            .map(str::to_string)
            .unwrap_or(s)
    }

    fn resp(args: &[&str]) -> String {
        let mut b = BytesMut::new();
        super::super::propagate::encode(&mut b, args);
        String::from_utf8(b.to_vec()).expect("ascii")
    }

    #[test]
    fn served_pops_propagate_as_their_plain_forms() {
        let (mut exec, c) = exec_with_clients(2);
        let (a, b) = (c[0], c[1]);
        // A blocks; its PING waits in the batch.
        let mut held = batch(&[&["BLPOP", "k", "0"], &["PING"]]);
        exec.execute(a, &mut held);
        assert_eq!(held.len(), 1);
        assert!(exec.clients[a].as_ref().is_some_and(is_blocked));
        assert_eq!(blocked_count(&exec.state), 1);
        // Commands arriving while blocked are not run.
        held.push([Bytes::from_static(b"ECHO"), Bytes::from_static(b"x")]);
        exec.execute(a, &mut held);
        assert_eq!(held.len(), 2);
        assert_eq!(output(&mut exec, a), "");
        let (_, s) = run(&mut exec, b, &[&["RPUSH", "k", "x", "y"]]);
        assert_eq!(
            s,
            resp(&["RPUSH", "k", "x", "y"]) + &resp(&["LPOP", "k"]),
            "the served BLPOP is its own LPOP entry"
        );
        assert_eq!(output(&mut exec, a), "*2\r\n$1\r\nk\r\n$1\r\nx\r\n");
        exec.execute(a, &mut held);
        assert!(held.is_empty());
        assert_eq!(output(&mut exec, a), "+PONG\r\n$1\r\nx\r\n");

        // BLMOVE served: LMOVE with lowercase ends; BRPOPLPUSH: RPOPLPUSH.
        run(&mut exec, a, &[&["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"]]);
        let (_, s) = run(&mut exec, b, &[&["RPUSH", "s", "1"]]);
        assert_eq!(
            s,
            resp(&["RPUSH", "s", "1"]) + &resp(&["LMOVE", "s", "d", "left", "right"])
        );
        run(&mut exec, a, &[&["BRPOPLPUSH", "s", "d", "0"]]);
        let (_, s) = run(&mut exec, b, &[&["RPUSH", "s", "2"]]);
        assert_eq!(
            s,
            resp(&["RPUSH", "s", "2"]) + &resp(&["RPOPLPUSH", "s", "d"])
        );
        // BLMPOP served: the count actually popped.
        run(
            &mut exec,
            a,
            &[&["BLMPOP", "0", "1", "m", "RIGHT", "COUNT", "5"]],
        );
        let (_, s) = run(&mut exec, b, &[&["RPUSH", "m", "1", "2"]]);
        assert_eq!(
            s,
            resp(&["RPUSH", "m", "1", "2"]) + &resp(&["RPOP", "m", "2"])
        );
        output(&mut exec, a);

        // Not blocking: rewritten at once.
        let (_, s) = run(&mut exec, a, &[&["RPUSH", "n", "1", "2", "3", "4"]]);
        assert_eq!(s, resp(&["RPUSH", "n", "1", "2", "3", "4"]));
        let (_, s) = run(&mut exec, a, &[&["BRPOP", "none", "n", "0"]]);
        assert_eq!(s, resp(&["RPOP", "n"]));
        let (_, s) = run(&mut exec, a, &[&["BLMOVE", "n", "d", "left", "LEFT", "0"]]);
        assert_eq!(s, resp(&["LMOVE", "n", "d", "left", "LEFT"]));
        let (_, s) = run(
            &mut exec,
            a,
            &[&["BLMPOP", "0", "1", "n", "LEFT", "COUNT", "9"]],
        );
        assert_eq!(s, resp(&["LPOP", "n", "2"]));
        let (_, s) = run(&mut exec, a, &[&["LMPOP", "1", "d", "RIGHT"]]);
        assert_eq!(s, resp(&["RPOP", "d", "1"]));
        // An LTRIM that removes nothing changes nothing and is not propagated.
        let (_, s) = run(&mut exec, a, &[&["LTRIM", "d", "0", "-1"]]);
        assert_eq!(s, "");

        // Sorted sets: BZPOPMIN as ZPOPMIN, BZMPOP as ZPOPMAX with the count popped.
        run(&mut exec, a, &[&["BZPOPMIN", "z", "0"]]);
        let (_, s) = run(&mut exec, b, &[&["ZADD", "z", "1", "m"]]);
        assert_eq!(s, resp(&["ZADD", "z", "1", "m"]) + &resp(&["ZPOPMIN", "z"]));
        assert_eq!(
            output(&mut exec, a),
            "*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n"
        );
        run(
            &mut exec,
            a,
            &[&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "3"]],
        );
        let (_, s) = run(&mut exec, b, &[&["ZADD", "z", "1", "m", "2", "n"]]);
        assert_eq!(
            s,
            resp(&["ZADD", "z", "1", "m", "2", "n"]) + &resp(&["ZPOPMAX", "z", "2"])
        );
    }

    #[test]
    fn disconnect_and_timeout_leave_no_trace() {
        let (mut exec, c) = exec_with_clients(3);
        run(&mut exec, c[0], &[&["BLPOP", "k", "j", "0"]]);
        run(&mut exec, c[1], &[&["BLPOP", "k", "100"]]);
        assert_eq!(in_timeout_table(&exec.state), 1);
        exec.unregister(c[0]);
        assert_eq!(blocked_count(&exec.state), 1);
        // Time passes: the cron times the second client out.
        exec.state.now_ms += 200_000;
        timeouts(&mut exec);
        assert_eq!(blocked_count(&exec.state), 0);
        assert_eq!(in_timeout_table(&exec.state), 0);
        assert_eq!(output(&mut exec, c[1]), "*-1\r\n");
        assert!(exec.state.blocking.queues.iter().all(|q| q.is_empty()));
        // Nobody waits: the push stays.
        let (out, _) = run(&mut exec, c[2], &[&["RPUSH", "k", "v"], &["LLEN", "k"]]);
        assert_eq!(out, ":1\r\n:1\r\n");
    }

    fn ms(s: &str) -> i64 {
        seconds_to_ms(LongDouble::parse(s.as_bytes()).expect("valid float"))
    }

    #[test]
    fn timeouts_round_up_like_redis() {
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("-0"), 0);
        assert_eq!(ms("1"), 1000);
        assert_eq!(ms("0.5"), 500);
        assert_eq!(ms("0.0001"), 1);
        assert_eq!(ms("0.001"), 1);
        assert_eq!(ms("1e-400"), 1);
        assert_eq!(ms("0.0011"), 2);
        // Negative fractions of a millisecond truncate to 0: block forever, as Redis does.
        assert_eq!(ms("-0.0001"), 0);
        assert_eq!(ms("-1"), -1000);
        assert_eq!(ms("0x10"), 16000);
        assert_eq!(ms("9223372036854775"), 9223372036854775000);
        // Redis blocks (does not reject) for this one: the product stays below 2^63.
        assert!(ms("9223372036854775.807") > 0);
        // Beyond the long long range: LLONG_MIN, i.e. "timeout is negative".
        assert_eq!(ms("9223372036854776"), i64::MIN);
        assert_eq!(ms("1e20"), i64::MIN);
        assert_eq!(ms("inf"), i64::MIN);
        assert_eq!(ms("-inf"), i64::MIN);
    }
}
