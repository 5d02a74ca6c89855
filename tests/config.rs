//! End-to-end tests of the configuration subsystem and the command line: they start the
//! real `ferrodis-server` binary with config files, stdin and `--directive` overrides, and
//! check CONFIG GET/SET/REWRITE over a TCP connection, startup failures (message and exit
//! code), TOML configs, includes, daemonizing and a `redis-server` symlink. Where a real
//! `redis-server` is installed, startup errors and CONFIG replies are compared with it.
//!
//! Each test uses its own port in 7100-7199 and its own temporary directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrodis-server");

// ---------------------------------------------------------------------------------------
// A minimal RESP client.

#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Resp>>),
    Map(Vec<(Resp, Resp)>),
}

impl Resp {
    fn text(&self) -> String {
        match self {
            Resp::Simple(s) | Resp::Error(s) => s.clone(),
            Resp::Bulk(Some(s)) => s.clone(),
            other => panic!("not a string reply: {other:?}"),
        }
    }

    /// A CONFIG GET reply (RESP2 array or RESP3 map) as pairs.
    fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Resp::Array(Some(items)) => items
                .chunks(2)
                .map(|p| (p[0].text(), p[1].text()))
                .collect(),
            Resp::Map(m) => m.iter().map(|(k, v)| (k.text(), v.text())).collect(),
            other => panic!("not a CONFIG GET reply: {other:?}"),
        }
    }
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn cmd(&mut self, args: &[&str]) -> Resp {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).unwrap();
        self.read()
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        assert!(l.ends_with("\r\n"), "truncated reply line {l:?}");
        l.truncate(l.len() - 2);
        l
    }

    fn read(&mut self) -> Resp {
        let l = self.line();
        let (t, rest) = l.split_at(1);
        match t {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Int(rest.parse().unwrap()),
            "_" => Resp::Bulk(None),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut buf = vec![0; n as usize + 2];
                self.r.read_exact(&mut buf).unwrap();
                buf.truncate(n as usize);
                Resp::Bulk(Some(String::from_utf8(buf).unwrap()))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Resp::Array(None);
                }
                Resp::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            "%" => {
                let n: usize = rest.parse().unwrap();
                Resp::Map((0..n).map(|_| (self.read(), self.read())).collect())
            }
            _ => panic!("unexpected reply line {l:?}"),
        }
    }

    /// CONFIG GET of one exact name.
    fn get(&mut self, name: &str) -> String {
        let p = self.cmd(&["CONFIG", "GET", name]).pairs();
        assert_eq!(p.len(), 1, "CONFIG GET {name}: {p:?}");
        p[0].1.clone()
    }

    fn ok(&mut self, args: &[&str]) {
        assert_eq!(self.cmd(args), Resp::Simple("OK".into()), "{args:?}");
    }

    fn err(&mut self, args: &[&str]) -> String {
        match self.cmd(args) {
            Resp::Error(e) => e,
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Servers and scratch directories.

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("ferrodis-cfgtest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        // Canonical, so it compares equal to what CONFIG GET dir reports.
        TempDir(std::fs::canonicalize(&p).unwrap())
    }

    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }

    fn write(&self, f: &str, text: &str) -> PathBuf {
        let p = self.path(f);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn s(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(bin: &str, args: &[&str], port: u16, dir: &TempDir) -> Server {
        Self::start_stdin(bin, args, port, dir, None)
    }

    fn start_stdin(
        bin: &str,
        args: &[&str],
        port: u16,
        dir: &TempDir,
        stdin: Option<&str>,
    ) -> Server {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(&dir.0)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn server");
        if let Some(text) = stdin {
            let mut w = child.stdin.take().unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        let mut s = Server { child, port };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("server exited early ({status}): {err}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server on port {} did not start", self.port);
    }

    fn conn(&self) -> Conn {
        Conn::open(self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (for startup failures), with optional stdin.
fn run(bin: &str, args: &[&str], dir: &TempDir, stdin: Option<&str>) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(&dir.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        let mut w = child.stdin.take().unwrap();
        let _ = w.write_all(stdin.unwrap_or("").as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The installed redis-server, to compare with, if any.
fn real_redis() -> Option<&'static str> {
    let ok = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("v=7.0"));
    ok.then_some("redis-server")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Command line.

#[test]
fn version_and_help() {
    let dir = TempDir::new("version");
    for flag in ["--version", "-v"] {
        let out = run(BIN, &[flag], &dir, None);
        assert_eq!(out.status.code(), Some(0));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.starts_with("Redis server v=7.0.15 sha="), "{s}");
    }
    for flag in ["--help", "-h"] {
        let out = run(BIN, &[flag], &dir, None);
        // redis-server prints its usage to stderr and exits 1.
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("Usage: "));
    }
}

#[test]
fn command_line_overrides_every_directive() {
    let dir = TempDir::new("overrides");
    let file = dir.write(
        "base.conf",
        "# base\nport 7000\nmaxmemory 1mb\ntimeout 7\nsave 3600 1\n",
    );
    let s = Server::start(
        BIN,
        &[
            file.to_str().unwrap(),
            "--port",
            "7101",
            "--maxmemory",
            "10MB",
            "--save",
            "60",
            "1",
            "--save",
            "30",
            "2",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--hash-max-ziplist-entries",
            "99",
            "--requirepass",
            "--dashes--",
            "--notify-keyspace-events",
            "KEA",
            "--maxmemory-policy",
            "ALLKEYS-LRU",
        ],
        7101,
        &dir,
    );
    let mut c = s.conn();
    assert_eq!(c.err(&["PING"]), "NOAUTH Authentication required.");
    c.ok(&["AUTH", "--dashes--"]);
    assert_eq!(c.get("port"), "7101");
    assert_eq!(c.get("maxmemory"), "10485760");
    assert_eq!(c.get("timeout"), "7");
    // The file's save line, then both command line ones (save lines add up while loading).
    assert_eq!(c.get("save"), "3600 1 60 1 30 2");
    assert_eq!(c.get("bind"), "127.0.0.1 -::1");
    assert_eq!(c.get("hash-max-listpack-entries"), "99");
    assert_eq!(c.get("notify-keyspace-events"), "AKE");
    assert_eq!(c.get("maxmemory-policy"), "allkeys-lru");
    assert_eq!(c.get("dir"), dir.s());
}

#[test]
fn stdin_config() {
    let dir = TempDir::new("stdin");
    let s = Server::start_stdin(
        BIN,
        &["-", "--maxclients", "77"],
        7102,
        &dir,
        Some("port 7102\nmaxclients 5\nloglevel warning\n"),
    );
    let mut c = s.conn();
    assert_eq!(c.get("maxclients"), "77");
    assert_eq!(c.get("loglevel"), "warning");
    // Config from stdin only: there is no file to rewrite.
    assert_eq!(
        c.err(&["CONFIG", "REWRITE"]),
        "ERR The server is running without a config file"
    );
}

#[test]
fn redis_server_symlink() {
    let dir = TempDir::new("symlink");
    let link = dir.path("redis-server");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let link = link.to_str().unwrap();
    let out = run(link, &["--version"], &dir, None);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Redis server v=7.0.15"));
    let conf = dir.write("r.conf", "port 7103\n");
    let s = Server::start(link, &[conf.to_str().unwrap(), "--hz", "20"], 7103, &dir);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(c.get("hz"), "20");
}

// ---------------------------------------------------------------------------------------
// Startup failures.

/// (config file, extra args, expected stderr).
const FATAL: &[(&str, &[&str], &str)] = &[
    (
        "port 7101\nport \"abc\"\n",
        &[],
        "Reading the configuration file, at line 2\n>>> 'port \"abc\"'\nargument couldn't be parsed into an integer\n",
    ),
    (
        "# comment\nfoo bar\n",
        &[],
        "Reading the configuration file, at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments\n",
    ),
    (
        "port 1 2\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'port 1 2'\nwrong number of arguments\n",
    ),
    (
        "port 99999\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'port 99999'\nargument must be between 0 and 65535 inclusive\n",
    ),
    (
        "daemonize maybe\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'daemonize maybe'\nargument must be 'yes' or 'no'\n",
    ),
    (
        "maxmemory 1x\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'maxmemory 1x'\nargument must be a memory value\n",
    ),
    (
        "loglevel loud\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'loglevel loud'\nargument(s) must be one of the following: debug, verbose, notice, warning\n",
    ),
    (
        "save 10\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'save 10'\nInvalid save parameters\n",
    ),
    (
        "requirepass \"abc\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'requirepass \"abc'\nUnbalanced quotes in configuration line\n",
    ),
    (
        "dir /nonexistent-ferrodis-dir\n",
        &[],
        "Reading the configuration file, at line 1\n>>> 'dir /nonexistent-ferrodis-dir'\nNo such file or directory\n",
    ),
    (
        "",
        &["--port", "abc"],
        "Reading the configuration file, at line 2\n>>> 'port \"abc\"'\nargument couldn't be parsed into an integer\n",
    ),
    (
        "port 7104\n",
        &["--timeout", "1", "2"],
        "Reading the configuration file, at line 3\n>>> 'timeout \"1\" \"2\"'\nwrong number of arguments\n",
    ),
    (
        "logfile /nonexistent-ferrodis-dir/x.log\n",
        &[],
        "Can't open the log file: No such file or directory\n",
    ),
];

#[test]
fn bad_config_stops_startup_with_redis_message() {
    let dir = TempDir::new("fatal");
    for (text, extra, want) in FATAL {
        let conf = dir.write("bad.conf", text);
        let mut args = vec![conf.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(BIN, &args, &dir, None);
        assert_eq!(out.status.code(), Some(1), "{text:?} {extra:?}");
        let want = format!("\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n{want}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            want,
            "{text:?} {extra:?}"
        );
    }
    // A missing config file is logged to stdout, exit code 1.
    let out = run(BIN, &["/nonexistent-ferrodis.conf"], &dir, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "# Fatal error, can't open config file '/nonexistent-ferrodis.conf': No such file or directory"
    ));
}

#[test]
fn fatal_errors_same_as_real_redis() {
    let redis = real_redis().expect(
        "redis-server 7.0 is required for this comparison: apt-get install -y redis-server",
    );
    let dir = TempDir::new("fatal-cmp");
    let more: &[(&str, &[&str])] = &[
        ("unixsocketperm 999\n", &[]),
        ("maxmemory-clients 200%\n", &[]),
        ("dbfilename a/b\n", &[]),
        ("notify-keyspace-events Q\n", &[]),
        ("replicaof a\n", &[]),
        ("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", &[]),
        ("shutdown-on-sigint save nosave\n", &[]),
        ("client-output-buffer-limit normal 1 1\n", &[]),
        ("include\n", &[]),
        ("sentinel foo\n", &[]),
        ("dir /etc/passwd\n", &[]),
        ("", &["--foo"]),
        ("", &["--save", "10"]),
    ];
    let cases = FATAL
        .iter()
        .map(|(t, e, _)| (*t, *e))
        .chain(more.iter().copied());
    for (text, extra) in cases {
        let conf = dir.write("bad.conf", text);
        let mut args = vec![conf.to_str().unwrap()];
        args.extend_from_slice(extra);
        let ours = run(BIN, &args, &dir, None);
        let theirs = run(redis, &args, &dir, None);
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{text:?} {extra:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{text:?} {extra:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// CONFIG GET / SET.

#[test]
fn config_get_and_set() {
    let dir = TempDir::new("getset");
    let s = Server::start(
        BIN,
        &[
            "--port", "7105", "--save", "3600", "1", "300", "100", "60", "10000",
        ],
        7105,
        &dir,
    );
    let mut c = s.conn();
    assert_eq!(c.get("save"), "3600 1 300 100 60 10000");

    // Several patterns, globs, exact names as spelled, no duplicates.
    let p = c
        .cmd(&["CONFIG", "GET", "PORT", "port", "maxmemory*"])
        .pairs();
    let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "PORT");
    assert!(!names.contains(&"port"));
    assert!(names.contains(&"maxmemory-policy"));
    assert!(names.contains(&"maxmemory-samples"));
    let p = c.cmd(&["CONFIG", "GET", "slave*"]).pairs();
    assert!(p.iter().any(|(n, v)| n == "slave-read-only" && v == "yes"));
    assert!(c.cmd(&["CONFIG", "GET", "nonexistent"]).pairs().is_empty());
    // Hidden configs need the exact name.
    assert!(c
        .cmd(&["CONFIG", "GET", "*delay*"])
        .pairs()
        .iter()
        .all(|(n, _)| n != "rdb-key-save-delay"));
    assert_eq!(c.get("rdb-key-save-delay"), "0");

    // Several pairs at once.
    c.ok(&[
        "CONFIG",
        "SET",
        "maxmemory",
        "2gb",
        "hz",
        "20",
        "save",
        "10 1 20 2",
    ]);
    assert_eq!(c.get("maxmemory"), "2147483648");
    assert_eq!(c.get("hz"), "20");
    assert_eq!(c.get("save"), "10 1 20 2");
    c.ok(&["CONFIG", "SET", "save", ""]);
    assert_eq!(c.get("save"), "");

    // All or nothing: a bad value leaves every other one untouched.
    assert_eq!(
        c.err(&["CONFIG", "SET", "timeout", "5", "maxmemory", "1x"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(c.get("timeout"), "0");
    assert_eq!(c.get("maxmemory"), "2147483648");

    // Redis's errors.
    assert_eq!(
        c.err(&["CONFIG", "SET", "foo", "bar"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        c.err(&["CONFIG", "SET", "port", "x"]),
        "ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        c.err(&["CONFIG", "SET", "daemonize", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    );
    assert_eq!(
        c.err(&["CONFIG", "SET", "hz", "5", "hz", "6"]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
    );
    assert_eq!(
        c.err(&["CONFIG", "SET", "hz", "1", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        c.err(&["CONFIG", "SET", "hz"]),
        "ERR wrong number of arguments for 'config|set' command"
    );
    assert_eq!(
        c.err(&["CONFIG", "SET", "dir", "/tmp"]),
        "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    );
    assert_eq!(
        c.err(&["CONFIG", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
    );

    // Normalized values, aliases, hz clamping.
    c.ok(&[
        "CONFIG",
        "SET",
        "notify-keyspace-events",
        "KEA",
        "loglevel",
        "VERBOSE",
    ]);
    assert_eq!(c.get("notify-keyspace-events"), "AKE");
    assert_eq!(c.get("loglevel"), "verbose");
    c.ok(&["CONFIG", "SET", "slave-read-only", "no"]);
    assert_eq!(c.get("replica-read-only"), "no");
    c.ok(&["CONFIG", "SET", "hz", "100000"]);
    assert_eq!(c.get("hz"), "500");
    c.ok(&["CONFIG", "SET", "maxmemory-clients", "10%"]);
    assert_eq!(c.get("maxmemory-clients"), "10%");

    // RESP3: CONFIG GET is a map.
    assert!(matches!(c.cmd(&["HELLO", "3"]), Resp::Map(_)));
    assert!(matches!(c.cmd(&["CONFIG", "GET", "hz", "port"]), Resp::Map(m) if m.len() == 2));

    match c.cmd(&["CONFIG", "HELP"]) {
        Resp::Array(Some(lines)) => assert_eq!(
            lines[0].text(),
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
        ),
        other => panic!("{other:?}"),
    }
    c.ok(&["CONFIG", "RESETSTAT"]);
}

#[test]
fn config_set_requirepass_at_runtime() {
    let dir = TempDir::new("requirepass");
    let s = Server::start(BIN, &["--port", "7106"], 7106, &dir);
    let mut a = s.conn();
    a.ok(&["CONFIG", "SET", "requirepass", "secret"]);
    // The connection that set it stays authenticated; new ones must AUTH.
    assert_eq!(a.cmd(&["PING"]), Resp::Simple("PONG".into()));
    let mut b = s.conn();
    assert_eq!(b.err(&["PING"]), "NOAUTH Authentication required.");
    // Clearing the password lets everyone in.
    a.ok(&["CONFIG", "SET", "requirepass", ""]);
    assert_eq!(b.cmd(&["PING"]), Resp::Simple("PONG".into()));
}

#[test]
fn config_set_dir_changes_directory() {
    let dir = TempDir::new("setdir");
    std::fs::create_dir(dir.path("sub")).unwrap();
    let s = Server::start(
        BIN,
        &["--port", "7107", "--enable-protected-configs", "yes"],
        7107,
        &dir,
    );
    let mut c = s.conn();
    assert_eq!(c.get("dir"), dir.s());
    c.ok(&["CONFIG", "SET", "dir", "sub"]);
    assert_eq!(c.get("dir"), dir.path("sub").display().to_string());
    assert_eq!(
        c.err(&["CONFIG", "SET", "dir", "/nonexistent-ferrodis-dir"]),
        "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory"
    );
    // The process really moved: a relative dir now resolves against sub/.
    std::fs::create_dir(dir.path("sub/deeper")).unwrap();
    c.ok(&["CONFIG", "SET", "dir", "deeper"]);
    assert_eq!(c.get("dir"), dir.path("sub/deeper").display().to_string());
}

#[test]
fn same_replies_as_real_redis() {
    let redis = real_redis().expect(
        "redis-server 7.0 is required for this comparison: apt-get install -y redis-server",
    );
    let dir = TempDir::new("cmp");
    let common = ["--save", "", "--appendonly", "no", "--dir", &dir.s()];
    let mut args_ours = vec!["--port", "7108"];
    args_ours.extend_from_slice(&common);
    let mut args_theirs = vec!["--port", "7109"];
    args_theirs.extend_from_slice(&common);
    let ours = Server::start(BIN, &args_ours, 7108, &dir);
    let theirs = Server::start(redis, &args_theirs, 7109, &dir);
    let (mut a, mut b) = (ours.conn(), theirs.conn());

    // The same directives (TLS ones aside: ferrodis has no TLS) with the same values.
    let sorted = |c: &mut Conn| {
        let mut v: Vec<(String, String)> = c
            .cmd(&["CONFIG", "GET", "*"])
            .pairs()
            .into_iter()
            .filter(|(n, _)| !n.starts_with("tls-") && n != "port")
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&mut a), sorted(&mut b));

    let script: &[&[&str]] = &[
        &["CONFIG", "SET", "foo", "bar"],
        &["CONFIG", "SET", "maxmemory", "10mb", "hz", "20"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory-policy", "foo"],
        &["CONFIG", "SET", "save", "10"],
        &["CONFIG", "SET", "save", "10 1 20 2"],
        &["CONFIG", "GET", "save"],
        &["CONFIG", "SET", "timeout", "-1"],
        &["CONFIG", "SET", "unixsocketperm", "777"],
        &["CONFIG", "SET", "maxclients", "-1"],
        &["CONFIG", "SET", "shutdown-on-sigint", "nosave now"],
        &["CONFIG", "GET", "shutdown-on-sigint"],
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1mb 2mb 3",
        ],
        &["CONFIG", "GET", "client-output-buffer-limit"],
        &["CONFIG", "SET", "oom-score-adj-values", "0 abc 800"],
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "50.5000 99 1e1",
        ],
        &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        &["CONFIG", "SET", "notify-keyspace-events", "Ex"],
        &["CONFIG", "GET", "notify-keyspace-events"],
        &["CONFIG", "SET", "daemonize", "no", "foo", "bar"],
        &["CONFIG", "SET", "proto-max-bulk-len", "0"],
        // (One name per GET: Redis orders several by its dict's random hash seed.)
        &["CONFIG", "GET", "slaveof"],
        &["CONFIG", "GET", "lua-time-limit"],
        &["CONFIG", "REWRITE"],
        &["CONFIG", "RESETSTAT", "x"],
        &["CONFIG"],
    ];
    for cmd in script {
        assert_eq!(a.cmd(cmd), b.cmd(cmd), "{cmd:?}");
    }
}

// ---------------------------------------------------------------------------------------
// CONFIG REWRITE.

#[test]
fn config_rewrite_keeps_comments_and_order() {
    let dir = TempDir::new("rewrite");
    let conf = dir.write(
        "r.conf",
        "# my comment\nport 7110\n\n# save stuff\nsave 3600 1\nsave 300 100\nsave 60 10000\nmaxmemory 1mb\nhz 10\ninclude extra.conf\nslaveof 127.0.0.1 9999\n",
    );
    dir.write("extra.conf", "timeout 11\n");
    let s = Server::start(BIN, &[conf.to_str().unwrap()], 7110, &dir);
    let mut c = s.conn();
    assert_eq!(c.get("replicaof"), "127.0.0.1 9999");
    assert_eq!(c.get("timeout"), "11");
    c.ok(&[
        "CONFIG",
        "SET",
        "save",
        "100 5",
        "maxmemory",
        "2gb",
        "maxmemory-policy",
        "allkeys-lru",
    ]);
    c.ok(&["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&conf).unwrap();
    let want_prefix = "# my comment\nport 7110\n\n# save stuff\nsave 100 5\n\nmaxmemory 2gb\nhz 10\ninclude extra.conf\nreplicaof 127.0.0.1 9999\n\n# Generated by CONFIG REWRITE\n";
    assert!(text.starts_with(want_prefix), "{text}");
    let tail = &text[want_prefix.len()..];
    for line in [
        "maxmemory-policy allkeys-lru\n",
        "timeout 11\n",
        &format!("dir \"{}\"\n", dir.s()),
    ] {
        assert!(tail.contains(line), "{line:?} missing from {text}");
    }
    drop(c);
    drop(s);

    // The rewritten file starts a server with the same settings.
    let s = Server::start(BIN, &[conf.to_str().unwrap()], 7110, &dir);
    let mut c = s.conn();
    assert_eq!(c.get("save"), "100 5");
    assert_eq!(c.get("maxmemory"), "2147483648");
    assert_eq!(c.get("maxmemory-policy"), "allkeys-lru");
    assert_eq!(c.get("timeout"), "11");
}

// ---------------------------------------------------------------------------------------
// TOML and includes.

#[test]
fn toml_config() {
    let dir = TempDir::new("toml");
    let conf = dir.write(
        "ferrodis.toml",
        "# ferrodis in TOML\nport = 7111\nmaxmemory = \"10mb\"\nsave = [\"3600 1\", \"300 100\"]\nappendonly = false\nbind = [\"127.0.0.1\", \"-::1\"]\nnotify-keyspace-events = \"Ex\"\nclient-output-buffer-limit = [[\"replica\", \"1mb\", \"1mb\", 60]]\n",
    );
    let s = Server::start(BIN, &[conf.to_str().unwrap(), "--timeout", "3"], 7111, &dir);
    let mut c = s.conn();
    assert_eq!(c.get("maxmemory"), "10485760");
    assert_eq!(c.get("save"), "3600 1 300 100");
    assert_eq!(c.get("bind"), "127.0.0.1 -::1");
    assert_eq!(c.get("notify-keyspace-events"), "xE");
    assert_eq!(c.get("timeout"), "3");
    assert_eq!(
        c.get("client-output-buffer-limit"),
        "normal 0 0 0 slave 1048576 1048576 60 pubsub 33554432 8388608 60"
    );

    // CONFIG REWRITE keeps it TOML.
    c.ok(&["CONFIG", "SET", "maxmemory", "20mb", "save", ""]);
    c.ok(&["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with("# ferrodis in TOML\nport = 7111\nmaxmemory = \"20mb\"\nsave = \"\"\n"),
        "{text}"
    );
    assert!(text.contains("\ntimeout = 3\n"), "{text}");
    drop(c);
    drop(s);
    let s = Server::start(BIN, &[conf.to_str().unwrap()], 7111, &dir);
    let mut c = s.conn();
    assert_eq!(c.get("maxmemory"), "20971520");
    assert_eq!(c.get("save"), "");
    assert_eq!(c.get("timeout"), "3");
    drop(c);
    drop(s);

    // Errors name the key's line.
    let bad = dir.write("bad.toml", "# x\nport = \"abc\"\n");
    let out = run(BIN, &[bad.to_str().unwrap()], &dir, None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'port = \"abc\"'\nargument couldn't be parsed into an integer\n"
    );
}

#[test]
fn include_files() {
    let dir = TempDir::new("include");
    std::fs::create_dir(dir.path("conf.d")).unwrap();
    dir.write("conf.d/10-a.conf", "maxclients 101\ntimeout 1\n");
    dir.write("conf.d/20-b.conf", "maxclients 102\n");
    dir.write("more.toml", "databases = 4\n");
    // Relative includes resolve against the working directory, which `dir` changes.
    let main = dir.write(
        "main.conf",
        &format!(
            "port 7112\ndir {}\ninclude conf.d/*.conf\ninclude more.toml\ntimeout 2\n",
            dir.s()
        ),
    );
    let elsewhere = TempDir::new("include-cwd");
    let s = Server::start(BIN, &[main.to_str().unwrap()], 7112, &elsewhere);
    let mut c = s.conn();
    assert_eq!(c.get("maxclients"), "102");
    assert_eq!(c.get("timeout"), "2");
    assert_eq!(c.get("databases"), "4");
    assert_eq!(c.get("dir"), dir.s());
}

// ---------------------------------------------------------------------------------------
// Shipped and distribution config files.

#[test]
fn shipped_configs_load() {
    let dir = TempDir::new("shipped");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let conf = root.join("conf/redis.conf");
    let s = Server::start(BIN, &[conf.to_str().unwrap(), "--port", "7113"], 7113, &dir);
    let mut c = s.conn();
    // The commented default config is the defaults.
    assert_eq!(c.get("save"), "3600 1 300 100 60 10000");
    assert_eq!(c.get("maxmemory-policy"), "noeviction");
    drop(c);
    drop(s);

    let conf = root.join("conf/replica.conf");
    let s = Server::start(
        BIN,
        &[
            conf.to_str().unwrap(),
            "--port",
            "7114",
            "--dir",
            &dir.s(),
            "--pidfile",
            "",
        ],
        7114,
        &dir,
    );
    let mut c = s.conn();
    assert_eq!(c.get("replicaof"), "127.0.0.1 6379");
    assert_eq!(c.get("slaveof"), "127.0.0.1 6379");
}

#[test]
fn debian_redis_conf_loads() {
    let text = std::fs::read_to_string("/etc/redis/redis.conf")
        .expect("Debian's /etc/redis/redis.conf is required: apt-get install -y redis-server");
    let dir = TempDir::new("debian");
    // Only the machine-specific directory changes; daemonize, pid and log file are
    // overridden on the command line.
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("dir ") {
                format!("dir {}", dir.s())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let conf = dir.write("redis.conf", &text);
    let s = Server::start(
        BIN,
        &[
            conf.to_str().unwrap(),
            "--port",
            "7115",
            "--daemonize",
            "no",
            "--pidfile",
            "",
            "--logfile",
            "",
        ],
        7115,
        &dir,
    );
    let mut c = s.conn();
    assert_eq!(c.get("bind"), "127.0.0.1 -::1");
    assert_eq!(
        c.get("client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    assert_eq!(c.get("dir"), dir.s());
}

// ---------------------------------------------------------------------------------------
// Daemonizing.

#[test]
fn daemonize_writes_pidfile_and_detaches() {
    let dir = TempDir::new("daemon");
    let pidfile = dir.path("ferrodis.pid");
    let logfile = dir.path("ferrodis.log");
    let out = run(
        BIN,
        &[
            "--port",
            "7116",
            "--daemonize",
            "yes",
            "--pidfile",
            pidfile.to_str().unwrap(),
            "--logfile",
            logfile.to_str().unwrap(),
            "--loglevel",
            "verbose",
        ],
        &dir,
        None,
    );
    // The foreground process exits 0 right away; the daemon keeps running.
    assert_eq!(out.status.code(), Some(0));
    wait_for("the pid file", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    });
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the daemon to listen", || {
        TcpStream::connect(("127.0.0.1", 7116)).is_ok()
    });
    let mut c = Conn::open(7116);
    assert_eq!(c.get("daemonize"), "yes");
    assert_eq!(c.get("pidfile"), pidfile.display().to_string());
    assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
    let log = std::fs::read_to_string(&logfile).unwrap();
    assert!(log.contains(&format!("{pid}:")), "{log}");
    // Stop it by its pid; it removes its pid file on the way out.
    // SAFETY: kill has no memory-safety preconditions; the pid is the daemon we started.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    wait_for("the pid file to go", || !pidfile.exists());
}
