//! Replication, master side, against real Redis 7.0 replicas (Debian's redis-server): full
//! sync streamed from the fork-free snapshot, the live stream of random writes of every type
//! (so every propagation rewrite is checked by a real replica applying it), partial resync
//! after a cut link, a full sync when the backlog no longer covers the replica, one snapshot
//! shared by replicas arriving within repl-diskless-sync-delay, ROLE and REPLCONF replies.

mod common;

use std::time::Duration;

use common::repl::{
    assert_same_data, digest, int_field, pipeline_writes, wait_in_sync, Tx, WriteMix,
};
use common::{compare_session, info_field, wait_until, RawConn, RedisServer, Resp, Server};
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn start_replica_of(master: &Server, extra: &[&str]) -> Server {
    let port = master.port().to_string();
    let mut args = vec![
        "--replicaof",
        "127.0.0.1",
        &port,
        "--enable-debug-command",
        "yes",
    ];
    args.extend_from_slice(extra);
    RedisServer::start(&args)
}

/// Random writes of every type, in one of four databases, sometimes inside MULTI/EXEC.
const WRITES: WriteMix = WriteMix {
    commands: &[
        "SET %s #",
        "INCRBYFLOAT %f 1.5",
        "APPEND %s xy",
        "LPUSH %l # a",
        "RPOP %l",
        "LMOVE %l %l LEFT RIGHT",
        "HSET %h %f #",
        "HINCRBY %h cnt 3",
        "SADD %t # m",
        "SPOP %t",
        "SREM %t m",
        "ZADD %z # %m",
        "ZINCRBY %z 2.5 %m",
        "ZPOPMIN %z",
        "EXPIRE %s 1000",
        "PEXPIRE %s 1",
        "DEL %s",
        "SETEX %s 100 #",
        "SET %s # PX 30",
        "SPOP %t 2",
        "HDEL %h %f",
        "SRANDMEMBER %t",
        "SETRANGE %s 3 zz",
        "GETEX %s EX 500",
    ],
    keys: 40,
    tx_one_in: 10,
    tx: Tx::WriteFirst,
};

fn drive_writes(c: &mut RawConn, rng: &mut SmallRng, n: usize) {
    pipeline_writes(c, rng, n / 100, &WRITES);
    c.cmd(&["SELECT", "0"]);
}

#[test]
fn redis_replica_syncs_streams_and_resyncs_partially() {
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut m = master.raw();
    m.cmds("DEBUG POPULATE 20000 key 50");
    let mut rng = SmallRng::seed_from_u64(11);
    drive_writes(&mut m, &mut rng, 2000);

    let replica = start_replica_of(&master, &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    assert_same_data(&mut [&mut m, &mut r], "after the full sync");
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "1");

    // The live stream: thousands of random writes of every type.
    drive_writes(&mut m, &mut rng, 5000);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_same_data(&mut [&mut m, &mut r], "after streaming");

    // Cut the link; the replica comes back with PSYNC <replid> <offset> and continues.
    m.cmds("CLIENT KILL TYPE replica");
    drive_writes(&mut m, &mut rng, 1000);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "1");
    assert_same_data(&mut [&mut m, &mut r], "after the partial resync");
    assert!(replica
        .log()
        .contains("Successful partial resynchronization with master"));

    // ROLE lists the online replica with its acknowledged offset.
    wait_until("the replica's ACK", Duration::from_secs(5), || {
        let Resp::Array(role) = m.cmd(&["ROLE"]) else {
            return false;
        };
        let Resp::Int(off) = role[1] else {
            return false;
        };
        matches!(&role[2], Resp::Array(list) if list.len() == 1
        && list[0] == Resp::Array(vec![
            Resp::Bulk(b"127.0.0.1".to_vec()),
            Resp::Bulk(replica.port().to_string().into_bytes()),
            Resp::Bulk(off.to_string().into_bytes()),
        ]))
    });
    let slave0 = info_field(&mut m, "replication", "slave0");
    assert!(
        slave0.starts_with(&format!(
            "ip=127.0.0.1,port={},state=online,offset=",
            replica.port()
        )),
        "{slave0}"
    );
}

#[test]
fn replica_beyond_the_backlog_gets_a_full_sync() {
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--repl-backlog-size",
        "16384",
    ]);
    let mut m = master.raw();
    m.cmds("DEBUG POPULATE 1000");
    let replica = start_replica_of(&master, &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    // Cut the link and write more than the backlog holds before the replica can return
    // (one pipeline: the writes run before its reconnection is even accepted).
    let big = "x".repeat(1000);
    let mut buf = common::encode(&["CLIENT", "KILL", "TYPE", "replica"]);
    for i in 0..50 {
        buf.extend(common::encode(&["SET", &format!("big{i}"), &big]));
    }
    m.send(&buf);
    for _ in 0..51 {
        m.read();
    }
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "2");
    assert_eq!(info_field(&mut m, "stats", "sync_partial_err"), "1");
    // The reasons: the first sync was a new replica, the second an offset the backlog lost.
    assert_eq!(
        info_field(&mut m, "stats", "ferrodis_sync_full_new_replica"),
        "1"
    );
    assert_eq!(
        info_field(&mut m, "stats", "ferrodis_sync_full_offset_out_of_backlog"),
        "1"
    );
    assert!(master.log().contains("is outside the backlog"));
    assert_same_data(&mut [&mut m, &mut r], "after the second full sync");
}

#[test]
fn replicas_arriving_within_the_delay_share_one_snapshot() {
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "2",
    ]);
    let mut m = master.raw();
    m.cmds("DEBUG POPULATE 5000");
    let r1 = start_replica_of(&master, &[]);
    let r2 = start_replica_of(&master, &[]);
    let (mut c1, mut c2) = (r1.raw(), r2.raw());
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2);
    assert!(
        master
            .log()
            .contains("Starting BGSAVE for SYNC with target: replicas sockets (2 replica(s))"),
        "{}",
        master.log()
    );
    let d = digest(&mut m);
    assert_eq!(digest(&mut c1), d);
    assert_eq!(digest(&mut c2), d);
    assert_eq!(int_field(&mut m, "replication", "connected_slaves"), 2);
}

/// REPLCONF's replies and errors, byte for byte with Redis.
#[test]
fn replconf_matches_redis() {
    let f = Server::start(&[]);
    let r = RedisServer::start(&[]);
    compare_session(
        &f,
        &r,
        &[
            &["REPLCONF", "listening-port", "6380"],
            &["REPLCONF", "capa", "eof", "capa", "psync2"],
            &["REPLCONF", "capa", "whatever"],
            &["REPLCONF", "ip-address", "10.0.0.1"],
            &["REPLCONF", "nosuch", "1"],
            &["REPLCONF", "listening-port"],
            &["REPLCONF"],
            &["REPLCONF", "listening-port", "abc"],
            &["ROLE"],
            &["PSYNC", "?"],
        ],
    );
}

/// With repl-diskless-sync no the full sync goes through the RDB file: `$<len>` framing.
#[test]
fn disk_based_full_sync_to_a_redis_replica() {
    let master = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "no",
    ]);
    let mut m = master.raw();
    m.cmds("DEBUG POPULATE 20000 key 30");
    let mut rng = SmallRng::seed_from_u64(5);
    drive_writes(&mut m, &mut rng, 1000);
    let replica = start_replica_of(&master, &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    drive_writes(&mut m, &mut rng, 1000);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_same_data(&mut [&mut m, &mut r], "after a disk-based sync");
    assert!(master
        .log()
        .contains("Starting BGSAVE for SYNC with target: disk"));
}

/// min-replicas-to-write: refused without a good replica (byte-exact with Redis), accepted
/// once one is in sync, refused again after it is killed and its lag passes the limit.
#[test]
fn min_replicas_to_write_follows_the_replicas() {
    let args = [
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "2",
        "--repl-diskless-sync-delay",
        "0",
        "--enable-debug-command",
        "yes",
    ];
    let master = Server::start(&args);
    let redis = RedisServer::start(&args);
    let mut m = master.raw();
    let refused = m.cmd_raw(&["SET", "k", "v"]);
    assert_eq!(refused, redis.raw().cmd_raw(&["SET", "k", "v"]));
    assert_eq!(
        refused,
        b"-NOREPLICAS Not enough good replicas to write.\r\n".to_vec()
    );
    assert_eq!(m.cmds("GET k"), Resp::NilBulk, "reads are not affected");

    let mut replica = start_replica_of(&master, &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    wait_until("a good replica", Duration::from_secs(10), || {
        m.cmd_raw(&["SET", "k", "v"]) == b"+OK\r\n".to_vec()
    });
    assert_eq!(
        info_field(&mut m, "replication", "min_slaves_good_slaves"),
        "1"
    );
    replica.signal(9);
    wait_until(
        "the replica to be considered lost",
        Duration::from_secs(20),
        || m.cmd_raw(&["SET", "k", "v"]) == refused,
    );
}

/// WAIT: answered by the replica's ACK (REPLCONF GETACK is sent at once), times out with the
/// count reached; errors and the no-replica answers byte-exact with Redis.
#[test]
fn wait_counts_acknowledging_replicas() {
    let f = Server::start(&[]);
    let r = RedisServer::start(&[]);
    compare_session(
        &f,
        &r,
        &[
            &["SET", "k", "v"],
            &["WAIT", "0", "0"],
            &["WAIT", "1", "50"],
            &["WAIT", "x", "0"],
            &["WAIT", "1", "-1"],
            &["WAIT", "1", "y"],
            &["WAIT", "1"],
        ],
    );

    let master = Server::start(&[
        "--repl-diskless-sync-delay",
        "0",
        "--enable-debug-command",
        "yes",
    ]);
    let mut m = master.raw();
    let replica = start_replica_of(&master, &[]);
    let mut rc = replica.raw();
    wait_in_sync(&mut m, &mut rc, &replica);
    m.cmds("SET a 1");
    let t = std::time::Instant::now();
    assert_eq!(m.cmds("WAIT 1 5000"), Resp::Int(1));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "answered by the ACK, not the timeout"
    );
    m.cmds("SET a 2");
    let t = std::time::Instant::now();
    assert_eq!(m.cmds("WAIT 2 300"), Resp::Int(1));
    assert!(t.elapsed() >= Duration::from_millis(300));
}

/// rdb-del-sync-files: without save points or AOF, the file written only to feed a replica
/// is removed once sent; with the option off it stays.
#[test]
fn rdb_del_sync_files_removes_the_sync_file() {
    for (del, kept) in [("yes", false), ("no", true)] {
        let master = Server::start(&[
            "--repl-diskless-sync",
            "no",
            "--rdb-del-sync-files",
            del,
            "--enable-debug-command",
            "yes",
        ]);
        let mut m = master.raw();
        m.cmds("DEBUG POPULATE 100");
        let replica = start_replica_of(&master, &[]);
        let mut r = replica.raw();
        wait_in_sync(&mut m, &mut r, &replica);
        assert_eq!(
            master.dir().join("dump.rdb").exists(),
            kept,
            "rdb-del-sync-files {del}"
        );
        // A ferrodis replica without persistence drops the file it loaded, too.
        let port = master.port().to_string();
        let fr = Server::start(&[
            "--replicaof",
            "127.0.0.1",
            &port,
            "--rdb-del-sync-files",
            del,
        ]);
        let mut f = fr.raw();
        wait_in_sync(&mut m, &mut f, &fr);
        assert_eq!(
            fr.dir().join("dump.rdb").exists(),
            kept,
            "replica, rdb-del-sync-files {del}"
        );
    }
}

/// A replica whose output passes client-output-buffer-limit replica is dropped (and counted);
/// it comes back and syncs again.
#[test]
fn replica_over_its_output_buffer_limit_is_dropped() {
    let master = Server::start(&[
        "--repl-diskless-sync-delay",
        "0",
        "--enable-debug-command",
        "yes",
        "--client-output-buffer-limit",
        "replica 256kb 128kb 1",
    ]);
    let mut m = master.raw();
    let mut replica = start_replica_of(&master, &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    // Stop the replica reading (SIGSTOP), fill its output with a burst of big writes.
    let big = "v".repeat(100_000);
    replica.signal(libc::SIGSTOP);
    // More than the kernel's socket buffers can absorb, so the rest waits in our output.
    for i in 0..300 {
        m.cmd(&["SET", &format!("big{i}"), &big]);
    }
    wait_until("the replica to be dropped", Duration::from_secs(10), || {
        info_field(&mut m, "stats", "ferrodis_replicas_dropped_output_buffer") == "1"
    });
    assert!(master.log().contains("overcoming of output buffer limits"));
    replica.signal(libc::SIGCONT);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_same_data(&mut [&mut m, &mut r], "after the replica came back");
}

/// repl-diskless-sync-max-replicas starts the shared snapshot as soon as that many replicas
/// wait, without sitting out repl-diskless-sync-delay.
#[test]
fn max_replicas_cuts_the_diskless_delay_short() {
    let master = Server::start(&[
        "--repl-diskless-sync-delay",
        "100",
        "--repl-diskless-sync-max-replicas",
        "2",
        "--enable-debug-command",
        "yes",
    ]);
    let mut m = master.raw();
    m.cmds("DEBUG POPULATE 1000");
    let r1 = start_replica_of(&master, &[]);
    let r2 = start_replica_of(&master, &[]);
    let (mut c1, mut c2) = (r1.raw(), r2.raw());
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2);
    assert!(master
        .log()
        .contains("Starting BGSAVE for SYNC with target: replicas sockets (2 replica(s))"));
}

/// repl-backlog-ttl: the backlog is freed once no replica has been attached for that long.
#[test]
fn backlog_is_freed_after_its_ttl_without_replicas() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0", "--repl-backlog-ttl", "1"]);
    let mut m = master.raw();
    let mut replica = start_replica_of(&master, &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(
        info_field(&mut m, "replication", "repl_backlog_active"),
        "1"
    );
    replica.signal(9);
    wait_until("the backlog to be freed", Duration::from_secs(10), || {
        info_field(&mut m, "replication", "repl_backlog_active") == "0"
    });
    assert!(master
        .log()
        .contains("Replication backlog freed after 1 seconds"));
}
