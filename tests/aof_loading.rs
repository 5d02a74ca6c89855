//! Loading the AOF at startup in the background, as the RDB is: connections are accepted
//! while the base and the incr files are replayed, commands get `-LOADING`, INFO reports
//! `loading:1` with the progress over all the files, and once loaded the AOF is appended to
//! as usual.

mod common;

use std::path::Path;
use std::time::Duration;

use common::aof::{assert_ferrodis_loads, start_aof};
use common::{digest, info_field, wait_until, Resp, Server};

fn aof_total_size(dir: &Path) -> u64 {
    let aod = dir.join("appendonlydir");
    let manifest = std::fs::read_to_string(aod.join("appendonly.aof.manifest")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.ends_with("type h"))
        .map(|l| {
            let name = l.split(' ').nth(1).unwrap();
            std::fs::metadata(aod.join(name)).unwrap().len()
        })
        .sum()
}

#[test]
fn clients_get_loading_while_the_aof_replays() {
    let a = start_aof(None, &[]);
    let mut c = a.raw();
    c.cmds("DEBUG POPULATE 10000");
    assert_eq!(
        c.cmds("BGREWRITEAOF"),
        Resp::Simple("Background append only file rewriting started".into())
    );
    wait_until("the rewrite", Duration::from_secs(30), || {
        info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
    });
    // Commands in the incr file on top of the RDB base.
    for i in 0..3000 {
        c.cmd(&["SET", &format!("incr:{i}"), &i.to_string()]);
    }
    c.cmds("SELECT 4");
    c.cmds("RPUSH in-db-4 a b c");
    let expect = digest(&mut c);
    let dir = a.dir_string();
    let total = aof_total_size(a.dir());
    drop(c);
    let mut a = a;
    a.sigkill();

    // 200 µs per key and per command: about 2.6 seconds of loading.
    let b = Server::start_loading(&[
        "--appendonly",
        "yes",
        "--dir",
        &dir,
        "--key-load-delay",
        "200",
        "--enable-debug-command",
        "yes",
    ]);
    let mut d = b.raw();
    let loading = b"-LOADING Redis is loading the dataset in memory\r\n".to_vec();
    assert_eq!(d.cmd_raw(&["PING"]), loading);
    assert_eq!(d.cmd_raw(&["GET", "key:1"]), loading);
    assert_eq!(d.cmd_raw(&["SET", "x", "1"]), loading);
    assert_eq!(info_field(&mut d, "persistence", "loading"), "1");
    assert_eq!(info_field(&mut d, "persistence", "async_loading"), "0");
    assert_eq!(
        info_field(&mut d, "persistence", "loading_total_bytes"),
        total.to_string()
    );
    for f in [
        "loading_start_time",
        "loading_loaded_bytes",
        "loading_loaded_perc",
        "loading_eta_seconds",
        "loading_rdb_used_mem",
    ] {
        info_field(&mut d, "persistence", f);
    }
    // The progress moves, through the base and into the incr file.
    let first: u64 = info_field(&mut d, "persistence", "loading_loaded_bytes")
        .parse()
        .unwrap();
    wait_until("progress", Duration::from_secs(30), || {
        let now: u64 = info_field(&mut d, "persistence", "loading_loaded_bytes")
            .parse()
            .unwrap();
        now > first || info_field(&mut d, "persistence", "loading") == "0"
    });
    // The replica pose of the replay does not leak into INFO-visible state after the load.
    wait_until("the load", Duration::from_secs(60), || {
        info_field(&mut d, "persistence", "loading") == "0"
    });
    assert_eq!(info_field(&mut d, "replication", "role"), "master");
    assert_eq!(info_field(&mut d, "persistence", "aof_enabled"), "1");
    assert_eq!(
        info_field(&mut d, "persistence", "aof_current_size"),
        total.to_string()
    );
    assert_eq!(digest(&mut d), expect);
    assert_eq!(d.cmds("DBSIZE"), Resp::Int(13000));
    // Appending goes on after the load.
    d.cmds("SET after-load 1");
    let expect = digest(&mut d);
    drop(d);
    drop(b);
    assert_ferrodis_loads(&dir, &expect);
    drop(a);
}

#[test]
fn a_corrupt_aof_found_while_loading_stops_the_server() {
    let a = start_aof(None, &[]);
    let mut c = a.raw();
    for i in 0..2000 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    drop(c);
    let dir = a.dir_string();
    let mut a = a;
    a.sigkill();
    let incr = Path::new(&dir).join("appendonlydir/appendonly.aof.1.incr.aof");
    let mut data = std::fs::read(&incr).unwrap();
    data.extend_from_slice(b"GARBAGE\r\n*1\r\n$4\r\nPING\r\n");
    std::fs::write(&incr, &data).unwrap();
    let mut b = Server::start_loading(&[
        "--appendonly",
        "yes",
        "--dir",
        &dir,
        "--key-load-delay",
        "500",
    ]);
    let status = b.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the server did not stop on a corrupt AOF"
    );
    assert!(b
        .log()
        .contains("Bad file format reading the append only file"));
}
