//! ferrodis: a Redis-compatible server with built-in master–replica replication.
//!
//! Module map (each file is one concept; tricky modules open with a design essay):
//!
//! - [`alloc`]: the counting global allocator behind INFO `used_memory`.
//! - [`cli`]: the `ferrodis-server` command line (config file, `--directive` overrides).
//! - [`config`]: the directive table, redis.conf / TOML parsing, CONFIG GET/SET/REWRITE support.
//! - [`server`]: listeners and accept loops, the connection task, logging, signals, shutdown.
//! - [`protocol`]: RESP — the resumable request parser and the RESP2/RESP3 reply encoder.
//! - [`executor`]: the single owner of the keyspace; runs every command, the cron, expiry.
//! - [`db`]: the keyspace — databases, the Redis-style dict, keys, values.
//! - [`commands`]: the command table and one file per command family.
//! - [`replication`]: master–replica replication — backlog, master side, replica side.
//! - [`persistence`]: RDB files (reader, writer) and the fork-free snapshot, saving, loading.
//! - [`util`]: strict number parsing, glob matching, clocks.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod alloc;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod executor;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod server;
pub mod util;

/// The Redis version we are compatible with and report as `redis_version`: clients and tools
/// gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

/// ferrodis's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
