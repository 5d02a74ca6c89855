//! Replication commands: REPLCONF, PSYNC, SYNC (the master side of the protocol, see
//! `replication::master`), WAIT and ROLE.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::replication::{master, ReplicaState};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        0,
        0,
        0,
        master::replconf,
        "server",
        "An internal command for configuring the replication stream"
    ),
    cmd!(
        "psync",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        0,
        0,
        0,
        psync,
        "server",
        "Internal command used for replication"
    ),
    cmd!(
        "sync",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        0,
        0,
        0,
        sync,
        "server",
        "Internal command used for replication"
    ),
    cmd!(
        "wait",
        3,
        NOSCRIPT,
        0,
        0,
        0,
        master::wait,
        "generic",
        "Wait for the synchronous replication of all the write commands sent in the context of the current connection"
    ),
    cmd!(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST | SENTINEL,
        0,
        0,
        0,
        role,
        "server",
        "Return the role of the instance in the context of replication"
    ),
];

fn psync(ctx: &mut Ctx) {
    master::psync(ctx, false);
}

fn sync(ctx: &mut Ctx) {
    master::psync(ctx, true);
}

/// ROLE: a master lists its online replicas as [ip, port, acknowledged offset].
fn role(ctx: &mut Ctx) {
    if !ctx.state.is_master {
        crate::replication::replica::role(ctx);
        return;
    }
    let offset = ctx.state.propagation.offset as i64;
    let online: Vec<(String, u16, u64)> = ctx
        .state
        .repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Online)
        .map(|r| (r.ip.clone(), r.port, r.ack_offset))
        .collect();
    let out = ctx.reply();
    out.array(3);
    out.bulk(b"master");
    out.int(offset);
    out.array(online.len());
    for (ip, port, off) in online {
        out.array(3);
        out.bulk(ip.as_bytes());
        out.bulk(port.to_string().as_bytes());
        out.bulk(off.to_string().as_bytes());
    }
}
