//! Blocking commands: clients blocked on keys, wake-ups, timeouts (placeholder until lists land).

use super::client::Client;
use super::state::State;
use super::Executor;

/// Server-wide blocking bookkeeping.
#[derive(Debug, Default)]
pub struct BlockingState {}

/// Per-client blocking state.
#[derive(Debug, Default)]
pub struct ClientBlock {}

/// Whether the client is blocked (its remaining commands wait).
pub fn is_blocked(_client: &Client) -> bool {
    false
}

/// A key was written: clients blocked on it may be served.
pub fn signal_key_ready(_state: &mut State, _db: usize, _key: &[u8]) {}

/// Two databases were swapped.
pub fn signal_swap(_state: &mut State, _a: usize, _b: usize) {}

/// Serves clients blocked on keys that became ready (after every command batch).
pub fn serve_ready(_exec: &mut Executor) {}

/// Times out blocked clients (from the cron).
pub fn timeouts(_exec: &mut Executor) {}

/// A client disconnects.
pub fn remove_client(_exec: &mut Executor, _client_id: u64) {}
