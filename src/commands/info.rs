//! INFO: the server's report, section by section, in Redis 7.0's exact layout.
//!
//! Monitoring tools parse this text by field name, so names, order and number formats follow
//! Redis 7.0 (`genRedisInfoString`): `# Section` headers, `name:value` lines ending in CRLF,
//! sections separated by an empty line. `INFO` alone prints the default sections; `all` adds
//! commandstats and latencystats; `everything` is `all` plus module sections; any number of
//! section names may be combined. The reply is a bulk string in RESP2 and a verbatim string
//! in RESP3.
//!
//! Fields for subsystems that do not exist (or not yet) are reported with the values Redis
//! shows when they are idle, so parsers find every field they expect. `used_memory` comes
//! from the counting allocator (`crate::alloc`), `used_memory_rss` from /proc, CPU times from
//! getrusage.

use std::fmt::{Display, Write};
use std::sync::OnceLock;

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::executor::client::{Client, ClientKind};
use crate::executor::state::State;

pub static COMMANDS: &[CommandSpec] = &[cmd!(
    "info",
    -1,
    LOADING | STALE | SENTINEL,
    0,
    0,
    0,
    info,
    "server",
    "Get information and statistics about the server"
)];

/// Every section in output order: (name as requested, header, in the default set).
const SECTIONS: &[(&str, &str, bool)] = &[
    ("server", "Server", true),
    ("clients", "Clients", true),
    ("memory", "Memory", true),
    ("persistence", "Persistence", true),
    ("stats", "Stats", true),
    ("replication", "Replication", true),
    ("cpu", "CPU", true),
    ("modules", "Modules", true),
    ("commandstats", "Commandstats", false),
    ("errorstats", "Errorstats", true),
    ("latencystats", "Latencystats", false),
    ("cluster", "Cluster", true),
    ("keyspace", "Keyspace", true),
];

/// Which sections an INFO call asked for, as a bit per entry of `SECTIONS`.
pub fn select_sections<T: AsRef<[u8]>>(args: &[T]) -> u32 {
    let defaults = SECTIONS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.2)
        .fold(0, |m, (i, _)| m | 1 << i);
    if args.is_empty() {
        return defaults;
    }
    let all = (1u32 << SECTIONS.len()) - 1;
    let mut mask = 0;
    for a in args {
        let a = a.as_ref().to_ascii_lowercase();
        mask |= match a.as_slice() {
            b"default" => defaults,
            b"all" | b"everything" => all,
            // Redis accepts the internal name of the modules section too.
            b"module_list" => section_bit("modules"),
            name => SECTIONS
                .iter()
                .position(|s| s.0.as_bytes() == name)
                .map_or(0, |i| 1 << i),
        };
    }
    mask
}

fn section_bit(name: &str) -> u32 {
    SECTIONS
        .iter()
        .position(|s| s.0 == name)
        .map_or(0, |i| 1 << i)
}

/// Redis's `bytesToHuman`: B below 1K, then two decimals with K, M, G, T, P.
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (div, unit)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(1u64 << 60, |u| u.0);
        if n < next {
            return format!("{:.2}{unit}", n as f64 / *div as f64);
        }
    }
    format!("{n}B")
}

/// Writes `name:value\r\n` lines.
pub struct Out<'a>(pub &'a mut String);

impl Out<'_> {
    pub fn f(&mut self, name: &str, value: impl Display) -> &mut Self {
        let _ = write!(self.0, "{name}:{value}\r\n");
        self
    }
}

/// Totals over the connected clients that INFO clients and memory report.
#[derive(Default)]
struct ClientTotals {
    connected: usize,
    max_input_buffer: usize,
    max_output_buffer: usize,
    mem_normal: usize,
    mem_replicas: usize,
}

impl ClientTotals {
    fn add(&mut self, c: &Client) {
        let mem = c.out.buf.capacity() + c.qbuf;
        self.max_input_buffer = self.max_input_buffer.max(c.qbuf);
        self.max_output_buffer = self.max_output_buffer.max(c.out.buf.len());
        if c.kind == ClientKind::Replica && !c.monitor {
            self.mem_replicas += mem;
        } else {
            self.connected += 1;
            self.mem_normal += mem;
        }
    }
}

fn info(ctx: &mut Ctx) {
    let mask = select_sections(&ctx.argv[1..]);
    let mut totals = ClientTotals::default();
    totals.add(ctx.client);
    for (_, slot) in ctx.clients.iter() {
        if let Some(c) = slot {
            totals.add(c);
        }
    }
    let text = generate(ctx.state, &totals, mask);
    ctx.reply().verbatim(text.as_bytes());
}

fn generate(state: &mut State, clients: &ClientTotals, mask: u32) -> String {
    let mut s = String::with_capacity(4096);
    let mut first = true;
    for (i, (name, header, _)) in SECTIONS.iter().enumerate() {
        if mask & (1 << i) == 0 {
            continue;
        }
        if !first {
            s.push_str("\r\n");
        }
        first = false;
        let _ = write!(s, "# {header}\r\n");
        let mut out = Out(&mut s);
        match *name {
            "server" => server(state, &mut out),
            "clients" => clients_section(state, clients, &mut out),
            "memory" => memory(state, clients, &mut out),
            "persistence" => persistence(state, &mut out),
            "stats" => stats(state, &mut out),
            "replication" => replication(state, &mut out),
            "cpu" => cpu(&mut out),
            "commandstats" => commandstats(state, &mut out),
            "errorstats" => errorstats(state, &mut out),
            "cluster" => {
                out.f("cluster_enabled", 0);
            }
            "keyspace" => keyspace(state, &mut out),
            // modules: none loaded; latencystats: per-command histograms are not kept.
            _ => {}
        }
    }
    s
}

/// `Linux 6.1.0 x86_64`, as `uname -srm` prints it (read once).
fn os_string() -> &'static str {
    static OS: OnceLock<String> = OnceLock::new();
    OS.get_or_init(|| {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let sys = read("/proc/sys/kernel/ostype");
        let sys = if sys.is_empty() {
            std::env::consts::OS.to_string()
        } else {
            sys
        };
        format!(
            "{} {} {}",
            sys,
            read("/proc/sys/kernel/osrelease"),
            std::env::consts::ARCH
        )
    })
}

/// A stable 16-hex-digit build id derived from our version (FNV-1a).
fn build_id() -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in crate::VERSION.bytes().chain(crate::REDIS_VERSION.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn server(state: &State, out: &mut Out) {
    let uptime = state.uptime_secs();
    let config_file = state
        .config_file
        .as_ref()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .unwrap_or_default();
    out.f("redis_version", crate::REDIS_VERSION)
        .f("redis_git_sha1", "00000000")
        .f("redis_git_dirty", 0)
        .f("redis_build_id", build_id())
        .f("redis_mode", "standalone")
        .f("os", os_string())
        .f("arch_bits", usize::BITS)
        .f("monotonic_clock", "POSIX clock_gettime")
        .f("multiplexing_api", "epoll")
        .f("atomicvar_api", "c11-builtin")
        .f("gcc_version", "0.0.0")
        .f("process_id", std::process::id())
        .f("process_supervised", "no")
        .f("run_id", &state.run_id)
        .f("tcp_port", state.tcp_port)
        .f("server_time_usec", crate::util::now_us())
        .f("uptime_in_seconds", uptime)
        .f("uptime_in_days", uptime / 86400)
        .f("hz", state.cfg.hz)
        .f("configured_hz", state.cfg.hz)
        .f("lru_clock", state.lru_clock())
        .f("executable", &state.executable)
        .f("config_file", config_file)
        .f("io_threads_active", 0)
        .f("ferrodis_version", crate::VERSION);
}

fn clients_section(state: &State, clients: &ClientTotals, out: &mut Out) {
    out.f("connected_clients", clients.connected)
        .f("cluster_connections", 0)
        .f("maxclients", state.cfg.maxclients)
        .f("client_recent_max_input_buffer", clients.max_input_buffer)
        .f("client_recent_max_output_buffer", clients.max_output_buffer)
        .f(
            "blocked_clients",
            crate::executor::blocking::blocked_count(state),
        )
        .f("tracking_clients", 0)
        .f(
            "clients_in_timeout_table",
            crate::executor::blocking::in_timeout_table(state),
        );
}

/// Resident set size in bytes, from /proc/self/statm (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant; it has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// Total physical memory in bytes, from /proc/meminfo (0 where unavailable).
fn total_system_memory() -> u64 {
    static TOTAL: OnceLock<u64> = OnceLock::new();
    *TOTAL.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    })
}

/// Bytes in use: the allocator's count, or (in builds without the counting allocator) an
/// estimate from the keyspace.
pub fn used_memory(state: &State) -> u64 {
    if crate::alloc::is_counting() {
        crate::alloc::allocated() as u64
    } else {
        state.dbs.iter().map(|d| d.memory_estimate() as u64).sum()
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "0.00".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

fn perc(a: u64, b: u64) -> String {
    if b == 0 {
        "0.00%".into()
    } else {
        format!("{:.2}%", a as f64 * 100.0 / b as f64)
    }
}

fn memory(state: &mut State, clients: &ClientTotals, out: &mut Out) {
    let used = used_memory(state);
    state.memory_peak = state.memory_peak.max(used);
    let peak = state.memory_peak;
    let rss = rss_bytes();
    let startup = crate::alloc::startup() as u64;
    let tables: u64 = state
        .dbs
        .iter()
        .map(|d| (d.dict().slots() * std::mem::size_of::<usize>()) as u64)
        .sum();
    let clients_mem = (clients.mem_normal + clients.mem_replicas) as u64;
    let overhead = (startup + clients_mem + tables).min(used);
    let dataset = used - overhead;
    let net = used.saturating_sub(startup);
    let total = total_system_memory();
    let maxmemory = state.cfg.maxmemory;
    out.f("used_memory", used)
        .f("used_memory_human", bytes_to_human(used))
        .f("used_memory_rss", rss)
        .f("used_memory_rss_human", bytes_to_human(rss))
        .f("used_memory_peak", peak)
        .f("used_memory_peak_human", bytes_to_human(peak))
        .f("used_memory_peak_perc", perc(used, peak))
        .f("used_memory_overhead", overhead)
        .f("used_memory_startup", startup)
        .f("used_memory_dataset", dataset)
        .f("used_memory_dataset_perc", perc(dataset, net))
        .f("allocator_allocated", used)
        .f("allocator_active", used)
        .f("allocator_resident", rss)
        .f("total_system_memory", total)
        .f("total_system_memory_human", bytes_to_human(total))
        .f("used_memory_lua", 0)
        .f("used_memory_vm_eval", 0)
        .f("used_memory_lua_human", "0B")
        .f("used_memory_scripts_eval", 0)
        .f("number_of_cached_scripts", 0)
        .f("number_of_functions", 0)
        .f("number_of_libraries", 0)
        .f("used_memory_vm_functions", 0)
        .f("used_memory_vm_total", 0)
        .f("used_memory_vm_total_human", "0B")
        .f("used_memory_functions", 0)
        .f("used_memory_scripts", 0)
        .f("used_memory_scripts_human", "0B")
        .f("maxmemory", maxmemory)
        .f("maxmemory_human", bytes_to_human(maxmemory))
        .f("maxmemory_policy", &state.cfg.maxmemory_policy)
        .f("allocator_frag_ratio", "1.00")
        .f("allocator_frag_bytes", 0)
        .f("allocator_rss_ratio", ratio(rss, used))
        .f("allocator_rss_bytes", rss as i64 - used as i64)
        .f("rss_overhead_ratio", "1.00")
        .f("rss_overhead_bytes", 0)
        .f("mem_fragmentation_ratio", ratio(rss, used))
        .f("mem_fragmentation_bytes", rss as i64 - used as i64)
        .f("mem_not_counted_for_evict", 0)
        .f("mem_replication_backlog", 0)
        .f("mem_total_replication_buffers", 0)
        .f("mem_clients_slaves", clients.mem_replicas)
        .f("mem_clients_normal", clients.mem_normal)
        .f("mem_cluster_links", 0)
        .f("mem_aof_buffer", 0)
        .f("mem_allocator", "libc")
        .f("active_defrag_running", 0)
        .f("lazyfree_pending_objects", 0)
        .f("lazyfreed_objects", 0);
}

fn persistence(state: &State, out: &mut Out) {
    let rdb = &state.rdb;
    let now = state.now_ms / 1000;
    let bg = rdb.bgsave.as_ref();
    // An AOF rewrite is a snapshot too, but not a BGSAVE.
    let rdb_bg = bg.filter(|b| b.kind == crate::persistence::save::Kind::Rdb);
    let cow_now = bg.map_or(0, |_| {
        state.dbs.iter().map(|d| d.captured_bytes()).sum::<usize>()
    });
    // A replica's swapdb load serving the old data meanwhile (Redis's async loading).
    let async_load = crate::replication::replica::async_loading(state);
    out.f("loading", rdb.loading.is_some() as u8)
        .f("async_loading", async_load.is_some() as u8)
        .f(
            "current_cow_peak",
            bg.map_or(0, |b| b.snapshot.peak_captured),
        )
        .f("current_cow_size", cow_now)
        .f("current_cow_size_age", 0)
        .f("current_fork_perc", {
            let pct = bg.map_or(0.0, |b| {
                if b.snapshot.total_keys == 0 {
                    0.0
                } else {
                    b.snapshot.keys as f64 * 100.0 / b.snapshot.total_keys as f64
                }
            });
            format!("{pct:.2}")
        })
        .f(
            "current_save_keys_processed",
            bg.map_or(0, |b| b.snapshot.keys),
        )
        .f(
            "current_save_keys_total",
            bg.map_or(0, |b| b.snapshot.total_keys),
        )
        .f("rdb_changes_since_last_save", state.dirty)
        .f("rdb_bgsave_in_progress", rdb_bg.is_some() as u8)
        .f("rdb_last_save_time", state.lastsave)
        .f(
            "rdb_last_bgsave_status",
            if rdb.last_ok { "ok" } else { "err" },
        )
        .f("rdb_last_bgsave_time_sec", rdb.last_bgsave_secs)
        .f(
            "rdb_current_bgsave_time_sec",
            rdb_bg.map_or(-1, |b| now.saturating_sub(b.started_secs) as i64),
        )
        .f("rdb_saves", rdb.saves)
        .f("rdb_last_cow_size", rdb.last_cow_size)
        .f("rdb_last_load_keys_expired", rdb.last_load_keys_expired)
        .f("rdb_last_load_keys_loaded", rdb.last_load_keys_loaded)
        .f("aof_enabled", crate::persistence::aof::info_enabled(state));
    crate::persistence::aof::info_rewrite(state, out);
    out.f(
        "aof_last_write_status",
        crate::persistence::aof::info_last_write_status(state),
    )
    .f(
        "aof_last_cow_size",
        crate::persistence::aof::info_last_cow_size(state),
    )
    .f("module_fork_in_progress", 0)
    .f("module_fork_last_cow_size", 0);
    crate::persistence::aof::info_fields(state, out);
    if let Some(p) = rdb.loading.as_ref().or(async_load) {
        // A replica's payload framed by an end mark has no known size: as Redis, estimate
        // it from the image's used-mem (never reaching 100%).
        let (perc, remaining) = if p.total_bytes > 0 {
            (
                p.loaded_bytes as f64 * 100.0 / p.total_bytes as f64,
                p.total_bytes.saturating_sub(p.loaded_bytes),
            )
        } else if p.rdb_used_mem > 0 {
            (
                (p.loaded_bytes as f64 * 100.0 / p.rdb_used_mem as f64).min(99.99),
                p.rdb_used_mem.saturating_sub(p.loaded_bytes).max(1),
            )
        } else {
            (0.0, 1)
        };
        let elapsed = now.saturating_sub(p.start_secs);
        let eta = if p.loaded_bytes == 0 || elapsed == 0 {
            1
        } else {
            (remaining as f64 * elapsed as f64 / p.loaded_bytes as f64) as i64
        };
        out.f("loading_start_time", p.start_secs)
            .f("loading_total_bytes", p.total_bytes)
            .f("loading_rdb_used_mem", p.rdb_used_mem)
            .f("loading_loaded_bytes", p.loaded_bytes)
            .f("loading_loaded_perc", format!("{perc:.2}"))
            .f("loading_eta_seconds", eta);
    }
}

fn stats(state: &State, out: &mut Out) {
    let st = &state.stats;
    let (eviction_total_ms, eviction_current_ms) = crate::executor::evict::exceeded_time_ms(state);
    out.f("total_connections_received", st.total_connections_received)
        .f("total_commands_processed", st.total_commands_processed)
        .f(
            "instantaneous_ops_per_sec",
            st.instantaneous_ops().round() as u64,
        )
        .f("total_net_input_bytes", st.total_net_input_bytes)
        .f("total_net_output_bytes", st.total_net_output_bytes)
        .f("total_net_repl_input_bytes", 0)
        .f("total_net_repl_output_bytes", 0)
        .f(
            "instantaneous_input_kbps",
            format!("{:.2}", st.instantaneous_in_kbps()),
        )
        .f(
            "instantaneous_output_kbps",
            format!("{:.2}", st.instantaneous_out_kbps()),
        )
        .f("instantaneous_input_repl_kbps", "0.00")
        .f("instantaneous_output_repl_kbps", "0.00")
        .f("rejected_connections", st.rejected_connections)
        .f("sync_full", state.repl.sync_full)
        .f("sync_partial_ok", state.repl.sync_partial_ok)
        .f("sync_partial_err", state.repl.sync_partial_err)
        // Beyond Redis: why full syncs happened, and replicas dropped for their output.
        .f(
            "ferrodis_sync_full_new_replica",
            state.repl.full_sync_reasons.new_replica,
        )
        .f(
            "ferrodis_sync_full_replid_mismatch",
            state.repl.full_sync_reasons.replid_mismatch,
        )
        .f(
            "ferrodis_sync_full_offset_out_of_backlog",
            state.repl.full_sync_reasons.offset_out_of_backlog,
        )
        .f(
            "ferrodis_replicas_dropped_output_buffer",
            state.repl.dropped_for_obuf,
        )
        .f("expired_keys", st.expired_keys)
        .f(
            "expired_stale_perc",
            format!("{:.2}", st.expired_stale_perc * 100.0),
        )
        .f(
            "expired_time_cap_reached_count",
            st.expired_time_cap_reached_count,
        )
        .f(
            "expire_cycle_cpu_milliseconds",
            st.expire_cycle_cpu_milliseconds,
        )
        .f("evicted_keys", st.evicted_keys)
        .f("evicted_clients", 0)
        .f("total_eviction_exceeded_time", eviction_total_ms)
        .f("current_eviction_exceeded_time", eviction_current_ms)
        .f("keyspace_hits", st.keyspace_hits)
        .f("keyspace_misses", st.keyspace_misses)
        .f("pubsub_channels", state.pubsub.channel_count())
        .f("pubsub_patterns", state.pubsub.pattern_count())
        .f("pubsubshard_channels", state.pubsub.shard_channel_count())
        .f("latest_fork_usec", 0)
        .f("total_forks", 0)
        .f("migrate_cached_sockets", 0)
        .f("slave_expires_tracked_keys", 0)
        .f("active_defrag_hits", 0)
        .f("active_defrag_misses", 0)
        .f("active_defrag_key_hits", 0)
        .f("active_defrag_key_misses", 0)
        .f("total_active_defrag_time", 0)
        .f("current_active_defrag_time", 0)
        .f("tracking_total_keys", 0)
        .f("tracking_total_items", 0)
        .f("tracking_total_prefixes", 0)
        .f("unexpected_error_replies", st.unexpected_error_replies)
        .f("total_error_replies", st.total_error_replies)
        .f("dump_payload_sanitizations", st.dump_payload_sanitizations)
        .f("total_reads_processed", st.total_reads_processed)
        .f("total_writes_processed", st.total_writes_processed)
        .f("io_threaded_reads_processed", 0)
        .f("io_threaded_writes_processed", 0)
        .f("reply_buffer_shrinks", 0)
        .f("reply_buffer_expands", 0);
}

fn replication(state: &State, out: &mut Out) {
    out.f("role", if state.is_master { "master" } else { "slave" });
    crate::replication::replica::info_fields(state, out);
    crate::replication::master::info_replicas(state, out);
    let backlog = state.repl.backlog.as_ref();
    out.f("master_failover_state", "no-failover")
        .f("master_replid", &state.master_replid)
        .f("master_replid2", &state.master_replid2)
        .f("master_repl_offset", state.propagation.offset)
        .f("second_repl_offset", state.repl.second_replid_offset)
        .f("repl_backlog_active", backlog.is_some() as u8)
        .f(
            "repl_backlog_size",
            backlog.map_or(state.cfg.repl_backlog_size, |b| b.size() as u64),
        )
        .f(
            "repl_backlog_first_byte_offset",
            backlog.map_or(0, |b| b.first_offset()),
        )
        .f("repl_backlog_histlen", backlog.map_or(0, |b| b.histlen()));
}

/// (system, user) CPU time in microseconds for `who` (a libc RUSAGE_* selector).
fn rusage(who: libc::c_int) -> (i64, i64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory the size of `rusage`, as getrusage requires.
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    if rc != 0 {
        return (0, 0);
    }
    // SAFETY: `rusage` is plain integers, so the zeroed value is already valid, and
    // getrusage succeeded in filling it.
    let ru = unsafe { ru.assume_init() };
    // time_t and suseconds_t are i64 on 64-bit Linux but narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let us = |tv: libc::timeval| tv.tv_sec as i64 * 1_000_000 + tv.tv_usec as i64;
    (us(ru.ru_stime), us(ru.ru_utime))
}

fn secs(us: i64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn cpu(out: &mut Out) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
    // The executor, where INFO runs, is the main thread.
    #[cfg(target_os = "linux")]
    let (msys, muser) = rusage(libc::RUSAGE_THREAD);
    #[cfg(not(target_os = "linux"))]
    let (msys, muser) = (sys, user);
    out.f("used_cpu_sys", secs(sys))
        .f("used_cpu_user", secs(user))
        .f("used_cpu_sys_children", secs(csys))
        .f("used_cpu_user_children", secs(cuser))
        .f("used_cpu_sys_main_thread", secs(msys))
        .f("used_cpu_user_main_thread", secs(muser));
}

fn commandstats(state: &State, out: &mut Out) {
    let mut names: Vec<_> = state
        .stats
        .commands
        .iter()
        .filter(|(_, c)| c.calls > 0 || c.failed_calls > 0 || c.rejected_calls > 0)
        .collect();
    names.sort_unstable_by_key(|(n, _)| *n);
    for (name, c) in names {
        let per_call = if c.calls == 0 {
            0.0
        } else {
            c.usec as f64 / c.calls as f64
        };
        out.f(
            &format!("cmdstat_{name}"),
            format_args!(
                "calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                c.calls, c.usec, per_call, c.rejected_calls, c.failed_calls
            ),
        );
    }
}

fn errorstats(state: &State, out: &mut Out) {
    let mut codes: Vec<_> = state.stats.errors.iter().collect();
    codes.sort_unstable();
    for (code, n) in codes {
        out.f(&format!("errorstat_{code}"), format_args!("count={n}"));
    }
}

fn keyspace(state: &State, out: &mut Out) {
    for (i, db) in state.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        out.f(
            &format!("db{i}"),
            format_args!(
                "keys={},expires={},avg_ttl={}",
                db.len(),
                db.expires_count(),
                db.avg_ttl
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::db::Value;

    #[test]
    fn human_sizes_like_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(916464), "894.98K");
        assert_eq!(bytes_to_human(6631424), "6.32M");
        assert_eq!(bytes_to_human(25276514304), "23.54G");
    }

    #[test]
    fn section_selection() {
        let names = |mask: u32| -> Vec<&str> {
            SECTIONS
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| s.0)
                .collect()
        };
        let none: [&[u8]; 0] = [];
        let default = names(select_sections(&none));
        assert!(!default.contains(&"commandstats") && !default.contains(&"latencystats"));
        assert!(default.contains(&"errorstats") && default.contains(&"keyspace"));
        assert_eq!(names(select_sections(&[b"all"])).len(), SECTIONS.len());
        assert_eq!(
            names(select_sections(&[b"EVERYTHING"])).len(),
            SECTIONS.len()
        );
        assert_eq!(
            names(select_sections(&[&b"keyspace"[..], b"Server", b"nosuch"])),
            ["server", "keyspace"]
        );
        assert_eq!(names(select_sections(&[b"module_list"])), ["modules"]);
        assert_eq!(select_sections(&[b"nosuch"]), 0);
        assert_eq!(
            select_sections(&[&b"default"[..], b"commandstats"]),
            select_sections(&none) | section_bit("commandstats")
        );
    }

    #[test]
    fn layout_matches_redis() {
        let mut state = State::new(Config::default());
        state.dbs[0].set(b"a", Value::from_bytes(b"1"), false, 0);
        state.dbs[2].insert_new(b"b", Value::from_bytes(b"2"), u64::MAX, 0);
        state.stats.errors.insert("WRONGTYPE".into(), 2);
        state.stats.errors.insert("ERR".into(), 1);
        let totals = ClientTotals::default();
        let text = generate(
            &mut state,
            &totals,
            select_sections(&[&b"keyspace"[..], b"errorstats", b"modules"]),
        );
        assert_eq!(
            text,
            "# Modules\r\n\r\n# Errorstats\r\nerrorstat_ERR:count=1\r\nerrorstat_WRONGTYPE:count=2\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\ndb2:keys=1,expires=1,avg_ttl=0\r\n"
        );
        let all = generate(&mut state, &totals, select_sections(&[b"everything"]));
        for line in all
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, _) = line.split_once(':').expect("name:value");
            assert!(!k.is_empty() && !k.contains(' '), "{line}");
        }
        assert!(all.contains("\r\nredis_version:7.0.15\r\n"));
        assert!(all.contains("\r\nrole:master\r\n"));
        assert!(all.contains("\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n"));
    }
}
