//! The directive table: every config directive ferrodis knows, as Redis 7.0's config.c
//! describes it (name, alias, type, bounds, flags), with a getter and a setter reaching into
//! `Config`. The file parser, the command-line overrides, CONFIG GET/SET and CONFIG REWRITE
//! all go through [`lookup`], [`get`], [`set`] and [`rewrite_lines`]; nothing else knows
//! about individual directives.
//!
//! Value syntax and error strings are Redis's: `memtoull` memory units (1k = 1000,
//! 1kb = 1024...), `string2ll` strict integers, yes/no booleans, case-insensitive enums,
//! octal for `unixsocketperm`, `N%` percentages for `maxmemory-clients`.
//!
//! Not in the table, on purpose: the `tls-*` directives (a TLS setting silently ignored
//! would be a security hole, so a config using TLS fails to load, as with a Redis built
//! without TLS).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::rewrite::RwLine;
use crate::config::{obuf_class, Config, LogLevel, ObufLimit};

/// Directive flags (Redis's *_CONFIG flags).
pub mod flags {
    pub const MODIFIABLE: u32 = 0;
    /// CONFIG SET refuses it: "can't set immutable config".
    pub const IMMUTABLE: u32 = 1 << 0;
    /// Holds a secret (passwords).
    pub const SENSITIVE: u32 = 1 << 1;
    /// Only an exact CONFIG GET shows it; globs skip it.
    pub const HIDDEN: u32 = 1 << 2;
    /// CONFIG SET needs `enable-protected-configs`.
    pub const PROTECTED: u32 = 1 << 3;
    /// Not settable while loading the dataset.
    pub const DENY_LOADING: u32 = 1 << 4;
    /// Takes several arguments on a config line; CONFIG SET splits its value on spaces.
    pub const MULTI_ARG: u32 = 1 << 5;
}

use flags::*;

/// How a numeric directive is parsed and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFmt {
    /// A strict integer.
    Plain,
    /// Bytes with an optional unit (k, kb, m, mb, g, gb).
    Memory,
    /// Memory, or `N%` stored as -N.
    MemoryPercent,
    /// Octal digits.
    Octal,
}

/// A side effect CONFIG SET runs after a directive's value changed; the CONFIG command
/// implements them (they need the server state, not just `Config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    None,
    /// Rebind the listening port.
    Port,
    /// Rebind the listening addresses.
    Bind,
    /// chdir to the new `dir`.
    Dir,
    /// Clamp hz into 1..=500.
    Hz,
    /// Change the logger's verbosity.
    LogLevel,
    /// A cleared password authenticates every connected client.
    RequirePass,
    /// Turn the append-only file on (a rewrite first) or off (Redis's updateAppendonly).
    AppendOnly,
}

/// What a setter may need besides the value.
#[derive(Debug, Clone)]
pub struct SetCtx {
    /// True while reading config files (Redis's `reading_config_file`): `save` lines then
    /// accumulate instead of replacing each other.
    pub loading: bool,
    /// Whether a `save` line was already seen during this load.
    pub save_loaded: bool,
    /// The directory relative paths resolve against (the process's working directory at
    /// runtime; while loading, the last `dir` seen, since Redis chdirs on each).
    pub cwd: PathBuf,
}

impl SetCtx {
    /// The context of a CONFIG SET.
    pub fn runtime() -> SetCtx {
        SetCtx {
            loading: false,
            save_loaded: false,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    /// The context of a config load starting in `cwd`.
    pub fn loading(cwd: PathBuf) -> SetCtx {
        SetCtx {
            loading: true,
            save_loaded: false,
            cwd,
        }
    }
}

type Check<T> = Option<fn(T) -> Result<(), &'static str>>;
/// A string validator.
type StrCheck = Option<fn(&str) -> Result<(), &'static str>>;

/// A directive's type, with typed accessors into `Config`.
pub enum Kind {
    Bool {
        get: fn(&Config) -> bool,
        set: fn(&mut Config, bool),
        check: Check<bool>,
    },
    Str {
        get: fn(&Config) -> &str,
        set: fn(&mut Config, String),
        /// Redis's EMPTY_STRING_IS_NULL: an empty value means "unset", and CONFIG REWRITE
        /// then drops the directive from the file.
        empty_is_null: bool,
        check: StrCheck,
    },
    Enum {
        /// Names and values; several names may share a value (the first is canonical).
        values: &'static [(&'static str, u32)],
        /// Several names may be combined (`shutdown-on-sigint nosave now`).
        bitflags: bool,
        get: fn(&Config) -> &str,
        /// Receives the canonical name.
        set: fn(&mut Config, String),
        check: Check<u32>,
    },
    Num {
        /// The value as Redis's `long long` (unsigned fields are reinterpreted).
        get: fn(&Config) -> i64,
        set: fn(&mut Config, i64),
        min: i64,
        max: i64,
        /// Bounds are compared as unsigned (C unsigned int, unsigned long long, size_t).
        unsigned: bool,
        fmt: NumFmt,
    },
    /// Directives with their own syntax (save, bind, dir...).
    Special {
        get: fn(&Config) -> String,
        set: fn(&mut Config, &[String], &mut SetCtx) -> Result<(), String>,
        /// Lines for CONFIG REWRITE given the current and the default config; no lines
        /// means "remove the directive from the file".
        rewrite: fn(&Config, &Config) -> Vec<RwLine>,
    },
}

/// One directive.
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u32,
    pub apply: Apply,
    pub kind: Kind,
}

impl Directive {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether a config line for this directive may carry more than one argument.
    pub fn multi_arg(&self) -> bool {
        self.has(MULTI_ARG)
    }
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
/// ULLONG_MAX as a reinterpreted `long long`.
const ULLONG_MAX: i64 = -1;
const MB: i64 = 1024 * 1024;

macro_rules! boolean {
    ($name:literal, $alias:expr, $flags:expr, $field:ident) => {
        boolean!($name, $alias, $flags, $field, None)
    };
    ($name:literal, $alias:expr, $flags:expr, $field:ident, $check:expr) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: $flags,
            apply: Apply::None,
            kind: Kind::Bool {
                get: |c| c.$field,
                set: |c, v| c.$field = v,
                check: $check,
            },
        }
    };
}

macro_rules! string {
    ($name:literal, $alias:expr, $flags:expr, $null:expr, $field:ident) => {
        string!($name, $alias, $flags, $null, $field, None)
    };
    ($name:literal, $alias:expr, $flags:expr, $null:expr, $field:ident, $check:expr) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: $flags,
            apply: Apply::None,
            kind: Kind::Str {
                get: |c| c.$field.as_str(),
                set: |c, v| c.$field = v,
                empty_is_null: $null,
                check: $check,
            },
        }
    };
}

macro_rules! enumeration {
    ($name:literal, $alias:expr, $flags:expr, $values:expr, $field:ident) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: $flags,
            apply: Apply::None,
            kind: Kind::Enum {
                values: $values,
                bitflags: false,
                get: |c| c.$field.as_str(),
                set: |c, v| c.$field = v,
                check: None,
            },
        }
    };
}

macro_rules! num {
    ($name:literal, $alias:expr, $flags:expr, $min:expr, $max:expr, $unsigned:expr, $fmt:ident, $field:ident) => {
        Directive {
            name: $name,
            alias: $alias,
            flags: $flags,
            apply: Apply::None,
            kind: Kind::Num {
                get: |c| c.$field as i64,
                set: |c, v| c.$field = v as _,
                min: $min,
                max: $max,
                unsigned: $unsigned,
                fmt: NumFmt::$fmt,
            },
        }
    };
}

/// C `int` (signed bounds).
macro_rules! int {
    ($name:literal, $alias:expr, $flags:expr, $min:expr, $max:expr, $field:ident) => {
        num!($name, $alias, $flags, $min, $max, false, Plain, $field)
    };
}

/// C `size_t`, `unsigned int`, `unsigned long long` (unsigned bounds).
macro_rules! uint {
    ($name:literal, $alias:expr, $flags:expr, $min:expr, $max:expr, $fmt:ident, $field:ident) => {
        num!($name, $alias, $flags, $min, $max, true, $fmt, $field)
    };
}

const MAXMEMORY_POLICY: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITY: &[(&str, u32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
const LOGLEVEL: &[(&str, u32)] = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, u32)] = &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
const AOF_FSYNC: &[(&str, u32)] = &[("everysec", 0), ("always", 1), ("no", 2)];
const REPL_DISKLESS_LOAD: &[(&str, u32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const OOM_SCORE_ADJ: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, u32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const CLUSTER_ENDPOINT_TYPE: &[(&str, u32)] =
    &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR_BEHAVIOR: &[(&str, u32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];
/// Bit flags, as SHUTDOWN's options.
const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];

fn check_shutdown_flags(v: u32) -> Result<(), &'static str> {
    if v & 1 != 0 && v & 2 != 0 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously");
    }
    Ok(())
}

fn check_dbfilename(v: &str) -> Result<(), &'static str> {
    if !is_base_name(v) {
        return Err("dbfilename can't be a path, just a filename");
    }
    Ok(())
}

fn check_appendfilename(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appendfilename can't be empty");
    }
    if !is_base_name(v) {
        return Err("appendfilename can't be a path, just a filename");
    }
    Ok(())
}

fn check_appenddirname(v: &str) -> Result<(), &'static str> {
    if v.is_empty() {
        return Err("appenddirname can't be empty");
    }
    if !is_base_name(v) {
        return Err("appenddirname can't be a path, just a dirname");
    }
    Ok(())
}

fn is_base_name(v: &str) -> bool {
    !v.contains('/') && !v.contains('\\')
}

fn check_hostname(v: &str) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if !v
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots");
    }
    Ok(())
}

fn check_proc_title_template(v: &str) -> Result<(), &'static str> {
    const ERR: &str = "template format is invalid or contains unknown variables";
    // Expand like Redis's sdstemplate with an empty title; the template must know every
    // variable and must not expand to nothing.
    let mut out = String::new();
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return Err(ERR);
        }
        if let Some(quoted) = after.strip_prefix('{') {
            out.push('{');
            rest = quoted;
            continue;
        }
        let close = after.find('}').ok_or(ERR)?;
        match &after[..close] {
            "title" | "server-mode" | "unixsocket" => {}
            "listen-addr" | "config-file" | "port" | "tls-port" => out.push('x'),
            _ => return Err(ERR),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if out.trim_matches(' ').is_empty() {
        return Err(ERR);
    }
    Ok(())
}

fn check_cluster_enabled(v: bool) -> Result<(), &'static str> {
    if v {
        return Err("cluster mode is not supported by this server");
    }
    Ok(())
}

/// Every directive. Aliases live on their primary's entry.
pub static TABLE: &[Directive] = &[
    // Booleans.
    boolean!("rdbchecksum", None, IMMUTABLE, rdbchecksum),
    boolean!("daemonize", None, IMMUTABLE, daemonize),
    boolean!("io-threads-do-reads", None, IMMUTABLE, io_threads_do_reads),
    boolean!("always-show-logo", None, IMMUTABLE, always_show_logo),
    boolean!("protected-mode", None, MODIFIABLE, protected_mode),
    boolean!("rdbcompression", None, MODIFIABLE, rdbcompression),
    boolean!("rdb-del-sync-files", None, MODIFIABLE, rdb_del_sync_files),
    boolean!("activerehashing", None, MODIFIABLE, activerehashing),
    boolean!(
        "stop-writes-on-bgsave-error",
        None,
        MODIFIABLE,
        stop_writes_on_bgsave_error
    ),
    boolean!("set-proc-title", None, IMMUTABLE, set_proc_title),
    boolean!("dynamic-hz", None, MODIFIABLE, dynamic_hz),
    boolean!(
        "lazyfree-lazy-eviction",
        None,
        MODIFIABLE,
        lazyfree_lazy_eviction
    ),
    boolean!(
        "lazyfree-lazy-expire",
        None,
        MODIFIABLE,
        lazyfree_lazy_expire
    ),
    boolean!(
        "lazyfree-lazy-server-del",
        None,
        MODIFIABLE,
        lazyfree_lazy_server_del
    ),
    boolean!(
        "lazyfree-lazy-user-del",
        None,
        MODIFIABLE,
        lazyfree_lazy_user_del
    ),
    boolean!(
        "lazyfree-lazy-user-flush",
        None,
        MODIFIABLE,
        lazyfree_lazy_user_flush
    ),
    boolean!(
        "repl-disable-tcp-nodelay",
        None,
        MODIFIABLE,
        repl_disable_tcp_nodelay
    ),
    boolean!("repl-diskless-sync", None, MODIFIABLE, repl_diskless_sync),
    boolean!(
        "aof-rewrite-incremental-fsync",
        None,
        MODIFIABLE,
        aof_rewrite_incremental_fsync
    ),
    boolean!(
        "no-appendfsync-on-rewrite",
        None,
        MODIFIABLE,
        no_appendfsync_on_rewrite
    ),
    boolean!(
        "cluster-require-full-coverage",
        None,
        MODIFIABLE,
        cluster_require_full_coverage
    ),
    boolean!(
        "rdb-save-incremental-fsync",
        None,
        MODIFIABLE,
        rdb_save_incremental_fsync
    ),
    boolean!("aof-load-truncated", None, MODIFIABLE, aof_load_truncated),
    boolean!(
        "aof-use-rdb-preamble",
        None,
        MODIFIABLE,
        aof_use_rdb_preamble
    ),
    boolean!(
        "aof-timestamp-enabled",
        None,
        MODIFIABLE,
        aof_timestamp_enabled
    ),
    boolean!(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        MODIFIABLE,
        cluster_replica_no_failover
    ),
    boolean!(
        "replica-lazy-flush",
        Some("slave-lazy-flush"),
        MODIFIABLE,
        replica_lazy_flush
    ),
    boolean!(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        MODIFIABLE,
        replica_serve_stale_data
    ),
    boolean!(
        "replica-read-only",
        Some("slave-read-only"),
        MODIFIABLE,
        replica_read_only
    ),
    boolean!(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        MODIFIABLE,
        replica_ignore_maxmemory
    ),
    boolean!("jemalloc-bg-thread", None, MODIFIABLE, jemalloc_bg_thread),
    boolean!("activedefrag", None, MODIFIABLE, activedefrag),
    boolean!("syslog-enabled", None, IMMUTABLE, syslog_enabled),
    boolean!(
        "cluster-enabled",
        None,
        IMMUTABLE,
        cluster_enabled,
        Some(check_cluster_enabled)
    ),
    Directive {
        apply: Apply::AppendOnly,
        ..boolean!("appendonly", None, MODIFIABLE | DENY_LOADING, appendonly)
    },
    boolean!(
        "cluster-allow-reads-when-down",
        None,
        MODIFIABLE,
        cluster_allow_reads_when_down
    ),
    boolean!(
        "cluster-allow-pubsubshard-when-down",
        None,
        MODIFIABLE,
        cluster_allow_pubsubshard_when_down
    ),
    boolean!("crash-log-enabled", None, MODIFIABLE, crash_log_enabled),
    boolean!(
        "crash-memcheck-enabled",
        None,
        MODIFIABLE,
        crash_memcheck_enabled
    ),
    boolean!(
        "use-exit-on-panic",
        None,
        MODIFIABLE | HIDDEN,
        use_exit_on_panic
    ),
    boolean!("disable-thp", None, IMMUTABLE, disable_thp),
    boolean!(
        "cluster-allow-replica-migration",
        None,
        MODIFIABLE,
        cluster_allow_replica_migration
    ),
    boolean!("replica-announced", None, MODIFIABLE, replica_announced),
    boolean!("latency-tracking", None, MODIFIABLE, latency_tracking),
    boolean!("aof-disable-auto-gc", None, MODIFIABLE, aof_disable_auto_gc),
    boolean!(
        "replica-ignore-disk-write-errors",
        None,
        MODIFIABLE,
        replica_ignore_disk_write_errors
    ),
    // Strings.
    string!("aclfile", None, IMMUTABLE, false, aclfile),
    string!("unixsocket", None, IMMUTABLE, true, unixsocket),
    string!("pidfile", None, IMMUTABLE, true, pidfile),
    string!(
        "replica-announce-ip",
        Some("slave-announce-ip"),
        MODIFIABLE,
        true,
        replica_announce_ip
    ),
    string!("masteruser", None, MODIFIABLE | SENSITIVE, true, masteruser),
    string!(
        "cluster-announce-ip",
        None,
        MODIFIABLE,
        true,
        cluster_announce_ip
    ),
    string!(
        "cluster-config-file",
        None,
        IMMUTABLE,
        false,
        cluster_config_file
    ),
    string!(
        "cluster-announce-hostname",
        None,
        MODIFIABLE,
        true,
        cluster_announce_hostname,
        Some(check_hostname)
    ),
    string!("syslog-ident", None, IMMUTABLE, false, syslog_ident),
    string!(
        "dbfilename",
        None,
        MODIFIABLE | PROTECTED,
        false,
        dbfilename,
        Some(check_dbfilename)
    ),
    string!(
        "appendfilename",
        None,
        IMMUTABLE,
        false,
        appendfilename,
        Some(check_appendfilename)
    ),
    string!(
        "appenddirname",
        None,
        IMMUTABLE,
        false,
        appenddirname,
        Some(check_appenddirname)
    ),
    string!("server_cpulist", None, IMMUTABLE, true, server_cpulist),
    string!("bio_cpulist", None, IMMUTABLE, true, bio_cpulist),
    string!(
        "aof_rewrite_cpulist",
        None,
        IMMUTABLE,
        true,
        aof_rewrite_cpulist
    ),
    string!("bgsave_cpulist", None, IMMUTABLE, true, bgsave_cpulist),
    string!("ignore-warnings", None, MODIFIABLE, false, ignore_warnings),
    string!(
        "proc-title-template",
        None,
        MODIFIABLE,
        false,
        proc_title_template,
        Some(check_proc_title_template)
    ),
    string!("bind-source-addr", None, MODIFIABLE, true, bind_source_addr),
    string!("logfile", None, IMMUTABLE, false, logfile),
    string!("masterauth", None, MODIFIABLE | SENSITIVE, true, masterauth),
    Directive {
        apply: Apply::RequirePass,
        ..string!(
            "requirepass",
            None,
            MODIFIABLE | SENSITIVE,
            true,
            requirepass
        )
    },
    // Enums.
    enumeration!("supervised", None, IMMUTABLE, SUPERVISED, supervised),
    enumeration!(
        "syslog-facility",
        None,
        IMMUTABLE,
        SYSLOG_FACILITY,
        syslog_facility
    ),
    enumeration!(
        "repl-diskless-load",
        None,
        MODIFIABLE | DENY_LOADING,
        REPL_DISKLESS_LOAD,
        repl_diskless_load
    ),
    Directive {
        name: "loglevel",
        alias: None,
        flags: MODIFIABLE,
        apply: Apply::LogLevel,
        kind: Kind::Enum {
            values: LOGLEVEL,
            bitflags: false,
            get: |c| c.loglevel.name(),
            set: |c, v| c.loglevel = LogLevel::from_name(&v).unwrap_or(LogLevel::Notice),
            check: None,
        },
    },
    enumeration!(
        "maxmemory-policy",
        None,
        MODIFIABLE,
        MAXMEMORY_POLICY,
        maxmemory_policy
    ),
    enumeration!("appendfsync", None, MODIFIABLE, AOF_FSYNC, appendfsync),
    enumeration!(
        "oom-score-adj",
        None,
        MODIFIABLE,
        OOM_SCORE_ADJ,
        oom_score_adj
    ),
    enumeration!(
        "acl-pubsub-default",
        None,
        MODIFIABLE,
        ACL_PUBSUB_DEFAULT,
        acl_pubsub_default
    ),
    enumeration!(
        "sanitize-dump-payload",
        None,
        MODIFIABLE,
        SANITIZE_DUMP_PAYLOAD,
        sanitize_dump_payload
    ),
    enumeration!(
        "enable-protected-configs",
        None,
        IMMUTABLE,
        PROTECTED_ACTION,
        enable_protected_configs
    ),
    enumeration!(
        "enable-debug-command",
        None,
        IMMUTABLE,
        PROTECTED_ACTION,
        enable_debug_command
    ),
    enumeration!(
        "enable-module-command",
        None,
        IMMUTABLE,
        PROTECTED_ACTION,
        enable_module_command
    ),
    enumeration!(
        "cluster-preferred-endpoint-type",
        None,
        MODIFIABLE,
        CLUSTER_ENDPOINT_TYPE,
        cluster_preferred_endpoint_type
    ),
    enumeration!(
        "propagation-error-behavior",
        None,
        MODIFIABLE,
        PROPAGATION_ERROR_BEHAVIOR,
        propagation_error_behavior
    ),
    Directive {
        name: "shutdown-on-sigint",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Enum {
            values: SHUTDOWN_ON_SIG,
            bitflags: true,
            get: |c| c.shutdown_on_sigint.as_str(),
            set: |c, v| c.shutdown_on_sigint = v,
            check: Some(check_shutdown_flags),
        },
    },
    Directive {
        name: "shutdown-on-sigterm",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Enum {
            values: SHUTDOWN_ON_SIG,
            bitflags: true,
            get: |c| c.shutdown_on_sigterm.as_str(),
            set: |c, v| c.shutdown_on_sigterm = v,
            check: Some(check_shutdown_flags),
        },
    },
    // Integers (C int).
    int!("databases", None, IMMUTABLE, 1, INT_MAX, databases),
    Directive {
        apply: Apply::Port,
        ..int!("port", None, MODIFIABLE, 0, 65535, port)
    },
    int!("io-threads", None, IMMUTABLE, 1, 128, io_threads),
    int!(
        "auto-aof-rewrite-percentage",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        auto_aof_rewrite_percentage
    ),
    int!(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        MODIFIABLE,
        0,
        INT_MAX,
        cluster_replica_validity_factor
    ),
    int!(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        MODIFIABLE,
        INT_MIN,
        INT_MAX,
        list_max_listpack_size
    ),
    int!("tcp-keepalive", None, MODIFIABLE, 0, INT_MAX, tcp_keepalive),
    int!(
        "cluster-migration-barrier",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        cluster_migration_barrier
    ),
    int!(
        "active-defrag-cycle-min",
        None,
        MODIFIABLE,
        1,
        99,
        active_defrag_cycle_min
    ),
    int!(
        "active-defrag-cycle-max",
        None,
        MODIFIABLE,
        1,
        99,
        active_defrag_cycle_max
    ),
    int!(
        "active-defrag-threshold-lower",
        None,
        MODIFIABLE,
        0,
        1000,
        active_defrag_threshold_lower
    ),
    int!(
        "active-defrag-threshold-upper",
        None,
        MODIFIABLE,
        0,
        1000,
        active_defrag_threshold_upper
    ),
    int!(
        "lfu-log-factor",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        lfu_log_factor
    ),
    int!(
        "lfu-decay-time",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        lfu_decay_time
    ),
    int!(
        "replica-priority",
        Some("slave-priority"),
        MODIFIABLE,
        0,
        INT_MAX,
        replica_priority
    ),
    int!(
        "repl-diskless-sync-delay",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        repl_diskless_sync_delay
    ),
    int!(
        "maxmemory-samples",
        None,
        MODIFIABLE,
        1,
        INT_MAX,
        maxmemory_samples
    ),
    int!(
        "maxmemory-eviction-tenacity",
        None,
        MODIFIABLE,
        0,
        100,
        maxmemory_eviction_tenacity
    ),
    int!("timeout", None, MODIFIABLE, 0, INT_MAX, timeout),
    int!(
        "replica-announce-port",
        Some("slave-announce-port"),
        MODIFIABLE,
        0,
        65535,
        replica_announce_port
    ),
    int!("tcp-backlog", None, IMMUTABLE, 0, INT_MAX, tcp_backlog),
    int!("cluster-port", None, IMMUTABLE, 0, 65535, cluster_port),
    int!(
        "cluster-announce-bus-port",
        None,
        MODIFIABLE,
        0,
        65535,
        cluster_announce_bus_port
    ),
    int!(
        "cluster-announce-port",
        None,
        MODIFIABLE,
        0,
        65535,
        cluster_announce_port
    ),
    int!(
        "cluster-announce-tls-port",
        None,
        MODIFIABLE,
        0,
        65535,
        cluster_announce_tls_port
    ),
    int!("repl-timeout", None, MODIFIABLE, 1, INT_MAX, repl_timeout),
    int!(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        MODIFIABLE,
        1,
        INT_MAX,
        repl_ping_replica_period
    ),
    int!(
        "list-compress-depth",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        list_compress_depth
    ),
    int!(
        "rdb-key-save-delay",
        None,
        MODIFIABLE | HIDDEN,
        INT_MIN,
        INT_MAX,
        rdb_key_save_delay
    ),
    int!(
        "key-load-delay",
        None,
        MODIFIABLE | HIDDEN,
        INT_MIN,
        INT_MAX,
        key_load_delay
    ),
    int!(
        "active-expire-effort",
        None,
        MODIFIABLE,
        1,
        10,
        active_expire_effort
    ),
    Directive {
        apply: Apply::Hz,
        ..int!("hz", None, MODIFIABLE, 0, INT_MAX, hz)
    },
    int!(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        MODIFIABLE,
        0,
        INT_MAX,
        min_replicas_to_write
    ),
    int!(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        MODIFIABLE,
        0,
        INT_MAX,
        min_replicas_max_lag
    ),
    int!(
        "watchdog-period",
        None,
        MODIFIABLE | HIDDEN,
        0,
        INT_MAX,
        watchdog_period
    ),
    int!(
        "shutdown-timeout",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        shutdown_timeout
    ),
    int!(
        "repl-diskless-sync-max-replicas",
        None,
        MODIFIABLE,
        0,
        INT_MAX,
        repl_diskless_sync_max_replicas
    ),
    // Unsigned int.
    uint!(
        "maxclients",
        None,
        MODIFIABLE,
        1,
        UINT_MAX,
        Plain,
        maxclients
    ),
    uint!(
        "unixsocketperm",
        None,
        IMMUTABLE,
        0,
        0o777,
        Octal,
        unixsocketperm
    ),
    uint!(
        "socket-mark-id",
        None,
        IMMUTABLE,
        0,
        UINT_MAX,
        Plain,
        socket_mark_id
    ),
    // Unsigned long (signed bounds in Redis).
    int!(
        "active-defrag-max-scan-fields",
        None,
        MODIFIABLE,
        1,
        LONG_MAX,
        active_defrag_max_scan_fields
    ),
    int!(
        "slowlog-max-len",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        slowlog_max_len
    ),
    int!(
        "acllog-max-len",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        acllog_max_len
    ),
    // Long long.
    int!(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        MODIFIABLE,
        0,
        LONG_MAX,
        busy_reply_threshold
    ),
    int!(
        "cluster-node-timeout",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        cluster_node_timeout
    ),
    int!(
        "slowlog-log-slower-than",
        None,
        MODIFIABLE,
        -1,
        LONG_MAX,
        slowlog_log_slower_than
    ),
    int!(
        "latency-monitor-threshold",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        latency_monitor_threshold
    ),
    num!(
        "proto-max-bulk-len",
        None,
        MODIFIABLE,
        MB,
        LONG_MAX,
        false,
        Memory,
        proto_max_bulk_len
    ),
    int!(
        "stream-node-max-entries",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        stream_node_max_entries
    ),
    num!(
        "repl-backlog-size",
        None,
        MODIFIABLE,
        1,
        LONG_MAX,
        false,
        Memory,
        repl_backlog_size
    ),
    // Unsigned long long.
    uint!(
        "maxmemory",
        None,
        MODIFIABLE,
        0,
        ULLONG_MAX,
        Memory,
        maxmemory
    ),
    uint!(
        "cluster-link-sendbuf-limit",
        None,
        MODIFIABLE,
        0,
        ULLONG_MAX,
        Memory,
        cluster_link_sendbuf_limit
    ),
    // size_t.
    uint!(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        MODIFIABLE,
        0,
        LONG_MAX,
        Plain,
        hash_max_listpack_entries
    ),
    uint!(
        "set-max-intset-entries",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        Plain,
        set_max_intset_entries
    ),
    uint!(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        MODIFIABLE,
        0,
        LONG_MAX,
        Plain,
        zset_max_listpack_entries
    ),
    uint!(
        "active-defrag-ignore-bytes",
        None,
        MODIFIABLE,
        1,
        LONG_MAX,
        Memory,
        active_defrag_ignore_bytes
    ),
    uint!(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        MODIFIABLE,
        0,
        LONG_MAX,
        Memory,
        hash_max_listpack_value
    ),
    uint!(
        "stream-node-max-bytes",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        Memory,
        stream_node_max_bytes
    ),
    uint!(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        MODIFIABLE,
        0,
        LONG_MAX,
        Memory,
        zset_max_listpack_value
    ),
    uint!(
        "hll-sparse-max-bytes",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        Memory,
        hll_sparse_max_bytes
    ),
    uint!(
        "tracking-table-max-keys",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        Plain,
        tracking_table_max_keys
    ),
    uint!(
        "client-query-buffer-limit",
        None,
        MODIFIABLE,
        MB,
        LONG_MAX,
        Memory,
        client_query_buffer_limit
    ),
    num!(
        "maxmemory-clients",
        None,
        MODIFIABLE,
        -100,
        LONG_MAX,
        false,
        MemoryPercent,
        maxmemory_clients
    ),
    // time_t, off_t.
    int!(
        "repl-backlog-ttl",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        repl_backlog_ttl
    ),
    num!(
        "auto-aof-rewrite-min-size",
        None,
        MODIFIABLE,
        0,
        LONG_MAX,
        false,
        Memory,
        auto_aof_rewrite_min_size
    ),
    int!(
        "loading-process-events-interval-bytes",
        None,
        MODIFIABLE | HIDDEN,
        1024,
        INT_MAX,
        loading_process_events_interval_bytes
    ),
    // Special configs.
    Directive {
        name: "dir",
        alias: None,
        flags: MODIFIABLE | PROTECTED | DENY_LOADING,
        apply: Apply::Dir,
        kind: Kind::Special {
            get: |c| c.dir.clone(),
            set: set_dir,
            rewrite: rewrite_dir,
        },
    },
    Directive {
        name: "save",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Special {
            get: get_save,
            set: set_save,
            rewrite: rewrite_save,
        },
    },
    Directive {
        name: "client-output-buffer-limit",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Special {
            get: get_obuf,
            set: set_obuf,
            rewrite: rewrite_obuf,
        },
    },
    Directive {
        name: "oom-score-adj-values",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Special {
            get: get_oom_values,
            set: set_oom_values,
            rewrite: rewrite_oom_values,
        },
    },
    Directive {
        name: "notify-keyspace-events",
        alias: None,
        flags: MODIFIABLE,
        apply: Apply::None,
        kind: Kind::Special {
            get: |c| c.notify_keyspace_events.clone(),
            set: set_notify,
            rewrite: rewrite_notify,
        },
    },
    Directive {
        name: "bind",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::Bind,
        kind: Kind::Special {
            get: |c| c.bind.join(" "),
            set: set_bind,
            rewrite: rewrite_bind,
        },
    },
    Directive {
        name: "replicaof",
        alias: Some("slaveof"),
        flags: IMMUTABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Special {
            get: get_replicaof,
            set: set_replicaof,
            rewrite: rewrite_replicaof,
        },
    },
    Directive {
        name: "latency-tracking-info-percentiles",
        alias: None,
        flags: MODIFIABLE | MULTI_ARG,
        apply: Apply::None,
        kind: Kind::Special {
            get: get_percentiles,
            set: set_percentiles,
            rewrite: rewrite_percentiles,
        },
    },
];

/// Finds a directive by name or alias, case-insensitively. Also returns the table's
/// spelling of the name that matched (CONFIG SET errors name the alias when it was used).
pub fn lookup_name(name: &[u8]) -> Option<(&'static Directive, &'static str)> {
    for d in TABLE {
        if d.name.as_bytes().eq_ignore_ascii_case(name) {
            return Some((d, d.name));
        }
        if let Some(a) = d.alias {
            if a.as_bytes().eq_ignore_ascii_case(name) {
                return Some((d, a));
            }
        }
    }
    None
}

/// Finds a directive by name or alias, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Directive> {
    lookup_name(name).map(|(d, _)| d)
}

/// The configuration every directive starts from (`Config::default()`); "the default
/// value" of a directive is its getter applied to this.
pub fn default_config() -> &'static Config {
    static DEFAULT: OnceLock<Config> = OnceLock::new();
    DEFAULT.get_or_init(Config::default)
}

/// The directive's value as CONFIG GET shows it.
pub fn get(d: &Directive, cfg: &Config) -> String {
    match &d.kind {
        Kind::Bool { get, .. } => yes_no(get(cfg)).to_string(),
        Kind::Str { get, .. } | Kind::Enum { get, .. } => get(cfg).to_string(),
        Kind::Num { get, fmt, .. } => format_num(get(cfg), *fmt),
        Kind::Special { get, .. } => get(cfg),
    }
}

/// Sets the directive from a config line's arguments (CONFIG SET passes one argument, or
/// the value split on spaces for multi-argument directives). Errors are Redis's texts.
pub fn set(
    d: &Directive,
    cfg: &mut Config,
    args: &[String],
    ctx: &mut SetCtx,
) -> Result<(), String> {
    let first = || {
        args.first()
            .ok_or_else(|| "wrong number of arguments".to_string())
    };
    match &d.kind {
        Kind::Bool { set, check, .. } => {
            let v = parse_yes_no(first()?).ok_or("argument must be 'yes' or 'no'")?;
            if let Some(check) = check {
                check(v)?;
            }
            set(cfg, v);
        }
        Kind::Str { set, check, .. } => {
            let v = first()?;
            if let Some(check) = check {
                check(v)?;
            }
            set(cfg, v.clone());
        }
        Kind::Enum {
            values,
            bitflags,
            set,
            check,
            ..
        } => {
            let v = enum_value(values, args, *bitflags).ok_or_else(|| enum_error(values))?;
            if let Some(check) = check {
                check(v)?;
            }
            set(cfg, enum_name(values, v, *bitflags));
        }
        Kind::Num {
            set,
            min,
            max,
            unsigned,
            fmt,
            ..
        } => {
            let v = parse_num(first()?.as_bytes(), *fmt)?;
            check_bounds(v, *min, *max, *unsigned, *fmt)?;
            set(cfg, v);
        }
        Kind::Special { set, .. } => set(cfg, args, ctx)?,
    }
    Ok(())
}

/// The lines CONFIG REWRITE wants for this directive (see `RwLine`). No lines means the
/// directive must disappear from the file.
pub fn rewrite_lines(d: &Directive, cfg: &Config) -> Vec<RwLine> {
    let def = default_config();
    let name = d.name;
    match &d.kind {
        Kind::Bool { get, .. } => {
            let v = get(cfg);
            vec![RwLine::new(name, vec![yes_no(v).into()], v != get(def))]
        }
        Kind::Str {
            get, empty_is_null, ..
        } => {
            let v = get(cfg);
            if *empty_is_null && v.is_empty() {
                return Vec::new();
            }
            vec![RwLine::quoted(name, v, v != get(def))]
        }
        Kind::Enum { get, .. } => {
            let v = get(cfg);
            vec![RwLine::new(name, vec![v.to_string()], v != get(def))]
        }
        Kind::Num { get, fmt, .. } => {
            let v = get(cfg);
            let text = match fmt {
                NumFmt::MemoryPercent if v < 0 => format!("{}%", v.unsigned_abs()),
                NumFmt::Memory | NumFmt::MemoryPercent => format_memory(v as u64),
                NumFmt::Octal => format!("{v:o}"),
                NumFmt::Plain => v.to_string(),
            };
            vec![RwLine::new(name, vec![text], v != get(def))]
        }
        Kind::Special { rewrite, .. } => rewrite(cfg, def),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Redis's `yesnotoi`.
pub fn parse_yes_no(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// Redis's `configEnumGetValue`: ORs the values of the given names; one name unless
/// `bitflags`.
fn enum_value(values: &[(&str, u32)], args: &[String], bitflags: bool) -> Option<u32> {
    if args.is_empty() || (!bitflags && args.len() != 1) {
        return None;
    }
    let mut v = 0;
    for a in args {
        let (_, x) = values.iter().find(|(n, _)| n.eq_ignore_ascii_case(a))?;
        v |= x;
    }
    Some(v)
}

/// Redis's `configEnumGetName`: the first name with exactly this value, else (bitflags)
/// the names whose bits make it up, else "unknown".
fn enum_name(values: &[(&str, u32)], v: u32, bitflags: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = v;
    for &(name, x) in values {
        if x == v {
            return name.to_string();
        }
        if bitflags && x != 0 && x == (unmatched & x) {
            names.push(name);
            unmatched &= !x;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".to_string();
    }
    names.join(" ")
}

fn enum_error(values: &[(&str, u32)]) -> String {
    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    let mut msg = format!(
        "argument(s) must be one of the following: {}",
        names.join(", ")
    );
    // Redis builds it in a 256-byte buffer.
    msg.truncate(255);
    msg
}

/// Redis's `memtoull`: digits with an optional unit; b, k (1000), kb (1024), m, mb, g, gb,
/// case-insensitive. Like Redis, an overflowing number saturates and the multiplication
/// wraps.
pub fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = &s[digits..];
    let mul: u64 = if unit.is_empty() || unit.eq_ignore_ascii_case(b"b") {
        1
    } else if unit.eq_ignore_ascii_case(b"k") {
        1000
    } else if unit.eq_ignore_ascii_case(b"kb") {
        1024
    } else if unit.eq_ignore_ascii_case(b"m") {
        1000 * 1000
    } else if unit.eq_ignore_ascii_case(b"mb") {
        1024 * 1024
    } else if unit.eq_ignore_ascii_case(b"g") {
        1000 * 1000 * 1000
    } else if unit.eq_ignore_ascii_case(b"gb") {
        1024 * 1024 * 1024
    } else {
        return None;
    };
    if digits >= 128 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[..digits] {
        v = v.saturating_mul(10).saturating_add((c - b'0') as u64);
    }
    Some(v.wrapping_mul(mul))
}

/// C's `strtoll(s, &end, base)` where the caller then requires `*end == '\0'`: optional
/// leading whitespace and sign, digits (saturating like ERANGE), nothing after. An empty
/// string converts to 0, as in C.
pub fn strtoll(s: &[u8], base: u32) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || (b'\t'..=b'\r').contains(&s[i])) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i128 = 0;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        v = (v * base as i128 + d as i128).min(i64::MAX as i128 + 1);
        i += 1;
    }
    if i == start || i != s.len() {
        return None;
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// Redis's `numericParseString`.
fn parse_num(s: &[u8], fmt: NumFmt) -> Result<i64, String> {
    match fmt {
        NumFmt::Memory | NumFmt::MemoryPercent => {
            if let Some(v) = memtoull(s) {
                return Ok(v as i64);
            }
            if fmt == NumFmt::MemoryPercent && s.len() > 1 && s[s.len() - 1] == b'%' {
                if let Some(p) = crate::util::parse_i64(&s[..s.len() - 1]) {
                    if p >= 0 {
                        return Ok(-p);
                    }
                }
            }
            Err(if fmt == NumFmt::Memory {
                "argument must be a memory value".into()
            } else {
                "argument must be a memory or percent value".into()
            })
        }
        NumFmt::Octal => {
            strtoll(s, 8).ok_or_else(|| "argument couldn't be parsed as an octal number".into())
        }
        NumFmt::Plain => crate::util::parse_i64(s)
            .ok_or_else(|| "argument couldn't be parsed into an integer".into()),
    }
}

/// Redis's `numericBoundaryCheck`.
fn check_bounds(v: i64, min: i64, max: i64, unsigned: bool, fmt: NumFmt) -> Result<(), String> {
    if unsigned {
        let (u, lo, hi) = (v as u64, min as u64, max as u64);
        if u > hi || u < lo {
            return Err(if fmt == NumFmt::Octal {
                format!("argument must be between {lo:o} and {hi:o} inclusive")
            } else {
                format!("argument must be between {lo} and {hi} inclusive")
            });
        }
    } else if fmt == NumFmt::MemoryPercent && v < 0 {
        if v < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                min.unsigned_abs()
            ));
        }
    } else if v > max || v < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

fn format_num(v: i64, fmt: NumFmt) -> String {
    match fmt {
        NumFmt::MemoryPercent if v < 0 => format!("{}%", v.unsigned_abs()),
        NumFmt::Memory | NumFmt::MemoryPercent => (v as u64).to_string(),
        NumFmt::Octal => format!("{v:o}"),
        NumFmt::Plain => v.to_string(),
    }
}

/// Redis's `rewriteConfigFormatMemory`: the largest of gb/mb/kb that divides the value.
pub fn format_memory(bytes: u64) -> String {
    const KB: u64 = 1024;
    if bytes != 0 && bytes.is_multiple_of(KB * KB * KB) {
        format!("{}gb", bytes / (KB * KB * KB))
    } else if bytes != 0 && bytes.is_multiple_of(KB * KB) {
        format!("{}mb", bytes / (KB * KB))
    } else if bytes != 0 && bytes.is_multiple_of(KB) {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// An io::Error's text without Rust's " (os error N)" suffix, i.e. C's `strerror`.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

// --- save ---

fn get_save(c: &Config) -> String {
    let parts: Vec<String> = c.save.iter().map(|(s, n)| format!("{s} {n}")).collect();
    parts.join(" ")
}

fn set_save(c: &mut Config, args: &[String], ctx: &mut SetCtx) -> Result<(), String> {
    const ERR: &str = "Invalid save parameters";
    // A single "" means no save points; it always resets, even after other save lines.
    let explicit_empty = args.len() == 1 && args[0].is_empty();
    let args = if explicit_empty { &args[..0] } else { args };
    if args.len() % 2 == 1 {
        return Err(ERR.into());
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for p in args.chunks(2) {
        let secs = strtoll(p[0].as_bytes(), 10).ok_or(ERR)?;
        let changes = strtoll(p[1].as_bytes(), 10).ok_or(ERR)?;
        if secs < 1 || changes < 0 {
            return Err(ERR.into());
        }
        pairs.push((secs as u64, changes as u64));
    }
    // Reading a config file, the defaults are replaced by the first save line and later
    // lines add to it; CONFIG SET replaces.
    if !ctx.loading || explicit_empty || !ctx.save_loaded {
        c.save.clear();
    }
    ctx.save_loaded = true;
    c.save.extend(pairs);
    Ok(())
}

fn rewrite_save(c: &Config, _: &Config) -> Vec<RwLine> {
    if c.save.is_empty() {
        return vec![RwLine::new("save", vec![String::new()], true).with_text("save \"\"")];
    }
    c.save
        .iter()
        .map(|(s, n)| RwLine::new("save", vec![s.to_string(), n.to_string()], true))
        .collect()
}

// --- dir ---

fn set_dir(c: &mut Config, args: &[String], ctx: &mut SetCtx) -> Result<(), String> {
    if args.len() != 1 {
        return Err("wrong number of arguments".into());
    }
    let path = resolve(&ctx.cwd, &args[0]);
    let canon = std::fs::canonicalize(&path).map_err(|e| strerror(&e))?;
    if !canon.is_dir() {
        return Err("Not a directory".into());
    }
    c.dir = canon.to_string_lossy().into_owned();
    ctx.cwd = canon;
    Ok(())
}

/// `p` relative to `base` unless absolute.
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn rewrite_dir(c: &Config, _: &Config) -> Vec<RwLine> {
    vec![RwLine::quoted("dir", &c.dir, true)]
}

// --- client-output-buffer-limit ---

const OBUF_NAMES: [&str; 3] = ["normal", "slave", "pubsub"];

fn get_obuf(c: &Config) -> String {
    let parts: Vec<String> = c
        .client_output_buffer_limit
        .iter()
        .zip(OBUF_NAMES)
        .map(|(l, n)| format!("{} {} {} {}", n, l.hard, l.soft, l.soft_seconds))
        .collect();
    parts.join(" ")
}

fn set_obuf(c: &mut Config, args: &[String], _: &mut SetCtx) -> Result<(), String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    // Validate everything first: a bad class anywhere rejects the whole value.
    let mut updates = Vec::new();
    for a in args.chunks(4) {
        let class = match a[0].to_ascii_lowercase().as_str() {
            "normal" => obuf_class::NORMAL,
            "slave" | "replica" => obuf_class::REPLICA,
            "pubsub" => obuf_class::PUBSUB,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = memtoull(a[1].as_bytes());
        let soft = memtoull(a[2].as_bytes());
        let secs = strtoll(a[3].as_bytes(), 10);
        match (hard, soft, secs) {
            (Some(hard), Some(soft), Some(secs)) if secs >= 0 => updates.push((
                class,
                ObufLimit {
                    hard,
                    soft,
                    soft_seconds: secs as u64,
                },
            )),
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    for (class, l) in updates {
        c.client_output_buffer_limit[class] = l;
    }
    Ok(())
}

fn rewrite_obuf(c: &Config, def: &Config) -> Vec<RwLine> {
    let names = ["normal", "replica", "pubsub"];
    c.client_output_buffer_limit
        .iter()
        .zip(def.client_output_buffer_limit.iter())
        .zip(names)
        .map(|((l, d), n)| {
            RwLine::new(
                "client-output-buffer-limit",
                vec![
                    n.to_string(),
                    format_memory(l.hard),
                    format_memory(l.soft),
                    l.soft_seconds.to_string(),
                ],
                l != d,
            )
        })
        .collect()
}

// --- oom-score-adj-values ---

fn get_oom_values(c: &Config) -> String {
    let v = &c.oom_score_adj_values;
    format!("{} {} {}", v[0], v[1], v[2])
}

fn set_oom_values(c: &mut Config, args: &[String], _: &mut SetCtx) -> Result<(), String> {
    if args.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut values = [0i32; 3];
    for (v, a) in values.iter_mut().zip(args) {
        match strtoll(a.as_bytes(), 10) {
            Some(x) if (-2000..=2000).contains(&x) => *v = x as i32,
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    c.oom_score_adj_values = values;
    Ok(())
}

fn rewrite_oom_values(c: &Config, def: &Config) -> Vec<RwLine> {
    let args = c
        .oom_score_adj_values
        .iter()
        .map(|v| v.to_string())
        .collect();
    vec![RwLine::new(
        "oom-score-adj-values",
        args,
        c.oom_score_adj_values != def.oom_score_adj_values,
    )]
}

// --- notify-keyspace-events ---

/// Keyspace notification classes (Redis's NOTIFY_* bits).
pub mod notify_bits {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 13; // d
    pub const NEW: u32 = 1 << 14; // n
    /// 'A': every class except key-miss and new.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Redis's `keyspaceEventsStringToFlags`; None for an unknown class character.
pub fn keyspace_events_from_str(s: &str) -> Option<u32> {
    use notify_bits::*;
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Redis's `keyspaceEventsFlagsToString`.
pub fn keyspace_events_to_string(flags: u32) -> String {
    use notify_bits::*;
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (KEYSPACE, 'K'),
        (KEYEVENT, 'E'),
        (KEY_MISS, 'm'),
        (NEW, 'n'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn set_notify(c: &mut Config, args: &[String], _: &mut SetCtx) -> Result<(), String> {
    if args.len() != 1 {
        return Err("wrong number of arguments".into());
    }
    let flags = keyspace_events_from_str(&args[0])
        .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
    c.notify_flags = flags;
    c.notify_keyspace_events = keyspace_events_to_string(flags);
    Ok(())
}

fn rewrite_notify(c: &Config, _: &Config) -> Vec<RwLine> {
    vec![RwLine::quoted(
        "notify-keyspace-events",
        &c.notify_keyspace_events,
        c.notify_flags != 0,
    )]
}

// --- bind ---

fn set_bind(c: &mut Config, args: &[String], _: &mut SetCtx) -> Result<(), String> {
    if args.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    if args.len() == 1 && args[0].is_empty() {
        c.bind.clear();
    } else {
        c.bind = args.to_vec();
    }
    Ok(())
}

fn rewrite_bind(c: &Config, def: &Config) -> Vec<RwLine> {
    if c.bind == def.bind {
        return Vec::new();
    }
    if c.bind.is_empty() {
        return vec![RwLine::new("bind", vec![String::new()], true).with_text("bind \"\"")];
    }
    vec![RwLine::new("bind", c.bind.clone(), true)]
}

// --- replicaof ---

fn get_replicaof(c: &Config) -> String {
    match &c.replicaof {
        Some((host, port)) => format!("{host} {port}"),
        None => String::new(),
    }
}

fn set_replicaof(c: &mut Config, args: &[String], _: &mut SetCtx) -> Result<(), String> {
    if args.len() != 2 {
        return Err("wrong number of arguments".into());
    }
    if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
        c.replicaof = None;
        return Ok(());
    }
    match strtoll(args[1].as_bytes(), 10) {
        Some(p) if (0..=65535).contains(&p) => {
            c.replicaof = Some((args[0].clone(), p as u16));
            Ok(())
        }
        _ => {
            c.replicaof = None;
            Err("Invalid master port".into())
        }
    }
}

fn rewrite_replicaof(c: &Config, _: &Config) -> Vec<RwLine> {
    match &c.replicaof {
        Some((host, port)) => vec![RwLine::new(
            "replicaof",
            vec![host.clone(), port.to_string()],
            true,
        )],
        None => Vec::new(),
    }
}

// --- latency-tracking-info-percentiles ---

/// C's "%f" followed by Redis's `trimDoubleString`.
fn format_percentile(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

fn get_percentiles(c: &Config) -> String {
    let parts: Vec<String> = c
        .latency_tracking_info_percentiles
        .iter()
        .map(|v| format_percentile(*v))
        .collect();
    parts.join(" ")
}

fn set_percentiles(c: &mut Config, args: &[String], _: &mut SetCtx) -> Result<(), String> {
    let mut values = Vec::new();
    if !(args.len() == 1 && args[0].is_empty()) {
        for a in args {
            let v = crate::util::parse_f64(a.as_bytes())
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&v) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                );
            }
            values.push(v);
        }
    }
    c.latency_tracking_info_percentiles = values;
    Ok(())
}

fn rewrite_percentiles(c: &Config, _: &Config) -> Vec<RwLine> {
    let name = "latency-tracking-info-percentiles";
    if c.latency_tracking_info_percentiles.is_empty() {
        return vec![
            RwLine::new(name, vec![String::new()], true).with_text(&format!("{name} \"\""))
        ];
    }
    let args = c
        .latency_tracking_info_percentiles
        .iter()
        .map(|v| format_percentile(*v))
        .collect();
    vec![RwLine::new(name, args, true)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_str(name: &str, value: &str) -> Result<Config, String> {
        let mut c = Config::default();
        let d = lookup(name.as_bytes()).expect("known directive");
        let args: Vec<String> = if d.multi_arg() {
            value.split(' ').map(String::from).collect()
        } else {
            vec![value.to_string()]
        };
        set(d, &mut c, &args, &mut SetCtx::runtime())?;
        Ok(c)
    }

    fn get_str(c: &Config, name: &str) -> String {
        get(lookup(name.as_bytes()).expect("known directive"), c)
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for d in TABLE {
            for n in std::iter::once(d.name).chain(d.alias) {
                assert_eq!(n, n.to_ascii_lowercase());
                assert!(seen.insert(n), "duplicate directive {n}");
            }
        }
    }

    #[test]
    fn defaults_match_redis() {
        // CONFIG GET of a few directives on a fresh redis-server 7.0.
        let c = Config::default();
        for (name, want) in [
            ("bind", "* -::*"),
            ("port", "6379"),
            ("save", "3600 1 300 100 60 10000"),
            (
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
            ("proto-max-bulk-len", "536870912"),
            ("maxmemory-policy", "noeviction"),
            ("loglevel", "notice"),
            ("unixsocketperm", "0"),
            ("latency-tracking-info-percentiles", "50 99 99.9"),
            ("oom-score-adj-values", "0 200 800"),
            ("shutdown-on-sigint", "default"),
            ("notify-keyspace-events", ""),
            ("slaveof", ""),
            ("lua-time-limit", "5000"),
            ("maxmemory-clients", "0"),
            ("auto-aof-rewrite-min-size", "67108864"),
        ] {
            assert_eq!(get_str(&c, name), want, "{name}");
        }
    }

    #[test]
    fn every_default_round_trips_through_set() {
        // Setting each directive to its own CONFIG GET value must succeed and not change
        // it (the bounds and parsers accept what the getters print).
        let def = Config::default();
        for d in TABLE {
            // dir depends on the filesystem; an empty replicaof is not a settable value.
            if d.name == "dir" || d.name == "replicaof" {
                continue;
            }
            let v = get(d, &def);
            let args: Vec<String> = if d.multi_arg() {
                v.split(' ').map(String::from).collect()
            } else {
                vec![v.clone()]
            };
            let mut c = Config::default();
            set(d, &mut c, &args, &mut SetCtx::runtime())
                .unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert_eq!(get(d, &c), v, "{}", d.name);
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(memtoull(b"1k"), Some(1000));
        assert_eq!(memtoull(b"1KB"), Some(1024));
        assert_eq!(memtoull(b"1m"), Some(1_000_000));
        assert_eq!(memtoull(b"1Mb"), Some(1 << 20));
        assert_eq!(memtoull(b"2g"), Some(2_000_000_000));
        assert_eq!(memtoull(b"2gb"), Some(2 << 30));
        assert_eq!(memtoull(b"05"), Some(5));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"b"), Some(0));
        assert_eq!(memtoull(b"-1"), None);
        assert_eq!(memtoull(b"1.5mb"), None);
        assert_eq!(memtoull(b" 5"), None);
        assert_eq!(memtoull(b"18446744073709551616"), Some(u64::MAX));
    }

    #[test]
    fn numeric_errors_are_redis_texts() {
        assert_eq!(
            set_str("port", "abc").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set_str("port", "99999").unwrap_err(),
            "argument must be between 0 and 65535 inclusive"
        );
        assert_eq!(
            set_str("timeout", "05").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set_str("maxmemory", "1x").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            set_str("maxclients", "-1").unwrap_err(),
            "argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            set_str("unixsocketperm", "999").unwrap_err(),
            "argument couldn't be parsed as an octal number"
        );
        assert_eq!(
            set_str("maxmemory-clients", "101%").unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        assert_eq!(
            set_str("maxmemory-clients", "-5").unwrap_err(),
            "argument must be a memory or percent value"
        );
        assert_eq!(
            set_str("proto-max-bulk-len", "0").unwrap_err(),
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        );
    }

    #[test]
    fn numeric_values() {
        assert_eq!(
            get_str(&set_str("maxmemory", "2GB").unwrap(), "maxmemory"),
            "2147483648"
        );
        assert_eq!(
            get_str(
                &set_str("maxmemory-clients", "5%").unwrap(),
                "maxmemory-clients"
            ),
            "5%"
        );
        assert_eq!(
            get_str(
                &set_str("unixsocketperm", "0700").unwrap(),
                "unixsocketperm"
            ),
            "700"
        );
        assert_eq!(
            set_str("unixsocketperm", "700").unwrap().unixsocketperm,
            0o700
        );
    }

    #[test]
    fn enums_and_bools() {
        assert_eq!(
            set_str("loglevel", "loud").unwrap_err(),
            "argument(s) must be one of the following: debug, verbose, notice, warning"
        );
        assert_eq!(
            set_str("loglevel", "VERBOSE").unwrap().loglevel,
            LogLevel::Verbose
        );
        assert_eq!(
            get_str(
                &set_str("oom-score-adj", "relative").unwrap(),
                "oom-score-adj"
            ),
            "yes"
        );
        assert_eq!(
            get_str(
                &set_str("shutdown-on-sigint", "now NOSAVE").unwrap(),
                "shutdown-on-sigint"
            ),
            "nosave now"
        );
        assert_eq!(
            set_str("shutdown-on-sigint", "save nosave").unwrap_err(),
            "shutdown options SAVE and NOSAVE can't be used simultaneously"
        );
        assert_eq!(
            set_str("daemonize", "maybe").unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
        assert!(set_str("protected-mode", "NO").is_ok_and(|c| !c.protected_mode));
    }

    #[test]
    fn special_directives() {
        assert_eq!(
            get_str(&set_str("save", "10 1 20 2").unwrap(), "save"),
            "10 1 20 2"
        );
        assert_eq!(get_str(&set_str("save", "").unwrap(), "save"), "");
        assert_eq!(
            set_str("save", "10").unwrap_err(),
            "Invalid save parameters"
        );
        assert_eq!(
            set_str("save", "0 1").unwrap_err(),
            "Invalid save parameters"
        );
        assert_eq!(
            get_str(
                &set_str("notify-keyspace-events", "KEA").unwrap(),
                "notify-keyspace-events"
            ),
            "AKE"
        );
        assert_eq!(
            get_str(
                &set_str("notify-keyspace-events", "Ex").unwrap(),
                "notify-keyspace-events"
            ),
            "xE"
        );
        assert!(set_str("notify-keyspace-events", "Q").is_err());
        assert_eq!(
            get_str(
                &set_str("client-output-buffer-limit", "replica 1mb 2k 3").unwrap(),
                "client-output-buffer-limit"
            ),
            "normal 0 0 0 slave 1048576 2000 3 pubsub 33554432 8388608 60"
        );
        assert!(set_str("client-output-buffer-limit", "master 1 1 1").is_err());
        assert_eq!(
            get_str(&set_str("bind", "127.0.0.1 ::1").unwrap(), "bind"),
            "127.0.0.1 ::1"
        );
        assert_eq!(
            set_str("bind", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17").unwrap_err(),
            "Too many bind addresses specified."
        );
        assert_eq!(
            get_str(&set_str("replicaof", "10.0.0.1 6380").unwrap(), "replicaof"),
            "10.0.0.1 6380"
        );
        assert!(set_str("replicaof", "no one").unwrap().replicaof.is_none());
        assert_eq!(
            set_str("replicaof", "h x").unwrap_err(),
            "Invalid master port"
        );
        assert_eq!(
            get_str(
                &set_str("latency-tracking-info-percentiles", "50.5000 99 1e1").unwrap(),
                "latency-tracking-info-percentiles"
            ),
            "50.5 99 10"
        );
    }

    #[test]
    fn save_lines_accumulate_while_loading() {
        let d = lookup(b"save").expect("save");
        let mut c = Config::default();
        let mut ctx = SetCtx::loading(PathBuf::from("/"));
        set(d, &mut c, &["5".into(), "5".into()], &mut ctx).unwrap();
        set(d, &mut c, &["6".into(), "6".into()], &mut ctx).unwrap();
        assert_eq!(get(d, &c), "5 5 6 6");
        set(d, &mut c, &["".into()], &mut ctx).unwrap();
        assert_eq!(get(d, &c), "");
        set(d, &mut c, &["7".into(), "7".into()], &mut ctx).unwrap();
        assert_eq!(get(d, &c), "7 7");
    }

    #[test]
    fn keyspace_event_flags() {
        assert_eq!(
            keyspace_events_to_string(keyspace_events_from_str("KEA").unwrap()),
            "AKE"
        );
        assert_eq!(
            keyspace_events_from_str("g$"),
            Some(notify_bits::GENERIC | notify_bits::STRING)
        );
        assert_eq!(keyspace_events_from_str(""), Some(0));
    }

    #[test]
    fn strtoll_like_c() {
        assert_eq!(strtoll(b" +5", 10), Some(5));
        assert_eq!(strtoll(b"5 ", 10), None);
        assert_eq!(strtoll(b"", 10), Some(0));
        assert_eq!(strtoll(b" ", 10), None);
        assert_eq!(strtoll(b"777", 8), Some(511));
        assert_eq!(strtoll(b"99999999999999999999", 10), Some(i64::MAX));
    }

    #[test]
    fn memory_formatting() {
        assert_eq!(format_memory(0), "0");
        assert_eq!(format_memory(1024), "1kb");
        assert_eq!(format_memory(3 << 20), "3mb");
        assert_eq!(format_memory(2 << 30), "2gb");
        assert_eq!(format_memory(1000), "1000");
    }

    #[test]
    fn proc_title_template() {
        assert!(check_proc_title_template("{title} {listen-addr} {server-mode}").is_ok());
        assert!(check_proc_title_template("{foo}").is_err());
        assert!(check_proc_title_template("x {title").is_err());
        assert!(check_proc_title_template(" ").is_err());
        assert!(check_proc_title_template("{title}").is_err());
        assert!(check_proc_title_template("redis {{x}").is_ok());
    }
}
