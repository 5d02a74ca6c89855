//! Persistence commands: SAVE and BGSAVE (LASTSAVE is with the server commands; DEBUG RELOAD
//! with DEBUG). The work is in `persistence::save`.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::persistence::save;

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
];

const IN_PROGRESS: &str = "Background save already in progress";

fn save_cmd(ctx: &mut Ctx) {
    if ctx.state.rdb.bgsave.is_some() {
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
    // Redis's bgsaveCommand: a running RDB save refuses, SCHEDULE or not; inside EXEC the
    // save is deferred to the cron (SCHEDULE would also wait behind an AOF rewrite).
    let _ = schedule;
    if ctx.state.rdb.bgsave.is_some() {
        ctx.reply().err(IN_PROGRESS);
        return;
    }
    if crate::executor::watch::in_exec(ctx.client) {
        ctx.state.rdb.scheduled = true;
        ctx.reply().simple("Background saving scheduled");
        return;
    }
    match save::start_bgsave(ctx.state) {
        Ok(()) if ctx.state.rdb.bgsave.is_some() => ctx.reply().simple("Background saving started"),
        _ => ctx.reply().error("ERR"),
    }
}
