//! Replication topologies with real processes (ferrodis and Debian's redis-server 7.0):
//!
//! - a chain Redis -> ferrodis -> Redis, where the ferrodis in the middle must pass its
//!   master's stream on byte for byte (same offsets everywhere);
//! - a PSYNC2 promotion: a replica becomes master (REPLICAOF NO ONE) and the other replica
//!   of the old master continues from it with a partial resynchronization;
//! - a replica restarted from its own RDB file (SHUTDOWN with a save point, or SAVE then
//!   kill -9), whose aux fields (repl-id, repl-offset, repl-stream-db) let it continue with
//!   a partial resynchronization.
//!
//! Datasets are compared with DEBUG DIGEST once offsets agree; the master's stream often
//! stays in a database other than 0 across the interesting moment (a new replica, a restart,
//! a promotion), because nothing re-selects it then and a wrong database would show.

mod common;

use std::time::Duration;

use common::repl::{
    assert_same_data, int_field, pipeline_writes, wait_in_sync, Tx, WriteMix, EVERY_TYPE,
};
use common::{fill_mixed, info_field, RawConn, RedisServer, Resp, Server};
use rand::rngs::SmallRng;
use rand::SeedableRng;

const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

fn replica_args(master_port: &str) -> Vec<&str> {
    vec![
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--replicaof",
        "127.0.0.1",
        master_port,
    ]
}

fn ferrodis_replica(master: &Server, extra: &[&str]) -> Server {
    let port = master.port().to_string();
    let mut args = replica_args(&port);
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn redis_replica(master: &Server, extra: &[&str]) -> Server {
    let port = master.port().to_string();
    let mut args = replica_args(&port);
    args.extend_from_slice(extra);
    RedisServer::start(&args)
}

const MASTER_ARGS: &[&str] = &[
    "--enable-debug-command",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
];

/// Random writes of every type, in one of four databases, sometimes inside MULTI/EXEC.
const WRITES: WriteMix = WriteMix {
    commands: EVERY_TYPE.split_at(22).0,
    keys: 30,
    tx_one_in: 8,
    tx: Tx::WriteFirst,
};

/// `n` random writes, pipelined by hundreds; ends with the connection (and, since the last
/// write is there, the master's stream) in database 3.
fn drive_writes(c: &mut RawConn, rng: &mut SmallRng, n: usize) {
    pipeline_writes(c, rng, n.div_ceil(100), &WRITES);
    end_in_db3(c, "drive");
}

/// Leaves the connection and the master's stream in database 3: a write there that was
/// preceded by a SELECT 3 in the stream.
fn end_in_db3(c: &mut RawConn, tag: &str) {
    assert_eq!(c.cmds("SELECT 3"), Resp::Simple(b"OK".to_vec()));
    let r = c.cmd(&["INCR", &format!("db3-{tag}")]);
    assert!(matches!(r, Resp::Int(_)), "{r:?}");
}

/// Writes in database 3 that the stream carries without a SELECT (it is there already): a
/// server that starts applying them in the wrong database diverges.
fn writes_in_db3_without_select(c: &mut RawConn, tag: &str) {
    for cmd in [
        vec!["SET".to_string(), format!("{tag}-a"), "1".into()],
        vec![
            "RPUSH".to_string(),
            format!("{tag}-l"),
            "x".into(),
            "y".into(),
        ],
        vec![
            "HSET".to_string(),
            format!("{tag}-h"),
            "f".into(),
            "v".into(),
        ],
        vec!["INCR".to_string(), format!("db3-{tag}")],
    ] {
        let r = c.cmd(&cmd);
        assert!(!r.is_error(), "{cmd:?}: {r:?}");
    }
}

/// Redis -> ferrodis -> Redis: the middle passes the exact stream on.
#[test]
fn chain_redis_ferrodis_redis() {
    let master = RedisServer::start(MASTER_ARGS);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let mut rng = SmallRng::seed_from_u64(1);
    drive_writes(&mut m, &mut rng, 2000);

    let middle = ferrodis_replica(&master, &[]);
    let mut f = middle.raw();
    wait_in_sync(&mut m, &mut f, &middle);
    // The master's stream is in database 3 from here on (its first write after the
    // middle's full sync re-selected).
    end_in_db3(&mut m, "before-last");
    wait_in_sync(&mut m, &mut f, &middle);

    // The last replica's full sync comes from the middle, whose stream is the master's:
    // the image must say which database that stream is in.
    let last = redis_replica(&middle, &[]);
    let mut r = last.raw();
    wait_in_sync(&mut f, &mut r, &last);
    writes_in_db3_without_select(&mut m, "after-last");
    fill_mixed(&mut m, "b:");
    drive_writes(&mut m, &mut rng, 5000);
    writes_in_db3_without_select(&mut m, "end");

    wait_in_sync(&mut m, &mut f, &middle);
    wait_in_sync(&mut f, &mut r, &last);
    // Byte-exact pass-through: the middle's own offset is the master's.
    assert_eq!(
        int_field(&mut f, "replication", "master_repl_offset"),
        int_field(&mut m, "replication", "master_repl_offset")
    );
    assert_eq!(
        info_field(&mut f, "replication", "master_replid"),
        info_field(&mut m, "replication", "master_replid")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_replid"),
        info_field(&mut m, "replication", "master_replid")
    );
    assert_same_data(&mut [&mut m, &mut f, &mut r], "along the chain");
    r.cmds("SELECT 3");
    assert_eq!(r.cmds("GET end-a"), Resp::Bulk(b"1".to_vec()));

    // The last replica cut from the middle continues partially from the middle's backlog.
    assert_eq!(f.cmds("CLIENT KILL TYPE replica"), Resp::Int(1));
    drive_writes(&mut m, &mut rng, 500);
    wait_in_sync(&mut m, &mut f, &middle);
    wait_in_sync(&mut f, &mut r, &last);
    assert_eq!(int_field(&mut f, "stats", "sync_partial_ok"), 1);
    assert_eq!(int_field(&mut f, "stats", "sync_full"), 1);
    assert_same_data(
        &mut [&mut m, &mut f, &mut r],
        "after a partial resync in the chain",
    );
}

/// Waits until the server's replication offset stays put for half a second.
fn settle(c: &mut RawConn) {
    let mut last = int_field(c, "replication", "master_repl_offset");
    let mut stable_since = std::time::Instant::now();
    let deadline = stable_since + SYNC_TIMEOUT;
    while stable_since.elapsed() < Duration::from_millis(500) {
        assert!(
            std::time::Instant::now() < deadline,
            "the offset never settled"
        );
        std::thread::sleep(Duration::from_millis(50));
        let now = int_field(c, "replication", "master_repl_offset");
        if now != last {
            last = now;
            stable_since = std::time::Instant::now();
        }
    }
}

/// M with replicas R1 and R2; R1 is promoted and R2 follows it with a partial resync.
fn promotion(r2_is_redis: bool) {
    // No periodic PING from M: it would move M's offset past R1's between the two steps of
    // the failover (real failovers pause writes for the same reason).
    let mut args = MASTER_ARGS.to_vec();
    args.extend_from_slice(&["--repl-ping-replica-period", "3600"]);
    let master = Server::start(&args);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let mut rng = SmallRng::seed_from_u64(2);
    drive_writes(&mut m, &mut rng, 1000);
    let r1 = ferrodis_replica(&master, &[]);
    let r2 = if r2_is_redis {
        redis_replica(&master, &[])
    } else {
        ferrodis_replica(&master, &[])
    };
    let (mut c1, mut c2) = (r1.raw(), r2.raw());
    drive_writes(&mut m, &mut rng, 2000);
    // Keys written with a TTL of milliseconds expire on M right after: let their DELs be
    // part of the shared history, or M's own history would move past R1's once R1 is
    // promoted and M could not continue from R1.
    settle(&mut m);
    wait_in_sync(&mut m, &mut c1, &r1);
    wait_in_sync(&mut m, &mut c2, &r2);
    let old_id = info_field(&mut m, "replication", "master_replid");
    let offset = int_field(&mut m, "replication", "master_repl_offset");

    // Failover: R1 takes over, with the old history as its previous one.
    assert_eq!(c1.cmds("REPLICAOF NO ONE"), Resp::Simple(b"OK".to_vec()));
    assert_eq!(info_field(&mut c1, "replication", "master_replid2"), old_id);
    assert_eq!(
        int_field(&mut c1, "replication", "second_repl_offset"),
        offset + 1
    );
    let r1_port = r1.port().to_string();
    assert_eq!(
        c2.cmd(&["REPLICAOF", "127.0.0.1", &r1_port]),
        Resp::Simple(b"OK".to_vec())
    );
    wait_in_sync(&mut c1, &mut c2, &r2);
    assert_eq!(int_field(&mut c1, "stats", "sync_partial_ok"), 1);
    assert_eq!(int_field(&mut c1, "stats", "sync_full"), 0);
    // R2 adopted R1's id, the old one as its previous.
    assert_eq!(
        info_field(&mut c2, "replication", "master_replid"),
        info_field(&mut c1, "replication", "master_replid")
    );
    assert_eq!(info_field(&mut c2, "replication", "master_replid2"), old_id);

    // The new master takes writes; R2 follows.
    drive_writes(&mut c1, &mut rng, 3000);
    writes_in_db3_without_select(&mut c1, "promoted");
    wait_in_sync(&mut c1, &mut c2, &r2);
    assert_same_data(&mut [&mut c1, &mut c2], "after the promotion");
    assert_eq!(int_field(&mut c1, "stats", "sync_full"), 0);

    // The old master rejoins as a replica of the new one: its history is a prefix of R1's,
    // so it too continues partially.
    let m_port = master.port();
    assert_eq!(
        m.cmd(&["REPLICAOF", "127.0.0.1", &r1_port]),
        Resp::Simple(b"OK".to_vec())
    );
    wait_in_sync(&mut c1, &mut m, &master);
    assert_eq!(int_field(&mut c1, "stats", "sync_partial_ok"), 2);
    assert_eq!(int_field(&mut c1, "stats", "sync_full"), 0);
    assert_same_data(
        &mut [&mut c1, &mut c2, &mut m],
        &format!("after the old master (port {m_port}) rejoined"),
    );
}

#[test]
fn psync2_promotion_ferrodis_replicas() {
    promotion(false);
}

#[test]
fn psync2_promotion_with_a_redis_replica() {
    promotion(true);
}

/// Starts a replica of `master` working in `first`'s directory (its files, its dump).
fn restart_replica(first: &Server, master: &Server) -> Server {
    let dir = first.dir().to_string_lossy().into_owned();
    ferrodis_replica(master, &["--dir", &dir, "--save", "3600 1"])
}

#[test]
fn replica_restarted_from_its_rdb_resyncs_partially() {
    let master = Server::start(MASTER_ARGS);
    let mut m = master.raw();
    fill_mixed(&mut m, "a:");
    let mut rng = SmallRng::seed_from_u64(3);
    drive_writes(&mut m, &mut rng, 2000);
    let mut replica = ferrodis_replica(&master, &["--save", "3600 1"]);
    let mut r = replica.raw();
    wait_in_sync(&mut m, &mut r, &replica);
    // After the full sync, so that the stream (not the image) selects database 3.
    drive_writes(&mut m, &mut rng, 1000);
    wait_in_sync(&mut m, &mut r, &replica);
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 1);
    let id = info_field(&mut m, "replication", "master_replid");

    // SHUTDOWN saves (a save point is configured); the master writes meanwhile, in the
    // database its stream is in, without selecting again.
    r.send_cmd(&["SHUTDOWN"]);
    assert!(
        replica.wait_exit(Duration::from_secs(10)).is_some(),
        "the replica did not exit"
    );
    assert!(replica.dir().join("dump.rdb").exists());
    writes_in_db3_without_select(&mut m, "while-down");
    drive_writes(&mut m, &mut rng, 500);

    let mut second = restart_replica(&replica, &master);
    let mut r = second.raw();
    wait_in_sync(&mut m, &mut r, &second);
    assert_eq!(int_field(&mut m, "stats", "sync_partial_ok"), 1);
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 1);
    assert_eq!(info_field(&mut r, "replication", "master_replid"), id);
    assert!(second
        .log()
        .contains("Successful partial resynchronization with master"));
    assert_same_data(
        &mut [&mut m, &mut r],
        "after a restart from SHUTDOWN's save",
    );

    // SAVE, more writes, kill -9: the restart continues from the saved offset, and the
    // writes made after the save come from the master's backlog.
    writes_in_db3_without_select(&mut m, "before-save");
    wait_in_sync(&mut m, &mut r, &second);
    assert_eq!(r.cmds("SAVE"), Resp::Simple(b"OK".to_vec()));
    writes_in_db3_without_select(&mut m, "after-save");
    drive_writes(&mut m, &mut rng, 500);
    wait_in_sync(&mut m, &mut r, &second);
    second.signal(libc::SIGKILL);
    assert!(second.wait_exit(Duration::from_secs(10)).is_some());
    assert!(replica.dir().join("dump.rdb").exists());
    writes_in_db3_without_select(&mut m, "while-killed");

    let third = restart_replica(&replica, &master);
    let mut r = third.raw();
    wait_in_sync(&mut m, &mut r, &third);
    assert_eq!(int_field(&mut m, "stats", "sync_partial_ok"), 2);
    assert_eq!(int_field(&mut m, "stats", "sync_full"), 1);
    assert_same_data(
        &mut [&mut m, &mut r],
        "after a restart from SAVE and kill -9",
    );
    r.cmds("SELECT 3");
    assert_eq!(r.cmds("GET after-save-a"), Resp::Bulk(b"1".to_vec()));
    assert_eq!(r.cmds("GET while-killed-a"), Resp::Bulk(b"1".to_vec()));
}
