//! Replication consistency under faults.
//!
//! - `consistency_under_faults`: a ferrodis master and two ferrodis replicas, one of them
//!   behind an in-test TCP proxy that can cut the link or stall it. A driver streams over
//!   100,000 random writes of every type (strings, lists, hashes, sets, zsets, HyperLogLogs,
//!   expiries, MULTI/EXEC, four databases) while the test cuts the proxied link, stalls it,
//!   kill -9s the other replica and restarts it on its directory, and once holds the proxied
//!   link until the master's backlog has moved past it. At the end the three datasets and
//!   offsets are equal, and INFO stats show that the partial resyncs and the backlog-overflow
//!   full sync really happened.
//! - `link_lost_mid_transaction_*`: a scripted master cuts the link after MULTI and one
//!   queued command; the replica must ask to continue from before the MULTI, as the real
//!   Redis does (checked against redis-server as the replica too).
//! - `promotion_while_a_replica_lags`: the lagging replica switches to the promoted one and
//!   receives backlog bytes that rely on the database its old master's stream had selected.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::repl::{
    assert_same_data, int_field, pipeline_writes, wait_in_sync, Tx, WriteMix, EVERY_TYPE,
};
use common::{info_field, wait_until, RawConn, RedisServer, Resp, Server, Stream};
use rand::rngs::SmallRng;
use rand::SeedableRng;

const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// The write driver
// ---------------------------------------------------------------------------------------

/// Random writes of every type, in one of four databases, often inside MULTI/EXEC.
const WRITES: WriteMix = WriteMix {
    commands: EVERY_TYPE,
    keys: 60,
    tx_one_in: 3,
    tx: Tx::MarksFirst,
};

/// Writes random commands to the master from its own thread, in pipelined blocks of 100:
/// at a steady pace (so that a link coming back within a couple of seconds still finds its
/// offset in the backlog), or as fast as possible while `fast` is set. Runs until `stop`
/// is set and at least `min_writes` were made.
struct Driver {
    written: Arc<AtomicUsize>,
    fast: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Driver {
    fn start(port: u16, seed: u64, per_second: usize, min_writes: usize) -> Driver {
        let written = Arc::new(AtomicUsize::new(0));
        let fast = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (w, f, s) = (written.clone(), fast.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut c = RawConn::connect(port);
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut paced = 0usize;
            let mut since = Instant::now();
            while !(s.load(Ordering::SeqCst) && w.load(Ordering::SeqCst) >= min_writes) {
                pipeline_writes(&mut c, &mut rng, 1, &WRITES);
                w.fetch_add(100, Ordering::SeqCst);
                if f.load(Ordering::SeqCst) {
                    paced = 0;
                    since = Instant::now();
                    continue;
                }
                paced += 100;
                let due = since + Duration::from_secs_f64(paced as f64 / per_second as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
        Driver {
            written,
            fast,
            stop,
            handle: Some(handle),
        }
    }

    fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }

    fn wait_for(&self, n: usize) {
        wait_until(&format!("{n} writes"), Duration::from_secs(60), || {
            self.written() >= n
        });
    }

    fn finish(&mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("the driver panicked");
        }
        self.written()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A failing test must not wait for the driver to reach its quota.
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// Consistency under faults
// ---------------------------------------------------------------------------------------

const BACKLOG: i64 = 4 * 1024 * 1024;

fn replica_of(port: u16, extra: &[&str]) -> Server {
    let p = port.to_string();
    let mut args = vec![
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        &p,
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

struct Stats {
    full: i64,
    partial_ok: i64,
    partial_err: i64,
}

fn stats(m: &mut RawConn) -> Stats {
    Stats {
        full: int_field(m, "stats", "sync_full"),
        partial_ok: int_field(m, "stats", "sync_partial_ok"),
        partial_err: int_field(m, "stats", "sync_partial_err"),
    }
}

/// Waits until the master has accepted `n` partial resyncs in total and `c`'s link is up.
fn wait_partial(m: &mut RawConn, c: &mut RawConn, n: i64, what: &str) {
    wait_until(what, SYNC_TIMEOUT, || {
        stats(m).partial_ok >= n && info_field(c, "replication", "master_link_status") == "up"
    });
    assert_eq!(stats(m).partial_ok, n, "{what}");
}

#[test]
fn consistency_under_faults() {
    let backlog = BACKLOG.to_string();
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-backlog-size",
        &backlog,
    ]);
    let mut m = master.raw();
    m.cmds("DEBUG POPULATE 20000 pop 20");
    let proxy = Proxy::start_in_random_pieces(master.port());
    let r1 = replica_of(proxy.port, &[]);
    let mut r2 = replica_of(master.port(), &[]);
    let (mut c1, mut c2) = (r1.raw(), r2.raw());
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2);
    assert_eq!(stats(&mut m).full, 2);

    // ~6000 writes/s are ~700 KB/s of stream: a link back within a few seconds still finds
    // its offset in the backlog.
    let mut driver = Driver::start(master.port(), 42, 6000, 100_000);

    // 1. Cut the proxied link: partial resync.
    driver.wait_for(5_000);
    proxy.cut();
    wait_partial(&mut m, &mut c1, 1, "a partial resync after cut 1");

    // 2. Stall it for two seconds: the link survives, the replica catches up, no resync.
    driver.wait_for(15_000);
    proxy.set_stalled(true);
    std::thread::sleep(Duration::from_secs(2));
    proxy.set_stalled(false);
    std::thread::sleep(Duration::from_millis(500));
    let s = stats(&mut m);
    assert_eq!((s.full, s.partial_ok), (2, 1), "a stall is not a resync");
    assert_eq!(
        info_field(&mut c1, "replication", "master_link_status"),
        "up"
    );

    // 3. The direct replica saves mid-stream, is killed with -9 a little later, and comes
    //    back on its directory: it continues from the saved offset.
    driver.wait_for(22_000);
    assert_eq!(c2.cmds("SAVE"), Resp::Simple(b"OK".to_vec()));
    driver.wait_for(27_000);
    r2.signal(libc::SIGKILL);
    assert!(r2.wait_exit(Duration::from_secs(10)).is_some());
    let dir = r2.dir().to_string_lossy().into_owned();
    let r2b = replica_of(master.port(), &["--dir", &dir]);
    let mut c2 = r2b.raw();
    wait_partial(
        &mut m,
        &mut c2,
        2,
        "a partial resync of the restarted replica",
    );
    assert!(r2b
        .log()
        .contains("Successful partial resynchronization with master"));

    // 4. Stall, then cut while stalled: what was held is lost, the backlog has it.
    driver.wait_for(35_000);
    proxy.set_stalled(true);
    std::thread::sleep(Duration::from_millis(1000));
    proxy.cut();
    proxy.set_stalled(false);
    wait_partial(
        &mut m,
        &mut c1,
        3,
        "a partial resync after a cut during a stall",
    );

    // 5. Backlog overflow: hold the proxied link while the master writes more than its
    //    backlog, then cut it. The replica's offset is gone from the backlog: full sync.
    driver.wait_for(45_000);
    let before = stats(&mut m);
    proxy.set_stalled(true);
    let from = int_field(&mut m, "replication", "master_repl_offset");
    driver.fast.store(true, Ordering::SeqCst);
    wait_until("the backlog to move on", SYNC_TIMEOUT, || {
        int_field(&mut m, "replication", "master_repl_offset") > from + BACKLOG + 256 * 1024
    });
    driver.fast.store(false, Ordering::SeqCst);
    proxy.cut();
    proxy.set_stalled(false);
    wait_until("a full sync after the overflow", SYNC_TIMEOUT, || {
        stats(&mut m).full > before.full
            && info_field(&mut c1, "replication", "master_link_status") == "up"
    });
    let after = stats(&mut m);
    assert_eq!(after.full, before.full + 1);
    assert_eq!(after.partial_err, before.partial_err + 1);
    let overflow = format!(
        "Full resync requested by replica 127.0.0.1:{}: offset",
        r1.port()
    );
    assert!(
        master
            .log()
            .lines()
            .any(|l| l.contains(&overflow) && l.contains("is outside the backlog")),
        "the master did not log the overflow:\n{}",
        master.log()
    );

    // 6. More cuts after the full sync, each followed by a partial resync. Each lands at a
    //    random point of the stream in flight, often inside a transaction.
    const MORE_CUTS: i64 = 4;
    let base = stats(&mut m).partial_ok;
    for i in 1..=MORE_CUTS {
        let w = driver.written();
        driver.wait_for(w + 3_000);
        proxy.cut();
        wait_partial(
            &mut m,
            &mut c1,
            base + i,
            &format!("a partial resync after cut {i} past the full sync"),
        );
    }

    let total = driver.finish();
    assert!(total >= 100_000, "{total} writes");
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2b);
    assert_same_data(&mut [&mut m, &mut c1, &mut c2], "after the faults");
    // Offsets equal everywhere (checked again after the digests, in case a DEL was still in
    // flight), and the replicas' own stream offsets are the master's.
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2b);
    let mo = int_field(&mut m, "replication", "master_repl_offset");
    assert_eq!(int_field(&mut c1, "replication", "master_repl_offset"), mo);
    assert_eq!(int_field(&mut c2, "replication", "master_repl_offset"), mo);
    let s = stats(&mut m);
    assert_eq!(s.full, 3, "two initial full syncs and the overflow");
    assert_eq!(s.partial_ok, 3 + MORE_CUTS, "the cuts and the restart");
    assert!(
        proxy.accepted() >= 4 + MORE_CUTS as usize,
        "{} proxied connections",
        proxy.accepted()
    );
    // `r2` holds the directory the restarted replica works in.
    drop(r2b);
    drop(r2);
}

// ---------------------------------------------------------------------------------------
// A link lost in the middle of a transaction
// ---------------------------------------------------------------------------------------

const SCRIPTED_ID: &str = "0123456789abcdef0123456789abcdef01234567";

fn accept_within(l: &TcpListener, timeout: Duration) -> RawConn {
    l.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + timeout;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                s.set_read_timeout(Some(common::IO_TIMEOUT))
                    .expect("timeout");
                return RawConn::from_stream(Stream::Tcp(s));
            }
            Err(_) => {
                assert!(Instant::now() < deadline, "the replica did not connect");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Answers the replica's handshake; returns PSYNC's arguments.
fn handshake(c: &mut RawConn) -> (String, String) {
    loop {
        let cmd: Vec<String> = c.read().array().iter().map(Resp::text).collect();
        match cmd[0].to_ascii_uppercase().as_str() {
            "PING" => c.send(b"+PONG\r\n"),
            "PSYNC" => return (cmd[1].clone(), cmd[2].clone()),
            _ => c.send(b"+OK\r\n"),
        }
    }
}

fn stream_of(cmds: &[&[&str]]) -> Vec<u8> {
    cmds.iter().flat_map(|c| common::encode(c)).collect()
}

/// The scripted master: full sync (an empty dataset at offset 0), then a stream that stops
/// after MULTI and one queued command; the link is cut there. Returns the offset the
/// replica asks to continue from, after serving it and checking the final data.
fn mid_transaction_cut(replica: &Server, listener: &TcpListener) -> i64 {
    let before: &[&[&str]] = &[&["SELECT", "0"], &["SET", "a", "1"]];
    let open: &[&[&str]] = &[&["MULTI"], &["SET", "b", "2"]];
    let after: &[&[&str]] = &[&["INCR", "c"], &["EXEC"], &["SET", "d", "4"]];
    let applied = stream_of(before);
    let mut history = applied.clone();
    history.extend(stream_of(open));
    let sent = history.len();
    history.extend(stream_of(after));

    let mut c = accept_within(listener, SYNC_TIMEOUT);
    let (id, off) = handshake(&mut c);
    assert_eq!((id.as_str(), off.as_str()), ("?", "-1"));
    // An empty RDB (version 10, checksum 0 = not checked).
    let mut rdb = b"REDIS0010".to_vec();
    rdb.push(0xff);
    rdb.extend([0u8; 8]);
    let mut out = format!("+FULLRESYNC {SCRIPTED_ID} 0\r\n${}\r\n", rdb.len()).into_bytes();
    out.extend(&rdb);
    out.extend(&history[..sent]);
    c.send(&out);

    let mut r = replica.raw();
    wait_until(
        "the replica to read the open transaction",
        SYNC_TIMEOUT,
        || {
            info_field(&mut r, "replication", "master_link_status") == "up"
                && int_field(&mut r, "replication", "slave_read_repl_offset") == sent as i64
        },
    );
    // Applied: everything before MULTI; the transaction is only queued.
    assert_eq!(
        int_field(&mut r, "replication", "slave_repl_offset"),
        applied.len() as i64,
        "{} replica: offset while a transaction is open",
        replica.flavor
    );
    drop(c);

    let mut c = accept_within(listener, SYNC_TIMEOUT);
    let (id, off) = handshake(&mut c);
    assert_eq!(id, SCRIPTED_ID);
    let off: i64 = off.parse().expect("PSYNC offset");
    assert!(
        off >= 1 && off as usize <= history.len() + 1,
        "PSYNC offset {off}"
    );
    let mut out = format!("+CONTINUE {SCRIPTED_ID}\r\n").into_bytes();
    out.extend(&history[off as usize - 1..]);
    c.send(&out);
    wait_until("the replica to apply the stream", SYNC_TIMEOUT, || {
        int_field(&mut r, "replication", "slave_repl_offset") == history.len() as i64
    });
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "1"), ("d", "4")] {
        assert_eq!(
            r.cmd(&["GET", k]),
            Resp::Bulk(v.as_bytes().to_vec()),
            "{} replica, key {k} (continued from offset {off})",
            replica.flavor
        );
    }
    off
}

fn scripted_master_and_replica(redis: bool) -> (TcpListener, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let args = ["--replicaof", "127.0.0.1", &port];
    let replica = if redis {
        RedisServer::start(&args)
    } else {
        Server::start(&args)
    };
    (listener, replica)
}

#[test]
fn link_lost_mid_transaction_continues_before_multi() {
    let (listener, replica) = scripted_master_and_replica(false);
    let ours = mid_transaction_cut(&replica, &listener);
    let (listener, redis) = scripted_master_and_replica(true);
    let theirs = mid_transaction_cut(&redis, &listener);
    assert_eq!(ours, theirs, "PSYNC offsets after a cut inside MULTI");
    assert_eq!(
        ours as usize,
        stream_of(&[&["SELECT", "0"], &["SET", "a", "1"]]).len() + 1
    );
}

// ---------------------------------------------------------------------------------------
// Promotion while a replica lags
// ---------------------------------------------------------------------------------------

/// R2 lags behind R1 (its link is stalled) when R1 is promoted; R2 switches to R1 and gets
/// the missing part of the old master's stream from R1's backlog. That part writes in the
/// database the old stream had selected long before, without a SELECT of its own: R2 must
/// carry its stream database across the switch of masters.
#[test]
fn promotion_while_a_replica_lags() {
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-ping-replica-period",
        "3600",
    ]);
    let mut m = master.raw();
    common::fill_mixed(&mut m, "a:");
    let proxy = Proxy::start_in_random_pieces(master.port());
    let r1 = replica_of(master.port(), &["--repl-diskless-sync-delay", "0"]);
    let r2 = replica_of(proxy.port, &[]);
    let (mut c1, mut c2) = (r1.raw(), r2.raw());
    // Both full syncs done first (each makes the master's stream select again).
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2);
    // The stream selects database 3.
    assert_eq!(m.cmds("SELECT 3"), Resp::Simple(b"OK".to_vec()));
    assert_eq!(m.cmds("SET first 1"), Resp::Simple(b"OK".to_vec()));
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2);

    proxy.set_stalled(true);
    for i in 0..50 {
        let r = m.cmd(&["RPUSH", "lagged", &i.to_string()]);
        assert!(matches!(r, Resp::Int(_)), "{r:?}");
    }
    m.cmds("SET lagged-str x");
    wait_in_sync(&mut m, &mut c1, &r1);

    assert_eq!(c1.cmds("REPLICAOF NO ONE"), Resp::Simple(b"OK".to_vec()));
    let p1 = r1.port().to_string();
    assert_eq!(
        c2.cmd(&["REPLICAOF", "127.0.0.1", &p1]),
        Resp::Simple(b"OK".to_vec())
    );
    proxy.set_stalled(false);
    wait_in_sync(&mut c1, &mut c2, &r2);
    assert_eq!(int_field(&mut c1, "stats", "sync_partial_ok"), 1);
    assert_eq!(int_field(&mut c1, "stats", "sync_full"), 0);
    c1.cmds("SELECT 3");
    assert_eq!(c1.cmds("SET promoted 1"), Resp::Simple(b"OK".to_vec()));
    wait_in_sync(&mut c1, &mut c2, &r2);
    assert_same_data(
        &mut [&mut c1, &mut c2],
        "after the lagging replica switched",
    );
    c2.cmds("SELECT 3");
    assert_eq!(c2.cmds("LLEN lagged"), Resp::Int(50));
}
