//! The fork-free snapshot: a point-in-time image of every database, produced while the
//! executor keeps serving reads and writes.
//!
//! # Why not fork
//!
//! Redis forks and lets the child serialize its copy-on-write view of memory. Every page the
//! parent writes while the child runs is copied, so a write-heavy instance can nearly double
//! its memory during BGSAVE, and the fork itself stalls the parent for tens of milliseconds
//! on a large heap. ferrodis instead serializes on the executor thread, in small slices
//! between command batches, and copies nothing but the entries a write is about to change.
//!
//! # The algorithm
//!
//! Every keyspace entry carries `epoch`: the number of the snapshot that last serialized it.
//! Starting snapshot `E` (a fresh, never reused number) costs O(databases): each `Db` gets a
//! [`Capture`] holding `E`, the database's index *in the image*, a walk cursor and an output
//! buffer. From then on an entry belongs to the image exactly once, by one of two routes:
//!
//! 1. **The walk.** A task on the executor's thread repeatedly takes a slice of at most
//!    `SLICE` of time: it advances each database's SCAN cursor (Redis's reverse-binary
//!    cursor, `Dict::scan_mut`) and serializes every entry whose epoch is not `E`, then
//!    stamps it `E`.
//! 2. **The pre-mutation hook.** `Db` is the only code that hands out mutable access to an
//!    entry, removes one or changes its expiry. Before any of these, if a capture is active
//!    and the entry's epoch is not `E`, the entry is serialized *as it still is* and stamped.
//!    Entries created during the snapshot are stamped `E` at birth, so neither route emits
//!    them.
//!
//! Correctness: the image is exactly the dataset at the start. An entry present at the start
//! and never touched is found by the walk, because SCAN returns every element present for the
//! whole scan even across rehashes and resizes. One that is touched is serialized by the hook
//! before its first change, and its stamp keeps both routes from emitting it again (SCAN may
//! visit an entry twice across a resize; the stamp absorbs that too). Deleted-before-visited
//! entries go through the hook on their way out; new ones are stamped and skipped.
//!
//! Whole-database operations keep the image too: FLUSHDB/FLUSHALL *detach* the dict with its
//! capture instead of freeing it (the walk finishes it, then it is freed off-thread), and
//! SWAPDB swaps the captures along with the dicts, because a capture names the image's
//! database, not the live slot. Serialized bytes of database `i` are framed by
//! `SELECTDB i` wherever they appear in the stream; Redis's loader accepts repeated SELECTDB.
//!
//! # Bounds
//!
//! - **Time**: while clients are active the walk runs in slices of `SLICE` (250 µs), each
//!   followed by a 1 ms pause in which the executor serves whatever arrived; with no client
//!   activity since the previous slice it takes `IDLE_SLICE` (2 ms) back to back, so an idle
//!   server saves at full speed. A slice never splits an entry, so the longest executor
//!   stall is the slice plus the time to serialize the largest single value (the same
//!   per-key cost Redis pays in its child). Measured (benches/rdb.py, 1M keys x 1 KB under a
//!   full-speed writer): the most CPU any step took was under 3 ms.
//! - **Memory**: extra memory is the serialized-but-unwritten output: the walk pauses while
//!   `MAX_IN_FLIGHT` bytes are queued for the writer, so the walk's share is bounded by
//!   that; the hook's share is at most one serialized copy of each entry written during the
//!   snapshot, and is drained into the same queue every slice. No page is ever duplicated
//!   wholesale; a write-heavy workload costs what it writes, once.
//! - **Output**: the same byte stream goes to any sink — a file through a writer thread, or
//!   (replication) a socket — so a full sync is this snapshot, streamed.

use std::time::{Duration, Instant};

use crate::db::{Db, Dict, Entry};

/// Longest stretch of walking between command batches while clients are being served.
pub const SLICE: Duration = Duration::from_micros(250);

/// The stretch while no client has sent anything since the previous slice: longer, so an
/// idle server saves at full speed, and still short enough that a client arriving meanwhile
/// waits at most this long.
pub const IDLE_SLICE: Duration = Duration::from_millis(2);

/// Size at which a slice hands its output to the sink (small enough to come from the heap
/// rather than a fresh mapping).
pub const CHUNK: usize = 64 * 1024;

/// Serializes one entry (key, value, expiry, metadata) in RDB form.
pub type SerializeFn = fn(out: &mut Vec<u8>, entry: &Entry, opts: &SnapshotOptions);

/// What the serializer needs to know besides the entry.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotOptions {
    pub rdb: crate::persistence::rdb::EncodeOptions,
    /// Which per-key metadata opcode to write (IDLE under LRU, FREQ under LFU policies).
    pub meta: MetaPolicy,
    /// rdb-key-save-delay (a testing aid, as in Redis): when set, a slice walks one bucket
    /// and the pump waits this many microseconds between slices.
    pub key_save_delay_us: u64,
}

/// Per-key metadata Redis writes according to maxmemory-policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaPolicy {
    None,
    /// IDLE: seconds since last access, computed against this LRU clock (seconds).
    Lru {
        clock: u32,
    },
    /// FREQ: the decayed LFU counter at this minute, with lfu-decay-time.
    Lfu {
        minutes: u16,
        decay_time: u32,
    },
}

/// A database's part in a running snapshot; lives in the `Db` next to its dict and moves
/// with it (SWAPDB swaps it, FLUSHDB detaches it with the dict).
pub struct Capture {
    /// The running snapshot's epoch: an entry stamped with it is in the image already or
    /// was created after the snapshot began.
    pub epoch: u32,
    /// The database this dict's entries belong to in the image.
    pub image_db: usize,
    /// Serialized entries not yet collected by the snapshot task.
    pub out: Vec<u8>,
    /// Walk cursor over the dict (`Dict::scan_mut`).
    pub cursor: u64,
    /// The dict has been walked completely: no entry of the image is left in it.
    pub walked: bool,
    /// Keys and volatile keys when the snapshot began (RESIZEDB hint).
    pub size: u64,
    pub expires: u64,
    pub opts: SnapshotOptions,
    pub serialize: SerializeFn,
    /// Entries serialized and not yet counted by the snapshot.
    pub serialized: u64,
}

impl Capture {
    /// The pre-mutation hook: puts `e` in the image as it is now, unless it is there already.
    #[inline]
    pub fn before_change(&mut self, e: &mut Entry) {
        if e.epoch != self.epoch {
            (self.serialize)(&mut self.out, e, &self.opts);
            e.epoch = self.epoch;
            self.serialized += 1;
        }
    }

    /// Advances the walk over `dict` until `deadline` or until `out` holds `CHUNK` bytes.
    pub fn walk(&mut self, dict: &mut Dict, deadline: Instant) {
        let mut steps = 0u32;
        while !self.walked {
            let cursor = self.cursor;
            self.cursor = dict.scan_mut(cursor, |e| self.before_change(e));
            if self.cursor == 0 {
                self.walked = true;
                break;
            }
            steps += 1;
            if self.opts.key_save_delay_us > 0 {
                break;
            }
            // Reading the clock costs more than a bucket: check it every few buckets.
            if self.out.len() >= CHUNK || (steps.is_multiple_of(8) && Instant::now() >= deadline) {
                break;
            }
        }
    }
}

/// A dict removed from the live keyspace (FLUSHDB) while a snapshot still needed it.
pub struct Detached {
    pub dict: Dict,
    pub capture: Box<Capture>,
}

/// The snapshot task's state: which image database is being walked, what has been framed.
pub struct Snapshot {
    pub epoch: u32,
    /// Image databases whose SELECTDB+RESIZEDB header has been written once.
    resized: Vec<bool>,
    /// Image database of the last SELECTDB written (None before the first).
    current_db: Option<usize>,
    /// Bytes produced so far (INFO, and the progress of a full sync).
    pub produced: u64,
    /// Largest amount of captured-but-uncollected output seen (INFO rdb_last_cow_size).
    pub peak_captured: usize,
    pub started: Instant,
    /// Keys serialized so far, and in the image (INFO current_save_keys_*).
    pub keys: u64,
    pub total_keys: u64,
    /// Longest single step: the longest the snapshot held the executor at once (wall
    /// time, which includes any time the thread was preempted), and the CPU time of the
    /// step with the most CPU time.
    pub longest_step: Duration,
    pub longest_step_cpu: Duration,
}

/// Writes a SELECTDB (and the first time, RESIZEDB) frame.
pub type FrameFn = fn(out: &mut Vec<u8>, db: u64, size: u64, expires: u64, resize: bool);

impl Snapshot {
    /// Starts snapshot `epoch` over `dbs`: installs a capture in every database.
    pub fn start(
        dbs: &mut [Db],
        epoch: u32,
        opts: SnapshotOptions,
        serialize: SerializeFn,
    ) -> Snapshot {
        for db in dbs.iter_mut() {
            let capture = Capture {
                epoch,
                image_db: db.id,
                out: Vec::new(),
                cursor: 0,
                walked: db.is_empty(),
                size: db.len() as u64,
                expires: db.expires_count() as u64,
                opts,
                serialize,
                serialized: 0,
            };
            db.begin_capture(Box::new(capture));
        }
        Snapshot {
            epoch,
            resized: vec![false; dbs.len()],
            current_db: None,
            produced: 0,
            peak_captured: 0,
            started: Instant::now(),
            keys: 0,
            total_keys: dbs.iter().map(|d| d.len() as u64).sum(),
            longest_step: Duration::ZERO,
            longest_step_cpu: Duration::ZERO,
        }
    }

    /// One slice: collects captured output and walks until `CHUNK` bytes are ready or the
    /// slice is over. Appends to `out`; returns true when the image is complete (every
    /// capture walked and drained — the caller then writes the EOF trailer).
    pub fn step(
        &mut self,
        dbs: &mut [Db],
        out: &mut Vec<u8>,
        frame: FrameFn,
        slice: Duration,
    ) -> bool {
        let start = Instant::now();
        let cpu = crate::util::thread_cpu_time();
        let complete = self.step_inner(dbs, out, frame, start + slice);
        self.longest_step = self.longest_step.max(start.elapsed());
        self.longest_step_cpu = self
            .longest_step_cpu
            .max(crate::util::thread_cpu_time().saturating_sub(cpu));
        complete
    }

    fn step_inner(
        &mut self,
        dbs: &mut [Db],
        out: &mut Vec<u8>,
        frame: FrameFn,
        deadline: Instant,
    ) -> bool {
        let captured: usize = dbs.iter().map(Db::captured_bytes).sum();
        self.peak_captured = self.peak_captured.max(captured);
        // First what writes captured (it is already memory), then the walk, in db order.
        for db in dbs.iter_mut() {
            db.for_each_capture(|dict, cap| {
                let _ = dict;
                self.collect(cap, out, frame);
            });
        }
        let mut complete = true;
        for db in dbs.iter_mut() {
            if out.len() >= CHUNK || Instant::now() >= deadline {
                complete = false;
                break;
            }
            db.for_each_capture(|dict, cap| {
                if !cap.walked {
                    cap.walk(dict, deadline);
                }
                self.collect(cap, out, frame);
            });
            if !db.capture_walked() {
                complete = false;
            }
        }
        self.produced += out.len() as u64;
        if complete {
            for db in dbs.iter_mut() {
                db.end_capture();
            }
        }
        complete
    }

    /// Moves a capture's output to `out`, framed by its database.
    fn collect(&mut self, cap: &mut Capture, out: &mut Vec<u8>, frame: FrameFn) {
        self.keys += std::mem::take(&mut cap.serialized);
        if cap.out.is_empty() {
            return;
        }
        let db = cap.image_db;
        if self.current_db != Some(db) {
            let first = !self.resized.get(db).copied().unwrap_or(true);
            frame(out, db as u64, cap.size, cap.expires, first);
            if let Some(r) = self.resized.get_mut(db) {
                *r = true;
            }
            self.current_db = Some(db);
        }
        out.extend_from_slice(&cap.out);
        cap.out.clear();
        if cap.out.capacity() > CHUNK {
            cap.out.shrink_to(CHUNK);
        }
    }

    /// Drops the captures without completing the image (shutdown, a failed write).
    pub fn abort(dbs: &mut [Db]) {
        for db in dbs.iter_mut() {
            db.end_capture();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    /// Test serializer: `key \0 value \0 expire \n`, one record per entry.
    fn ser(out: &mut Vec<u8>, e: &Entry, _: &SnapshotOptions) {
        out.extend_from_slice(e.key.as_bytes());
        out.push(0);
        out.extend_from_slice(&e.value.to_vec().unwrap_or_default());
        out.push(0);
        out.extend_from_slice(e.expire_at.to_string().as_bytes());
        out.push(b'\n');
    }

    fn frame(out: &mut Vec<u8>, db: u64, _: u64, _: u64, _: bool) {
        out.extend_from_slice(format!("#{db}\n").as_bytes());
    }

    type Image = Vec<BTreeMap<Vec<u8>, (Vec<u8>, u64)>>;

    fn parse(stream: &[u8], ndb: usize) -> Image {
        let mut img = vec![BTreeMap::new(); ndb];
        let mut db = 0;
        for line in stream.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if line[0] == b'#' {
                db = std::str::from_utf8(&line[1..]).unwrap().parse().unwrap();
                continue;
            }
            let parts: Vec<&[u8]> = line.split(|&b| b == 0).collect();
            let exp = std::str::from_utf8(parts[2]).unwrap().parse().unwrap();
            let dup = img[db].insert(parts[0].to_vec(), (parts[1].to_vec(), exp));
            assert!(dup.is_none(), "key emitted twice: {:?}", parts[0]);
        }
        img
    }

    fn image_of(dbs: &[Db]) -> Image {
        dbs.iter()
            .map(|db| {
                let mut m = BTreeMap::new();
                db.dict().for_each(|e| {
                    m.insert(
                        e.key.as_bytes().to_vec(),
                        (e.value.to_vec().unwrap_or_default(), e.expire_at),
                    );
                });
                m
            })
            .collect()
    }

    fn opts() -> SnapshotOptions {
        SnapshotOptions {
            rdb: crate::persistence::rdb::EncodeOptions { compress: false },
            meta: MetaPolicy::None,
            key_save_delay_us: 0,
        }
    }

    /// Random writes, deletes, expiries, flushes and swaps interleaved with snapshot slices:
    /// the stream must equal the dataset at the start, each key exactly once.
    #[test]
    fn image_is_point_in_time_under_mutation() {
        for seed in 0..20u64 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let ndb = 3;
            let mut dbs: Vec<Db> = (0..ndb).map(Db::new).collect();
            for i in 0..rng.gen_range(0..3000) {
                let db = rng.gen_range(0..ndb);
                let k = format!("k{}", rng.gen_range(0..4000));
                dbs[db].set(
                    k.as_bytes(),
                    Value::from_bytes(format!("v{i}").as_bytes()),
                    false,
                    0,
                );
            }
            let expected = image_of(&dbs);
            let mut snap = Snapshot::start(&mut dbs, seed as u32 + 1, opts(), ser);
            let mut stream = Vec::new();
            let mut n = 0;
            loop {
                // A burst of mutations between slices.
                for _ in 0..rng.gen_range(0..40) {
                    let db = rng.gen_range(0..ndb);
                    let k = format!("k{}", rng.gen_range(0..6000));
                    match rng.gen_range(0..100) {
                        0..=39 => {
                            dbs[db].set(k.as_bytes(), Value::from_bytes(b"new"), false, 0);
                        }
                        40..=59 => {
                            dbs[db].remove(k.as_bytes());
                        }
                        60..=69 => {
                            dbs[db].set_expire(k.as_bytes(), 99);
                        }
                        70..=79 => {
                            if let Some(v) = dbs[db].get_value_mut(k.as_bytes()) {
                                *v = Value::from_bytes(b"changed in place");
                            }
                        }
                        80 => {
                            dbs[db].clear();
                        }
                        81 => {
                            let (a, b) = (rng.gen_range(0..ndb), rng.gen_range(0..ndb));
                            if a != b {
                                let (lo, hi) = (a.min(b), a.max(b));
                                let (x, y) = dbs.split_at_mut(hi);
                                x[lo].swap_contents(&mut y[0]);
                            }
                        }
                        _ => {
                            for i in 0..50 {
                                let k = format!("grow{n}-{i}");
                                dbs[db].set(k.as_bytes(), Value::from_bytes(b"g"), false, 0);
                            }
                        }
                    }
                    n += 1;
                }
                if snap.step(&mut dbs, &mut stream, frame, SLICE) {
                    break;
                }
            }
            assert_eq!(parse(&stream, ndb), expected, "seed {seed}");
            assert!(dbs.iter().all(|d| d.captured_bytes() == 0));
        }
    }
}
