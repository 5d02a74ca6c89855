//! An AOF-only replica (appendonly yes, no save points) keeps its replication id and offset
//! across a SIGKILL: after the full sync its AOF is rewritten from the new dataset, every
//! incr file records where it stands in the master's history, and a restarted replica
//! resynchronizes partially from exactly what its AOF holds — no second full sync, equal
//! digests — even when it was killed with writes in flight and the master's stream stays in
//! a database it does not select again. The files stay loadable by Redis 7.0 and accepted by
//! redis-check-aof.

mod common;

use std::time::Duration;

use common::aof::{assert_redis_loads, check_aof, manifest_of, start_aof, wait_persistence};
use common::repl::{assert_same_data, int_field, pipeline_writes, wait_in_sync, Tx, WriteMix};
use common::{digest, fill_mixed, info_field, wait_until, RawConn, Resp, Server};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// The master PINGs its replicas every second: the PINGs are stream bytes the replica's AOF
/// must count too.
const MASTER_ARGS: &[&str] = &[
    "--enable-debug-command",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
    "--repl-ping-replica-period",
    "1",
];

fn aof_replica(master: &Server, dir: Option<&str>) -> Server {
    let port = master.port().to_string();
    start_aof(dir, &["--replicaof", "127.0.0.1", &port])
}

/// Random writes of some types, in one of four databases, sometimes inside MULTI/EXEC.
const WRITES: WriteMix = WriteMix {
    commands: &[
        "SET %s #",
        "INCRBYFLOAT %f 1.5",
        "APPEND %s xy",
        "LPUSH %l # a",
        "RPOP %l",
        "HINCRBY %h cnt 3",
        "SADD %t # m",
        "SPOP %t",
        "ZINCRBY %z 2.5 %m",
        "EXPIRE %s 1000",
        "DEL %s",
        "SET %s # PX 40",
    ],
    keys: 30,
    tx_one_in: 8,
    tx: Tx::WriteFirst,
};

/// `n` random writes, then the connection (and the master's stream) in database 3.
fn drive_writes(c: &mut RawConn, rng: &mut SmallRng, n: usize) {
    pipeline_writes(c, rng, n.div_ceil(100), &WRITES);
    assert_eq!(c.cmds("SELECT 3"), Resp::Simple(b"OK".to_vec()));
    assert!(matches!(c.cmds("INCR db3-marker"), Resp::Int(_)));
}

/// Writes in database 3 with no SELECT in the stream (it is there already): a replica that
/// resumes in the wrong database puts them elsewhere.
fn writes_in_db3_without_select(c: &mut RawConn, tag: &str) {
    for i in 0..20 {
        c.cmd(&["SET", &format!("{tag}-{i}"), "v"]);
    }
}

fn wait_aof_settled(c: &mut RawConn, rewrites: &str) {
    wait_persistence(
        c,
        "the replica's AOF rewrite after the full sync",
        &[
            &format!("aof_rewrites:{rewrites}"),
            "aof_rewrite_in_progress:0",
            "aof_rewrite_scheduled:0",
        ],
    );
}

#[test]
fn aof_only_replica_resyncs_partially_after_sigkill() {
    let master = Server::start(MASTER_ARGS);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let mut rng = SmallRng::seed_from_u64(11);
    drive_writes(&mut m, &mut rng, 1000);
    let mut replica = aof_replica(&master, None);
    let dir = replica.dir_string();
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    // The full sync replaced the dataset: the AOF was rebuilt from it.
    wait_aof_settled(&mut r, "1");
    drive_writes(&mut m, &mut rng, 1000);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 1);
    let id = info_field(&mut m, "replication", "master_replid");

    let mut servers = Vec::new();
    for round in 0..3i64 {
        // Killed with the master's writes in flight to it.
        let port = master.port();
        let seed = 100 + round as u64;
        let writer = std::thread::spawn(move || {
            let mut c = RawConn::connect(port);
            let mut rng = SmallRng::seed_from_u64(seed);
            drive_writes(&mut c, &mut rng, 1500);
        });
        std::thread::sleep(Duration::from_millis(30 + 40 * round as u64));
        drop(r);
        replica.sigkill();
        writer.join().unwrap();
        // The stream stays in database 3 while the replica is down.
        drive_writes(&mut m, &mut rng, 300);
        writes_in_db3_without_select(&mut m, &format!("down-{round}"));

        let next = aof_replica(&master, Some(&dir));
        // The old process's directory guard must not remove the directory.
        servers.push(std::mem::replace(&mut replica, next));
        r = replica.raw();
        wait_in_sync(&mut m, &mut r, &replica);
        assert_eq!(
            int_field(&mut m, "stats", "sync_partial_ok"),
            round + 1,
            "round {round}: no partial resync. Replica log:\n{}",
            replica.log()
        );
        assert_eq!(int_field(&mut m, "stats", "sync_full"), 1, "round {round}");
        assert_eq!(info_field(&mut r, "replication", "master_replid"), id);
        // Continuing the same history needs no rewrite of the AOF.
        assert_eq!(info_field(&mut r, "persistence", "aof_rewrites"), "0");
        // A master PING or two reach the replica's AOF between writes.
        std::thread::sleep(Duration::from_millis(1100));
        writes_in_db3_without_select(&mut m, &format!("up-{round}"));
        wait_in_sync(&mut m, &mut r, &replica);
        assert_same_data(&mut [&mut m, &mut r], &format!("after restart {round}"));
    }

    // The replica's files are Redis 7.0's format: redis-check-aof accepts them and Redis
    // loads them to the same dataset.
    let expect = digest(&mut r);
    drop(r);
    replica.sigkill();
    check_aof(&manifest_of(&dir));
    assert_redis_loads(&dir, &expect);
    drop(servers);
}

#[test]
fn a_second_full_sync_rewrites_the_aof_again() {
    let master = Server::start(MASTER_ARGS);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let replica = aof_replica(&master, None);
    let dir = replica.dir_string();
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    wait_aof_settled(&mut r, "1");
    m.cmds("SET before-second-sync 1");
    wait_in_sync(&mut m, &mut r, &replica);
    // A new history on the master side (another master, same address): the replica must
    // full-sync, and its AOF must follow the new dataset.
    let other = Server::start(MASTER_ARGS);
    let mut o = other.raw();
    fill_mixed(&mut o, "b:");
    o.cmds("SET only-on-other 1");
    let port = other.port().to_string();
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        Resp::Simple(b"OK".to_vec())
    );
    wait_in_sync(&mut o, &mut r, &replica);
    wait_aof_settled(&mut r, "2");
    o.cmds("SET after-second-sync 1");
    wait_in_sync(&mut o, &mut r, &replica);
    assert_same_data(&mut [&mut o, &mut r], "after the second full sync");
    let expect = digest(&mut r);
    drop(r);
    let mut replica = replica;
    replica.sigkill();
    // Restarted as a replica of the new master: its AOF holds the new dataset and the new
    // history.
    let again = aof_replica(&other, Some(&dir));
    let mut a = again.raw();
    wait_in_sync(&mut o, &mut a, &again);
    assert_eq!(int_field(&mut o, "stats", "sync_partial_ok"), 1);
    assert_eq!(int_field(&mut o, "stats", "sync_full"), 1);
    assert_eq!(digest(&mut a), expect);
    drop(replica);
}

/// A master frees its replication backlog after repl-backlog-ttl without replicas, which
/// turns the propagation stream off; the AOF, fed by the same stream, must go on.
#[test]
fn freeing_an_idle_backlog_does_not_stop_the_aof() {
    let master = Server::start(&[
        "--appendonly",
        "yes",
        "--repl-backlog-ttl",
        "1",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut m = master.raw();
    m.cmds("SET before 1");
    let port = master.port().to_string();
    let mut replica = Server::start(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    drop(r);
    replica.sigkill();
    wait_until("the backlog to be freed", Duration::from_secs(30), || {
        info_field(&mut m, "replication", "repl_backlog_active") == "0"
    });
    m.cmds("SET after-backlog-freed 1");
    let dir = master.dir_string();
    drop(m);
    let mut master = master;
    master.sigkill();
    let again = start_aof(Some(&dir), &[]);
    let mut a = again.raw();
    assert_eq!(a.cmds("GET before"), Resp::Bulk(b"1".to_vec()));
    assert_eq!(a.cmds("GET after-backlog-freed"), Resp::Bulk(b"1".to_vec()));
    drop(a);
    drop(again);
    drop(master);
}
