//! RDB persistence end to end: SAVE/BGSAVE/LASTSAVE, save points, SHUTDOWN and SIGTERM saves,
//! stop-writes-on-bgsave-error, DEBUG RELOAD, loading at startup with `-LOADING`, and the
//! fork-free snapshot's point-in-time guarantee under concurrent writes. Where Redis's reply is
//! deterministic it is compared with the real redis-server's.

mod common;

use std::time::Duration;

use common::{fill_mixed, info_field, wait_until, RawConn, RedisServer, Resp, Server};

fn wait_bgsave_done(c: &mut RawConn) {
    wait_until("BGSAVE to finish", Duration::from_secs(60), || {
        info_field(c, "persistence", "rdb_bgsave_in_progress") == "0"
    });
}

fn digest(c: &mut RawConn) -> Resp {
    c.cmd(&["DEBUG", "DIGEST"])
}

fn simple(s: &str) -> Resp {
    Resp::Simple(s.as_bytes().to_vec())
}

#[test]
fn save_then_restart_restores_everything() {
    let a = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = a.raw();
    fill_mixed(&mut c, "");
    let before = digest(&mut c);
    let t0 = c.cmd(&["LASTSAVE"]);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.cmd(&["SAVE"]), simple("OK"));
    assert_ne!(c.cmd(&["LASTSAVE"]), t0, "LASTSAVE moves after SAVE");
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    let dir = a.dir().to_string_lossy().into_owned();
    let b = Server::start(&["--dir", &dir, "--enable-debug-command", "yes"]);
    let mut d = b.raw();
    assert_eq!(digest(&mut d), before);
    assert_eq!(
        d.cmds("OBJECT ENCODING bigset"),
        Resp::Bulk(b"hashtable".to_vec())
    );
    assert_eq!(
        d.cmds("OBJECT ENCODING bigzset"),
        Resp::Bulk(b"skiplist".to_vec())
    );
    assert_eq!(
        d.cmds("OBJECT ENCODING intset"),
        Resp::Bulk(b"intset".to_vec())
    );
    let Resp::Int(ttl) = d.cmds("TTL volatile") else {
        panic!("TTL")
    };
    assert!((9990..=10000).contains(&ttl), "ttl {ttl}");
    assert_eq!(
        info_field(&mut d, "persistence", "rdb_last_load_keys_loaded"),
        "16"
    );
}

#[test]
fn bgsave_image_is_the_dataset_at_its_start() {
    // rdb-key-save-delay slows the walk so that the writes below land while it runs.
    let a = Server::start(&[
        "--enable-debug-command",
        "yes",
        "--rdb-key-save-delay",
        "200",
    ]);
    let mut c = a.raw();
    c.cmds("DEBUG POPULATE 5000 key 20");
    fill_mixed(&mut c, "");
    // An older file stays untouched until the new one is complete: the save goes to a temp
    // file that is renamed over it at the end.
    std::fs::write(a.dir().join("dump.rdb"), b"old").unwrap();
    let temp = a.dir().join(format!("temp-{}.rdb", a.pid()));
    let before = digest(&mut c);
    // BGSAVE and a burst of writes in one pipeline: every write runs before the first slice.
    let mut pipeline = common::encode(&["BGSAVE"]);
    for i in 0..2000 {
        pipeline.extend(common::encode(&["SET", &format!("key:{i}"), "overwritten"]));
        pipeline.extend(common::encode(&["DEL", &format!("key:{}", 2000 + i)]));
        pipeline.extend(common::encode(&["SET", &format!("new:{i}"), "x"]));
    }
    pipeline.extend(common::encode(&["RPUSH", "list", "more"]));
    pipeline.extend(common::encode(&["HSET", "bighash", "field1", "changed"]));
    pipeline.extend(common::encode(&["EXPIRE", "str", "5000"]));
    pipeline.extend(common::encode(&["SWAPDB", "0", "2"]));
    pipeline.extend(common::encode(&["FLUSHDB"]));
    c.send(&pipeline);
    assert_eq!(c.read(), simple("Background saving started"));
    for _ in 0..6005 {
        c.read();
    }
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_bgsave_in_progress"),
        "1"
    );
    assert!(temp.exists(), "the save writes to {}", temp.display());
    assert_eq!(std::fs::read(a.dir().join("dump.rdb")).unwrap(), b"old");
    // Another BGSAVE or a SAVE is refused (byte-exact with Redis in the test below).
    assert_eq!(
        c.cmd_raw(&["BGSAVE"]),
        b"-ERR Background save already in progress\r\n".to_vec()
    );
    assert_eq!(
        c.cmd_raw(&["SAVE"]),
        b"-ERR Background save already in progress\r\n".to_vec()
    );
    c.cmds("CONFIG SET rdb-key-save-delay 0");
    wait_bgsave_done(&mut c);
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    assert!(!temp.exists());
    // The file holds the dataset as it was when BGSAVE started: load it into the real Redis.
    let file = a.dir().join("dump.rdb");
    let check = std::process::Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let dir = a.dir().to_string_lossy().into_owned();
    let r = RedisServer::start(&["--dir", &dir, "--enable-debug-command", "yes"]);
    let mut rc = r.raw();
    assert_eq!(digest(&mut rc), before, "Redis loaded a different dataset");
}

#[test]
fn bgsave_schedule_and_errors_match_redis() {
    for (srv, name) in [
        (Server::start(&["--rdb-key-save-delay", "1000"]), "ferrodis"),
        (
            RedisServer::start(&["--rdb-key-save-delay", "1000"]),
            "redis",
        ),
    ] {
        let mut c = srv.raw();
        for i in 0..200 {
            c.cmd(&["SET", &format!("k{i}"), "v"]);
        }
        assert_eq!(
            c.cmds("BGSAVE"),
            simple("Background saving started"),
            "{name}"
        );
        assert_eq!(
            c.cmd_raw(&["BGSAVE"]),
            b"-ERR Background save already in progress\r\n".to_vec(),
            "{name}"
        );
        // SCHEDULE only defers behind a non-RDB child (AOF rewrite): here it is refused too.
        assert_eq!(
            c.cmd_raw(&["BGSAVE", "SCHEDULE"]),
            b"-ERR Background save already in progress\r\n".to_vec(),
            "{name}"
        );
        assert_eq!(
            c.cmd_raw(&["BGSAVE", "x"]),
            b"-ERR syntax error\r\n".to_vec(),
            "{name}"
        );
        c.cmds("CONFIG SET rdb-key-save-delay 0");
        wait_until("the first save", Duration::from_secs(30), || {
            info_field(&mut c, "persistence", "rdb_bgsave_in_progress") == "0"
        });
        // Inside a transaction BGSAVE is scheduled for the cron.
        c.cmds("MULTI");
        c.cmds("BGSAVE");
        assert_eq!(
            c.cmds("EXEC"),
            Resp::Array(vec![simple("Background saving scheduled")]),
            "{name}"
        );
        wait_until("the scheduled save", Duration::from_secs(30), || {
            info_field(&mut c, "persistence", "rdb_saves") == "2"
                && info_field(&mut c, "persistence", "rdb_bgsave_in_progress") == "0"
        });
    }
}

#[test]
fn save_points_trigger_bgsave() {
    let a = Server::start(&["--save", "1 3"]);
    let mut c = a.raw();
    c.cmds("SET a 1");
    c.cmds("SET b 2");
    std::thread::sleep(Duration::from_millis(2200));
    assert!(!a.dir().join("dump.rdb").exists(), "2 changes < 3: no save");
    c.cmds("SET c 3");
    wait_until("the save point", Duration::from_secs(10), || {
        a.dir().join("dump.rdb").exists()
            && info_field(&mut c, "persistence", "rdb_changes_since_last_save") == "0"
    });
    assert!(
        a.log().contains("3 changes in 1 seconds. Saving..."),
        "{}",
        a.log()
    );
    // save "" turns save points off at runtime.
    c.cmd(&["CONFIG", "SET", "save", ""]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "save"]),
        Resp::Array(vec![Resp::Bulk(b"save".to_vec()), Resp::Bulk(b"".to_vec())])
    );
}

#[test]
fn shutdown_and_sigterm_save_when_save_points_exist() {
    // SHUTDOWN with save points saves.
    let mut a = Server::start(&["--save", "3600 1"]);
    let mut c = a.raw();
    c.cmds("SET k shutdown");
    c.send_cmd(&["SHUTDOWN"]);
    assert!(a.wait_exit(Duration::from_secs(10)).is_some());
    assert!(a.dir().join("dump.rdb").exists());
    let dir = a.dir().to_string_lossy().into_owned();
    let b = Server::start(&["--dir", &dir]);
    assert_eq!(b.raw().cmds("GET k"), Resp::Bulk(b"shutdown".to_vec()));
    drop(b);

    // SIGTERM with save points saves; SHUTDOWN NOSAVE does not.
    let mut a = Server::start(&["--save", "3600 1"]);
    a.raw().cmds("SET k sigterm");
    a.signal(libc_sigterm());
    assert!(a.wait_exit(Duration::from_secs(10)).is_some());
    assert!(a
        .log()
        .contains("Saving the final RDB snapshot before exiting."));
    let dir = a.dir().to_string_lossy().into_owned();
    let mut b = Server::start(&["--dir", &dir, "--save", "3600 1"]);
    let mut c = b.raw();
    assert_eq!(c.cmds("GET k"), Resp::Bulk(b"sigterm".to_vec()));
    c.cmds("SET k changed");
    c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(b.wait_exit(Duration::from_secs(10)).is_some());
    let d = Server::start(&["--dir", &dir]);
    assert_eq!(d.raw().cmds("GET k"), Resp::Bulk(b"sigterm".to_vec()));

    // Without save points, SHUTDOWN does not save, SHUTDOWN SAVE does.
    let mut a = Server::start(&[]);
    let mut c = a.raw();
    c.cmds("SET k v");
    c.send_cmd(&["SHUTDOWN", "SAVE"]);
    assert!(a.wait_exit(Duration::from_secs(10)).is_some());
    assert!(a.dir().join("dump.rdb").exists());
}

fn libc_sigterm() -> i32 {
    15
}

/// A failed BGSAVE with save points configured makes writes and PING fail with -MISCONF,
/// byte-exact with Redis, until a save succeeds again.
#[test]
fn stop_writes_on_bgsave_error_matches_redis() {
    let mut replies = Vec::new();
    let args = ["--save", "3600 1", "--enable-protected-configs", "yes"];
    for srv in [Server::start(&args), RedisServer::start(&args)] {
        let mut c = srv.raw();
        c.cmds("SET a 1");
        // A working directory that disappears: the save cannot create its file.
        let gone = srv.dir().join("gone");
        std::fs::create_dir(&gone).unwrap();
        c.cmd(&["CONFIG", "SET", "dir", gone.to_str().unwrap()]);
        std::fs::remove_dir(&gone).unwrap();
        c.cmds("BGSAVE");
        wait_until("the failed save", Duration::from_secs(10), || {
            info_field(&mut c, "persistence", "rdb_last_bgsave_status") == "err"
        });
        let set = c.cmd_raw(&["SET", "b", "2"]);
        let ping = c.cmd_raw(&["PING"]);
        let get = c.cmd_raw(&["GET", "a"]);
        // Recover: a directory that exists again.
        c.cmd(&["CONFIG", "SET", "dir", srv.dir().to_str().unwrap()]);
        c.cmds("BGSAVE");
        wait_until("a good save", Duration::from_secs(10), || {
            info_field(&mut c, "persistence", "rdb_last_bgsave_status") == "ok"
        });
        let after = c.cmd_raw(&["SET", "b", "2"]);
        replies.push((set, ping, get, after));
    }
    assert_eq!(replies[0], replies[1]);
    assert!(replies[0].0.starts_with(b"-MISCONF "));
}

#[test]
fn debug_reload_keeps_the_dataset() {
    let a = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = a.raw();
    fill_mixed(&mut c, "");
    let before = digest(&mut c);
    assert_eq!(c.cmds("DEBUG RELOAD"), simple("OK"));
    assert_eq!(digest(&mut c), before);
    assert!(a.dir().join("dump.rdb").exists());
}

/// While a file loads, clients get -LOADING except for commands flagged `loading` (INFO,
/// LASTSAVE...; PING is not one in Redis 7.0), and INFO shows the progress fields.
#[test]
fn loading_answers_loading_and_reports_progress() {
    let a = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = a.raw();
    c.cmds("DEBUG POPULATE 20000");
    c.cmds("SAVE");
    let dir = a.dir().to_string_lossy().into_owned();
    // 100 µs per key: about two seconds of loading.
    let b = Server::start_loading(&["--dir", &dir, "--key-load-delay", "100"]);
    let mut d = b.raw();
    let loading = b"-LOADING Redis is loading the dataset in memory\r\n".to_vec();
    assert_eq!(d.cmd_raw(&["PING"]), loading);
    assert!(matches!(d.cmd(&["LASTSAVE"]), Resp::Int(_)));
    assert_eq!(
        d.cmd_raw(&["GET", "key:1"]),
        b"-LOADING Redis is loading the dataset in memory\r\n".to_vec()
    );
    assert_eq!(info_field(&mut d, "persistence", "loading"), "1");
    for f in [
        "loading_start_time",
        "loading_total_bytes",
        "loading_loaded_bytes",
        "loading_loaded_perc",
        "loading_eta_seconds",
        "loading_rdb_used_mem",
    ] {
        info_field(&mut d, "persistence", f);
    }
    wait_until("the load", Duration::from_secs(60), || {
        info_field(&mut d, "persistence", "loading") == "0"
    });
    assert_eq!(d.cmds("DBSIZE"), Resp::Int(20000));
    assert_eq!(d.cmds("GET key:1"), Resp::Bulk(b"value:1".to_vec()));
}

/// A server whose dump.rdb holds `keep` and `gone`, the latter already expired.
fn saved_with_an_expired_key() -> Server {
    let a = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = a.raw();
    c.cmds("SET keep v");
    c.cmds("SET gone v PX 300");
    c.cmds("DEBUG SET-ACTIVE-EXPIRE 0");
    std::thread::sleep(Duration::from_millis(400));
    c.cmds("SAVE");
    a
}

/// Keys already expired in the file are dropped by a master on load.
#[test]
fn expired_keys_are_dropped_on_load() {
    let a = saved_with_an_expired_key();
    let dir = a.dir().to_string_lossy().into_owned();
    let b = Server::start(&["--dir", &dir]);
    let mut d = b.raw();
    assert_eq!(d.cmds("DBSIZE"), Resp::Int(1));
    assert_eq!(
        info_field(&mut d, "persistence", "rdb_last_load_keys_expired"),
        "1"
    );
}

/// A file Redis wrote loads into ferrodis and vice versa, through the server processes.
#[test]
fn files_cross_between_redis_and_ferrodis() {
    let r = RedisServer::start(&["--enable-debug-command", "yes"]);
    let mut rc = r.raw();
    fill_mixed(&mut rc, "");
    let redis_digest = digest(&mut rc);
    rc.cmds("SAVE");
    let rdir = r.dir().to_string_lossy().into_owned();
    let f = Server::start(&["--dir", &rdir, "--enable-debug-command", "yes"]);
    let mut fc = f.raw();
    assert_eq!(digest(&mut fc), redis_digest);
    fc.cmds("SET added-by-ferrodis 1");
    let ferro_digest = digest(&mut fc);
    fc.cmds("SAVE");
    // ferrodis runs in Redis's directory (`--dir`), so it saved over Redis's file.
    let fdir = rdir.clone();
    let r2 = RedisServer::start(&["--dir", &fdir, "--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut r2.raw()), ferro_digest);
    // rdbcompression no files load too.
    assert_eq!(fc.cmds("CONFIG SET rdbcompression no"), simple("OK"));
    assert_eq!(fc.cmds("SAVE"), simple("OK"));
    let r3 = RedisServer::start(&["--dir", &fdir, "--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut r3.raw()), ferro_digest);
}

/// A replica keeps keys already expired in the file (it waits for its master's DEL), as
/// Redis does; compared with a real Redis replica loading the same file.
#[test]
fn expired_keys_are_kept_on_load_by_a_replica() {
    let a = saved_with_an_expired_key();
    // A master nobody listens on: the servers stay replicas with their loaded data.
    let dead = common::free_port().to_string();
    let mut results = Vec::new();
    for flavor in ["ferrodis", "redis"] {
        let copy = common::TempDir::new(flavor);
        std::fs::copy(a.dir().join("dump.rdb"), copy.path().join("dump.rdb")).unwrap();
        let dir = copy.path().to_string_lossy().into_owned();
        let args = [
            "--dir",
            dir.as_str(),
            "--replicaof",
            "127.0.0.1",
            dead.as_str(),
        ];
        let srv = if flavor == "ferrodis" {
            Server::start(&args)
        } else {
            RedisServer::start(&args)
        };
        let mut d = srv.raw();
        results.push((
            d.cmds("DBSIZE"),
            info_field(&mut d, "persistence", "rdb_last_load_keys_expired"),
            d.cmds("EXISTS gone"),
        ));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0].0, Resp::Int(2), "the expired key is kept");
}
