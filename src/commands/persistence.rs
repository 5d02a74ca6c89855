//! Persistence commands: SAVE, BGSAVE and BGREWRITEAOF (LASTSAVE is with the server
//! commands; DEBUG RELOAD with DEBUG). The work is in `persistence::save` and
//! `persistence::aof::rewrite`.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::persistence::save::{self, Kind};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        0,
        0,
        0,
        save_cmd,
        "server",
        "Synchronously save the dataset to disk"
    ),
    cmd!(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        0,
        0,
        0,
        bgsave,
        "server",
        "Asynchronously save the dataset to disk"
    ),
    cmd!(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        0,
        0,
        0,
        bgrewriteaof,
        "server",
        "Asynchronously rewrite the append-only file"
    ),
];

const IN_PROGRESS: &str = "Background save already in progress";

/// The kind of the running snapshot (Redis's `server.child_type`).
fn running(ctx: &Ctx) -> Option<Kind> {
    ctx.state.rdb.bgsave.as_ref().map(|b| b.kind)
}

fn save_cmd(ctx: &mut Ctx) {
    // An AOF rewrite does not stop SAVE (Redis checks only for an RDB child).
    if running(ctx) == Some(Kind::Rdb) {
        ctx.reply().err(IN_PROGRESS);
        return;
    }
    let path = std::path::PathBuf::from(&ctx.state.cfg.dbfilename);
    let result = save::save_sync(ctx.state, &path);
    save::record_sync_save(ctx.state, &result);
    match result {
        Ok(()) => ctx.reply().ok(),
        Err(_) => ctx.reply().error("ERR"),
    }
}

fn bgsave(ctx: &mut Ctx) {
    let schedule = match ctx.argv.len() {
        1 => false,
        2 if ctx.argv[1].eq_ignore_ascii_case(b"schedule") => true,
        _ => {
            ctx.syntax_error();
            return;
        }
    };
    // Redis's bgsaveCommand: a running RDB save refuses, SCHEDULE or not; behind an AOF
    // rewrite only SCHEDULE (or EXEC) waits; inside EXEC the save is deferred to the cron.
    let in_exec = crate::executor::watch::in_exec(ctx.client);
    match running(ctx) {
        Some(Kind::Rdb) => {
            ctx.reply().err(IN_PROGRESS);
            return;
        }
        Some(Kind::AofRewrite) if !schedule && !in_exec => {
            ctx.reply().err("Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
            return;
        }
        _ => {}
    }
    if in_exec || running(ctx).is_some() {
        ctx.state.rdb.scheduled = true;
        ctx.reply().simple("Background saving scheduled");
        return;
    }
    match save::start_bgsave(ctx.state) {
        Ok(()) if ctx.state.rdb.bgsave.is_some() => ctx.reply().simple("Background saving started"),
        _ => ctx.reply().error("ERR"),
    }
}

fn bgrewriteaof(ctx: &mut Ctx) {
    use crate::persistence::aof::rewrite;
    let in_exec = crate::executor::watch::in_exec(ctx.client);
    match running(ctx) {
        Some(Kind::AofRewrite) => {
            ctx.reply()
                .err("Background append only file rewriting already in progress");
        }
        Some(Kind::Rdb) => {
            rewrite::schedule(ctx.state);
            ctx.reply()
                .simple("Background append only file rewriting scheduled");
        }
        None if in_exec => {
            rewrite::schedule(ctx.state);
            ctx.reply()
                .simple("Background append only file rewriting scheduled");
        }
        None => match rewrite::start(ctx.state) {
            Ok(()) => ctx
                .reply()
                .simple("Background append only file rewriting started"),
            Err(_) => ctx.reply().err(
                "Can't execute an AOF background rewriting. Please check the server logs for more information.",
            ),
        },
    }
}
