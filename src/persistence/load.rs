//! Loading an RDB image: at startup while clients get `-LOADING`, a replica's full-sync
//! payload (from a file or straight from the socket), or synchronously (DEBUG RELOAD).
//!
//! A background load ([`Loader`]) uses both of the machine's threads the way a pipeline
//! would: a parser thread runs the streaming `Decoder` over any `Read` (the buffered file, or
//! a [`ByteReader`] fed with the socket's bytes by the replication link) and sends batches of
//! decoded keys; the executor's thread inserts each batch between command batches, so PING
//! and INFO (commands flagged `loading`) are answered and everything else gets `-LOADING
//! Redis is loading the dataset in memory`, with progress in INFO's `loading_*` fields. The
//! keys go into the live databases, or into fresh ones the caller swaps in at the end (a
//! replica's repl-diskless-load swapdb). A startup file that loads within `QUIET_START` is
//! loaded before the listeners accept anyone, as a small file is in Redis (which only serves
//! events every 2 MB of loading).
//!
//! The rules are Redis's `rdbLoadRio`: a master drops keys whose expiry has passed (counted in
//! `rdb_last_load_keys_expired`), a replica keeps them for its master's DEL; a duplicated key
//! or a database index beyond `databases` is fatal; IDLE/FREQ restore the access metadata.
//! Any error stops the server with the decoder's message, which names the byte offset.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::rdb::decode::Decoder;
use super::rdb::{DecodeOptions, ErrorKind, Item, ObjMeta, RdbError};
use crate::db::{Db, Entry, Key};
use crate::executor::state::State;
use crate::executor::Executor;

/// How long startup waits for the load before accepting clients anyway.
pub const QUIET_START: Duration = Duration::from_millis(100);

/// Items per batch sent from the parser thread.
const BATCH_ITEMS: usize = 1024;

/// RESIZEDB hints honoured, in keys, when the image's size is not known in advance (a
/// diskless payload framed by an end mark): enough to spare most rehashing, small enough
/// that a bogus hint costs little.
const UNKNOWN_SIZE_RESERVE: u64 = 1 << 20;

/// Progress of a load, for INFO (`loading_*` fields).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Unix seconds when loading began.
    pub start_secs: u64,
    /// File size in bytes.
    pub total_bytes: u64,
    /// Bytes consumed so far.
    pub loaded_bytes: u64,
    /// `used-mem` aux field of the file (loading_rdb_used_mem).
    pub rdb_used_mem: u64,
}

/// Replication info a file carried (aux repl-id / repl-offset / repl-stream-db), so a
/// restarted server can offer a partial resync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplInfo {
    pub replid: Option<String>,
    pub offset: Option<i64>,
    pub stream_db: Option<i64>,
}

/// Inserts decoded items into the keyspace, enforcing Redis's load rules.
pub struct Applier {
    db: usize,
    now_ms: u64,
    /// Masters drop expired keys on load; replicas keep them.
    drop_expired: bool,
    /// DEBUG RELOAD MERGE: a key already present is replaced instead of being an error.
    pub allow_dup: bool,
    /// Largest RESIZEDB hint honoured: a file cannot hold more keys than a third of its
    /// bytes, so a lying hint cannot make the table allocate more than the file justifies.
    pub max_reserve: u64,
    pub keys_loaded: u64,
    pub keys_expired: u64,
    pub repl: ReplInfo,
    /// The image's `used-mem` aux field (loading_rdb_used_mem), 0 until seen.
    pub rdb_used_mem: u64,
    /// Fresh databases receiving the keys instead of the live ones (see `load_into`).
    temp: Option<Vec<Db>>,
}

impl Applier {
    pub fn new(state: &State) -> Applier {
        Applier {
            db: 0,
            now_ms: crate::util::now_ms(),
            drop_expired: state.is_master,
            allow_dup: false,
            max_reserve: 0,
            keys_loaded: 0,
            keys_expired: 0,
            repl: ReplInfo::default(),
            rdb_used_mem: 0,
            temp: None,
        }
    }

    /// Loads into `dbs` (one per configured database) instead of the live keyspace: a
    /// replica's swapdb load keeps serving the old data until the new image is complete.
    pub fn load_into(&mut self, dbs: Vec<Db>) {
        self.temp = Some(dbs);
    }

    /// The databases given to `load_into`, with what was loaded into them.
    pub fn take_temp(&mut self) -> Option<Vec<Db>> {
        self.temp.take()
    }

    /// Applies one item; `offset` is where the decoder stood after it (error messages).
    pub fn apply(
        &mut self,
        state: &mut State,
        item: Prepared,
        offset: u64,
    ) -> Result<(), RdbError> {
        let (mut entry, meta) = match item {
            Prepared::Entry { entry, meta } => (entry, meta),
            Prepared::Other(Item::SelectDb(n)) => {
                let count = self.temp.as_ref().map_or(state.dbs.len(), Vec::len);
                if n >= count as u64 {
                    return Err(RdbError::new(
                        offset,
                        ErrorKind::Corrupt(format!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {count} databases. Exiting"
                        )),
                    ));
                }
                self.db = n as usize;
                return Ok(());
            }
            Prepared::Other(Item::ResizeDb { db_size, .. }) => {
                let n = db_size.min(self.max_reserve) as usize;
                match self.temp.as_mut() {
                    Some(dbs) => dbs[self.db].reserve(n),
                    None => state.dbs[self.db].reserve(n),
                }
                return Ok(());
            }
            Prepared::Other(Item::Aux { key, value }) => {
                self.aux(state, &key, &value);
                return Ok(());
            }
            Prepared::Other(Item::Entry(e)) => (prepare_entry(e.key, e.value, e.expire_at), e.meta),
        };
        if self.drop_expired && entry.expire_at != 0 && entry.expire_at < self.now_ms {
            self.keys_expired += 1;
            return Ok(());
        }
        let clock = state.lru_clock();
        let db = match self.temp.as_mut() {
            Some(dbs) => &mut dbs[self.db],
            None => &mut state.dbs[self.db],
        };
        entry.lru = match (&db.lfu, meta.lfu_freq, meta.idle_secs) {
            (Some(_), Some(freq), _) => {
                (crate::executor::evict::lfu_minutes(self.now_ms) as u32) << 8 | freq as u32
            }
            (Some(lfu), None, _) => lfu.initial(),
            (None, _, Some(idle)) => clock.wrapping_sub(idle.min(0xff_ffff) as u32) & 0xff_ffff,
            (None, _, None) => clock,
        };
        if let Err(entry) = db.insert_entry(entry) {
            if !self.allow_dup {
                return Err(RdbError::new(
                    offset,
                    ErrorKind::Corrupt(format!(
                        "RDB has duplicated key '{}' in DB {}",
                        String::from_utf8_lossy(entry.key.as_bytes()),
                        self.db
                    )),
                ));
            }
            db.remove(entry.key.as_bytes());
            // Cannot collide now: the key was just removed.
            let _ = db.insert_entry(entry);
        }
        self.keys_loaded += 1;
        Ok(())
    }

    fn aux(&mut self, state: &mut State, key: &[u8], value: &[u8]) {
        let text = String::from_utf8_lossy(value);
        match key {
            b"redis-ver" => tracing::info!("Loading RDB produced by version {text}"),
            b"ctime" => {
                if let Ok(t) = text.parse::<i64>() {
                    let age = (self.now_ms / 1000) as i64 - t;
                    tracing::info!("RDB age {} seconds", age.max(0));
                }
            }
            b"used-mem" => {
                if let Ok(n) = text.parse::<u64>() {
                    self.rdb_used_mem = n;
                    if let Some(p) = state.rdb.loading.as_mut() {
                        p.rdb_used_mem = n;
                    }
                }
                tracing::info!(
                    "RDB memory usage when created {:.2} Mb",
                    text.parse::<f64>().unwrap_or(0.0) / (1024.0 * 1024.0)
                );
            }
            b"repl-id" => self.repl.replid = Some(text.into_owned()),
            b"repl-offset" => self.repl.offset = text.parse().ok(),
            b"repl-stream-db" => self.repl.stream_db = text.parse().ok(),
            _ => {}
        }
    }

    /// Records the outcome in `state` (INFO rdb_last_load_keys_*).
    pub fn finish(self, state: &mut State) {
        state.rdb.last_load_keys_loaded = self.keys_loaded;
        state.rdb.last_load_keys_expired = self.keys_expired;
        tracing::info!(
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            self.keys_loaded,
            self.keys_expired
        );
        state.rdb.loaded_repl = self.repl;
    }
}

/// A decoded item ready for the executor: keys arrive as built keyspace entries, so the
/// allocation happens on the parser thread and the executor only links them in.
pub enum Prepared {
    Entry { entry: Box<Entry>, meta: ObjMeta },
    Other(Item),
}

fn prepare_entry(key: Vec<u8>, value: crate::db::Value, expire_at: u64) -> Box<Entry> {
    let mut entry = Entry::new(Key::new(&key), value);
    entry.expire_at = expire_at;
    entry
}

/// Builds the keyspace entry of a decoded key.
pub fn prepare(item: Item) -> Prepared {
    match item {
        Item::Entry(e) => Prepared::Entry {
            entry: prepare_entry(e.key, e.value, e.expire_at),
            meta: e.meta,
        },
        other => Prepared::Other(other),
    }
}

/// Why a load failed.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be opened (other than not existing).
    Open(io::Error),
    Rdb(RdbError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Open(e) => write!(f, "can't open the RDB file: {e}"),
            LoadError::Rdb(e) => e.fmt(f),
        }
    }
}

/// Loads `path` into `state` on this thread (DEBUG RELOAD, tests). A missing file loads
/// nothing and returns Ok(false).
pub fn load_sync(state: &mut State, path: &Path, merge: bool) -> Result<bool, LoadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(LoadError::Open(e)),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let opts = DecodeOptions::from_config(&state.cfg);
    let mut dec = Decoder::new(file, opts).map_err(LoadError::Rdb)?;
    let mut applier = Applier::new(state);
    applier.allow_dup = merge;
    applier.max_reserve = size / 3;
    while let Some(item) = dec.next_item().map_err(LoadError::Rdb)? {
        let off = dec.offset();
        applier
            .apply(state, prepare(item), off)
            .map_err(LoadError::Rdb)?;
    }
    applier.finish(state);
    Ok(true)
}

/// What the parser thread sends.
enum Msg {
    Batch {
        items: Vec<Prepared>,
        offset: u64,
    },
    /// The end: the bytes the decoder consumed, or why it stopped.
    Done(Result<u64, RdbError>),
}

/// One message of the parser thread, for [`Loader::apply`].
pub struct Parsed(Msg);

/// Where a load stands after [`Loader::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    More,
    /// The image is complete; the decoder consumed `consumed` bytes of its input.
    Done {
        consumed: u64,
    },
}

/// A load in progress: a parser thread decodes the input, and the executor's side inserts
/// the batches it sends, one `apply` at a time, between serving clients.
///
/// Dropping a `Loader` abandons the load: the parser thread notices at its next batch (its
/// channel is closed) and exits; what was inserted stays for the caller to clear.
pub struct Loader {
    rx: mpsc::Receiver<Msg>,
    pub applier: Applier,
    /// Input bytes decoded so far (loading_loaded_bytes).
    pub loaded_bytes: u64,
}

impl Loader {
    /// Starts the parser thread over `reader`, an image of `total` bytes (0: unknown).
    pub fn spawn<R: Read + Send + 'static>(
        state: &State,
        reader: R,
        total: u64,
    ) -> io::Result<Loader> {
        let opts = DecodeOptions::from_config(&state.cfg);
        let delay = state.cfg.key_load_delay.max(0) as u64;
        let (tx, rx) = mpsc::channel(16);
        std::thread::Builder::new()
            .name("rdb-loader".into())
            .spawn(move || parse(reader, opts, delay, tx))?;
        let mut applier = Applier::new(state);
        applier.max_reserve = if total > 0 {
            total / 3
        } else {
            UNKNOWN_SIZE_RESERVE
        };
        Ok(Loader {
            rx,
            applier,
            loaded_bytes: 0,
        })
    }

    /// The parser's next message. `None` only if the parser thread died without a word
    /// (a panic): the caller treats it as a failed load.
    pub async fn recv(&mut self) -> Option<Parsed> {
        self.rx.recv().await.map(Parsed)
    }

    /// Inserts one batch (or takes the parser's verdict).
    pub fn apply(&mut self, state: &mut State, msg: Parsed) -> Result<Step, RdbError> {
        match msg.0 {
            Msg::Batch { items, offset } => {
                for item in items {
                    self.applier.apply(state, item, offset)?;
                }
                self.loaded_bytes = offset;
                Ok(Step::More)
            }
            Msg::Done(Ok(consumed)) => {
                self.loaded_bytes = consumed;
                Ok(Step::Done { consumed })
            }
            Msg::Done(Err(e)) => Err(e),
        }
    }

    /// Copies the progress into INFO's `loading_*` record.
    pub fn update(&self, p: &mut Progress) {
        p.loaded_bytes = self.loaded_bytes;
        if self.applier.rdb_used_mem != 0 {
            p.rdb_used_mem = self.applier.rdb_used_mem;
        }
    }
}

/// Progress for a load starting now.
pub fn progress(total_bytes: u64) -> Progress {
    Progress {
        start_secs: crate::util::now_ms() / 1000,
        total_bytes,
        loaded_bytes: 0,
        rdb_used_mem: 0,
    }
}

/// Starts loading `path` at startup: returns false if there is no file. The load runs in the
/// background (`run`); `state.rdb.loading` is set until it ends.
pub fn start(exec: &Rc<RefCell<Executor>>, path: &Path) -> Result<bool, LoadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(LoadError::Open(e)),
    };
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let loader = {
        let mut ex = exec.borrow_mut();
        ex.state.rdb.loading = Some(progress(total));
        Loader::spawn(&ex.state, file, total).map_err(LoadError::Open)?
    };
    tokio::task::spawn_local(run(exec.clone(), loader));
    Ok(true)
}

/// The parser thread: decodes the input and sends batches until the end or an error.
fn parse<R: Read>(reader: R, opts: DecodeOptions, key_load_delay_us: u64, tx: mpsc::Sender<Msg>) {
    let result = (|| {
        let mut dec = Decoder::new(reader, opts)?;
        let mut items = Vec::with_capacity(BATCH_ITEMS);
        while let Some(item) = dec.next_item()? {
            if key_load_delay_us > 0 && matches!(item, Item::Entry(_)) {
                std::thread::sleep(Duration::from_micros(key_load_delay_us));
            }
            items.push(prepare(item));
            if items.len() == BATCH_ITEMS {
                let batch = std::mem::replace(&mut items, Vec::with_capacity(BATCH_ITEMS));
                if tx
                    .blocking_send(Msg::Batch {
                        items: batch,
                        offset: dec.offset(),
                    })
                    .is_err()
                {
                    // The load was abandoned.
                    return Ok(dec.offset());
                }
            }
        }
        let offset = dec.offset();
        if !items.is_empty() {
            let _ = tx.blocking_send(Msg::Batch { items, offset });
        }
        Ok(offset)
    })();
    let _ = tx.blocking_send(Msg::Done(result));
}

/// The executor side of the startup load: inserts batches as they arrive; exits the process
/// on a bad file, as Redis does.
async fn run(exec: Rc<RefCell<Executor>>, mut loader: Loader) {
    let started = Instant::now();
    loop {
        let Some(msg) = loader.recv().await else {
            fatal(&LoadError::Rdb(RdbError::new(
                loader.loaded_bytes,
                ErrorKind::Corrupt("the RDB parser thread stopped".into()),
            )));
        };
        let step = {
            let mut ex = exec.borrow_mut();
            let state = &mut ex.state;
            let step = loader
                .apply(state, msg)
                .unwrap_or_else(|e| fatal(&LoadError::Rdb(e)));
            if let Some(p) = state.rdb.loading.as_mut() {
                loader.update(p);
            }
            step
        };
        if step != Step::More {
            break;
        }
        tokio::task::yield_now().await;
    }
    let mut ex = exec.borrow_mut();
    loader.applier.finish(&mut ex.state);
    ex.state.rdb.loading = None;
    tracing::info!(
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
}

/// The parser's end of a byte channel: a blocking `Read` over chunks sent from the executor's
/// thread (a replica's diskless load feeds the payload read from the socket). The end of
/// the input is the sender being dropped.
pub struct ByteReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

/// A byte channel holding up to `depth` chunks in flight.
pub fn byte_channel(depth: usize) -> (mpsc::Sender<Bytes>, ByteReader) {
    let (tx, rx) = mpsc::channel(depth);
    (
        tx,
        ByteReader {
            rx,
            cur: Bytes::new(),
        },
    )
}

impl Read for ByteReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = self.cur.len().min(buf.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

/// Logs the failure in Redis's words and exits 1.
pub fn fatal(e: &LoadError) -> ! {
    tracing::warn!("{e}");
    tracing::warn!("Fatal error loading the DB, check server logs. Exiting.");
    eprintln!("Fatal error loading the DB: {e}. Exiting.");
    std::process::exit(1);
}

/// Waits up to `QUIET_START` for a startup load to finish (see the module doc).
pub async fn wait_quiet_start(exec: &Rc<RefCell<Executor>>) {
    let deadline = Instant::now() + QUIET_START;
    while exec.borrow().state.rdb.loading.is_some() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::db::Value;

    /// An RDB image of `keys` strings spread over databases 0..3.
    fn image(keys: usize) -> Vec<u8> {
        let mut src = State::new(Config::default());
        for i in 0..keys {
            src.dbs[i % 3].set(
                format!("k{i}").as_bytes(),
                Value::from_bytes(format!("v{i}").as_bytes()),
                false,
                0,
            );
        }
        let mut out = Vec::new();
        crate::persistence::save::write_image(&src, &mut out, b"REDIS0010").expect("image");
        out
    }

    /// Runs `loader` to its end on a current-thread runtime.
    fn finish(loader: &mut Loader, state: &mut State) -> Result<u64, RdbError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            loop {
                let Some(msg) = loader.recv().await else {
                    panic!("the parser thread vanished");
                };
                if let Step::Done { consumed } = loader.apply(state, msg)? {
                    return Ok(consumed);
                }
            }
        })
    }

    /// Sends `bytes` through the channel in small chunks from another thread.
    fn feed(tx: mpsc::Sender<Bytes>, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            for c in bytes.chunks(777) {
                if tx.blocking_send(Bytes::copy_from_slice(c)).is_err() {
                    return;
                }
            }
        })
    }

    #[test]
    fn loads_from_a_byte_channel_into_fresh_databases() {
        let img = image(3000);
        let mut dst = State::new(Config::default());
        dst.is_master = false;
        dst.dbs[0].set(b"old", Value::from_bytes(b"1"), false, 0);
        let (tx, reader) = byte_channel(2);
        let feeder = feed(tx, img.clone());
        let mut loader = Loader::spawn(&dst, reader, 0).expect("loader");
        loader
            .applier
            .load_into((0..dst.dbs.len()).map(Db::new).collect());
        let consumed = finish(&mut loader, &mut dst).expect("load");
        feeder.join().expect("feeder");
        assert_eq!(consumed, img.len() as u64);
        assert_eq!(loader.loaded_bytes, img.len() as u64);
        // The live keyspace is untouched; the fresh databases hold the image.
        assert_eq!(dst.total_keys(), 1);
        let temp = loader.applier.take_temp().expect("temp dbs");
        assert_eq!(
            temp.iter().map(Db::len).collect::<Vec<_>>()[..4],
            [1000, 1000, 1000, 0]
        );
        assert!(temp[1].contains(b"k1"));
        loader.applier.finish(&mut dst);
        assert_eq!(dst.rdb.last_load_keys_loaded, 3000);
    }

    #[test]
    fn a_truncated_input_is_an_error() {
        let img = image(2000);
        let mut dst = State::new(Config::default());
        let (tx, reader) = byte_channel(2);
        let feeder = feed(tx, img[..img.len() / 2].to_vec());
        let mut loader = Loader::spawn(&dst, reader, img.len() as u64).expect("loader");
        let err = finish(&mut loader, &mut dst).expect_err("short input");
        feeder.join().expect("feeder");
        assert!(matches!(err.kind, ErrorKind::ShortRead), "{err}");
    }

    #[test]
    fn byte_reader_reads_across_chunks_until_the_sender_is_gone() {
        let (tx, mut reader) = byte_channel(4);
        let feeder = std::thread::spawn(move || {
            for c in [&b"ab"[..], b"", b"cdef"] {
                tx.blocking_send(Bytes::copy_from_slice(c)).expect("send");
            }
        });
        let mut all = Vec::new();
        reader.read_to_end(&mut all).expect("read");
        feeder.join().expect("feeder");
        assert_eq!(all, b"abcdef");
    }
}
