//! `maxmemory`: key eviction before commands, and the LFU access counters it ranks keys by
//! (Redis 7.0's `evict.c` and the maxmemory step of `processCommand`).
//!
//! # When eviction runs
//!
//! With `maxmemory` set, every command a client sends (not the ones EXEC replays) first calls
//! `admit`: while the memory in use is above the limit, keys are deleted according to
//! `maxmemory-policy`. When nothing more can be freed (policy `noeviction`, or no candidate
//! keys left), commands flagged `denyoom` — and anything but EXEC/DISCARD/QUIT/RESET while
//! queuing a transaction, and EXEC of a transaction that queued a `denyoom` command — are
//! refused with Redis's `-OOM` error; reads are still served. A single call spends at most
//! the time `maxmemory-eviction-tenacity` allows; when it runs out the rest of the work
//! continues from the cron (Redis's `evictionTimeProc`) and commands are not refused
//! meanwhile. Replicas with `replica-ignore-maxmemory` (the default) and a paused server
//! never evict: a replica follows its master's DELs, and a pause freezes the dataset.
//!
//! # Which keys go
//!
//! Redis's approximated algorithm: each round samples `maxmemory-samples` keys from every
//! database (all keys, or only keys with a TTL for the `volatile-*` policies) and merges them
//! into a pool of the 16 best candidates seen so far, kept across calls; the best candidate
//! still present is deleted. "Best" is the longest idle time (LRU), the lowest decayed
//! access counter (LFU), or the nearest expiry (`volatile-ttl`). The `*-random` policies pick
//! one random key, visiting databases round-robin.
//!
//! Our database keeps no separate table of volatile keys (each entry carries its expiry), so
//! the `volatile-*` policies sample the main table and keep the keys with a TTL; when those
//! are rare, a cursor walk over the table finds them instead of a long run of empty samples.
//!
//! # LFU counters
//!
//! While an LFU policy is active, `Entry::lru` holds Redis's 24-bit LFU word: the minute of
//! the last decrement (16 bits) and a logarithmic access counter (8 bits). New keys start at
//! `LFU_INIT_VAL`; each access first decays the counter by one per `lfu-decay-time` minutes
//! elapsed, then increments it with probability `1 / ((counter - 5) * lfu-log-factor + 1)`.
//! `Db` applies this on every access through its `lfu` field, which `sync_lfu` keeps in step
//! with the configuration and the clock's minute.

use std::time::Instant;

use bytes::Bytes;
use rand::Rng;

use super::client::{Client, ClientKind};
use super::state::{notify, State};
use super::Executor;
use crate::commands::{flags, CommandSpec};
use crate::db::{Db, Entry};

/// Redis's `shared.oomerr`.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The counter of a newly created key (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u8 = 5;

/// Candidates kept between eviction rounds (Redis's EVPOOL_SIZE).
const POOL_SIZE: usize = 16;

/// A `maxmemory-policy` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

/// How a policy ranks candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    Lru,
    Lfu,
    Ttl,
    Random,
    None,
}

impl Policy {
    /// Parses the config's canonical (lowercase) name; unknown names mean `noeviction`.
    pub fn from_name(name: &str) -> Policy {
        match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    fn allkeys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }

    fn rank(self) -> Rank {
        match self {
            Policy::VolatileLru | Policy::AllkeysLru => Rank::Lru,
            Policy::VolatileLfu | Policy::AllkeysLfu => Rank::Lfu,
            Policy::VolatileRandom | Policy::AllkeysRandom => Rank::Random,
            Policy::VolatileTtl => Rank::Ttl,
            Policy::NoEviction => Rank::None,
        }
    }
}

/// Whether the named policy tracks access frequency instead of recency.
pub fn is_lfu_policy(name: &str) -> bool {
    name.ends_with("-lfu")
}

// ---------------------------------------------------------------------------------------
// LFU counters
// ---------------------------------------------------------------------------------------

/// Redis's `LFUGetTimeInMinutes`: Unix minutes, wrapping at 16 bits.
pub fn lfu_minutes(now_ms: u64) -> u16 {
    ((now_ms / 60_000) & 0xffff) as u16
}

/// Redis's `LFUTimeElapsed`: minutes from `then` to `now`, across one wrap.
fn minutes_elapsed(now: u16, then: u16) -> u64 {
    if now >= then {
        (now - then) as u64
    } else {
        65535 - then as u64 + now as u64
    }
}

/// Redis's `LFUDecrAndReturn`: the counter of an LFU word after decaying it by one per
/// `decay_time` minutes elapsed since its last decrement (no decay when `decay_time` is 0).
pub fn lfu_decayed(word: u32, now_minutes: u16, decay_time: u32) -> u8 {
    let counter = (word & 0xff) as u8;
    let then = ((word >> 8) & 0xffff) as u16;
    let periods = match decay_time {
        0 => 0,
        d => minutes_elapsed(now_minutes, then) / d as u64,
    };
    counter.saturating_sub(periods.min(255) as u8)
}

/// The access frequency OBJECT FREQ reports for a key's LFU word, at the state's time.
pub fn lfu_frequency(state: &State, word: u32) -> u8 {
    lfu_decayed(word, lfu_minutes(state.now_ms), state.cfg.lfu_decay_time)
}

/// LFU parameters and a private random stream, held by each `Db` while an LFU policy is
/// active (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Lfu {
    log_factor: u32,
    decay_time: u32,
    /// The current minute (`lfu_minutes`), refreshed by `sync_lfu`.
    minutes: u16,
    /// xorshift64* state: the logarithmic increment needs a cheap uniform draw per access.
    rng: u64,
}

impl Lfu {
    pub fn new(log_factor: u32, decay_time: u32, minutes: u16, seed: u64) -> Lfu {
        Lfu {
            log_factor,
            decay_time,
            minutes,
            // xorshift must not start at 0.
            rng: seed | 1,
        }
    }

    /// The LFU word of a new key (Redis's `createObject` under an LFU policy).
    pub fn initial(&self) -> u32 {
        ((self.minutes as u32) << 8) | LFU_INIT_VAL as u32
    }

    /// The counter of `word` after decay, without recording an access.
    pub fn decayed(&self, word: u32) -> u8 {
        lfu_decayed(word, self.minutes, self.decay_time)
    }

    /// Records an access (Redis's `updateLFU`): decay, logarithmic increment, new minute.
    pub fn access(&mut self, word: u32) -> u32 {
        let counter = self.decayed(word);
        let counter = self.log_incr(counter);
        ((self.minutes as u32) << 8) | counter as u32
    }

    /// Redis's `LFULogIncr`: the higher the counter, the less likely an access bumps it.
    fn log_incr(&mut self, counter: u8) -> u8 {
        if counter == 255 {
            return 255;
        }
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * self.log_factor as f64 + 1.0);
        if self.unit() < p {
            counter + 1
        } else {
            counter
        }
    }

    /// A uniform draw in [0, 1).
    fn unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Makes every database track accesses the way the current policy needs: LFU words while an
/// LFU policy is active (with the current parameters and minute), the LRU clock otherwise.
/// Called before every command; a few comparisons when nothing changed.
#[inline]
pub fn sync_lfu(state: &mut State) {
    // Neither LFU now nor at the last sync: nothing to do (the common case, kept inline).
    if state.evict.lfu_synced.is_none() && !is_lfu_policy(&state.cfg.maxmemory_policy) {
        return;
    }
    sync_lfu_changed(state);
}

fn sync_lfu_changed(state: &mut State) {
    let want = is_lfu_policy(&state.cfg.maxmemory_policy).then(|| {
        (
            state.cfg.lfu_log_factor,
            state.cfg.lfu_decay_time,
            lfu_minutes(state.now_ms),
        )
    });
    if want == state.evict.lfu_synced {
        return;
    }
    state.evict.lfu_synced = want;
    for db in &mut state.dbs {
        db.lfu = match (want, db.lfu) {
            (None, _) => None,
            (Some((f, d, m)), Some(old)) => Some(Lfu {
                log_factor: f,
                decay_time: d,
                minutes: m,
                rng: old.rng,
            }),
            (Some((f, d, m)), None) => Some(Lfu::new(f, d, m, state.rng.gen())),
        };
    }
}

// ---------------------------------------------------------------------------------------
// Eviction
// ---------------------------------------------------------------------------------------

/// One eviction pool slot. Key buffers are reused as candidates come and go.
#[derive(Debug, Default, Clone)]
struct Slot {
    used: bool,
    /// Higher is a better candidate (Redis's `idle`, whatever the policy).
    score: u64,
    db: usize,
    key: Vec<u8>,
}

/// The outcome of `perform_evictions` (Redis's EVICT_OK / EVICT_RUNNING / EVICT_FAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Memory is within the limit (or eviction does not apply).
    Ok,
    /// The time budget ran out; the cron keeps evicting.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Fail,
}

/// Eviction bookkeeping kept in `State`.
pub struct EvictState {
    pool: Vec<Slot>,
    /// Round-robin position of the `*-random` policies.
    next_db: usize,
    /// The time budget ran out with memory still over the limit: the cron continues.
    running: bool,
    /// Since when memory has been over the limit without eviction catching up.
    exceeded_since: Option<Instant>,
    /// Accumulated time over the limit, in µs.
    total_exceeded_us: u64,
    /// Per-database cursors of the walk that finds keys with a TTL when they are rare.
    volatile_cursors: Vec<u64>,
    /// LFU parameters last pushed to the databases (`sync_lfu`).
    lfu_synced: Option<(u32, u32, u16)>,
    /// How memory in use is measured: the counting allocator in the server binary; tests
    /// may substitute a model.
    pub used_memory: fn(&State) -> u64,
}

impl Default for EvictState {
    fn default() -> EvictState {
        EvictState {
            pool: vec![Slot::default(); POOL_SIZE],
            next_db: 0,
            running: false,
            exceeded_since: None,
            total_exceeded_us: 0,
            volatile_cursors: Vec::new(),
            lfu_synced: None,
            used_memory: crate::commands::info::used_memory,
        }
    }
}

impl std::fmt::Debug for EvictState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvictState")
            .field("running", &self.running)
            .field("lfu_synced", &self.lfu_synced)
            .finish_non_exhaustive()
    }
}

/// INFO stats `total_eviction_exceeded_time` and `current_eviction_exceeded_time`, in ms.
pub fn exceeded_time_ms(state: &State) -> (u64, u64) {
    let current = state
        .evict
        .exceeded_since
        .map_or(0, |t| t.elapsed().as_micros() as u64);
    (
        (state.evict.total_exceeded_us + current) / 1000,
        current / 1000,
    )
}

/// Memory Redis leaves out of the maxmemory comparison: replica output buffers and the AOF
/// buffer (`freeMemoryGetNotCountedMemory`). Neither exists yet.
fn not_counted_memory(_state: &State) -> u64 {
    0
}

/// Redis's `evictionTimeLimitUs`: how long one call may evict, from
/// `maxmemory-eviction-tenacity` (0..=100; 100 means no limit).
fn time_limit_us(tenacity: u32) -> u64 {
    match tenacity {
        0..=10 => 50 * tenacity as u64,
        11..=99 => (500.0 * 1.15f64.powf(tenacity as f64 - 10.0)) as u64,
        _ => u64::MAX,
    }
}

/// Redis's `isSafeToPerformEvictions`.
fn safe_to_evict(state: &State) -> bool {
    if !state.is_master && state.cfg.replica_ignore_maxmemory {
        return false;
    }
    // A paused server keeps its dataset still: no expiry, no eviction.
    !matches!(state.pause, Some((until, _)) if state.now_ms < until)
}

/// The maxmemory step of `processCommand`. Returns false (with the OOM error written to the
/// client) when the command must not run.
#[inline]
pub fn admit(exec: &mut Executor, client: &mut Client, spec: &'static CommandSpec) -> bool {
    sync_lfu(&mut exec.state);
    if exec.state.cfg.maxmemory == 0 {
        return true;
    }
    admit_limited(exec, client, spec)
}

/// `admit` with a maxmemory limit set.
fn admit_limited(exec: &mut Executor, client: &mut Client, spec: &'static CommandSpec) -> bool {
    let evicted_before = exec.state.stats.evicted_keys;
    let out_of_memory = perform_evictions(&mut exec.state) == Outcome::Fail;
    if exec.state.stats.evicted_keys != evicted_before {
        // `evicted` notifications reach subscribers before anything the command causes.
        super::pubsub::flush_pending(&mut exec.state, Some(&mut *client), &mut exec.clients);
    }
    if !out_of_memory || client.kind == ClientKind::Master {
        return true;
    }
    let denyoom = spec.has(flags::DENYOOM)
        || (spec.full_name == "exec" && super::watch::queued_flags(client) & flags::DENYOOM != 0);
    // Queuing a transaction can take unbounded memory: only its way out is let through.
    let queuing =
        client.tx.multi && !matches!(spec.full_name, "exec" | "discard" | "quit" | "reset");
    if !denyoom && !queuing {
        return true;
    }
    let st = exec.state.stats.commands.stat_mut(spec.full_name);
    st.rejected_calls += 1;
    client.out.error(OOM_ERROR);
    false
}

/// Continues an eviction that ran out of time (Redis's `evictionTimeProc`); from the cron.
pub fn cron(exec: &mut Executor) {
    if !exec.state.evict.running {
        return;
    }
    if perform_evictions(&mut exec.state) != Outcome::Running {
        exec.state.evict.running = false;
    }
    super::pubsub::flush_pending_idle(exec);
}

/// Redis's `performEvictions`: frees memory down to `maxmemory` according to the policy.
pub fn perform_evictions(state: &mut State) -> Outcome {
    if !safe_to_evict(state) {
        return Outcome::Ok;
    }
    let outcome = evict_to_limit(state);
    match outcome {
        Outcome::Running | Outcome::Fail => {
            if state.evict.exceeded_since.is_none() {
                state.evict.exceeded_since = Some(Instant::now());
            }
        }
        Outcome::Ok => {
            if let Some(t) = state.evict.exceeded_since.take() {
                state.evict.total_exceeded_us += t.elapsed().as_micros() as u64;
            }
        }
    }
    outcome
}

fn evict_to_limit(state: &mut State) -> Outcome {
    let maxmemory = state.cfg.maxmemory;
    if maxmemory == 0 {
        return Outcome::Ok;
    }
    let used_memory = state.evict.used_memory;
    let used = used_memory(state).saturating_sub(not_counted_memory(state));
    if used <= maxmemory {
        return Outcome::Ok;
    }
    let policy = Policy::from_name(&state.cfg.maxmemory_policy);
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    let to_free = (used - maxmemory) as i64;
    let limit_us = time_limit_us(state.cfg.maxmemory_eviction_tenacity);
    let start = Instant::now();
    let mut freed: i64 = 0;
    let mut keys_freed = 0u64;
    while freed < to_free {
        let Some((dbi, key)) = pick(state, policy) else {
            return Outcome::Fail;
        };
        // Only the deletion itself counts as freed: the DEL we propagate and the
        // notifications take memory too, but they are released soon, and counting them
        // could keep this loop from ever reaching its target.
        let before = used_memory(state) as i64;
        drop(state.dbs[dbi].remove(&key));
        freed += before - used_memory(state) as i64;
        state.stats.evicted_keys += 1;
        state.signal_modified_key(dbi, &key);
        state.notify_keyspace_event(notify::EVICTED, "evicted", &key, dbi);
        let del: &'static [u8] = if state.cfg.lazyfree_lazy_eviction {
            b"UNLINK"
        } else {
            b"DEL"
        };
        state.propagate_now(dbi, &[Bytes::from_static(del), key]);
        keys_freed += 1;
        if keys_freed.is_multiple_of(16) && start.elapsed().as_micros() as u64 > limit_us {
            // Enough time spent here: the cron carries on, and commands run meanwhile.
            state.evict.running = true;
            break;
        }
    }
    if state.evict.running {
        Outcome::Running
    } else {
        Outcome::Ok
    }
}

/// The next key to evict under `policy`: (database, key).
fn pick(state: &mut State, policy: Policy) -> Option<(usize, Bytes)> {
    match policy.rank() {
        Rank::None => None,
        Rank::Random => pick_random(state, policy.allkeys()),
        rank => pick_from_pool(state, policy.allkeys(), rank),
    }
}

/// `*-random`: one random key from the next non-empty database, round-robin.
fn pick_random(state: &mut State, allkeys: bool) -> Option<(usize, Bytes)> {
    let n = state.dbs.len();
    state.evict.volatile_cursors.resize(n, 0);
    for _ in 0..n {
        state.evict.next_db = (state.evict.next_db + 1) % n;
        let j = state.evict.next_db;
        let db = &state.dbs[j];
        let key = if allkeys {
            db.dict()
                .random_entry(&mut state.rng)
                .map(|e| Bytes::copy_from_slice(e.key.as_bytes()))
        } else {
            random_volatile(db, &mut state.rng, &mut state.evict.volatile_cursors[j])
        };
        if let Some(key) = key {
            return Some((j, key));
        }
    }
    None
}

/// A random key with a TTL, or None when the database has none.
fn random_volatile(db: &Db, rng: &mut impl Rng, cursor: &mut u64) -> Option<Bytes> {
    if db.expires_count() == 0 {
        return None;
    }
    if db.expires_count() * 4 >= db.len() {
        for _ in 0..16 {
            match db.dict().random_entry(rng) {
                Some(e) if e.expire_at != 0 => {
                    return Some(Bytes::copy_from_slice(e.key.as_bytes()))
                }
                _ => {}
            }
        }
    }
    // Rare, or unlucky draws: walk from the cursor to the next one. There is one, so a full
    // turn of the table (the cursor comes back to 0 at most twice) finds it.
    let mut found = None;
    let mut wraps = 0;
    while found.is_none() && wraps < 2 {
        *cursor = db.scan(*cursor, |e| {
            if found.is_none() && e.expire_at != 0 {
                found = Some(Bytes::copy_from_slice(e.key.as_bytes()));
            }
        });
        if *cursor == 0 {
            wraps += 1;
        }
    }
    found
}

/// LRU, LFU and volatile-ttl: refill the pool from every database, then take the best
/// candidate that still exists (others are ghosts: deleted or changed since sampled).
fn pick_from_pool(state: &mut State, allkeys: bool, rank: Rank) -> Option<(usize, Bytes)> {
    let clock = state.lru_clock();
    let minutes = lfu_minutes(state.now_ms);
    let decay = state.cfg.lfu_decay_time;
    let samples = state.cfg.maxmemory_samples.max(1) as usize;
    let score = |e: &Entry| -> u64 {
        match rank {
            Rank::Lru => idle_ms(clock, e.lru),
            Rank::Lfu => 255 - lfu_decayed(e.lru, minutes, decay) as u64,
            // The sooner the expiry, the better.
            _ => u64::MAX - e.expire_at,
        }
    };
    let State {
        dbs, evict, rng, ..
    } = state;
    evict.volatile_cursors.resize(dbs.len(), 0);
    loop {
        let mut total_keys = 0;
        for (i, db) in dbs.iter().enumerate() {
            let keys = if allkeys {
                db.len()
            } else {
                db.expires_count()
            };
            if keys == 0 {
                continue;
            }
            total_keys += keys;
            let pool = &mut evict.pool;
            sample_db(
                db,
                allkeys,
                samples,
                rng,
                &mut evict.volatile_cursors[i],
                |e| pool_insert(pool, i, e.key.as_bytes(), score(e)),
            );
        }
        if total_keys == 0 {
            return None;
        }
        for slot in evict.pool.iter_mut().rev() {
            if !slot.used {
                continue;
            }
            slot.used = false;
            let live = dbs[slot.db]
                .get(&slot.key)
                .is_some_and(|e| allkeys || e.expire_at != 0);
            if live {
                return Some((slot.db, Bytes::copy_from_slice(&slot.key)));
            }
        }
    }
}

/// Redis's `estimateObjectIdleTime`: ms since the access recorded as `lru` (LRU clock in
/// seconds, wrapping at 24 bits).
fn idle_ms(clock: u32, lru: u32) -> u64 {
    let secs = if clock >= lru {
        (clock - lru) as u64
    } else {
        clock as u64 + ((1u64 << 24) - 1 - lru as u64)
    };
    secs * 1000
}

/// Hands up to `n` sampled keys of `db` to `f`: any keys, or only keys with a TTL.
fn sample_db(
    db: &Db,
    allkeys: bool,
    n: usize,
    rng: &mut impl Rng,
    cursor: &mut u64,
    mut f: impl FnMut(&Entry),
) {
    if allkeys {
        db.dict().sample(n, rng, f);
        return;
    }
    let (len, volatile) = (db.len(), db.expires_count());
    if volatile == 0 {
        return;
    }
    // A Cell, so the walk below can read the count while `take` holds `f`.
    let got = std::cell::Cell::new(0);
    let mut take = |e: &Entry| {
        if e.expire_at != 0 && got.get() < n {
            got.set(got.get() + 1);
            f(e);
        }
    };
    if volatile * 4 >= len {
        // At least a quarter of the keys have a TTL: a few times `n` random entries hold
        // about `n` of them.
        db.dict().sample(n * len.div_ceil(volatile), rng, take);
        return;
    }
    // Rare: walk buckets from where the last walk stopped. A round may find none; the
    // caller samples again and the walk moves on.
    let mut buckets = 0;
    loop {
        *cursor = db.scan(*cursor, &mut take);
        buckets += 1;
        if got.get() >= n || *cursor == 0 || buckets >= n * 20 {
            break;
        }
    }
}

/// Redis's `evictionPoolPopulate` insertion: the pool is sorted by ascending score; a key
/// worse than every pooled one is dropped when the pool is full, otherwise it goes in its
/// place, pushing the worst candidate out.
fn pool_insert(pool: &mut [Slot], db: usize, key: &[u8], score: u64) {
    let size = pool.len();
    let mut k = 0;
    while k < size && pool[k].used && pool[k].score < score {
        k += 1;
    }
    if k == 0 && pool[size - 1].used {
        return;
    }
    if k < size && !pool[k].used {
        // An empty slot: no shifting needed.
    } else if !pool[size - 1].used {
        // Room on the right: shift k.. right; the empty last slot comes to k.
        pool[k..].rotate_right(1);
    } else {
        // Full: drop the worst (slot 0) by shifting ..k left; its slot comes to k - 1.
        k -= 1;
        pool[..=k].rotate_left(1);
    }
    let slot = &mut pool[k];
    slot.used = true;
    slot.score = score;
    slot.db = db;
    slot.key.clear();
    slot.key.extend_from_slice(key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::db::Value;

    #[test]
    fn policy_names() {
        assert_eq!(Policy::from_name("allkeys-lru"), Policy::AllkeysLru);
        assert_eq!(Policy::from_name("volatile-ttl"), Policy::VolatileTtl);
        assert_eq!(Policy::from_name("noeviction"), Policy::NoEviction);
        assert!(is_lfu_policy("volatile-lfu") && !is_lfu_policy("allkeys-lru"));
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(100), u64::MAX);
    }

    #[test]
    fn lfu_decay_and_increment() {
        // Counter 10, last touched at minute 100; one period per minute.
        let word = (100 << 8) | 10;
        assert_eq!(lfu_decayed(word, 100, 1), 10);
        assert_eq!(lfu_decayed(word, 103, 1), 7);
        assert_eq!(lfu_decayed(word, 103, 2), 9);
        assert_eq!(lfu_decayed(word, 200, 1), 0);
        assert_eq!(lfu_decayed(word, 200, 0), 10);
        // Wrapped clock: minute 2 after 65530 is 7 minutes later.
        assert_eq!(lfu_decayed((65530 << 8) | 10, 2, 1), 3);
        let mut lfu = Lfu::new(10, 1, 100, 42);
        assert_eq!(lfu.initial(), (100 << 8) | 5);
        // At or below the initial value every access counts.
        assert_eq!(lfu.access(lfu.initial()) & 0xff, 6);
        // With log factor 0 every access counts; 255 saturates.
        let mut lin = Lfu::new(0, 1, 100, 7);
        let mut w = lin.initial();
        for _ in 0..300 {
            w = lin.access(w);
        }
        assert_eq!(w, (100 << 8) | 255);
        // With factor 10, a thousand accesses land far below that (Redis's table: ~18).
        let mut w = lfu.initial();
        for _ in 0..1000 {
            w = lfu.access(w);
        }
        let c = w & 0xff;
        assert!((10..40).contains(&c), "counter {c}");
    }

    #[test]
    fn pool_keeps_the_best_candidates_sorted() {
        let mut pool = vec![Slot::default(); 4];
        for (i, s) in [5u64, 1, 9, 3, 7, 2, 8].iter().enumerate() {
            pool_insert(&mut pool, 0, format!("k{i}").as_bytes(), *s);
        }
        let scores: Vec<u64> = pool.iter().map(|s| s.score).collect();
        assert_eq!(scores, vec![5, 7, 8, 9]);
        assert!(pool.iter().all(|s| s.used));
        // Worse than everything in a full pool: dropped.
        pool_insert(&mut pool, 0, b"low", 1);
        assert!(pool.iter().all(|s| s.key != b"low"));
    }

    /// A state whose "memory" is 100 bytes per key.
    fn state_with(policy: &str, keys: usize, volatile: usize) -> State {
        let cfg = Config {
            maxmemory: 100 * 50,
            maxmemory_policy: policy.into(),
            // No time limit: debug builds are slow and the tests want the whole job done.
            maxmemory_eviction_tenacity: 100,
            ..Config::default()
        };
        let mut state = State::new(cfg);
        state.evict.used_memory = |s| s.total_keys() as u64 * 100;
        let now = state.now_ms;
        for i in 0..keys {
            let exp = if i < volatile {
                now + 1_000_000 + i as u64
            } else {
                0
            };
            state.dbs[i % 3].insert_new(
                format!("key:{i}").as_bytes(),
                Value::from_bytes(b"v"),
                exp,
                0,
            );
        }
        state
    }

    #[test]
    fn evicts_down_to_the_limit() {
        for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            let mut state = state_with(policy, 200, 0);
            sync_lfu(&mut state);
            assert_eq!(perform_evictions(&mut state), Outcome::Ok, "{policy}");
            assert_eq!(state.total_keys(), 50, "{policy}");
            assert_eq!(state.stats.evicted_keys, 150);
        }
    }

    #[test]
    fn volatile_policies_only_take_keys_with_a_ttl() {
        for policy in [
            "volatile-lru",
            "volatile-ttl",
            "volatile-random",
            "volatile-lfu",
        ] {
            // 10 volatile keys of 200 (sparse), then nothing left to evict.
            let mut state = state_with(policy, 200, 10);
            assert_eq!(perform_evictions(&mut state), Outcome::Fail, "{policy}");
            assert_eq!(state.total_keys(), 190, "{policy}");
            assert!(state.dbs.iter().all(|d| d.expires_count() == 0));
        }
        // volatile-ttl takes the nearest expiries first.
        let mut state = state_with("volatile-ttl", 60, 60);
        // Samples covering whole databases make the approximation exact.
        state.cfg.maxmemory_samples = 64;
        assert_eq!(perform_evictions(&mut state), Outcome::Ok);
        let survivors = (0..60)
            .filter(|i| state.dbs[i % 3].contains(format!("key:{i}").as_bytes()))
            .count();
        assert_eq!(survivors, 50);
        assert!(
            !state.dbs[0].contains(b"key:0"),
            "the nearest expiry went first"
        );
    }

    #[test]
    fn noeviction_fails_and_replicas_do_not_evict() {
        let mut state = state_with("noeviction", 100, 0);
        assert_eq!(perform_evictions(&mut state), Outcome::Fail);
        assert_eq!(state.total_keys(), 100);
        let mut state = state_with("allkeys-lru", 100, 0);
        state.is_master = false;
        assert_eq!(perform_evictions(&mut state), Outcome::Ok);
        assert_eq!(state.total_keys(), 100);
    }

    #[test]
    fn lru_prefers_idle_keys() {
        let mut state = state_with("allkeys-lru", 0, 0);
        state.cfg.maxmemory_samples = 10;
        let clock = state.lru_clock();
        for i in 0..100u32 {
            // Keys 0..50 idle for a long time, 50..100 recent.
            let lru = if i < 50 {
                clock.saturating_sub(1000)
            } else {
                clock
            };
            state.dbs[0].insert_new(format!("k{i}").as_bytes(), Value::from_bytes(b"v"), 0, lru);
        }
        state.cfg.maxmemory = 100 * 70;
        perform_evictions(&mut state);
        let recent = (50..100)
            .filter(|i| state.dbs[0].contains(format!("k{i}").as_bytes()))
            .count();
        assert!(recent >= 45, "recent keys kept: {recent}");
    }
}
