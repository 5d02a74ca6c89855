//! Saving: SAVE (on the executor's thread, like Redis's blocking save), BGSAVE (the fork-free
//! snapshot pumped by a task and written by a writer thread), save points, and the status
//! INFO persistence reports.
//!
//! Files are written the way Redis writes them: to `temp-<pid>.rdb` in the working directory
//! (the process runs in `dir`), fsynced, renamed over `dbfilename`, and the directory is
//! fsynced so the rename itself survives a crash.
//!
//! The BGSAVE pipeline: `start_bgsave` installs the snapshot's captures (O(databases)) and
//! spawns the writer thread; the pump task (`pump`, spawned once per server) takes a slice of
//! the snapshot between command batches, appends it to the running CRC-64, and sends it to
//! the writer through a bounded channel — the bound is what throttles the walk to the disk's
//! speed. When the image is complete the pump sends the EOF and trailer, waits for the
//! writer's fsync and rename, and records the outcome (`finish_bgsave`).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify};

use super::rdb::encode;
use super::rdb::{Crc64, EncodeOptions, ObjMeta};
use super::snapshot::{MetaPolicy, Snapshot, SnapshotOptions};
use crate::db::Entry;
use crate::executor::state::State;
use crate::executor::Executor;

/// Chunks queued for the writer before the walk pauses (with `snapshot::CHUNK`, the bound on
/// the walk's unwritten output).
const QUEUE_CHUNKS: usize = 16;

/// More commands than this between two slices means clients are loading the server.
const BUSY_COMMANDS: u64 = 2;

/// Pause after a snapshot slice while clients are active (see `pump`).
const PACE: std::time::Duration = std::time::Duration::from_millis(1);

/// Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE, save points wait this long.
const BGSAVE_RETRY_DELAY_SECS: u64 = 5;

/// Persistence status and the running BGSAVE, held in `State`.
pub struct RdbState {
    /// The running BGSAVE, if any.
    pub bgsave: Option<Bgsave>,
    /// BGSAVE SCHEDULE was asked while one ran: start another when it ends.
    pub scheduled: bool,
    /// Outcome of the last BGSAVE (or SAVE): `rdb_last_bgsave_status`.
    pub last_ok: bool,
    /// Duration of the last BGSAVE in seconds (-1: none yet).
    pub last_bgsave_secs: i64,
    /// When the last BGSAVE was attempted (Unix seconds), for the retry delay.
    pub last_try_secs: u64,
    /// Successful saves since start (`rdb_saves`).
    pub saves: u64,
    /// Extra memory of the last snapshot: peak of captured plus queued bytes.
    pub last_cow_size: u64,
    /// Epoch of the last snapshot started (each snapshot gets a new one; 0 is "never").
    pub epoch: u32,
    /// Wakes the pump task when a BGSAVE starts.
    pub wake: Rc<Notify>,
    /// Keys loaded and skipped as expired by the last load (INFO).
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// Set while the dataset is being loaded: commands without the `loading` flag get
    /// `-LOADING`.
    pub loading: Option<super::load::Progress>,
    /// Replication id and offset the last loaded file recorded (for a partial resync after
    /// a restart).
    pub loaded_repl: super::load::ReplInfo,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            bgsave: None,
            scheduled: false,
            last_ok: true,
            last_bgsave_secs: -1,
            last_try_secs: 0,
            saves: 0,
            last_cow_size: 0,
            epoch: 0,
            wake: Rc::new(Notify::new()),
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
            loading: None,
            loaded_repl: Default::default(),
        }
    }
}

/// What a running snapshot produces (Redis's child types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// BGSAVE, or a replication full sync (`CHILD_TYPE_RDB`).
    Rdb,
    /// BGREWRITEAOF's new base file (`CHILD_TYPE_AOF`); its outcome goes to `aof`.
    AofRewrite,
}

/// How a snapshot's entries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// An RDB image (with its EOF and checksum trailer).
    Rdb,
    /// The commands that rebuild the dataset: an AOF base with `aof-use-rdb-preamble no`
    /// (`aof::cmdform`).
    Commands,
}

/// A BGSAVE in progress.
pub struct Bgsave {
    pub snapshot: Snapshot,
    /// How entries are encoded.
    pub form: Form,
    /// What it is for; only one snapshot runs at a time, whatever its kind.
    pub kind: Kind,
    /// Unix seconds at start (rdb_current_bgsave_time_sec).
    pub started_secs: u64,
    /// `dirty` when it started: what remains unsaved after it succeeds is the difference.
    dirty_before: u64,
    crc: Crc64,
    checksum: bool,
    /// To the writer; `None` once the image is complete.
    tx: Option<mpsc::Sender<Msg>>,
    /// The writer's outcome.
    done: Option<oneshot::Receiver<io::Result<()>>>,
    /// Bytes sent and bytes the writer has written (their difference is queued memory).
    sent: u64,
    written: Arc<AtomicU64>,
    peak_queued: u64,
    /// Commands processed when the last slice ended (whether clients are active).
    commands_seen: u64,
    /// Header bytes not yet handed out (they lead the first chunk).
    first: Option<Vec<u8>>,
    /// Whether this snapshot writes `dbfilename` (a save); false for a replication-only one.
    file: bool,
    /// Client ids of the replicas this snapshot is a full sync for (diskless).
    pub replicas: Vec<u64>,
}

/// What the pump sends the writer.
enum Msg {
    Chunk(Vec<u8>),
    /// The image is complete: fsync and rename.
    Finish,
}

/// Why a save could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    InProgress,
}

/// The options every serialized entry needs, from the configuration now.
pub fn snapshot_options(state: &State) -> SnapshotOptions {
    use crate::executor::evict;
    let policy = state.cfg.maxmemory_policy.as_str();
    let meta = if evict::is_lfu_policy(policy) {
        MetaPolicy::Lfu {
            minutes: evict::lfu_minutes(state.now_ms),
            decay_time: state.cfg.lfu_decay_time,
        }
    } else if policy.contains("lru") {
        MetaPolicy::Lru {
            clock: state.lru_clock(),
        }
    } else {
        MetaPolicy::None
    };
    SnapshotOptions {
        rdb: EncodeOptions {
            compress: state.cfg.rdbcompression,
        },
        meta,
        key_save_delay_us: state.cfg.rdb_key_save_delay.max(0) as u64,
    }
}

/// The snapshot's serializer: one entry in RDB form (`rdbSaveKeyValuePair`).
pub fn serialize_entry(out: &mut Vec<u8>, e: &Entry, opts: &SnapshotOptions) {
    let meta = match opts.meta {
        MetaPolicy::None => ObjMeta::default(),
        MetaPolicy::Lru { clock } => ObjMeta {
            // Redis's LRU clock is 24 bits of seconds; it wraps.
            idle_secs: Some(clock.wrapping_sub(e.lru) as u64 & 0xff_ffff),
            lfu_freq: None,
        },
        MetaPolicy::Lfu {
            minutes,
            decay_time,
        } => ObjMeta {
            idle_secs: None,
            lfu_freq: Some(crate::executor::evict::lfu_decayed(
                e.lru, minutes, decay_time,
            )),
        },
    };
    encode::write_entry(out, e.key.as_bytes(), &e.value, e.expire_at, meta, opts.rdb);
}

/// SELECTDB (+ RESIZEDB the first time) framing for the snapshot.
fn frame(out: &mut Vec<u8>, db: u64, size: u64, expires: u64, resize: bool) {
    if resize {
        encode::write_select_db(out, db, size, expires);
    } else {
        out.push(super::rdb::OPCODE_SELECTDB);
        encode::encode_length(out, db);
    }
}

/// The file header: signature and Redis 7.0's aux fields.
pub fn header(state: &State, out: &mut Vec<u8>) {
    // Like Redis's rdbPopulateSaveInfo: a server in a replication setup records its id,
    // offset and stream database, so a restart from this file can resync partially.
    let repl = state.repl.backlog.as_ref().map(|_| encode::ReplAux {
        stream_db: crate::replication::replica::stream_db(state).unwrap_or(0) as i64,
        id: state.master_replid.as_bytes(),
        offset: state.propagation.offset as i64,
    });
    let aux = encode::standard_aux(
        (state.now_ms / 1000) as i64,
        crate::alloc::allocated() as u64,
        repl,
        false,
    );
    encode::write_header_with(
        out,
        &aux,
        EncodeOptions {
            compress: state.cfg.rdbcompression,
        },
    );
}

fn temp_name() -> PathBuf {
    PathBuf::from(format!("temp-{}.rdb", std::process::id()))
}

/// Writes every database to `path` now, on this thread (SAVE, SHUTDOWN, DEBUG RELOAD).
pub fn save_sync(state: &mut State, path: &Path) -> io::Result<()> {
    let tmp = temp_name();
    let result = write_sync(state, &tmp).and_then(|_| commit(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_sync(state: &State, tmp: &Path) -> io::Result<()> {
    let mut file = File::create(tmp)?;
    let mut head = Vec::new();
    header(state, &mut head);
    write_image(state, &mut file, &head)?;
    file.sync_all()
}

/// Writes the whole dataset as an RDB image after `head` (signature and aux fields),
/// in chunks, with the CRC-64 trailer per rdbchecksum: SAVE's file, an AOF base.
pub fn write_image(state: &State, out: &mut impl Write, head: &[u8]) -> io::Result<()> {
    let opts = snapshot_options(state);
    let mut crc = Crc64::new();
    let mut buf = Vec::with_capacity(super::snapshot::CHUNK * 2);
    buf.extend_from_slice(head);
    let mut flush = |buf: &mut Vec<u8>, crc: &mut Crc64| -> io::Result<()> {
        crc.update(buf);
        out.write_all(buf)?;
        buf.clear();
        Ok(())
    };
    for db in &state.dbs {
        if db.is_empty() {
            continue;
        }
        encode::write_select_db(
            &mut buf,
            db.id as u64,
            db.len() as u64,
            db.expires_count() as u64,
        );
        let mut err = None;
        db.dict().for_each(|e| {
            if err.is_some() {
                return;
            }
            serialize_entry(&mut buf, e, &opts);
            if buf.len() >= super::snapshot::CHUNK {
                if let Err(e) = flush(&mut buf, &mut crc) {
                    err = Some(e);
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    encode::write_eof(&mut buf);
    crc.update(&buf);
    let sum = state.cfg.rdbchecksum.then(|| crc.value());
    encode::write_trailer(&mut buf, sum);
    out.write_all(&buf)
}

/// Renames the fsynced temp file into place and fsyncs the directory.
fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    std::fs::rename(tmp, path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// SAVE's bookkeeping after a successful synchronous save (`rdbSave`).
pub fn record_sync_save(state: &mut State, result: &io::Result<()>) {
    match result {
        Ok(()) => {
            state.dirty = 0;
            state.lastsave = state.now_ms / 1000;
            state.rdb.last_ok = true;
            state.rdb.saves += 1;
            tracing::info!("DB saved on disk");
        }
        Err(e) => {
            tracing::warn!("Failed saving the DB: {e}");
            state.rdb.last_ok = false;
        }
    }
}

/// Starts a BGSAVE to `dbfilename` (Redis's `rdbSaveBackground`).
pub fn start_bgsave(state: &mut State) -> Result<(), StartError> {
    if state.rdb.bgsave.is_some() {
        return Err(StartError::InProgress);
    }
    state.rdb.last_try_secs = state.now_ms / 1000;
    let path = PathBuf::from(&state.cfg.dbfilename);
    if let Err(e) = start_to_file(state, Kind::Rdb, temp_name(), path, None) {
        tracing::warn!("Can't save in background: {e}");
        state.rdb.last_ok = false;
        return Ok(());
    }
    tracing::info!("Background saving started");
    Ok(())
}

/// Starts a snapshot written to `tmp`, fsynced and renamed to `path` (the directory fsynced
/// too); `header` replaces the standard RDB header (the AOF base's carries `aof-base`). The
/// caller checks that no snapshot runs.
pub fn start_to_file(
    state: &mut State,
    kind: Kind,
    tmp: PathBuf,
    path: PathBuf,
    header: Option<Vec<u8>>,
) -> io::Result<()> {
    start_to_file_with(state, kind, tmp, path, header, Form::Rdb)
}

/// `start_to_file` in a chosen form: with `Form::Commands` the entries are written as
/// commands (an AOF base), `header` is the file's start and there is no trailer.
pub fn start_to_file_with(
    state: &mut State,
    kind: Kind,
    tmp: PathBuf,
    path: PathBuf,
    header: Option<Vec<u8>>,
    form: Form,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    let (done_tx, done_rx) = oneshot::channel();
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    std::thread::Builder::new()
        .name("rdb-writer".into())
        .spawn(move || {
            let _ = done_tx.send(write_file(rx, &tmp, &path, &w));
        })?;
    let mut bg = begin_form(state, Vec::new(), form);
    if header.is_some() {
        bg.first = header;
    }
    bg.kind = kind;
    bg.tx = Some(tx);
    bg.done = Some(done_rx);
    bg.written = written;
    bg.file = true;
    state.rdb.bgsave = Some(bg);
    state.rdb.wake.notify_one();
    Ok(())
}

/// Starts a diskless full sync for `replicas` (`replication::master`): the snapshot's bytes
/// go to their connections, no file is written.
pub fn start_snapshot_for_replicas(state: &mut State, replicas: Vec<u64>) {
    if state.rdb.bgsave.is_some() {
        return;
    }
    let bg = begin(state, replicas);
    state.rdb.bgsave = Some(bg);
    state.rdb.wake.notify_one();
}

/// The common start of a snapshot: epoch, header, captures.
fn begin(state: &mut State, replicas: Vec<u64>) -> Bgsave {
    begin_form(state, replicas, Form::Rdb)
}

fn begin_form(state: &mut State, replicas: Vec<u64>, form: Form) -> Bgsave {
    state.rdb.epoch = state.rdb.epoch.wrapping_add(1).max(1);
    let opts = snapshot_options(state);
    let mut first = Vec::new();
    header(state, &mut first);
    let serialize = match form {
        Form::Rdb => serialize_entry,
        Form::Commands => super::aof::cmdform::serialize_entry,
    };
    let snapshot = Snapshot::start(&mut state.dbs, state.rdb.epoch, opts, serialize);
    Bgsave {
        snapshot,
        form,
        kind: Kind::Rdb,
        started_secs: state.now_ms / 1000,
        dirty_before: state.dirty,
        crc: Crc64::new(),
        checksum: state.cfg.rdbchecksum,
        tx: None,
        done: None,
        sent: 0,
        written: Arc::new(AtomicU64::new(0)),
        peak_queued: 0,
        commands_seen: state.stats.total_commands_processed,
        first: Some(first),
        file: false,
        replicas,
    }
}

/// The writer thread: chunks to the temp file, then fsync and rename on `Finish`. A channel
/// closed without `Finish` (aborted snapshot) removes the temp file.
fn write_file(
    mut rx: mpsc::Receiver<Msg>,
    tmp: &Path,
    path: &Path,
    written: &AtomicU64,
) -> io::Result<()> {
    let result = (|| {
        let mut file = File::create(tmp)?;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Chunk(c) => {
                    file.write_all(&c)?;
                    written.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
                Msg::Finish => {
                    file.sync_all()?;
                    drop(file);
                    return commit(tmp, path);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "snapshot aborted",
        ))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// The pump task: runs BGSAVE snapshots slice by slice while they exist. Spawned once on the
/// server's thread.
pub async fn pump(exec: Rc<RefCell<Executor>>) {
    let wake = exec.borrow().state.rdb.wake.clone();
    loop {
        let active = exec.borrow().state.rdb.bgsave.is_some();
        if !active {
            wake.notified().await;
            continue;
        }
        // One slice under the borrow; the send happens after it is released.
        let delay: u64;
        let busy: bool;
        let targets = {
            let mut ex = exec.borrow_mut();
            let targets = match ex.state.rdb.bgsave.as_ref() {
                Some(bg) => bg.replicas.clone(),
                None => continue,
            };
            if !targets.is_empty() {
                let file = ex.state.rdb.bgsave.as_ref().is_some_and(|b| b.file);
                if !file && !crate::replication::master::any_target_alive(&ex, &targets) {
                    // Every replica it was for is gone.
                    Snapshot::abort(&mut ex.state.dbs);
                    ex.state.rdb.bgsave = None;
                    tracing::warn!("Diskless full sync aborted: no replica left to receive it");
                    continue;
                }
                if !crate::replication::master::targets_ready(&ex, &targets) {
                    None
                } else {
                    Some(targets)
                }
            } else {
                Some(targets)
            }
        };
        // A replica's output is full: let its connection drain it.
        let Some(targets) = targets else {
            tokio::time::sleep(PACE).await;
            continue;
        };
        let (chunk, tx, complete) = {
            let mut ex = exec.borrow_mut();
            let state = &mut ex.state;
            let Some(bg) = state.rdb.bgsave.as_mut() else {
                continue;
            };
            let mut out = bg
                .first
                .take()
                .unwrap_or_else(|| Vec::with_capacity(super::snapshot::CHUNK + 4096));
            let commands = state.stats.total_commands_processed;
            // A few commands between slices (a monitoring poll) do not make a load; a
            // stream of them does, and then the walk yields the executor more often.
            busy = commands.saturating_sub(bg.commands_seen) > BUSY_COMMANDS;
            bg.commands_seen = commands;
            let slice = if busy {
                super::snapshot::SLICE
            } else {
                super::snapshot::IDLE_SLICE
            };
            let frame_fn = match bg.form {
                Form::Rdb => frame,
                Form::Commands => super::aof::cmdform::frame,
            };
            let complete = bg.snapshot.step(&mut state.dbs, &mut out, frame_fn, slice);
            delay = state.cfg.rdb_key_save_delay.max(0) as u64;
            if complete && bg.form == Form::Commands {
                // A command-form file simply ends.
            } else if complete {
                encode::write_eof(&mut out);
                bg.crc.update(&out);
                let sum = bg.checksum.then(|| bg.crc.value());
                encode::write_trailer(&mut out, sum);
            } else {
                bg.crc.update(&out);
            }
            bg.sent += out.len() as u64;
            let queued = bg.sent - bg.written.load(Ordering::Relaxed);
            bg.peak_queued = bg.peak_queued.max(queued);
            let file = bg.file;
            let tx = if complete {
                bg.tx.take()
            } else {
                bg.tx.clone()
            };
            if !targets.is_empty() {
                crate::replication::master::send_payload(&mut ex, &targets, &out);
                if complete {
                    crate::replication::master::finish_payload(&mut ex, &targets);
                }
            }
            if complete && !file {
                finish_bgsave(&mut ex.state, Ok(()));
                continue;
            }
            (out, tx, complete)
        };
        let Some(tx) = tx else {
            continue;
        };
        let mut ok = chunk.is_empty() || tx.send(Msg::Chunk(chunk)).await.is_ok();
        if complete {
            ok = ok && tx.send(Msg::Finish).await.is_ok();
        }
        drop(tx);
        if complete || !ok {
            if !ok {
                // The writer failed: stop the snapshot, then collect its error.
                let mut ex = exec.borrow_mut();
                Snapshot::abort(&mut ex.state.dbs);
                if let Some(b) = ex.state.rdb.bgsave.as_mut() {
                    b.tx = None;
                }
            }
            let result = writer_outcome(&exec).await;
            let result = if ok {
                result
            } else {
                result.and(Err(io::ErrorKind::BrokenPipe.into()))
            };
            let ok = result.is_ok();
            let mut ex = exec.borrow_mut();
            let rdb = ex
                .state
                .rdb
                .bgsave
                .as_ref()
                .is_some_and(|b| b.kind == Kind::Rdb);
            finish_bgsave(&mut ex.state, result);
            // Replicas waiting for a disk-based full sync get the file now.
            if !rdb {
                continue;
            }
            if let Some(t) = crate::replication::master::on_disk_save_done(&mut ex, ok) {
                tokio::task::spawn_local(crate::replication::master::send_rdb_file(
                    exec.clone(),
                    t,
                ));
            }
            continue;
        }
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_micros(delay)).await;
        } else if busy {
            // Clients are being served: leave the executor idle for a moment after each
            // slice, so it waits in epoll rather than competing as a CPU hog, and requests
            // are picked up at once. (An idle server walks back to back.)
            tokio::time::sleep(PACE).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Waits for the writer thread's verdict on the running BGSAVE.
async fn writer_outcome(exec: &Rc<RefCell<Executor>>) -> io::Result<()> {
    let done = exec
        .borrow_mut()
        .state
        .rdb
        .bgsave
        .as_mut()
        .and_then(|b| b.done.take());
    match done {
        Some(rx) => rx
            .await
            .unwrap_or_else(|_| Err(io::Error::other("writer thread died"))),
        None => Err(io::Error::other("no writer")),
    }
}

/// Records a finished BGSAVE (`backgroundSaveDoneHandlerDisk`).
fn finish_bgsave(state: &mut State, result: io::Result<()>) {
    let Some(bg) = state.rdb.bgsave.take() else {
        return;
    };
    let now = state.now_ms / 1000;
    if bg.kind == Kind::AofRewrite {
        let cow = bg.snapshot.peak_captured as u64 + bg.peak_queued;
        super::aof::rewrite::done(state, result, bg.started_secs, cow);
        if state.rdb.scheduled {
            state.rdb.scheduled = false;
            let _ = start_bgsave(state);
        }
        return;
    }
    if !bg.file {
        tracing::info!(
            "Diskless full sync snapshot sent: {} keys, longest step {} us",
            bg.snapshot.keys,
            bg.snapshot.longest_step.as_micros()
        );
        return;
    }
    state.rdb.last_bgsave_secs = now.saturating_sub(bg.started_secs) as i64;
    state.rdb.last_cow_size = bg.snapshot.peak_captured as u64 + bg.peak_queued;
    match result {
        Ok(()) => {
            tracing::info!("DB saved on disk");
            tracing::info!(
                "Snapshot: {} keys, longest step {} us (cpu {} us), peak captured {} bytes, peak queued {} bytes",
                bg.snapshot.keys,
                bg.snapshot.longest_step.as_micros(),
                bg.snapshot.longest_step_cpu.as_micros(),
                bg.snapshot.peak_captured,
                bg.peak_queued
            );
            tracing::info!("Background saving terminated with success");
            state.dirty = state.dirty.saturating_sub(bg.dirty_before);
            state.lastsave = now;
            state.rdb.last_ok = true;
            state.rdb.saves += 1;
        }
        Err(e) => {
            tracing::warn!("Write error saving DB on disk: {e}");
            tracing::warn!("Background saving error");
            state.rdb.last_ok = false;
        }
    }
    if state.rdb.scheduled {
        state.rdb.scheduled = false;
        let _ = start_bgsave(state);
    }
}

/// Stops a running BGSAVE without completing it (SHUTDOWN, DEBUG RELOAD, FLUSHALL's SAVE).
pub fn kill_bgsave(state: &mut State) {
    if let Some(mut bg) = state.rdb.bgsave.take() {
        Snapshot::abort(&mut state.dbs);
        bg.tx = None;
        if bg.kind == Kind::AofRewrite {
            super::aof::rewrite::killed(state);
            return;
        }
        tracing::warn!("Background saving terminated by the server");
    }
}

/// Save points (`serverCron`): starts a BGSAVE when one of them is reached, or the
/// scheduled one when nothing runs.
pub fn cron(state: &mut State) {
    if state.rdb.bgsave.is_some() || state.rdb.loading.is_some() {
        return;
    }
    if state.rdb.scheduled {
        state.rdb.scheduled = false;
        let _ = start_bgsave(state);
        return;
    }
    let now = state.now_ms / 1000;
    let since = now.saturating_sub(state.lastsave);
    let retry_ok =
        state.rdb.last_ok || now.saturating_sub(state.rdb.last_try_secs) > BGSAVE_RETRY_DELAY_SECS;
    let hit = state
        .cfg
        .save
        .iter()
        .find(|&&(secs, changes)| state.dirty >= changes && since > secs && retry_ok)
        .copied();
    if let Some((secs, changes)) = hit {
        tracing::info!("{changes} changes in {secs} seconds. Saving...");
        let _ = start_bgsave(state);
    }
}

/// stop-writes-on-bgsave-error: whether writes (and PING) are refused now
/// (`writeCommandsDeniedByDiskError`).
#[inline]
pub fn writes_denied(state: &State) -> bool {
    state.cfg.stop_writes_on_bgsave_error
        && !state.cfg.save.is_empty()
        && !state.rdb.last_ok
        && state.is_master
}

/// Redis's writeCommandsDeniedByDiskError: the `-MISCONF` reply writes (and PING) get
/// while the last BGSAVE failed with save points configured, or the AOF cannot be
/// written; None when writes are allowed.
#[inline]
pub fn disk_error(state: &State) -> Option<std::borrow::Cow<'static, str>> {
    if writes_denied(state) {
        return Some(MISCONF.into());
    }
    super::aof::writes_denied(state).map(Into::into)
}

/// Redis's shared.bgsaveerr.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
