//! String commands.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::db::Value;
use crate::executor::state::notify;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "get",
        2,
        READONLY | FAST,
        1,
        1,
        1,
        get,
        "string",
        "Returns the string value of a key."
    ),
    cmd!(
        "set",
        -3,
        WRITE | DENYOOM,
        1,
        1,
        1,
        set,
        "string",
        "Sets the string value of a key."
    ),
];

fn get(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    ctx.read_with(&key, |v, out| match v {
        None => out.null(),
        Some(v) => match v.as_str() {
            Some(mut s) => out.bulk(s.bytes()),
            None => out.error(crate::commands::WRONGTYPE),
        },
    });
}

fn set(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    let val = Value::from_bytes(&ctx.argv[2]);
    ctx.expire_if_needed(&key);
    let lru = ctx.state.lru_clock();
    ctx.db().set(&key, val, false, lru);
    ctx.modified(&key, notify::STRING, "set");
    ctx.reply().ok();
}
