//! Configuration: the typed `Config` every layer reads.
//!
//! (The directive table, redis.conf parser, overrides, CONFIG GET/SET/REWRITE build on this.)

/// Log verbosity, Redis's four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// The server's configuration. Field names follow the directives (dashes become underscores).
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub unixsocket: String,
    pub unixsocketperm: u32,
    pub protected_mode: bool,
    pub tcp_backlog: u32,
    /// Idle client timeout in seconds; 0 disables.
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub maxclients: u64,
    /// Empty: no password.
    pub requirepass: String,
    pub daemonize: bool,
    pub pidfile: String,
    pub logfile: String,
    pub loglevel: LogLevel,
    pub databases: usize,
    pub hz: u32,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub notify_keyspace_events: String,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub io_threads: u32,
    pub dir: String,
    pub dbfilename: String,
    /// Save points as (seconds, changes).
    pub save: Vec<(u64, u64)>,
    pub active_expire_effort: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["*".into(), "-::*".into()],
            port: 6379,
            unixsocket: String::new(),
            unixsocketperm: 0,
            protected_mode: true,
            tcp_backlog: 511,
            timeout: 0,
            tcp_keepalive: 300,
            maxclients: 10000,
            requirepass: String::new(),
            daemonize: false,
            pidfile: String::new(),
            logfile: String::new(),
            loglevel: LogLevel::Notice,
            databases: 16,
            hz: 10,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            notify_keyspace_events: String::new(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            io_threads: 1,
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            active_expire_effort: 1,
        }
    }
}
