//! maxmemory and eviction on the real binary: the OOM refusal (byte for byte against
//! redis-server 7.0), which keys each policy evicts, the `evicted` keyspace event, the INFO
//! fields, and OBJECT FREQ's LFU counter.
//!
//! Memory is the server's own allocator count, so the tests size `maxmemory` relative to the
//! `used_memory` they read, and write in small pipelined batches so that query buffers do
//! not swing the measurement.

mod common;

use std::time::{Duration, Instant};

use common::{compare_session, RawConn, RedisServer, Resp, Server};

/// A value of a fixed size, so that each key costs about the same.
fn value(size: usize) -> String {
    "x".repeat(size)
}

/// `field:<n>` of an INFO section.
fn info_u64(c: &mut RawConn, section: &str, field: &str) -> u64 {
    let Resp::Bulk(text) = c.cmd(&["INFO", section]) else {
        panic!("INFO {section} is a bulk string");
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no numeric {field}:\n{text}"))
}

fn info_text(c: &mut RawConn, section: &str) -> String {
    match c.cmd(&["INFO", section]) {
        Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO {section}: {other:?}"),
    }
}

/// Writes `prefix:i` for every i in `range` (with `EX ttl_base + i` when given), 50 commands
/// per pipelined round trip; every reply must be +OK.
fn fill(
    c: &mut RawConn,
    prefix: &str,
    range: std::ops::Range<usize>,
    size: usize,
    ttl_base: Option<u64>,
) {
    let v = value(size);
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(50) {
        for &i in chunk {
            let key = format!("{prefix}:{i}");
            match ttl_base {
                Some(base) => {
                    let ttl = (base + i as u64).to_string();
                    c.send_cmd(&["SET", key.as_str(), v.as_str(), "EX", ttl.as_str()]);
                }
                None => c.send_cmd(&["SET", key.as_str(), v.as_str()]),
            }
        }
        for _ in chunk {
            assert_eq!(c.read_raw(), b"+OK\r\n");
        }
    }
}

/// How many of `prefix:i` for i in `range` exist.
fn count_existing(c: &mut RawConn, prefix: &str, range: std::ops::Range<usize>) -> usize {
    let mut args = vec!["EXISTS".to_string()];
    args.extend(range.map(|i| format!("{prefix}:{i}")));
    match c.cmd(&args) {
        Resp::Int(n) => n as usize,
        other => panic!("EXISTS: {other:?}"),
    }
}

/// Sends SETs until one is refused with OOM (eviction that ran out of time continues in the
/// background and lets commands through meanwhile); returns the refusal's bytes.
fn set_until_oom(c: &mut RawConn) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.cmd_raw(&["SET", "probe", "v"]);
        if r.starts_with(b"-") || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn noeviction_refuses_writes_like_redis() {
    let ferro = Server::start(&[]);
    let redis = RedisServer::start(&[]);
    compare_session(
        &ferro,
        &redis,
        &[
            &["SET", "k", "v"],
            &["RPUSH", "l", "a", "b"],
            &["CONFIG", "SET", "maxmemory", "1"],
            // denyoom commands are refused...
            &["SET", "x", "y"],
            &["APPEND", "k", "zz"],
            &["INCR", "n"],
            &["LPUSH", "l", "c"],
            &["SADD", "s", "m"],
            // ...reads and deletions are served.
            &["GET", "k"],
            &["LRANGE", "l", "0", "-1"],
            &["EXISTS", "k", "x"],
            &["DBSIZE"],
            &["PING"],
            &["DEL", "l"],
            &["LRANGE", "l", "0", "-1"],
            // Queuing a transaction is refused too, and EXEC then aborts; DISCARD is allowed.
            &["MULTI"],
            &["GET", "k"],
            &["EXEC"],
            &["MULTI"],
            &["DISCARD"],
            &["OBJECT", "FREQ", "k"],
            &["CONFIG", "GET", "maxmemory-policy"],
            &["CONFIG", "SET", "maxmemory", "0"],
            &["SET", "x", "y"],
            &["GET", "x"],
        ],
    );
    // The refusals are counted as Redis counts them.
    let (mut f, mut r) = (ferro.raw(), redis.raw());
    assert_eq!(
        info_text(&mut f, "errorstats"),
        info_text(&mut r, "errorstats")
    );
    let set_stats = |c: &mut RawConn| {
        let stats = info_text(c, "commandstats");
        let line = stats
            .lines()
            .find(|l| l.starts_with("cmdstat_set:"))
            .map(|l| l.to_string())
            .unwrap_or_default();
        // calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..
        let fields: Vec<&str> = line.split(',').collect();
        [fields[0], fields[3], fields[4]].join(",")
    };
    assert_eq!(set_stats(&mut f), set_stats(&mut r));
}

#[test]
fn oom_error_bytes_match_redis() {
    let ferro = Server::start(&["--maxmemory", "1"]);
    let redis = RedisServer::start(&["--maxmemory", "1"]);
    let f = ferro.raw().cmd_raw(&["SET", "a", "b"]);
    let r = redis.raw().cmd_raw(&["SET", "a", "b"]);
    assert_eq!(f, r);
    assert_eq!(
        f,
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec()
    );
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let server = Server::start(&["--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.raw();
    fill(&mut c, "old", 0..3000, 1000, None);
    // The LRU clock ticks in seconds: let the old keys age, then touch a subset.
    std::thread::sleep(Duration::from_millis(2100));
    for chunk in (0..300).collect::<Vec<_>>().chunks(50) {
        for i in chunk {
            c.send_cmd(&["GET", format!("old:{i}").as_str()]);
        }
        for _ in chunk {
            assert!(c.read_raw().starts_with(b"$1000\r\n"));
        }
    }
    let used = info_u64(&mut c, "memory", "used_memory");
    let limit = used + 512 * 1024;
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "maxmemory", limit.to_string().as_str()]),
        b"+OK\r\n"
    );
    // About 2.2 MB more: roughly 1700 keys must go.
    fill(&mut c, "new", 0..2000, 1000, None);
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 1000, "evicted_keys {evicted}");
    let touched = count_existing(&mut c, "old", 0..300);
    let untouched = count_existing(&mut c, "old", 300..3000);
    assert!(touched >= 285, "recently used keys kept: {touched}/300");
    assert!(
        untouched < 2700 - 1000,
        "idle keys evicted first: {untouched}/2700 left"
    );
    assert!(info_u64(&mut c, "memory", "used_memory") <= limit + 64 * 1024);
    let memory = info_text(&mut c, "memory");
    assert!(
        memory.contains(&format!("\r\nmaxmemory:{limit}\r\n")),
        "{memory}"
    );
    assert!(memory.contains("\r\nmaxmemory_human:"), "{memory}");
    assert!(
        memory.contains("\r\nmaxmemory_policy:allkeys-lru\r\n"),
        "{memory}"
    );
}

#[test]
fn volatile_ttl_evicts_only_keys_with_a_ttl() {
    let server = Server::start(&["--maxmemory-policy", "volatile-ttl"]);
    let mut c = server.raw();
    fill(&mut c, "p", 0..1000, 1000, None);
    fill(&mut c, "v", 0..1000, 1000, Some(10_000));
    let used = info_u64(&mut c, "memory", "used_memory");
    let limit = used - 300 * 1024;
    c.cmd_raw(&["CONFIG", "SET", "maxmemory", limit.to_string().as_str()]);
    assert_eq!(c.cmd_raw(&["SET", "trigger", "x"]), b"+OK\r\n");
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 100, "evicted_keys {evicted}");
    assert_eq!(count_existing(&mut c, "p", 0..1000), 1000);
    // The nearest expiries go first.
    let early = count_existing(&mut c, "v", 0..500);
    let late = count_existing(&mut c, "v", 500..1000);
    assert!(early < late, "early {early} late {late}");
    // Once no key with a TTL is left, writes are refused and reads still served.
    c.cmd_raw(&["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        set_until_oom(&mut c),
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec()
    );
    assert_eq!(count_existing(&mut c, "v", 0..1000), 0);
    assert_eq!(count_existing(&mut c, "p", 0..1000), 1000);
    assert!(c.cmd_raw(&["GET", "p:7"]).starts_with(b"$1000\r\n"));
    let keyspace = info_text(&mut c, "keyspace");
    // p:*, "trigger", and "probe" if one SET got through while eviction was still running.
    assert!(
        keyspace.contains("db0:keys=1001,expires=0,")
            || keyspace.contains("db0:keys=1002,expires=0,"),
        "{keyspace}"
    );
}

#[test]
fn evictions_publish_evicted_events() {
    let server = Server::start(&["--maxmemory-policy", "allkeys-random"]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]),
        b"+OK\r\n"
    );
    let mut sub = server.raw();
    sub.cmd_raw(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    fill(&mut c, "k", 0..300, 1000, None);
    let used = info_u64(&mut c, "memory", "used_memory");
    c.cmd_raw(&[
        "CONFIG",
        "SET",
        "maxmemory",
        (used - 100 * 1024).to_string().as_str(),
    ]);
    assert_eq!(c.cmd_raw(&["SET", "trigger", "x"]), b"+OK\r\n");
    // Let any eviction the time limit deferred to the cron finish, then stop evicting so
    // that the commands below do not evict more.
    std::thread::sleep(Duration::from_millis(300));
    c.cmd_raw(&["CONFIG", "SET", "maxmemory", "0"]);
    let evicted = info_u64(&mut c, "stats", "evicted_keys") as usize;
    assert!(evicted > 50, "evicted_keys {evicted}");
    for _ in 0..evicted {
        let Resp::Array(items) = sub.read() else {
            panic!("a pub/sub message");
        };
        assert_eq!(items[0], Resp::Bulk(b"message".to_vec()));
        assert_eq!(items[1], Resp::Bulk(b"__keyevent@0__:evicted".to_vec()));
        let Resp::Bulk(key) = &items[2] else {
            panic!("a key");
        };
        assert_eq!(
            c.cmd(&["EXISTS", std::str::from_utf8(key).unwrap_or("")]),
            Resp::Int(0)
        );
    }
    // allkeys-random may also pick `trigger` itself: count every key, not only k0..k299.
    let trigger_left = c.cmd(&["EXISTS", "trigger"]) == Resp::Int(1);
    assert_eq!(
        count_existing(&mut c, "k", 0..300) + usize::from(trigger_left),
        301 - evicted
    );
}

#[test]
fn object_freq_follows_redis_lfu_counter() {
    // lfu-log-factor 0 makes every access count and lfu-decay-time 0 stops decay, so the
    // counters are deterministic on both servers.
    let ferro = Server::start(&[]);
    let redis = RedisServer::start(&[]);
    let mut cmds: Vec<&[&str]> = vec![
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        &["CONFIG", "SET", "lfu-log-factor", "0"],
        &["CONFIG", "SET", "lfu-decay-time", "0"],
        &["SET", "k", "v"],
        &["OBJECT", "FREQ", "k"],
    ];
    cmds.extend(std::iter::repeat_n(&["GET", "k"][..], 10));
    cmds.extend([
        &["OBJECT", "FREQ", "k"][..],
        &["SET", "k", "v2"],
        &["OBJECT", "FREQ", "k"],
        &["APPEND", "k", "x"],
        &["STRLEN", "k"],
        &["EXISTS", "k"],
        &["TYPE", "k"],
        &["OBJECT", "FREQ", "k"],
        &["OBJECT", "IDLETIME", "k"],
        &["RPUSH", "l", "a"],
        &["LRANGE", "l", "0", "-1"],
        &["OBJECT", "FREQ", "l"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        &["OBJECT", "FREQ", "k"],
    ]);
    compare_session(&ferro, &redis, &cmds);
}
