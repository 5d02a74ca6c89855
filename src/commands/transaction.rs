//! Transaction commands: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! The handlers live next to the state they manage, in `executor::watch`: queuing happens
//! in the executor before a command would run, and EXEC's queue is run by `Executor::call`
//! itself so that each queued command gets the full call treatment. This file only declares
//! the commands as Redis 7.0's table does (flags, arity, key positions).

use crate::commands::flags::*;
use crate::commands::{spec, CommandSpec};
use crate::executor::watch;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    spec!("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, [0, 0, 0], watch::multi,
        "transactions", "1.2.0", "Mark the start of a transaction block", "O(1)"),
    spec!("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, [0, 0, 0], watch::exec,
        "transactions", "1.2.0", "Execute all commands issued after MULTI",
        "Depends on commands in the transaction"),
    spec!("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, [0, 0, 0], watch::discard,
        "transactions", "2.0.0", "Discard all commands issued after MULTI",
        "O(N), when N is the number of queued commands"),
    spec!("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, [1, -1, 1], watch::watch,
        "transactions", "2.2.0", "Watch the given keys to determine execution of the MULTI/EXEC block",
        "O(1) for every key."),
    spec!("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, [0, 0, 0], watch::unwatch,
        "transactions", "2.2.0", "Forget about all watched keys", "O(1)"),
];
