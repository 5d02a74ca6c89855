//! The append-only file end to end, with real processes: Redis 7.0's multi-part layout,
//! restarts after SIGKILL, appendfsync always durability, interoperability with redis-server
//! 7.0 and redis-check-aof in both directions, torn tails, and the old single-file upgrade.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::aof::{
    assert_redis_loads, check_aof, incr_writer, manifest_of, start_aof, start_redis_aof,
    wait_rewrite_done,
};
use common::{digest, fill_mixed, info_field, RawConn, Resp, Server};

#[test]
fn first_start_layout_and_info() {
    let a = start_aof(None, &[]);
    let dir = a.dir_string();
    let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
    assert_eq!(
        m,
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let mut c = a.raw();
    c.cmds("SET a 1");
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "1");
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_write_status"),
        "ok"
    );
    let base = std::fs::metadata(Path::new(&dir).join("appendonlydir/appendonly.aof.1.base.rdb"))
        .unwrap()
        .len();
    let incr = std::fs::metadata(Path::new(&dir).join("appendonlydir/appendonly.aof.1.incr.aof"))
        .unwrap()
        .len();
    // As in Redis 7.0: the files created on the first start are not counted; after a
    // restart the current size is what was loaded and the base size the base file's.
    assert_eq!(info_field(&mut c, "persistence", "aof_base_size"), "0");
    assert_eq!(
        info_field(&mut c, "persistence", "aof_current_size"),
        incr.to_string()
    );
    assert_eq!(info_field(&mut c, "persistence", "aof_buffer_length"), "0");
    assert_eq!(info_field(&mut c, "persistence", "aof_delayed_fsync"), "0");
    drop(c);
    let mut a = a;
    a.terminate();
    let b = start_aof(Some(&dir), &[]);
    let mut c = b.raw();
    assert_eq!(
        info_field(&mut c, "persistence", "aof_base_size"),
        base.to_string()
    );
    assert_eq!(
        info_field(&mut c, "persistence", "aof_current_size"),
        (base + incr).to_string()
    );
}

#[test]
fn every_type_survives_sigkill_and_check_aof_accepts() {
    let mut a = start_aof(None, &["--aof-timestamp-enabled", "yes"]);
    let dir = a.dir_string();
    let mut c = a.raw();
    fill_mixed(&mut c, "");
    c.cmds("MULTI");
    c.cmds("INCR counter");
    c.cmds("LPUSH q x");
    c.cmds("EXEC");
    c.cmds("SELECT 5");
    c.cmds("SET five 5");
    c.cmds("SELECT 0");
    let before = digest(&mut c);
    // everysec: give the background fsync its second (the data is in the page cache anyway).
    std::thread::sleep(Duration::from_millis(1200));
    a.sigkill();
    let incr =
        std::fs::read(Path::new(&dir).join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    assert!(incr.starts_with(b"#TS:"), "timestamp annotation first");
    check_aof(&manifest_of(&dir));
    let b = start_aof(Some(&dir), &[]);
    let mut d = b.raw();
    assert_eq!(digest(&mut d), before);
    // The restarted server keeps appending to the same incr file.
    d.cmds("SET after restart");
    let before = digest(&mut d);
    drop(d);
    drop(b);
    let b = start_aof(Some(&dir), &[]);
    assert_eq!(digest(&mut b.raw()), before);
}

#[test]
fn appendfsync_always_loses_no_acknowledged_write() {
    let a = start_aof(None, &["--appendfsync", "always"]);
    let dir = a.dir_string();
    let mut acked = 0i64;
    let mut servers = vec![a];
    for round in 0..4 {
        let s = servers.last_mut().unwrap();
        let port = s.port();
        // A writer pipelines INCRs and records every acknowledged reply; the server is
        // killed while replies are in flight.
        let writer = incr_writer(port, "counter".into(), 16);
        std::thread::sleep(Duration::from_millis(300 + round * 100));
        s.sigkill();
        let last = writer
            .join()
            .unwrap()
            .iter()
            .map(|a| a.0)
            .max()
            .unwrap_or(0);
        assert!(last >= acked, "progress");
        acked = last;
        let b = start_aof(Some(&dir), &["--appendfsync", "always"]);
        let Resp::Bulk(v) = b.raw().cmds("GET counter") else {
            panic!("counter missing after restart")
        };
        let got: i64 = String::from_utf8_lossy(&v).parse().unwrap();
        assert!(
            got >= acked,
            "round {round}: acknowledged {acked}, restored {got}"
        );
        acked = got;
        servers.push(b);
    }
    assert!(acked > 0);
}

#[test]
fn redis_loads_ours_and_we_load_redis() {
    // Ours -> Redis.
    let mut a = start_aof(None, &[]);
    let dir = a.dir_string();
    let mut c = a.raw();
    fill_mixed(&mut c, "f-");
    let ours = digest(&mut c);
    drop(c);
    a.terminate();
    assert_redis_loads(&dir, &ours);

    // Redis -> ours (with and without RDB preamble, timestamps on).
    for preamble in ["yes", "no"] {
        let mut r = start_redis_aof(
            None,
            &[
                "--aof-use-rdb-preamble",
                preamble,
                "--aof-timestamp-enabled",
                "yes",
            ],
        );
        let rdir = r.dir_string();
        let mut c = r.raw();
        fill_mixed(&mut c, "r-");
        let theirs = digest(&mut c);
        drop(c);
        r.terminate();
        let b = start_aof(Some(&rdir), &[]);
        assert_eq!(digest(&mut b.raw()), theirs, "preamble {preamble}");
    }
}

#[test]
fn torn_tail_trimmed_or_refused() {
    let mut a = start_aof(None, &[]);
    let dir = a.dir_string();
    let mut c = a.raw();
    c.cmds("SET kept 1");
    let before = digest(&mut c);
    drop(c);
    a.terminate();
    let incr = Path::new(&dir).join("appendonlydir/appendonly.aof.1.incr.aof");
    let good = std::fs::read(&incr).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$4\r\nlost\r\n$3\r\nab");
    std::fs::write(&incr, &torn).unwrap();

    // aof-load-truncated no: refuses to start, saying why.
    let out = Command::new(common::FERRODIS_BIN)
        .args([
            "--port",
            "0",
            "--appendonly",
            "yes",
            "--aof-load-truncated",
            "no",
        ])
        .args(["--dir", &dir])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Unexpected end of file"), "{log}");

    // yes: trims the tail and starts.
    let b = start_aof(Some(&dir), &[]);
    assert_eq!(digest(&mut b.raw()), before);
    assert_eq!(std::fs::read(&incr).unwrap(), good);
    assert!(b.log().contains("Truncating the AOF"), "{}", b.log());
}

#[test]
fn corrupt_middle_refuses_with_offset() {
    let mut a = start_aof(None, &[]);
    let dir = a.dir_string();
    a.raw().cmds("SET k v");
    a.terminate();
    let incr = Path::new(&dir).join("appendonlydir/appendonly.aof.1.incr.aof");
    let mut data = std::fs::read(&incr).unwrap();
    let at = data.len();
    data.extend_from_slice(b"xx garbage\r\n*1\r\n$4\r\nPING\r\n");
    std::fs::write(&incr, &data).unwrap();
    let out = Command::new(common::FERRODIS_BIN)
        .args(["--port", "0", "--appendonly", "yes", "--dir", &dir])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Bad file format") && log.contains(&format!("offset {at}")),
        "{log}"
    );
}

#[test]
fn old_single_file_aof_is_upgraded() {
    for preamble in ["yes", "no"] {
        // Redis 7.0 writes the multi-part layout; an old-style file is what its base would be
        // under the old name: an RDB preamble plus a command tail, or commands only.
        let mut r = start_redis_aof(None, &["--aof-use-rdb-preamble", preamble]);
        let rdir = r.dir_string();
        let mut c = r.raw();
        fill_mixed(&mut c, "");
        c.cmds("BGREWRITEAOF");
        wait_rewrite_done(&mut c);
        c.cmds("SET tail-key 1");
        let theirs = digest(&mut c);
        drop(c);
        r.terminate();
        let aod = Path::new(&rdir).join("appendonlydir");
        let m = std::fs::read_to_string(aod.join("appendonly.aof.manifest")).unwrap();
        let mut single = Vec::new();
        for line in m.lines() {
            let name = line.split(' ').nth(1).unwrap();
            single.extend(std::fs::read(aod.join(name)).unwrap());
        }
        std::fs::remove_dir_all(&aod).unwrap();
        std::fs::write(Path::new(&rdir).join("appendonly.aof"), &single).unwrap();

        let b = start_aof(Some(&rdir), &[]);
        assert_eq!(digest(&mut b.raw()), theirs, "preamble {preamble}");
        assert!(!Path::new(&rdir).join("appendonly.aof").exists());
        let m = std::fs::read_to_string(aod.join("appendonly.aof.manifest")).unwrap();
        assert_eq!(
            m,
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        check_aof(&aod.join("appendonly.aof.manifest"));
    }
}

/// The pipeline sent right behind BGREWRITEAOF: writes of every kind in two databases, a
/// second BGREWRITEAOF, BGSAVE with and without SCHEDULE. `rdb-key-save-delay` keeps the
/// rewrite running meanwhile.
fn rewrite_pipeline() -> Vec<u8> {
    let mut p = Vec::new();
    for cmd in [
        &["BGREWRITEAOF"][..],
        &["SET", "during", "1"],
        &["INCR", "int"],
        &["RPUSH", "newlist", "a", "b"],
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["BGREWRITEAOF"],
        &["BGSAVE"],
        &["BGSAVE", "SCHEDULE"],
        &["SELECT", "0"],
        &["DEL", "str"],
        &["MULTI"],
        &["BGREWRITEAOF"],
        &["INCR", "int"],
        &["EXEC"],
    ] {
        p.extend(common::encode(cmd));
    }
    p
}

/// Fills `c` with the mixed dataset plus enough keys for the save delay to matter.
fn fill_for_rewrite(c: &mut RawConn) {
    fill_mixed(c, "");
    for i in 0..200 {
        c.cmd(&["SET", &format!("key:{i}"), &format!("value:{i}")]);
    }
}

#[test]
fn bgrewriteaof_with_writes_during_the_rewrite() {
    let delay = ["--rdb-key-save-delay", "2000"];
    let mut a = start_aof(None, &delay);
    let dir = a.dir_string();
    let mut c = a.raw();
    fill_for_rewrite(&mut c);
    c.send(&rewrite_pipeline());
    let replies: Vec<Vec<u8>> = (0..15).map(|_| c.read_raw()).collect();

    // While it runs: the new incr file is listed after the old ones.
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrite_in_progress"),
        "1"
    );
    let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
    assert_eq!(
        m,
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    c.cmds("LPUSH during2 x");
    // Redis 7.0 answers the same pipeline with the same bytes.
    let r = start_redis_aof(None, &[]);
    let mut rc = r.raw();
    fill_for_rewrite(&mut rc);
    rc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    rc.send(&rewrite_pipeline());
    let theirs: Vec<Vec<u8>> = (0..15).map(|_| rc.read_raw()).collect();
    assert_eq!(
        replies
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>(),
        theirs
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        replies[0],
        b"+Background append only file rewriting started\r\n"
    );
    drop(rc);
    drop(r);

    c.cmds("LPUSH later x");
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "persistence", "aof_rewrites"), "1");
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
    assert_ne!(
        info_field(&mut c, "persistence", "aof_last_rewrite_time_sec"),
        "-1"
    );
    c.cmds("SET after done");

    // One base, one incr; the old files are gone.
    let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
    assert_eq!(
        m,
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let aod = Path::new(&dir).join("appendonlydir");
    let mut names: Vec<String> = std::fs::read_dir(&aod)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    let base = std::fs::read(aod.join("appendonly.aof.2.base.rdb")).unwrap();
    assert!(base.starts_with(b"REDIS"));
    assert!(base.windows(8).any(|w| w == b"aof-base"));
    check_aof(&manifest_of(&dir));

    let before = digest(&mut c);
    drop(c);
    a.sigkill();
    let mut b = start_aof(Some(&dir), &[]);
    assert_eq!(digest(&mut b.raw()), before);
    b.terminate();
    assert_redis_loads(&dir, &before);
}

#[test]
fn bgrewriteaof_behind_bgsave_is_scheduled() {
    let args = ["--rdb-key-save-delay", "1000"];
    let a = start_aof(None, &args);
    let dir = a.dir_string();
    let mut c = a.raw();
    let r = start_redis_aof(None, &["--rdb-key-save-delay", "1000"]);
    let mut rc = r.raw();
    for conn in [&mut c, &mut rc] {
        fill_for_rewrite(conn);
    }
    let mut p = Vec::new();
    for cmd in [
        &["BGSAVE"][..],
        &["BGREWRITEAOF"],
        &["BGREWRITEAOF"],
        &["SET", "k", "v"],
    ] {
        p.extend(common::encode(cmd));
    }
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (conn, out) in [(&mut c, &mut ours), (&mut rc, &mut theirs)] {
        conn.send(&p);
        for _ in 0..4 {
            out.push(String::from_utf8_lossy(&conn.read_raw()).into_owned());
        }
        out.push(info_field(conn, "persistence", "aof_rewrite_scheduled"));
        out.push(info_field(conn, "persistence", "aof_pending_rewrite"));
    }
    assert_eq!(ours, theirs);
    assert_eq!(
        ours[1],
        "+Background append only file rewriting scheduled\r\n"
    );
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "persistence", "aof_rewrites"), "1");
    let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
    assert_eq!(
        m,
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    // Inside MULTI the rewrite is scheduled too, and started by the cron.
    c.cmds("MULTI");
    c.cmds("BGREWRITEAOF");
    assert_eq!(
        c.cmd_raw(&["EXEC"]),
        b"*1\r\n+Background append only file rewriting scheduled\r\n"
    );
    wait_rewrite_done(&mut c);
    assert_eq!(info_field(&mut c, "persistence", "aof_rewrites"), "2");
    let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
    assert_eq!(
        m,
        "file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    check_aof(&manifest_of(&dir));
}

#[test]
fn bgrewriteaof_with_appendonly_off_writes_a_base_only() {
    let a = Server::start(&["--appendonly", "no"]);
    let dir = a.dir_string();
    let mut c = a.raw();
    c.cmds("SET a 1");
    for seq in 1..=2 {
        assert_eq!(
            c.cmd_raw(&["BGREWRITEAOF"]),
            b"+Background append only file rewriting started\r\n"
        );
        wait_rewrite_done(&mut c);
        let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
        assert_eq!(
            m,
            format!("file appendonly.aof.{seq}.base.rdb seq {seq} type b\n")
        );
    }
    assert!(!Path::new(&dir)
        .join("appendonlydir/appendonly.aof.1.base.rdb")
        .exists());
    assert_eq!(info_field(&mut c, "persistence", "aof_rewrites"), "2");
}

#[test]
fn auto_rewrite_on_growth() {
    let mut a = start_aof(
        None,
        &[
            "--auto-aof-rewrite-min-size",
            "1kb",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let dir = a.dir_string();
    let mut c = a.raw();
    for i in 0..100 {
        c.cmd(&["SET", &format!("k{i}"), "some value to grow the file"]);
    }
    common::wait_until("auto rewrite", Duration::from_secs(10), || {
        info_field(&mut c, "persistence", "aof_rewrites") == "1"
            && info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
    });
    let m = std::fs::read_to_string(manifest_of(&dir)).unwrap();
    assert_eq!(
        m,
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let before = digest(&mut c);
    drop(c);
    a.terminate();
    let b = start_aof(Some(&dir), &[]);
    assert_eq!(digest(&mut b.raw()), before);
}
