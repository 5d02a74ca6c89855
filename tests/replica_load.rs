//! ferrodis as a replica: how the full-sync payload is loaded, against ferrodis and the real
//! Redis 7.0 as masters.
//!
//! - SYNC fallback: a master that refuses PSYNC (an in-test proxy renames the command, so the
//!   real Redis answers `-ERR unknown command`) is synced with the old SYNC.
//! - The load never blocks the executor: clients get `-LOADING`, PING and INFO answers with
//!   the loading fields, while a slowed-down load runs (key-load-delay).
//! - repl-diskless-load on-empty-db and swapdb, with a transfer cut mid-payload (swapdb keeps
//!   the old data) and async loading (reads answered from the old data).
//! - replica-lazy-flush.
//!
//! Datasets are compared with DEBUG DIGEST.

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;

use common::repl::{digest, int_field, wait_in_sync, SYNC_TIMEOUT};
use common::{fill_mixed, info_field, wait_until, RawConn, RedisServer, Resp, Server};

fn simple(s: &str) -> Resp {
    Resp::Simple(s.as_bytes().to_vec())
}

const LOADING: &str = "LOADING Redis is loading the dataset in memory";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Master {
    Ferrodis,
    Redis,
}

/// A master answering full syncs at once (diskless, no delay) with a small backlog, so a
/// few writes during a cut force a full sync.
fn start_master(kind: Master) -> Server {
    let args = [
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-backlog-size",
        "16kb",
    ];
    match kind {
        Master::Ferrodis => Server::start(&args),
        Master::Redis => RedisServer::start(&args),
    }
}

fn start_replica(extra: &[&str]) -> Server {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn replicaof(r: &mut RawConn, port: u16) {
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
        simple("OK")
    );
}

/// `n` keys of 100 bytes (DEBUG POPULATE), plus every type.
fn populate(m: &mut RawConn, n: usize) {
    assert_eq!(
        m.cmd(&["DEBUG", "POPULATE", &n.to_string(), "key", "100"]),
        simple("OK")
    );
    fill_mixed(m, "mixed:");
}

/// Writes over `bytes` bytes in total to one key (more than the master's backlog holds).
fn overflow_backlog(m: &mut RawConn, bytes: usize) {
    let value = "x".repeat(1000);
    for _ in 0..bytes / 1000 + 1 {
        assert_eq!(m.cmd(&["SET", "filler", &value]), simple("OK"));
    }
}

fn wait_same_digest(m: &mut RawConn, r: &mut RawConn, replica: &Server) {
    let want = digest(m);
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        if digest(r) == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica on port {} never matched the master's digest. Its log:\n{}",
            replica.port(),
            replica.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_log(server: &Server, line: &str) {
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while !server.log().contains(line) {
        assert!(
            Instant::now() < deadline,
            "log never showed {line:?}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_log(server: &Server, lines: &[&str]) {
    let log = server.log();
    for line in lines {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
}

fn count_in_log(server: &Server, line: &str) -> usize {
    server.log().matches(line).count()
}

// ---------------------------------------------------------------------------------------
// SYNC fallback
// ---------------------------------------------------------------------------------------

#[test]
fn sync_fallback_with_a_redis_master_refusing_psync() {
    sync_fallback(Master::Redis);
}

#[test]
fn sync_fallback_with_a_ferrodis_master_refusing_psync() {
    sync_fallback(Master::Ferrodis);
}

fn sync_fallback(kind: Master) {
    let master = start_master(kind);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let proxy = Proxy::start(master.port());
    proxy.rename_psync();
    let replica = start_replica(&[]);
    let mut r = replica.raw();
    r.cmds("SET stale 1");
    replicaof(&mut r, proxy.port);
    wait_same_digest(&mut m, &mut r, &replica);
    assert_log(
        &replica,
        &[
            "Master does not support PSYNC or is in error state (reply: -ERR unknown command 'PSYNX'",
            "Retrying with SYNC...",
            "MASTER <-> REPLICA sync: Finished with success",
        ],
    );
    assert!(!replica.log().contains("Full resync from master"));
    assert_eq!(r.cmds("EXISTS stale"), Resp::Int(0));
    // The stream follows the payload.
    fill_mixed(&mut m, "b:");
    m.cmds("SET after-sync 1");
    wait_until("the write after the sync", SYNC_TIMEOUT, || {
        r.cmds("GET after-sync") == Resp::Bulk(b"1".to_vec())
    });
    wait_same_digest(&mut m, &mut r, &replica);
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status"),
        "up"
    );
    // A pre-PSYNC history has no replication id.
    assert_eq!(info_field(&mut r, "replication", "master_replid"), "");
    // No periodic ACKs to a master that may not know REPLCONF: its lag only grows.
    std::thread::sleep(Duration::from_millis(3500));
    let slave0 = info_field(&mut m, "replication", "slave0");
    let lag: i64 = slave0
        .split(',')
        .find_map(|f| f.strip_prefix("lag="))
        .and_then(|l| l.parse().ok())
        .expect("lag");
    assert!(lag >= 3, "the replica ACKed a pre-PSYNC master: {slave0}");
    // A cut: the cached history is offered (no id), refused, and SYNC again.
    assert_eq!(r.cmds("CLIENT KILL TYPE master"), Resp::Int(1));
    m.cmds("SET after-cut 1");
    wait_until("the second SYNC", SYNC_TIMEOUT, || {
        count_in_log(&replica, "Retrying with SYNC...") == 2
            && count_in_log(&replica, "Finished with success") == 2
    });
    wait_same_digest(&mut m, &mut r, &replica);
    assert_log(&replica, &["Trying a partial resynchronization (request :"]);
}

// ---------------------------------------------------------------------------------------
// Loading without blocking the executor
// ---------------------------------------------------------------------------------------

/// The replica's load runs while clients are answered: `-LOADING` for data commands, PING
/// and INFO with loading:1 and the loading_* fields; writes made meanwhile on the master
/// arrive after the load, in order.
#[test]
fn disk_load_serves_clients_with_loading() {
    let master = start_master(Master::Ferrodis);
    let mut m = master.raw();
    populate(&mut m, 20_000);
    let replica = start_replica(&["--key-load-delay", "100"]);
    let mut r = replica.raw();
    r.cmds("SET stale 1");
    replicaof(&mut r, master.port());
    wait_until("the load to start", SYNC_TIMEOUT, || {
        info_field(&mut r, "persistence", "loading") == "1"
    });
    // As in Redis, only commands flagged `loading` (INFO, CONFIG...) run; not even PING.
    assert_eq!(r.cmds("PING"), Resp::Error(LOADING.as_bytes().to_vec()));
    assert_eq!(r.cmds("CONFIG GET maxclients").array().len(), 2);
    assert_eq!(
        r.cmds("GET key:1"),
        Resp::Error(LOADING.as_bytes().to_vec())
    );
    assert_eq!(r.cmds("DBSIZE"), Resp::Error(LOADING.as_bytes().to_vec()));
    assert_eq!(info_field(&mut r, "persistence", "async_loading"), "0");
    assert!(int_field(&mut r, "persistence", "loading_total_bytes") > 0);
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_sync_in_progress"),
        "1"
    );
    // Written during the load: applied after it.
    for i in 0..50 {
        m.cmd(&["SET", "key:1", &i.to_string()]);
    }
    m.cmds("DEL key:2");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    assert_eq!(r.cmds("GET key:1"), Resp::Bulk(b"49".to_vec()));
    assert_eq!(info_field(&mut r, "persistence", "loading"), "0");
    assert_log(
        &replica,
        &[
            "MASTER <-> REPLICA sync: Flushing old data",
            "MASTER <-> REPLICA sync: Loading DB in memory",
            "Done loading RDB, keys loaded:",
        ],
    );
    assert!(replica
        .log()
        .contains("receiving streamed RDB from master with EOF to disk"));
}

// ---------------------------------------------------------------------------------------
// repl-diskless-load
// ---------------------------------------------------------------------------------------

/// on-empty-db: straight from the socket when the replica holds nothing, through a file
/// otherwise.
fn on_empty_db(kind: Master) {
    let master = start_master(kind);
    let mut m = master.raw();
    populate(&mut m, 5_000);
    let empty = start_replica(&["--repl-diskless-load", "on-empty-db"]);
    let mut e = empty.raw();
    replicaof(&mut e, master.port());
    wait_in_sync(&mut m, &mut e, &empty);
    assert_eq!(digest(&mut e), digest(&mut m));
    assert_log(
        &empty,
        &["receiving streamed RDB from master with EOF to parser"],
    );
    let full = start_replica(&["--repl-diskless-load", "on-empty-db"]);
    let mut f = full.raw();
    f.cmds("SET mine 1");
    replicaof(&mut f, master.port());
    wait_in_sync(&mut m, &mut f, &full);
    assert_eq!(digest(&mut f), digest(&mut m));
    assert_log(
        &full,
        &["receiving streamed RDB from master with EOF to disk"],
    );
    // Both follow the stream.
    fill_mixed(&mut m, "later:");
    wait_in_sync(&mut m, &mut e, &empty);
    wait_in_sync(&mut m, &mut f, &full);
    assert_eq!(digest(&mut e), digest(&mut m));
    assert_eq!(digest(&mut f), digest(&mut m));
}

#[test]
fn on_empty_db_with_ferrodis_master() {
    on_empty_db(Master::Ferrodis);
}

#[test]
fn on_empty_db_with_redis_master() {
    on_empty_db(Master::Redis);
}

/// A transfer cut in the middle of the payload leaves the old data (and no temporary file);
/// the next attempt replaces it. swapdb with a new history (the replid differs) loads from
/// the socket into fresh databases with `-LOADING` meanwhile; disabled goes through a file.
fn cut_mid_payload(kind: Master, mode: &str) {
    let master = start_master(kind);
    let mut m = master.raw();
    populate(&mut m, 20_000);
    let proxy = Proxy::start(master.port());
    proxy.cut_after(300_000);
    let replica = start_replica(&["--repl-diskless-load", mode]);
    let mut r = replica.raw();
    fill_mixed(&mut r, "old:");
    let old = digest(&mut r);
    replicaof(&mut r, proxy.port);
    let swap = mode == "swapdb";
    wait_log(
        &replica,
        if swap {
            "MASTER <-> REPLICA sync: Discarding temporary DB in background"
        } else {
            "I/O error trying to sync with MASTER: connection lost"
        },
    );
    assert_eq!(proxy.budget_cuts(), 1);
    // The proxy refuses connections now: nothing else loads, the old data is served.
    wait_until("the load to end", SYNC_TIMEOUT, || {
        info_field(&mut r, "persistence", "loading") == "0"
    });
    assert_eq!(digest(&mut r), old);
    assert_eq!(r.cmds("GET old:int"), Resp::Bulk(b"12345".to_vec()));
    let to = if swap { "to parser" } else { "to disk" };
    assert_log(
        &replica,
        &[&format!("receiving streamed RDB from master with EOF {to}")],
    );
    assert!(!replica.log().contains("Flushing old data"));
    let temp_files = std::fs::read_dir(replica.dir())
        .expect("replica dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .count();
    assert_eq!(temp_files, 0, "a temporary file was left behind");
    proxy.release();
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    assert_eq!(r.cmds("EXISTS old:int"), Resp::Int(0));
    if swap {
        assert_log(
            &replica,
            &[
                "MASTER <-> REPLICA sync: Swapping active DB with loaded DB",
                "MASTER <-> REPLICA sync: Discarding old DB in background",
            ],
        );
    }
    mutate_a_little(&mut m);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
}

fn mutate_a_little(m: &mut RawConn) {
    for cmd in [
        "DEL key:1",
        "SET key:2 changed",
        "SELECT 3",
        "SADD db3set a b",
        "SELECT 0",
    ] {
        assert!(!m.cmds(cmd).is_error(), "{cmd}");
    }
}

#[test]
fn swapdb_with_ferrodis_master() {
    cut_mid_payload(Master::Ferrodis, "swapdb");
}

#[test]
fn swapdb_with_redis_master() {
    cut_mid_payload(Master::Redis, "swapdb");
}

#[test]
fn disk_load_cut_mid_payload_keeps_the_data() {
    cut_mid_payload(Master::Redis, "disabled");
}

/// swapdb with the same history (a full sync forced by a backlog overflow): the old data
/// keeps being served during the load (async loading), commands flagged no-async-loading
/// get `-LOADING`.
fn async_loading(kind: Master) {
    let master = start_master(kind);
    let mut m = master.raw();
    populate(&mut m, 20_000);
    let proxy = Proxy::start(master.port());
    let replica = start_replica(&["--repl-diskless-load", "swapdb"]);
    let mut r = replica.raw();
    replicaof(&mut r, proxy.port);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(r.cmds("CONFIG SET key-load-delay 100"), simple("OK"));
    proxy.cut_and_refuse();
    wait_until("the link to drop", SYNC_TIMEOUT, || {
        info_field(&mut r, "replication", "master_link_status") == "down"
    });
    let old_value = r.cmds("GET key:1");
    assert!(matches!(old_value, Resp::Bulk(_)));
    assert_eq!(m.cmds("SET key:1 new"), simple("OK"));
    overflow_backlog(&mut m, 64 * 1024);
    let before = digest(&mut r);
    proxy.release();
    wait_until("the async load", SYNC_TIMEOUT, || {
        info_field(&mut r, "persistence", "async_loading") == "1"
    });
    // Reads are answered from the old data.
    assert_eq!(info_field(&mut r, "persistence", "loading"), "0");
    assert!(int_field(&mut r, "persistence", "loading_loaded_bytes") >= 0);
    assert_eq!(r.cmds("GET key:1"), old_value);
    assert_eq!(r.cmds("EXISTS filler"), Resp::Int(0));
    assert_eq!(digest(&mut r), before);
    assert_eq!(
        r.cmds("REPLICAOF NO ONE"),
        Resp::Error(LOADING.as_bytes().to_vec())
    );
    assert_eq!(
        r.cmds("SET x 1"),
        Resp::Error(b"READONLY You can't write against a read only replica.".to_vec())
    );
    assert_eq!(r.cmds("PING"), simple("PONG"));
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(info_field(&mut r, "persistence", "async_loading"), "0");
    assert_eq!(digest(&mut r), digest(&mut m));
    assert_eq!(r.cmds("GET key:1"), Resp::Bulk(b"new".to_vec()));
    assert_log(
        &replica,
        &["MASTER <-> REPLICA sync: Swapping active DB with loaded DB"],
    );
}

#[test]
fn async_loading_with_ferrodis_master() {
    async_loading(Master::Ferrodis);
}

#[test]
fn async_loading_with_redis_master() {
    async_loading(Master::Redis);
}

// ---------------------------------------------------------------------------------------
// replica-lazy-flush
// ---------------------------------------------------------------------------------------

#[test]
fn lazy_flush_replaces_the_data() {
    let master = start_master(Master::Redis);
    let mut m = master.raw();
    populate(&mut m, 1_000);
    let replica = start_replica(&["--replica-lazy-flush", "yes"]);
    let mut r = replica.raw();
    // Enough old keys for the background thread to matter.
    assert_eq!(
        r.cmd(&["DEBUG", "POPULATE", "50000", "old", "10"]),
        simple("OK")
    );
    r.cmds("SELECT 2");
    r.cmds("SET old-db2 1");
    r.cmds("SELECT 0");
    replicaof(&mut r, master.port());
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    assert_eq!(r.cmds("EXISTS old:1"), Resp::Int(0));
    assert_eq!(r.cmds("DBSIZE"), m.cmds("DBSIZE"));
    assert_log(&replica, &["MASTER <-> REPLICA sync: Flushing old data"]);
}
