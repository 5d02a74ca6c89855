//! Master–replica replication, wire-compatible with Redis 7.
//!
//! - [`backlog`]: the ring buffer of recent stream bytes that makes partial resyncs possible.
//! - [`master`]: the master side — REPLCONF/PSYNC/SYNC, the PSYNC decision, full syncs
//!   streamed from the fork-free snapshot, and feeding the stream to every replica.
//! - [`replica`]: the replica side — the handshake state machine, receiving the payload,
//!   applying the master's stream.
//!
//! # The stream
//!
//! Every write becomes RESP bytes in `State::propagation` (see `executor::propagate`).
//! Once a replica has ever connected the propagator is enabled and `feed` — called after
//! every command batch and every cron tick — moves what it accumulated into the backlog and
//! into each replica's output: an online replica's client output buffer, or, while its full
//! sync is still being sent, the replica's `held` buffer, which joins the output right after
//! the payload. A replica is an ordinary client connection whose output happens to be the
//! stream, exactly as in Redis, so output buffer limits and CLIENT LIST/KILL apply to it.

pub mod backlog;
pub mod master;
pub mod replica;

use bytes::BytesMut;

use backlog::Backlog;

/// Where a replica of ours is in its synchronization (INFO's `state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Waiting for the snapshot that will serve it to start (repl-diskless-sync-delay).
    WaitBgsave,
    /// Its snapshot is being streamed.
    SendBulk,
    /// Receiving the live stream.
    Online,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// One replica attached to this server.
#[derive(Debug)]
pub struct ReplicaInfo {
    /// CLIENT ID of its connection.
    pub client_id: u64,
    /// Its slot in the executor's client table.
    pub slot: usize,
    pub state: ReplicaState,
    /// Last offset it acknowledged (REPLCONF ACK), and when (Unix ms).
    pub ack_offset: u64,
    pub ack_time_ms: u64,
    /// Address it announced (REPLCONF listening-port / ip-address, else the peer's).
    pub ip: String,
    pub port: u16,
    /// It understands `$EOF:` payloads and `+CONTINUE <replid>`.
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// Stream produced while its full sync is sent: it follows the payload.
    pub held: BytesMut,
    /// The 40-byte mark that ends its diskless payload.
    pub eof_mark: [u8; 40],
    /// Full syncs go through a file (`$<len>` payload): repl-diskless-sync no, a replica
    /// without `capa eof`, or the old SYNC.
    pub disk: bool,
    /// It came with SYNC: no `+FULLRESYNC` line before the payload.
    pub old_sync: bool,
    /// Since when (Unix s) its output has been above the soft limit (0: it is not).
    pub soft_limit_since: u64,
    /// Its connection's pending output as of the last cron tick (INFO).
    pub obuf: usize,
}

/// Replication state of this server, held in `State`.
pub struct ReplState {
    /// The backlog, created when the first replica connects (Redis's createReplicationBacklog).
    pub backlog: Option<Backlog>,
    /// Our replicas, in attach order (INFO's slave0, slave1...).
    pub replicas: Vec<ReplicaInfo>,
    /// Offset up to which `master_replid2` is valid (-1: none).
    pub second_replid_offset: i64,
    /// INFO stats sync_full / sync_partial_ok / sync_partial_err.
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Since when no replica has been attached (Unix ms), for repl-backlog-ttl.
    pub no_replicas_since_ms: u64,
    /// When the master last PINGed its replicas (Unix ms).
    pub last_ping_ms: u64,
    /// When the first replica still waiting for a full sync arrived (Unix ms).
    pub waiting_since_ms: Option<u64>,
    /// The link to our own master, while we are a replica.
    pub link: Option<replica::Link>,
    /// Why full syncs happened (beyond Redis): a new replica (`PSYNC ?`), an unknown
    /// replication id, an offset the backlog no longer holds, a replica dropped for its
    /// output buffer (counted when it comes back).
    pub full_sync_reasons: FullSyncReasons,
    /// Replicas dropped for exceeding client-output-buffer-limit replica.
    pub dropped_for_obuf: u64,
}

/// Counts of full syncs by reason.
#[derive(Debug, Default, Clone, Copy)]
pub struct FullSyncReasons {
    pub new_replica: u64,
    pub replid_mismatch: u64,
    pub offset_out_of_backlog: u64,
}

impl Default for ReplState {
    fn default() -> Self {
        ReplState {
            backlog: None,
            replicas: Vec::new(),
            second_replid_offset: -1,
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            no_replicas_since_ms: 0,
            last_ping_ms: 0,
            waiting_since_ms: None,
            link: None,
            full_sync_reasons: FullSyncReasons::default(),
            dropped_for_obuf: 0,
        }
    }
}

impl ReplState {
    pub fn replica(&self, client_id: u64) -> Option<&ReplicaInfo> {
        self.replicas.iter().find(|r| r.client_id == client_id)
    }

    pub fn replica_mut(&mut self, client_id: u64) -> Option<&mut ReplicaInfo> {
        self.replicas.iter_mut().find(|r| r.client_id == client_id)
    }
}
