//! Transactions: MULTI/EXEC/DISCARD queuing and WATCH (placeholder until transactions land).

use super::state::State;

/// Server-wide WATCH bookkeeping.
#[derive(Debug, Default)]
pub struct WatchState {}

/// Per-client transaction state.
#[derive(Debug, Default)]
pub struct ClientTx {}

/// A key changed: invalidate the transactions watching it.
pub fn touch_key(_state: &mut State, _db: usize, _key: &[u8]) {}

/// A database (None: all) is about to be flushed.
pub fn touch_flush(_state: &mut State, _db: Option<usize>) {}

/// Two databases are about to be swapped.
pub fn touch_swap(_state: &mut State, _a: usize, _b: usize) {}
