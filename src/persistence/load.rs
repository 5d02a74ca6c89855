//! Loading an RDB file: at startup while clients get `-LOADING`, or synchronously (DEBUG
//! RELOAD).
//!
//! Startup loading uses both of the machine's threads the way a pipeline would: a parser
//! thread runs the streaming `Decoder` over the buffered file and sends batches of decoded
//! keys; the executor's thread inserts each batch between command batches, so PING and INFO
//! (commands flagged `loading`) are answered and everything else gets `-LOADING Redis is
//! loading the dataset in memory`, with progress in INFO's `loading_*` fields. A file that
//! loads within `QUIET_START` is loaded before the listeners accept anyone, as a small file
//! is in Redis (which only serves events every 2 MB of loading).
//!
//! The rules are Redis's `rdbLoadRio`: a master drops keys whose expiry has passed (counted in
//! `rdb_last_load_keys_expired`), a replica keeps them for its master's DEL; a duplicated key
//! or a database index beyond `databases` is fatal; IDLE/FREQ restore the access metadata.
//! Any error stops the server with the decoder's message, which names the byte offset.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::rdb::decode::Decoder;
use super::rdb::{DecodeOptions, ErrorKind, Item, ObjMeta, RdbError};
use crate::db::{Entry, Key};
use crate::executor::state::State;
use crate::executor::Executor;

/// How long startup waits for the load before accepting clients anyway.
pub const QUIET_START: Duration = Duration::from_millis(100);

/// Items per batch sent from the parser thread.
const BATCH_ITEMS: usize = 1024;

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
        }
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
                if n >= state.dbs.len() as u64 {
                    return Err(RdbError::new(
                        offset,
                        ErrorKind::Corrupt(format!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting",
                            state.dbs.len()
                        )),
                    ));
                }
                self.db = n as usize;
                return Ok(());
            }
            Prepared::Other(Item::ResizeDb { db_size, .. }) => {
                state.dbs[self.db].reserve(db_size.min(self.max_reserve) as usize);
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
        let db = &mut state.dbs[self.db];
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
                if let (Ok(n), Some(p)) = (text.parse::<u64>(), state.rdb.loading.as_mut()) {
                    p.rdb_used_mem = n;
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
        if self.keys_expired > 0 {
            tracing::info!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                self.keys_loaded,
                self.keys_expired
            );
        }
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
    Batch { items: Vec<Prepared>, offset: u64 },
    Done(Result<(), RdbError>),
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
    let (opts, delay) = {
        let mut ex = exec.borrow_mut();
        ex.state.rdb.loading = Some(Progress {
            start_secs: crate::util::now_ms() / 1000,
            total_bytes: total,
            loaded_bytes: 0,
            rdb_used_mem: 0,
        });
        (
            DecodeOptions::from_config(&ex.state.cfg),
            ex.state.cfg.key_load_delay.max(0) as u64,
        )
    };
    let (tx, rx) = mpsc::channel(16);
    std::thread::Builder::new()
        .name("rdb-loader".into())
        .spawn(move || parse(file, opts, delay, tx))
        .map_err(LoadError::Open)?;
    tokio::task::spawn_local(run(exec.clone(), rx, total));
    Ok(true)
}

/// The parser thread: decodes the file and sends batches until the end or an error.
fn parse(file: File, opts: DecodeOptions, key_load_delay_us: u64, tx: mpsc::Sender<Msg>) {
    let result = (|| {
        let mut dec = Decoder::new(file, opts)?;
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
                    return Ok(());
                }
            }
        }
        let offset = dec.offset();
        if !items.is_empty() {
            let _ = tx.blocking_send(Msg::Batch { items, offset });
        }
        Ok(())
    })();
    let _ = tx.blocking_send(Msg::Done(result));
}

/// The executor side: inserts batches as they arrive; exits the process on a bad file, as
/// Redis does.
async fn run(exec: Rc<RefCell<Executor>>, mut rx: mpsc::Receiver<Msg>, total: u64) {
    let started = Instant::now();
    let mut applier = Applier::new(&exec.borrow().state);
    applier.max_reserve = total / 3;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch { items, offset } => {
                let mut ex = exec.borrow_mut();
                let state = &mut ex.state;
                for item in items {
                    if let Err(e) = applier.apply(state, item, offset) {
                        fatal(&LoadError::Rdb(e));
                    }
                }
                if let Some(p) = state.rdb.loading.as_mut() {
                    p.loaded_bytes = offset;
                }
            }
            Msg::Done(Err(e)) => fatal(&LoadError::Rdb(e)),
            Msg::Done(Ok(())) => break,
        }
        tokio::task::yield_now().await;
    }
    let mut ex = exec.borrow_mut();
    applier.finish(&mut ex.state);
    ex.state.rdb.loading = None;
    tracing::info!(
        "DB loaded from disk: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
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
