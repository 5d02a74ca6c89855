//! The master side: REPLCONF, the PSYNC decision, full syncs and feeding the stream.
//!
//! # PSYNC
//!
//! Redis's `masterTryPartialResynchronization`: a replica asking for `<replid> <offset>`
//! continues (`+CONTINUE <replid>` then the backlog from `offset`) when the id is ours, or is
//! our previous id and `offset <= second_replid_offset`, and the backlog still holds
//! `offset`. Anything else — `PSYNC ? -1` included — is a full sync.
//!
//! # Full sync, diskless, from the fork-free snapshot
//!
//! A replica needing a full sync waits `repl-diskless-sync-delay` seconds so that others
//! arriving meanwhile share one snapshot (or less, once `repl-diskless-sync-max-replicas`
//! are waiting). Then, in one executor turn: the pending stream is fed out, the stream is
//! made to re-SELECT, every waiting replica gets `+FULLRESYNC <replid> <offset>` and
//! `$EOF:<mark>`, and the snapshot starts. The offset and the image are therefore the same
//! instant: stream bytes produced from then on are held per replica and appended after its
//! payload's closing mark. The snapshot's chunks go straight into each replica's output
//! buffer (the pump waits while a replica's output is above `SEND_BUFFER`), so a full sync
//! needs no file and no memory beyond the snapshot's own bound and that window.
//!
//! # Full sync through a file
//!
//! With repl-diskless-sync no, for SYNC, or for a replica that did not announce `capa eof`,
//! the snapshot goes to `dbfilename` as a BGSAVE (the replicas get `+FULLRESYNC` when it
//! starts, so again image and offset coincide) and the finished file is streamed to them in
//! chunks under the same `SEND_BUFFER` back-pressure (`send_rdb_file`), then the held stream.
//!
//! # Health
//!
//! The cron PINGs replicas every repl-ping-replica-period (the PING is part of the stream),
//! closes online replicas silent for repl-timeout and replicas whose pending output (output
//! buffer plus held stream) passes client-output-buffer-limit replica, and frees the backlog
//! after repl-backlog-ttl without replicas. min-replicas-to-write and WAIT count replicas by
//! their REPLCONF ACKs.

use bytes::{Bytes, BytesMut};
use rand::Rng;

use super::backlog::Backlog;
use super::{ReplicaInfo, ReplicaState};
use crate::commands::Ctx;
use crate::executor::client::ClientKind;
use crate::executor::Executor;

/// Output a replica may have pending before the snapshot pump waits for it to drain.
pub const SEND_BUFFER: usize = 8 * 1024 * 1024;

/// What a connection announced with REPLCONF before PSYNC.
#[derive(Debug, Clone, Default)]
pub struct ReplConf {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

/// Moves the stream produced since the last call into the backlog and to every replica.
pub fn feed(exec: &mut Executor) {
    let state = &mut exec.state;
    // The stream's consumers are the AOF and, once a backlog exists, replication; without
    // either (tests reading the stream directly) it is left where it is.
    let aof = crate::persistence::aof::enabled(state);
    if !state.propagation.enabled || (state.repl.backlog.is_none() && !aof) {
        return;
    }
    let data = state.propagation.take();
    if data.is_empty() {
        return;
    }
    let data: Bytes = data.freeze();
    if aof {
        crate::persistence::aof::feed(state, &data);
    }
    if state.repl.backlog.is_none() {
        return;
    }
    if let Some(b) = state.repl.backlog.as_mut() {
        b.append(&data);
    }
    for r in &mut state.repl.replicas {
        match r.state {
            ReplicaState::Online => {
                if let Some(Some(c)) = exec.clients.get_mut(r.slot) {
                    c.out.buf.extend_from_slice(&data);
                    c.notify.notify_one();
                }
            }
            ReplicaState::SendBulk => r.held.extend_from_slice(&data),
            // Its image will be taken later: what happens before it is in the image.
            ReplicaState::WaitBgsave => {}
        }
    }
}

/// Creates the backlog and turns the stream on (the first replica's arrival).
pub fn ensure_backlog(exec_state: &mut crate::executor::state::State) {
    if exec_state.repl.backlog.is_none() {
        let size = exec_state.cfg.repl_backlog_size as usize;
        exec_state.repl.backlog = Some(Backlog::new(size, exec_state.propagation.offset));
        exec_state.propagation.enabled = true;
        exec_state.propagation.reset_db();
        // Redis's createReplicationBacklog: a backlog created from scratch starts a new
        // history (new id, no previous id), so nobody continues into it by mistake.
        if exec_state.is_master {
            exec_state.master_replid =
                crate::executor::state::State::random_hex40(&mut exec_state.rng);
            exec_state.master_replid2 = "0".repeat(40);
            exec_state.repl.second_replid_offset = -1;
        }
    }
}

/// REPLCONF <option> <value> ... (Redis's replconfCommand).
pub fn replconf(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    if argc.is_multiple_of(2) {
        ctx.syntax_error();
        return;
    }
    let mut i = 1;
    while i < argc {
        let opt = ctx.argv[i].to_ascii_lowercase();
        let val = ctx.argv[i + 1].clone();
        match opt.as_slice() {
            b"listening-port" => {
                match crate::util::parse_i64(&val).and_then(|p| u16::try_from(p).ok()) {
                    Some(p) => ctx.client.replconf.listening_port = p,
                    None => {
                        ctx.reply().err("value is not an integer or out of range");
                        return;
                    }
                }
            }
            b"ip-address" => {
                ctx.client.replconf.ip_address = Some(String::from_utf8_lossy(&val).into_owned());
            }
            b"capa" => {
                if val.eq_ignore_ascii_case(b"eof") {
                    ctx.client.replconf.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    ctx.client.replconf.capa_psync2 = true;
                }
            }
            b"ack" => {
                // No reply, ever; ignored unless the sender is one of our replicas.
                if ctx.client.kind == ClientKind::Replica {
                    if let Some(off) = crate::util::parse_i64(&val) {
                        let now = ctx.state.now_ms;
                        let id = ctx.client.id;
                        if let Some(r) = ctx.state.repl.replica_mut(id) {
                            if off as u64 > r.ack_offset {
                                r.ack_offset = off as u64;
                            }
                            r.ack_time_ms = now;
                        }
                        crate::executor::blocking::serve_waits(ctx.state, ctx.clients);
                    }
                }
                return;
            }
            b"getack" => {
                // Answered by replicas (see `replica`); a master ignores it.
                super::replica::on_getack(ctx);
                return;
            }
            b"rdb-only" | b"rdb-filter-only" => {}
            _ => {
                let msg = format!(
                    "Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(&ctx.argv[i])
                );
                ctx.reply().err(&msg);
                return;
            }
        }
        i += 2;
    }
    ctx.reply().ok();
}

/// PSYNC <replid> <offset> and SYNC (`sync` true: the old protocol, always a full sync with
/// a `$<len>` payload — served as diskless EOF framing is not understood by such replicas,
/// so they are refused for now).
pub fn psync(ctx: &mut Ctx, sync: bool) {
    if ctx.client.kind == ClientKind::Replica {
        return;
    }
    if !ctx.state.is_master && !super::replica::link_is_up(ctx.state) {
        ctx.reply()
            .error("NOMASTERLINK Can't SYNC while not connected with my master");
        return;
    }
    if !ctx.client.out.buf.is_empty() {
        ctx.reply()
            .err("SYNC and PSYNC are invalid with pending output");
        return;
    }
    let requested = if sync {
        None
    } else {
        let Some(off) = crate::util::parse_i64(&ctx.argv[2]) else {
            ctx.reply().err("value is not an integer or out of range");
            return;
        };
        Some((ctx.argv[1].clone(), off))
    };
    ensure_backlog(ctx.state);
    let disk = sync || !ctx.client.replconf.capa_eof || !ctx.state.cfg.repl_diskless_sync;
    let ip = ctx.client.replconf.ip_address.clone().unwrap_or_else(|| {
        ctx.client
            .addr
            .rsplit_once(':')
            .map_or(String::new(), |(ip, _)| ip.to_string())
    });
    let mut info = ReplicaInfo {
        client_id: ctx.client.id,
        slot: ctx.client.slot,
        state: ReplicaState::WaitBgsave,
        ack_offset: 0,
        ack_time_ms: ctx.state.now_ms,
        ip,
        port: ctx.client.replconf.listening_port,
        capa_eof: ctx.client.replconf.capa_eof,
        capa_psync2: ctx.client.replconf.capa_psync2,
        held: BytesMut::new(),
        eof_mark: [0; 40],
        disk,
        old_sync: sync,
        soft_limit_since: 0,
        obuf: 0,
    };
    ctx.client.kind = ClientKind::Replica;
    if let Some((replid, offset)) = requested {
        if let Some(data) = partial_possible(ctx.state, &replid, offset) {
            let reply = if info.capa_psync2 {
                format!("+CONTINUE {}\r\n", ctx.state.master_replid)
            } else {
                "+CONTINUE\r\n".to_string()
            };
            ctx.client.out.buf.extend_from_slice(reply.as_bytes());
            ctx.client.out.buf.extend_from_slice(&data);
            info.state = ReplicaState::Online;
            info.ack_offset = (offset - 1).max(0) as u64;
            ctx.state.repl.sync_partial_ok += 1;
            tracing::info!(
                "Partial resynchronization request from {}:{} accepted. Sending {} bytes of backlog starting from offset {}.",
                info.ip,
                info.port,
                data.len(),
                offset
            );
            ctx.state.repl.replicas.push(info);
            return;
        }
        let reasons = &mut ctx.state.repl.full_sync_reasons;
        let why = if replid.as_ref() == b"?" {
            reasons.new_replica += 1;
            "the replica has no replication history (PSYNC ?)".to_string()
        } else {
            ctx.state.repl.sync_partial_err += 1;
            let ours = replid.as_ref() == ctx.state.master_replid.as_bytes()
                || (replid.as_ref() == ctx.state.master_replid2.as_bytes()
                    && offset <= ctx.state.repl.second_replid_offset);
            if ours {
                reasons.offset_out_of_backlog += 1;
                format!("offset {offset} is outside the backlog")
            } else {
                reasons.replid_mismatch += 1;
                format!(
                    "replication id {} is not ours",
                    String::from_utf8_lossy(&replid)
                )
            }
        };
        tracing::info!(
            "Full resync requested by replica {}:{}: {why}",
            info.ip,
            info.port
        );
    } else {
        ctx.state.repl.full_sync_reasons.new_replica += 1;
        tracing::info!(
            "Full resync requested by replica {}:{}: SYNC",
            info.ip,
            info.port
        );
    }
    ctx.state.repl.sync_full += 1;
    ctx.state
        .repl
        .waiting_since_ms
        .get_or_insert(ctx.state.now_ms);
    ctx.state.repl.replicas.push(info);
}

/// The backlog bytes from `offset` if a partial resync from (`replid`, `offset`) is possible.
fn partial_possible(
    state: &crate::executor::state::State,
    replid: &[u8],
    offset: i64,
) -> Option<Vec<u8>> {
    let ours = replid == state.master_replid.as_bytes();
    let previous =
        replid == state.master_replid2.as_bytes() && offset <= state.repl.second_replid_offset;
    if !(ours || previous) || offset < 1 {
        return None;
    }
    state.repl.backlog.as_ref()?.copy_from(offset as u64)
}

/// Periodic duties: PING replicas, start pending full syncs, free an unused backlog.
pub fn cron(exec: &mut Executor) {
    let now = exec.state.now_ms;
    let state = &mut exec.state;
    if state.repl.backlog.is_none() {
        return;
    }
    if state.repl.replicas.is_empty() {
        if state.repl.no_replicas_since_ms == 0 {
            state.repl.no_replicas_since_ms = now;
        }
        let ttl = state.cfg.repl_backlog_ttl;
        if ttl > 0 && now - state.repl.no_replicas_since_ms >= ttl * 1000 && state.is_master {
            // Redis frees the backlog and changes the replication id (a new history).
            state.repl.backlog = None;
            state.propagation.enabled = false;
            tracing::info!(
                "Replication backlog freed after {ttl} seconds without connected replicas."
            );
        }
        return;
    }
    state.repl.no_replicas_since_ms = 0;
    drop_unhealthy_replicas(exec);
    let state = &mut exec.state;
    let period = state.cfg.repl_ping_replica_period.max(1) as u64 * 1000;
    if state.is_master && now.saturating_sub(state.repl.last_ping_ms) >= period {
        state.repl.last_ping_ms = now;
        state.propagation.emit_raw(&[Bytes::from_static(b"PING")]);
    }
    feed(exec);
    maybe_start_full_sync(exec);
}

/// Closes replicas that stopped acknowledging (repl-timeout) or whose output passed
/// client-output-buffer-limit replica (hard, or soft for longer than its seconds).
fn drop_unhealthy_replicas(exec: &mut Executor) {
    let now = exec.state.now_ms;
    let timeout_ms = exec.state.cfg.repl_timeout as u64 * 1000;
    let limit = exec.state.cfg.client_output_buffer_limit[crate::config::obuf_class::REPLICA];
    for r in &mut exec.state.repl.replicas {
        let Some(Some(c)) = exec.clients.get_mut(r.slot) else {
            continue;
        };
        r.obuf = c.out.buf.len();
        if r.state == ReplicaState::Online && now.saturating_sub(r.ack_time_ms) > timeout_ms {
            tracing::warn!(
                "Disconnecting timedout replica (streaming sync): {}:{}",
                r.ip,
                r.port
            );
            c.close_asap = true;
            c.notify.notify_one();
            continue;
        }
        if limit.reached(
            c.out.buf.len() as u64 + r.held.len() as u64,
            &mut r.soft_limit_since,
            now / 1000,
        ) {
            tracing::warn!(
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                r.client_id,
                c.addr
            );
            exec.state.repl.dropped_for_obuf += 1;
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

/// Replicas that acknowledged at least `offset` (Redis's replicationCountAcksByOffset).
pub fn acked(state: &crate::executor::state::State, offset: u64) -> usize {
    state
        .repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= offset)
        .count()
}

/// WAIT numreplicas timeout.
pub fn wait(ctx: &mut Ctx) {
    if !ctx.state.is_master {
        ctx.reply().err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        return;
    }
    let Some(numreplicas) = crate::util::parse_i64(&ctx.argv[1]) else {
        ctx.reply().err("value is not an integer or out of range");
        return;
    };
    let Some(timeout) = crate::util::parse_i64(&ctx.argv[2]) else {
        ctx.reply().err("timeout is not an integer or out of range");
        return;
    };
    if timeout < 0 {
        ctx.reply().err("timeout is negative");
        return;
    }
    let offset = ctx.client.woff;
    let acked = acked(ctx.state, offset);
    if acked as i64 >= numreplicas || crate::executor::watch::in_exec(ctx.client) {
        ctx.reply().int(acked as i64);
        return;
    }
    let deadline = if timeout == 0 {
        0
    } else {
        ctx.state.now_ms.saturating_add(timeout as u64)
    };
    crate::executor::blocking::block(
        ctx,
        &[],
        deadline,
        crate::executor::blocking::BlockOp::Wait {
            replicas: numreplicas.max(0) as usize,
            offset,
        },
    );
    // Ask every replica for its offset now rather than waiting for its next ACK.
    ctx.state.propagation.emit_raw(&[
        Bytes::from_static(b"REPLCONF"),
        Bytes::from_static(b"GETACK"),
        Bytes::from_static(b"*"),
    ]);
}

/// min-replicas-to-write: whether enough replicas are online with a lag of at most
/// min-replicas-max-lag seconds (Redis's refreshGoodSlavesCount + checkGoodReplicasStatus).
pub fn enough_good_replicas(state: &crate::executor::state::State) -> bool {
    let need = state.cfg.min_replicas_to_write;
    let max_lag = state.cfg.min_replicas_max_lag as u64;
    if need == 0 || max_lag == 0 || !state.is_master {
        return true;
    }
    good_replicas(state) >= need as usize
}

/// Online replicas whose last ACK is at most min-replicas-max-lag seconds old.
pub fn good_replicas(state: &crate::executor::state::State) -> usize {
    let max_lag = state.cfg.min_replicas_max_lag as u64;
    state
        .repl
        .replicas
        .iter()
        .filter(|r| {
            r.state == ReplicaState::Online
                && state.now_ms.saturating_sub(r.ack_time_ms) / 1000 <= max_lag
        })
        .count()
}

/// Starts the snapshot for the replicas waiting for one, once the delay has passed.
fn maybe_start_full_sync(exec: &mut Executor) {
    let state = &mut exec.state;
    let Some(since) = state.repl.waiting_since_ms else {
        return;
    };
    if state.rdb.bgsave.is_some() {
        return;
    }
    let waiting = state
        .repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::WaitBgsave)
        .count();
    if waiting == 0 {
        state.repl.waiting_since_ms = None;
        return;
    }
    // Disk-based syncs start at once (the file serves whoever waits when it starts);
    // diskless ones wait for company.
    let disk = state
        .repl
        .replicas
        .iter()
        .any(|r| r.state == ReplicaState::WaitBgsave && r.disk);
    let delay_ms = state.cfg.repl_diskless_sync_delay as u64 * 1000;
    let max = state.cfg.repl_diskless_sync_max_replicas;
    let enough = max > 0 && waiting as u64 >= max as u64;
    if !disk && !enough && state.now_ms.saturating_sub(since) < delay_ms {
        return;
    }
    state.repl.waiting_since_ms = None;
    // The image and the offset are the same instant: flush the stream first.
    feed(exec);
    let state = &mut exec.state;
    state.propagation.reset_db();
    let offset = state.propagation.offset;
    let replid = state.master_replid.clone();
    let mut targets = Vec::new();
    for r in &mut state.repl.replicas {
        if r.state != ReplicaState::WaitBgsave || r.disk != disk {
            continue;
        }
        if disk {
            // `+FULLRESYNC` now; `$<len>` and the file once the save is done.
            r.state = ReplicaState::SendBulk;
            r.held.clear();
            if let Some(Some(c)) = exec.clients.get_mut(r.slot) {
                if !r.old_sync {
                    c.out
                        .buf
                        .extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
                    c.notify.notify_one();
                }
            }
            targets.push(r.client_id);
            continue;
        }
        let mut mark = [0u8; 40];
        let alphabet = b"0123456789abcdef";
        for b in mark.iter_mut() {
            *b = alphabet[state.rng.gen_range(0..16)];
        }
        r.eof_mark = mark;
        r.state = ReplicaState::SendBulk;
        r.held.clear();
        if let Some(Some(c)) = exec.clients.get_mut(r.slot) {
            c.out
                .buf
                .extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n$EOF:").as_bytes());
            c.out.buf.extend_from_slice(&mark);
            c.out.buf.extend_from_slice(b"\r\n");
            c.notify.notify_one();
        }
        targets.push(r.client_id);
    }
    if disk {
        tracing::info!("Starting BGSAVE for SYNC with target: disk");
        if crate::persistence::save::start_bgsave(&mut exec.state).is_err()
            || exec.state.rdb.bgsave.is_none()
        {
            on_disk_save_done(exec, false);
        }
        return;
    }
    tracing::info!(
        "Starting BGSAVE for SYNC with target: replicas sockets ({} replica(s))",
        targets.len()
    );
    crate::persistence::save::start_snapshot_for_replicas(&mut exec.state, targets);
}

/// A BGSAVE to disk ended: replicas waiting on it are to get `$<len>`, the file and the
/// stream held meanwhile (Redis's updateSlavesWaitingBgsave). Returns the transfer for
/// `send_rdb_file`; on failure the replicas are dropped (they will retry).
pub fn on_disk_save_done(exec: &mut Executor, ok: bool) -> Option<FileTransfer> {
    let targets: Vec<u64> = exec
        .state
        .repl
        .replicas
        .iter()
        .filter(|r| r.disk && r.state == ReplicaState::SendBulk)
        .map(|r| r.client_id)
        .collect();
    if targets.is_empty() {
        return None;
    }
    let file = if ok {
        std::fs::File::open(&exec.state.cfg.dbfilename).ok()
    } else {
        None
    };
    // rdb-del-sync-files: a file that exists only because of replication is removed once
    // opened for sending, when nothing else persists the dataset (Redis's
    // removeRDBUsedToSyncReplicas); the open handle keeps its bytes readable.
    let cfg = &exec.state.cfg;
    if file.is_some()
        && cfg.rdb_del_sync_files
        && cfg.save.is_empty()
        && !cfg.appendonly
        && std::fs::remove_file(&cfg.dbfilename).is_ok()
    {
        tracing::info!(
            "Removing the RDB file used to feed replicas in a persistence-less instance"
        );
    }
    let len = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.len());
    let (Some(file), Some(len)) = (file, len) else {
        tracing::warn!("SYNC failed. BGSAVE child returned an error");
        close_targets(exec, &targets);
        return None;
    };
    send_payload(exec, &targets, format!("${len}\r\n").as_bytes());
    Some(FileTransfer { targets, file })
}

/// A disk-based payload being sent: the file is read in chunks as the replicas' outputs
/// drain, so a full sync never holds the whole file in memory.
pub struct FileTransfer {
    targets: Vec<u64>,
    file: std::fs::File,
}

/// Streams a finished RDB file to the replicas waiting for it, then makes them online.
pub async fn send_rdb_file(
    exec: std::rc::Rc<std::cell::RefCell<Executor>>,
    mut transfer: FileTransfer,
) {
    use std::io::Read;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let ready = {
            let ex = exec.borrow();
            if !any_target_alive(&ex, &transfer.targets) {
                return;
            }
            targets_ready(&ex, &transfer.targets)
        };
        if !ready {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            continue;
        }
        // Page-cache reads of a file just written: microseconds per chunk.
        let n = match transfer.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("Read error sending DB to replica: {e}");
                close_targets(&mut exec.borrow_mut(), &transfer.targets);
                return;
            }
        };
        let mut ex = exec.borrow_mut();
        if n == 0 {
            // `$<len>` framing: nothing closes the payload but its length.
            go_online(&mut ex, &transfer.targets, false);
            return;
        }
        send_payload(&mut ex, &transfer.targets, &buf[..n]);
    }
}

/// Appends a chunk of a full-sync payload to each target replica's output. Returns false
/// when a target's output is above `SEND_BUFFER` (the pump then waits).
pub fn send_payload(exec: &mut Executor, targets: &[u64], chunk: &[u8]) {
    for id in targets {
        let Some(r) = exec.state.repl.replica(*id) else {
            continue;
        };
        if let Some(Some(c)) = exec.clients.get_mut(r.slot) {
            c.out.buf.extend_from_slice(chunk);
            c.notify.notify_one();
        }
    }
}

/// Closes the connections of these replicas (a failed full sync; they will retry).
fn close_targets(exec: &mut Executor, targets: &[u64]) {
    for id in targets {
        let Some(r) = exec.state.repl.replica(*id) else {
            continue;
        };
        if let Some(Some(c)) = exec.clients.get_mut(r.slot) {
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

/// Whether every live target can take more payload now.
pub fn targets_ready(exec: &Executor, targets: &[u64]) -> bool {
    targets.iter().all(|id| {
        exec.state
            .repl
            .replica(*id)
            .and_then(|r| exec.clients.get(r.slot))
            .and_then(|c| c.as_ref())
            .is_none_or(|c| c.out.buf.len() < SEND_BUFFER)
    })
}

/// Whether any target of a replication snapshot is still connected.
pub fn any_target_alive(exec: &Executor, targets: &[u64]) -> bool {
    targets
        .iter()
        .any(|id| exec.state.repl.replica(*id).is_some())
}

/// A diskless payload is complete: closing mark, then the stream held meanwhile.
pub fn finish_payload(exec: &mut Executor, targets: &[u64]) {
    go_online(exec, targets, true);
}

/// The replicas' payload has been queued in full: the `$EOF:` mark when `eof_mark`, then
/// the stream held meanwhile; from now on they receive the live stream.
fn go_online(exec: &mut Executor, targets: &[u64], eof_mark: bool) {
    for id in targets {
        let Some(r) = exec.state.repl.replica_mut(*id) else {
            continue;
        };
        r.state = ReplicaState::Online;
        let held = std::mem::take(&mut r.held);
        if let Some(Some(c)) = exec.clients.get_mut(r.slot) {
            if eof_mark {
                c.out.buf.extend_from_slice(&r.eof_mark);
            }
            c.out.buf.extend_from_slice(&held);
            c.notify.notify_one();
        }
        tracing::info!("Synchronization with replica {}:{} succeeded", r.ip, r.port);
    }
}

/// A replica's connection closed.
pub fn remove_client(exec: &mut Executor, client_id: u64) {
    let repl = &mut exec.state.repl;
    if let Some(i) = repl.replicas.iter().position(|r| r.client_id == client_id) {
        let r = repl.replicas.remove(i);
        tracing::info!("Connection with replica {}:{} lost.", r.ip, r.port);
        // Slots of the remaining replicas are unaffected (slab keys are stable).
    }
}

/// INFO replication's master part: connected_slaves and one line per replica.
pub fn info_replicas(state: &crate::executor::state::State, out: &mut crate::commands::info::Out) {
    out.f("connected_slaves", state.repl.replicas.len());
    if state.cfg.min_replicas_to_write > 0 && state.cfg.min_replicas_max_lag > 0 {
        out.f("min_slaves_good_slaves", good_replicas(state));
    }
    for (i, r) in state.repl.replicas.iter().enumerate() {
        let lag = state.now_ms.saturating_sub(r.ack_time_ms) / 1000;
        out.f(
            &format!("slave{i}"),
            // Redis's fields, then (beyond Redis) the lag in bytes and the output buffer.
            format!(
                "ip={},port={},state={},offset={},lag={},lag_bytes={},obuf={}",
                r.ip,
                r.port,
                r.state.name(),
                r.ack_offset,
                lag,
                state.propagation.offset.saturating_sub(r.ack_offset),
                r.obuf + r.held.len()
            ),
        );
    }
}
