//! The append-only file (being written): Redis 7's multi-part layout.

use crate::executor::state::State;

/// Whether the AOF consumes the propagation stream.
pub fn enabled(_state: &State) -> bool {
    false
}

/// Appends stream bytes (RESP commands, SELECTs included) to the AOF.
pub fn feed(_state: &mut State, _data: &[u8]) {}
