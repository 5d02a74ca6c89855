//! Pub/Sub and keyspace notifications (placeholder until pub/sub lands).

use super::client::Client;
use super::state::State;
use super::Executor;
use crate::commands::CommandSpec;
use bytes::Bytes;

/// Server-wide channel and pattern subscriptions.
#[derive(Debug, Default)]
pub struct PubSubState {}

/// Per-client subscriptions.
#[derive(Debug, Default)]
pub struct ClientSubs {}

/// Fires a keyspace notification when notify-keyspace-events enables its class.
pub fn notify_keyspace_event(
    _state: &mut State,
    _class: u32,
    _event: &str,
    _key: &[u8],
    _db: usize,
) {
}

/// In RESP2 subscribed mode only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET run;
/// writes the error and returns true when the command is refused.
pub fn rejects(_client: &mut Client, _spec: &'static CommandSpec, _argv: &[Bytes]) -> bool {
    false
}

/// A client disconnects.
pub fn remove_client(_exec: &mut Executor, _client_id: u64) {}
