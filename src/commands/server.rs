//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, LASTSAVE, SHUTDOWN, MONITOR,
//! SLOWLOG.
//!
//! FLUSHDB/FLUSHALL propagate themselves even when nothing was removed (Redis forces their
//! propagation, so a replica that diverged still gets emptied) and add the number of removed
//! keys to the dirty counter. SHUTDOWN only records the request and wakes the server loop,
//! which runs the shutdown sequence after the current batch; the caller gets no reply.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{container_handler, CommandSpec, Ctx};
use crate::executor::client::ClientKind;
use crate::executor::state::ShutdownRequest;
use crate::subcmd;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "dbsize",
        1,
        READONLY | FAST,
        0,
        0,
        0,
        dbsize,
        "server",
        "Return the number of keys in the selected database"
    ),
    cmd!(
        "flushdb",
        -1,
        WRITE,
        0,
        0,
        0,
        flushdb,
        "server",
        "Remove all keys from the current database"
    ),
    cmd!(
        "flushall",
        -1,
        WRITE,
        0,
        0,
        0,
        flushall,
        "server",
        "Remove all keys from all databases"
    ),
    cmd!(
        "swapdb",
        3,
        WRITE | FAST,
        0,
        0,
        0,
        swapdb,
        "server",
        "Swaps two Redis databases"
    ),
    cmd!(
        "time",
        1,
        LOADING | STALE | FAST,
        0,
        0,
        0,
        time,
        "server",
        "Return the current server time"
    ),
    cmd!(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        0,
        0,
        0,
        lastsave,
        "server",
        "Get the UNIX time stamp of the last successful save to disk"
    ),
    cmd!(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY,
        0,
        0,
        0,
        shutdown,
        "server",
        "Synchronously save the dataset to disk and then shut down the server"
    ),
    cmd!(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        0,
        0,
        0,
        monitor,
        "server",
        "Listen for all requests received by the server in real time"
    ),
    CommandSpec {
        name: "slowlog",
        full_name: "slowlog",
        arity: -2,
        flags: 0,
        first_key: 0,
        last_key: 0,
        step: 0,
        handler: container_handler,
        group: "server",
        summary: "A container for slow log commands",
        since: "2.2.12",
        complexity: "Depends on subcommand.",
        subcommands: SLOWLOG,
    },
];

static SLOWLOG: &[CommandSpec] = &[
    subcmd!(
        "slowlog|get",
        "get",
        -2,
        ADMIN | LOADING | STALE,
        slowlog_get,
        "server",
        "Get the slow log's entries"
    ),
    subcmd!(
        "slowlog|len",
        "len",
        2,
        ADMIN | LOADING | STALE,
        slowlog_len,
        "server",
        "Get the slow log's length"
    ),
    subcmd!(
        "slowlog|reset",
        "reset",
        2,
        ADMIN | LOADING | STALE,
        slowlog_reset,
        "server",
        "Clear all entries from the slow log"
    ),
    subcmd!(
        "slowlog|help",
        "help",
        2,
        LOADING | STALE,
        slowlog_help,
        "server",
        "Show helpful text about the different subcommands"
    ),
];

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.db().len() as i64;
    ctx.reply().int(n);
}

/// Parses FLUSHDB/FLUSHALL's optional SYNC|ASYNC. Both free synchronously for now: the
/// outcome is the same, only the latency of the call differs.
fn flush_args_ok(ctx: &mut Ctx) -> bool {
    match ctx.argv.len() {
        1 => true,
        2 if ctx.argv[1].eq_ignore_ascii_case(b"sync")
            || ctx.argv[1].eq_ignore_ascii_case(b"async") =>
        {
            true
        }
        _ => {
            ctx.syntax_error();
            false
        }
    }
}

fn flushdb(ctx: &mut Ctx) {
    if !flush_args_ok(ctx) {
        return;
    }
    let db = ctx.client.db;
    ctx.state.signal_flush_db(Some(db));
    let removed = ctx.state.dbs[db].clear();
    ctx.state.dirty += removed as u64;
    ctx.propagate(ctx.argv);
    ctx.reply().ok();
}

fn flushall(ctx: &mut Ctx) {
    if !flush_args_ok(ctx) {
        return;
    }
    ctx.state.signal_flush_db(None);
    // Redis's flushAllDataAndResetRDB: a running BGSAVE is killed, and with save points the
    // empty dataset is saved at once; the flush itself then counts as one more change.
    crate::persistence::save::kill_bgsave(ctx.state);
    let mut removed = 0u64;
    for db in &mut ctx.state.dbs {
        removed += db.clear() as u64;
    }
    ctx.state.dirty += removed;
    if !ctx.state.cfg.save.is_empty() {
        let path = std::path::PathBuf::from(&ctx.state.cfg.dbfilename);
        let result = crate::persistence::save::save_sync(ctx.state, &path);
        crate::persistence::save::record_sync_save(ctx.state, &result);
    }
    ctx.state.dirty += 1;
    ctx.propagate(ctx.argv);
    ctx.reply().ok();
}

/// Parses a database index the way SWAPDB does (a C int), with `err` for non-integers.
fn db_index_arg(ctx: &mut Ctx, i: usize, err: &str) -> Option<i64> {
    match crate::util::parse_i64(&ctx.argv[i]).filter(|n| i32::try_from(*n).is_ok()) {
        Some(n) => Some(n),
        None => {
            ctx.reply().err(err);
            None
        }
    }
}

fn swapdb(ctx: &mut Ctx) {
    let Some(a) = db_index_arg(ctx, 1, "invalid first DB index") else {
        return;
    };
    let Some(b) = db_index_arg(ctx, 2, "invalid second DB index") else {
        return;
    };
    let n = ctx.state.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        ctx.reply().err("DB index is out of range");
        return;
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        ctx.state.signal_swap_db(a, b);
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = ctx.state.dbs.split_at_mut(hi);
        left[lo].swap_contents(&mut right[0]);
    }
    ctx.state.dirty += 1;
    ctx.reply().ok();
}

fn time(ctx: &mut Ctx) {
    let us = crate::util::now_us();
    let out = ctx.reply();
    out.array(2);
    out.bulk_int((us / 1_000_000) as i64);
    out.bulk_int((us % 1_000_000) as i64);
}

fn lastsave(ctx: &mut Ctx) {
    let t = ctx.state.lastsave as i64;
    ctx.reply().int(t);
}

fn shutdown(ctx: &mut Ctx) {
    let mut req = ShutdownRequest {
        save: None,
        now: false,
        force: false,
    };
    let mut abort = false;
    let (mut save, mut nosave) = (false, false);
    for a in &ctx.argv[1..] {
        if a.eq_ignore_ascii_case(b"nosave") {
            nosave = true;
        } else if a.eq_ignore_ascii_case(b"save") {
            save = true;
        } else if a.eq_ignore_ascii_case(b"now") {
            req.now = true;
        } else if a.eq_ignore_ascii_case(b"force") {
            req.force = true;
        } else if a.eq_ignore_ascii_case(b"abort") {
            abort = true;
        } else {
            ctx.syntax_error();
            return;
        }
    }
    let any_flag = save || nosave || req.now || req.force;
    if (abort && any_flag) || (save && nosave) {
        ctx.syntax_error();
        return;
    }
    if abort {
        if ctx.state.shutdown.take().is_some() {
            ctx.reply().ok();
        } else {
            ctx.reply().err("No shutdown in progress.");
        }
        return;
    }
    // An AOF turned on at runtime whose first rewrite still runs holds no dataset yet.
    if !crate::persistence::aof::runtime::shutdown_allowed(ctx.state, req.force) {
        ctx.reply().err("Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    // The final save runs here, so its failure can be reported (Redis's
    // prepareForShutdown); the shutdown sequence then does not save again.
    let want_save = save || (!nosave && !ctx.state.cfg.save.is_empty());
    if want_save && !crate::executor::shutdown::final_save(ctx.state) && !req.force {
        ctx.reply().err("Errors trying to SHUTDOWN. Check logs.");
        return;
    }
    req.save = Some(false);
    ctx.state.shutdown = Some(req);
    ctx.state.wake_server.notify_one();
}

fn monitor(ctx: &mut Ctx) {
    // Replicas and the master link never become monitors; a second MONITOR is a no-op.
    if ctx.client.kind != ClientKind::Normal || ctx.client.monitor {
        return;
    }
    ctx.client.monitor = true;
    ctx.state.monitors.push(ctx.client.id);
    ctx.reply().ok();
}

fn slowlog_get(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    if argc > 3 {
        super::client::subcommand_syntax_error(ctx);
        return;
    }
    let mut count = 10usize;
    if argc == 3 {
        match crate::util::parse_i64(&ctx.argv[2]) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = n as usize,
            _ => {
                ctx.reply()
                    .err("count should be greater than or equal to -1");
                return;
            }
        }
    }
    let n = count.min(ctx.state.slowlog.len());
    let out = &mut ctx.client.out;
    out.array(n);
    for e in ctx.state.slowlog.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time as i64);
        out.int(e.duration_us as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(e.name.as_bytes());
    }
}

fn slowlog_len(ctx: &mut Ctx) {
    let n = ctx.state.slowlog.len() as i64;
    ctx.reply().int(n);
}

fn slowlog_reset(ctx: &mut Ctx) {
    ctx.state.slowlog.clear();
    ctx.reply().ok();
}

fn slowlog_help(ctx: &mut Ctx) {
    ctx.reply().help(&[
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ]);
}
