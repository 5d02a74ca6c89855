//! Helpers shared by the integration tests: starting ferrodis and the real redis-server on
//! free ports, talking raw RESP to them, and reading replies byte-exactly.
//!
//! Compatibility is judged against the real thing, so every test that can compares
//! ferrodis's bytes with `redis-server`'s. The reference binary is a hard requirement: when
//! it is missing the tests fail with instructions instead of silently passing.
//!
//! Servers run with a private temporary directory as their working directory, log to a
//! file in it (shown when a test panics), and are stopped on drop (SIGTERM, then SIGKILL).

#![allow(dead_code)]

pub mod aof;
pub mod proxy;
pub mod repl;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The server binary under test, built by cargo for integration tests.
pub const FERRODIS_BIN: &str = env!("CARGO_BIN_EXE_ferrodis-server");

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Default read timeout on test connections: generous, but a hung server fails the test
/// instead of hanging the whole run.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Picks a free TCP port by binding port 0 and releasing it. There is a window in which
/// another process may take it; `Server::start` retries on "address in use".
pub mod diff;

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "ferrodis-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which binary a `Server` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Ferrodis,
    Redis,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::Ferrodis => "ferrodis",
            Flavor::Redis => "redis",
        })
    }
}

thread_local! {
    /// Set by `Server::start_loading` for the duration of its readiness probe.
    static LOADING_IS_READY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A running server process, stopped on drop.
pub struct Server {
    pub flavor: Flavor,
    child: Option<Child>,
    port: u16,
    unixsocket: Option<PathBuf>,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
    // Declared last so the process is gone before its directory is removed.
    dir: TempDir,
}

/// The real redis-server, for differential tests.
pub struct RedisServer;

impl RedisServer {
    /// Starts `redis-server` from PATH with `--save "" --appendonly no --daemonize no` and
    /// `args`. Panics (never skips) when the binary is missing.
    pub fn start(args: &[&str]) -> Server {
        Server::launch(Flavor::Redis, args)
    }
}

/// Starts ferrodis and redis-server with the same extra arguments.
pub fn start_both(args: &[&str]) -> (Server, Server) {
    (Server::start(args), RedisServer::start(args))
}

fn redis_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "redis-server was not found on PATH. The differential and protocol tests compare \
             ferrodis with the real Redis 7.0 and cannot run without it: install it with \
             `apt-get install -y redis-server` (Debian/Ubuntu) and run the tests again."
        ),
    }
}

impl Server {
    /// Starts ferrodis with `--port N --save ""` plus `args`, in a temporary directory.
    ///
    /// `{dir}` inside an argument is replaced by that directory (for unix sockets, log files).
    /// When `args` has its own `--port`, no port is chosen (`--port 0` disables TCP; the
    /// server is then probed over `--unixsocket`).
    pub fn start(args: &[&str]) -> Server {
        Server::launch(Flavor::Ferrodis, args)
    }

    /// Like `start`, but a server still loading its dataset (`-LOADING`) counts as started.
    pub fn start_loading(args: &[&str]) -> Server {
        LOADING_IS_READY.with(|r| r.set(true));
        let s = Server::launch(Flavor::Ferrodis, args);
        LOADING_IS_READY.with(|r| r.set(false));
        s
    }

    fn launch(flavor: Flavor, args: &[&str]) -> Server {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            match Server::try_launch(flavor, args) {
                Ok(s) => return s,
                Err((log, retry)) => {
                    last_log = log;
                    if !retry {
                        break;
                    }
                }
            }
        }
        panic!("{flavor} did not start (args {args:?}). Its log:\n{last_log}");
    }

    /// Err((log, retryable)).
    fn try_launch(flavor: Flavor, args: &[&str]) -> Result<Server, (String, bool)> {
        let dir = TempDir::new(&flavor.to_string());
        let dir_str = dir.path().to_string_lossy().into_owned();
        let user_args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &dir_str)).collect();
        let explicit_port = user_args
            .iter()
            .position(|a| a == "--port")
            .and_then(|i| user_args.get(i + 1))
            .map(|p| p.parse::<u16>().expect("--port takes a number"));
        let unixsocket = user_args
            .iter()
            .position(|a| a == "--unixsocket")
            .and_then(|i| user_args.get(i + 1))
            .map(PathBuf::from);
        let port = explicit_port.unwrap_or_else(free_port);

        let (bin, mut argv): (PathBuf, Vec<String>) = match flavor {
            Flavor::Ferrodis => (PathBuf::from(FERRODIS_BIN), vec![]),
            Flavor::Redis => (
                redis_binary(),
                vec![
                    "--appendonly".into(),
                    "no".into(),
                    "--daemonize".into(),
                    "no".into(),
                ],
            ),
        };
        if explicit_port.is_none() {
            argv.push("--port".into());
            argv.push(port.to_string());
        }
        argv.push("--save".into());
        argv.push(String::new());
        argv.extend(user_args);

        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path).expect("create log file");
        let log2 = log.try_clone().expect("clone log file");
        let child = Command::new(&bin)
            .args(&argv)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let mut server = Server {
            flavor,
            child: Some(child),
            port,
            unixsocket,
            log_path,
            exit: None,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if server.ping_once() {
                return Ok(server);
            }
            if let Some(status) = server.try_wait() {
                let log = server.log();
                let in_use = log.contains("in use") || log.contains("Failed listening");
                return Err((
                    format!("{log}\n(exited with {status}; argv {argv:?})"),
                    in_use && explicit_port.is_none(),
                ));
            }
            if Instant::now() > deadline {
                let log = server.log();
                // Drop stops the process.
                return Err((
                    format!("{log}\n(no PING reply within {START_TIMEOUT:?}; argv {argv:?})"),
                    false,
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One readiness probe: any +reply or an error other than -LOADING means the server is up.
    fn ping_once(&self) -> bool {
        let conn = if self.port != 0 {
            TcpStream::connect(("127.0.0.1", self.port)).map(Stream::Tcp)
        } else if let Some(p) = &self.unixsocket {
            UnixStream::connect(p).map(Stream::Unix)
        } else {
            return false;
        };
        let Ok(stream) = conn else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut c = RawConn::from_stream(stream);
        if c.try_send(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        match c.try_read_raw() {
            Ok(Some(r)) => {
                r.starts_with(b"+")
                    || (r.starts_with(b"-")
                        && (!r.starts_with(b"-LOADING") || LOADING_IS_READY.with(|l| l.get())))
            }
            _ => false,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn unixsocket(&self) -> Option<&Path> {
        self.unixsocket.as_deref()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("server process")
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A redis-rs connection (RESP2), with read/write timeouts.
    pub fn client(&self) -> redis::Connection {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("redis client");
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to {} on {}: {e}", self.flavor, self.port));
        conn.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        conn.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        conn
    }

    /// A plain TCP connection with the default timeouts.
    pub fn tcp(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect to {} on {}: {e}", self.flavor, self.port));
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let _ = s.set_nodelay(true);
        s
    }

    /// A raw RESP connection over TCP.
    pub fn raw(&self) -> RawConn {
        RawConn::from_stream(Stream::Tcp(self.tcp()))
    }

    /// A raw RESP connection over the server's unix socket.
    pub fn raw_unix(&self) -> RawConn {
        let p = self
            .unixsocket
            .as_ref()
            .expect("server has no --unixsocket");
        let s = UnixStream::connect(p).unwrap_or_else(|e| panic!("connect {}: {e}", p.display()));
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        RawConn::from_stream(Stream::Unix(s))
    }

    /// True while the process runs and answers PING on a fresh connection.
    pub fn is_alive(&mut self) -> bool {
        self.try_wait().is_none() && self.ping_once()
    }

    /// Resident set size in bytes (from /proc/<pid>/statm).
    pub fn rss_bytes(&self) -> u64 {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.pid()))
            .expect("read /proc/<pid>/statm");
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("statm resident field");
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        pages * page.max(4096) as u64
    }

    /// Exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.exit = Some(st);
                }
            }
        }
        self.exit
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the process (if it still runs).
    pub fn signal(&mut self, sig: i32) {
        if self.try_wait().is_none() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
            unsafe {
                libc::kill(self.pid() as libc::pid_t, sig);
            }
        }
    }

    /// SIGKILL (kill -9), then waits up to 5 s for the process to be gone.
    pub fn sigkill(&mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(5));
    }

    /// The working directory as a string, for `--dir` of a server started on its files.
    pub fn dir_string(&self) -> String {
        self.dir().to_string_lossy().into_owned()
    }

    /// SIGTERM, then waits up to 10 s; returns the exit status (None if it did not exit).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(10))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                if let Some(c) = self.child.as_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "---- last lines of the {} log (port {}) ----",
                self.flavor, self.port
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// HELLO's map with the client id (which differs between servers) blanked out.
pub fn hello_without_id(r: Resp) -> Resp {
    match r {
        Resp::Map(pairs) => Resp::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    if k == Resp::Bulk(b"id".to_vec()) {
                        (k, Resp::Int(0))
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        Resp::Array(items) => {
            let mut out = Vec::new();
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                let v = if k == Resp::Bulk(b"id".to_vec()) {
                    Resp::Int(0)
                } else {
                    v
                };
                out.push(k);
                out.push(v);
            }
            Resp::Array(out)
        }
        other => other,
    }
}

/// Sends a command and reads its reply; a RESP3 push message that precedes the reply is
/// kept in front of it (DEBUG PROTOCOL push sends one).
fn cmd_with_pushes(c: &mut RawConn, cmd: &[&str]) -> Vec<u8> {
    c.send_cmd(cmd);
    let mut out = Vec::new();
    loop {
        let r = c.read_raw();
        let push = r.starts_with(b">");
        out.extend(r);
        if !push {
            return out;
        }
    }
}

/// Runs the same commands on both servers and compares the exact replies, except HELLO
/// replies whose `id` is masked.
pub fn compare_session(ferro: &Server, redis: &Server, cmds: &[&[&str]]) {
    let mut f = ferro.raw();
    let mut r = redis.raw();
    for cmd in cmds {
        let fr = cmd_with_pushes(&mut f, cmd);
        let rr = cmd_with_pushes(&mut r, cmd);
        if cmd[0].eq_ignore_ascii_case("hello") {
            let parse = |b: &[u8]| {
                parse_reply(b)
                    .ok()
                    .flatten()
                    .map(|(r, _)| hello_without_id(r))
            };
            assert_eq!(
                parse(&fr),
                parse(&rr),
                "{cmd:?}\n  ferrodis: {}\n  redis:    {}",
                show(&fr),
                show(&rr)
            );
        } else {
            assert!(
                fr == rr,
                "{cmd:?}\n  ferrodis: {}\n  redis:    {}",
                show(&fr),
                show(&rr)
            );
        }
    }
}

/// A TCP or unix stream.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A connection speaking raw RESP: what is sent and read are exact bytes.
pub struct RawConn {
    stream: Stream,
    buf: Vec<u8>,
    /// Start of unread bytes in `buf`.
    pos: usize,
}

impl RawConn {
    pub fn from_stream(stream: Stream) -> RawConn {
        RawConn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            pos: 0,
        }
    }

    pub fn connect(port: u16) -> RawConn {
        let s = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let _ = s.set_nodelay(true);
        RawConn::from_stream(Stream::Tcp(s))
    }

    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    pub fn set_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).expect("timeout");
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes bytes; panics on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    pub fn send_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let b = encode(args);
        self.send(&b);
    }

    /// Sends a command and returns its reply's exact bytes.
    pub fn cmd_raw<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_raw()
    }

    /// Sends a command and returns its parsed reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Resp {
        self.send_cmd(args);
        self.read()
    }

    /// Convenience for `cmd` with whitespace-separated words.
    pub fn cmds(&mut self, line: &str) -> Resp {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.cmd(&args)
    }

    /// Reads more bytes into the buffer. Ok(0) at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 1024 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one complete reply. Ok(None) if the peer closed before a full reply.
    pub fn try_read_raw(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match parse_reply(&self.buf[self.pos..]) {
                Ok(Some((_, used))) => {
                    let out = self.buf[self.pos..self.pos + used].to_vec();
                    self.pos += used;
                    return Ok(Some(out));
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{e}: {}", show(&self.buf[self.pos..])),
                    ))
                }
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads one complete reply's bytes; panics on EOF, timeout or malformed data.
    pub fn read_raw(&mut self) -> Vec<u8> {
        match self.try_read_raw() {
            Ok(Some(r)) => r,
            Ok(None) => panic!(
                "connection closed while waiting for a reply (buffered: {})",
                show(&self.buf[self.pos..])
            ),
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads and parses one reply.
    pub fn read(&mut self) -> Resp {
        let raw = self.read_raw();
        match parse_reply(&raw) {
            Ok(Some((r, _))) => r,
            _ => unreachable!("read_raw returns complete replies"),
        }
    }

    /// Reads everything until the peer closes or `timeout` passes without data.
    /// Returns the bytes (including any already buffered) and whether EOF (or a reset) was seen.
    pub fn read_until_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let closed = loop {
            match self.fill() {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    break false
                }
                // A reset is a close too (the server may close with unread input pending).
                Err(_) => break true,
            }
        };
        let _ = self.stream.set_read_timeout(Some(IO_TIMEOUT));
        let out = self.buf[self.pos..].to_vec();
        self.pos = self.buf.len();
        (out, closed)
    }
}

/// A parsed reply (RESP2 and RESP3 types).
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    /// `$-1` in RESP2.
    NilBulk,
    Bulk(Vec<u8>),
    /// `*-1` in RESP2.
    NilArray,
    Array(Vec<Resp>),
    /// RESP3 `_`.
    Null,
    /// RESP3 `,` (kept as text so comparisons are exact).
    Double(Vec<u8>),
    Bool(bool),
    BigNumber(Vec<u8>),
    BlobError(Vec<u8>),
    Verbatim(Vec<u8>, Vec<u8>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    /// An attribute map followed by the reply it annotates.
    Attribute(Vec<(Resp, Resp)>, Box<Resp>),
}

impl Resp {
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Resp::Simple(b) | Resp::Bulk(b) | Resp::Error(b) | Resp::Double(b) => Some(b),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| format!("{self:?}"))
    }

    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_) | Resp::BlobError(_))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Resp::NilBulk | Resp::NilArray | Resp::Null)
    }

    pub fn array(&self) -> &[Resp] {
        match self {
            Resp::Array(a) | Resp::Set(a) | Resp::Push(a) => a,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

/// Renders bytes with non-printable characters escaped, for failure messages.
pub fn show(b: &[u8]) -> String {
    const MAX: usize = 600;
    let mut s = String::new();
    for &c in b.iter().take(MAX) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > MAX {
        s.push_str(&format!("... ({} bytes)", b.len()));
    }
    format!("\"{s}\"")
}

/// Renders a command for failure messages.
pub fn show_cmd<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter()
        .map(|a| show(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn find_crlf(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < b.len() {
        if b[i] == b'\r' && b[i + 1] == b'\n' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Parses one reply from the start of `b`: Ok(None) if incomplete, else (reply, bytes used).
pub fn parse_reply(b: &[u8]) -> Result<Option<(Resp, usize)>, String> {
    if b.is_empty() {
        return Ok(None);
    }
    let Some(eol) = find_crlf(b, 1) else {
        return Ok(None);
    };
    let line = &b[1..eol];
    let next = eol + 2;
    let num = || -> Result<i64, String> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| format!("bad length/integer line {}", show(line)))
    };
    let blob = |len: i64| -> Option<(Vec<u8>, usize)> {
        let len = len as usize;
        if b.len() < next + len + 2 {
            return None;
        }
        Some((b[next..next + len].to_vec(), next + len + 2))
    };
    match b[0] {
        b'+' => Ok(Some((Resp::Simple(line.to_vec()), next))),
        b'-' => Ok(Some((Resp::Error(line.to_vec()), next))),
        b':' => Ok(Some((Resp::Int(num()?), next))),
        b',' => Ok(Some((Resp::Double(line.to_vec()), next))),
        b'(' => Ok(Some((Resp::BigNumber(line.to_vec()), next))),
        b'_' => Ok(Some((Resp::Null, next))),
        b'#' => match line {
            b"t" => Ok(Some((Resp::Bool(true), next))),
            b"f" => Ok(Some((Resp::Bool(false), next))),
            _ => Err(format!("bad boolean {}", show(line))),
        },
        b'$' | b'!' | b'=' => {
            let n = num()?;
            if n < 0 {
                return if b[0] == b'$' {
                    Ok(Some((Resp::NilBulk, next)))
                } else {
                    Err("negative blob length".into())
                };
            }
            let Some((data, used)) = blob(n) else {
                return Ok(None);
            };
            let r = match b[0] {
                b'$' => Resp::Bulk(data),
                b'!' => Resp::BlobError(data),
                _ => {
                    if data.len() < 4 || data[3] != b':' {
                        return Err("verbatim string without a format".into());
                    }
                    Resp::Verbatim(data[..3].to_vec(), data[4..].to_vec())
                }
            };
            Ok(Some((r, used)))
        }
        b'*' | b'~' | b'>' => {
            let n = num()?;
            if n < 0 {
                return if b[0] == b'*' {
                    Ok(Some((Resp::NilArray, next)))
                } else {
                    Err("negative aggregate length".into())
                };
            }
            let mut items = Vec::with_capacity((n as usize).min(4096));
            let mut at = next;
            for _ in 0..n {
                match parse_reply(&b[at..])? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            let r = match b[0] {
                b'*' => Resp::Array(items),
                b'~' => Resp::Set(items),
                _ => Resp::Push(items),
            };
            Ok(Some((r, at)))
        }
        b'%' | b'|' => {
            let n = num()?;
            if n < 0 {
                return Err("negative map length".into());
            }
            let mut pairs = Vec::with_capacity((n as usize).min(4096));
            let mut at = next;
            for _ in 0..n {
                let Some((k, u1)) = parse_reply(&b[at..])? else {
                    return Ok(None);
                };
                at += u1;
                let Some((v, u2)) = parse_reply(&b[at..])? else {
                    return Ok(None);
                };
                at += u2;
                pairs.push((k, v));
            }
            if b[0] == b'%' {
                Ok(Some((Resp::Map(pairs), at)))
            } else {
                let Some((inner, u)) = parse_reply(&b[at..])? else {
                    return Ok(None);
                };
                Ok(Some((Resp::Attribute(pairs, Box::new(inner)), at + u)))
            }
        }
        other => Err(format!("unknown reply type byte {}", show(&[other]))),
    }
}

/// One `field:value` line of an INFO section.
pub fn info_field(c: &mut RawConn, section: &str, field: &str) -> String {
    let Resp::Bulk(b) = c.cmd(&["INFO", section]) else {
        panic!("INFO did not return a bulk string");
    };
    let text = String::from_utf8(b).expect("INFO is text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("INFO {section} has no field {field}:\n{text}"))
}

/// DEBUG DIGEST: the whole dataset in one reply, to compare servers.
pub fn digest(c: &mut RawConn) -> Resp {
    c.cmd(&["DEBUG", "DIGEST"])
}

/// Polls `f` every 20 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every type, small and large encodings, expiries, several databases.
pub fn fill_mixed(c: &mut RawConn, tag: &str) {
    for cmd in [
        format!("SET {tag}str hello"),
        format!("SET {tag}int 12345"),
        format!("RPUSH {tag}list a b c 1 2 3"),
        format!("HSET {tag}hash f1 v1 f2 v2"),
        format!("SADD {tag}intset 1 2 3 100000"),
        format!("SADD {tag}set a b c"),
        format!("ZADD {tag}zset 1 a 2.5 b -3 c"),
        format!("PFADD {tag}hll a b c d"),
        format!("SETBIT {tag}bits 1000 1"),
        format!("SET {tag}volatile v EX 10000"),
        format!("PEXPIRE {tag}hash 5000000"),
        "SELECT 3".to_string(),
        format!("SET {tag}other-db 1"),
        format!("INCRBYFLOAT {tag}float 1.5"),
        "SELECT 0".to_string(),
    ] {
        let r = c.cmds(&cmd);
        assert!(!matches!(r, Resp::Error(_)), "{cmd}: {r:?}");
    }
    let mut big_hash = vec!["HSET".to_string(), format!("{tag}bighash")];
    let mut big_zset = vec!["ZADD".to_string(), format!("{tag}bigzset")];
    let mut big_set = vec!["SADD".to_string(), format!("{tag}bigset")];
    let mut big_list = vec!["RPUSH".to_string(), format!("{tag}biglist")];
    for i in 0..300 {
        big_hash.push(format!("field{i}"));
        big_hash.push(format!("value{i}"));
        big_zset.push(format!("{i}.5"));
        big_zset.push(format!("member{i}"));
        big_set.push(format!("m{i}"));
    }
    for i in 0..1000 {
        big_list.push(format!("element-{i}"));
    }
    for cmd in [big_hash, big_zset, big_set, big_list] {
        let r = c.cmd(&cmd);
        assert!(!matches!(r, Resp::Error(_)), "{r:?}");
    }
}
