//! A replica's full synchronization: receiving the master's RDB payload and loading it, in
//! the three ways repl-diskless-load offers, without ever blocking the executor.
//!
//! # The payload
//!
//! After `+FULLRESYNC` (or the old `SYNC`) the master sends `$<len>` and that many bytes, or
//! `$EOF:<40-byte mark>`, the image and the mark again. [`Framing`] cuts the payload off the
//! socket's input whichever the form; what follows it stays in the input: it is the stream.
//!
//! # Loading
//!
//! Redis's useDisklessLoad decides where the payload goes:
//!
//! - to disk (`disabled`, or `on-empty-db` with keys present): into a temporary file, which
//!   replaces `dbfilename` and is then loaded;
//! - straight from the socket into the live databases (`on-empty-db` with an empty dataset:
//!   nothing is lost if the transfer breaks);
//! - straight from the socket into fresh databases (`swapdb`) while the old ones stay: on
//!   success the new ones replace them, on failure they are simply dropped. When the master's
//!   replication id is the one our data already follows, the old data is a slightly older
//!   view of the same dataset, so it keeps being served meanwhile (Redis 7.0's "async
//!   loading": INFO async_loading:1, only commands flagged `no-async-loading` get -LOADING);
//!   otherwise clients get -LOADING as in the other modes.
//!
//! In every mode the image is decoded by `persistence::load`'s parser thread and inserted by
//! this task in batches between the executor's other work, so clients are answered (PING,
//! INFO, `-LOADING`) during the whole load, and INFO shows the `loading_*` progress. From the
//! socket, the link task moves the bytes to the parser through a bounded channel while it
//! inserts the batches coming back; neither side can stall the other. The master's stream is
//! not read before the load is complete: it waits in the socket.
//!
//! The history changes only once the new data is in (Redis's replicationAttachToNewMaster):
//! our replicas are disconnected, the backlog dropped and the cached master forgotten when the
//! old data is flushed (disk, on-empty-db) or swapped out (swapdb), not before: a transfer that
//! fails earlier leaves us able to PSYNC the old history.
//!
//! replica-lazy-flush: the old data is moved out of the databases and freed on a background
//! thread instead of on the executor's.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

use super::{disconnect_replicas, with_link, Conn, Fail, LinkState, Res, Transfer};
use crate::db::Db;
use crate::executor::state::State;
use crate::executor::Executor;
use crate::persistence::load::{self, Loader, Step};

/// Whom the payload comes from.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    /// `+FULLRESYNC <replid> <offset>`: the data is that history at that offset.
    Psync { replid: String, offset: u64 },
    /// The old SYNC (a master that refused PSYNC): no replication id, and offsets count
    /// from the start of the stream. Redis marks such a master CLIENT_PRE_PSYNC.
    Sync,
}

/// How the payload is framed, and how much of it was taken off the input.
#[derive(Debug)]
pub(super) struct Framing {
    /// `$EOF:<mark>` payloads end with the mark; `$<len>` ones after `len` bytes.
    mark: Option<Vec<u8>>,
    len: u64,
    /// Payload bytes taken so far.
    pub(super) taken: u64,
    /// The last bytes seen, held back while they may be the beginning of the mark.
    held: BytesMut,
    pub(super) done: bool,
}

impl Framing {
    pub(super) fn with_len(len: u64) -> Framing {
        Framing {
            mark: None,
            len,
            taken: 0,
            held: BytesMut::new(),
            done: len == 0,
        }
    }

    pub(super) fn with_mark(mark: &[u8]) -> Framing {
        Framing {
            mark: Some(mark.to_vec()),
            len: 0,
            taken: 0,
            held: BytesMut::new(),
            done: false,
        }
    }

    /// Takes the payload bytes at the front of `input` (possibly none yet); once the payload
    /// is complete `done` is set and whatever follows it stays in `input`.
    pub(super) fn take(&mut self, input: &mut BytesMut) -> Bytes {
        if self.done || input.is_empty() {
            return Bytes::new();
        }
        let Some(mark) = self.mark.as_deref() else {
            let n = (self.len - self.taken).min(input.len() as u64) as usize;
            self.taken += n as u64;
            self.done = self.taken == self.len;
            return input.split_to(n).freeze();
        };
        // The mark may straddle two reads: search the held-back tail and the new bytes.
        let mut window = std::mem::take(&mut self.held);
        if window.is_empty() {
            window = input.split();
        } else {
            window.extend_from_slice(input);
            input.clear();
        }
        if let Some(pos) = memchr::memmem::find(&window, mark) {
            let body = window.split_to(pos).freeze();
            window.advance(mark.len());
            // `input` is empty here: what followed the mark goes back as the stream.
            *input = window;
            self.taken += body.len() as u64;
            self.done = true;
            return body;
        }
        let keep = window.len().min(mark.len() - 1);
        self.held = window.split_off(window.len() - keep);
        self.taken += window.len() as u64;
        window.freeze()
    }
}

/// Redis's useDisklessLoad: swapdb always loads from the socket; on-empty-db only when no
/// data could be lost by a failed transfer.
fn use_diskless_load(state: &State) -> bool {
    match state.cfg.repl_diskless_load.as_str() {
        "swapdb" => true,
        "on-empty-db" => state.total_keys() == 0,
        _ => false,
    }
}

/// Receives the payload announced next on `conn` and replaces our dataset with it; on
/// success our history is `origin`'s. The caller sent PSYNC (or SYNC) and read the reply.
pub(super) async fn full_sync(
    exec: &Rc<RefCell<Executor>>,
    generation: u64,
    wake: &Notify,
    conn: &mut Conn,
    origin: Origin,
) -> Res<()> {
    let now = crate::util::now_ms();
    with_link(exec, generation, |l| {
        l.state = LinkState::Sync;
        l.transfer = Some(Transfer {
            total: None,
            read: 0,
            last_io_ms: now,
        });
    })?;
    // The header: `$<len>` or `$EOF:<mark>`, after any keepalive newlines.
    let header = loop {
        let line = conn.line(wake, "reading the bulk payload header").await?;
        if line.is_empty() {
            with_link(exec, generation, |l| l.last_io_ms = crate::util::now_ms())?;
            continue;
        }
        break line;
    };
    if let Some(e) = header.strip_prefix('-') {
        return Err(Fail::Error(format!(
            "MASTER aborted replication with an error: {e}"
        )));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(Fail::Error(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        )));
    };
    let diskless = use_diskless_load(&exec.borrow().state);
    let to = if diskless { "to parser" } else { "to disk" };
    let framing = if let Some(m) = spec.strip_prefix("EOF:") {
        if m.len() < 40 {
            return Err(Fail::Error(format!("Bad EOF mark from MASTER: '{m}'")));
        }
        tracing::info!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {to}");
        Framing::with_mark(&m.as_bytes()[..40])
    } else {
        let Ok(n) = spec.parse::<u64>() else {
            return Err(Fail::Error(format!(
                "Bad payload length from MASTER: '{spec}'"
            )));
        };
        tracing::info!("MASTER <-> REPLICA sync: receiving {n} bytes from master {to}");
        Framing::with_len(n)
    };
    let usemark = framing.mark.is_some();
    // Redis reports a marked payload's size as 0 (unknown), a length-prefixed one's as is.
    let total = framing.len;
    with_link(exec, generation, |l| {
        if let Some(t) = l.transfer.as_mut() {
            t.total = Some(total);
        }
    })?;
    if diskless {
        load_from_socket(exec, generation, wake, conn, framing, &origin).await?;
    } else {
        load_from_disk(exec, generation, wake, conn, framing).await?;
    }
    adopt_master(exec, generation, &origin)?;
    if usemark {
        // A diskless master puts us online on our first ACK.
        super::send_ack(exec, wake, conn).await?;
    }
    Ok(())
}

/// The disk path: the payload goes to a temporary file that replaces `dbfilename` and is
/// then loaded into the flushed keyspace.
async fn load_from_disk(
    exec: &Rc<RefCell<Executor>>,
    generation: u64,
    wake: &Notify,
    conn: &mut Conn,
    mut framing: Framing,
) -> Res<()> {
    let tmp = format!(
        "temp-{}.{}.rdb",
        crate::util::now_ms() / 1000,
        std::process::id()
    );
    if let Err(e) = receive_to_file(exec, generation, wake, conn, &mut framing, &tmp).await {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let (mut loader, dbfile) = {
        let mut ex = exec.borrow_mut();
        let ex = &mut *ex;
        match ex.state.repl.link.as_ref() {
            Some(l) if l.generation == generation => {}
            _ => {
                let _ = std::fs::remove_file(&tmp);
                return Err(Fail::Cancelled);
            }
        }
        let state = &mut ex.state;
        crate::persistence::save::kill_bgsave(state);
        attach_to_new_master(state, &mut ex.clients);
        tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
        flush_old_data(state);
        let dbfile = std::path::PathBuf::from(&state.cfg.dbfilename);
        if let Err(e) = std::fs::rename(&tmp, &dbfile) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Fail::Error(format!(
                "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
                dbfile.display()
            )));
        }
        tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
        let file = std::fs::File::open(&dbfile).map_err(|e| {
            Fail::Error(format!(
                "Failed trying to load the MASTER synchronization DB from disk: {e}"
            ))
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        state.rdb.loaded_repl = Default::default();
        let loader = Loader::spawn(state, file, size).map_err(|e| {
            Fail::Error(format!(
                "Can't start loading the MASTER synchronization DB: {e}"
            ))
        })?;
        state.rdb.loading = Some(load::progress(size));
        (loader, dbfile)
    };
    let result = drive(exec, generation, wake, conn, &mut loader, None, false).await;
    let mut ex = exec.borrow_mut();
    let state = &mut ex.state;
    state.rdb.loading = None;
    // The file on disk is the dataset: nothing to count as unsaved (unlike the diskless load).
    let result = result.map(|_| loader.applier.finish(state));
    let result = result.map_err(|e| {
        // Half a dataset is no replica of anything.
        flush_old_data(state);
        load_failed(e, "disk")
    });
    // rdb-del-sync-files: with no save points and no AOF the file only existed for the
    // sync (Redis's bg_unlink of the loaded file in readSyncBulkPayload).
    let cfg = &state.cfg;
    if cfg.rdb_del_sync_files
        && cfg.save.is_empty()
        && !cfg.appendonly
        && std::fs::remove_file(&dbfile).is_ok()
    {
        tracing::info!(
            "Removing the RDB file obtained from the master. This replica has persistence disabled"
        );
    }
    result
}

/// Writes the payload to `tmp`; what follows it stays in `conn.inbuf` (the stream).
async fn receive_to_file(
    exec: &RefCell<Executor>,
    generation: u64,
    wake: &Notify,
    conn: &mut Conn,
    framing: &mut Framing,
    tmp: &str,
) -> Res<()> {
    let mut file = std::fs::File::create(tmp).map_err(|e| {
        Fail::Error(format!(
            "Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"
        ))
    })?;
    let werr = |e: std::io::Error| {
        Fail::Error(format!(
            "Write error or short write writing to the DB dump file needed for MASTER <-> REPLICA synchronization: {e}"
        ))
    };
    loop {
        let chunk = framing.take(&mut conn.inbuf);
        if !chunk.is_empty() {
            file.write_all(&chunk).map_err(werr)?;
        }
        update_transfer(exec, generation, framing.taken)?;
        if framing.done {
            file.sync_all().map_err(werr)?;
            return Ok(());
        }
        if conn.read_more(wake, TIMEOUT_WHAT).await? == 0 {
            return Err(lost());
        }
    }
}

/// The diskless path: the payload is parsed as it arrives, into the live databases
/// (on-empty-db) or fresh ones (swapdb).
async fn load_from_socket(
    exec: &Rc<RefCell<Executor>>,
    generation: u64,
    wake: &Notify,
    conn: &mut Conn,
    mut framing: Framing,
    origin: &Origin,
) -> Res<()> {
    let (tx, reader) = load::byte_channel(8);
    let (mut loader, async_load) = {
        let mut ex = exec.borrow_mut();
        let ex = &mut *ex;
        match ex.state.repl.link.as_ref() {
            Some(l) if l.generation == generation => {}
            _ => return Err(Fail::Cancelled),
        }
        let state = &mut ex.state;
        let swap = state.cfg.repl_diskless_load == "swapdb";
        crate::persistence::save::kill_bgsave(state);
        // Serving the old data meanwhile is right only if it is an older view of the same
        // history (Redis compares its replid with the master's).
        let new_id = match origin {
            Origin::Psync { replid, .. } => replid.as_str(),
            Origin::Sync => "",
        };
        let async_load = swap && state.master_replid == new_id;
        if !swap {
            attach_to_new_master(state, &mut ex.clients);
            tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
            flush_old_data(state);
        }
        tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
        state.rdb.loaded_repl = Default::default();
        let mut loader = Loader::spawn(state, reader, framing.len).map_err(|e| {
            Fail::Error(format!(
                "Can't start loading the MASTER synchronization DB: {e}"
            ))
        })?;
        if swap {
            loader.applier.load_into(fresh_dbs(state));
        }
        let progress = load::progress(framing.len);
        if async_load {
            if let Some(l) = state.repl.link.as_mut() {
                l.async_loading = Some(progress);
            }
        } else {
            state.rdb.loading = Some(progress);
        }
        (loader, async_load)
    };
    let mut result = drive(
        exec,
        generation,
        wake,
        conn,
        &mut loader,
        Some((tx, &mut framing)),
        async_load,
    )
    .await;
    if let Ok(consumed) = result {
        // Nothing may sit between the image and the end mark.
        if framing.mark.is_some() && consumed != framing.taken {
            result = Err(Fail::Error(
                "Replication stream EOF marker is broken".to_string(),
            ));
        }
    }
    let mut ex = exec.borrow_mut();
    let ex = &mut *ex;
    let state = &mut ex.state;
    state.rdb.loading = None;
    if let Some(l) = state.repl.link.as_mut() {
        l.async_loading = None;
    }
    let temp = loader.applier.take_temp();
    if let Err(e) = result {
        match temp {
            Some(dbs) => {
                tracing::info!("MASTER <-> REPLICA sync: Discarding temporary DB in background");
                free_in_background(dbs);
            }
            // Half a dataset is no replica of anything.
            None => flush_old_data(state),
        }
        return Err(load_failed(e, "socket"));
    }
    loader.applier.finish(state);
    if let Some(mut dbs) = temp {
        // A snapshot started meanwhile (save points) was of the data being replaced, and
        // its captures live in the dicts about to move.
        crate::persistence::save::kill_bgsave(state);
        attach_to_new_master(state, &mut ex.clients);
        tracing::info!("MASTER <-> REPLICA sync: Swapping active DB with loaded DB");
        // Watchers of the old data see it change; the new data is not a write of anyone's.
        state.signal_flush_db(None);
        for (live, new) in state.dbs.iter_mut().zip(dbs.iter_mut()) {
            live.swap_contents(new);
        }
        tracing::info!("MASTER <-> REPLICA sync: Discarding old DB in background");
        free_in_background(dbs);
    }
    // The dataset changed without a save (Redis counts one change).
    state.dirty += 1;
    Ok(())
}

/// Room for one chunk in the channel to the parser; never without a channel (the `select!`
/// branch is disabled then anyway, but its future is still built).
async fn reserve(
    tx: Option<&mpsc::Sender<Bytes>>,
) -> Result<mpsc::Permit<'_, Bytes>, mpsc::error::SendError<()>> {
    match tx {
        Some(tx) => tx.reserve().await,
        None => std::future::pending().await,
    }
}

/// Runs a load to its end: inserts the parser's batches as they come, and, when `feed` is
/// given, moves the payload from the socket to the parser. Returns the bytes the decoder
/// consumed.
///
/// The bytes travel one chunk at a time: a chunk taken off the socket waits in `pending`
/// until the channel has room, and the socket is not read meanwhile, so a slow parser slows
/// the transfer instead of filling memory. Batches are inserted in the same loop, so the
/// parser never waits on us while we wait on it.
///
/// Once a second the master gets a newline (Redis's replicationSendNewlineToMaster) so that
/// it sees the link alive during a long load; while the payload still arrives, repl-timeout
/// applies to it.
async fn drive(
    exec: &Rc<RefCell<Executor>>,
    generation: u64,
    wake: &Notify,
    conn: &mut Conn,
    loader: &mut Loader,
    feed: Option<(mpsc::Sender<Bytes>, &mut Framing)>,
    async_load: bool,
) -> Res<u64> {
    let (mut tx, mut framing) = match feed {
        Some((tx, f)) => (Some(tx), Some(f)),
        None => (None, None),
    };
    let timeout_ms = conn.timeout.as_millis() as u64;
    let mut pending: Option<Bytes> = None;
    let mut consumed: Option<u64> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        if let Some(f) = framing.as_deref_mut() {
            if pending.is_none() {
                let chunk = f.take(&mut conn.inbuf);
                if !chunk.is_empty() {
                    pending = Some(chunk);
                }
            }
            if f.done && pending.is_none() {
                // The end of the payload is the end of the parser's input.
                tx = None;
            }
        }
        let receiving = framing.as_deref().is_some_and(|f| !f.done);
        if let Some(c) = consumed {
            if !receiving && pending.is_none() {
                return Ok(c);
            }
        }
        if conn.inbuf.capacity() - conn.inbuf.len() < 8 * 1024 {
            conn.inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            permit = reserve(tx.as_ref()), if pending.is_some() => match permit {
                Ok(p) => {
                    if let Some(chunk) = pending.take() {
                        p.send(chunk);
                    }
                }
                // The parser is gone (it finished or failed; its verdict follows): the rest
                // of the payload is read and dropped.
                Err(_) => pending = None,
            },
            r = conn.sock.read_buf(&mut conn.inbuf), if receiving && pending.is_none() => {
                if r? == 0 {
                    return Err(lost());
                }
                let taken = framing.as_deref().map_or(0, |f| f.taken);
                update_transfer(exec, generation, taken)?;
            }
            msg = loader.recv(), if consumed.is_none() => {
                let Some(msg) = msg else {
                    return Err(Fail::Error("The RDB parser stopped unexpectedly".into()));
                };
                {
                    let mut ex = exec.borrow_mut();
                    let state = &mut ex.state;
                    match state.repl.link.as_ref() {
                        Some(l) if l.generation == generation => {}
                        _ => return Err(Fail::Cancelled),
                    }
                    match loader.apply(state, msg) {
                        Ok(Step::Done { consumed: c }) => consumed = Some(c),
                        Ok(Step::More) => {}
                        Err(e) => return Err(Fail::Error(e.to_string())),
                    }
                    let progress = if async_load {
                        state.repl.link.as_mut().and_then(|l| l.async_loading.as_mut())
                    } else {
                        state.rdb.loading.as_mut()
                    };
                    if let Some(p) = progress {
                        loader.update(p);
                    }
                }
                // Let clients in between batches.
                tokio::task::yield_now().await;
            }
            _ = tick.tick() => {
                if receiving {
                    let last = with_link(exec, generation, |l| l.last_io_ms)?;
                    if crate::util::now_ms().saturating_sub(last) > timeout_ms {
                        return Err(Fail::Error(format!("Timeout {TIMEOUT_WHAT}")));
                    }
                }
                super::guarded(wake, conn.timeout, "sending to master", conn.sock.write_all(b"\n")).await?;
            }
            _ = wake.notified() => return Err(Fail::Cancelled),
        }
    }
}

/// Completes Redis's "Timeout ..." message for a payload that stopped arriving.
const TIMEOUT_WHAT: &str = "receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.";

/// The master closed the link in the middle of the payload.
/// A failed load of the payload from `source` ("disk" or "socket"): the reason goes to the
/// log, the link error is Redis's generic one; a cancellation or a lost link stays what it is.
fn load_failed(e: Fail, source: &str) -> Fail {
    match e {
        Fail::Error(msg) => {
            tracing::warn!("{msg}");
            Fail::Error(format!(
                "Failed trying to load the MASTER synchronization DB from {source}, check server logs."
            ))
        }
        other => other,
    }
}

fn lost() -> Fail {
    Fail::Error("I/O error trying to sync with MASTER: connection lost".into())
}

fn update_transfer(exec: &RefCell<Executor>, generation: u64, read: u64) -> Res<()> {
    let now = crate::util::now_ms();
    with_link(exec, generation, |l| {
        l.last_io_ms = now;
        if let Some(t) = l.transfer.as_mut() {
            t.read = read;
            t.last_io_ms = now;
        }
    })
}

/// Redis's replicationAttachToNewMaster: from here on our data is the new master's, so the
/// old history is gone: our replicas must resync and the backlog cannot serve them.
fn attach_to_new_master(
    state: &mut State,
    clients: &mut slab::Slab<Option<crate::executor::client::Client>>,
) {
    if let Some(l) = state.repl.link.as_mut() {
        if l.history_valid {
            tracing::info!("Discarding previously cached master state.");
        }
        l.history_valid = false;
    }
    disconnect_replicas(state, clients);
    state.repl.backlog = None;
}

/// Empties every database before (or after a failed) load; with replica-lazy-flush the
/// contents are freed on a background thread.
fn flush_old_data(state: &mut State) {
    state.signal_flush_db(None);
    if state.cfg.replica_lazy_flush {
        let old: Vec<Db> = state
            .dbs
            .iter_mut()
            .map(|db| {
                let mut out = Db::new(db.id);
                db.swap_contents(&mut out);
                out
            })
            .collect();
        free_in_background(old);
    } else {
        for db in &mut state.dbs {
            db.clear();
        }
    }
}

/// Empty databases shaped like the live ones (swapdb's temporary databases).
fn fresh_dbs(state: &State) -> Vec<Db> {
    state
        .dbs
        .iter()
        .map(|live| {
            let mut db = Db::new(live.id);
            db.lfu = live.lfu;
            db
        })
        .collect()
}

/// Frees databases off the executor's thread (Redis's lazyfree of a whole keyspace).
fn free_in_background(dbs: Vec<Db>) {
    if dbs.iter().all(Db::is_empty) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("lazyfree".into())
        .spawn(move || drop(dbs));
    if let Err(e) = spawned {
        // The databases went down with the failed spawn's closure: freed right here.
        tracing::warn!("Can't start a thread to free the old data: {e}");
    }
}

/// After a successful load: our history is the master's from here on.
fn adopt_master(exec: &RefCell<Executor>, generation: u64, origin: &Origin) -> Res<()> {
    let mut ex = exec.borrow_mut();
    let state = &mut ex.state;
    match state.repl.link.as_ref() {
        Some(l) if l.generation == generation => {}
        _ => return Err(Fail::Cancelled),
    }
    let stream_db = state.rdb.loaded_repl.stream_db.unwrap_or(0).max(0) as usize;
    let (replid, offset) = match origin {
        Origin::Psync { replid, offset } => (replid.clone(), *offset),
        Origin::Sync => (String::new(), 0),
    };
    let _ = state.propagation.take();
    state.propagation.offset = offset;
    state.propagation.reset_db();
    state.master_replid = replid;
    state.master_replid2 = "0".repeat(40);
    state.repl.second_replid_offset = -1;
    crate::replication::master::ensure_backlog(state);
    let dbs = state.dbs.len();
    if let Some(l) = state.repl.link.as_mut() {
        l.history_valid = true;
        l.pre_psync = matches!(origin, Origin::Sync);
        l.master_db = stream_db.min(dbs.saturating_sub(1));
        l.transfer = None;
    }
    tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

    /// Feeds `input` to a framing in pieces of `piece` bytes until the payload is complete;
    /// returns (payload, stream): the stream is what the framing left plus what was not fed.
    fn frame(mut f: Framing, input: &[u8], piece: usize) -> (Vec<u8>, Vec<u8>) {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        while !f.done {
            assert!(fed < input.len(), "payload incomplete");
            let end = (fed + piece).min(input.len());
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
            body.extend_from_slice(&f.take(&mut buf));
        }
        assert_eq!(f.taken, body.len() as u64);
        let mut rest = buf.to_vec();
        rest.extend_from_slice(&input[fed..]);
        (body, rest)
    }

    #[test]
    fn eof_mark_found_across_reads_with_stream_after_it() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut all = payload.clone();
        all.extend_from_slice(MARK);
        all.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for piece in [1, 7, 39, 40, 41, 100, 4096, all.len()] {
            let (body, rest) = frame(Framing::with_mark(MARK), &all, piece);
            assert_eq!(body, payload, "piece {piece}");
            assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n", "piece {piece}");
        }
    }

    #[test]
    fn length_prefixed_payload_leaves_the_stream() {
        let payload = b"REDIS0010 payload bytes".to_vec();
        let mut all = payload.clone();
        all.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for piece in [1, 5, payload.len(), all.len()] {
            let (body, rest) = frame(Framing::with_len(payload.len() as u64), &all, piece);
            assert_eq!(body, payload);
            assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n");
        }
        let mut empty = Framing::with_len(0);
        assert!(empty.done);
        let mut buf = BytesMut::from(&b"*1\r\n"[..]);
        assert!(empty.take(&mut buf).is_empty());
        assert_eq!(&buf[..], b"*1\r\n");
    }

    #[test]
    fn lazy_flush_and_fresh_dbs() {
        let cfg = crate::config::Config {
            replica_lazy_flush: true,
            ..crate::config::Config::default()
        };
        let mut st = State::new(cfg);
        for i in 0..20_000 {
            st.dbs[0].set(
                format!("k{i}").as_bytes(),
                crate::db::Value::from_bytes(b"v"),
                false,
                0,
            );
        }
        st.dbs[3].set(b"x", crate::db::Value::from_bytes(b"v"), false, 0);
        let fresh = fresh_dbs(&st);
        assert_eq!(fresh.len(), st.dbs.len());
        assert!(fresh
            .iter()
            .enumerate()
            .all(|(i, d)| d.id == i && d.is_empty()));
        flush_old_data(&mut st);
        assert_eq!(st.total_keys(), 0);
        assert!(st.dbs.iter().enumerate().all(|(i, d)| d.id == i));
        st.cfg.replica_lazy_flush = false;
        st.dbs[1].set(b"y", crate::db::Value::from_bytes(b"v"), false, 0);
        flush_old_data(&mut st);
        assert_eq!(st.total_keys(), 0);
    }
}
