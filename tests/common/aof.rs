//! Helpers shared by the append-only file tests: servers started with the AOF on (ferrodis
//! and redis-server alike, so each loads the other's files), redis-check-aof, waits on the
//! INFO persistence fields, and writers whose acknowledged replies are checked after a
//! SIGKILL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{digest, wait_until, RawConn, RedisServer, Resp, Server};

/// The AOF arguments: appendonly yes, DEBUG enabled, in `dir` (None: the server's own
/// temporary directory), then `extra`.
fn aof_args<'a>(dir: Option<&'a str>, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--appendonly", "yes", "--enable-debug-command", "yes"];
    if let Some(d) = dir {
        args.extend(["--dir", d]);
    }
    args.extend_from_slice(extra);
    args
}

/// ferrodis with appendonly yes in `dir` (None: its own temporary directory).
pub fn start_aof(dir: Option<&str>, extra: &[&str]) -> Server {
    Server::start(&aof_args(dir, extra))
}

/// redis-server 7.0 with appendonly yes in `dir` (None: its own temporary directory).
pub fn start_redis_aof(dir: Option<&str>, extra: &[&str]) -> Server {
    RedisServer::start(&aof_args(dir, extra))
}

/// ferrodis started on the AOF in `dir` holds the dataset whose digest is `expect`.
pub fn assert_ferrodis_loads(dir: &str, expect: &Resp) {
    let s = start_aof(Some(dir), &[]);
    assert_eq!(&digest(&mut s.raw()), expect, "ferrodis loading {dir}");
}

/// Redis 7.0 started on the AOF in `dir` holds the dataset whose digest is `expect`.
pub fn assert_redis_loads(dir: &str, expect: &Resp) {
    let s = start_redis_aof(Some(dir), &[]);
    assert_eq!(&digest(&mut s.raw()), expect, "redis-server loading {dir}");
}

/// The AOF directory of a server started in its own temporary directory.
pub fn aof_dir(s: &Server) -> PathBuf {
    s.dir().join("appendonlydir")
}

/// The manifest in the working directory `dir`.
pub fn manifest_of(dir: &str) -> PathBuf {
    Path::new(dir).join("appendonlydir/appendonly.aof.manifest")
}

/// Runs redis-check-aof on `manifest`, asserts that it accepts the files, and returns what
/// it printed.
pub fn check_aof(manifest: &Path) -> String {
    let out = Command::new("redis-check-aof")
        .arg(manifest)
        .output()
        .expect("redis-check-aof is installed with redis-server");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

/// Waits until one INFO persistence reply holds every `field:value` line of `lines`. One
/// reply for all: read separately, a scheduled rewrite could start between the reads and
/// look finished.
pub fn wait_persistence(c: &mut RawConn, what: &str, lines: &[&str]) {
    wait_until(what, Duration::from_secs(30), || {
        let text = c.cmd(&["INFO", "persistence"]).text();
        lines.iter().all(|f| text.lines().any(|l| l == *f))
    });
}

/// Waits until no rewrite runs or is scheduled, and no BGSAVE runs (a scheduled rewrite
/// waits for it).
pub fn wait_rewrite_done(c: &mut RawConn) {
    wait_persistence(
        c,
        "the rewrite to end",
        &[
            "aof_rewrite_in_progress:0",
            "aof_rewrite_scheduled:0",
            "rdb_bgsave_in_progress:0",
        ],
    );
}

/// The value of an integer reply (`:<n>\r\n`).
pub fn int_reply(r: &[u8]) -> Option<i64> {
    let body = r.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

/// A writer pipelining `pipeline` INCRs of `key` until the connection fails (the server
/// was killed); returns every acknowledged value with when its reply arrived.
pub fn incr_writer(port: u16, key: String, pipeline: usize) -> JoinHandle<Vec<(i64, Instant)>> {
    std::thread::spawn(move || {
        let mut c = RawConn::connect(port);
        c.set_timeout(Duration::from_secs(10));
        let cmd = format!("*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n", key.len()).repeat(pipeline);
        let mut acks = Vec::new();
        loop {
            if c.try_send(cmd.as_bytes()).is_err() {
                return acks;
            }
            for _ in 0..pipeline {
                match c.try_read_raw() {
                    Ok(Some(r)) => match int_reply(&r) {
                        Some(n) => acks.push((n, Instant::now())),
                        None => return acks,
                    },
                    _ => return acks,
                }
            }
        }
    })
}
