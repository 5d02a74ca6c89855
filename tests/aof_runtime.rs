//! The append-only file turned on and off at runtime, and the fsync policy directives,
//! against redis-server 7.0: CONFIG SET appendonly yes waits for a rewrite (a temporary incr
//! file collects the writes made meanwhile), then appends; a SIGKILL after that loses
//! nothing; CONFIG SET appendonly no closes it; the AOF directives refuse what Redis refuses.

mod common;

use std::time::Duration;

use common::aof::{
    aof_dir, assert_ferrodis_loads, assert_redis_loads, check_aof, wait_rewrite_done,
};
use common::{digest, fill_mixed, info_field, RawConn, Resp, Server};

const AOF_FIELDS: &[&str] = &[
    "aof_enabled",
    "aof_rewrite_in_progress",
    "aof_rewrite_scheduled",
    "aof_rewrites",
    "aof_last_bgrewrite_status",
    "aof_last_write_status",
    "aof_rewrites_consecutive_failures",
];

/// The INFO persistence fields both servers must agree on.
fn aof_info(c: &mut RawConn) -> Vec<(String, String)> {
    let Resp::Bulk(b) = c.cmd(&["INFO", "persistence"]) else {
        panic!("INFO did not return a bulk string");
    };
    let text = String::from_utf8(b).unwrap();
    let mut out: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| AOF_FIELDS.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The size fields exist exactly while the AOF is enabled.
    let has_sizes = text.contains("aof_current_size:");
    out.push(("has aof_current_size".into(), has_sizes.to_string()));
    out
}

/// ferrodis and redis-server with the same arguments, and a connection to each.
fn start_pair(args: &[&str]) -> (Server, Server, RawConn, RawConn) {
    let (f, r) = common::start_both(args);
    let (fc, rc) = (f.raw(), r.raw());
    (f, r, fc, rc)
}

fn appendonly_yes(c: &mut RawConn) {
    assert_eq!(
        c.cmds("CONFIG SET appendonly yes"),
        Resp::Simple("OK".into())
    );
}

/// A file without our replication annotations (`#REPL:` lines), to compare with Redis's.
fn without_repl_annotations(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |i| i + 2);
        if !rest.starts_with(b"#REPL:") {
            out.extend_from_slice(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn config_set_appendonly_yes_then_sigkill_keeps_everything() {
    let args = ["--enable-debug-command", "yes"];
    let (f, r, mut fc, mut rc) = start_pair(&args);
    for c in [&mut fc, &mut rc] {
        fill_mixed(c, "");
        // A slow rewrite: each key waits, so the wait-for-rewrite state can be observed.
        c.cmds("CONFIG SET rdb-key-save-delay 20000");
    }
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    for c in [&mut fc, &mut rc] {
        appendonly_yes(c);
    }
    // Waiting for the rewrite: enabled, rewrite in progress, a temporary incr file.
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    assert_eq!(info_field(&mut fc, "persistence", "aof_enabled"), "1");
    assert_eq!(
        info_field(&mut fc, "persistence", "aof_rewrite_in_progress"),
        "1"
    );
    for s in [&f, &r] {
        assert!(
            aof_dir(s).join("temp-appendonly.aof.incr").is_file(),
            "{}: no temporary incr file",
            s.flavor
        );
        assert!(!aof_dir(s).join("appendonly.aof.manifest").exists());
    }
    // Writes made while waiting go to the temporary file, SELECTs included.
    for c in [&mut fc, &mut rc] {
        c.cmds("SET during-1 x");
        c.cmds("SELECT 7");
        c.cmds("RPUSH during-list a b");
        c.cmds("SELECT 0");
        c.cmds("CONFIG SET rdb-key-save-delay 0");
    }
    for c in [&mut fc, &mut rc] {
        wait_rewrite_done(c);
    }
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    for s in [&f, &r] {
        let dir = aof_dir(s);
        assert_eq!(
            std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap(),
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
            "{}",
            s.flavor
        );
        assert!(!dir.join("temp-appendonly.aof.incr").exists());
    }
    // The incr file is the temporary one, renamed: the same commands in both servers.
    assert_eq!(
        without_repl_annotations(
            &std::fs::read(aof_dir(&f).join("appendonly.aof.1.incr.aof")).unwrap()
        ),
        std::fs::read(aof_dir(&r).join("appendonly.aof.1.incr.aof")).unwrap()
    );
    // aof_current_size counts the base and the incr file, as Redis's does.
    let base = std::fs::metadata(aof_dir(&f).join("appendonly.aof.1.base.rdb"))
        .unwrap()
        .len();
    let incr = std::fs::metadata(aof_dir(&f).join("appendonly.aof.1.incr.aof"))
        .unwrap()
        .len();
    assert_eq!(
        info_field(&mut fc, "persistence", "aof_current_size"),
        (base + incr).to_string()
    );
    assert_eq!(
        info_field(&mut fc, "persistence", "aof_base_size"),
        (base + incr).to_string()
    );
    for c in [&mut fc, &mut rc] {
        c.cmds("SET after-1 y");
        c.cmds("INCR counter");
        c.cmds("SELECT 2");
        c.cmds("SADD after-set m");
        c.cmds("SELECT 0");
    }
    let expect = digest(&mut fc);
    assert_eq!(expect, digest(&mut rc));
    check_aof(&aof_dir(&f).join("appendonly.aof.manifest"));
    let dir = f.dir_string();
    drop(fc);
    let mut f = f;
    f.sigkill();
    assert_ferrodis_loads(&dir, &expect);
    // Redis 7.0 loads what we wrote.
    assert_redis_loads(&dir, &expect);
}

#[test]
fn config_set_appendonly_no_closes_the_file() {
    let args = ["--enable-debug-command", "yes", "--appendonly", "yes"];
    let (f, r, mut fc, mut rc) = start_pair(&args);
    for c in [&mut fc, &mut rc] {
        // The write before CONFIG SET in the same pipeline is in the file.
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$10\r\nappendonly\r\n$2\r\nno\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
        for _ in 0..3 {
            assert_eq!(c.read(), Resp::Simple("OK".into()));
        }
    }
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    assert_eq!(info_field(&mut fc, "persistence", "aof_enabled"), "0");
    let first = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
    for s in [&f, &r] {
        let data = std::fs::read(aof_dir(s).join("appendonly.aof.1.incr.aof")).unwrap();
        assert_eq!(
            String::from_utf8(without_repl_annotations(&data)).unwrap(),
            first,
            "{}",
            s.flavor
        );
    }
    for c in [&mut fc, &mut rc] {
        c.cmds("SET c 3");
    }
    for s in [&f, &r] {
        let data = std::fs::read(aof_dir(s).join("appendonly.aof.1.incr.aof")).unwrap();
        assert_eq!(
            without_repl_annotations(&data).len(),
            first.len(),
            "{}: written after appendonly no",
            s.flavor
        );
    }
    // On again: a new base and incr; the old ones become history and are deleted.
    for c in [&mut fc, &mut rc] {
        appendonly_yes(c);
        wait_rewrite_done(c);
        c.cmds("SET d 4");
    }
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    for s in [&f, &r] {
        assert_eq!(
            std::fs::read_to_string(aof_dir(s).join("appendonly.aof.manifest")).unwrap(),
            "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n",
            "{}",
            s.flavor
        );
        assert!(!aof_dir(s).join("appendonly.aof.1.incr.aof").exists());
    }
    assert_eq!(digest(&mut fc), digest(&mut rc));
}

#[test]
fn appendonly_yes_behind_a_bgsave_is_scheduled() {
    let args = ["--enable-debug-command", "yes"];
    let (f, _r, mut fc, mut rc) = start_pair(&args);
    for c in [&mut fc, &mut rc] {
        fill_mixed(c, "");
        c.cmds("CONFIG SET rdb-key-save-delay 20000");
        assert_eq!(
            c.cmds("BGSAVE"),
            Resp::Simple("Background saving started".into())
        );
        appendonly_yes(c);
        // Scheduled: nothing is collected yet, the rewrite's image will hold these.
        c.cmds("SET while-scheduled 1");
    }
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    assert_eq!(
        info_field(&mut fc, "persistence", "aof_rewrite_scheduled"),
        "1"
    );
    for c in [&mut fc, &mut rc] {
        c.cmds("CONFIG SET rdb-key-save-delay 0");
        wait_rewrite_done(c);
    }
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    let expect = digest(&mut fc);
    assert_eq!(expect, digest(&mut rc));
    let dir = f.dir_string();
    drop(fc);
    let mut f = f;
    f.sigkill();
    assert_ferrodis_loads(&dir, &expect);
}

#[test]
fn aof_directives_refuse_what_redis_refuses() {
    let (_f, _r, mut fc, mut rc) = start_pair(&[]);
    for cmd in [
        "CONFIG SET appenddirname other",
        "CONFIG SET appendfilename other.aof",
        "CONFIG SET appendfsync sometimes",
        "CONFIG SET appendfsync always",
        "CONFIG GET appendfsync",
        "CONFIG SET appendfsync everysec",
        "CONFIG SET appendonly maybe",
        "CONFIG SET no-appendfsync-on-rewrite yes",
        "CONFIG GET no-appendfsync-on-rewrite",
        "CONFIG SET aof-use-rdb-preamble no",
        "CONFIG GET appenddirname",
    ] {
        assert_eq!(fc.cmds(cmd), rc.cmds(cmd), "{cmd}");
    }
}

#[test]
fn shutdown_waits_for_the_initial_aof_unless_forced() {
    let args = ["--enable-debug-command", "yes"];
    let (f, r, mut fc, mut rc) = start_pair(&args);
    for c in [&mut fc, &mut rc] {
        fill_mixed(c, "");
        c.cmds("CONFIG SET rdb-key-save-delay 100000");
        appendonly_yes(c);
    }
    for cmd in ["SHUTDOWN", "SHUTDOWN NOSAVE", "PING"] {
        assert_eq!(fc.cmds(cmd), rc.cmds(cmd), "{cmd}");
    }
    assert_eq!(
        fc.cmds("SHUTDOWN"),
        Resp::Error(b"ERR Errors trying to SHUTDOWN. Check logs.".to_vec())
    );
    let mut f = f;
    let mut r = r;
    for (c, s) in [(&mut fc, &mut f), (&mut rc, &mut r)] {
        c.send_cmd(&["SHUTDOWN", "FORCE"]);
        assert!(
            s.wait_exit(Duration::from_secs(10)).is_some(),
            "{}: SHUTDOWN FORCE did not exit",
            s.flavor
        );
    }
}

#[test]
fn appendonly_yes_that_cannot_start_is_refused_like_redis() {
    let (f, r, mut fc, mut rc) = start_pair(&[]);
    for s in [&f, &r] {
        // The AOF directory cannot be created: a file has its name.
        std::fs::write(aof_dir(s), b"not a directory").unwrap();
    }
    let fr = fc.cmds("CONFIG SET appendonly yes");
    assert_eq!(fr, rc.cmds("CONFIG SET appendonly yes"));
    assert_eq!(
        fr,
        Resp::Error(
            b"ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs."
                .to_vec()
        )
    );
    assert_eq!(aof_info(&mut fc), aof_info(&mut rc));
    assert_eq!(
        fc.cmds("CONFIG GET appendonly"),
        rc.cmds("CONFIG GET appendonly")
    );
}
