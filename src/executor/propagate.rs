//! The propagation stream: every write, in execution order, as the commands a replica or the
//! append-only file must apply to reach the same dataset.
//!
//! # Shape of the stream (Redis 7.0's)
//!
//! - A write command is propagated as its own argv, unless its handler chose a deterministic
//!   rewrite (`Ctx::propagate`: EXPIRE as PEXPIREAT, SET EX as SET PXAT, INCRBYFLOAT as
//!   SET KEEPTTL...). Expiries and evictions are propagated as DEL.
//! - Everything one command execution propagates (its own entries and the DELs of keys it
//!   lazily expired) is collected while the command runs and emitted when it ends (Redis's
//!   `also_propagate` + `propagatePendingCommands`); when that is more than one entry, the
//!   group is wrapped in MULTI/EXEC so a replica applies it atomically.
//! - A `SELECT <db>` precedes an entry whenever the stream's current database differs
//!   (`replicationFeedSlaves`); `reset_db` forgets the current database so the next entry
//!   re-selects, as Redis does after a full sync.
//!
//! # Cost
//!
//! When nothing consumes the stream (no replica, no AOF) `enabled` is false and propagating is
//! a branch; otherwise entries are RESP-encoded once into `buf`, which consumers (the
//! replication backlog, the AOF writer) drain with `take`. `offset` counts every byte ever
//! emitted: the replication offset is built on it.

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Default)]
pub struct Propagator {
    /// Whether anyone consumes the stream; while false nothing is recorded.
    pub enabled: bool,
    /// Entries of the command being executed: (db, argv). Emitted by `flush_pending`.
    pending: Vec<(usize, Vec<Bytes>)>,
    /// Encoded stream not yet taken by consumers.
    buf: BytesMut,
    /// Database the stream last selected; None forces a SELECT before the next entry.
    stream_db: Option<usize>,
    /// Bytes emitted since the server started (grows monotonically).
    pub offset: u64,
    /// Depth of nested executions (EXEC running its queue): while > 0, `flush_pending`
    /// keeps accumulating so the whole transaction is emitted as one group.
    nesting: u32,
}

impl Propagator {
    /// Queues one entry of the running command.
    pub fn push(&mut self, db: usize, argv: &[Bytes]) {
        if self.enabled {
            self.pending.push((db, argv.to_vec()));
        }
    }

    /// Emits what the command that just ended propagated, wrapped in MULTI/EXEC when it is
    /// more than one entry.
    #[inline]
    pub fn flush_pending(&mut self) {
        // Checked inline: most commands propagate nothing.
        if self.nesting > 0 || self.pending.is_empty() {
            return;
        }
        self.flush_pending_entries();
    }

    fn flush_pending_entries(&mut self) {
        match self.pending.len() {
            0 => {}
            1 => {
                if let Some((db, argv)) = self.pending.pop() {
                    self.emit(db, &argv);
                }
            }
            _ => {
                let pending = std::mem::take(&mut self.pending);
                // MULTI is emitted in the first entry's database so SELECT comes first.
                self.emit(pending[0].0, &[Bytes::from_static(b"MULTI")]);
                for (db, argv) in &pending {
                    self.emit(*db, argv);
                }
                let last_db = self.stream_db.unwrap_or(0);
                self.emit(last_db, &[Bytes::from_static(b"EXEC")]);
                self.pending = pending;
                self.pending.clear();
            }
        }
    }

    /// Starts a nested execution unit (EXEC's queued commands): their entries join the
    /// enclosing command's group.
    pub fn enter_nested(&mut self) {
        self.nesting += 1;
    }

    /// Ends a nested execution unit; the enclosing command's `flush_pending` emits the group.
    pub fn leave_nested(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn emit(&mut self, db: usize, argv: &[Bytes]) {
        let before = self.buf.len();
        if self.stream_db != Some(db) {
            let mut n = itoa::Buffer::new();
            encode(&mut self.buf, &[b"SELECT", n.format(db).as_bytes()]);
            self.stream_db = Some(db);
        }
        encode(&mut self.buf, argv);
        self.offset += (self.buf.len() - before) as u64;
    }

    /// Emits a command outside any database (the master's periodic PING to its replicas,
    /// which Redis feeds without a SELECT).
    pub fn emit_raw(&mut self, argv: &[Bytes]) {
        if !self.enabled {
            return;
        }
        let before = self.buf.len();
        encode(&mut self.buf, argv);
        self.offset += (self.buf.len() - before) as u64;
    }

    /// The database the stream last selected (None: the next entry re-selects).
    pub fn stream_db(&self) -> Option<usize> {
        self.stream_db
    }

    /// Forces a SELECT before the next entry.
    pub fn reset_db(&mut self) {
        self.stream_db = None;
    }

    /// The encoded stream accumulated so far, left in place for its consumers.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the encoded stream accumulated so far.
    pub fn take(&mut self) -> BytesMut {
        self.buf.split()
    }
}

/// RESP multibulk encoding of one command.
pub fn encode<A: AsRef<[u8]>>(buf: &mut BytesMut, argv: &[A]) {
    let mut n = itoa::Buffer::new();
    buf.put_u8(b'*');
    buf.put_slice(n.format(argv.len()).as_bytes());
    buf.put_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        buf.put_u8(b'$');
        buf.put_slice(n.format(a.len()).as_bytes());
        buf.put_slice(b"\r\n");
        buf.put_slice(a);
        buf.put_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn disabled_records_nothing() {
        let mut p = Propagator::default();
        p.push(0, &[b("SET"), b("k"), b("v")]);
        p.flush_pending();
        assert!(p.take().is_empty());
        assert_eq!(p.offset, 0);
    }

    #[test]
    fn select_on_db_change_and_multi_for_groups() {
        let mut p = Propagator {
            enabled: true,
            ..Default::default()
        };
        p.push(0, &[b("SET"), b("k"), b("v")]);
        p.flush_pending();
        p.push(0, &[b("DEL"), b("a")]);
        p.push(0, &[b("SET"), b("a"), b("1")]);
        p.flush_pending();
        p.push(3, &[b("DEL"), b("x")]);
        p.flush_pending();
        let out = p.take();
        let expected = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
             *1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n";
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
        assert_eq!(p.offset, expected.len() as u64);
    }
}
