//! MULTI/EXEC/DISCARD/WATCH against the real redis-server, byte for byte.
//!
//! Every scenario runs the same commands on ferrodis and on redis-server 7.0 over several
//! connections per server (one that watches and executes, others that write in between),
//! and compares each reply exactly. Expiry scenarios turn active expiry off on both servers
//! (DEBUG SET-ACTIVE-EXPIRE 0) so that keys expire only when touched, at the same step.

mod common;

use std::time::Duration;

use common::{compare_session, show, start_both, RawConn, Server};

/// The same connection opened on both servers: every command is sent to both and the
/// replies must be identical.
struct Twin {
    f: RawConn,
    r: RawConn,
}

impl Twin {
    fn open(ferro: &Server, redis: &Server) -> Twin {
        Twin {
            f: ferro.raw(),
            r: redis.raw(),
        }
    }

    /// Sends the command (whitespace-separated words) to both; returns ferrodis's reply.
    fn run(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&str> = line.split_whitespace().collect();
        let f = self.f.cmd_raw(&args);
        let r = self.r.cmd_raw(&args);
        assert!(
            f == r,
            "{line}\n  ferrodis: {}\n  redis:    {}",
            show(&f),
            show(&r)
        );
        f
    }

    /// Switches both to RESP3 (the HELLO replies differ in the client id).
    fn resp3(&mut self) {
        assert!(matches!(self.f.cmds("HELLO 3"), common::Resp::Map(_)));
        assert!(matches!(self.r.cmds("HELLO 3"), common::Resp::Map(_)));
    }

    fn run_all(&mut self, lines: &[&str]) {
        for l in lines {
            self.run(l);
        }
    }
}

fn servers() -> (Server, Server) {
    start_both(&["--enable-debug-command", "yes"])
}

#[test]
fn queuing_errors_and_exec_replies_match_redis() {
    let (ferro, redis) = servers();
    let cmds: &[&[&str]] = &[
        &["MULTI"],
        &["MULTI"],
        &["SET", "a", "1"],
        &["EXEC"],
        &["EXEC"],
        &["DISCARD"],
        &["WATCH", "x"],
        &["MULTI"],
        &["WATCH", "y"],
        &["UNWATCH"],
        &["EXEC"],
        // Wrong arity and unknown commands abort the transaction at EXEC.
        &["MULTI"],
        &["SET", "a"],
        &["GET", "a"],
        &["EXEC"],
        &["MULTI"],
        &["NOSUCHCOMMAND", "x"],
        &["EXEC"],
        &["MULTI"],
        &["CONFIG", "NOSUCH"],
        &["EXEC"],
        // No-multi commands are refused while queuing.
        &["MULTI"],
        &["SHUTDOWN"],
        &["PING"],
        &["EXEC"],
        // Runtime errors are part of the EXEC array; the rest still runs.
        &["MULTI"],
        &["SET", "a", "abc"],
        &["INCR", "a"],
        &["APPEND", "a", "d"],
        &["INCRBY", "a", "notanumber"],
        &["GET", "a"],
        &["EXEC"],
        &["MULTI"],
        &["EXEC"],
        &["MULTI"],
        &["PING"],
        &["DISCARD"],
        &["EXEC"],
        // SELECT inside a transaction moves the following commands.
        &["MULTI"],
        &["SET", "s", "0"],
        &["SELECT", "3"],
        &["SET", "s", "3"],
        &["GET", "s"],
        &["EXEC"],
        &["GET", "s"],
        &["SELECT", "0"],
        &["GET", "s"],
        // RESET and QUIT are not queued; RESET leaves MULTI.
        &["MULTI"],
        &["SET", "r", "1"],
        &["RESET"],
        &["EXEC"],
        &["EXISTS", "r"],
        // The same in RESP3.
        &["HELLO", "3"],
        &["MULTI"],
        &["SET", "a", "1"],
        &["INCR", "a"],
        &["HGETALL_NOPE"],
        &["EXEC"],
        &["MULTI"],
        &["INCR", "a"],
        &["PING"],
        &["ECHO", "hi"],
        &["EXEC"],
        &["EXEC"],
    ];
    compare_session(&ferro, &redis, cmds);
}

#[test]
fn watch_is_invalidated_by_other_clients_writes() {
    let (ferro, redis) = servers();
    let mut a = Twin::open(&ferro, &redis);
    let mut b = Twin::open(&ferro, &redis);
    let mut c = Twin::open(&ferro, &redis);

    // Plain invalidation, and not by a write to another key or database.
    a.run_all(&["SET k 1", "WATCH k"]);
    b.run("SET other 1");
    b.run_all(&["SELECT 1", "SET k 1", "SELECT 0"]);
    a.run_all(&["MULTI", "INCR k", "EXEC"]);
    a.run("WATCH k");
    b.run("INCR k");
    a.run_all(&["MULTI", "INCR k", "EXEC", "GET k"]);

    // Two watchers of one key, one of them also watching another key.
    a.run("WATCH k j");
    c.run("WATCH k");
    b.run("SET j x");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    c.run_all(&["MULTI", "PING", "EXEC"]);

    // A no-op write (DEL of a missing key) invalidates nothing; a real delete does.
    a.run("WATCH missing");
    b.run("DEL missing");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run("WATCH k");
    b.run("DEL k");
    a.run_all(&["MULTI", "PING", "EXEC"]);

    // The client's own writes before MULTI count too; UNWATCH and DISCARD forget.
    a.run_all(&["WATCH k", "SET k 5", "MULTI", "PING", "EXEC"]);
    a.run("WATCH k");
    b.run("SET k 6");
    a.run_all(&["UNWATCH", "MULTI", "PING", "EXEC"]);
    a.run("WATCH k");
    b.run("SET k 7");
    a.run_all(&["MULTI", "PING", "DISCARD", "MULTI", "PING", "EXEC"]);

    // WATCH after the key changed, in the same MULTI block as queued writes.
    a.run("WATCH k");
    a.run_all(&["MULTI", "SET k 8"]);
    b.run("SET k 9");
    a.run_all(&["EXEC", "GET k"]);

    // Renames touch both names, expiry changes touch the key.
    a.run("WATCH dst");
    b.run_all(&["SET src 1", "RENAME src dst"]);
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run("WATCH dst");
    b.run("EXPIRE dst 1000");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run("WATCH dst");
    b.run("PERSIST dst");
    a.run_all(&["MULTI", "PING", "EXEC"]);

    // RESP3 null for a failed EXEC.
    a.resp3();
    a.run("WATCH k");
    b.run("SET k 10");
    a.run_all(&["MULTI", "GET k", "EXEC"]);
}

#[test]
fn flushes_and_swapdb_invalidate_watched_keys_that_exist() {
    let (ferro, redis) = servers();
    let mut a = Twin::open(&ferro, &redis);
    let mut b = Twin::open(&ferro, &redis);

    a.run("WATCH nokey");
    b.run_all(&["SET other 1", "FLUSHDB"]);
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run_all(&["SET wk 1", "WATCH wk"]);
    b.run("FLUSHDB");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run_all(&["SET wk 1", "WATCH wk"]);
    b.run_all(&["SELECT 5", "FLUSHDB", "SELECT 0"]);
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run_all(&["SET wk 1", "WATCH wk"]);
    b.run("FLUSHALL");
    a.run_all(&["MULTI", "PING", "EXEC"]);

    // SWAPDB: a key present on either side is a change; absent on both is not.
    a.run("WATCH wk");
    b.run_all(&["SELECT 1", "SET wk 1", "SWAPDB 0 1", "SELECT 0"]);
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run("WATCH zz");
    b.run("SWAPDB 0 1");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run("WATCH wk");
    b.run("SWAPDB 0 1");
    a.run_all(&["MULTI", "PING", "EXEC"]);
}

#[test]
fn watched_keys_and_expiry_follow_redis_7_0() {
    let (ferro, redis) = servers();
    let mut a = Twin::open(&ferro, &redis);
    let mut b = Twin::open(&ferro, &redis);
    a.run("DEBUG SET-ACTIVE-EXPIRE 0");
    let expire_now = |t: &mut Twin, key: &str| {
        t.run(&format!("SET {key} v PX 1"));
        std::thread::sleep(Duration::from_millis(20));
    };

    // Already expired when watched: EXEC succeeds, even once a read deletes it.
    expire_now(&mut a, "k");
    a.run_all(&["WATCH k", "MULTI", "PING", "EXEC"]);
    expire_now(&mut a, "k");
    a.run("WATCH k");
    b.run("GET k");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    expire_now(&mut a, "k");
    a.run_all(&["WATCH k", "MULTI", "GET k", "EXEC"]);
    // ... but a write after the expiry is a change.
    expire_now(&mut a, "k");
    a.run("WATCH k");
    b.run("SET k fresh");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    expire_now(&mut a, "k");
    a.run("WATCH k");
    b.run_all(&["GET k", "SET k fresh"]);
    a.run_all(&["MULTI", "PING", "EXEC"]);
    // Flushing an expired watched key is no change either.
    expire_now(&mut a, "k");
    a.run("WATCH k");
    b.run("FLUSHDB");
    a.run_all(&["MULTI", "PING", "EXEC"]);

    // Expiring between WATCH and EXEC makes EXEC fail (checked at EXEC).
    a.run_all(&["SET k v PX 100", "WATCH k", "MULTI", "GET k"]);
    std::thread::sleep(Duration::from_millis(200));
    a.run("EXEC");

    // SWAPDB bringing in an already expired key is no change.
    a.run_all(&["SELECT 1", "SET k v PX 1", "SELECT 0"]);
    std::thread::sleep(Duration::from_millis(20));
    a.run("WATCH k");
    b.run("SWAPDB 0 1");
    a.run_all(&["MULTI", "PING", "EXEC"]);
    a.run("DEBUG SET-ACTIVE-EXPIRE 1");
}

#[test]
fn subscribe_inside_multi_and_client_list_fields() {
    let (ferro, redis) = servers();
    let mut a = Twin::open(&ferro, &redis);
    // SUBSCRIBE may be queued (Redis keeps that for compatibility); SSUBSCRIBE is refused
    // inside EXEC.
    a.run_all(&[
        "MULTI",
        "SUBSCRIBE ch",
        "SSUBSCRIBE sh",
        "PSUBSCRIBE p*",
        "EXEC",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
    ]);

    // CLIENT LIST: flags x (MULTI) and d (dirty CAS), multi=<queued>, cmd=<last queued>.
    for (srv, conn) in [(&ferro, &mut a.f), (&redis, &mut a.r)] {
        conn.cmds("CLIENT SETNAME txclient");
        conn.cmds("WATCH k");
        let mut other = srv.raw();
        other.cmds("SET k 1");
        conn.cmds("MULTI");
        conn.cmds("PING");
        conn.cmds("GET k");
        // An aborted transaction stops queuing: multi=0.
        let line = client_line(&mut other, "txclient");
        assert!(line.contains(" flags=xd "), "{}: {line}", srv.flavor);
        assert!(line.contains(" multi=0 "), "{}: {line}", srv.flavor);
        assert!(line.contains(" cmd=get "), "{}: {line}", srv.flavor);
        assert!(conn.cmds("EXEC").is_nil());
        let line = client_line(&mut other, "txclient");
        assert!(line.contains(" flags=N "), "{}: {line}", srv.flavor);
        assert!(line.contains(" multi=-1 "), "{}: {line}", srv.flavor);
        assert!(line.contains(" cmd=exec "), "{}: {line}", srv.flavor);
        conn.cmds("MULTI");
        conn.cmds("PING");
        conn.cmds("PING");
        let line = client_line(&mut other, "txclient");
        assert!(line.contains(" flags=x "), "{}: {line}", srv.flavor);
        assert!(line.contains(" multi=2 "), "{}: {line}", srv.flavor);
        conn.cmds("NOSUCH");
        conn.cmds("PING");
        let line = client_line(&mut other, "txclient");
        assert!(line.contains(" multi=2 "), "{}: {line}", srv.flavor);
        assert!(conn.cmds("EXEC").is_error());
    }
}

/// The CLIENT LIST line of the client named `name`.
fn client_line(conn: &mut RawConn, name: &str) -> String {
    let list = conn.cmds("CLIENT LIST").text();
    list.lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap_or_else(|| panic!("no client named {name} in {list}"))
        .to_string()
}

#[test]
fn monitor_shows_queued_commands_when_exec_runs() {
    let (ferro, redis) = servers();
    let mut outputs = Vec::new();
    for srv in [&ferro, &redis] {
        let mut mon = srv.raw();
        assert_eq!(mon.cmd_raw(&["MONITOR"]), b"+OK\r\n");
        let mut c = srv.raw();
        for line in [
            "MULTI", "SET x 1", "GET x", "EXEC", "MULTI", "GET x", "NOSUCH", "EXEC",
        ] {
            c.cmds(line);
        }
        c.cmds("PING");
        // Every fed line up to the final PING, without the timestamp and client address.
        let mut lines = Vec::new();
        loop {
            let r = mon.read().text();
            let cmd = r.split_once("] ").map(|(_, c)| c.to_string()).unwrap_or(r);
            if cmd == "\"PING\"" {
                break;
            }
            lines.push(cmd);
        }
        outputs.push(lines);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(
        outputs[0],
        [
            "\"MULTI\"",
            "\"SET\" \"x\" \"1\"",
            "\"GET\" \"x\"",
            "\"EXEC\"",
            "\"MULTI\"",
            "\"EXEC\""
        ]
    );
}

#[test]
fn exec_stats_count_each_queued_command() {
    let (ferro, redis) = servers();
    let mut stats = Vec::new();
    for srv in [&ferro, &redis] {
        let mut c = srv.raw();
        c.cmds("CONFIG RESETSTAT");
        for line in [
            "MULTI", "SET a x", "INCR a", "GET a", "EXEC", "MULTI", "NOSUCH", "EXEC",
        ] {
            c.cmds(line);
        }
        let info = c.cmds("INFO commandstats").text();
        // calls, rejected and failed counts only (timings differ).
        let mut lines: Vec<String> = info
            .lines()
            .filter(|l| l.starts_with("cmdstat_"))
            .filter(|l| !l.starts_with("cmdstat_config") && !l.starts_with("cmdstat_info"))
            .map(|l| {
                let (name, fields) = l.split_once(':').expect("name:fields");
                let kept: Vec<&str> = fields
                    .split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect();
                format!("{name}:{}", kept.join(","))
            })
            .collect();
        lines.sort();
        stats.push(lines);
    }
    assert_eq!(stats[0], stats[1]);
}
