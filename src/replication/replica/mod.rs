//! The replica side of replication: the link to our master, the handshake, the full-sync
//! payload, and applying the master's stream.
//!
//! # The link task
//!
//! While `state.repl.link` is set this server is a replica. One task on the server's thread
//! (`run`, spawned by `server`) owns the socket to the master and walks Redis's states:
//! connect, handshake (PING, AUTH, REPLCONF listening-port / ip-address / capa, PSYNC),
//! then either a full sync (`+FULLRESYNC`, see [`fullsync`]: the RDB payload is loaded
//! through a file or straight from the socket while clients are served) or a partial one
//! (`+CONTINUE`), and finally the stream. Any failure is logged with Redis's wording and
//! retried a second later, forever, until REPLICAOF changes or removes the link.
//!
//! A master that does not know PSYNC (it answers with an error other than the transient
//! `-NOMASTERLINK` / `-LOADING`) gets the old `SYNC`, whose reply is the payload itself. As
//! in Redis, such a master is "pre-PSYNC": our history then has no replication id, offsets
//! count from the start of its stream, and it gets no periodic `REPLCONF ACK` (an old master
//! would answer it with an error inside our stream), only the ACKs it asks for (GETACK) and
//! the one after a diskless payload.
//!
//! REPLICAOF never waits for the task: it replaces or removes the `Link` and wakes the old
//! link's `Notify`. Every await of the task races that wake-up, and every executor borrow
//! re-checks the link's generation, so a stale session never touches the new state.
//!
//! # The stream and the offset
//!
//! The master's stream is applied through an ordinary executor client of kind `Master`
//! (replies discarded, exempt from READONLY and MASTERDOWN). A replica never propagates its
//! own writes (see `State::propagate`); instead each command received from the master is
//! re-emitted verbatim into the propagation stream (`Propagator::emit_raw`) before it runs.
//! A master always sends canonical multibulk RESP, so the re-encoding is byte-identical:
//! `propagation.offset` is therefore exactly the master's offset, and our backlog and our own
//! replicas see the master's stream, which is what lets them PSYNC across a failover.
//!
//! As in Redis, a server turned into a replica offers its own history to the new master
//! (PSYNC <our replid> <our offset + 1>), so a demoted master can continue. A full sync
//! keeps offering it until the old data is actually flushed or swapped out (a transfer that
//! breaks earlier leaves the data, and the history, intact); from then until the load
//! completes PSYNC asks `? -1`.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use slab::Slab;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::commands::{flags, CommandSpec, Ctx};
use crate::executor::client::{Client, ClientKind};
use crate::executor::state::State;
use crate::executor::Executor;
use crate::persistence::load::Progress;
use crate::protocol::{Batch, ParserLimits, RequestParser};

mod fullsync;

use fullsync::Origin;

/// Where the link to the master is (ROLE's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkState {
    /// Waiting to (re)connect.
    #[default]
    Connect,
    /// TCP connection in progress.
    Connecting,
    /// PING / AUTH / REPLCONF / PSYNC exchange.
    Handshake,
    /// Receiving the full-sync payload.
    Sync,
    /// Applying the stream.
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// Progress of a full-sync payload (INFO master_sync_*).
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    /// Payload size; None for a diskless (`$EOF:`) payload of unknown size.
    pub total: Option<u64>,
    pub read: u64,
    /// Unix ms of the last payload bytes.
    pub last_io_ms: u64,
}

/// The link to our master, while this server is a replica.
#[derive(Debug, Default)]
pub struct Link {
    /// The master's address, as given (INFO master_host keeps its spelling).
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Identifies this link: a session belongs to the link it started with.
    generation: u64,
    /// Woken when this link is replaced or removed.
    wake: Rc<Notify>,
    /// Executor slot of the master client while connected.
    pub master_slot: Option<usize>,
    /// Unix ms of the last bytes from the master (master_last_io_seconds_ago, repl-timeout).
    pub last_io_ms: u64,
    /// Unix ms when the link went down; 0 if it never was up.
    pub down_since_ms: u64,
    /// Stream bytes received (slave_read_repl_offset), applied or not.
    pub read_offset: u64,
    /// Database the master's stream has selected (kept across reconnections, since after
    /// `+CONTINUE` the master does not SELECT again).
    pub master_db: usize,
    /// Set by REPLCONF GETACK: send an ACK once the current batch is applied.
    pub ack_requested: bool,
    pub transfer: Option<Transfer>,
    /// Our dataset is `master_replid` up to `propagation.offset` (Redis's cached master):
    /// PSYNC may continue it. False from the moment a full sync replaces the data until it
    /// completes.
    pub history_valid: bool,
    /// The master came with SYNC, not PSYNC (Redis's CLIENT_PRE_PSYNC): no periodic ACKs.
    pub pre_psync: bool,
    /// Progress of a swapdb load that keeps serving the old data (INFO async_loading and
    /// loading_*); `state.rdb.loading` stays unset then, so commands are not refused.
    pub async_loading: Option<Progress>,
}

impl Link {
    fn new(host: &str, port: u16, history_valid: bool) -> Link {
        static GENERATION: AtomicU64 = AtomicU64::new(1);
        Link {
            host: host.to_string(),
            port,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            history_valid,
            ..Link::default()
        }
    }

    fn is_up(&self) -> bool {
        self.state == LinkState::Connected
    }
}

/// INFO replication's replica-only fields (master_host ... replica_announced), in Redis's
/// order; nothing while this server is a master.
pub fn info_fields(state: &State, out: &mut crate::commands::info::Out) {
    let Some(l) = state.repl.link.as_ref() else {
        return;
    };
    let now = state.now_ms;
    let up = l.is_up();
    // Without a master or a cached one, Redis reports 1.
    let (applied, read) = if up {
        (state.propagation.offset, l.read_offset)
    } else if l.history_valid {
        (state.propagation.offset, state.propagation.offset)
    } else {
        (1, 1)
    };
    out.f("master_host", &l.host)
        .f("master_port", l.port)
        .f("master_link_status", if up { "up" } else { "down" })
        .f(
            "master_last_io_seconds_ago",
            if up {
                (now.saturating_sub(l.last_io_ms) / 1000) as i64
            } else {
                -1
            },
        )
        .f(
            "master_sync_in_progress",
            (l.state == LinkState::Sync) as u8,
        )
        .f("slave_read_repl_offset", read)
        .f("slave_repl_offset", applied);
    if let (LinkState::Sync, Some(t)) = (l.state, l.transfer.as_ref()) {
        let total = t.total.map_or(-1, |n| n as i64);
        // Redis divides by the size: -1 before the header (printed "-0.00"), 0 for a
        // payload framed by an end mark (no percentage).
        let perc = match t.total {
            Some(n) if n > 0 => format!("{:.2}", t.read as f64 * 100.0 / n as f64),
            Some(_) => "0.00".to_string(),
            None => "-0.00".to_string(),
        };
        out.f("master_sync_total_bytes", total)
            .f("master_sync_read_bytes", t.read)
            .f(
                "master_sync_left_bytes",
                t.total.map_or(-1, |n| n as i64 - t.read as i64),
            )
            .f("master_sync_perc", perc)
            .f(
                "master_sync_last_io_seconds_ago",
                now.saturating_sub(t.last_io_ms) / 1000,
            );
    }
    if !up {
        let since = if l.down_since_ms == 0 {
            -1
        } else {
            (now.saturating_sub(l.down_since_ms) / 1000) as i64
        };
        out.f("master_link_down_since_seconds", since);
    }
    out.f("slave_priority", state.cfg.replica_priority)
        .f("slave_read_only", state.cfg.replica_read_only as u8)
        .f("replica_announced", state.cfg.replica_announced as u8);
}

/// The database our replication stream is in, for the `repl-stream-db` aux field of the
/// RDB files we write (saves, and full syncs of our own replicas). A replica's stream is its
/// master's, which selects databases on its own: the master client's database is the one
/// that counts (Redis's rdbPopulateSaveInfo uses `server.master->db`), not the propagator's.
pub fn stream_db(state: &State) -> Option<usize> {
    match state.repl.link.as_ref() {
        Some(l) if l.history_valid => Some(l.master_db),
        _ => state.propagation.stream_db(),
    }
}

/// The progress of a replica's async load (repl-diskless-load swapdb serving the old data),
/// for INFO's async_loading and loading_* fields.
pub fn async_loading(state: &State) -> Option<&Progress> {
    state
        .repl
        .link
        .as_ref()
        .and_then(|l| l.async_loading.as_ref())
}

/// Admission during an async load (Redis's processCommand): commands flagged
/// `no-async-loading` (REPLICAOF, SAVE...), or an EXEC queuing one, get `-LOADING` while the
/// old data is still served. Returns true when the command was refused.
pub fn rejects_async_loading(state: &State, client: &mut Client, spec: &CommandSpec) -> bool {
    if async_loading(state).is_none() {
        return false;
    }
    refuse_flagged(
        client,
        spec,
        flags::NO_ASYNC_LOADING,
        "LOADING Redis is loading the dataset in memory",
    )
}

/// Answers `err` when `spec`, or for EXEC one of the queued commands, carries `flag`, as
/// Redis's processCommand checks a command and a transaction alike. Returns true when the
/// command was refused.
fn refuse_flagged(client: &mut Client, spec: &CommandSpec, flag: u32, err: &str) -> bool {
    let flagged = spec.has(flag)
        || (spec.full_name == "exec" && crate::executor::watch::queued_flags(client) & flag != 0);
    if flagged {
        client.out.error(err);
    }
    flagged
}

/// Whether our link to the master is up (a replica serves PSYNC only then).
pub fn link_is_up(state: &State) -> bool {
    state.repl.link.as_ref().is_some_and(Link::is_up)
}

/// REPLCONF GETACK from our master: answered with REPLCONF ACK <offset> on the link once the
/// batch that carried it has been applied.
pub fn on_getack(ctx: &mut Ctx) {
    if ctx.client.kind != ClientKind::Master {
        return;
    }
    if let Some(l) = ctx.state.repl.link.as_mut() {
        l.ack_requested = true;
    }
}

/// ROLE on a replica: ["slave", host, port, state, offset].
pub fn role(ctx: &mut Ctx) {
    let (host, port, st, off) = match ctx.state.repl.link.as_ref() {
        Some(l) => (
            l.host.clone(),
            l.port,
            l.state.name(),
            if l.is_up() {
                ctx.state.propagation.offset as i64
            } else {
                -1
            },
        ),
        None => (String::new(), 0, "none", -1),
    };
    let out = ctx.reply();
    out.array(5);
    out.bulk(b"slave");
    out.bulk(host.as_bytes());
    out.int(port as i64);
    out.bulk(st.as_bytes());
    out.int(off);
}

/// Admission for a replica (Redis's processCommand): `-READONLY` for writes from anyone but
/// our master while replica-read-only is set. Returns true when the command was refused.
pub fn rejects_write(state: &State, client: &mut Client, spec: &CommandSpec) -> bool {
    if state.is_master || client.kind == ClientKind::Master || !state.cfg.replica_read_only {
        return false;
    }
    refuse_flagged(
        client,
        spec,
        flags::WRITE,
        "READONLY You can't write against a read only replica.",
    )
}

/// Admission for a replica: `-MASTERDOWN` for commands not flagged `stale` while the link is
/// down and replica-serve-stale-data is off. Returns true when the command was refused.
pub fn rejects_stale(state: &State, client: &mut Client, spec: &CommandSpec) -> bool {
    let Some(l) = state.repl.link.as_ref() else {
        return false;
    };
    if l.is_up()
        || state.cfg.replica_serve_stale_data
        || client.kind == ClientKind::Master
        || spec.has(flags::STALE)
    {
        return false;
    }
    client
        .out
        .error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
    true
}

/// Makes this server a replica of `host:port` at startup (replicaof in the config): before
/// the dataset loads, so that expired keys are kept for the master's DELs.
pub fn init(state: &mut State) {
    if let Some((host, port)) = state.cfg.replicaof.clone() {
        state.repl.link = Some(Link::new(&host, port, false));
        state.is_master = false;
        set_log_role(false);
    }
}

/// REPLICAOF <host> <port> (Redis's replicationSetMaster). The caller handled the "already
/// connected" case.
pub fn set_master(state: &mut State, clients: &mut Slab<Option<Client>>, host: &str, port: u16) {
    let was_master = state.is_master;
    // A replica switching masters keeps its history if it had one (Redis caches the master
    // client); a master offers its own (replicationCacheMasterUsingMyself).
    let (history_valid, old_db) = match state.repl.link.take() {
        Some(old) => {
            close_link(&old, clients);
            (old.history_valid, Some(old.master_db))
        }
        None => (true, None),
    };
    if was_master {
        tracing::info!("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
    }
    let mut link = Link::new(host, port, history_valid);
    if history_valid {
        // The stream continues where ours is: the old master's database for a replica
        // (Redis keeps the cached master client's db), our own stream's for a master.
        link.master_db = old_db.unwrap_or_else(|| state.propagation.stream_db().unwrap_or(0));
    }
    state.repl.link = Some(link);
    state.is_master = false;
    set_log_role(false);
    state.cfg.replicaof = Some((host.to_string(), port));
}

/// REPLICAOF NO ONE (Redis's replicationUnsetMaster): keeps the data, starts a new history
/// whose previous id is the master's, disconnects our replicas so they PSYNC again.
pub fn unset_master(state: &mut State, clients: &mut Slab<Option<Client>>) {
    let Some(old) = state.repl.link.take() else {
        return;
    };
    tracing::info!("Connection with master lost.");
    close_link(&old, clients);
    if old.history_valid {
        tracing::info!("Discarding previously cached master state.");
    }
    shift_replication_id(state);
    disconnect_replicas(state, clients);
    state.is_master = true;
    set_log_role(true);
    state.cfg.replicaof = None;
    state.propagation.reset_db();
    state.repl.no_replicas_since_ms = state.now_ms;
}

/// The role letter of log lines: M for a master, S for a replica.
fn set_log_role(master: bool) {
    crate::server::log::ROLE.store(if master { b'M' } else { b'S' }, Ordering::Relaxed);
}

/// Redis's shiftReplicationId: the current id becomes the previous one, valid up to our
/// offset; a new random id continues.
fn shift_replication_id(state: &mut State) {
    state.master_replid2 = std::mem::replace(
        &mut state.master_replid,
        State::random_hex40(&mut state.rng),
    );
    state.repl.second_replid_offset = state.propagation.offset as i64 + 1;
    tracing::warn!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        state.master_replid2,
        state.repl.second_replid_offset,
        state.master_replid
    );
}

/// Wakes the link's session (so it ends) and drops its master client.
fn close_link(link: &Link, clients: &mut Slab<Option<Client>>) {
    link.wake.notify_one();
    if let Some(slot) = link.master_slot {
        if let Some(Some(c)) = clients.get_mut(slot) {
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

/// Closes every replica of ours (their stream is about to change history).
fn disconnect_replicas(state: &State, clients: &mut Slab<Option<Client>>) {
    for r in &state.repl.replicas {
        if let Some(Some(c)) = clients.get_mut(r.slot) {
            c.close_asap = true;
            c.notify.notify_one();
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
enum Fail {
    /// The link was replaced or removed: end quietly.
    Cancelled,
    /// The established link broke (EOF, CLIENT KILL): logged by `end_session`.
    Lost,
    /// Logged at warning level, then retried.
    Error(String),
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        // Redis prints strerror(): drop Rust's " (os error N)" suffix.
        let text = e.to_string();
        let text = match text.rfind(" (os error ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        Fail::Error(format!("Error condition on socket for SYNC: {text}"))
    }
}

type Res<T> = Result<T, Fail>;

/// The link task: runs sessions while this server is a replica, forever.
pub async fn run(exec: Rc<RefCell<Executor>>) {
    // Startup: wait for the dataset, then adopt the history the file carried (Redis
    // restores repl-id / repl-offset from the RDB so a restarted replica can continue).
    while exec.borrow().state.rdb.loading.is_some() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let mut ex = exec.borrow_mut();
        let state = &mut ex.state;
        let info = state.rdb.loaded_repl.clone();
        if let (Some(l), Some(id), Some(off)) = (state.repl.link.as_mut(), info.replid, info.offset)
        {
            if id.len() == 40 && off >= 0 {
                l.history_valid = true;
                l.master_db = info.stream_db.unwrap_or(0).max(0) as usize;
                state.master_replid = id;
                state.propagation.offset = off as u64;
            }
        }
    }
    loop {
        let target = {
            let ex = exec.borrow();
            ex.state
                .repl
                .link
                .as_ref()
                .map(|l| (l.host.clone(), l.port, l.generation, l.wake.clone()))
        };
        let Some((host, port, generation, wake)) = target else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut master_slot = None;
        let result = session(&exec, &host, port, generation, &wake, &mut master_slot).await;
        let retry = end_session(&exec, generation, master_slot, result);
        if retry {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = wake.notified() => {}
            }
        }
    }
}

/// Cleans up after a session; returns whether the same link is still wanted (retry).
fn end_session(
    exec: &RefCell<Executor>,
    generation: u64,
    master_slot: Option<usize>,
    result: Res<()>,
) -> bool {
    let mut ex = exec.borrow_mut();
    if let Some(slot) = master_slot {
        // Keep the stream's database for a partial resync.
        let db = ex.clients.get(slot).and_then(|c| c.as_ref()).map(|c| c.db);
        ex.unregister(slot);
        if let (Some(db), Some(l)) = (db, ex.state.repl.link.as_mut()) {
            if l.generation == generation {
                l.master_db = db;
            }
        }
    }
    let now = crate::util::now_ms();
    let Some(l) = ex.state.repl.link.as_mut() else {
        return false;
    };
    if l.generation != generation {
        return false;
    }
    match result {
        Err(Fail::Cancelled) => return false,
        Err(Fail::Error(msg)) => tracing::warn!("{msg}"),
        Err(Fail::Lost) | Ok(()) => {}
    }
    if l.is_up() {
        l.down_since_ms = now;
        tracing::info!("Connection with master lost.");
        if l.history_valid {
            tracing::info!("Caching the disconnected master state.");
        }
    }
    l.state = LinkState::Connect;
    l.master_slot = None;
    l.transfer = None;
    l.ack_requested = false;
    true
}

/// Sets the link's state if the link is still ours; Cancelled otherwise.
fn with_link<R>(
    exec: &RefCell<Executor>,
    generation: u64,
    f: impl FnOnce(&mut Link) -> R,
) -> Res<R> {
    let mut ex = exec.borrow_mut();
    match ex.state.repl.link.as_mut() {
        Some(l) if l.generation == generation => Ok(f(l)),
        _ => Err(Fail::Cancelled),
    }
}

/// Runs `fut` unless the link is cancelled first or `timeout` passes.
async fn guarded<T>(
    wake: &Notify,
    timeout: Duration,
    what: &str,
    fut: impl Future<Output = std::io::Result<T>>,
) -> Res<T> {
    tokio::select! {
        r = tokio::time::timeout(timeout, fut) => match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Fail::Error(format!("Timeout {what}"))),
        },
        _ = wake.notified() => Err(Fail::Cancelled),
    }
}

/// The socket to the master and the bytes read but not consumed yet.
struct Conn {
    sock: TcpStream,
    inbuf: BytesMut,
    timeout: Duration,
}

impl Conn {
    /// Reads more input within repl-timeout (`what` names the wait in the timeout error);
    /// Ok(0) on EOF.
    async fn read_more(&mut self, wake: &Notify, what: &str) -> Res<usize> {
        if self.inbuf.capacity() - self.inbuf.len() < 8 * 1024 {
            self.inbuf.reserve(16 * 1024);
        }
        guarded(
            wake,
            self.timeout,
            what,
            self.sock.read_buf(&mut self.inbuf),
        )
        .await
    }

    /// Reads more input; Err on EOF.
    async fn fill(&mut self, wake: &Notify, what: &str) -> Res<usize> {
        let n = self.read_more(wake, what).await?;
        if n == 0 {
            return Err(Fail::Error(format!(
                "Master closed the connection while {what}"
            )));
        }
        Ok(n)
    }

    /// One line without its CRLF (or bare LF).
    async fn line(&mut self, wake: &Notify, what: &str) -> Res<String> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.inbuf) {
                let line = self.inbuf.split_to(i + 1);
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                return Ok(String::from_utf8_lossy(text).into_owned());
            }
            if self.inbuf.len() > 64 * 1024 {
                return Err(Fail::Error(format!(
                    "Protocol error from master while {what}: line too long"
                )));
            }
            self.fill(wake, what).await?;
        }
    }

    async fn send(&mut self, wake: &Notify, args: &[&[u8]]) -> Res<()> {
        let mut buf = BytesMut::new();
        crate::executor::propagate::encode(&mut buf, args);
        guarded(
            wake,
            self.timeout,
            "sending to master",
            self.sock.write_all(&buf),
        )
        .await
    }

    /// Sends a handshake command and reads its one-line reply.
    async fn command(&mut self, wake: &Notify, args: &[&[u8]]) -> Res<String> {
        self.send(wake, args).await?;
        let what = format!(
            "receiving the reply to {}",
            String::from_utf8_lossy(args[0]).to_uppercase()
        );
        self.line(wake, &what).await
    }
}

/// One connection to the master: handshake, sync, stream until it breaks.
async fn session(
    exec: &Rc<RefCell<Executor>>,
    host: &str,
    port: u16,
    generation: u64,
    wake: &Notify,
    master_slot: &mut Option<usize>,
) -> Res<()> {
    tracing::info!("Connecting to MASTER {host}:{port}");
    let timeout = Duration::from_secs(exec.borrow().state.cfg.repl_timeout.max(1) as u64);
    with_link(exec, generation, |l| l.state = LinkState::Connecting)?;
    let sock = guarded(
        wake,
        timeout,
        "connecting to the MASTER",
        TcpStream::connect((host, port)),
    )
    .await?;
    let _ = sock.set_nodelay(true);
    tracing::info!("MASTER <-> REPLICA sync started");
    with_link(exec, generation, |l| l.state = LinkState::Handshake)?;
    let mut conn = Conn {
        sock,
        inbuf: BytesMut::with_capacity(16 * 1024),
        timeout,
    };
    tracing::info!("Non blocking connect for SYNC fired the event.");
    let reply = conn.command(wake, &[b"PING"]).await?;
    if reply.starts_with('-')
        && !reply.starts_with("-NOAUTH")
        && !reply.starts_with("-NOPERM")
        && !reply.starts_with("-ERR operation not permitted")
    {
        return Err(Fail::Error(format!(
            "Error reply to PING from master: '{reply}'"
        )));
    }
    tracing::info!("Master replied to PING, replication can continue...");
    let (auth, user, listening_port, announce_ip) = {
        let ex = exec.borrow();
        let cfg = &ex.state.cfg;
        let lport = if cfg.replica_announce_port != 0 {
            cfg.replica_announce_port as u16
        } else {
            ex.state.tcp_port
        };
        (
            cfg.masterauth.clone(),
            cfg.masteruser.clone(),
            lport,
            cfg.replica_announce_ip.clone(),
        )
    };
    if !auth.is_empty() {
        let reply = if user.is_empty() {
            conn.command(wake, &[b"AUTH", auth.as_bytes()]).await?
        } else {
            conn.command(wake, &[b"AUTH", user.as_bytes(), auth.as_bytes()])
                .await?
        };
        if let Some(e) = reply.strip_prefix('-') {
            return Err(Fail::Error(format!("Unable to AUTH to MASTER: {}", e)));
        }
    }
    let port_s = listening_port.to_string();
    let reply = conn
        .command(wake, &[b"REPLCONF", b"listening-port", port_s.as_bytes()])
        .await?;
    if let Some(e) = reply.strip_prefix('-') {
        tracing::info!(
            "(Non critical) Master does not understand REPLCONF listening-port: {}",
            e
        );
    }
    if !announce_ip.is_empty() {
        let reply = conn
            .command(wake, &[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])
            .await?;
        if let Some(e) = reply.strip_prefix('-') {
            tracing::info!(
                "(Non critical) Master does not understand REPLCONF ip-address: {}",
                e
            );
        }
    }
    let reply = conn
        .command(wake, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    if let Some(e) = reply.strip_prefix('-') {
        tracing::info!(
            "(Non critical) Master does not understand REPLCONF capa: {}",
            e
        );
    }
    // PSYNC: continue our history if we have one.
    let (replid, offset) = {
        let ex = exec.borrow();
        let valid = ex.state.repl.link.as_ref().is_some_and(|l| l.history_valid);
        if valid {
            (
                ex.state.master_replid.clone(),
                (ex.state.propagation.offset + 1).to_string(),
            )
        } else {
            ("?".to_string(), "-1".to_string())
        }
    };
    if replid == "?" {
        tracing::info!("Partial resynchronization not possible (no cached master)");
    } else {
        tracing::info!("Trying a partial resynchronization (request {replid}:{offset}).");
    }
    conn.send(wake, &[b"PSYNC", replid.as_bytes(), offset.as_bytes()])
        .await?;
    let reply = loop {
        // The master may send newlines to keep the link alive before it replies.
        let line = conn.line(wake, "receiving the PSYNC reply").await?;
        if !line.is_empty() {
            break line;
        }
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut it = rest.split_whitespace();
        let (Some(id), Some(off)) = (it.next(), it.next().and_then(|o| o.parse::<u64>().ok()))
        else {
            return Err(Fail::Error(format!(
                "Master replied with wrong +FULLRESYNC syntax: {reply}"
            )));
        };
        tracing::info!("Full resync from master: {id}:{off}");
        let origin = Origin::Psync {
            replid: id.to_string(),
            offset: off,
        };
        fullsync::full_sync(exec, generation, wake, &mut conn, origin).await?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        partial_sync(exec, generation, rest.trim())?;
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(Fail::Error(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        )));
    } else {
        // Redis's PSYNC_NOT_SUPPORTED: anything else, error or not, means "use SYNC".
        if reply.starts_with("-ERR") {
            tracing::info!("Master does not support PSYNC or is in error state (reply: {reply})");
        } else {
            tracing::warn!("Unexpected reply to PSYNC from master: {reply}");
        }
        tracing::info!("Retrying with SYNC...");
        guarded(
            wake,
            conn.timeout,
            "sending to master",
            conn.sock.write_all(b"SYNC\r\n"),
        )
        .await?;
        fullsync::full_sync(exec, generation, wake, &mut conn, Origin::Sync).await?;
    }
    stream(exec, generation, wake, conn, master_slot).await
}

/// `+CONTINUE [replid]`: our history goes on; a new id means the master failed over, so
/// the old one becomes our previous id (Redis's psync2 id switch).
fn partial_sync(exec: &RefCell<Executor>, generation: u64, new_id: &str) -> Res<()> {
    let mut ex = exec.borrow_mut();
    let ex = &mut *ex;
    match ex.state.repl.link.as_ref() {
        Some(l) if l.generation == generation => {}
        _ => return Err(Fail::Cancelled),
    }
    tracing::info!("Successful partial resynchronization with master.");
    let state = &mut ex.state;
    if let Some(l) = state.repl.link.as_mut() {
        // It answered PSYNC, whatever it did before.
        l.pre_psync = false;
    }
    if new_id.len() == 40 && new_id != state.master_replid {
        state.master_replid2 = std::mem::replace(&mut state.master_replid, new_id.to_string());
        state.repl.second_replid_offset = state.propagation.offset as i64 + 1;
        tracing::warn!("Master replication ID changed to {}", state.master_replid);
        disconnect_replicas(state, &mut ex.clients);
    }
    crate::replication::master::ensure_backlog(state);
    tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    Ok(())
}

/// Applies the master's stream until the link breaks.
async fn stream(
    exec: &Rc<RefCell<Executor>>,
    generation: u64,
    wake: &Notify,
    mut conn: Conn,
    master_slot: &mut Option<usize>,
) -> Res<()> {
    let notify = Rc::new(Notify::new());
    let (slot, timeout_ms) = {
        let mut ex = exec.borrow_mut();
        let ex = &mut *ex;
        let addr = conn
            .sock
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let laddr = conn
            .sock
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let fd = {
            use std::os::unix::io::AsRawFd;
            conn.sock.as_raw_fd() as i64
        };
        let slot = ex
            .register(addr, laddr, false, fd, notify.clone())
            .map_err(|_| Fail::Error("Can't create the master client: max clients".into()))?;
        *master_slot = Some(slot);
        let now = crate::util::now_ms();
        let offset = ex.state.propagation.offset;
        let db = match ex.state.repl.link.as_mut() {
            Some(l) if l.generation == generation => {
                l.state = LinkState::Connected;
                l.master_slot = Some(slot);
                l.last_io_ms = now;
                l.read_offset = offset;
                l.master_db
            }
            _ => return Err(Fail::Cancelled),
        };
        if let Some(Some(c)) = ex.clients.get_mut(slot) {
            c.kind = ClientKind::Master;
            c.authenticated = true;
            c.out.enabled = false;
            c.db = db.min(ex.state.dbs.len().saturating_sub(1));
        }
        (slot, ex.state.cfg.repl_timeout.max(1) as u64 * 1000)
    };
    let mut input = StreamInput::new(generation, slot);
    // Whatever followed the payload or the +CONTINUE line is stream already.
    if !conn.inbuf.is_empty() {
        let n = conn.inbuf.len();
        input.apply(exec, n, &mut conn.inbuf)?;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ack = with_link(exec, generation, |l| std::mem::take(&mut l.ack_requested))?;
        if ack {
            send_ack(exec, wake, &mut conn).await?;
        }
        if conn.inbuf.capacity() - conn.inbuf.len() < 8 * 1024 {
            conn.inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            r = conn.sock.read_buf(&mut conn.inbuf) => {
                let n = r?;
                if n == 0 {
                    return Err(Fail::Lost);
                }
                input.apply(exec, n, &mut conn.inbuf)?;
            }
            _ = tick.tick() => {
                let (last, pre_psync) = with_link(exec, generation, |l| (l.last_io_ms, l.pre_psync))?;
                if crate::util::now_ms().saturating_sub(last) > timeout_ms {
                    return Err(Fail::Error(
                        "MASTER timeout: no data nor PING received...".into(),
                    ));
                }
                if !pre_psync {
                    send_ack(exec, wake, &mut conn).await?;
                }
            }
            _ = wake.notified() => return Err(Fail::Cancelled),
            _ = notify.notified() => {
                if exec.borrow().closing_now(slot) {
                    return Err(Fail::Lost);
                }
            }
        }
    }
}

async fn send_ack(exec: &RefCell<Executor>, wake: &Notify, conn: &mut Conn) -> Res<()> {
    let off = exec.borrow().state.propagation.offset.to_string();
    conn.send(wake, &[b"REPLCONF", b"ACK", off.as_bytes()])
        .await
}

/// Parses and runs what the master sent; each command is re-emitted verbatim into our own
/// stream first (see the module docs on offsets).
///
/// A transaction counts only once complete: from MULTI until its EXEC (or DISCARD) the
/// commands are merely queued by the master client, so they join our stream and our offset
/// together with the EXEC (Redis's replica does not advance `reploff` inside MULTI either).
/// Otherwise a link lost mid-transaction would drop the queued commands while our offset
/// claimed them, and the PSYNC would skip them; and a save or a full sync of our own
/// replicas taken in between would pair the image with an offset it does not contain.
#[allow(clippy::too_many_arguments)]
/// The master's stream as it is read: parsed, passed on verbatim to our own stream (a
/// transaction only once complete, so its offset counts once), and executed by the master
/// client in `slot` of link `generation`.
struct StreamInput {
    generation: u64,
    slot: usize,
    parser: RequestParser,
    batch: Batch,
    /// The commands of a MULTI whose EXEC/DISCARD has not arrived yet.
    open_tx: Vec<Vec<bytes::Bytes>>,
}

impl StreamInput {
    fn new(generation: u64, slot: usize) -> StreamInput {
        StreamInput {
            generation,
            slot,
            parser: RequestParser::new(),
            batch: Batch::new(),
            open_tx: Vec::new(),
        }
    }

    /// Applies the `n` bytes just read into `inbuf` (and whatever was left unparsed).
    fn apply(&mut self, exec: &RefCell<Executor>, n: usize, inbuf: &mut BytesMut) -> Res<()> {
        let mut ex = exec.borrow_mut();
        let now = crate::util::now_ms();
        match ex.state.repl.link.as_mut() {
            Some(l) if l.generation == self.generation => {
                l.last_io_ms = now;
                l.read_offset += n as u64;
            }
            _ => return Err(Fail::Cancelled),
        }
        // Killed (CLIENT KILL TYPE master) since the last read: the session ends here, and
        // nothing more may count as applied.
        if ex.closing_now(self.slot) {
            return Err(Fail::Lost);
        }
        let limits = ParserLimits {
            max_bulk_len: None,
            auth_required: false,
        };
        let res = self.parser.parse(inbuf, &mut self.batch, &limits);
        ex.note_input(self.slot, n, inbuf.len());
        if !self.batch.is_empty() {
            for i in 0..self.batch.len() {
                let argv = self.batch.command(i);
                let name = argv.first().map_or(&b""[..], |a| &a[..]);
                if self.open_tx.is_empty() && !name.eq_ignore_ascii_case(b"multi") {
                    ex.state.propagation.emit_raw(argv);
                    continue;
                }
                self.open_tx.push(argv.to_vec());
                if name.eq_ignore_ascii_case(b"exec") || name.eq_ignore_ascii_case(b"discard") {
                    for cmd in self.open_tx.drain(..) {
                        ex.state.propagation.emit_raw(&cmd);
                    }
                }
            }
            ex.execute(self.slot, &mut self.batch);
            let db = match ex.clients.get_mut(self.slot) {
                Some(Some(c)) => {
                    c.out.buf.clear();
                    Some(c.db)
                }
                _ => None,
            };
            // The database the master's stream is in, for our RDB files (repl-stream-db).
            if let (Some(db), Some(l)) = (db, ex.state.repl.link.as_mut()) {
                l.master_db = db;
            }
            // Nothing a master sends blocks or pauses; never let leftovers replay.
            self.batch.clear();
        }
        res.map_err(|e| Fail::Error(format!("Protocol error from MASTER: {}", e.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn state() -> State {
        State::new(Config::default())
    }

    #[test]
    fn link_states_have_redis_names() {
        assert_eq!(LinkState::Connect.name(), "connect");
        assert_eq!(LinkState::Connecting.name(), "connecting");
        assert_eq!(LinkState::Handshake.name(), "handshake");
        assert_eq!(LinkState::Sync.name(), "sync");
        assert_eq!(LinkState::Connected.name(), "connected");
    }

    #[test]
    fn set_and_unset_master_shift_the_replication_id() {
        let mut st = state();
        let mut clients = Slab::new();
        st.propagation.offset = 100;
        let id = st.master_replid.clone();
        set_master(&mut st, &mut clients, "127.0.0.1", 6379);
        assert!(!st.is_master);
        assert_eq!(st.cfg.replicaof, Some(("127.0.0.1".into(), 6379)));
        let l = st.repl.link.as_ref().expect("link");
        assert!(l.history_valid, "a master offers its own history");
        assert_eq!(l.state, LinkState::Connect);
        assert!(!link_is_up(&st));
        unset_master(&mut st, &mut clients);
        assert!(st.is_master);
        assert!(st.repl.link.is_none());
        assert_eq!(st.master_replid2, id);
        assert_ne!(st.master_replid, id);
        assert_eq!(st.repl.second_replid_offset, 101);
        assert_eq!(st.cfg.replicaof, None);
    }

    #[test]
    fn info_fields_while_down() {
        let mut st = state();
        let mut clients = Slab::new();
        set_master(&mut st, &mut clients, "h", 1);
        if let Some(l) = st.repl.link.as_mut() {
            l.history_valid = false;
        }
        let mut text = String::new();
        info_fields(&st, &mut crate::commands::info::Out(&mut text));
        let want = "master_host:h\r\nmaster_port:1\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:1\r\nslave_repl_offset:1\r\nmaster_link_down_since_seconds:-1\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n";
        assert_eq!(text, want);
    }

    /// An open transaction joins the offset (and our own stream) only with its EXEC; the
    /// stream's database follows the master client's.
    #[test]
    fn open_transaction_counts_only_once_complete() {
        let cfg = Config {
            replicaof: Some(("h".into(), 1)),
            ..Config::default()
        };
        let exec = RefCell::new(Executor::new(cfg));
        let (generation, slot) = {
            let mut ex = exec.borrow_mut();
            init(&mut ex.state);
            ex.state.propagation.enabled = true;
            let slot = ex
                .register(String::new(), String::new(), false, -1, Rc::default())
                .expect("slot");
            if let Some(Some(c)) = ex.clients.get_mut(slot) {
                c.kind = ClientKind::Master;
                c.out.enabled = false;
            }
            let l = ex.state.repl.link.as_mut().expect("link");
            l.history_valid = true;
            (l.generation, slot)
        };
        let enc = |cmds: &[&[&str]]| {
            let mut b = BytesMut::new();
            for c in cmds {
                crate::executor::propagate::encode(&mut b, c);
            }
            b
        };
        let mut input = StreamInput::new(generation, slot);
        let mut inbuf = BytesMut::new();
        let mut feed = |bytes: BytesMut| {
            let n = bytes.len();
            inbuf.extend_from_slice(&bytes);
            input.apply(&exec, n, &mut inbuf).expect("apply");
            let ex = exec.borrow();
            (ex.state.propagation.offset, stream_db(&ex.state))
        };
        let head = enc(&[&["SELECT", "2"], &["SET", "a", "1"]]);
        let open = enc(&[&["MULTI"], &["SET", "b", "2"]]);
        let rest = enc(&[&["EXEC"], &["SELECT", "3"]]);
        let (h, o, r) = (head.len() as u64, open.len() as u64, rest.len() as u64);
        assert_eq!(feed(head), (h, Some(2)));
        // Queued, not applied: the offset stays before MULTI.
        assert_eq!(feed(open), (h, Some(2)));
        // A partial command is not counted either.
        let mut tail = rest.clone();
        let partial = tail.split_off(5);
        assert_eq!(feed(tail), (h, Some(2)));
        assert_eq!(feed(partial), (h + o + r, Some(3)));
        let mut ex = exec.borrow_mut();
        assert_eq!(ex.state.propagation.take().len() as u64, h + o + r);
        assert!(ex.state.dbs[2].contains(b"a") && ex.state.dbs[2].contains(b"b"));
    }

    #[test]
    fn readonly_and_masterdown_admission() {
        let mut st = state();
        let mut clients = Slab::new();
        let set = crate::commands::lookup(b"set").expect("set");
        let info = crate::commands::lookup(b"info").expect("info");
        let ping = crate::commands::lookup(b"ping").expect("ping");
        let mut c = Client::new(1, String::new(), String::new(), false, Rc::default(), 0);
        assert!(!rejects_write(&st, &mut c, set), "a master takes writes");
        set_master(&mut st, &mut clients, "h", 1);
        assert!(rejects_write(&st, &mut c, set));
        assert!(c
            .out
            .buf
            .ends_with(b"-READONLY You can't write against a read only replica.\r\n"));
        assert!(!rejects_stale(&st, &mut c, ping), "serve-stale-data yes");
        st.cfg.replica_serve_stale_data = false;
        assert!(rejects_stale(&st, &mut c, ping));
        assert!(!rejects_stale(&st, &mut c, info), "INFO is flagged stale");
        c.kind = ClientKind::Master;
        assert!(!rejects_write(&st, &mut c, set));
        assert!(!rejects_stale(&st, &mut c, ping));
    }
}
