//! Replaying AOF files into the keyspace (Redis's `loadSingleAppendOnlyFile`), at startup in
//! the background while clients get `-LOADING`, or synchronously.
//!
//! A file is either an RDB image (a `.base.rdb`, or an old single-file AOF with an RDB
//! preamble), possibly followed by commands, or commands alone. The RDB part goes through the
//! RDB loader's `Applier`; the commands are run through `Executor::call` on a private client,
//! so they behave exactly as they did when first executed.
//!
//! # Two halves
//!
//! Reading a file ([`parse`]) and applying it ([`FileLoad`]) are separate, as in the RDB
//! loader: at startup a parser thread decodes the RDB part into ready keyspace entries and
//! splits the commands into argument vectors, and sends them in pieces; the executor's thread
//! applies each piece between command batches, so connections are accepted and answered
//! meanwhile — `-LOADING` for everything not flagged `loading`, and INFO's `loading_*` fields
//! with the progress over all the files. (A synchronous load runs the same two halves one
//! after the other on the calling thread.)
//!
//! # Replaying
//!
//! While replaying, the server poses as a replica applying its master's stream: the state is
//! not master and the client is of kind `Master`. That is what Redis's loading mode does too:
//! no key is treated as expired (the file carries the DELs that really happened, and a key
//! expiring "during" the replay would change what later commands see), an EXPIRE in the past
//! sets the expiry instead of deleting, and nothing is propagated back into the stream. In the
//! background the pose is taken for each piece only (clients in between see a master that is
//! loading), and the cron's active expiry is off until the load ends.
//!
//! Damage is classified like Redis: a file that ends in the middle of a command (or inside a
//! MULTI without its EXEC) is *truncated* — trimmed to the last complete command when
//! `aof-load-truncated yes` and it is the last file; anything else malformed is a format
//! error naming the byte offset, and refuses to start.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use crate::executor::client::{Client, ClientKind};
use crate::executor::Executor;
use crate::persistence::load::{prepare, Applier, Prepared, Progress};
use crate::persistence::rdb::decode::Decoder;
use crate::persistence::rdb::DecodeOptions;

/// Longest annotation or header line read at once (Redis's AOF_ANNOTATION_LINE_MAX_LEN).
const LINE_MAX: u64 = 1024;

/// Keys or commands per piece handed to the executor.
const PIECE_ITEMS: usize = 1024;

/// Pieces the parser thread may run ahead of the executor.
const QUEUE_PIECES: usize = 16;

/// How a file loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Zero bytes: nothing to do.
    Empty,
    /// A torn tail was trimmed (aof-load-truncated yes).
    Truncated,
    NotExist,
}

/// Why parsing stopped early.
#[derive(Debug)]
enum Stop {
    /// The file ends inside a command.
    Eof,
    /// Malformed content at this offset.
    Format(u64),
    Io(io::Error),
    /// A fatal, already-worded error (unknown command, a bad RDB part...).
    Fatal(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

/// One entry of the command part.
enum Entry {
    /// An annotation line (`#TS:`, `#REPL:`...).
    Annotation(Vec<u8>),
    /// A command, and where it starts and ends in the file.
    Command {
        argv: Vec<Bytes>,
        start: u64,
        end: u64,
    },
}

/// What the parser hands the executor, in file order.
enum Piece {
    /// Keys of the RDB part, and where the decoder stands after them.
    Keys {
        items: Vec<Prepared>,
        offset: u64,
    },
    /// The RDB part ended here; commands may follow.
    RdbEnd {
        end: u64,
    },
    Commands(Vec<Entry>),
    /// The end of the file, or what stopped the parse.
    End(Result<(), Stop>),
}

/// A reader that knows its offset.
struct Input {
    r: BufReader<File>,
    pos: u64,
    size: u64,
}

impl Input {
    /// One line (up to LINE_MAX bytes); empty at end of file.
    fn line(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        let n = (&mut self.r).take(LINE_MAX).read_until(b'\n', buf)?;
        self.pos += n as u64;
        Ok(())
    }

    fn exact(&mut self, n: u64) -> Result<Vec<u8>, Stop> {
        if n > self.size.saturating_sub(self.pos) {
            return Err(Stop::Eof);
        }
        let mut v = Vec::with_capacity(n as usize);
        (&mut self.r).take(n).read_to_end(&mut v)?;
        self.pos += v.len() as u64;
        if (v.len() as u64) < n {
            return Err(Stop::Eof);
        }
        Ok(v)
    }
}

/// The number in a `*<n>\r\n` / `$<n>\r\n` header line, strictly.
fn header_number(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    if body.len() < 2 {
        return None;
    }
    std::str::from_utf8(&body[1..]).ok()?.parse().ok()
}

/// What the parser needs to know about the file.
struct ParseJob {
    file: File,
    size: u64,
    name: String,
    /// The old single-file AOF (its RDB part is a preamble, in the messages).
    old_style: bool,
    opts: DecodeOptions,
    /// key-load-delay (a testing aid): microseconds per key or command.
    delay_us: u64,
}

/// Reads a whole file, handing its pieces to `emit` until it returns false.
fn parse(mut job: ParseJob, mut emit: impl FnMut(Piece) -> bool) {
    let mut sig = [0u8; 5];
    let is_rdb = job.file.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
    if let Err(e) = job.file.seek(SeekFrom::Start(0)) {
        emit(Piece::End(Err(Stop::Io(e))));
        return;
    }
    let mut start = 0;
    if is_rdb {
        match parse_rdb_part(&mut job, &mut emit) {
            Ok(Some(end)) => start = end,
            Ok(None) => return,
            Err(stop) => {
                emit(Piece::End(Err(stop)));
                return;
            }
        }
        if !emit(Piece::RdbEnd { end: start }) {
            return;
        }
    }
    if let Err(e) = job.file.seek(SeekFrom::Start(start)) {
        emit(Piece::End(Err(Stop::Io(e))));
        return;
    }
    let mut input = Input {
        r: BufReader::with_capacity(64 * 1024, job.file),
        pos: start,
        size: job.size,
    };
    let mut pending = Vec::with_capacity(PIECE_ITEMS);
    let result = match parse_commands(&mut input, job.delay_us, &mut pending, &mut emit) {
        Ok(false) => return,
        Ok(true) => Ok(()),
        Err(stop) => Err(stop),
    };
    // What parsed before a stop is applied first: a torn tail is cut after it.
    if !pending.is_empty() && !emit(Piece::Commands(pending)) {
        return;
    }
    emit(Piece::End(result));
}

/// The RDB image at the start of a file: Some(its end), or None when `emit` gave up.
fn parse_rdb_part(
    job: &mut ParseJob,
    emit: &mut impl FnMut(Piece) -> bool,
) -> Result<Option<u64>, Stop> {
    let (name, old_style) = (job.name.clone(), job.old_style);
    let fail = |e: &dyn std::fmt::Display| {
        Stop::Fatal(if old_style {
            format!(
                "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted: {e}"
            )
        } else {
            format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
        })
    };
    let mut dec = Decoder::new(&mut job.file, job.opts.clone()).map_err(|e| fail(&e))?;
    let mut items = Vec::with_capacity(PIECE_ITEMS);
    while let Some(item) = dec.next_item().map_err(|e| fail(&e))? {
        if job.delay_us > 0 && matches!(item, crate::persistence::rdb::Item::Entry(_)) {
            std::thread::sleep(Duration::from_micros(job.delay_us));
        }
        items.push(prepare(item));
        if items.len() == PIECE_ITEMS {
            let batch = std::mem::replace(&mut items, Vec::with_capacity(PIECE_ITEMS));
            if !emit(Piece::Keys {
                items: batch,
                offset: dec.offset(),
            }) {
                return Ok(None);
            }
        }
    }
    let end = dec.offset();
    if !items.is_empty() && !emit(Piece::Keys { items, offset: end }) {
        return Ok(None);
    }
    Ok(Some(end))
}

/// Splits the command part into entries, handing them out by `PIECE_ITEMS`. Ok(false) when
/// `emit` gave up.
fn parse_commands(
    input: &mut Input,
    delay_us: u64,
    pending: &mut Vec<Entry>,
    emit: &mut impl FnMut(Piece) -> bool,
) -> Result<bool, Stop> {
    let mut line = Vec::with_capacity(64);
    loop {
        if pending.len() >= PIECE_ITEMS {
            let batch = std::mem::replace(pending, Vec::with_capacity(PIECE_ITEMS));
            if !emit(Piece::Commands(batch)) {
                return Ok(false);
            }
        }
        let cmd_start = input.pos;
        input.line(&mut line)?;
        if line.is_empty() {
            return Ok(true);
        }
        if line[0] == b'#' {
            pending.push(Entry::Annotation(line.clone()));
            continue;
        }
        if line[0] != b'*' {
            return Err(Stop::Format(cmd_start));
        }
        if !line.ends_with(b"\n") {
            return Err(Stop::Eof);
        }
        let argc = match header_number(&line) {
            Some(n) if n >= 1 => n,
            _ => return Err(Stop::Format(cmd_start)),
        };
        let mut argv = Vec::with_capacity(argc.min(1024) as usize);
        for _ in 0..argc {
            let at = input.pos;
            input.line(&mut line)?;
            if line.is_empty() || !line.ends_with(b"\n") {
                return Err(Stop::Eof);
            }
            if line[0] != b'$' {
                return Err(Stop::Format(at));
            }
            let len = header_number(&line).ok_or(Stop::Format(at))?;
            let arg = input.exact(len)?;
            let crlf_at = input.pos;
            let crlf = input.exact(2)?;
            if crlf != b"\r\n" {
                return Err(Stop::Format(crlf_at));
            }
            argv.push(Bytes::from(arg));
        }
        pending.push(Entry::Command {
            argv,
            start: cmd_start,
            end: input.pos,
        });
        if delay_us > 0 {
            std::thread::sleep(Duration::from_micros(delay_us));
        }
    }
}

/// The private client commands are replayed on (Redis's AOF fake client). It is taken out
/// of the client table for the whole load, so no connection sees it.
struct Replayer {
    slot: usize,
    client: Option<Client>,
}

impl Replayer {
    fn new(exec: &mut Executor) -> Result<Replayer, String> {
        let slot = exec
            .register(
                String::new(),
                String::new(),
                false,
                -1,
                Rc::new(Notify::new()),
            )
            .map_err(|_| "can't create the AOF client".to_string())?;
        // The loading client is no connection.
        exec.state.stats.total_connections_received -= 1;
        let mut client = exec.clients.get_mut(slot).and_then(Option::take);
        if let Some(c) = client.as_mut() {
            c.kind = ClientKind::Master;
            c.authenticated = true;
            c.out.enabled = false;
        }
        Ok(Replayer { slot, client })
    }

    fn run(&mut self, exec: &mut Executor, argv: &[Bytes], file: &str) -> Result<(), Stop> {
        let Some(client) = self.client.as_mut() else {
            return Err(Stop::Fatal("the AOF client is gone".into()));
        };
        let unknown = || {
            Stop::Fatal(format!(
                "Unknown command '{}' reading the append only file {}",
                String::from_utf8_lossy(&argv[0]),
                file
            ))
        };
        let mut spec = crate::commands::lookup(&argv[0]).ok_or_else(unknown)?;
        if !spec.subcommands.is_empty() && argv.len() >= 2 {
            spec = crate::commands::lookup_sub(spec, &argv[1]).ok_or_else(unknown)?;
        }
        if !spec.arity_ok(argv.len()) {
            return Err(Stop::Fatal(format!(
                "Wrong number of arguments for '{}' reading the append only file {}",
                spec.full_name, file
            )));
        }
        if !crate::executor::watch::queue_command(client, spec, argv) {
            exec.call(client, spec, argv);
        }
        client.out.buf.clear();
        Ok(())
    }

    /// Gives the client back and removes it.
    fn close(mut self, exec: &mut Executor) {
        if let Some(c) = self.client.take() {
            exec.clients[self.slot] = Some(c);
        }
        exec.unregister(self.slot);
    }
}

/// Applying one file, piece by piece, on the executor's thread.
struct FileLoad {
    name: String,
    path: PathBuf,
    size: u64,
    /// Only the last file may be trimmed.
    last: bool,
    applier: Option<Applier>,
    rep: Option<Replayer>,
    /// End of the last command applied: where a torn tail is cut.
    valid_up_to: u64,
    in_multi: bool,
    before_multi: u64,
}

impl FileLoad {
    fn new(name: &str, path: PathBuf, size: u64, last: bool) -> FileLoad {
        FileLoad {
            name: name.to_string(),
            path,
            size,
            last,
            applier: None,
            rep: None,
            valid_up_to: 0,
            in_multi: false,
            before_multi: 0,
        }
    }

    /// Applies one piece; Some(outcome) once the file is done. Errors are the message to log
    /// before exiting.
    fn apply(&mut self, exec: &mut Executor, piece: Piece) -> Result<Option<Outcome>, String> {
        match piece {
            Piece::Keys { items, offset } => {
                let state = &mut exec.state;
                let applier = self.applier.get_or_insert_with(|| {
                    if self.name == state.cfg.appendfilename {
                        tracing::info!("Reading RDB preamble from AOF file...");
                    } else {
                        tracing::info!("Reading RDB base file on AOF loading...");
                    }
                    let mut a = Applier::new(state);
                    a.max_reserve = self.size / 3;
                    a
                });
                for item in items {
                    if let Err(e) = applier.apply(state, item, offset) {
                        return Err(self.rdb_error(state, &e));
                    }
                }
                Ok(None)
            }
            Piece::RdbEnd { end } => {
                let state = &mut exec.state;
                let applier = self.applier.take().unwrap_or_else(|| Applier::new(state));
                applier.finish(state);
                // A base of ours records the replication position of its image.
                let info = state.rdb.loaded_repl.clone();
                state.aof.load_track.rdb_part(&info);
                if self.name == state.cfg.appendfilename {
                    tracing::info!("Reading the remaining AOF tail...");
                }
                self.valid_up_to = end;
                self.before_multi = end;
                Ok(None)
            }
            Piece::Commands(entries) => {
                for e in entries {
                    self.entry(exec, e)?;
                }
                Ok(None)
            }
            Piece::End(result) => self.end(exec, result).map(Some),
        }
    }

    fn rdb_error(
        &self,
        state: &crate::executor::state::State,
        e: &dyn std::fmt::Display,
    ) -> String {
        if self.name == state.cfg.appendfilename {
            format!(
                "Error reading the RDB preamble of the AOF file {}, AOF loading aborted: {e}",
                self.name
            )
        } else {
            format!(
                "Error reading the RDB base file {}, AOF loading aborted: {e}",
                self.name
            )
        }
    }

    fn entry(&mut self, exec: &mut Executor, e: Entry) -> Result<(), String> {
        let (argv, start, end) = match e {
            Entry::Annotation(line) => {
                // #TS: carries no data; #REPL: is the replication position (see `repl`).
                exec.state.aof.load_track.annotation(&line);
                return Ok(());
            }
            Entry::Command { argv, start, end } => (argv, start, end),
        };
        if self.rep.is_none() {
            self.rep = Some(Replayer::new(exec)?);
        }
        let Some(rep) = self.rep.as_mut() else {
            return Err("the AOF client is gone".into());
        };
        let is_multi = argv[0].eq_ignore_ascii_case(b"multi");
        if is_multi {
            self.before_multi = self.valid_up_to;
        }
        if let Err(stop) = rep.run(exec, &argv, &self.name) {
            return Err(self.message(stop).unwrap_or_default());
        }
        exec.state
            .aof
            .load_track
            .command(&argv, end.saturating_sub(start));
        if is_multi {
            self.in_multi = true;
        } else if argv[0].eq_ignore_ascii_case(b"exec") || argv[0].eq_ignore_ascii_case(b"discard")
        {
            self.in_multi = false;
        }
        self.valid_up_to = end;
        Ok(())
    }

    /// The wording of a fatal stop (None for a truncation, handled by `end`).
    fn message(&self, stop: Stop) -> Option<String> {
        let name = &self.name;
        match stop {
            Stop::Eof => None,
            Stop::Fatal(m) => Some(m),
            Stop::Io(e) => Some(format!(
                "Unrecoverable error reading the append only file {name}: {e}"
            )),
            Stop::Format(off) => Some(format!(
                "Bad file format reading the append only file {name} at offset {off}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
            )),
        }
    }

    fn end(&mut self, exec: &mut Executor, result: Result<(), Stop>) -> Result<Outcome, String> {
        if let Some(rep) = self.rep.take() {
            rep.close(exec);
        }
        match result {
            Ok(()) if !self.in_multi => Ok(Outcome::Ok),
            Ok(()) => {
                // A clean end inside MULTI is a torn transaction.
                tracing::warn!(
                    "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                    self.name
                );
                self.valid_up_to = self.before_multi;
                self.truncated(exec)
            }
            Err(Stop::Eof) => self.truncated(exec),
            Err(stop) => Err(self.message(stop).unwrap_or_default()),
        }
    }

    /// A torn tail: trim and go on, or refuse (Redis's `uxeof` path).
    fn truncated(&self, exec: &mut Executor) -> Result<Outcome, String> {
        let name = &self.name;
        let refuse = format!(
            "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        );
        if !exec.state.cfg.aof_load_truncated {
            return Err(refuse);
        }
        if !self.last {
            return Err("Fatal error: the truncated file is not the last file".into());
        }
        let valid_up_to = self.valid_up_to;
        tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
        tracing::warn!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
        let res = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_len(valid_up_to).and_then(|_| f.sync_all()));
        match res {
            Ok(()) => {
                tracing::warn!(
                    "AOF {name} loaded anyway because aof-load-truncated is enabled ({} bytes of torn tail removed)",
                    self.size - valid_up_to
                );
                Ok(Outcome::Truncated)
            }
            Err(e) => {
                tracing::warn!("Error truncating the AOF file {name}: {e}");
                Err(refuse)
            }
        }
    }
}

/// Opens `name` for loading: Err(outcome) when there is nothing to parse.
fn open_job(exec: &Executor, dir: &Path, name: &str) -> Result<Result<ParseJob, Outcome>, String> {
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::warn!("The append log file {name} doesn't exist: {e}");
            return Ok(Err(Outcome::NotExist));
        }
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {name} for reading: {e}"
            ))
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Ok(Err(Outcome::Empty));
    }
    let cfg = &exec.state.cfg;
    Ok(Ok(ParseJob {
        file,
        size,
        name: name.to_string(),
        old_style: name == cfg.appendfilename,
        opts: DecodeOptions::from_config(cfg),
        delay_us: cfg.key_load_delay.max(0) as u64,
    }))
}

/// Loads one file of the AOF (`name` inside `dir`) on this thread. `last` says whether it is
/// the last file (only the last may be trimmed). Errors are the message to log before
/// exiting.
pub fn load_file(
    exec: &mut Executor,
    dir: &Path,
    name: &str,
    last: bool,
) -> Result<Outcome, String> {
    let job = match open_job(exec, dir, name)? {
        Ok(job) => job,
        Err(outcome) => return Ok(outcome),
    };
    let mut fl = FileLoad::new(name, dir.join(name), job.size, last);
    let mut result = None;
    parse(job, |piece| match fl.apply(exec, piece) {
        Ok(None) => true,
        Ok(Some(o)) => {
            result = Some(Ok(o));
            false
        }
        Err(e) => {
            result = Some(Err(e));
            false
        }
    });
    if let Some(rep) = fl.rep.take() {
        rep.close(exec);
    }
    result.unwrap_or_else(|| Err(format!("Loading the append only file {name} stopped")))
}

/// What runs once a background load is complete (opening the AOF for appending).
pub type Done = Box<dyn FnOnce(&mut Executor, Instant)>;

/// Loads the files at startup in the background (see the module doc): sets
/// `state.rdb.loading` for the whole load, then runs `done` once everything is in memory.
/// Any error exits the process, as a failed startup load does.
pub fn start_background(
    exec: &Rc<RefCell<Executor>>,
    files: Vec<(String, bool)>,
    total: u64,
    done: Done,
) {
    {
        let mut ex = exec.borrow_mut();
        ex.state.rdb.loading = Some(Progress {
            start_secs: crate::util::now_ms() / 1000,
            total_bytes: total,
            loaded_bytes: 0,
            rdb_used_mem: 0,
        });
    }
    tokio::task::spawn_local(run(exec.clone(), files, done));
}

/// The background load: one parser thread per file, pieces applied as they come.
async fn run(exec: Rc<RefCell<Executor>>, files: Vec<(String, bool)>, done: Done) {
    let started = Instant::now();
    let dir = exec.borrow().state.aof.dir.clone();
    let count = files.len();
    let mut loaded_before = 0u64;
    for (i, (name, is_base)) in files.into_iter().enumerate() {
        let last = i + 1 == count;
        let t = Instant::now();
        exec.borrow_mut().state.aof.load_track.in_base = is_base;
        let job = match open_job(&exec.borrow(), &dir, &name) {
            Ok(Ok(job)) => job,
            Ok(Err(Outcome::NotExist)) => fatal(&format!("The AOF file {name} doesn't exist")),
            Ok(Err(_)) => continue,
            Err(e) => fatal(&e),
        };
        let size = job.size;
        let mut fl = FileLoad::new(&name, dir.join(&name), size, last);
        let (tx, mut rx) = mpsc::channel(QUEUE_PIECES);
        let spawned = std::thread::Builder::new()
            .name("aof-loader".into())
            .spawn(move || parse(job, |piece| tx.blocking_send(piece).is_ok()));
        if let Err(e) = spawned {
            fatal(&format!("Can't start the AOF loading thread: {e}"));
        }
        loop {
            let Some(piece) = rx.recv().await else {
                fatal(&format!("Loading the append only file {name} stopped"));
            };
            let offset = match &piece {
                Piece::Keys { offset, .. } => Some(*offset),
                Piece::RdbEnd { end } => Some(*end),
                Piece::Commands(entries) => entries.iter().rev().find_map(|e| match e {
                    Entry::Command { end, .. } => Some(*end),
                    Entry::Annotation(_) => None,
                }),
                Piece::End(_) => None,
            };
            let outcome = {
                let mut ex = exec.borrow_mut();
                // The replica's pose (see the module doc), only while applying: between
                // pieces connections see the server as it is (-LOADING, not -READONLY).
                let pose = (ex.state.is_master, ex.state.propagation.enabled);
                ex.state.is_master = false;
                ex.state.propagation.enabled = false;
                let res = fl.apply(&mut ex, piece);
                ex.state.is_master = pose.0;
                ex.state.propagation.enabled = pose.1;
                if let (Some(off), Some(p)) = (offset, ex.state.rdb.loading.as_mut()) {
                    p.loaded_bytes = loaded_before + off;
                }
                match res {
                    Ok(o) => o,
                    Err(e) => fatal(&e),
                }
            };
            if let Some(outcome) = outcome {
                exec.borrow_mut().state.aof.load_track.end_file();
                if outcome != Outcome::Empty {
                    tracing::info!(
                        "DB loaded from {} file {name}: {:.3} seconds",
                        if is_base { "base" } else { "incr" },
                        t.elapsed().as_secs_f64()
                    );
                }
                break;
            }
            tokio::task::yield_now().await;
        }
        loaded_before += size;
    }
    let mut ex = exec.borrow_mut();
    done(&mut ex, started);
    ex.state.rdb.loading = None;
}

/// Logs the failure and exits 1 (a startup load that fails stops the server).
fn fatal(e: &str) -> ! {
    tracing::warn!("{e}");
    eprintln!("{e}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_numbers_are_strict() {
        assert_eq!(header_number(b"*3\r\n"), Some(3));
        assert_eq!(header_number(b"$10\r\n"), Some(10));
        assert_eq!(header_number(b"$1x\r\n"), None);
        assert_eq!(header_number(b"$\r\n"), None);
        assert_eq!(header_number(b"$-1\r\n"), None);
    }
}
