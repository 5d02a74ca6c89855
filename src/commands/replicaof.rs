//! REPLICAOF / SLAVEOF: make this server a replica of another one, or a master again.
//!
//! The command only changes `state.repl.link`; the link task (`replication::replica`)
//! notices and connects, so the reply never waits for the network, as in Redis.

use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::executor::client::ClientKind;
use crate::replication::replica;

pub static COMMANDS: &[CommandSpec] = &[
    crate::commands::spec!(
        "replicaof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        [0, 0, 0],
        replicaof,
        "server",
        "5.0.0",
        "Make the server a replica of another instance, or promote it as master.",
        "O(1)"
    ),
    crate::commands::spec!(
        "slaveof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        [0, 0, 0],
        replicaof,
        "server",
        "1.0.0",
        "Make the server a replica of another instance, or promote it as master.",
        "O(1)"
    ),
];

/// Redis's replicaofCommand.
fn replicaof(ctx: &mut Ctx) {
    if ctx.state.cfg.cluster_enabled {
        ctx.reply().err("REPLICAOF not allowed in cluster mode.");
        return;
    }
    if ctx.argv[1].eq_ignore_ascii_case(b"no") && ctx.argv[2].eq_ignore_ascii_case(b"one") {
        if ctx.state.repl.link.is_some() {
            replica::unset_master(ctx.state, ctx.clients);
            tracing::info!(
                "MASTER MODE enabled (user request from '{}')",
                ctx.client.info_line(ctx.state.now_ms)
            );
        }
        ctx.reply().ok();
        return;
    }
    if ctx.client.kind == ClientKind::Replica {
        // It would be disconnected by its own command.
        ctx.reply()
            .err("Command is not valid when client is a replica.");
        return;
    }
    let port = match crate::util::parse_i64(&ctx.argv[2]) {
        Some(p) if (0..=65535).contains(&p) => p as u16,
        _ => {
            ctx.reply().err("Invalid master port");
            return;
        }
    };
    let host = ctx.arg_str(1);
    let same = ctx
        .state
        .repl
        .link
        .as_ref()
        .is_some_and(|l| l.host.eq_ignore_ascii_case(&host) && l.port == port);
    if same {
        tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        ctx.reply()
            .simple("OK Already connected to specified master");
        return;
    }
    replica::set_master(ctx.state, ctx.clients, &host, port);
    tracing::info!(
        "REPLICAOF {}:{} enabled (user request from '{}')",
        host,
        port,
        ctx.client.info_line(ctx.state.now_ms)
    );
    ctx.reply().ok();
}
