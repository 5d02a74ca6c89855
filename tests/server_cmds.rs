//! Server, connection and introspection commands, end to end: replies compared byte for
//! byte with the real redis-server where they are deterministic (errors, HELLO, DEBUG
//! DIGEST, COMMAND INFO/DOCS, INFO's layout), and behaviour checked directly where they are
//! not (CLIENT KILL/PAUSE, MONITOR, SHUTDOWN).

mod common;

use std::time::{Duration, Instant};

use common::{compare_session, RawConn, RedisServer, Resp, Server};

/// Each test owns two ports of this range, so tests can run in parallel.
fn ports(slot: u16) -> (String, String) {
    let base = 7320 + slot * 2;
    (base.to_string(), (base + 1).to_string())
}

fn both(slot: u16) -> (Server, Server) {
    let (p1, p2) = ports(slot);
    (
        Server::start(&["--port", &p1, "--enable-debug-command", "yes"]),
        RedisServer::start(&["--port", &p2, "--enable-debug-command", "yes"]),
    )
}

fn ok() -> Resp {
    Resp::Simple(b"OK".to_vec())
}

#[test]
fn connection_commands_match_redis() {
    let (f, r) = both(0);
    compare_session(
        &f,
        &r,
        &[
            &["PING"],
            &["PING", "hello"],
            &["PING", "a", "b"],
            &["ECHO", "x"],
            &["ECHO"],
            &["SELECT", "15"],
            &["SELECT", "16"],
            &["SELECT", "-1"],
            &["SELECT", "abc"],
            &["SELECT", "99999999999"],
            &["SELECT", "0"],
            &["AUTH", "x"],
            &["AUTH", "default", "x"],
            &["AUTH", "foo", "x"],
            &["AUTH", "a", "b", "c"],
            &["HELLO", "4"],
            &["HELLO", "x"],
            &["HELLO", "2", "FOO"],
            &["HELLO", "2", "AUTH", "a"],
            &["HELLO", "3", "AUTH", "foo", "bar"],
            &["HELLO", "2", "SETNAME", "bad name"],
            &["HELLO", "3", "SETNAME", "me"],
            &["CLIENT", "GETNAME"],
            &["PING"],
            &["HELLO", "2", "AUTH", "default", "anything"],
            &["SELECT", "3"],
            &["RESET"],
            &["CLIENT", "GETNAME"],
            &["DBSIZE"],
            &["QUIT"],
        ],
    );
}

#[test]
fn server_and_debug_commands_match_redis() {
    let (f, r) = both(1);
    compare_session(
        &f,
        &r,
        &[
            &["DEBUG", "DIGEST"],
            &["SET", "foo", "bar"],
            &["SET", "n", "123"],
            &["DEBUG", "DIGEST"],
            &["DEBUG", "DIGEST-VALUE", "foo", "n", "nokey"],
            &["DEBUG", "OBJECT", "nokey"],
            &["DEBUG", "nosuch"],
            &["DEBUG", "SLEEP", "0"],
            &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
            &["DEBUG", "PROTOCOL", "map"],
            &["DEBUG", "PROTOCOL", "bignum"],
            &["DEBUG", "PROTOCOL", "attrib"],
            &["DEBUG", "PROTOCOL", "push"],
            &["DEBUG", "PROTOCOL", "foo"],
            &["DEBUG", "ERROR", "CUSTOM error text"],
            &["DEBUG", "HELP"],
            &["DEBUG", "POPULATE", "3", "p", "10"],
            &["GET", "p:2"],
            &["DEBUG", "POPULATE", "-1"],
            &["DEBUG", "DIGEST"],
            &["DBSIZE"],
            &["SWAPDB", "0", "x"],
            &["SWAPDB", "x", "0"],
            &["SWAPDB", "0", "16"],
            &["SWAPDB", "0", "1"],
            &["DBSIZE"],
            &["SELECT", "1"],
            &["DEBUG", "DIGEST"],
            &["FLUSHDB", "x"],
            &["FLUSHDB", "ASYNC"],
            &["FLUSHALL", "SYNC", "x"],
            &["FLUSHALL"],
            &["DEBUG", "DIGEST"],
            &["ROLE"],
            &["SLOWLOG", "GET", "x"],
            &["SLOWLOG", "GET", "-2"],
            &["SLOWLOG", "GET", "1", "2"],
            &["SLOWLOG", "RESET"],
            &["SLOWLOG", "LEN"],
            &["SLOWLOG", "HELP"],
            &["SLOWLOG", "nosuch"],
            &["SHUTDOWN", "foo"],
            &["SHUTDOWN", "SAVE", "NOSAVE"],
            &["SHUTDOWN", "ABORT", "NOW"],
            &["SHUTDOWN", "ABORT"],
            &["HELLO", "3"],
            &["DEBUG", "PROTOCOL", "bignum"],
            &["DEBUG", "PROTOCOL", "attrib"],
            &["DEBUG", "PROTOCOL", "push"],
            &["DEBUG", "PROTOCOL", "verbatim"],
            &["INFO", "keyspace", "nosuch"],
        ],
    );
}

#[test]
fn client_errors_match_redis() {
    let (f, r) = both(2);
    compare_session(
        &f,
        &r,
        &[
            &["CLIENT", "HELP"],
            &["CLIENT", "nosuch"],
            &["CLIENT", "ID", "1"],
            &["CLIENT", "SETNAME", "a b"],
            &["CLIENT", "SETNAME", "name"],
            &["CLIENT", "GETNAME"],
            &["CLIENT", "SETNAME", ""],
            &["CLIENT", "GETNAME"],
            &["CLIENT", "LIST", "foo"],
            &["CLIENT", "LIST", "TYPE", "foo"],
            &["CLIENT", "LIST", "ID", "x"],
            &["CLIENT", "LIST", "ID", "99999"],
            &["CLIENT", "LIST", "TYPE", "replica"],
            &["CLIENT", "KILL", "1.2.3.4:5"],
            &["CLIENT", "KILL", "ID", "999"],
            &["CLIENT", "KILL", "ID", "abc"],
            &["CLIENT", "KILL", "foo", "bar"],
            &["CLIENT", "KILL", "TYPE", "foo"],
            &["CLIENT", "KILL", "SKIPME", "maybe"],
            &["CLIENT", "KILL", "ID", "1", "SKIPME"],
            &["CLIENT", "KILL", "USER", "foo"],
            &["CLIENT", "KILL", "TYPE", "master"],
            &["CLIENT", "REPLY", "foo"],
            &["CLIENT", "NO-EVICT", "foo"],
            &["CLIENT", "NO-EVICT", "on"],
            &["CLIENT", "PAUSE", "abc"],
            &["CLIENT", "PAUSE", "10", "foo"],
            &["CLIENT", "PAUSE", "-1"],
            &["CLIENT", "PAUSE", "10", "write", "x"],
            &["CLIENT", "UNPAUSE"],
            &["CLIENT", "GETREDIR"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "CACHING", "yes"],
            &["CLIENT", "TRACKING", "off"],
            &["CLIENT", "UNBLOCK", "1"],
            &["CLIENT", "UNBLOCK", "x"],
            &["CLIENT", "UNBLOCK", "1", "foo"],
        ],
    );
}

#[test]
fn command_introspection_matches_redis() {
    let (f, r) = both(3);
    compare_session(
        &f,
        &r,
        &[
            &[
                "COMMAND",
                "INFO",
                "get",
                "nosuch",
                "client|kill",
                "slowlog|get",
            ],
            &[
                "COMMAND", "INFO", "dbsize", "ping", "hello", "flushall", "info",
            ],
            &["COMMAND", "DOCS", "get", "nosuch", "set", "debug"],
            &["COMMAND", "GETKEYS", "get"],
            &["COMMAND", "GETKEYS", "nosuch", "a"],
            &["COMMAND", "GETKEYS", "set", "a", "b"],
            &["COMMAND", "GETKEYS", "set", "a"],
            &["COMMAND", "GETKEYS", "client", "list"],
            &["COMMAND", "GETKEYSANDFLAGS", "set", "a", "b", "GET"],
            &["COMMAND", "HELP"],
            &["COMMAND", "nosuch"],
            &["COMMAND", "COUNT", "x"],
            &["COMMAND", "LIST", "foo"],
            &["COMMAND", "LIST", "FILTERBY", "foo", "bar"],
            &["COMMAND", "LIST", "FILTERBY", "aclcat", "nosuch"],
            &["COMMAND", "LIST", "FILTERBY", "module", "x"],
            &["HELLO", "3"],
            &["COMMAND", "INFO", "get", "set"],
            &["COMMAND", "DOCS", "get"],
        ],
    );
    // Every command in our table has an entry, and COUNT agrees with the listing.
    let mut c = f.raw();
    let all = c.cmd(&["COMMAND"]);
    let count = c.cmd(&["COMMAND", "COUNT"]).int();
    assert_eq!(all.array().len() as i64, count);
    let list = c.cmd(&["COMMAND", "LIST"]);
    let names: Vec<String> = list.array().iter().map(|n| n.text()).collect();
    assert!(names.iter().any(|n| n == "client|kill"));
    assert!(names.iter().any(|n| n == "get"));
    let conf = c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "CLIENT|K*"]);
    assert_eq!(conf.array().len(), 1);
}

/// `# Section` headers and field names of an INFO reply, in order; per-command and per-db
/// lines are left out (they depend on what ran).
fn info_layout(text: &str) -> Vec<String> {
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| {
            ![
                "cmdstat_",
                "errorstat_",
                "latency_percentiles_usec_",
                "db",
                "ferrodis_",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| match l.split_once(':') {
            Some((k, _)) if !l.starts_with('#') => k.to_string(),
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn info_has_redis_sections_and_fields() {
    let (f, r) = both(4);
    let mut fc = f.raw();
    let mut rc = r.raw();
    for args in [
        &["INFO"][..],
        &["INFO", "everything"],
        &["INFO", "all"],
        &["INFO", "default", "commandstats"],
        &["INFO", "server", "CLIENTS", "keyspace"],
    ] {
        let ours = fc.cmd(args).text();
        let theirs = rc.cmd(args).text();
        assert_eq!(info_layout(&ours), info_layout(&theirs), "{args:?}");
        assert!(ours.ends_with("\r\n") && !ours.ends_with("\r\n\r\n"));
    }
    fc.cmd(&["SET", "k", "v"]);
    fc.cmd(&["GET", "nokey"]);
    fc.cmd(&["INCR"]);
    let text = fc
        .cmd(&["INFO", "commandstats", "errorstats", "keyspace"])
        .text();
    assert!(text.contains("\r\ncmdstat_set:calls=1,usec="), "{text}");
    assert!(
        text.contains(",rejected_calls=0,failed_calls=0\r\n"),
        "{text}"
    );
    assert!(text.contains("errorstat_ERR:count=1\r\n"), "{text}");
    assert!(
        text.contains("db0:keys=1,expires=0,avg_ttl=0\r\n"),
        "{text}"
    );
    // RESP3: a verbatim string.
    fc.cmd(&["HELLO", "3"]);
    match fc.cmd(&["INFO", "cluster"]) {
        Resp::Verbatim(fmt, body) => {
            assert_eq!(fmt, b"txt");
            assert_eq!(body, b"# Cluster\r\ncluster_enabled:0\r\n");
        }
        other => panic!("expected verbatim, got {other:?}"),
    }
}

fn info_field(c: &mut RawConn, section: &str, field: &str) -> String {
    let text = c.cmd(&["INFO", section]).text();
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .to_string()
}

#[test]
fn used_memory_is_measured() {
    let (p, _) = ports(5);
    let f = Server::start(&["--port", &p, "--enable-debug-command", "yes"]);
    let mut c = f.raw();
    let before: u64 = info_field(&mut c, "memory", "used_memory").parse().unwrap();
    assert!(before > 0);
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "50000", "k", "100"]), ok());
    let after: u64 = info_field(&mut c, "memory", "used_memory").parse().unwrap();
    assert!(after > before + 50000 * 100, "{before} -> {after}");
    let rss: u64 = info_field(&mut c, "memory", "used_memory_rss")
        .parse()
        .unwrap();
    assert!(rss > 0);
    let peak: u64 = info_field(&mut c, "memory", "used_memory_peak")
        .parse()
        .unwrap();
    assert!(peak >= after);
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    let freed: u64 = info_field(&mut c, "memory", "used_memory").parse().unwrap();
    assert!(freed < after - 50000 * 100, "{after} -> {freed}");
    assert_eq!(info_field(&mut c, "stats", "total_error_replies"), "0");
    let cpu: f64 = info_field(&mut c, "cpu", "used_cpu_user").parse().unwrap();
    assert!(cpu >= 0.0);
}

#[test]
fn client_list_kill_and_name() {
    let (p, _) = ports(6);
    let f = Server::start(&["--port", &p]);
    let mut a = f.raw();
    let mut b = f.raw();
    assert_eq!(b.cmd(&["CLIENT", "SETNAME", "victim"]), ok());
    let b_id = b.cmd(&["CLIENT", "ID"]).int();
    let list = a.cmd(&["CLIENT", "LIST"]).text();
    let line = list
        .lines()
        .find(|l| l.contains("name=victim"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.starts_with(&format!("id={b_id} addr=127.0.0.1:")),
        "{line}"
    );
    assert!(line.contains(" cmd=client|id "), "{line}");
    assert!(list.ends_with('\n'));
    let only = a.cmd(&["CLIENT", "LIST", "ID", &b_id.to_string()]).text();
    assert_eq!(only.lines().count(), 1);
    let info = b.cmd(&["CLIENT", "INFO"]).text();
    assert!(info.starts_with(&format!("id={b_id} ")) && info.contains(" cmd=client|info "));
    // Kill by id: the victim's connection is closed; the killer gets the count.
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]).int(), 1);
    let (_, closed) = b.read_until_close(Duration::from_secs(2));
    assert!(closed);
    // The old form can kill the caller itself: it still gets its +OK first.
    let me = a.cmd(&["CLIENT", "INFO"]).text();
    let addr = me
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr field")
        .to_string();
    assert_eq!(a.cmd(&["CLIENT", "KILL", &addr]), ok());
    let (rest, closed) = a.read_until_close(Duration::from_secs(2));
    assert!(closed && rest.is_empty());
    // SKIPME yes (the default) spares the caller.
    let mut c = f.raw();
    assert_eq!(c.cmd(&["CLIENT", "KILL", "TYPE", "normal"]).int(), 0);
    assert_eq!(c.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
}

#[test]
fn client_pause_holds_writes_or_everything() {
    let (p, _) = ports(7);
    let f = Server::start(&["--port", &p]);
    let mut admin = f.raw();
    let mut w = f.raw();
    // WRITE: reads pass, writes wait for the end of the pause.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "400", "WRITE"]), ok());
    let t = Instant::now();
    assert!(w.cmd(&["GET", "k"]).is_nil());
    assert!(t.elapsed() < Duration::from_millis(300));
    assert_eq!(w.cmd(&["SET", "k", "v"]), ok());
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // ALL: every command waits, and the held ones then run in order.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "600", "ALL"]), ok());
    let t = Instant::now();
    w.send_cmd(&["GET", "k"]);
    w.send_cmd(&["PING"]);
    w.set_timeout(Duration::from_millis(300));
    assert!(w.try_read_raw().is_err(), "reply during the pause");
    w.set_timeout(Duration::from_secs(10));
    assert_eq!(w.read(), Resp::Bulk(b"v".to_vec()));
    assert_eq!(w.read(), Resp::Simple(b"PONG".to_vec()));
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // UNPAUSE (not a write) releases writers held by a long WRITE pause at once.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), ok());
    let t = Instant::now();
    w.send_cmd(&["SET", "k", "w"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(w.read(), ok());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(w.cmd(&["GET", "k"]), Resp::Bulk(b"w".to_vec()));
}

#[test]
fn client_reply_modes() {
    let (f, r) = both(8);
    let pipeline: &[&[&str]] = &[
        &["CLIENT", "REPLY", "OFF"],
        &["SET", "a", "1"],
        &["CLIENT", "REPLY", "ON"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", "a"],
        &["PING"],
    ];
    let mut outs = Vec::new();
    for s in [&f, &r] {
        let mut c = s.raw();
        let mut bytes = Vec::new();
        for cmd in pipeline {
            bytes.extend(common::encode(cmd));
        }
        c.send(&bytes);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(c.read_raw());
        }
        outs.push(got);
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], b"+OK\r\n$1\r\n1\r\n+PONG\r\n");
}

#[test]
fn monitor_sees_other_clients() {
    let (p, _) = ports(9);
    let f = Server::start(&["--port", &p]);
    let mut m = f.raw();
    let mut c = f.raw();
    assert_eq!(m.cmd(&["MONITOR"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "v w"]), ok());
    let line = m.read().text();
    let (ts, rest) = line.split_once(' ').expect("timestamp");
    assert!(ts.contains('.') && ts.parse::<f64>().is_ok(), "{line}");
    assert!(rest.starts_with("[0 127.0.0.1:"), "{line}");
    assert!(rest.ends_with("] \"SET\" \"k\" \"v w\""), "{line}");
    // RESET leaves monitor mode.
    assert_eq!(m.cmd(&["RESET"]), Resp::Simple(b"RESET".to_vec()));
    assert_eq!(c.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
    assert_eq!(m.cmd(&["ECHO", "x"]), Resp::Bulk(b"x".to_vec()));
}

#[test]
fn slowlog_records_slow_commands() {
    let (p, _) = ports(10);
    let f = Server::start(&["--port", &p, "--enable-debug-command", "yes"]);
    let mut c = f.raw();
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "slowpoke"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.02"]), ok());
    let entries = c.cmd(&["SLOWLOG", "GET"]);
    let e = entries.array()[0].array();
    assert_eq!(e.len(), 6);
    assert!(e[2].int() >= 20_000);
    assert_eq!(
        e[3].array().iter().map(|a| a.text()).collect::<Vec<_>>(),
        ["DEBUG", "SLEEP", "0.02"]
    );
    assert!(e[4].text().starts_with("127.0.0.1:"));
    assert_eq!(e[5].text(), "slowpoke");
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).int(), 1);
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), ok());
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]).int(), 0);
}

#[test]
fn shutdown_exits_cleanly() {
    let (p, _) = ports(11);
    let mut f = Server::start(&["--port", &p]);
    let mut c = f.raw();
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]),
        Resp::Error(b"ERR No shutdown in progress.".to_vec())
    );
    c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    let (rest, closed) = c.read_until_close(Duration::from_secs(10));
    assert!(closed && rest.is_empty(), "{rest:?}");
    let status = f.wait_exit(Duration::from_secs(10)).expect("server exits");
    assert!(status.success(), "{status}");
}

#[test]
fn time_and_lastsave() {
    let (p, _) = ports(12);
    let f = Server::start(&["--port", &p]);
    let mut c = f.raw();
    let t = c.cmd(&["TIME"]);
    let parts = t.array();
    let secs: u64 = parts[0].text().parse().unwrap();
    let usec: u64 = parts[1].text().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2 && usec < 1_000_000);
    let last = c.cmd(&["LASTSAVE"]).int() as u64;
    assert!(last <= now + 1 && last + 3600 > now);
}

#[test]
fn auth_flows_match_redis_with_requirepass() {
    let (p1, p2) = ports(13);
    let f = Server::start(&["--port", &p1, "--requirepass", "secret"]);
    let r = RedisServer::start(&["--port", &p2, "--requirepass", "secret"]);
    compare_session(
        &f,
        &r,
        &[
            &["PING"],
            &["HELLO", "3"],
            &["HELLO", "2", "SETNAME", "x"],
            &["AUTH", "bad"],
            &["AUTH", "default", "bad"],
            &["AUTH", "other", "secret"],
            &["HELLO", "2", "AUTH", "default", "bad"],
            &["CLIENT", "ID"],
            &["AUTH", "secret"],
            &["PING"],
            &["RESET"],
            &["PING"],
            &["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "foo"],
            &["CLIENT", "GETNAME"],
            &["RESET"],
            &["AUTH", "default", "secret"],
            &["PING"],
        ],
    );
}

#[test]
fn debug_is_protected_by_default() {
    let (p1, p2) = ports(14);
    let f = Server::start(&["--port", &p1]);
    let r = RedisServer::start(&["--port", &p2]);
    compare_session(
        &f,
        &r,
        &[&["DEBUG", "DIGEST"], &["DEBUG"], &["INFO", "errorstats"]],
    );
}
