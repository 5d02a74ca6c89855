//! Blocking commands with several real connections: FIFO wake-up order, timeouts, wake-ups
//! by LPUSH/RPUSH/LMOVE/MULTI-EXEC/SWAPDB, BLMOVE chains, CLIENT UNBLOCK, a client that
//! disconnects while blocked, and commands pipelined behind a blocking one.
//!
//! Most scenarios run on ferrodis and on the real redis-server and compare the complete
//! transcripts (every reply of every connection, in order). A scenario waits until the
//! expected number of clients is blocked (INFO `blocked_clients`) before acting, so the
//! transcripts do not depend on timing. Timeout precision is checked on ferrodis alone.

mod common;

use common::{show, start_both, RawConn, Server};
use std::time::{Duration, Instant};

/// Polls INFO until `n` clients are blocked.
fn wait_blocked(ctl: &mut RawConn, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = ctl.cmd_raw(&["INFO", "clients"]);
        if String::from_utf8_lossy(&info).contains(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {want:?}: {}",
            show(&info)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that nothing arrives on `c` for `ms` milliseconds.
fn assert_silent(c: &mut RawConn, ms: u64) {
    c.set_timeout(Duration::from_millis(ms));
    match c.try_read_raw() {
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut => {}
        other => panic!("expected no reply, got {other:?}"),
    }
    c.set_timeout(common::IO_TIMEOUT);
}

/// A transcript of replies, labelled so a mismatch is readable.
#[derive(Default)]
struct Log(Vec<String>);

impl Log {
    fn add(&mut self, who: &str, raw: Vec<u8>) {
        self.0.push(format!("{who}: {}", show(&raw)));
    }
}

/// Runs `scenario` on ferrodis and redis-server and compares the transcripts.
fn same_as_redis(args: &[&str], scenario: impl Fn(&Server, &mut Log)) {
    let (ferro, redis) = start_both(args);
    let mut f = Log::default();
    let mut r = Log::default();
    scenario(&redis, &mut r);
    scenario(&ferro, &mut f);
    for (i, (a, b)) in f.0.iter().zip(&r.0).enumerate() {
        assert_eq!(
            a, b,
            "step {i} differs\nferrodis: {:#?}\nredis: {:#?}",
            f.0, r.0
        );
    }
    assert_eq!(f.0.len(), r.0.len(), "{:#?}\n{:#?}", f.0, r.0);
}

#[test]
fn fifo_order_among_waiters() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c: Vec<RawConn> = (0..3).map(|_| s.raw()).collect();
        for (i, conn) in c.iter_mut().enumerate() {
            conn.send_cmd(&["BLPOP", "q", "0"]);
            wait_blocked(&mut ctl, i + 1);
        }
        // One push serves the first waiter only; the next push the second.
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "q", "one"]));
        log.add("c0", c[0].read_raw());
        assert_silent(&mut c[1], 50);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "q", "two", "three", "four"]));
        log.add("c1", c[1].read_raw());
        log.add("c2", c[2].read_raw());
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "q", "0", "-1"]));
        // BRPOP waiters pop from the tail, in their blocking order.
        for (i, conn) in c.iter_mut().enumerate() {
            conn.send_cmd(&["BRPOP", "other", "q2", "0"]);
            wait_blocked(&mut ctl, i + 1);
        }
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "q2", "a", "b"]));
        log.add("c0", c[0].read_raw());
        log.add("c1", c[1].read_raw());
        log.add("ctl", ctl.cmd_raw(&["LPUSH", "other", "x"]));
        log.add("c2", c[2].read_raw());
    });
}

#[test]
fn wake_by_every_kind_of_push() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c = s.raw();
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["LPUSH", "k", "a", "b"]));
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "k", "0", "-1"]));
        log.add("ctl", ctl.cmd_raw(&["DEL", "k"]));
        // LMOVE and RPOPLPUSH into the awaited key.
        c.send_cmd(&["BRPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "src", "1", "2", "3"]));
        log.add("ctl", ctl.cmd_raw(&["LMOVE", "src", "k", "LEFT", "RIGHT"]));
        log.add("c", c.read_raw());
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPOPLPUSH", "src", "k"]));
        log.add("c", c.read_raw());
        // A client waiting on several keys is served from whichever gets data first.
        c.send_cmd(&["BLPOP", "k1", "k2", "k2", "k3", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k3", "z"]));
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["EXISTS", "k1", "k2", "k3"]));
        // BLMPOP: served with a count, the key's name and the nested array.
        c.send_cmd(&["BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "m2", "a", "b", "c"]));
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "m2", "0", "-1"]));
    });
}

#[test]
fn multi_exec_serves_after_the_transaction() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c = s.raw();
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        // Pushed and popped inside one transaction: nothing is left to serve.
        for cmd in [
            &["MULTI"][..],
            &["RPUSH", "k", "x"],
            &["LPOP", "k"],
            &["EXEC"],
        ] {
            log.add("ctl", ctl.cmd_raw(cmd));
        }
        assert_silent(&mut c, 50);
        // Pushed twice in one transaction: served once, after EXEC, with the first element.
        for cmd in [
            &["MULTI"][..],
            &["RPUSH", "k", "a"],
            &["RPUSH", "k", "b"],
            &["LLEN", "k"],
            &["EXEC"],
        ] {
            log.add("ctl", ctl.cmd_raw(cmd));
        }
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "k", "0", "-1"]));
        // Blocking commands inside MULTI do not block.
        for cmd in [
            &["MULTI"][..],
            &["BLPOP", "none", "0"],
            &["BLMOVE", "none", "x", "LEFT", "LEFT", "0"],
            &["BLMPOP", "0", "1", "none", "LEFT"],
            &["BLPOP", "k", "0"],
            &["EXEC"],
        ] {
            log.add("c", c.cmd_raw(cmd));
        }
    });
}

#[test]
fn key_of_another_type_keeps_clients_waiting() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c = s.raw();
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["SET", "k", "string"]));
        assert_silent(&mut c, 50);
        log.add("ctl", ctl.cmd_raw(&["DEL", "k"]));
        log.add("ctl", ctl.cmd_raw(&["FLUSHALL"]));
        assert_silent(&mut c, 20);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "v"]));
        log.add("c", c.read_raw());
        // The destination of BLMOVE has the wrong type when the source gets data: the
        // waiter gets WRONGTYPE and the element stays.
        log.add("ctl", ctl.cmd_raw(&["DEL", "k"]));
        log.add("ctl", ctl.cmd_raw(&["SET", "dst", "string"]));
        c.send_cmd(&["BLMOVE", "k", "dst", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "v"]));
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "k", "0", "-1"]));
        // Blocking on a key that holds another type is an immediate error.
        log.add("c", c.cmd_raw(&["BLPOP", "dst", "0"]));
    });
}

#[test]
fn blmove_chain_resolves_at_once() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut a = s.raw();
        let mut b = s.raw();
        let mut c = s.raw();
        a.send_cmd(&["BLMOVE", "l1", "l2", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut ctl, 1);
        b.send_cmd(&["BRPOPLPUSH", "l2", "l3", "0"]);
        wait_blocked(&mut ctl, 2);
        c.send_cmd(&["BLPOP", "l3", "0"]);
        wait_blocked(&mut ctl, 3);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "l1", "hop"]));
        log.add("a", a.read_raw());
        log.add("b", b.read_raw());
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["EXISTS", "l1", "l2", "l3"]));
        // A BLMOVE onto its own source (rotation) is served too.
        a.send_cmd(&["BLMOVE", "r", "r", "RIGHT", "LEFT", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "r", "1", "2", "3"]));
        log.add("a", a.read_raw());
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "r", "0", "-1"]));
    });
}

#[test]
fn timeouts_reply_null_arrays() {
    same_as_redis(&[], |s, log| {
        let mut c = s.raw();
        for cmd in [
            &["BLPOP", "none", "0.05"][..],
            &["BRPOP", "none", "none2", "0.05"],
            &["BLMOVE", "none", "x", "LEFT", "LEFT", "0.05"],
            &["BRPOPLPUSH", "none", "x", "0.05"],
            &["BLMPOP", "0.05", "1", "none", "LEFT"],
            &["BLPOP", "none", "-1"],
            &["BLPOP", "none", "abc"],
            &["BLPOP", "none", "inf"],
            &["BLPOP", "none", "1e20"],
            &["BLMOVE", "none", "x", "UP", "LEFT", "abc"],
            &["BLMPOP", "x", "1", "none", "LEFT"],
            &["BLMPOP", "0", "0", "none", "LEFT"],
            &["BLMPOP", "0", "1", "none", "LEFT", "COUNT", "0"],
            &["BLMPOP", "0", "2", "none", "LEFT"],
        ] {
            log.add("c", c.cmd_raw(cmd));
        }
        c.cmd_raw(&["HELLO", "3"]);
        log.add("c", c.cmd_raw(&["BLPOP", "none", "0.02"]));
        log.add(
            "c",
            c.cmd_raw(&["BLMOVE", "none", "x", "LEFT", "LEFT", "0.02"]),
        );
    });
}

#[test]
fn timeouts_have_millisecond_precision() {
    // With hz 1 the cron runs once a second: only the per-client timer can be this precise.
    let s = Server::start(&["--hz", "1"]);
    let mut c = s.raw();
    for (timeout, ms) in [("0.05", 50u128), ("0.12", 120), ("0.3", 300)] {
        let t = Instant::now();
        assert_eq!(c.cmd_raw(&["BLPOP", "none", timeout]), b"*-1\r\n");
        let took = t.elapsed().as_millis();
        assert!(took >= ms, "{timeout}s timed out after {took} ms");
        assert!(took < ms + 250, "{timeout}s timed out after {took} ms");
    }
}

#[test]
fn client_unblock_timeout_and_error() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c = s.raw();
        let id = match c.cmd(&["CLIENT", "ID"]) {
            common::Resp::Int(i) => i.to_string(),
            other => panic!("CLIENT ID: {other:?}"),
        };
        log.add("ctl", ctl.cmd_raw(&["CONFIG", "RESETSTAT"]));
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]));
        log.add("c", c.read_raw());
        c.send_cmd(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", &id, "ERROR"]));
        log.add("c", c.read_raw());
        c.send_cmd(&["BLMPOP", "100", "1", "k", "LEFT"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", &id]));
        log.add("c", c.read_raw());
        // Not blocked (any more), unknown, invalid.
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", &id]));
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", "999999"]));
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", "x"]));
        log.add("ctl", ctl.cmd_raw(&["CLIENT", "UNBLOCK", &id, "MAYBE"]));
        log.add("ctl", ctl.cmd_raw(&["INFO", "errorstats"]));
        let stats = ctl.cmd_raw(&["INFO", "commandstats"]);
        let text = String::from_utf8_lossy(&stats).into_owned();
        // Sorted: the order of INFO commandstats lines is not part of the contract.
        let mut lines: Vec<&str> = text.lines().filter(|l| l.contains("cmdstat_bl")).collect();
        lines.sort_unstable();
        for line in lines {
            // calls and failed_calls only: timings differ.
            let calls = line.split(',').find(|p| p.contains("calls=")).unwrap_or("");
            let failed = line
                .split(',')
                .find(|p| p.starts_with("failed_calls"))
                .unwrap_or("");
            log.add("stat", format!("{calls} {failed}").into_bytes());
        }
    });
}

#[test]
fn disconnect_while_blocked() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut gone = s.raw();
        let mut c = s.raw();
        gone.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 2);
        drop(gone);
        wait_blocked(&mut ctl, 1);
        // The element goes to the live waiter, not to the closed connection.
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "v"]));
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["LLEN", "k"]));
        let mut gone = s.raw();
        gone.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        drop(gone);
        wait_blocked(&mut ctl, 0);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "w"]));
        log.add("ctl", ctl.cmd_raw(&["LRANGE", "k", "0", "-1"]));
    });
}

#[test]
fn pipelined_commands_wait_behind_a_blocking_one() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c = s.raw();
        let mut pipeline = Vec::new();
        for cmd in [
            &["BLPOP", "k", "0"][..],
            &["PING"],
            &["RPUSH", "after", "1"],
            &["ECHO", "hi"],
        ] {
            pipeline.extend(common::encode(cmd));
        }
        c.send(&pipeline);
        wait_blocked(&mut ctl, 1);
        // Held back: not run yet.
        log.add("ctl", ctl.cmd_raw(&["EXISTS", "after"]));
        // Commands sent while blocked wait too, in order.
        c.send_cmd(&["GET", "x"]);
        assert_silent(&mut c, 50);
        log.add("ctl", ctl.cmd_raw(&["LPUSH", "k", "v"]));
        for _ in 0..5 {
            log.add("c", c.read_raw());
        }
        log.add("ctl", ctl.cmd_raw(&["EXISTS", "after"]));
        // After a timeout the held commands run as well.
        let mut pipeline = Vec::new();
        for cmd in [&["BLPOP", "none", "0.05"][..], &["PING"]] {
            pipeline.extend(common::encode(cmd));
        }
        c.send(&pipeline);
        log.add("c", c.read_raw());
        log.add("c", c.read_raw());
        // And a blocking command later in the held batch blocks again.
        let mut pipeline = Vec::new();
        for cmd in [
            &["BLPOP", "k", "0"][..],
            &["BLPOP", "k", "0"],
            &["ECHO", "done"],
        ] {
            pipeline.extend(common::encode(cmd));
        }
        c.send(&pipeline);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "1"]));
        log.add("c", c.read_raw());
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "2"]));
        log.add("c", c.read_raw());
        log.add("c", c.read_raw());
    });
}

#[test]
fn swapdb_wakes_waiters() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut c = s.raw();
        log.add("ctl", ctl.cmd_raw(&["SELECT", "1"]));
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "k", "from-db1"]));
        c.send_cmd(&["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["SWAPDB", "0", "1"]));
        log.add("c", c.read_raw());
        log.add("ctl", ctl.cmd_raw(&["DBSIZE"]));
    });
}

#[test]
fn blocked_client_in_client_list_and_info() {
    let s = Server::start(&[]);
    let mut ctl = s.raw();
    let mut c = s.raw();
    c.send_cmd(&["BLPOP", "k", "10"]);
    wait_blocked(&mut ctl, 1);
    let list = String::from_utf8_lossy(&ctl.cmd_raw(&["CLIENT", "LIST"])).into_owned();
    assert!(
        list.contains("flags=b ") && list.contains("cmd=blpop"),
        "{list}"
    );
    let info = String::from_utf8_lossy(&ctl.cmd_raw(&["INFO", "clients"])).into_owned();
    assert!(info.contains("clients_in_timeout_table:1"), "{info}");
    ctl.cmd_raw(&["RPUSH", "k", "v"]);
    assert_eq!(c.read_raw(), b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    let info = String::from_utf8_lossy(&ctl.cmd_raw(&["INFO", "clients"])).into_owned();
    assert!(
        info.contains("blocked_clients:0") && info.contains("clients_in_timeout_table:0"),
        "{info}"
    );
}

#[test]
fn sorted_set_blocking_pops() {
    same_as_redis(&[], |s, log| {
        let mut ctl = s.raw();
        let mut a = s.raw();
        let mut b = s.raw();
        // Immediate pops and errors.
        log.add(
            "ctl",
            ctl.cmd_raw(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        );
        log.add("a", a.cmd_raw(&["BZPOPMIN", "none", "z", "0"]));
        log.add("a", a.cmd_raw(&["BZPOPMAX", "z", "0"]));
        log.add(
            "a",
            a.cmd_raw(&["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"]),
        );
        log.add("ctl", ctl.cmd_raw(&["EXISTS", "z"]));
        log.add("ctl", ctl.cmd_raw(&["SET", "str", "x"]));
        for cmd in [
            &["BZPOPMIN", "str", "0"][..],
            &["BZPOPMIN", "z", "-1"],
            &["BZPOPMIN", "z", "x"],
            &["BZMPOP", "0", "1", "z", "UP"],
            &["BZMPOP", "0", "0", "z", "MIN"],
            &["BZMPOP", "x", "1", "z", "MIN"],
            &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"],
            &["BZPOPMAX", "none", "0.02"],
            &["BZMPOP", "0.02", "1", "none", "MAX"],
        ] {
            log.add("a", a.cmd_raw(cmd));
        }
        // Served in blocking order; a list waiter on the same key keeps waiting.
        a.send_cmd(&["BZPOPMIN", "z", "0"]);
        wait_blocked(&mut ctl, 1);
        b.send_cmd(&["BLPOP", "z", "0"]);
        wait_blocked(&mut ctl, 2);
        let mut c = s.raw();
        c.send_cmd(&["BZMPOP", "0", "2", "y", "z", "MAX", "COUNT", "2"]);
        wait_blocked(&mut ctl, 3);
        log.add(
            "ctl",
            ctl.cmd_raw(&["ZADD", "z", "5", "e", "4", "d", "6", "f", "7", "g"]),
        );
        log.add("a", a.read_raw());
        log.add("c", c.read_raw());
        assert_silent(&mut b, 50);
        log.add(
            "ctl",
            ctl.cmd_raw(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        );
        log.add("ctl", ctl.cmd_raw(&["DEL", "z"]));
        log.add("ctl", ctl.cmd_raw(&["RPUSH", "z", "now-a-list"]));
        log.add("b", b.read_raw());
        // RESP3: the score is a double.
        a.cmd_raw(&["HELLO", "3"]);
        a.send_cmd(&["BZPOPMAX", "z3", "0"]);
        wait_blocked(&mut ctl, 1);
        log.add("ctl", ctl.cmd_raw(&["ZADD", "z3", "1.5", "m"]));
        log.add("a", a.read_raw());
        log.add("a", a.cmd_raw(&["BZPOPMAX", "z3", "0.02"]));
    });
}

#[test]
fn blocked_clients_are_exempt_from_the_idle_timeout() {
    let s = Server::start(&["--timeout", "1"]);
    let mut idle = s.raw();
    let mut c = s.raw();
    c.send_cmd(&["BLPOP", "k", "0"]);
    std::thread::sleep(Duration::from_millis(1600));
    let (_, closed) = idle.read_until_close(Duration::from_millis(500));
    assert!(closed, "the idle client is closed");
    let mut ctl = s.raw();
    assert_eq!(ctl.cmd_raw(&["RPUSH", "k", "v"]), b":1\r\n");
    assert_eq!(c.read_raw(), b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
}
