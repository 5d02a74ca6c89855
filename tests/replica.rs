//! ferrodis as a replica: of the real Redis 7.0 (disk-based and diskless full syncs, the
//! stream, partial resynchronization after a link cut, masterauth) and of ferrodis itself;
//! REPLICAOF / SLAVEOF replies, READONLY, MASTERDOWN, ROLE and INFO replication.
//!
//! Datasets are compared with DEBUG DIGEST (both servers run with enable-debug-command), once
//! the replica's applied offset has reached the master's.

mod common;

use std::time::Duration;

use common::repl::{digest, wait_in_sync};
use common::{fill_mixed, info_field, wait_until, RawConn, RedisServer, Resp, Server};

const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

fn simple(s: &str) -> Resp {
    Resp::Simple(s.as_bytes().to_vec())
}

fn err(s: &str) -> Resp {
    Resp::Error(s.as_bytes().to_vec())
}

/// Writes that exercise the stream: deletes, transactions, expiries, other databases.
fn mutate(c: &mut RawConn, tag: &str) {
    for cmd in [
        format!("DEL {tag}str"),
        format!("LPOP {tag}list"),
        format!("HDEL {tag}bighash field7"),
        format!("ZINCRBY {tag}zset 3 a"),
        format!("EXPIRE {tag}set 1000"),
        format!("SET {tag}px v PX 100000"),
        "MULTI".to_string(),
        format!("INCR {tag}counter"),
        format!("RPUSH {tag}list z"),
        "EXEC".to_string(),
        "SELECT 5".to_string(),
        format!("SADD {tag}db5 x y"),
        "SELECT 0".to_string(),
        format!("SPOP {tag}bigset"),
        format!("INCRBYFLOAT {tag}f 2.25"),
    ] {
        let r = c.cmds(&cmd);
        assert!(!matches!(r, Resp::Error(_)), "{cmd}: {r:?}");
    }
}

fn redis_master(extra: &[&str]) -> Server {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    RedisServer::start(&args)
}

fn ferrodis_replica_of(port: u16, extra: &[&str]) -> Server {
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

/// The master filled with every type, and a ferrodis replica of it, in sync: the master's
/// connection, the replica and the replica's connection.
fn synced_replica_of(master: &Server) -> (RawConn, Server, RawConn) {
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let replica = ferrodis_replica_of(master.port(), &[]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    (m, replica, r)
}

#[test]
fn full_sync_disk_based_then_stream_from_redis() {
    let master = redis_master(&["--repl-diskless-sync", "no"]);
    let (mut m, replica, mut r) = synced_replica_of(&master);
    assert_eq!(digest(&mut r), digest(&mut m));
    mutate(&mut m, "a:");
    fill_mixed(&mut m, "b:");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    // Role, INFO, and the replica refusing writes.
    let Resp::Array(role) = r.cmds("ROLE") else {
        panic!("ROLE")
    };
    assert_eq!(role[0], Resp::Bulk(b"slave".to_vec()));
    assert_eq!(role[1], Resp::Bulk(b"127.0.0.1".to_vec()));
    assert_eq!(role[2], Resp::Int(master.port() as i64));
    assert_eq!(role[3], Resp::Bulk(b"connected".to_vec()));
    assert_eq!(info_field(&mut r, "replication", "role"), "slave");
    assert_eq!(
        info_field(&mut r, "replication", "master_sync_in_progress"),
        "0"
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_replid"),
        info_field(&mut m, "replication", "master_replid")
    );
    assert_eq!(
        r.cmds("SET x 1"),
        err("READONLY You can't write against a read only replica.")
    );
    assert_eq!(r.cmds("GET a:int"), Resp::Bulk(b"12345".to_vec()));
    let log = replica.log();
    for line in [
        "Connecting to MASTER",
        "MASTER <-> REPLICA sync started",
        "Full resync from master",
        "MASTER <-> REPLICA sync: Finished with success",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
    assert_eq!(
        info_field(&mut r, "replication", "slave_read_repl_offset"),
        info_field(&mut r, "replication", "slave_repl_offset")
    );
    // WAIT on the master: its REPLCONF GETACK is answered with our offset.
    assert_eq!(m.cmds("SET waited 1"), simple("OK"));
    assert_eq!(m.cmds("WAIT 1 10000"), Resp::Int(1));
    // The master sees us online at our offset.
    wait_until("the master to see our ACK", SYNC_TIMEOUT, || {
        info_field(&mut m, "replication", "slave0").contains("state=online")
    });
}

#[test]
fn full_sync_diskless_via_replicaof_command() {
    let master = redis_master(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let replica = Server::start(&["--enable-debug-command", "yes"]);
    let mut r = replica.raw();
    // Existing data of the replica is replaced.
    r.cmds("SET stale 1");
    let port = master.port().to_string();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &port]), simple("OK"));
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &port]),
        simple("OK Already connected to specified master")
    );
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    assert_eq!(r.cmds("EXISTS stale"), Resp::Int(0));
    mutate(&mut m, "a:");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    assert!(replica
        .log()
        .contains("receiving streamed RDB from master with EOF"));
}

#[test]
fn link_cut_is_followed_by_a_partial_resync() {
    let master = redis_master(&["--repl-diskless-sync-delay", "0"]);
    let (mut m, replica, mut r) = synced_replica_of(&master);
    // Cut from the replica's side, write meanwhile.
    assert_eq!(r.cmds("CLIENT KILL TYPE master"), Resp::Int(1));
    mutate(&mut m, "a:");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "1");
    assert_eq!(digest(&mut r), digest(&mut m));
    // Cut from the master's side.
    assert_eq!(m.cmds("CLIENT KILL TYPE replica"), Resp::Int(1));
    fill_mixed(&mut m, "b:");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok"), "2");
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "1");
    assert_eq!(digest(&mut r), digest(&mut m));
    assert!(replica
        .log()
        .contains("Successful partial resynchronization with master"));
}

#[test]
fn replicaof_no_one_keeps_data_and_accepts_writes() {
    let master = redis_master(&["--repl-diskless-sync-delay", "0"]);
    let (mut m, _replica, mut r) = synced_replica_of(&master);
    let before = digest(&mut r);
    let old_id = info_field(&mut r, "replication", "master_replid");
    let offset: i64 = info_field(&mut r, "replication", "master_repl_offset")
        .parse()
        .expect("offset");
    assert_eq!(r.cmds("REPLICAOF NO ONE"), simple("OK"));
    assert_eq!(info_field(&mut r, "replication", "role"), "master");
    assert_eq!(info_field(&mut r, "replication", "master_replid2"), old_id);
    assert_ne!(info_field(&mut r, "replication", "master_replid"), old_id);
    assert_eq!(
        info_field(&mut r, "replication", "second_repl_offset"),
        (offset + 1).to_string()
    );
    assert_eq!(digest(&mut r), before);
    assert_eq!(r.cmds("SET x 1"), simple("OK"));
    assert_eq!(r.cmds("GET x"), Resp::Bulk(b"1".to_vec()));
    let Resp::Array(role) = r.cmds("ROLE") else {
        panic!("ROLE")
    };
    assert_eq!(role[0], Resp::Bulk(b"master".to_vec()));
    // The master lost its replica.
    wait_until("the master to drop the replica", SYNC_TIMEOUT, || {
        info_field(&mut m, "replication", "connected_slaves") == "0"
    });
    // A master answering NO ONE again is a no-op.
    assert_eq!(r.cmds("SLAVEOF NO ONE"), simple("OK"));
}

#[test]
fn masterauth_wrong_then_right() {
    let master = redis_master(&["--requirepass", "s3cret", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.raw();
    assert_eq!(m.cmds("AUTH s3cret"), simple("OK"));
    fill_mixed(&mut m, "a:");
    let replica = ferrodis_replica_of(master.port(), &["--masterauth", "wrong"]);
    let mut r = replica.raw();
    wait_until("the AUTH failure to be logged", SYNC_TIMEOUT, || {
        replica.log().contains("Unable to AUTH to MASTER")
    });
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(r.cmds("CONFIG SET masterauth s3cret"), simple("OK"));
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
}

#[test]
fn ferrodis_replica_of_ferrodis() {
    let master = Server::start(&["--enable-debug-command", "yes"]);
    let (mut m, replica, mut r) = synced_replica_of(&master);
    assert_eq!(digest(&mut r), digest(&mut m));
    mutate(&mut m, "a:");
    fill_mixed(&mut m, "b:");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(digest(&mut r), digest(&mut m));
    // A cut and a partial resync between two ferrodis.
    assert_eq!(r.cmds("CLIENT KILL TYPE master"), Resp::Int(1));
    m.cmds("SET after-cut 1");
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(r.cmds("GET after-cut"), Resp::Bulk(b"1".to_vec()));
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok"), "1");
    // A chain: a second replica syncs from the first one.
    let second = ferrodis_replica_of(replica.port(), &[]);
    let mut s = second.raw();
    wait_in_sync(&mut r, &mut s, &second);
    assert_eq!(digest(&mut s), digest(&mut m));
}

#[test]
fn replicaof_errors_match_redis() {
    let (ferro, redis) = common::start_both(&[]);
    common::compare_session(
        &ferro,
        &redis,
        &[
            &["REPLICAOF", "a"],
            &["REPLICAOF", "a", "b"],
            &["REPLICAOF", "a", "70000"],
            &["REPLICAOF", "a", "-1"],
            &["REPLICAOF", "127.0.0.1", "07699"],
            &["SLAVEOF", "no", "one"],
            &["REPLICAOF", "NO", "ONE"],
        ],
    );
}

#[test]
fn link_down_info_role_and_masterdown() {
    // Nobody listens on the master's port: the link stays down.
    let dead = common::free_port().to_string();
    let replica = Server::start(&[]);
    let mut r = replica.raw();
    assert_eq!(r.cmd(&["SLAVEOF", "127.0.0.1", &dead]), simple("OK"));
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", &dead]),
        simple("OK Already connected to specified master")
    );
    wait_until("a failed connect", SYNC_TIMEOUT, || {
        replica.log().contains("Error condition on socket for SYNC")
    });
    let Resp::Array(role) = r.cmds("ROLE") else {
        panic!("ROLE")
    };
    assert_eq!(role[0], Resp::Bulk(b"slave".to_vec()));
    assert_eq!(role[4], Resp::Int(-1));
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_last_io_seconds_ago"),
        "-1"
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_link_down_since_seconds"),
        "-1"
    );
    assert_eq!(
        r.cmds("CONFIG GET replicaof"),
        Resp::Array(vec![
            Resp::Bulk(b"replicaof".to_vec()),
            Resp::Bulk(format!("127.0.0.1 {dead}").into_bytes()),
        ])
    );
    // Stale data is served by default; not once replica-serve-stale-data is off.
    assert_eq!(r.cmds("GET k"), Resp::NilBulk);
    assert_eq!(
        r.cmds("CONFIG SET replica-serve-stale-data no"),
        simple("OK")
    );
    let masterdown =
        err("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
    assert_eq!(r.cmds("GET k"), masterdown);
    assert_eq!(r.cmds("PING"), masterdown);
    assert!(matches!(r.cmds("INFO replication"), Resp::Bulk(_)));
    // A writable replica takes local writes.
    assert_eq!(
        r.cmds("CONFIG SET replica-serve-stale-data yes"),
        simple("OK")
    );
    assert_eq!(r.cmds("CONFIG SET replica-read-only no"), simple("OK"));
    assert_eq!(r.cmds("SET k v"), simple("OK"));
    assert_eq!(r.cmds("REPLICAOF NO ONE"), simple("OK"));
    assert_eq!(r.cmds("GET k"), Resp::Bulk(b"v".to_vec()));
}
