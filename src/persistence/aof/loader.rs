//! Replaying AOF files into the keyspace (Redis's `loadSingleAppendOnlyFile`).
//!
//! A file is either an RDB image (a `.base.rdb`, or an old single-file AOF with an RDB
//! preamble), possibly followed by commands, or commands alone. The RDB part goes through the
//! RDB loader's `Applier`; the commands are parsed here and run through `Executor::call` on a
//! private client, so they behave exactly as they did when first executed.
//!
//! While replaying, the server poses as a replica applying its master's stream: the state is
//! not master and the client is of kind `Master`. That is what Redis's loading mode does too:
//! no key is treated as expired (the file carries the DELs that really happened, and a key
//! expiring "during" the replay would change what later commands see), an EXPIRE in the past
//! sets the expiry instead of deleting, and nothing is propagated back into the stream.
//!
//! Damage is classified like Redis: a file that ends in the middle of a command (or inside a
//! MULTI without its EXEC) is *truncated* — trimmed to the last complete command when
//! `aof-load-truncated yes` and it is the last file; anything else malformed is a format
//! error naming the byte offset, and refuses to start.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::executor::client::{Client, ClientKind};
use crate::executor::Executor;
use crate::persistence::load::{prepare, Applier};
use crate::persistence::rdb::decode::Decoder;
use crate::persistence::rdb::DecodeOptions;

/// Longest annotation or header line read at once (Redis's AOF_ANNOTATION_LINE_MAX_LEN).
const LINE_MAX: u64 = 1024;

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
enum Stop {
    /// The file ends inside a command.
    Eof,
    /// Malformed content at this offset.
    Format(u64),
    Io(io::Error),
    /// A fatal, already-worded error (unknown command...).
    Fatal(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
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

/// The private client commands are replayed on (Redis's AOF fake client).
struct Replayer<'a> {
    exec: &'a mut Executor,
    slot: usize,
    client: Option<Client>,
}

impl<'a> Replayer<'a> {
    fn new(exec: &'a mut Executor) -> Result<Replayer<'a>, String> {
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
        Ok(Replayer { exec, slot, client })
    }

    fn run(&mut self, argv: &[Bytes], file: &str) -> Result<(), Stop> {
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
            self.exec.call(client, spec, argv);
        }
        client.out.buf.clear();
        Ok(())
    }
}

impl Drop for Replayer<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            self.exec.clients[self.slot] = Some(c);
        }
        self.exec.unregister(self.slot);
    }
}

/// Loads one file of the AOF (`name` inside `dir`). `last` says whether it is the last file
/// (only the last may be trimmed). Errors are the message to log before exiting.
pub fn load_file(
    exec: &mut Executor,
    dir: &Path,
    name: &str,
    last: bool,
) -> Result<Outcome, String> {
    let path = dir.join(name);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::warn!("The append log file {name} doesn't exist: {e}");
            return Ok(Outcome::NotExist);
        }
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {name} for reading: {e}"
            ))
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Ok(Outcome::Empty);
    }
    let mut sig = [0u8; 5];
    let is_rdb = file.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
    file.seek(SeekFrom::Start(0))
        .map_err(|e| format!("Unrecoverable error reading the append only file {name}: {e}"))?;
    let mut start = 0;
    if is_rdb {
        start = load_rdb_part(exec, &mut file, size, name)?;
    }
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("Unrecoverable error reading the append only file {name}: {e}"))?;
    let mut input = Input {
        r: BufReader::with_capacity(64 * 1024, file),
        pos: start,
        size,
    };
    let mut valid_up_to = start;
    let result = replay(exec, &mut input, name, &mut valid_up_to);
    match result {
        Ok(()) => Ok(Outcome::Ok),
        Err(Stop::Fatal(m)) => Err(m),
        Err(Stop::Io(e)) => Err(format!(
            "Unrecoverable error reading the append only file {name}: {e}"
        )),
        Err(Stop::Format(off)) => Err(format!(
            "Bad file format reading the append only file {name} at offset {off}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
        )),
        Err(Stop::Eof) => truncated(exec, &path, name, size, valid_up_to, last),
    }
}

/// The RDB image at the start of a file; returns where it ends.
fn load_rdb_part(
    exec: &mut Executor,
    file: &mut File,
    size: u64,
    name: &str,
) -> Result<u64, String> {
    let old_style = name == exec.state.cfg.appendfilename;
    if old_style {
        tracing::info!("Reading RDB preamble from AOF file...");
    } else {
        tracing::info!("Reading RDB base file on AOF loading...");
    }
    let fail = |e: &dyn std::fmt::Display| {
        if old_style {
            format!(
                "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted: {e}"
            )
        } else {
            format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
        }
    };
    let state = &mut exec.state;
    let opts = DecodeOptions::from_config(&state.cfg);
    let mut dec = Decoder::new(&mut *file, opts).map_err(|e| fail(&e))?;
    let mut applier = Applier::new(state);
    applier.max_reserve = size / 3;
    while let Some(item) = dec.next_item().map_err(|e| fail(&e))? {
        let off = dec.offset();
        applier
            .apply(state, prepare(item), off)
            .map_err(|e| fail(&e))?;
    }
    let end = dec.offset();
    applier.finish(state);
    if old_style {
        tracing::info!("Reading the remaining AOF tail...");
    }
    Ok(end)
}

/// Parses and runs commands to the end of the file.
fn replay(
    exec: &mut Executor,
    input: &mut Input,
    name: &str,
    valid_up_to: &mut u64,
) -> Result<(), Stop> {
    let mut rep = Replayer::new(exec).map_err(Stop::Fatal)?;
    let mut line = Vec::with_capacity(64);
    let mut argv: Vec<Bytes> = Vec::new();
    let mut in_multi = false;
    let mut before_multi = *valid_up_to;
    let delay = rep.exec.state.cfg.key_load_delay.max(0) as u64;
    loop {
        let cmd_start = input.pos;
        input.line(&mut line)?;
        if line.is_empty() {
            break;
        }
        if line[0] == b'#' {
            // Annotations (#TS:<unix>) carry no data.
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
        argv.clear();
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
        let is_multi = argv[0].eq_ignore_ascii_case(b"multi");
        if is_multi {
            before_multi = *valid_up_to;
        }
        rep.run(&argv, name)?;
        if is_multi {
            in_multi = true;
        } else if argv[0].eq_ignore_ascii_case(b"exec") || argv[0].eq_ignore_ascii_case(b"discard")
        {
            in_multi = false;
        }
        *valid_up_to = input.pos;
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay));
        }
    }
    if in_multi {
        tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
        *valid_up_to = before_multi;
        return Err(Stop::Eof);
    }
    Ok(())
}

/// A torn tail: trim and go on, or refuse (Redis's `uxeof` path).
fn truncated(
    exec: &mut Executor,
    path: &Path,
    name: &str,
    size: u64,
    valid_up_to: u64,
    last: bool,
) -> Result<Outcome, String> {
    let refuse = format!(
        "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
    );
    if !exec.state.cfg.aof_load_truncated {
        return Err(refuse);
    }
    if !last {
        return Err("Fatal error: the truncated file is not the last file".into());
    }
    tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
    tracing::warn!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
    let res = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(valid_up_to).and_then(|_| f.sync_all()));
    match res {
        Ok(()) => {
            tracing::warn!(
                "AOF {name} loaded anyway because aof-load-truncated is enabled ({} bytes of torn tail removed)",
                size - valid_up_to
            );
            Ok(Outcome::Truncated)
        }
        Err(e) => {
            tracing::warn!("Error truncating the AOF file {name}: {e}");
            Err(refuse)
        }
    }
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
