//! Keyspace benchmarks: GET and SET on 1M keys for the two snapshot-capable table designs
//! we considered — `ferrodis::db::Db` (Redis-style dict with per-entry snapshot epochs, the
//! choice) and a persistent HAMT with structural sharing (`imbl::HashMap`, snapshot = O(1)
//! clone, every write under a live snapshot path-copies) — with std's `HashMap` as the
//! baseline, plus heap bytes per key for each (counted by a wrapping global allocator, so
//! the figure is exact, not an RSS estimate). `set_under_snapshot` measures SET while a
//! snapshot is alive: for the HAMT a clone of the map is held, so writes copy paths.
//!
//! Keys are `key:<n>` (10-11 bytes), values 16 bytes, like `redis-benchmark -d 16`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};

use criterion::{black_box, Criterion};
use ferrodis::db::{Db, Value};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const KEYS: usize = 1_000_000;
const VALUE: &[u8] = b"0123456789abcdef";

fn key(i: usize) -> Vec<u8> {
    format!("key:{i}").into_bytes()
}

fn build_db(keys: &[Vec<u8>]) -> Db {
    let mut db = Db::new(0);
    for k in keys {
        db.set(k, Value::from_bytes(VALUE), false, 0);
    }
    db
}

fn build_map(keys: &[Vec<u8>]) -> HashMap<Vec<u8>, Vec<u8>> {
    let mut m = HashMap::new();
    for k in keys {
        m.insert(k.clone(), VALUE.to_vec());
    }
    m
}

/// Heap bytes per key of each structure, printed before the timings.
fn memory_report(keys: &[Vec<u8>]) {
    let before = LIVE.load(Ordering::Relaxed);
    let mut db = build_db(keys);
    // Let an incremental rehash finish so the figure is the steady state.
    db.cron_resize(std::time::Duration::from_secs(10));
    let db_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(db);
    let before = LIVE.load(Ordering::Relaxed);
    let map = build_map(keys);
    let map_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(map);
    let before = LIVE.load(Ordering::Relaxed);
    let hamt = build_hamt(keys);
    let hamt_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(hamt);
    let n = keys.len() as f64;
    println!("memory/1M keys (16-byte values), heap bytes per key:");
    println!(
        "  ferrodis Db:                     {:.1}",
        db_bytes as f64 / n
    );
    println!(
        "  HashMap<Vec<u8>, Vec<u8>>:       {:.1}",
        map_bytes as f64 / n
    );
    println!(
        "  imbl::HashMap (persistent HAMT): {:.1}",
        hamt_bytes as f64 / n
    );
}

fn build_hamt(keys: &[Vec<u8>]) -> imbl::HashMap<Vec<u8>, Vec<u8>> {
    let mut m = imbl::HashMap::new();
    for k in keys {
        m.insert(k.clone(), VALUE.to_vec());
    }
    m
}

fn main() {
    let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    memory_report(&keys);

    let mut c = Criterion::default().sample_size(20).configure_from_args();
    // A fixed pseudo-random visiting order, so both structures see the same accesses.
    let order: Vec<usize> = {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..KEYS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % KEYS as u64) as usize
            })
            .collect()
    };

    {
        let mut db = build_db(&keys);
        db.cron_resize(std::time::Duration::from_secs(10));
        let mut group = c.benchmark_group("keyspace_1M/ferrodis_db");
        let mut i = 0usize;
        group.bench_function("get", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(db.get(&keys[order[i]]).is_some())
            })
        });
        group.bench_function("set", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(db.set(&keys[order[i]], Value::from_bytes(VALUE), false, 0))
            })
        });
        group.finish();
    }
    {
        let mut map = build_map(&keys);
        let mut group = c.benchmark_group("keyspace_1M/std_hashmap");
        let mut i = 0usize;
        group.bench_function("get", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(map.contains_key(keys[order[i]].as_slice()))
            })
        });
        group.bench_function("set", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                // What a SET costs a naive map: a fresh key and value allocation.
                black_box(map.insert(keys[order[i]].clone(), VALUE.to_vec()))
            })
        });
        group.finish();
    }
    {
        let mut map = build_hamt(&keys);
        let mut group = c.benchmark_group("keyspace_1M/imbl_hamt");
        let mut i = 0usize;
        group.bench_function("get", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(map.contains_key(keys[order[i]].as_slice()))
            })
        });
        group.bench_function("set", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(map.insert(keys[order[i]].clone(), VALUE.to_vec()))
            })
        });
        // A snapshot is an O(1) clone; while it lives, each write copies its path.
        group.bench_function("set_under_snapshot", |b| {
            let mut snapshot = map.clone();
            let mut n = 0;
            b.iter(|| {
                i = (i + 1) % KEYS;
                n += 1;
                if n % 100_000 == 0 {
                    // A fresh snapshot now and then, as successive BGSAVEs would take.
                    snapshot = map.clone();
                }
                black_box(map.insert(keys[order[i]].clone(), VALUE.to_vec()))
            });
            drop(snapshot);
        });
        group.finish();
    }
    c.final_summary();
}
