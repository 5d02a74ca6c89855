//! Turning the append-only file on and off at runtime: `CONFIG SET appendonly yes|no`
//! (Redis's `startAppendOnly` / `stopAppendOnly`).
//!
//! # Turning it on
//!
//! An AOF is only useful from a base that holds the whole dataset, so `appendonly yes` does
//! not start appending at once: the AOF *waits for a rewrite* (Redis's `AOF_WAIT_REWRITE`,
//! `aof_enabled:1` already). The rewrite starts right away, or is scheduled when another
//! snapshot runs or the command runs inside EXEC. While it runs, the writes that follow its
//! instant go to a temporary incr file (`temp-<appendfilename>.incr` in the AOF directory);
//! writes made while the rewrite is only scheduled go nowhere, since the rewrite's image
//! will contain them. When the rewrite succeeds the temporary file is renamed to the next
//! incr name, the manifest lists the new base and that incr file (whatever the directory
//! held before becomes history), and appending goes on as usual. A failed or killed rewrite
//! drops the temporary file and is scheduled again.
//!
//! # Turning it off
//!
//! What the current batch wrote before the CONFIG SET is appended (Redis feeds each command
//! as it runs), the buffer is written and fsynced, the file is closed and a running rewrite
//! is killed. The files stay on disk and the stream stops being produced unless replicas
//! consume it.

use std::path::Path;

use super::manifest::{AofInfo, FileType, Manifest};
use super::{rewrite, strerror};
use crate::executor::state::State;
use crate::persistence::save::{self, Kind};

/// CONFIG SET appendonly: follows the new value (Redis's `updateAppendonly`). The error is
/// the CONFIG SET reason.
pub fn apply(state: &mut State, in_exec: bool) -> Result<(), String> {
    let active = state.aof.on || state.aof.wait;
    if !state.cfg.appendonly && active {
        stop(state);
    } else if state.cfg.appendonly && !active && start(state, in_exec).is_err() {
        return Err("Unable to turn on AOF. Check server logs.".into());
    }
    Ok(())
}

/// Whether the AOF is on or waiting for its first rewrite (INFO `aof_enabled`).
pub fn enabled(state: &State) -> bool {
    state.aof.on || state.aof.wait
}

/// Redis's `startAppendOnly`: enters the wait-for-rewrite state and starts (or schedules)
/// the rewrite. The error (already logged) is why the rewrite cannot start.
pub fn start(state: &mut State, in_exec: bool) -> Result<(), String> {
    state.aof.wait = true;
    let running = state.rdb.bgsave.as_ref().map(|b| b.kind);
    if running == Some(Kind::Rdb) {
        state.aof.rw.scheduled = true;
        tracing::warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
    } else if in_exec {
        state.aof.rw.scheduled = true;
        tracing::warn!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
    } else {
        if running == Some(Kind::AofRewrite) {
            // A rewrite started while the AOF was off writes a base only: it cannot be
            // reused, nothing accumulates the writes made meanwhile.
            tracing::warn!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
            save::kill_bgsave(state);
        }
        if let Err(e) = rewrite::start(state) {
            state.aof.wait = false;
            state.aof.rw.scheduled = false;
            tracing::warn!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
            return Err(e);
        }
    }
    if state.aof.write_error.take().is_some() {
        tracing::warn!("AOF reopen, just ignore the last error.");
    }
    Ok(())
}

/// Redis's `stopAppendOnly`.
pub fn stop(state: &mut State) {
    // The batch's stream so far is what the commands before this one wrote.
    if state.aof.on && !state.aof.wait {
        let pending = state.propagation.pending().to_vec();
        if !pending.is_empty() {
            super::feed(state, &pending);
        }
    }
    close(state);
    if rewrite::in_progress(state) {
        save::kill_bgsave(state);
    }
    // Nobody consumes the stream any more: stop producing it (see `super::after_batch`).
    if state.repl.backlog.is_none() {
        state.propagation.enabled = false;
        state.aof.drain_stream = true;
    }
}

/// SHUTDOWN while the rewrite that turns the AOF on runs: refused unless forced, since the
/// AOF holds no dataset yet (Redis's `prepareForShutdown`).
pub fn shutdown_allowed(state: &State, force: bool) -> bool {
    if !state.aof.wait || !rewrite::in_progress(state) {
        return true;
    }
    if force {
        tracing::warn!("Writing initial AOF. Exit anyway.");
        true
    } else {
        tracing::warn!("Writing initial AOF, can't exit.");
        false
    }
}

/// Writes, fsyncs and closes whatever is open, and leaves the AOF off.
fn close(state: &mut State) {
    let was_waiting = state.aof.wait;
    if state.aof.on && !was_waiting {
        super::flush(state, true);
    }
    if let Some(w) = state.aof.writer.take() {
        if !was_waiting {
            if let Err(e) = w.shared.file.sync_data() {
                tracing::warn!("Fail to fsync the AOF file: {}", strerror(&e));
            }
        }
        drop(w);
    }
    rewrite::drop_switch(state);
    let aof = &mut state.aof;
    aof.on = false;
    aof.wait = false;
    aof.rw.scheduled = false;
    aof.incr_size = 0;
    aof.buf.clear();
    aof.postponed_since = 0;
    if was_waiting {
        remove_temp_incr(state);
    }
}

/// The AOF no longer describes the dataset (see `repl`): closed and turned on again, which
/// rewrites it from the dataset (Redis's `restartAOFAfterSYNC`). If the rewrite cannot start
/// now, the cron tries again.
pub(super) fn restart(state: &mut State) {
    close(state);
    if rewrite::in_progress(state) {
        save::kill_bgsave(state);
    }
    if start(state, false).is_err() {
        tracing::warn!("Failed enabling the AOF after successful master synchronization! Trying it again later.");
        state.aof.wait = true;
        state.aof.rw.scheduled = true;
    }
}

/// The temporary incr file's name (Redis's `getTempIncrAofName`).
pub fn temp_incr_name(state: &State) -> String {
    format!("temp-{}.incr", state.cfg.appendfilename)
}

fn remove_temp_incr(state: &State) {
    let name = temp_incr_name(state);
    if std::fs::remove_file(state.aof.dir.join(&name)).is_ok() {
        tracing::info!("Removing the temp incr aof file {name} in the background");
    }
}

/// A rewrite starts while waiting: the writes after its instant go to a fresh temporary
/// incr file (Redis's `openNewIncrAofForAppend` in `AOF_WAIT_REWRITE`).
pub(super) fn open_temp_incr(state: &mut State, dir: &Path) -> Result<(), String> {
    let name = temp_incr_name(state);
    let writer = rewrite::create_incr(state, &dir.join(&name), &name)?;
    tracing::info!("Creating AOF incr file {name} on background rewrite");
    let aof = &mut state.aof;
    aof.on = true;
    aof.buf.clear();
    aof.incr_size = 0;
    aof.current_size = 0;
    aof.base_size = 0;
    aof.postponed_since = 0;
    // The stream may not have been produced until now (no replica): it starts here.
    state.propagation.enabled = true;
    state.aof.drain_stream = false;
    rewrite::begin_switch(state, writer);
    Ok(())
}

/// The rewrite that was to turn the AOF on succeeded: the temporary incr file becomes the
/// next incr file of `m` (Redis's rename in `backgroundRewriteDoneHandler`). Returns its path.
pub(super) fn adopt_temp_incr(
    state: &State,
    dir: &Path,
    m: &mut Manifest,
) -> Result<std::path::PathBuf, String> {
    let tmp = temp_incr_name(state);
    m.curr_incr_seq += 1;
    let name = format!("{}.{}.incr.aof", state.cfg.appendfilename, m.curr_incr_seq);
    let path = dir.join(&name);
    std::fs::rename(dir.join(&tmp), &path).map_err(|e| {
        format!("Error trying to rename the temporary AOF incr file {tmp} into {name}: {e}")
    })?;
    tracing::info!("Successfully renamed the temporary AOF incr file {tmp} into {name}");
    m.incr.push(AofInfo {
        name,
        seq: m.curr_incr_seq,
        kind: FileType::Incr,
    });
    Ok(path)
}

/// The rewrite that was to turn the AOF on failed or was killed: its temporary incr file is
/// dropped and another rewrite is scheduled (Redis's cleanup in `backgroundRewriteDoneHandler`).
pub(super) fn rewrite_failed(state: &mut State) {
    if let Some(w) = state.aof.writer.take() {
        drop(w);
    }
    rewrite::drop_switch(state);
    let aof = &mut state.aof;
    aof.on = false;
    aof.buf.clear();
    aof.incr_size = 0;
    aof.postponed_since = 0;
    aof.rw.scheduled = true;
    remove_temp_incr(state);
}

#[cfg(test)]
mod tests {
    use crate::executor::test_support::{run, setup};
    use std::path::Path;

    fn in_temp_dir(tag: &str, f: impl FnOnce(&Path)) {
        let dir =
            std::env::temp_dir().join(format!("ferrodis-aof-runtime-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        f(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_set_appendonly_waits_for_the_rewrite_then_appends() {
        in_temp_dir("on", |dir| {
            let (mut exec, c) = setup();
            exec.state.cfg.appenddirname = dir.join("aod").display().to_string();
            // The stream is off until the AOF turns on (no replica).
            exec.state.propagation.enabled = false;
            let (out, _) = run(
                &mut exec,
                c,
                &[
                    &["SET", "before", "1"],
                    &["CONFIG", "SET", "appendonly", "yes"],
                    &["SELECT", "3"],
                    &["SET", "after", "2"],
                ],
            );
            assert_eq!(out, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
            assert!(exec.state.aof.wait && exec.state.aof.on);
            assert!(super::rewrite::in_progress(&exec.state));
            crate::replication::master::feed(&mut exec);
            // The end of the runtime turn writes what the turn buffered.
            super::super::before_sleep(&mut exec.state);
            let aod = dir.join("aod");
            let tmp = std::fs::read_to_string(aod.join("temp-appendonly.aof.incr")).unwrap();
            // The file starts the AOF's history at the rewrite's stream offset (0: the
            // stream was off until then).
            let offset = 0;
            let head = format!("#REPL:{} {offset} 3\r\n", exec.state.master_replid);
            assert_eq!(
                tmp,
                head + "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n2\r\n"
            );
            // Stopping while waiting removes the temporary file and kills the rewrite.
            run(&mut exec, c, &[&["CONFIG", "SET", "appendonly", "no"]]);
            assert!(!exec.state.aof.wait && !exec.state.aof.on);
            assert!(!super::rewrite::in_progress(&exec.state));
            assert!(!aod.join("temp-appendonly.aof.incr").exists());
            assert!(!exec.state.propagation.enabled);
        });
    }

    /// no-appendfsync-on-rewrite: while a snapshot runs nothing is fsynced and no reply
    /// waits for the disk; the fsyncs catch up when it ends.
    #[test]
    fn no_appendfsync_on_rewrite_holds_fsyncs_while_a_snapshot_runs() {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        for policy in ["always", "everysec"] {
            in_temp_dir(&format!("hold-{policy}"), |dir| {
                let (mut exec, c) = setup();
                exec.state.cfg.appendonly = true;
                exec.state.cfg.appendfsync = policy.into();
                exec.state.cfg.no_appendfsync_on_rewrite = true;
                exec.state.cfg.appenddirname = dir.join("aod").display().to_string();
                super::super::start(&mut exec).unwrap();
                run(&mut exec, c, &[&["BGREWRITEAOF"]]);
                assert!(super::rewrite::in_progress(&exec.state));
                run(&mut exec, c, &[&["SET", "k", "v"]]);
                super::super::cron(&mut exec.state);
                assert!(super::super::reply_gate(&exec.state).is_none());
                let shared = exec.state.aof.writer.as_ref().unwrap().shared.clone();
                let written = shared.written.load(Ordering::Acquire);
                assert!(written > 0);
                std::thread::sleep(Duration::from_millis(1300));
                assert!(shared.synced.load(Ordering::Acquire) < written, "{policy}");
                // The snapshot ends: the next cron tick lets the fsync happen.
                crate::persistence::save::kill_bgsave(&mut exec.state);
                super::super::cron(&mut exec.state);
                let deadline = Instant::now() + Duration::from_secs(3);
                while shared.synced.load(Ordering::Acquire) < written {
                    assert!(Instant::now() < deadline, "{policy}: never fsynced");
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
    }

    #[test]
    fn inside_exec_the_rewrite_is_scheduled() {
        in_temp_dir("exec", |dir| {
            let (mut exec, c) = setup();
            exec.state.cfg.appenddirname = dir.join("aod").display().to_string();
            let (out, _) = run(
                &mut exec,
                c,
                &[
                    &["MULTI"],
                    &["CONFIG", "SET", "appendonly", "yes"],
                    &["EXEC"],
                ],
            );
            assert_eq!(out, "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
            assert!(exec.state.aof.wait && !exec.state.aof.on);
            assert!(exec.state.aof.rw.scheduled);
            assert!(!super::rewrite::in_progress(&exec.state));
        });
    }
}
