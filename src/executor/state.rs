//! `State`: everything a command may read or change apart from the clients.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::db::Db;

/// Per-command counters (INFO commandstats).
#[derive(Debug, Default, Clone)]
pub struct CommandStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// INFO commandstats counters, by the command's full name.
///
/// Every command bumps its counters, so the hot path must not hash the name: entries are
/// found by the address of the spec's `&'static str` name (one multiply to hash), and the
/// name itself is only compared when an address is seen for the first time. Lookups by an
/// arbitrary string (INFO, tests) scan the entries; there are at most a few hundred.
#[derive(Debug, Default)]
pub struct CommandStatsMap {
    entries: Vec<(&'static str, CommandStats)>,
    /// (name address, name length) -> index in `entries`.
    by_addr: HashMap<(usize, usize), usize, BuildHasherDefault<AddrHasher>>,
}

impl CommandStatsMap {
    /// The counters of the command named `name` (a spec's `full_name`), created on first use.
    #[inline]
    pub fn stat_mut(&mut self, name: &'static str) -> &mut CommandStats {
        let addr = (name.as_ptr() as usize, name.len());
        let i = match self.by_addr.get(&addr) {
            Some(&i) => i,
            None => self.insert_addr(name, addr),
        };
        &mut self.entries[i].1
    }

    #[cold]
    fn insert_addr(&mut self, name: &'static str, addr: (usize, usize)) -> usize {
        // Another spec (or a copy of the name elsewhere) may already own this name.
        let i = match self.entries.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.entries.push((name, CommandStats::default()));
                self.entries.len() - 1
            }
        };
        self.by_addr.insert(addr, i);
        i
    }

    pub fn get(&self, name: &str) -> Option<&CommandStats> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
    }

    /// Every command seen since the last reset, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &CommandStats)> {
        self.entries.iter().map(|(n, c)| (*n, c))
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_addr.clear();
    }
}

impl std::ops::Index<&str> for CommandStatsMap {
    type Output = CommandStats;

    fn index(&self, name: &str) -> &CommandStats {
        match self.get(name) {
            Some(c) => c,
            None => panic!("no commandstats entry for {name}"),
        }
    }
}

/// Hashes the (address, length) keys of `CommandStatsMap`: addresses are distinct and
/// aligned, so a multiply mixes them well enough.
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Server-wide counters (INFO stats and friends). CONFIG RESETSTAT zeroes them.
#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub expire_cycle_cpu_milliseconds: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub dump_payload_sanitizations: u64,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub client_query_buffer_limit_disconnections: u64,
    /// Keyed by the command's full lowercase name ("config|get").
    pub commands: CommandStatsMap,
    /// Keyed by error code ("ERR", "WRONGTYPE").
    pub errors: HashMap<String, u64>,
    /// Samples of (time, total_commands_processed) for instantaneous_ops_per_sec.
    pub ops_samples: Vec<(u64, u64)>,
    pub net_in_samples: Vec<(u64, u64)>,
    pub net_out_samples: Vec<(u64, u64)>,
}

impl Stats {
    pub fn reset(&mut self) {
        *self = Stats::default();
    }

    fn rate(samples: &[(u64, u64)]) -> f64 {
        if samples.len() < 2 {
            return 0.0;
        }
        let (t0, v0) = samples[0];
        let (t1, v1) = samples[samples.len() - 1];
        if t1 <= t0 {
            return 0.0;
        }
        (v1.saturating_sub(v0)) as f64 * 1000.0 / (t1 - t0) as f64
    }

    pub fn instantaneous_ops(&self) -> f64 {
        Self::rate(&self.ops_samples)
    }

    pub fn instantaneous_in_kbps(&self) -> f64 {
        Self::rate(&self.net_in_samples) / 1024.0
    }

    pub fn instantaneous_out_kbps(&self) -> f64 {
        Self::rate(&self.net_out_samples) / 1024.0
    }

    /// Records a sample every cron tick; keeps the last 16 like Redis's STATS_METRIC_SAMPLES.
    pub fn sample(&mut self, now: u64) {
        for (v, s) in [
            (self.total_commands_processed, &mut self.ops_samples),
            (self.total_net_input_bytes, &mut self.net_in_samples),
            (self.total_net_output_bytes, &mut self.net_out_samples),
        ] {
            s.push((now, v));
            if s.len() > 16 {
                s.remove(0);
            }
        }
    }
}

/// One SLOWLOG entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    pub time: u64,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

/// A pending SHUTDOWN request, picked up by the server loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownRequest {
    pub save: Option<bool>,
    pub now: bool,
    pub force: bool,
}

/// CLIENT PAUSE state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseKind {
    All,
    Write,
}

pub struct State {
    pub cfg: Config,
    /// Invariant: `dbs.len() == cfg.databases`; `dbs[i].id == i`.
    pub dbs: Vec<Db>,
    pub stats: Stats,
    /// Time of the command being executed (Unix ms); expiry decisions inside one command use it.
    pub now_ms: u64,
    /// Server start.
    pub started: Instant,
    pub start_time_ms: u64,
    /// Writes since the last save (rdb_changes_since_last_save); bumped by every write.
    pub dirty: u64,
    pub rng: SmallRng,
    /// 40 hex characters, new every start (INFO run_id).
    pub run_id: String,
    /// Next CLIENT ID.
    pub next_client_id: u64,
    pub shutdown: Option<ShutdownRequest>,
    pub slowlog: std::collections::VecDeque<SlowlogEntry>,
    pub slowlog_next_id: u64,
    /// Clients in MONITOR mode (client ids).
    pub monitors: Vec<u64>,
    /// CLIENT PAUSE until (Unix ms) and kind.
    pub pause: Option<(u64, PauseKind)>,
    /// False while this server is a replica: keys are then never deleted on expiry here.
    pub is_master: bool,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire_enabled: bool,
    /// Path of the config file in use (CONFIG REWRITE), if any.
    pub config_file: Option<std::path::PathBuf>,
    /// Executable path and argv, for INFO.
    pub executable: String,
    pub tcp_port: u16,
    /// Peak of the memory estimate (used_memory_peak).
    pub memory_peak: u64,
    /// Last time a save succeeded (LASTSAVE), Unix seconds.
    pub lastsave: u64,
    /// When the cross-protocol scripting warning was last logged (Unix ms).
    pub last_security_warning_ms: u64,
    /// WATCH and transaction bookkeeping (`watch`).
    pub watch: super::watch::WatchState,
    /// Clients blocked on keys (`blocking`).
    pub blocking: super::blocking::BlockingState,
    /// Channel and pattern subscriptions (`pubsub`).
    pub pubsub: super::pubsub::PubSubState,
    /// The write stream for replicas and the AOF (see `propagate`).
    pub propagation: super::propagate::Propagator,
    /// Wakes the server loop (SHUTDOWN requests).
    pub wake_server: std::rc::Rc<tokio::sync::Notify>,
    /// Replication ID of our history (INFO master_replid): 40 hex characters.
    pub master_replid: String,
    /// The previous replication ID (INFO master_replid2); 40 zeros when there is none.
    pub master_replid2: String,
    /// maxmemory eviction: candidate pool, LFU sync, time accounting (`evict`).
    pub evict: super::evict::EvictState,
    /// RDB saving and loading status, the running BGSAVE (`persistence::save`).
    pub rdb: crate::persistence::save::RdbState,
    /// Replication: backlog, replicas, the link to our master (`replication`).
    pub repl: crate::replication::ReplState,
    /// The append-only file (`persistence::aof`).
    pub aof: crate::persistence::aof::AofState,
}

impl State {
    pub fn new(cfg: Config) -> State {
        let mut rng = SmallRng::from_entropy();
        let run_id: String = (0..40)
            .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
            .collect();
        let master_replid = State::random_hex40(&mut rng);
        let dbs = (0..cfg.databases).map(Db::new).collect();
        let now = crate::util::now_ms();
        State {
            tcp_port: cfg.port,
            cfg,
            dbs,
            stats: Stats::default(),
            now_ms: now,
            started: Instant::now(),
            start_time_ms: now,
            dirty: 0,
            rng,
            run_id,
            next_client_id: 1,
            shutdown: None,
            slowlog: Default::default(),
            slowlog_next_id: 0,
            monitors: Vec::new(),
            pause: None,
            is_master: true,
            active_expire_enabled: true,
            config_file: None,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            memory_peak: 0,
            lastsave: now / 1000,
            last_security_warning_ms: 0,
            propagation: Default::default(),
            watch: Default::default(),
            blocking: Default::default(),
            pubsub: Default::default(),
            wake_server: std::rc::Rc::new(tokio::sync::Notify::new()),
            master_replid,
            master_replid2: "0".repeat(40),
            evict: Default::default(),
            rdb: Default::default(),
            repl: Default::default(),
            aof: Default::default(),
        }
    }

    /// 40 random hex characters (run ids, replication ids).
    pub fn random_hex40(rng: &mut SmallRng) -> String {
        (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16usize)]))
            .collect()
    }

    /// Redis's LRU clock: seconds, wrapping at 24 bits like LRU_CLOCK_MAX.
    pub fn lru_clock(&self) -> u32 {
        ((self.now_ms / 1000) & ((1 << 24) - 1)) as u32
    }

    /// Seconds since a key was last touched, given its stored clock.
    pub fn idle_seconds(&self, lru: u32) -> u64 {
        let now = self.lru_clock();
        if now >= lru {
            (now - lru) as u64
        } else {
            (now as u64 + (1 << 24)) - lru as u64
        }
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Total number of keys over all databases.
    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }

    /// Propagates a write (replication stream, AOF). A no-op until those sinks exist; the
    /// call sites are the contract: every write reaches here in execution order.
    pub fn propagate(&mut self, db: usize, argv: &[Bytes]) {
        // A replica proxies its master's stream instead (see `replication::replica`); its
        // own writes (a writable replica) stay local, as in Redis.
        if !self.is_master {
            return;
        }
        self.propagation.push(db, argv);
    }

    /// Propagates an entry produced outside any command (active expiry, eviction): it forms
    /// its own execution unit.
    pub fn propagate_now(&mut self, db: usize, argv: &[Bytes]) {
        if !self.is_master {
            return;
        }
        self.propagation.push(db, argv);
        self.propagation.flush_pending();
    }

    /// Fires a keyspace notification (pub/sub issue); a no-op while notifications are off.
    pub fn notify_keyspace_event(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        super::pubsub::notify_keyspace_event(self, class, event, key, db);
    }

    /// Signals that a key changed: WATCH invalidation and blocked-client wake-ups hook here.
    pub fn signal_modified_key(&mut self, db: usize, key: &[u8]) {
        super::watch::touch_key(self, db, key);
        super::blocking::signal_key_ready(self, db, key);
    }

    /// Called just before a database (None: every database) is emptied by FLUSHDB/FLUSHALL,
    /// while its keys are still there: WATCH invalidates the watched keys that exist.
    pub fn signal_flush_db(&mut self, db: Option<usize>) {
        super::watch::touch_flush(self, db);
    }

    /// Called just before SWAPDB exchanges two databases: WATCH invalidation and wake-ups of
    /// clients blocked on keys that appear in either.
    pub fn signal_swap_db(&mut self, a: usize, b: usize) {
        super::watch::touch_swap(self, a, b);
        super::blocking::signal_swap(self, a, b);
    }
}

/// Keyspace notification classes (notify-keyspace-events letters): one definition, shared
/// with the config parser.
pub use crate::config::table::notify_bits as notify;
