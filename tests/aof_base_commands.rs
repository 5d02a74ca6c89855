//! The command-form AOF base (`aof-use-rdb-preamble no`): written by BGREWRITEAOF and by
//! CONFIG SET appendonly yes from the fork-free snapshot, it holds Redis's rewrite commands
//! (SELECT, SET, RPUSH/SADD/ZADD/HMSET in batches of 64, PEXPIREAT); redis-check-aof accepts
//! it, Redis 7.0 loads it, and so do we, with writes made during the rewrite on top.

mod common;

use common::aof::{
    aof_dir, assert_ferrodis_loads, assert_redis_loads, check_aof, wait_rewrite_done,
};
use common::{digest, fill_mixed, RawConn, Resp, Server};

/// redis-check-aof accepts the files and says each one is valid.
fn assert_valid(manifest: &std::path::Path) {
    let text = check_aof(manifest);
    assert!(text.contains("is valid"), "{text}");
}

/// Kills `f` with SIGKILL, then starts each loader in turn on its files: each must hold the
/// dataset `f` had.
fn sigkill_then_load(mut f: Server, mut c: RawConn, loaders: &[fn(&str, &Resp)]) {
    let expect = digest(&mut c);
    drop(c);
    f.sigkill();
    let path = f.dir_string();
    for load in loaders {
        load(&path, &expect);
    }
}

/// Splits a command-form file into its commands' argument lists (annotations skipped).
fn commands_of(mut data: &[u8]) -> Vec<Vec<Vec<u8>>> {
    fn line<'a>(data: &mut &'a [u8]) -> &'a [u8] {
        let end = data.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let l = &data[..end];
        *data = &data[end + 2..];
        l
    }
    let mut out = Vec::new();
    while !data.is_empty() {
        let head = line(&mut data);
        if head.starts_with(b"#") {
            continue;
        }
        assert_eq!(head[0], b'*', "a command starts with *");
        let argc: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
        let mut args = Vec::new();
        for _ in 0..argc {
            let len: usize = std::str::from_utf8(&line(&mut data)[1..])
                .unwrap()
                .parse()
                .unwrap();
            args.push(data[..len].to_vec());
            data = &data[len + 2..];
        }
        out.push(args);
    }
    out
}

fn big_values(c: &mut RawConn) {
    // More than 64 elements: several commands per key.
    let mut args: Vec<String> = vec!["RPUSH".into(), "l200".into()];
    args.extend((0..200).map(|i| format!("e{i}")));
    c.cmd(&args);
    let mut args: Vec<String> = vec!["ZADD".into(), "z150".into()];
    for i in 0..150 {
        args.push(format!("{}.25", i));
        args.push(format!("m{i}"));
    }
    c.cmd(&args);
    c.cmds("ZADD zinf -inf low +inf high 0 mid");
    c.cmds("SET with-ttl v PX 100000000");
}

#[test]
fn bgrewriteaof_writes_a_command_base_that_redis_loads() {
    let args = [
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--aof-timestamp-enabled",
        "yes",
        "--enable-debug-command",
        "yes",
    ];
    let f = Server::start(&args);
    let mut c = f.raw();
    fill_mixed(&mut c, "");
    big_values(&mut c);
    c.cmds("CONFIG SET rdb-key-save-delay 2000");
    assert_eq!(
        c.cmds("BGREWRITEAOF"),
        Resp::Simple("Background append only file rewriting started".into())
    );
    // Written during the rewrite: the new incr file, on top of the base.
    c.cmds("SET during x");
    c.cmds("DEL str");
    c.cmds("RPUSH l200 tail");
    c.cmds("CONFIG SET rdb-key-save-delay 0");
    wait_rewrite_done(&mut c);
    let dir = aof_dir(&f);
    assert_eq!(
        std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap(),
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let base = std::fs::read(dir.join("appendonly.aof.2.base.aof")).unwrap();
    assert!(base.starts_with(b"#TS:"), "timestamp annotation first");
    let cmds = commands_of(&base);
    let names: std::collections::BTreeSet<String> = cmds
        .iter()
        .map(|a| String::from_utf8_lossy(&a[0]).into_owned())
        .collect();
    let expect: std::collections::BTreeSet<String> = [
        "SELECT",
        "SET",
        "RPUSH",
        "SADD",
        "ZADD",
        "HMSET",
        "PEXPIREAT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expect);
    // Batches of at most 64 elements, as Redis's AOF_REWRITE_ITEMS_PER_CMD.
    let l200: Vec<_> = cmds
        .iter()
        .filter(|a| a[0] == b"RPUSH" && a[1] == b"l200")
        .map(|a| a.len() - 2)
        .collect();
    assert_eq!(l200, vec![64, 64, 64, 8]);
    let z150: Vec<_> = cmds
        .iter()
        .filter(|a| a[0] == b"ZADD" && a[1] == b"z150")
        .map(|a| (a.len() - 2) / 2)
        .collect();
    assert_eq!(z150, vec![64, 64, 22]);
    assert!(cmds.iter().any(|a| a[0] == b"ZADD"
        && a[1] == b"zinf"
        && a[2..]
            == [
                b"-inf".to_vec(),
                b"low".to_vec(),
                b"0".to_vec(),
                b"mid".to_vec(),
                b"inf".to_vec(),
                b"high".to_vec()
            ]));
    // The image is the dataset when the rewrite started.
    assert!(cmds.iter().any(|a| a[0] == b"SET" && a[1] == b"str"));
    assert!(!cmds.iter().any(|a| a[1] == b"during"));
    assert_valid(&dir.join("appendonly.aof.manifest"));

    sigkill_then_load(f, c, &[assert_ferrodis_loads, assert_redis_loads]);
}

#[test]
fn config_set_appendonly_yes_with_a_command_base() {
    let f = Server::start(&[
        "--aof-use-rdb-preamble",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    let mut c = f.raw();
    fill_mixed(&mut c, "");
    big_values(&mut c);
    assert_eq!(
        c.cmds("CONFIG SET appendonly yes"),
        Resp::Simple("OK".into())
    );
    c.cmds("SET after-on 1");
    wait_rewrite_done(&mut c);
    c.cmds("SET after-rewrite 2");
    let dir = aof_dir(&f);
    assert_eq!(
        std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap(),
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert_valid(&dir.join("appendonly.aof.manifest"));
    sigkill_then_load(f, c, &[assert_redis_loads, assert_ferrodis_loads]);
}
