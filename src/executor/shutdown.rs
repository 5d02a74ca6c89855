//! The shutdown sequence's hooks (Redis's `prepareForShutdown`): the final save when save
//! points exist (or SHUTDOWN SAVE asked for one). Replication adds waiting for replicas.

use super::state::State;
use super::Executor;

/// Kills a running BGSAVE and saves synchronously. Returns false (after logging) on failure.
pub fn final_save(state: &mut State) -> bool {
    crate::persistence::save::kill_bgsave(state);
    tracing::info!("Saving the final RDB snapshot before exiting.");
    let path = std::path::PathBuf::from(&state.cfg.dbfilename);
    let result = crate::persistence::save::save_sync(state, &path);
    crate::persistence::save::record_sync_save(state, &result);
    if result.is_err() {
        tracing::warn!("Error trying to save the DB, can't exit.");
    }
    result.is_ok()
}

/// Runs before the process exits, on the executor's thread. Returns false when the server
/// must keep running (the final save failed and the shutdown was not forced).
pub fn prepare_for_shutdown(exec: &mut Executor) -> bool {
    let state = &mut exec.state;
    // An AOF turned on at runtime whose first rewrite still runs holds no dataset yet.
    let forced = state.shutdown.as_ref().is_some_and(|r| r.force);
    if !crate::persistence::aof::runtime::shutdown_allowed(state, forced) {
        return false;
    }
    // Whatever the AOF still buffers is written and fsynced first.
    crate::persistence::aof::flush_on_shutdown(state);
    let (save, force) = match &state.shutdown {
        Some(req) => (req.save, req.force),
        None => (None, false),
    };
    let want_save = match save {
        Some(s) => s,
        None => !state.cfg.save.is_empty(),
    };
    if state.rdb.loading.is_some() {
        // Nothing consistent to save while loading (Redis skips the save too).
        return true;
    }
    crate::persistence::save::kill_bgsave(state);
    if want_save && !final_save(state) && !force {
        return false;
    }
    true
}
