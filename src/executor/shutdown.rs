//! The shutdown sequence's hooks (Redis's `prepareForShutdown`). The persistence issue adds
//! the final save here; replication adds waiting for replicas to catch up.

use super::Executor;

/// Runs before the process exits, on the executor's thread.
pub fn prepare_for_shutdown(_exec: &mut Executor) {}
