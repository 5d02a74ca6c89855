//! The replica side of replication (being written): the handshake with a master, the
//! full-sync payload, and applying the master's stream.

use crate::executor::state::State;

/// The link to our master, while this server is a replica.
#[derive(Debug, Default)]
pub struct Link {}

/// INFO replication's replica-only fields (master_host ... replica_announced), in Redis's
/// order; nothing while this server is a master.
pub fn info_fields(_state: &State, _out: &mut crate::commands::info::Out) {}

/// Whether our link to the master is up (a replica serves PSYNC only then).
pub fn link_is_up(_state: &State) -> bool {
    false
}

/// REPLCONF GETACK from our master: answered with REPLCONF ACK <offset> on the link.
pub fn on_getack(_ctx: &mut crate::commands::Ctx) {}

/// ROLE on a replica: ["slave", host, port, state, offset].
pub fn role(ctx: &mut crate::commands::Ctx) {
    let out = ctx.reply();
    out.array(5);
    out.bulk(b"slave");
    out.bulk(b"");
    out.int(0);
    out.bulk(b"none");
    out.int(-1);
}
