//! `Client`: the executor's record of one connection.
//!
//! The connection task owns the socket and the query buffer; everything a command can see
//! or change about a client (selected db, auth, protocol, name, output buffer, flags) lives
//! here, inside the executor, so commands reach it without locks.

use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::protocol::Reply;

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command.
    Skip,
    /// Set while executing the command whose reply is skipped.
    SkipThis,
}

/// What kind of peer this is (CLIENT LIST's flags and `type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    /// A replica attached to us (replication issue).
    Replica,
    /// Our link to our master (replication issue).
    Master,
}

pub struct Client {
    /// Replication offset right after this client's last write (what WAIT waits for).
    pub woff: u64,
    /// What the peer announced with REPLCONF (a replica-to-be).
    pub replconf: crate::replication::master::ReplConf,
    /// CLIENT ID: unique for the server's lifetime, increasing.
    pub id: u64,
    /// This client's key in `Executor::clients` (set by `Executor::register`), so that
    /// others can address it (pub/sub delivery).
    pub slot: usize,
    /// Selected database index; < `databases`.
    pub db: usize,
    /// Replies waiting to be written, and the protocol version.
    pub out: Reply,
    /// True once AUTH/HELLO succeeded, or when no password is required.
    pub authenticated: bool,
    /// CLIENT SETNAME; never contains spaces or newlines.
    pub name: Option<Bytes>,
    /// CLIENT SETINFO lib-name / lib-ver.
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    /// Peer address as `ip:port` (or `path:0` for unix sockets).
    pub addr: String,
    /// Local address as `ip:port`.
    pub laddr: String,
    /// Connected through the unix socket.
    pub unix: bool,
    /// File descriptor number (CLIENT LIST fd=).
    pub fd: i64,
    pub kind: ClientKind,
    /// In MONITOR mode: receives every command.
    pub monitor: bool,
    /// Close once pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// Close now, discarding replies (CLIENT KILL, output limits, timeout).
    pub close_asap: bool,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// Last command or I/O, Unix ms (CLIENT LIST idle=, `timeout`).
    pub last_interaction_ms: u64,
    /// Lowercase full name of the last command (CLIENT LIST cmd=).
    pub last_cmd: &'static str,
    /// MULTI queue and WATCHed keys (`executor::watch`).
    pub tx: super::watch::ClientTx,
    /// Blocking state (`executor::blocking`).
    pub blocked: super::blocking::ClientBlock,
    /// Channel and pattern subscriptions (`executor::pubsub`).
    pub subs: super::pubsub::ClientSubs,
    /// Spec of the last command run (a lookup cache; see `Executor::resolve`).
    pub last_spec: Option<&'static crate::commands::CommandSpec>,
    pub reply_mode: ReplyMode,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// Bytes buffered but not yet parsed, as last reported by the connection (qbuf=).
    pub qbuf: usize,
    /// Set while CLIENT PAUSE holds this client's pending commands; the client is woken
    /// through `notify` when the pause ends.
    pub paused: bool,
    /// Woken when output was produced outside the client's own batch (pub/sub, MONITOR,
    /// unblocking) or when the client must be closed.
    pub notify: Rc<Notify>,
}

impl Client {
    pub fn new(
        id: u64,
        addr: String,
        laddr: String,
        unix: bool,
        notify: Rc<Notify>,
        now_ms: u64,
    ) -> Client {
        Client {
            id,
            slot: 0,
            db: 0,
            out: Reply::new(),
            authenticated: false,
            name: None,
            lib_name: None,
            lib_ver: None,
            addr,
            laddr,
            unix,
            fd: -1,
            kind: ClientKind::Normal,
            replconf: Default::default(),
            woff: 0,
            monitor: false,
            close_after_reply: false,
            close_asap: false,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: "NULL",
            last_spec: None,
            tx: Default::default(),
            blocked: Default::default(),
            subs: Default::default(),
            reply_mode: ReplyMode::On,
            no_evict: false,
            qbuf: 0,
            paused: false,
            notify,
        }
    }

    /// The CLIENT LIST / CLIENT INFO line for this client (without trailing newline).
    pub fn info_line(&self, now_ms: u64) -> String {
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        }
        match self.kind {
            ClientKind::Replica => flags.push('S'),
            ClientKind::Master => flags.push('M'),
            ClientKind::Normal => {}
        }
        if self.subs.any() {
            flags.push('P');
        }
        if self.tx.multi {
            flags.push('x');
        }
        if super::blocking::is_blocked(self) {
            flags.push('b');
        }
        if self.tx.is_dirty_cas() {
            flags.push('d');
        }
        if self.close_after_reply {
            flags.push('c');
        }
        if self.unix {
            flags.push('U');
        }
        if self.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let name = self
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let lib_name = self
            .lib_name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let lib_ver = self
            .lib_ver
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_interaction_ms) / 1000;
        let omem = self.out.buf.len();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem={} rbs=1024 rbp=0 obl={} oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            age,
            idle,
            flags,
            self.db,
            self.subs.channels,
            self.subs.patterns,
            self.subs.shard,
            self.tx.multi_count(),
            self.qbuf,
            self.tx.mem_overhead(),
            omem,
            0,
            omem + self.qbuf + 1024,
            self.last_cmd,
            self.out.resp,
            lib_name,
            lib_ver
        )
    }
}
