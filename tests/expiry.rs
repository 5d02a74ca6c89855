//! Expiry: lazy on access with millisecond precision, and the active cycle reclaiming a large
//! volatile keyspace while clients keep being served.

mod common;

use std::time::{Duration, Instant};

use common::{encode, Resp, Server};

/// Reads an INFO field as an integer.
fn info_field(conn: &mut common::RawConn, section: &str, field: &str) -> i64 {
    let info = conn.cmd(&["INFO", section]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
        .trim()
        .parse()
        .expect("numeric INFO field")
}

#[test]
fn millisecond_precision_on_access() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["SET", "k", "v", "PX", "150"]),
        Resp::Simple(b"OK".to_vec())
    );
    assert_eq!(c.cmd(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
    let pttl = c.cmd(&["PTTL", "k"]).int();
    assert!(pttl > 0 && pttl <= 150, "pttl {pttl}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.cmd(&["GET", "k"]).is_nil());
    assert_eq!(c.cmd(&["EXISTS", "k"]).int(), 0);
}

#[test]
fn active_cycle_reclaims_a_million_volatile_keys() {
    const KEYS: usize = 1_000_000;
    const CHUNK: usize = 10_000;
    let server = Server::start(&[]);
    let mut c = server.raw();
    // Active expiry only; lazy expiry would hide the cycle's work.
    let mut batch = Vec::with_capacity(CHUNK * 48);
    let mut sent = 0;
    while sent < KEYS {
        batch.clear();
        for i in sent..(sent + CHUNK) {
            batch.extend_from_slice(&encode(&["SET", &format!("key:{i}"), "v", "PX", "1000"]));
        }
        c.send(&batch);
        for _ in 0..CHUNK {
            let r = c.read();
            assert_eq!(r, Resp::Simple(b"OK".to_vec()));
        }
        sent += CHUNK;
    }
    let loaded = c.cmd(&["DBSIZE"]).int();
    assert!(loaded > 0, "keys were loaded");

    // While the cycle runs, another client keeps getting answers.
    let mut other = server.raw();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pings = 0u64;
    loop {
        assert_eq!(other.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
        pings += 1;
        if c.cmd(&["DBSIZE"]).int() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "volatile keys were not reclaimed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pings > 0);
    // Every key was reclaimed by the active cycle (nobody read them).
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), KEYS as i64);
    assert!(c
        .cmd(&["INFO", "keyspace"])
        .text()
        .lines()
        .all(|l| !l.starts_with("db0:")));
}
