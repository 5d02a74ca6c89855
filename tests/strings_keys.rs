//! End-to-end checks of the string and generic key commands over a real socket, with the
//! exact reply bytes Redis 7.0 sends (recorded from redis-server 7.0.15).
//!
//! Each test runs its own ferrodis on a free port and talks raw RESP to it,
//! so the bytes on the wire are what is compared, not a client library's interpretation.

mod common;

use std::time::Duration;

/// A raw connection speaking in reply bytes.
struct Conn(common::RawConn);

impl Conn {
    /// Sends one command and returns the raw bytes of its reply.
    fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.0.cmd_raw(args)
    }

    /// `cmd` with space-separated string arguments.
    fn c(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.cmd(&args)
    }
}

/// A fresh server on a free port.
fn start() -> common::Server {
    common::Server::start(&[])
}

fn conn(server: &common::Server) -> Conn {
    Conn(server.raw())
}

#[test]
fn set_options_expiry_and_errors() {
    let server = start();
    let mut c = conn(&server);
    assert_eq!(c.c("SET k v EX 100"), b"+OK\r\n");
    assert_eq!(c.c("TTL k"), b":100\r\n");
    assert_eq!(c.c("SET k v2 KEEPTTL GET"), b"$1\r\nv\r\n");
    assert_eq!(c.c("TTL k"), b":100\r\n");
    assert_eq!(c.c("GETEX k PERSIST"), b"$2\r\nv2\r\n");
    assert_eq!(c.c("TTL k"), b":-1\r\n");
    assert_eq!(c.c("TTL nokey"), b":-2\r\n");
    assert_eq!(c.c("SET k v NX XX"), b"-ERR syntax error\r\n");
    assert_eq!(c.c("SET k v EX 10 PX 10"), b"-ERR syntax error\r\n");
    assert_eq!(
        c.c("SET k v EX 0"),
        b"-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(
        c.c("SETEX k 9223372036854775807 v"),
        b"-ERR invalid expire time in 'setex' command\r\n"
    );
    assert_eq!(
        c.c("EXPIRE k 10 NX XX"),
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    );
    assert_eq!(c.c("EXPIRE k 10 foo"), b"-ERR Unsupported option foo\r\n");
    assert_eq!(c.c("EXPIRE k 100 GT"), b":0\r\n");
    assert_eq!(c.c("EXPIRE k 100 LT"), b":1\r\n");
    assert_eq!(c.c("EXPIRE k 50 GT"), b":0\r\n");
    // An expiry in the past deletes the key at once.
    assert_eq!(c.c("PEXPIREAT k 1"), b":1\r\n");
    assert_eq!(c.c("EXISTS k"), b":0\r\n");
    assert_eq!(c.c("SET k v PX 30"), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(c.c("GET k"), b"$-1\r\n");
    assert_eq!(c.c("RENAME k k2"), b"-ERR no such key\r\n");
}

#[test]
fn counters_and_floats() {
    let server = start();
    let mut c = conn(&server);
    assert_eq!(c.c("INCRBYFLOAT f 0.1"), b"$3\r\n0.1\r\n");
    assert_eq!(c.c("INCRBYFLOAT f 0.2"), b"$3\r\n0.3\r\n");
    assert_eq!(
        c.c("INCRBYFLOAT g 17179869184.1"),
        b"$29\r\n17179869184.09999999962747097\r\n"
    );
    assert_eq!(c.c("OBJECT ENCODING f"), b"$6\r\nembstr\r\n");
    assert_eq!(
        c.c("INCRBYFLOAT f inf"),
        b"-ERR increment would produce NaN or Infinity\r\n"
    );
    assert_eq!(
        c.c("INCRBYFLOAT f abc"),
        b"-ERR value is not a valid float\r\n"
    );
    assert_eq!(c.c("SET n 9223372036854775806"), b"+OK\r\n");
    assert_eq!(c.c("INCR n"), b":9223372036854775807\r\n");
    assert_eq!(
        c.c("INCR n"),
        b"-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(
        c.c("DECRBY n -9223372036854775808"),
        b"-ERR decrement would overflow\r\n"
    );
    assert_eq!(c.c("APPEND s 12"), b":2\r\n");
    assert_eq!(c.c("OBJECT ENCODING s"), b"$3\r\nint\r\n");
    assert_eq!(c.c("OBJECT REFCOUNT s"), b":2147483647\r\n");
    assert_eq!(c.c("APPEND s 3"), b":3\r\n");
    assert_eq!(c.c("OBJECT ENCODING s"), b"$3\r\nraw\r\n");
    assert_eq!(c.c("SETRANGE s 5 xy"), b":7\r\n");
    assert_eq!(c.cmd(&[b"GET", b"s"]), b"$7\r\n123\0\0xy\r\n");
    assert_eq!(c.c("GETRANGE s -2 -1"), b"$2\r\nxy\r\n");
    assert_eq!(
        c.c("SETRANGE s 536870912 x"),
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
}

#[test]
fn lcs_reply_shapes() {
    let server = start();
    let mut c = conn(&server);
    c.c("MSET a ohmytext b mynewtext");
    assert_eq!(c.c("LCS a b"), b"$6\r\nmytext\r\n");
    assert_eq!(c.c("LCS a b LEN"), b":6\r\n");
    let resp2: &[u8] = b"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n";
    assert_eq!(c.c("LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN"), resp2);
    c.c("HELLO 3");
    let resp3: &[u8] = b"%2\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n";
    assert_eq!(c.c("LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN"), resp3);
    assert_eq!(
        c.c("LCS a b LEN IDX"),
        b"-ERR If you want both the length and indexes, please just use IDX.\r\n"
    );
}

#[test]
fn keyspace_commands() {
    let server = start();
    let mut c = conn(&server);
    for i in 0..50 {
        c.c(&format!("SET key:{i} {i}"));
    }
    assert_eq!(c.c("DBSIZE"), b":50\r\n");
    assert_eq!(c.c("EXISTS key:1 key:1 nokey"), b":2\r\n");
    assert_eq!(c.c("TYPE key:1"), b"+string\r\n");
    assert_eq!(c.c("TYPE nokey"), b"+none\r\n");
    // A full SCAN returns every key exactly once.
    let mut cursor = b"0".to_vec();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let r = c.cmd(&[b"SCAN", &cursor, b"COUNT", b"7"]);
        let text = String::from_utf8_lossy(&r).into_owned();
        let lines: Vec<&str> = text.split("\r\n").collect();
        cursor = lines[2].as_bytes().to_vec();
        for key in lines[4..].iter().skip(1).step_by(2) {
            assert!(seen.insert(key.to_string()), "{key} seen twice");
        }
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(c.c("SCAN abc"), b"-ERR invalid cursor\r\n");
    assert_eq!(c.c("SCAN 0 COUNT 0"), b"-ERR syntax error\r\n");
    assert_eq!(c.c("KEYS key:1?"), c.c("KEYS key:1[0-9]"));
    assert_eq!(c.c("DEL key:1 key:1 nokey"), b":1\r\n");
    assert_eq!(
        c.c("COPY key:2 key:2"),
        b"-ERR source and destination objects are the same\r\n"
    );
    assert_eq!(c.c("COPY key:2 key:2 DB 1"), b":1\r\n");
    assert_eq!(c.c("MOVE key:2 1"), b":0\r\n");
    assert_eq!(c.c("MOVE key:3 1"), b":1\r\n");
    assert_eq!(c.c("MOVE key:4 16"), b"-ERR DB index is out of range\r\n");
    assert_eq!(c.c("RENAMENX key:5 key:6"), b":0\r\n");
    assert_eq!(c.c("RENAME key:5 key:6"), b"+OK\r\n");
    assert_eq!(c.c("GET key:6"), b"$1\r\n5\r\n");
    assert_eq!(c.c("OBJECT IDLETIME key:6"), b":0\r\n");
    assert_eq!(
        c.c("OBJECT FREQ key:6"),
        b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
    );
    assert_eq!(
        c.c("OBJECT foo"),
        b"-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n"
    );
}
