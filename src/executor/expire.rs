//! The active expiry cycle (Redis's `activeExpireCycle`, slow mode).
//!
//! Lazy expiry alone would keep keys that are never touched again forever. Each cron tick,
//! for each database with volatile keys, we walk the table from a saved cursor, looking at
//! up to `keys_per_loop` volatile keys per loop and deleting the expired ones; the walk
//! repeats while more than `acceptable_stale`% of the sampled keys were expired (so the
//! cost follows the amount of garbage) and stops when the time budget, 25% of a cron
//! period (scaled by active-expire-effort), is spent. Replicas never run it: their keys
//! expire when the master's DEL arrives.

use std::time::Instant;

use bytes::Bytes;

use super::state::{notify, State};

/// Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP.
const KEYS_PER_LOOP: usize = 20;
/// Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC.
const SLOW_TIME_PERC: u64 = 25;
/// Redis's ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE (percent).
const ACCEPTABLE_STALE: usize = 10;

pub fn active_expire_cycle(state: &mut State) {
    let effort = state.cfg.active_expire_effort.clamp(1, 10) as usize - 1;
    let per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * effort;
    let stale = ACCEPTABLE_STALE - effort.min(ACCEPTABLE_STALE);
    let hz = state.cfg.hz.max(1) as u64;
    let budget_us = (SLOW_TIME_PERC + 2 * effort as u64) * 1_000_000 / hz / 100;
    let start = Instant::now();
    let mut expired_keys: Vec<Vec<u8>> = Vec::new();
    let mut sampled_total = 0usize;
    let mut expired_total = 0usize;
    for dbi in 0..state.dbs.len() {
        if state.dbs[dbi].expires_count() == 0 {
            continue;
        }
        loop {
            let now = crate::util::now_ms();
            let mut sampled = 0usize;
            let mut ttl_sum = 0u64;
            let mut ttl_n = 0u64;
            expired_keys.clear();
            let db = &mut state.dbs[dbi];
            let mut cursor = db.expire_cursor;
            // Visit buckets until enough volatile keys were seen (bounded bucket visits).
            let mut buckets = 0;
            while sampled < per_loop && buckets < per_loop * 20 {
                cursor = db.scan(cursor, |e| {
                    if e.expire_at != 0 {
                        sampled += 1;
                        if e.expire_at <= now {
                            expired_keys.push(e.key.as_bytes().to_vec());
                        } else {
                            ttl_sum += e.expire_at - now;
                            ttl_n += 1;
                        }
                    }
                });
                buckets += 1;
                if cursor == 0 {
                    break;
                }
            }
            db.expire_cursor = cursor;
            if let Some(avg) = ttl_sum.checked_div(ttl_n) {
                // Redis's running estimate: 2% of the new sample each time.
                db.avg_ttl = if db.avg_ttl == 0 {
                    avg
                } else {
                    (db.avg_ttl / 50) * 49 + avg / 50
                };
            }
            for key in &expired_keys {
                if state.dbs[dbi].check_expired(key, now, true) == crate::db::ExpireCheck::Deleted {
                    expired_total += 1;
                    let del = [Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)];
                    state.stats.expired_keys += 1;
                    state.propagate_now(dbi, &del);
                    state.notify_keyspace_event(notify::EXPIRED, "expired", key, dbi);
                    state.signal_modified_key(dbi, key);
                }
            }
            let db = &mut state.dbs[dbi];
            sampled_total += sampled;
            if start.elapsed().as_micros() as u64 > budget_us {
                state.stats.expired_time_cap_reached_count += 1;
                record(state, sampled_total, expired_total, start);
                return;
            }
            if sampled == 0
                || expired_keys.len() * 100 / sampled.max(1) <= stale
                || db.expires_count() == 0
            {
                break;
            }
        }
    }
    record(state, sampled_total, expired_total, start);
}

fn record(state: &mut State, sampled: usize, expired: usize, start: Instant) {
    state.stats.expire_cycle_cpu_milliseconds += start.elapsed().as_millis() as u64;
    let perc = if sampled > 0 {
        expired as f64 / sampled as f64
    } else {
        0.0
    };
    state.stats.expired_stale_perc = perc * 0.05 + state.stats.expired_stale_perc * 0.95;
}
