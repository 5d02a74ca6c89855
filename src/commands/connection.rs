//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "ping",
        -1,
        FAST | STALE | LOADING,
        0,
        0,
        0,
        ping,
        "connection",
        "Returns the server's liveliness response."
    ),
    cmd!(
        "echo",
        2,
        FAST | STALE | LOADING,
        0,
        0,
        0,
        echo,
        "connection",
        "Returns the given string."
    ),
    cmd!(
        "quit",
        -1,
        FAST | STALE | LOADING | NO_AUTH | ALLOW_BUSY,
        0,
        0,
        0,
        quit,
        "connection",
        "Closes the connection."
    ),
];

fn ping(ctx: &mut Ctx) {
    match ctx.argv.len() {
        1 => ctx.reply().simple("PONG"),
        2 => {
            let a = ctx.argv[1].clone();
            ctx.reply().bulk(&a)
        }
        _ => ctx
            .reply()
            .err("wrong number of arguments for 'ping' command"),
    }
}

fn echo(ctx: &mut Ctx) {
    let a = ctx.argv[1].clone();
    ctx.reply().bulk(&a);
}

fn quit(ctx: &mut Ctx) {
    ctx.reply().ok();
    ctx.client.close_after_reply = true;
}
