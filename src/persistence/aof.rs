//! The append-only file: Redis 7.0's multi-part layout, the three fsync policies, loading at
//! startup and the INFO fields.
//!
//! # Layout
//!
//! Everything lives in `appenddirname` (default `appendonlydir`): a base file
//! (`<appendfilename>.<n>.base.rdb`, an RDB image, or `.base.aof`, commands), the incremental
//! files (`<appendfilename>.<n>.incr.aof`) holding the write stream since that base, and the
//! manifest (`<appendfilename>.manifest`, see [`manifest`]) naming them. Starting with
//! `appendonly yes` and no AOF creates an (empty-dataset) base, an incr file and the manifest,
//! as Redis does; an old single-file `appendonly.aof` in `dir` is moved into the directory and
//! listed as the base (Redis 7's upgrade). Files written by Redis 7.0 load here and ours load
//! in Redis; `redis-check-aof` accepts them.
//!
//! # Writing
//!
//! The AOF consumes the propagation stream (`executor::propagate`): `replication::master::feed`
//! hands us each batch's bytes, which are appended to `buf`. When the runtime has run every
//! ready connection and is about to park, `before_sleep` (Redis's `beforeSleep`) writes the
//! turn's bytes with one write(2); the replies of the turn leave after that (`reply_gate`).
//! Then, by `appendfsync`:
//!
//! - `always`: group commit, as Redis's `beforeSleep` does it. A connection about to send
//!   output checks `reply_gate`: if the AOF holds bytes not on disk yet, it waits until the
//!   published synced offset covers what it saw. When the runtime has nothing left to run
//!   (every connection whose input was ready has run its batch), it calls `before_sleep`
//!   right before it parks: after a few more turns while they keep bringing writes, one
//!   write(2) of what the turns buffered and one fdatasync, inline, release every waiting
//!   reply. No reply (reads included: they may show unsynced writes) acknowledges a write
//!   the disk does not hold. A failed write or fsync exits, as in Redis: the alternative
//!   would be acknowledging writes that are not durable.
//! - `everysec`: a background thread fsyncs once a second when there is something new. The
//!   executor never waits for it; if an fsync is still running when the next write comes,
//!   the write is postponed (kept in `buf`) for up to two seconds, then done anyway and
//!   counted in `aof_delayed_fsync` (Redis's rule: a write(2) behind a slow fsync can block).
//! - `no`: write only; the kernel flushes when it wants.
//!
//! With `no-appendfsync-on-rewrite yes`, while a snapshot runs (BGSAVE, a rewrite, a full
//! sync) nothing is fsynced and no reply waits for the disk, as in Redis; the fsyncs resume
//! when it ends.
//!
//! A failed write leaves the bytes in `buf` (the partial write is truncated away), sets
//! `aof_last_write_status:err`, makes writes fail with `-MISCONF Errors writing to the AOF
//! file: ...`, and is retried every turn (and from the cron) until it succeeds.
//!
//! # Loading
//!
//! With `appendonly yes` the AOF is the dataset, as in Redis: the RDB file is not read even
//! when no AOF exists yet. At startup the files load in the background while clients are
//! accepted and get `-LOADING` (INFO `loading_*` reports the progress over all the files);
//! the AOF is opened for appending once the dataset is in memory. See [`loader`] for the
//! rules. The replication id and offset the files record (see [`repl`]) are restored, so an
//! AOF-only replica resyncs partially after a restart.
//!
//! # Rewriting
//!
//! BGREWRITEAOF and the automatic rewrite write a new base with the fork-free snapshot (an
//! RDB image, or with `aof-use-rdb-preamble no` the commands of [`cmdform`]) and switch the
//! manifest to it when done; see [`rewrite`]. CONFIG SET appendonly turns the AOF on (a
//! rewrite first) and off at runtime; see [`runtime`].

pub mod cmdform;
pub mod loader;
pub mod manifest;
pub mod repl;
pub mod rewrite;
pub mod runtime;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::executor::state::State;
use crate::executor::Executor;
use manifest::Manifest;

/// How long a write may be postponed behind a running background fsync (Redis: 2 s).
const MAX_POSTPONE_MS: u64 = 2000;

/// `appendfsync` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Always = 0,
    Everysec = 1,
    No = 2,
}

impl Policy {
    /// The policy in force now: `no` while `no-appendfsync-on-rewrite` holds fsyncs back.
    fn of(state: &State) -> Policy {
        if fsync_held(state) {
            return Policy::No;
        }
        Policy::configured(state)
    }

    /// The `appendfsync` setting itself.
    fn configured(state: &State) -> Policy {
        match state.cfg.appendfsync.as_str() {
            "always" => Policy::Always,
            "no" => Policy::No,
            _ => Policy::Everysec,
        }
    }
}

/// `no-appendfsync-on-rewrite yes` while a snapshot runs (a BGSAVE, a rewrite, a full sync:
/// Redis's `hasActiveChildProcess`): no fsync at all, under `always` or `everysec`, so the
/// AOF does not compete with the snapshot for the disk; replies do not wait for the disk
/// either. The fsyncs resume (and catch up) when the snapshot ends.
fn fsync_held(state: &State) -> bool {
    state.cfg.no_appendfsync_on_rewrite && state.rdb.bgsave.is_some()
}

/// What the executor and the fsync thread share.
struct Shared {
    file: File,
    /// Bytes written to the incr file so far (by the executor).
    written: AtomicU64,
    /// Bytes known to be on disk.
    synced: AtomicU64,
    /// `synced`, published to the connections waiting to send replies under `always`
    /// (group commit, see `reply_gate`). Never ahead of `synced`.
    synced_tx: tokio::sync::watch::Sender<u64>,
    /// Under `everysec` and `no`: the stream bytes (written + buffered) that `before_sleep`
    /// has tried to write, published to the replies waiting for that (see `reply_gate`).
    /// Only the executor sends on it.
    flushed_tx: tokio::sync::watch::Sender<u64>,
    in_progress: AtomicBool,
    stop: AtomicBool,
    policy: AtomicU8,
    /// The last background fsync error, if the last fsync failed.
    error: Mutex<Option<String>>,
    /// Set while `error` holds one: the command path checks this, never the lock.
    failed: AtomicBool,
}

/// The open incr file and its fsync thread.
struct Writer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        // Replies waiting under `always` (group commit) are released only by an fsync.
        let target = self.shared.written.load(Ordering::Acquire);
        if self.shared.policy.load(Ordering::Relaxed) == Policy::Always as u8
            && target > self.shared.synced.load(Ordering::Acquire)
        {
            self.shared.sync_or_exit(target);
        }
    }
}

/// AOF status, held in `State`.
#[derive(Default)]
pub struct AofState {
    /// Appending is on (the incr file is open).
    on: bool,
    dir: PathBuf,
    manifest: Manifest,
    writer: Option<Writer>,
    /// Stream bytes not written yet (postponed or failed writes).
    buf: Vec<u8>,
    /// Size of the incr file we append to (where a partial write is truncated back to).
    incr_size: u64,
    /// aof_current_size / aof_base_size.
    current_size: u64,
    base_size: u64,
    /// Set after a failed write; the text is the OS error (`strerror`).
    write_error: Option<String>,
    /// aof_delayed_fsync.
    delayed_fsync: u64,
    /// When a write was first postponed behind a running fsync (Unix ms; 0: none).
    postponed_since: u64,
    /// `always`: runtime turns run since the last fsync to gather more batches into it
    /// (see `before_sleep`); at most `MAX_GATHER_TURNS`, 0 when nothing is unsynced.
    gather_turns: u8,
    /// `always`: the stream bytes (written + buffered) when the last gathering turn began.
    gather_mark: u64,
    /// Unix second of the last `#TS:` annotation.
    last_ts: u64,
    /// BGREWRITEAOF status (see [`rewrite`]).
    rw: rewrite::RewriteState,
    /// Turned on at runtime and waiting for the rewrite that creates its base (Redis's
    /// `AOF_WAIT_REWRITE`, see [`runtime`]); `on` is also set while that rewrite runs.
    wait: bool,
    /// Turned off with nobody else consuming the stream: what is left of it is dropped
    /// after the batch.
    drain_stream: bool,
    /// Where the appended bytes stand in the replication history (see [`repl`]).
    repl: repl::StreamPos,
    /// The replication history being read back while loading.
    load_track: repl::Track,
}

/// Whether the AOF consumes the propagation stream.
pub fn enabled(state: &State) -> bool {
    state.aof.on
}

/// Appends stream bytes (RESP commands, SELECTs included) to the AOF buffer; the turn's
/// bytes are written together by `before_sleep` (under `always` right before their fsync).
pub fn feed(state: &mut State, data: &[u8]) {
    if !state.aof.on {
        return;
    }
    let end = state.propagation.offset;
    let start = end.saturating_sub(data.len() as u64);
    state.aof.rw.fed_offset = end;
    let mut data = data;
    let mut start = start;
    // A rewrite started during this batch: what came before it goes to the old incr file.
    if let Some(k) = rewrite::split(state, start, data.len()) {
        let k = k.min(data.len());
        if k > 0 {
            state.aof.buf.extend_from_slice(&data[..k]);
        }
        rewrite::switch_now(state);
        data = &data[k..];
        start += k as u64;
        if data.is_empty() {
            return;
        }
    }
    // A full resync replaced the dataset: the AOF is rebuilt from it (see `repl`).
    if repl::broken(state, start) {
        repl::restart(state);
        return;
    }
    if state.cfg.aof_timestamp_enabled {
        let now = state.now_ms / 1000;
        if now > state.aof.last_ts {
            state.aof.last_ts = now;
            state
                .aof
                .buf
                .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
        }
    }
    repl::annotate(state, start);
    state.aof.repl.offset = end;
    // Written once per runtime turn, by `before_sleep`, as Redis writes once per event-loop
    // turn in `beforeSleep`.
    state.aof.buf.extend_from_slice(data);
}

/// End of a command batch: the stream may stop, a finished rewrite may switch files. The
/// batch's bytes stay buffered for `before_sleep`.
pub fn after_batch(state: &mut State) {
    if state.aof.drain_stream {
        state.aof.drain_stream = false;
        if !state.aof.on && state.repl.backlog.is_none() && !state.propagation.enabled {
            let _ = state.propagation.take();
        }
    }
    if state.aof.on {
        rewrite::switch_if_reached(state);
    }
}

/// From the server cron: retries postponed and failed writes.
pub fn cron(state: &mut State) {
    // The stream is the AOF's input too: freeing an idle replication backlog (which turns
    // the stream off, in the same tick) must not stop the appending.
    if state.aof.on && !state.propagation.enabled {
        state.propagation.enabled = true;
        state.propagation.reset_db();
    }
    after_batch(state);
    // Every stream byte has been fed by now: a full resync that was followed by no write
    // yet is noticed here (see `repl`).
    if state.aof.on
        && !rewrite::switch_pending(state)
        && repl::broken(state, state.propagation.offset)
    {
        repl::restart(state);
    }
    // The fsync thread follows the policy in force (it changes when a snapshot that held
    // fsyncs back ends, with nothing written since).
    if let Some(w) = &state.aof.writer {
        w.shared
            .policy
            .store(Policy::of(state) as u8, Ordering::Relaxed);
    }
    // `always`: whatever a runtime too busy to park has not synced yet (`before_sleep` does
    // it otherwise) is synced by the fsync thread.
    if state.aof.on && Policy::of(state) == Policy::Always {
        request_sync(state);
    }
    // `everysec`/`no`: the turn's write, for a runtime too busy to reach `before_sleep`.
    if state.aof.on && Policy::of(state) != Policy::Always {
        write_turn(state);
    }
    rewrite::cron(state);
}

/// Before exiting: writes what is buffered and fsyncs (Redis's prepareForShutdown).
pub fn flush_on_shutdown(state: &mut State) {
    if !state.aof.on {
        return;
    }
    flush(state, true);
    if let Some(w) = &state.aof.writer {
        tracing::info!("Calling fsync() on the AOF file.");
        let n = w.shared.written.load(Ordering::Acquire);
        if w.shared.file.sync_data().is_ok() {
            w.shared.publish(n);
        }
    }
}

/// Redis's `strerror` text of an I/O error (without Rust's " (os error N)" suffix).
fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Writes `buf` to the incr file (Redis's `flushAppendOnlyFile`).
fn flush(state: &mut State, force: bool) {
    let policy = Policy::of(state);
    // A write error under `always` is fatal even while fsyncs are held back.
    let always_configured = Policy::configured(state) == Policy::Always;
    let aof = &mut state.aof;
    let Some(w) = aof.writer.as_ref() else {
        return;
    };
    let shared = w.shared.clone();
    shared.policy.store(policy as u8, Ordering::Relaxed);
    if aof.buf.is_empty() {
        return;
    }
    if policy == Policy::Everysec && !force && shared.in_progress.load(Ordering::Relaxed) {
        let now = crate::util::now_ms();
        if aof.postponed_since == 0 {
            aof.postponed_since = now;
            return;
        }
        if now.saturating_sub(aof.postponed_since) < MAX_POSTPONE_MS {
            return;
        }
        aof.delayed_fsync += 1;
        tracing::info!("Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis.");
    }
    aof.postponed_since = 0;
    let mut written = 0usize;
    let mut error = None;
    while written < aof.buf.len() {
        match (&shared.file).write(&aof.buf[written..]) {
            Ok(0) => {
                error = Some(io::Error::new(io::ErrorKind::WriteZero, "short write"));
                break;
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if let Some(e) = error {
        let msg = strerror(&e);
        if always_configured {
            tracing::warn!("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            tracing::warn!("Error writing to the AOF file: {msg}");
            std::process::exit(1);
        }
        // Take a partial command back out so the file stays parseable; if that is
        // impossible, keep what was written and drop it from the buffer.
        if written > 0 && shared.file.set_len(aof.incr_size).is_err() {
            aof.buf.drain(..written);
            aof.incr_size += written as u64;
            aof.current_size += written as u64;
            shared.written.fetch_add(written as u64, Ordering::Relaxed);
        }
        if aof.write_error.is_none() {
            tracing::warn!("Error writing to the AOF file: {msg}");
        }
        aof.write_error = Some(msg);
        return;
    }
    if aof.write_error.take().is_some() {
        tracing::warn!("AOF write error looks solved, Redis can write again.");
    }
    aof.buf.clear();
    aof.incr_size += written as u64;
    aof.current_size += written as u64;
    // Under `always` the fsync comes in `before_sleep` (or from the cron), not here.
    shared.written.fetch_add(written as u64, Ordering::Release);
}

/// Under `always`, writes what is buffered and wakes the fsync thread to sync every byte
/// written so far: the cron's path, for a runtime that stays too busy to reach
/// `before_sleep` (and for replies that began waiting before a snapshot held fsyncs back).
/// Idempotent; cheap when there is nothing new.
pub fn request_sync(state: &mut State) {
    if !state.aof.buf.is_empty() {
        flush(state, true);
    }
    if let Some(w) = &state.aof.writer {
        if let Some(t) = &w.thread {
            t.thread().unpark();
        }
    }
}

/// What the runtime does after `before_sleep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleep {
    /// Park until the next event.
    Park,
    /// Poll for events and run what is ready first, then call `before_sleep` again.
    RunAgain,
}

/// Turns `before_sleep` may add before an fsync under `always` (see there).
const MAX_GATHER_TURNS: u8 = 4;

/// Run by the runtime right before it parks, when no task is ready (Redis's `beforeSleep`).
/// Under `always`: writes what the turns buffered (one write(2) for all their batches) and
/// fsyncs it inline, which releases every reply waiting at `reply_gate`.
///
/// Inline, not on the fsync thread: the runtime has nothing else to run, and the disk's
/// completion then wakes this thread directly. Handing the fsync to a thread while the
/// runtime went on serving was measured slower with 50 clients at pipeline 1 (two wake-ups
/// per fsync, and fsyncs started with smaller groups).
///
/// Gathering: the fsync is the cost per group, so a group should hold every batch that is
/// about to arrive. The replies the last fsync released went out during this turn, and the
/// clients answering them quickly send their next commands while the turn still runs;
/// Redis's loop picks those up because it writes replies before its `epoll_wait`, but a
/// runtime parks (and calls this) before polling for them. So while the previous turn
/// brought new writes, up to `MAX_GATHER_TURNS` times, this asks for one more turn first
/// (`Sleep::RunAgain`: poll without blocking, run what is ready). A lone client costs one
/// empty turn per fsync; with 50 clients at pipeline 1 the groups grow and throughput went
/// up about 15% (README "Append-only file").
pub fn before_sleep(state: &mut State) -> Sleep {
    if !state.aof.on {
        return Sleep::Park;
    }
    let Some(w) = &state.aof.writer else {
        return Sleep::Park;
    };
    let shared = w.shared.clone();
    if Policy::of(state) != Policy::Always {
        // Replies that began waiting before fsyncs were held back (no-appendfsync-on-rewrite)
        // or the policy changed are released by the fsync thread.
        if shared.synced_tx.receiver_count() > 0 {
            request_sync(state);
        }
        write_turn(state);
        return Sleep::Park;
    }
    let total = shared.written.load(Ordering::Acquire) + state.aof.buf.len() as u64;
    if total <= shared.synced.load(Ordering::Acquire) {
        state.aof.gather_turns = 0;
        return Sleep::Park;
    }
    let aof = &mut state.aof;
    if aof.gather_turns < MAX_GATHER_TURNS && (aof.gather_turns == 0 || total > aof.gather_mark) {
        aof.gather_turns += 1;
        aof.gather_mark = total;
        return Sleep::RunAgain;
    }
    aof.gather_turns = 0;
    if !aof.buf.is_empty() {
        flush(state, true);
    }
    let target = shared.written.load(Ordering::Acquire);
    if target > shared.synced.load(Ordering::Acquire) {
        shared.sync_or_exit(target);
    }
    Sleep::Park
}

/// Under `everysec` and `no`: one write(2) for what the turn buffered (Redis's
/// flushAppendOnlyFile in beforeSleep), possibly postponed behind a running fsync; the
/// replies waiting at `reply_gate` leave after the attempt, as Redis sends them after it.
fn write_turn(state: &mut State) {
    if !state.aof.buf.is_empty() {
        flush(state, false);
    }
    let Some(w) = &state.aof.writer else {
        return;
    };
    let total = w.shared.written.load(Ordering::Acquire) + state.aof.buf.len() as u64;
    raise(&w.shared.flushed_tx, total);
}

/// Raises a published offset to `n` (never lowers it), waking the replies waiting for it.
fn raise(tx: &tokio::sync::watch::Sender<u64>, n: u64) {
    tx.send_if_modified(|v| {
        let changed = *v < n;
        if changed {
            *v = n;
        }
        changed
    });
}

impl Shared {
    /// Records that the first `n` bytes are on disk and wakes the replies waiting for them.
    fn publish(&self, n: u64) {
        self.synced.fetch_max(n, Ordering::Release);
        raise(&self.synced_tx, self.synced.load(Ordering::Acquire));
    }

    /// Under `always`: fdatasyncs, then publishes `target` (bytes written before the call).
    /// A failed fsync exits, as in Redis: the replies waiting would acknowledge writes the
    /// disk may not hold.
    fn sync_or_exit(&self, target: u64) {
        if let Err(e) = self.file.sync_data() {
            tracing::warn!("Can't persist append-only file: {}", strerror(&e));
            std::process::exit(1);
        }
        self.publish(target);
    }
}

/// What a connection must wait for before sending the output it just took, with the AOF on.
/// Redis holds all replies of an event-loop turn until `beforeSleep` has written (and under
/// `always` fsynced) the AOF; here `before_sleep` does the same when the runtime is about to
/// park. Under `always` the reply waits until every byte written to the AOF so far is on
/// disk, and one fsync releases every reply waiting for bytes it covers (group commit);
/// replies that only read wait too: they may show writes the disk does not hold yet. Under
/// `everysec` and `no` it waits, when the AOF buffer holds bytes, for the turn's write.
pub fn reply_gate(state: &State) -> Option<(tokio::sync::watch::Receiver<u64>, u64)> {
    let aof = &state.aof;
    if !aof.on {
        return None;
    }
    let shared = &aof.writer.as_ref()?.shared;
    // What the turn buffered is written by `before_sleep`.
    let target = shared.written.load(Ordering::Acquire) + aof.buf.len() as u64;
    if Policy::of(state) != Policy::Always {
        if aof.buf.is_empty() {
            return None;
        }
        return Some((shared.flushed_tx.subscribe(), target));
    }
    if shared.synced.load(Ordering::Acquire) >= target {
        return None;
    }
    Some((shared.synced_tx.subscribe(), target))
}

/// The everysec thread: once a second, fsyncs what was written since the last fsync.
fn fsync_loop(shared: Arc<Shared>) {
    let mut last_everysec = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(Duration::from_secs(1));
        let policy = shared.policy.load(Ordering::Relaxed);
        // Replies that began waiting under `always` are released even if fsyncs are held
        // back since (no-appendfsync-on-rewrite) or the policy changed.
        let waiting = shared.synced_tx.receiver_count() > 0;
        if policy == Policy::Always as u8 || waiting {
            // Woken by the cron (see `request_sync`): one fsync covers every byte written
            // up to its start, and whatever arrives during it waits for the next one.
            loop {
                let target = shared.written.load(Ordering::Acquire);
                if target <= shared.synced.load(Ordering::Acquire) {
                    break;
                }
                shared.sync_or_exit(target);
            }
            continue;
        }
        // everysec: at most once a second (an unpark left over from `always` is ignored).
        if policy != Policy::Everysec as u8 || last_everysec.elapsed() < Duration::from_millis(900)
        {
            continue;
        }
        last_everysec = Instant::now();
        let target = shared.written.load(Ordering::Acquire);
        if target <= shared.synced.load(Ordering::Relaxed) {
            continue;
        }
        shared.in_progress.store(true, Ordering::Relaxed);
        let res = shared.file.sync_data();
        shared.in_progress.store(false, Ordering::Relaxed);
        let mut err = shared.error.lock().unwrap_or_else(|p| p.into_inner());
        match res {
            Ok(()) => {
                shared.publish(target);
                shared.failed.store(false, Ordering::Relaxed);
                if err.take().is_some() {
                    tracing::warn!("AOF fsync error looks solved, Redis can write again.");
                }
            }
            Err(e) => {
                tracing::warn!("Error trying to fsync the AOF file: {}", strerror(&e));
                *err = Some(strerror(&e));
                shared.failed.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// `-MISCONF` when the AOF cannot be written (Redis's writeCommandsDeniedByDiskError, AOF
/// part): the error text to reply to writes and PING, or None.
#[inline]
pub fn writes_denied(state: &State) -> Option<String> {
    let aof = &state.aof;
    if !aof.on || (aof.write_error.is_none() && !failed(aof)) {
        return None;
    }
    writes_denied_slow(aof)
}

/// Whether the fsync thread's last fsync failed (an atomic flag: no lock).
fn failed(aof: &AofState) -> bool {
    aof.writer
        .as_ref()
        .is_some_and(|w| w.shared.failed.load(Ordering::Relaxed))
}

#[cold]
fn writes_denied_slow(aof: &AofState) -> Option<String> {
    let err = aof.write_error.clone().or_else(|| {
        // The lock is only taken once the flag says there is an error to read.
        aof.writer
            .as_ref()
            .filter(|w| w.shared.failed.load(Ordering::Relaxed))
            .and_then(|w| {
                w.shared
                    .error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
    })?;
    Some(format!("MISCONF Errors writing to the AOF file: {err}"))
}

/// INFO persistence: `aof_enabled` and `aof_last_write_status` (in the fixed block).
pub fn info_enabled(state: &State) -> u8 {
    runtime::enabled(state) as u8
}

pub fn info_last_write_status(state: &State) -> &'static str {
    if writes_denied(state).is_some() {
        "err"
    } else {
        "ok"
    }
}

/// INFO persistence: the fields Redis adds while the AOF is on.
pub fn info_fields(state: &State, out: &mut crate::commands::info::Out) {
    let aof = &state.aof;
    if !runtime::enabled(state) {
        return;
    }
    let pending = aof
        .writer
        .as_ref()
        .is_some_and(|w| w.shared.in_progress.load(Ordering::Relaxed));
    out.f("aof_current_size", aof.current_size)
        .f("aof_base_size", aof.base_size)
        .f("aof_pending_rewrite", aof.rw.scheduled as u8)
        .f("aof_buffer_length", aof.buf.len())
        .f("aof_pending_bio_fsync", pending as u8)
        .f("aof_delayed_fsync", aof.delayed_fsync);
}

fn file_size(path: &Path) -> io::Result<u64> {
    std::fs::metadata(path).map(|m| m.len())
}

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename,
/// directory fsync.
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn manifest_name(state: &State) -> String {
    format!("{}.manifest", state.cfg.appendfilename)
}

fn persist_manifest(state: &State) -> io::Result<()> {
    let text = state.aof.manifest.format();
    write_atomic(&state.aof.dir, &manifest_name(state), text.as_bytes())
}

/// INFO persistence: the rewrite fields of the fixed block.
pub fn info_rewrite(state: &State, out: &mut crate::commands::info::Out) {
    let rw = &state.aof.rw;
    out.f("aof_rewrite_in_progress", rewrite::in_progress(state) as u8)
        .f("aof_rewrite_scheduled", rw.scheduled as u8)
        .f("aof_last_rewrite_time_sec", rw.last_secs)
        .f("aof_current_rewrite_time_sec", rewrite::current_secs(state))
        .f(
            "aof_last_bgrewrite_status",
            if rw.last_ok { "ok" } else { "err" },
        )
        .f("aof_rewrites", rw.rewrites)
        .f("aof_rewrites_consecutive_failures", rw.failures);
}

/// INFO persistence: aof_last_cow_size.
pub fn info_last_cow_size(state: &State) -> u64 {
    state.aof.rw.last_cow
}

/// The header of a base RDB: Redis 7.0's aux fields with `aof-base 1` and the replication
/// id, offset and stream database of the image (Redis's loader ignores them in a base).
fn base_header(state: &State) -> Vec<u8> {
    use super::rdb::{encode, EncodeOptions};
    let mut out = Vec::new();
    // The base is the dataset at this stream offset (see `repl`).
    let aux = encode::standard_aux(
        (state.now_ms / 1000) as i64,
        crate::alloc::allocated() as u64,
        Some(repl::base_aux(state)),
        true,
    );
    let eo = EncodeOptions {
        compress: state.cfg.rdbcompression,
    };
    encode::write_header_with(&mut out, &aux, eo);
    out
}

/// The base image of the current dataset as an RDB with the `aof-base` aux field.
fn base_rdb(state: &State) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    super::save::write_image(state, &mut out, &base_header(state))?;
    Ok(out)
}

/// Creates a base file from the dataset (at startup with no AOF: Redis's forced rewrite).
fn create_base(state: &mut State) -> io::Result<String> {
    let rdb = state.cfg.aof_use_rdb_preamble;
    let prefix = state.cfg.appendfilename.clone();
    let name = state.aof.manifest.new_base(&prefix, rdb);
    let data = if rdb {
        base_rdb(state)?
    } else {
        let mut out = Vec::new();
        cmdform::write_all(state, &mut out, &cmdform::header(state, &[]))?;
        out
    };
    write_atomic(&state.aof.dir.clone(), &name, &data)?;
    Ok(name)
}

/// Startup with `appendonly yes`: upgrade an old single file, load the AOF, then open it for
/// appending (creating base, incr and manifest when there is none), all before returning.
/// Errors are fatal: the caller logs them and exits.
pub fn start(exec: &mut Executor) -> Result<(), String> {
    prepare(exec)?;
    load(exec)?;
    open(&mut exec.state)
}

/// Startup with `appendonly yes`, the load running in the background (see [`loader`]):
/// clients are served meanwhile (`-LOADING`), and the AOF is opened for appending once the
/// dataset is in memory. Errors found before the load starts are returned (fatal); a load
/// that fails later exits the process.
pub fn start_async(exec: &std::rc::Rc<std::cell::RefCell<Executor>>) -> Result<(), String> {
    let plan = {
        let mut ex = exec.borrow_mut();
        prepare(&mut ex)?;
        load_plan(&ex.state)?
    };
    let Some((files, total)) = plan else {
        return open(&mut exec.borrow_mut().state);
    };
    let was_active = {
        let mut ex = exec.borrow_mut();
        let st = &mut ex.state;
        st.aof.load_track = repl::Track::default();
        // No key expires while the history replays (the file holds the DELs that happened);
        // each piece is applied in a replica's pose (see `loader`).
        std::mem::replace(&mut st.active_expire_enabled, false)
    };
    let done = move |ex: &mut Executor, started: Instant| {
        ex.state.active_expire_enabled = was_active;
        loaded(ex, started);
        if let Err(e) = open(&mut ex.state) {
            tracing::warn!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    loader::start_background(exec, files, total, Box::new(done));
    Ok(())
}

/// Reads the manifest and upgrades an old single-file AOF (the start of Redis's
/// `loadAppendOnlyFiles`).
fn prepare(exec: &mut Executor) -> Result<(), String> {
    let dir = PathBuf::from(&exec.state.cfg.appenddirname);
    exec.state.aof.dir = dir.clone();
    let mname = manifest_name(&exec.state);
    let mpath = dir.join(&mname);
    let mut manifest = match std::fs::read(&mpath) {
        Ok(text) => Manifest::parse(&text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Manifest::default(),
        Err(e) => return Err(format!("Fail to open AOF manifest file: {e}")),
    };
    // Redis 7's three cases for upgrading an old-style appendonly.aof in `dir`.
    let old = exec.state.cfg.appendfilename.clone();
    if Path::new(&old).is_file() {
        let upgrade = !dir.is_dir()
            || manifest.is_empty()
            || (manifest.incr.is_empty()
                && manifest.base.as_ref().is_some_and(|b| b.name == old)
                && !dir.join(&old).exists());
        if upgrade {
            std::fs::create_dir_all(&dir).map_err(|e| {
                format!(
                    "Can't open or create append-only dir {}: {e}",
                    dir.display()
                )
            })?;
            manifest = Manifest::default();
            manifest.base = Some(manifest::AofInfo {
                name: old.clone(),
                seq: 1,
                kind: manifest::FileType::Base,
            });
            manifest.curr_base_seq = 1;
            exec.state.aof.manifest = manifest.clone();
            persist_manifest(&exec.state)
                .map_err(|e| format!("Failed to persist the AOF manifest: {e}"))?;
            std::fs::rename(&old, dir.join(&old)).map_err(|e| {
                format!("Error trying to rename the existing AOF to the AOF directory: {e}")
            })?;
            tracing::info!("Successfully migrated an old-style AOF into the AOF directory and persisted AOF manifest.");
        }
    }
    exec.state.aof.manifest = manifest;
    Ok(())
}

/// The files to load (name, whether it is the base) and their total size; None when there
/// is nothing to load.
type LoadPlan = Option<(Vec<(String, bool)>, u64)>;

fn load_plan(state: &State) -> Result<LoadPlan, String> {
    let m = &state.aof.manifest;
    if m.is_empty() {
        return Ok(None);
    }
    let dir = &state.aof.dir;
    let mut files = Vec::new();
    let mut total = 0u64;
    for f in m.base.iter().chain(m.incr.iter()) {
        total += file_size(&dir.join(&f.name))
            .map_err(|e| format!("Unable to obtain the AOF file {} length. stat: {e}", f.name))?;
        files.push((f.name.clone(), f.kind == manifest::FileType::Base));
    }
    if total == 0 {
        return Ok(None);
    }
    Ok(Some((files, total)))
}

/// Loads base and incr files on this thread (Redis's `loadAppendOnlyFiles`).
fn load(exec: &mut Executor) -> Result<(), String> {
    let Some((files, _)) = load_plan(&exec.state)? else {
        return Ok(());
    };
    let dir = exec.state.aof.dir.clone();
    let started = Instant::now();
    // Replay as a replica applies its master's stream (see `loader`).
    let was_master = exec.state.is_master;
    let was_enabled = exec.state.propagation.enabled;
    exec.state.is_master = false;
    exec.state.propagation.enabled = false;
    let mut result = Ok(());
    exec.state.aof.load_track = repl::Track::default();
    for (i, (name, is_base)) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let t = Instant::now();
        exec.state.aof.load_track.in_base = *is_base;
        let outcome = loader::load_file(exec, &dir, name, last);
        exec.state.aof.load_track.end_file();
        match outcome {
            Ok(loader::Outcome::NotExist) => {
                result = Err(format!("The AOF file {name} doesn't exist"));
                break;
            }
            Ok(_) => tracing::info!(
                "DB loaded from {} file {name}: {:.3} seconds",
                if *is_base { "base" } else { "incr" },
                t.elapsed().as_secs_f64()
            ),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    exec.state.is_master = was_master;
    exec.state.propagation.enabled = was_enabled;
    result?;
    loaded(exec, started);
    Ok(())
}

/// After a load: the replication position it found, fresh counters.
fn loaded(exec: &mut Executor, started: Instant) {
    repl::finish_load(&mut exec.state);
    // The replay is no client activity: counters start from zero as after an RDB load.
    let st = &mut exec.state.stats;
    st.total_commands_processed = 0;
    st.commands.clear();
    st.errors.clear();
    st.total_error_replies = 0;
    st.keyspace_hits = 0;
    st.keyspace_misses = 0;
    exec.state.slowlog.clear();
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
}

/// Opens the last incr file for appending (Redis's `aofOpenIfNeededOnServerStart`).
fn open(state: &mut State) -> Result<(), String> {
    let dir = state.aof.dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    let fresh = state.aof.manifest.is_empty();
    if fresh {
        let name =
            create_base(state).map_err(|e| format!("Can't create the AOF base file: {e}"))?;
        tracing::info!("Creating AOF base file {name} on server start");
    }
    let had_incr = !state.aof.manifest.incr.is_empty();
    let prefix = state.cfg.appendfilename.clone();
    let incr = state.aof.manifest.last_incr(&prefix);
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join(&incr))
        .map_err(|e| format!("Can't open the append-only file {incr}: {e}"))?;
    // History files are garbage once the manifest no longer needs them.
    let history = std::mem::take(&mut state.aof.manifest.history);
    persist_manifest(state).map_err(|e| format!("Failed to persist the AOF manifest: {e}"))?;
    if state.cfg.aof_disable_auto_gc {
        state.aof.manifest.history = history;
    } else {
        for h in history {
            if std::fs::remove_file(dir.join(&h.name)).is_ok() {
                tracing::info!("Removing the history file {} in the background", h.name);
            }
        }
    }
    if had_incr {
        tracing::info!("Opening AOF incr file {incr} on server start");
    } else {
        tracing::info!("Creating AOF incr file {incr} on server start");
    }
    let m = &state.aof.manifest;
    let base_size = m
        .base
        .as_ref()
        .and_then(|b| file_size(&dir.join(&b.name)).ok())
        .unwrap_or(0);
    let incr_total: u64 = m
        .incr
        .iter()
        .filter_map(|i| file_size(&dir.join(&i.name)).ok())
        .sum();
    let incr_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let writer =
        new_writer(state, file).map_err(|e| format!("Can't start the AOF fsync thread: {e}"))?;
    state.aof.rw.fed_offset = state.propagation.offset;
    let aof = &mut state.aof;
    aof.writer = Some(writer);
    // As Redis 7.0's loadAppendOnlyFiles: the current size is what was loaded and the
    // rewrite reference is the base file's size; files created now (first start) count
    // for nothing.
    if fresh {
        aof.base_size = 0;
        aof.current_size = 0;
    } else {
        aof.base_size = base_size;
        aof.current_size = base_size + incr_total;
    }
    aof.incr_size = incr_size;
    aof.on = true;
    let at = state.propagation.offset;
    repl::start_at(state, at);
    // The stream starts with a SELECT in the new file.
    state.propagation.enabled = true;
    state.propagation.reset_db();
    Ok(())
}

/// The writer of an incr file opened for appending, with its fsync thread.
fn new_writer(state: &State, file: File) -> io::Result<Writer> {
    let shared = Arc::new(Shared {
        file,
        written: AtomicU64::new(0),
        synced: AtomicU64::new(0),
        synced_tx: tokio::sync::watch::Sender::new(0),
        flushed_tx: tokio::sync::watch::Sender::new(0),
        in_progress: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        policy: AtomicU8::new(Policy::of(state) as u8),
        error: Mutex::new(None),
        failed: AtomicBool::new(false),
    });
    let s2 = shared.clone();
    let thread = std::thread::Builder::new()
        .name("aof-fsync".into())
        .spawn(move || fsync_loop(s2))?;
    Ok(Writer {
        shared,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::test_support::{run, setup};

    /// Runs `f` inside a fresh temporary working directory.
    fn in_temp_dir(tag: &str, f: impl FnOnce(&Path)) {
        let dir =
            std::env::temp_dir().join(format!("ferrodis-aof-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        f(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn exec_in(dir: &Path, policy: &str) -> (Executor, usize) {
        let (mut exec, c) = setup();
        exec.state.propagation.enabled = false;
        exec.state.cfg.appendonly = true;
        exec.state.cfg.appendfsync = policy.into();
        exec.state.cfg.appenddirname = dir.join("appendonlydir").display().to_string();
        exec.state.cfg.appendfilename = dir.join("nope").display().to_string();
        (exec, c)
    }

    #[test]
    fn first_start_creates_base_incr_and_manifest_then_replays() {
        in_temp_dir("first", |dir| {
            let (mut exec, c) = exec_in(dir, "always");
            exec.state.cfg.appendfilename = "appendonly.aof".into();
            start(&mut exec).unwrap();
            let aod = dir.join("appendonlydir");
            let m = std::fs::read_to_string(aod.join("appendonly.aof.manifest")).unwrap();
            assert_eq!(
                m,
                "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
            );
            run(
                &mut exec,
                c,
                &[&["SET", "k", "v"], &["RPUSH", "l", "a", "b"]],
            );
            crate::replication::master::feed(&mut exec);
            request_sync(&mut exec.state);
            let incr = std::fs::read_to_string(aod.join("appendonly.aof.1.incr.aof")).unwrap();
            // The replication position first (see `repl`), then the stream.
            let head = format!("#REPL:{} 0 0\r\n", exec.state.master_replid);
            assert!(incr.starts_with(&head), "{incr}");
            assert!(incr[head.len()..]
                .starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n"));
            // A second server on the same files sees the data.
            let (mut exec2, c2) = exec_in(dir, "always");
            exec2.state.cfg.appendfilename = "appendonly.aof".into();
            start(&mut exec2).unwrap();
            let (out, _) = run(
                &mut exec2,
                c2,
                &[&["LRANGE", "l", "0", "-1"], &["GET", "k"]],
            );
            assert_eq!(out, "*2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nv\r\n");
            assert!(exec2.state.is_master);
            assert_eq!(exec2.state.stats.total_commands_processed, 2);
        });
    }

    #[test]
    fn expired_keys_are_not_expired_while_replaying() {
        in_temp_dir("expiry", |dir| {
            let aod = dir.join("appendonlydir");
            std::fs::create_dir_all(&aod).unwrap();
            std::fs::write(aod.join("a.1.incr.aof"), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$1\r\n1\r\n*3\r\n$6\r\nAPPEND\r\n$1\r\nk\r\n$1\r\nx\r\n").unwrap();
            std::fs::write(aod.join("a.manifest"), b"file a.1.incr.aof seq 1 type i\n").unwrap();
            let (mut exec, _c) = exec_in(dir, "no");
            exec.state.cfg.appendfilename = "a".into();
            start(&mut exec).unwrap();
            let e = exec.state.dbs[0].get(b"k").expect("kept for its DEL");
            assert_eq!(e.expire_at, 1);
        });
    }

    #[test]
    fn torn_tail_is_trimmed_or_refused() {
        in_temp_dir("torn", |dir| {
            let aod = dir.join("appendonlydir");
            std::fs::create_dir_all(&aod).unwrap();
            let good = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
            let mut torn = good.to_vec();
            torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nj\r\n$5\r\nab");
            std::fs::write(aod.join("a.1.incr.aof"), &torn).unwrap();
            std::fs::write(aod.join("a.manifest"), b"file a.1.incr.aof seq 1 type i\n").unwrap();
            let (mut exec, _c) = exec_in(dir, "no");
            exec.state.cfg.appendfilename = "a".into();
            exec.state.cfg.aof_load_truncated = false;
            let err = start(&mut exec).unwrap_err();
            assert!(err.starts_with("Unexpected end of file"), "{err}");
            let (mut exec, _c) = exec_in(dir, "no");
            exec.state.cfg.appendfilename = "a".into();
            start(&mut exec).unwrap();
            assert!(exec.state.dbs[0].contains(b"k"));
            assert!(!exec.state.dbs[0].contains(b"j"));
            assert_eq!(std::fs::read(aod.join("a.1.incr.aof")).unwrap(), good);
        });
    }

    #[test]
    fn corrupt_middle_names_the_offset() {
        in_temp_dir("corrupt", |dir| {
            let aod = dir.join("appendonlydir");
            std::fs::create_dir_all(&aod).unwrap();
            std::fs::write(
                aod.join("a.1.incr.aof"),
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGARBAGE\r\n*1\r\n$4\r\nPING\r\n",
            )
            .unwrap();
            std::fs::write(aod.join("a.manifest"), b"file a.1.incr.aof seq 1 type i\n").unwrap();
            let (mut exec, _c) = exec_in(dir, "no");
            exec.state.cfg.appendfilename = "a".into();
            let err = start(&mut exec).unwrap_err();
            assert!(
                err.contains("Bad file format") && err.contains("offset 27"),
                "{err}"
            );
        });
    }

    #[test]
    fn before_sleep_gathers_while_turns_bring_writes_then_fsyncs_once() {
        in_temp_dir("gather", |dir| {
            let (mut exec, c) = exec_in(dir, "always");
            exec.state.cfg.appendfilename = "g".into();
            start(&mut exec).unwrap();
            let synced = |exec: &Executor| {
                let w = exec.state.aof.writer.as_ref().unwrap();
                (
                    w.shared.synced.load(Ordering::Acquire),
                    w.shared.written.load(Ordering::Acquire) + exec.state.aof.buf.len() as u64,
                )
            };
            let set = |exec: &mut Executor, v: &str| {
                run(exec, c, &[&["SET", "k", v]]);
                crate::replication::master::feed(exec);
            };
            // Nothing unsynced: park at once.
            assert_eq!(before_sleep(&mut exec.state), Sleep::Park);
            // A write: one more turn first; a turn that brings nothing then fsyncs it.
            set(&mut exec, "1");
            assert_eq!(before_sleep(&mut exec.state), Sleep::RunAgain);
            let (s, total) = synced(&exec);
            assert!(s < total);
            assert_eq!(before_sleep(&mut exec.state), Sleep::Park);
            let (s, total) = synced(&exec);
            assert_eq!(s, total);
            // Turns that keep bringing writes are gathered, at most MAX_GATHER_TURNS.
            for i in 0..MAX_GATHER_TURNS {
                set(&mut exec, &i.to_string());
                assert_eq!(before_sleep(&mut exec.state), Sleep::RunAgain);
            }
            set(&mut exec, "last");
            assert_eq!(before_sleep(&mut exec.state), Sleep::Park);
            let (s, total) = synced(&exec);
            assert_eq!(s, total);
            // Under everysec nothing is gathered or fsynced here.
            exec.state.cfg.appendfsync = "everysec".into();
            set(&mut exec, "e");
            assert_eq!(before_sleep(&mut exec.state), Sleep::Park);
        });
    }

    #[test]
    fn everysec_replies_wait_for_the_turns_write_which_the_cron_also_does() {
        in_temp_dir("turnwrite", |dir| {
            let (mut exec, c) = exec_in(dir, "everysec");
            exec.state.cfg.appendfilename = "t".into();
            start(&mut exec).unwrap();
            let incr = dir.join("appendonlydir").join("t.1.incr.aof");
            let before = std::fs::metadata(&incr).unwrap().len();
            run(&mut exec, c, &[&["SET", "k", "v"]]);
            crate::replication::master::feed(&mut exec);
            // Buffered, not written: the reply must wait.
            assert_eq!(std::fs::metadata(&incr).unwrap().len(), before);
            let (rx, target) = reply_gate(&exec.state).expect("the reply waits for the write");
            assert!(*rx.borrow() < target);
            // A runtime that never parks still gets the write (and the release) from the cron.
            cron(&mut exec.state);
            assert!(*rx.borrow() >= target);
            assert!(std::fs::metadata(&incr).unwrap().len() > before);
            assert!(reply_gate(&exec.state).is_none());
            // The park hook does the same.
            run(&mut exec, c, &[&["SET", "k", "w"]]);
            crate::replication::master::feed(&mut exec);
            let (rx, target) = reply_gate(&exec.state).unwrap();
            assert_eq!(before_sleep(&mut exec.state), Sleep::Park);
            assert!(*rx.borrow() >= target);
        });
    }
}
