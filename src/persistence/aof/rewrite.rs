//! BGREWRITEAOF on the fork-free snapshot, with Redis 7.0's multi-part semantics.
//!
//! A rewrite replaces the base and the incr files before it with one new base, without ever
//! leaving the directory without a loadable AOF:
//!
//! 1. **Start.** A new incr file (next sequence number) is created and listed in the
//!    manifest, which is persisted atomically; the writes that follow go to it. The old base
//!    and incr files stay listed, so a crash meanwhile loads old base + old incrs + the new
//!    incr, which is the whole history. Then the snapshot (`save::start_to_file_with`, kind
//!    `AofRewrite`) starts writing the new base — an RDB with the `aof-base` aux field, or
//!    with `aof-use-rdb-preamble no` the commands of `cmdform` — to a temp file in the AOF
//!    directory, which the writer thread fsyncs and renames to the base's final name (not
//!    listed anywhere yet). When the AOF is being turned on (`runtime`) there is no incr file
//!    to continue: the writes go to a temporary one, which becomes the new incr file at the
//!    end.
//! 2. **End.** The manifest is switched atomically (temp file, fsync, rename, directory
//!    fsync) to the new base plus the new incr; the old base and incr files become history
//!    and are deleted unless `aof-disable-auto-gc` is on.
//!
//! The image is the dataset at the instant the command ran, so the stream bytes emitted
//! before that instant belong to the old incr file and those after it to the new one. The
//! propagation stream is fed to the AOF after the batch, so the switch is made at a stream
//! *offset*: `feed` splits the batch's bytes there (see [`split`]). The stream's SELECT is
//! reset at the start, so the first entry after the split selects its database again.
//!
//! Only one snapshot runs at a time (a BGSAVE, a full sync or a rewrite), like Redis's one
//! child: a rewrite asked meanwhile is scheduled and started by the cron when it ends.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::manifest::{AofInfo, FileType, Manifest};
use super::{file_size, manifest_name, write_atomic};
use crate::executor::state::State;
use crate::persistence::save::{self, Kind};

/// Consecutive failures after which automatic rewrites back off (Redis's
/// AOF_REWRITE_LIMITE_THRESHOLD).
const LIMIT_THRESHOLD: u64 = 3;

/// Longest back-off between automatic rewrites after repeated failures (seconds).
const LIMIT_MAX_SECS: u64 = 3600;

/// Rewrite status, part of `AofState`.
pub struct RewriteState {
    /// BGREWRITEAOF was asked while another snapshot ran (`aof_rewrite_scheduled`).
    pub scheduled: bool,
    /// aof_last_rewrite_time_sec (-1: none yet).
    pub last_secs: i64,
    /// aof_last_bgrewrite_status.
    pub last_ok: bool,
    /// aof_rewrites: rewrites started.
    pub rewrites: u64,
    /// aof_rewrites_consecutive_failures.
    pub failures: u64,
    /// aof_last_cow_size: the last rewrite snapshot's extra memory (captured + queued).
    pub last_cow: u64,
    /// The base being written: file name and sequence number.
    target: Option<(String, i64)>,
    /// The new incr file, listed and open, taking over at a stream offset.
    switch: Option<Switch>,
    /// Stream offset up to which bytes have been handed to the AOF.
    pub(super) fed_offset: u64,
    /// Automatic rewrites wait until then after repeated failures (Unix seconds), and the
    /// current back-off.
    next_auto_secs: u64,
    backoff_secs: u64,
}

impl Default for RewriteState {
    fn default() -> Self {
        RewriteState {
            scheduled: false,
            last_secs: -1,
            last_ok: true,
            rewrites: 0,
            failures: 0,
            last_cow: 0,
            target: None,
            switch: None,
            fed_offset: 0,
            next_auto_secs: 0,
            backoff_secs: 0,
        }
    }
}

struct Switch {
    /// The new file's writer, its fsync thread already running (so the switch cannot fail).
    writer: super::Writer,
    /// Stream offset where the new file begins.
    at: u64,
}

/// Whether a rewrite is running.
pub fn in_progress(state: &State) -> bool {
    state
        .rdb
        .bgsave
        .as_ref()
        .is_some_and(|b| b.kind == Kind::AofRewrite)
}

/// Seconds the running rewrite has taken (-1: none runs).
pub fn current_secs(state: &State) -> i64 {
    match state.rdb.bgsave.as_ref() {
        Some(b) if b.kind == Kind::AofRewrite => {
            (state.now_ms / 1000).saturating_sub(b.started_secs) as i64
        }
        _ => -1,
    }
}

/// Where a pending switch splits stream bytes `[start, start + len)`: Some(k) when the
/// new incr file begins at byte `k` of them (0 when it began before them).
pub(super) fn split(state: &State, start: u64, len: usize) -> Option<usize> {
    let at = state.aof.rw.switch.as_ref()?.at;
    if at > start + len as u64 {
        return None;
    }
    Some(at.saturating_sub(start) as usize)
}

/// Makes the new incr file the one appended to (what is buffered goes to the old one first).
pub(super) fn switch_now(state: &mut State) {
    let Some(sw) = state.aof.rw.switch.take() else {
        return;
    };
    super::flush(state, true);
    if state.aof.writer.is_none() {
        // No file before this one (the AOF is being turned on): the bytes before the
        // switch are in the rewrite's image, and the AOF's history starts here.
        state.aof.buf.clear();
        super::repl::start_at(state, sw.at);
    } else {
        super::repl::new_file(state, sw.at);
    }
    let old = state.aof.writer.replace(sw.writer);
    state.aof.incr_size = 0;
    state.aof.last_ts = 0;
    // The old file's last second (everysec) is fsynced off the executor's thread. Under
    // `always`, replies still waiting for the old file are gated on the new writer from now
    // on, so the old file's tail is synced here, before any of them can be released.
    if let Some(old) = old {
        if super::Policy::of(state) == super::Policy::Always {
            drop(old);
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("aof-close".into())
            .spawn(move || {
                let _ = old.shared.file.sync_data();
                drop(old);
            });
        if let Err(e) = spawned {
            tracing::warn!("Can't fsync the previous AOF incr file in the background: {e}");
        }
    }
}

/// Appending moves to `writer` at the current stream offset (see [`split`]).
pub(super) fn begin_switch(state: &mut State, writer: super::Writer) {
    // Entries after this instant start the new file with a SELECT.
    state.propagation.reset_db();
    state.aof.rw.switch = Some(Switch {
        writer,
        at: state.propagation.offset,
    });
    switch_if_reached(state);
}

/// Whether a new incr file waits for its stream offset.
pub(super) fn switch_pending(state: &State) -> bool {
    state.aof.rw.switch.is_some()
}

/// Forgets a switch not made yet (the AOF is being turned off).
pub(super) fn drop_switch(state: &mut State) {
    state.aof.rw.switch = None;
}

/// After a batch or a cron tick: a switch whose offset every fed byte has reached is made
/// now (no write followed the rewrite's start). With no stream bytes waiting to be fed,
/// everything before the switch's offset went where it belongs already (or, after a
/// discontinuity such as a full resync, was never the AOF's).
pub(super) fn switch_if_reached(state: &mut State) {
    if state.aof.rw.switch.is_some()
        && (state.propagation.pending().is_empty()
            || split(state, state.aof.rw.fed_offset, 0) == Some(0))
    {
        switch_now(state);
    }
}

/// BGREWRITEAOF while another snapshot runs (or inside EXEC): the cron starts it later. A
/// manual request clears the failure count so it is not held back by the back-off.
pub fn schedule(state: &mut State) {
    state.aof.rw.scheduled = true;
    state.aof.rw.failures = 0;
}

/// Starts a rewrite (Redis's `rewriteAppendOnlyFileBackground`). The caller checks that no
/// snapshot runs.
/// The error, already logged, is the reason.
pub fn start(state: &mut State) -> Result<(), String> {
    let res = start_inner(state);
    if let Err(e) = &res {
        tracing::warn!("{e}");
        state.aof.rw.last_ok = false;
        if state.aof.wait && state.aof.on {
            // The temporary incr file was opened for a rewrite that did not start.
            super::runtime::rewrite_failed(state);
        }
    }
    res
}

fn start_inner(state: &mut State) -> Result<(), String> {
    let dir = PathBuf::from(&state.cfg.appenddirname);
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    let prefix = state.cfg.appendfilename.clone();
    if !state.aof.on {
        // Appending is off: the files on disk are what the new base replaces.
        state.aof.dir = dir.clone();
        state.aof.manifest = match std::fs::read(dir.join(manifest_name(state))) {
            Ok(text) => Manifest::parse(&text)?,
            Err(_) => Manifest::default(),
        };
        if state.aof.wait {
            super::runtime::open_temp_incr(state, &dir)?;
        }
    } else {
        // A switch still pending from before is made first (its offset has passed).
        switch_if_reached(state);
        super::flush(state, true);
        let mut m = state.aof.manifest.clone();
        m.curr_incr_seq += 1;
        let name = format!("{prefix}.{}.incr.aof", m.curr_incr_seq);
        let path = dir.join(&name);
        let writer = create_incr(state, &path, &name)?;
        m.incr.push(AofInfo {
            name: name.clone(),
            seq: m.curr_incr_seq,
            kind: FileType::Incr,
        });
        write_atomic(&dir, &manifest_name(state), m.format().as_bytes()).map_err(|e| {
            let _ = std::fs::remove_file(&path);
            format!("Failed to persist the AOF manifest: {e}")
        })?;
        state.aof.manifest = m;
        tracing::info!("Creating AOF incr file {name} on background rewrite");
        // Entries after this instant start the new file with a SELECT.
        state.propagation.reset_db();
        state.aof.rw.switch = Some(Switch {
            writer,
            at: state.propagation.offset,
        });
        switch_if_reached(state);
    }
    let seq = state.aof.manifest.curr_base_seq + 1;
    // With the preamble the base is an RDB image; without it, the commands that rebuild
    // the dataset (see `cmdform`).
    let (ext, header, form) = if state.cfg.aof_use_rdb_preamble {
        ("rdb", super::base_header(state), save::Form::Rdb)
    } else {
        let at = state.propagation.offset;
        let annotation = super::repl::annotation(state, at);
        (
            "aof",
            super::cmdform::header(state, &annotation),
            save::Form::Commands,
        )
    };
    let name = format!("{prefix}.{seq}.base.{ext}");
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    save::start_to_file_with(
        state,
        Kind::AofRewrite,
        tmp,
        dir.join(&name),
        Some(header),
        form,
    )
    .map_err(|e| format!("Can't rewrite append only file in background: {e}"))?;
    let rw = &mut state.aof.rw;
    rw.rewrites += 1;
    rw.scheduled = false;
    rw.target = Some((name, seq));
    tracing::info!("Background append only file rewriting started");
    Ok(())
}

/// The snapshot of a rewrite ended (Redis's `backgroundRewriteDoneHandler`).
pub fn done(state: &mut State, result: std::io::Result<()>, started_secs: u64, cow: u64) {
    let now = state.now_ms / 1000;
    state.aof.rw.last_cow = cow;
    state.aof.rw.last_secs = now.saturating_sub(started_secs) as i64;
    let target = state.aof.rw.target.take();
    let outcome = result
        .map_err(|e| format!("Write error writing append only file on disk: {e}"))
        .and_then(|_| target.ok_or_else(|| "no rewrite target".to_string()))
        .and_then(|t| install(state, t));
    match outcome {
        Ok(()) => {
            let rw = &mut state.aof.rw;
            rw.last_ok = true;
            rw.failures = 0;
            rw.backoff_secs = 0;
            rw.next_auto_secs = 0;
            tracing::info!("Background AOF rewrite finished successfully");
            // The AOF that was waiting for this rewrite is on now.
            state.aof.wait = false;
        }
        Err(e) => {
            tracing::warn!("{e}");
            tracing::warn!("Background AOF rewrite terminated with error");
            let rw = &mut state.aof.rw;
            rw.last_ok = false;
            rw.failures += 1;
            if state.aof.wait {
                super::runtime::rewrite_failed(state);
            }
        }
    }
}

/// Lists the new base and drops the files it replaces.
fn install(state: &mut State, (name, seq): (String, i64)) -> Result<(), String> {
    tracing::info!("Background AOF rewrite terminated with success");
    let dir = state.aof.dir.clone();
    let base_path = dir.join(&name);
    if state.aof.rw.switch.is_some() {
        // Cannot happen (the switch is made at the end of the batch that started the
        // rewrite, before the snapshot's first step); refuse rather than drop writes.
        let _ = std::fs::remove_file(&base_path);
        return Err("The AOF incr file switch is still pending".into());
    }
    let mut m = state.aof.manifest.clone();
    if let Some(mut old) = m.base.take() {
        old.kind = FileType::History;
        m.history.push(old);
    }
    m.base = Some(AofInfo {
        name: name.clone(),
        seq,
        kind: FileType::Base,
    });
    m.curr_base_seq = seq;
    // Turning the AOF on: the writes since the image's instant become the next incr file.
    let adopted = if state.aof.wait {
        match super::runtime::adopt_temp_incr(state, &dir, &mut m) {
            Ok(p) => Some(p),
            Err(e) => {
                let _ = std::fs::remove_file(&base_path);
                return Err(e);
            }
        }
    } else {
        None
    };
    // The incr files the image covers: all but the one being appended to.
    let keep = if state.aof.on { m.incr.pop() } else { None };
    for mut i in m.incr.drain(..) {
        i.kind = FileType::History;
        m.history.push(i);
    }
    m.incr.extend(keep);
    write_atomic(&dir, &manifest_name(state), m.format().as_bytes()).map_err(|e| {
        let _ = std::fs::remove_file(&base_path);
        if let Some(p) = &adopted {
            let _ = std::fs::remove_file(p);
        }
        format!("Failed to persist the AOF manifest: {e}")
    })?;
    state.aof.manifest = m;
    if state.aof.on {
        let size = file_size(&base_path).unwrap_or(0) + state.aof.incr_size;
        state.aof.current_size = size;
        state.aof.base_size = size;
    }
    delete_history(state);
    Ok(())
}

/// Removes the history files and lists them no more (Redis's `aofDelHistoryFiles`).
fn delete_history(state: &mut State) {
    if state.cfg.aof_disable_auto_gc || state.aof.manifest.history.is_empty() {
        return;
    }
    let dir = state.aof.dir.clone();
    for h in std::mem::take(&mut state.aof.manifest.history) {
        tracing::info!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(dir.join(&h.name));
    }
    let text = state.aof.manifest.format();
    if let Err(e) = write_atomic(&dir, &manifest_name(state), text.as_bytes()) {
        tracing::warn!("Failed to persist the AOF manifest: {e}");
    }
}

/// The running rewrite was stopped (SHUTDOWN, FLUSHALL, DEBUG RELOAD): not a failure, as
/// Redis's SIGUSR1 kill. Its temp file is removed by the writer thread.
pub fn killed(state: &mut State) {
    tracing::info!("Killing running AOF rewrite");
    state.aof.rw.target = None;
    if state.aof.wait {
        super::runtime::rewrite_failed(state);
    }
}

/// From the server cron: the scheduled rewrite, or an automatic one on growth
/// (auto-aof-rewrite-percentage / -min-size).
pub fn cron(state: &mut State) {
    if state.rdb.bgsave.is_some() || state.rdb.loading.is_some() {
        return;
    }
    let now = state.now_ms / 1000;
    if state.aof.rw.scheduled {
        if !limited(state, now) {
            let _ = start(state);
        }
        return;
    }
    let aof = &state.aof;
    let perc = state.cfg.auto_aof_rewrite_percentage as u64;
    if !aof.on || perc == 0 || aof.current_size <= state.cfg.auto_aof_rewrite_min_size {
        return;
    }
    let base = aof.base_size.max(1);
    let growth = (aof.current_size * 100 / base).saturating_sub(100);
    if growth >= perc && !limited(state, now) {
        tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
        let _ = start(state);
    }
}

/// After repeated failures, rewrites from the cron back off exponentially up to an hour
/// (Redis's `aofRewriteLimited`).
fn limited(state: &mut State, now: u64) -> bool {
    let rw = &mut state.aof.rw;
    if rw.failures < LIMIT_THRESHOLD {
        rw.backoff_secs = 0;
        rw.next_auto_secs = 0;
        return false;
    }
    if rw.next_auto_secs != 0 {
        if now < rw.next_auto_secs {
            return true;
        }
        rw.next_auto_secs = 0;
        return false;
    }
    rw.backoff_secs = (rw.backoff_secs * 2).clamp(60, LIMIT_MAX_SECS);
    rw.next_auto_secs = now + rw.backoff_secs;
    tracing::warn!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        rw.backoff_secs / 60
    );
    true
}

/// Creates the incr file `name` at `path` (empty, opened for appending) with its fsync
/// thread; on failure nothing is left on disk. Used for the next incr file of a rewrite and
/// for the temporary one of `appendonly yes`.
pub(super) fn create_incr(state: &State, path: &Path, name: &str) -> Result<super::Writer, String> {
    let file = File::create(path)
        .and_then(|_| OpenOptions::new().append(true).open(path))
        .map_err(|e| format!("Can't open the append-only file {name}: {e}"))?;
    super::new_writer(state, file).map_err(|e| {
        let _ = std::fs::remove_file(path);
        format!("Can't start the AOF fsync thread: {e}")
    })
}

#[cfg(test)]
mod tests {
    use crate::executor::test_support::{resp, run, setup};

    /// A file's text without the replication annotations (see `repl`).
    fn strip_repl(text: &str) -> String {
        text.split_inclusive("\r\n")
            .filter(|l| !l.starts_with("#REPL:"))
            .collect()
    }

    #[test]
    fn writes_before_the_rewrite_stay_in_the_old_incr_file() {
        let dir = std::env::temp_dir().join(format!("ferrodis-aofrw-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut exec, c) = setup();
        exec.state.propagation.enabled = false;
        exec.state.cfg.appendonly = true;
        exec.state.cfg.appendfsync = "no".into();
        exec.state.cfg.appenddirname = dir.join("aod").display().to_string();
        super::super::start(&mut exec).unwrap();
        // One batch: a write, the rewrite, writes after it in another database.
        let (out, _) = run(
            &mut exec,
            c,
            &[
                &["SET", "a", "1"],
                &["BGREWRITEAOF"],
                &["SELECT", "2"],
                &["SET", "b", "2"],
            ],
        );
        assert_eq!(
            out,
            "+OK\r\n+Background append only file rewriting started\r\n+OK\r\n+OK\r\n"
        );
        // The end of the runtime turn writes what the turn buffered.
        super::super::before_sleep(&mut exec.state);
        let aod = dir.join("aod");
        let old = std::fs::read_to_string(aod.join("appendonly.aof.1.incr.aof")).unwrap();
        assert_eq!(
            strip_repl(&old),
            resp(&["SELECT", "0"]) + &resp(&["SET", "a", "1"])
        );
        let new = std::fs::read_to_string(aod.join("appendonly.aof.2.incr.aof")).unwrap();
        // The new file records where it starts in the stream: after the old file's bytes.
        let at = resp(&["SELECT", "0"]).len() + resp(&["SET", "a", "1"]).len();
        assert!(
            new.starts_with(&format!("#REPL:{} {at} ", exec.state.master_replid)),
            "{new}"
        );
        assert_eq!(
            strip_repl(&new),
            resp(&["SELECT", "2"]) + &resp(&["SET", "b", "2"])
        );
        // The next batch appends to the new file, re-selecting nothing.
        run(&mut exec, c, &[&["SET", "c", "3"]]);
        super::super::before_sleep(&mut exec.state);
        let new = std::fs::read_to_string(aod.join("appendonly.aof.2.incr.aof")).unwrap();
        assert!(new.ends_with(&resp(&["SET", "c", "3"])));
        assert!(super::in_progress(&exec.state));
        let (out, _) = run(&mut exec, c, &[&["BGREWRITEAOF"]]);
        assert_eq!(
            out,
            "-ERR Background append only file rewriting already in progress\r\n"
        );
        crate::persistence::save::kill_bgsave(&mut exec.state);
        assert!(!super::in_progress(&exec.state));
        assert!(exec.state.aof.rw.last_ok);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
