//! The replication id and offset in the AOF, so that a server restarted from its AOF —
//! an AOF-only replica above all — knows where its dataset stands in the replication
//! history and can resynchronize partially (Redis 7.0 restores them only from an RDB).
//!
//! # Why the offset can be recovered exactly
//!
//! The AOF is fed the propagation stream itself: the same bytes, in the same batches, as the
//! replication backlog (`replication::master::feed`). On a master that is the stream its
//! replicas receive, PINGs to them included; on a replica it is its master's stream,
//! re-emitted verbatim (`Propagator::emit_raw`), whose offset is the master's. So every
//! command byte in an incr file is a stream byte, and the offset after replaying a file is
//! the offset of its first byte plus the bytes of the commands replayed.
//!
//! # Annotations
//!
//! Where that first offset is, and which history it belongs to, is written as an annotation
//! line, which Redis 7.0's loader and `redis-check-aof` skip like `#TS:` (they skip every
//! line that starts with `#`):
//!
//! ```text
//! #REPL:<replid> <offset> <stream db>\r\n
//! ```
//!
//! meaning "the dataset made by everything before this line is `<replid>`'s history up to
//! `<offset>`, and that stream had `<stream db>` selected". It is written before the first
//! bytes of every incr file and whenever the replication id changes in a way that keeps the
//! history (a replica following a failover, a master starting a new history for its first
//! replica). A base carries the same facts: an RDB base in its `repl-id` / `repl-offset` /
//! `repl-stream-db` aux fields, a command-form base as an annotation at its start. A replica's
//! incr file also starts with a `SELECT` of its master's stream database: its master does not
//! re-select just because our file changed, and the file must replay on its own.
//!
//! # When the stream breaks
//!
//! A replica's full synchronization replaces the dataset and jumps to the master's offset: the
//! AOF no longer describes the dataset. When the next stream bytes do not continue where the
//! AOF stands (another offset, or another id that is not the continuation of ours), the AOF is
//! turned off and on again — a rewrite makes a new base from the new dataset, as Redis does
//! after a full sync (`restartAOFAfterSYNC`). The bytes up to the rewrite's instant are in its
//! image.
//!
//! # Loading
//!
//! The loader tracks `(replid, offset, db)`: an annotation sets it, each command replayed from
//! an incr file adds its bytes (and a SELECT sets the db); commands of a base do not count.
//! What is known at the end becomes the loaded replication info, which a replica adopts to
//! PSYNC from there. Files written by Redis, without annotations, restore nothing.

use bytes::Bytes;

use crate::executor::state::State;

/// The annotation's tag.
pub const TAG: &[u8] = b"#REPL:";

/// Where the bytes appended so far stand in the replication history.
#[derive(Debug, Default, Clone)]
pub struct StreamPos {
    /// Replication id of the history the bytes belong to.
    pub replid: String,
    /// Stream offset of the next byte.
    pub offset: u64,
    /// The next bytes start a file: annotate them first.
    pub annotate: bool,
}

/// What loading learned so far (see the module doc).
#[derive(Debug, Default, Clone)]
pub struct Track {
    pub replid: Option<String>,
    pub offset: u64,
    pub db: usize,
    /// The file being replayed is a base: its commands are no stream bytes.
    pub in_base: bool,
    /// The position before an open MULTI: a file that ends inside a transaction is cut
    /// back to before it (see `loader`), and so is the position.
    before_multi: Option<Box<Track>>,
}

impl Track {
    /// An annotation line (with its line end); false when it is not a `#REPL:` one.
    pub fn annotation(&mut self, line: &[u8]) -> bool {
        let Some(rest) = line.strip_prefix(TAG) else {
            return false;
        };
        let text = String::from_utf8_lossy(rest);
        let mut parts = text.split_ascii_whitespace();
        let (Some(id), Some(off)) = (parts.next(), parts.next()) else {
            return false;
        };
        let Ok(off) = off.parse::<u64>() else {
            return false;
        };
        if id.len() != 40 {
            return false;
        }
        self.replid = Some(id.to_string());
        self.offset = off;
        if let Some(db) = parts.next().and_then(|d| d.parse().ok()) {
            self.db = db;
        }
        true
    }

    /// A command replayed from the file, `bytes` long in it.
    pub fn command(&mut self, argv: &[Bytes], bytes: u64) {
        if self.in_base || argv.is_empty() {
            return;
        }
        let name = &argv[0];
        if name.eq_ignore_ascii_case(b"multi") {
            let mut saved = self.clone();
            saved.before_multi = None;
            self.before_multi = Some(Box::new(saved));
        }
        self.offset += bytes;
        if argv.len() == 2 && name.eq_ignore_ascii_case(b"select") {
            if let Some(db) = crate::util::parse_i64(&argv[1]) {
                self.db = db.max(0) as usize;
            }
        }
        if name.eq_ignore_ascii_case(b"exec") || name.eq_ignore_ascii_case(b"discard") {
            self.before_multi = None;
        }
    }

    /// The end of a file: a transaction left open there was not applied.
    pub fn end_file(&mut self) {
        if let Some(saved) = self.before_multi.take() {
            *self = *saved;
        }
    }

    /// The replication info an RDB part carried (its aux fields).
    pub fn rdb_part(&mut self, info: &crate::persistence::load::ReplInfo) {
        if let (Some(id), Some(off)) = (&info.replid, info.offset) {
            if id.len() == 40 && off >= 0 {
                self.replid = Some(id.clone());
                self.offset = off as u64;
                self.db = info.stream_db.unwrap_or(0).max(0) as usize;
            }
        }
    }
}

/// The database the stream is in, for annotations and base headers (a replica's is its
/// master's stream database).
fn stream_db(state: &State) -> usize {
    crate::replication::replica::stream_db(state).unwrap_or(0)
}

/// The annotation for the current id at stream offset `at`.
pub fn annotation(state: &State, at: u64) -> Vec<u8> {
    format!(
        "#REPL:{} {} {}\r\n",
        state.master_replid,
        at,
        stream_db(state)
    )
    .into_bytes()
}

/// The aux fields of an RDB base made at this instant.
pub fn base_aux(state: &State) -> crate::persistence::rdb::encode::ReplAux<'_> {
    crate::persistence::rdb::encode::ReplAux {
        stream_db: stream_db(state) as i64,
        id: state.master_replid.as_bytes(),
        offset: state.propagation.offset as i64,
    }
}

/// The AOF starts a history here: its next bytes are the stream from offset `at` of the
/// current id (a file opened at startup, the first file of an AOF turned on).
pub fn start_at(state: &mut State, at: u64) {
    state.aof.repl = StreamPos {
        replid: state.master_replid.clone(),
        offset: at,
        annotate: true,
    };
}

/// A new incr file takes over at stream offset `at`.
pub fn new_file(state: &mut State, at: u64) {
    state.aof.repl.offset = at;
    state.aof.repl.annotate = true;
}

/// Whether stream bytes starting at offset `at` do not continue the AOF's history.
pub fn broken(state: &State, at: u64) -> bool {
    let pos = &state.aof.repl;
    if at != pos.offset {
        return true;
    }
    if state.master_replid == pos.replid {
        return false;
    }
    // A master starts new histories from its own dataset; a replica continues only into the
    // id its master switched to from ours (PSYNC2: ours is now the previous one).
    !(state.is_master
        || (state.master_replid2 == pos.replid
            && state.repl.second_replid_offset == pos.offset as i64 + 1))
}

/// Before appending stream bytes that start at offset `at`: the annotation, if due.
pub fn annotate(state: &mut State, at: u64) {
    let starts_file = state.aof.repl.annotate;
    if !starts_file && state.master_replid == state.aof.repl.replid {
        return;
    }
    if starts_file && !state.is_master {
        // The master's stream selects databases on its own schedule.
        let db = stream_db(state);
        let mut select = bytes::BytesMut::new();
        let n = itoa::Buffer::new().format(db).to_string();
        crate::executor::propagate::encode(&mut select, &[b"SELECT".as_slice(), n.as_bytes()]);
        state.aof.buf.extend_from_slice(&select);
    }
    let line = annotation(state, at);
    state.aof.buf.extend_from_slice(&line);
    state.aof.repl.replid = state.master_replid.clone();
    state.aof.repl.annotate = false;
}

/// The dataset no longer follows the AOF (a full synchronization replaced it): the AOF is
/// turned off and on again, which rewrites it from the dataset as it is now.
pub fn restart(state: &mut State) {
    tracing::warn!(
        "The dataset was replaced (full resynchronization with the master): rewriting the AOF from it"
    );
    super::runtime::restart(state);
}

/// After loading: the replication info the AOF carried becomes the loaded one, and a replica
/// adopts it now, so the AOF's history and the server's agree from the first byte.
pub fn finish_load(state: &mut State) {
    let track = std::mem::take(&mut state.aof.load_track);
    let Some(id) = track.replid else {
        return;
    };
    tracing::info!(
        "The AOF ends at replication offset {} of history {id}",
        track.offset
    );
    state.rdb.loaded_repl = crate::persistence::load::ReplInfo {
        replid: Some(id.clone()),
        offset: Some(track.offset as i64),
        stream_db: Some(track.db as i64),
    };
    if state.repl.link.is_some() {
        state.master_replid = id;
        state.propagation.offset = track.offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_parse_strictly() {
        let id = "a".repeat(40);
        let mut t = Track::default();
        assert!(t.annotation(format!("#REPL:{id} 1234 3\r\n").as_bytes()));
        assert_eq!(
            (t.replid.as_deref(), t.offset, t.db),
            (Some(id.as_str()), 1234, 3)
        );
        assert!(!t.annotation(b"#TS:1234\r\n"));
        assert!(!t.annotation(b"#REPL:short 1\r\n"));
        assert!(!t.annotation(format!("#REPL:{id} x\r\n").as_bytes()));
        // Commands of an incr file count, a SELECT moves the db; a base's do not.
        let set = [Bytes::from_static(b"SET"), Bytes::from_static(b"k")];
        t.command(&set, 10);
        t.command(
            &[Bytes::from_static(b"select"), Bytes::from_static(b"5")],
            23,
        );
        assert_eq!((t.offset, t.db), (1267, 5));
        // A transaction left open at the end of the file does not count.
        t.command(&[Bytes::from_static(b"MULTI")], 15);
        t.command(&set, 10);
        assert_eq!(t.offset, 1292);
        t.end_file();
        assert_eq!(t.offset, 1267);
        t.command(&[Bytes::from_static(b"MULTI")], 15);
        t.command(&[Bytes::from_static(b"EXEC")], 14);
        t.end_file();
        assert_eq!(t.offset, 1296);
        t.in_base = true;
        t.command(&set, 10);
        assert_eq!(t.offset, 1296);
    }
}
