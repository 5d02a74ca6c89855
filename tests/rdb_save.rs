//! SAVE writes files the real Redis loads as the same dataset.
//!
//! ferrodis is filled with every type in every encoding (with expiries, over several
//! databases), saves, and then `redis-check-rdb` must accept the file and redis-server 7.0.15
//! must load it with each key's type, encoding, content and expiry intact; `DEBUG DIGEST`
//! (which both servers compute with Redis's algorithm) must agree for the whole dataset and
//! `DEBUG DIGEST-VALUE` for every key. A second run saves with `rdbcompression no` and
//! `rdbchecksum no`: no LZF payloads, and a zero checksum trailer that loaders skip.

mod common;

use std::path::Path;
use std::process::Command;

use common::{RedisServer, Server, TempDir};
use redis::Connection;

/// Absolute expiry used for volatile keys (2100-01-01), so both servers report the same
/// PEXPIRETIME.
const FAR_FUTURE_MS: u64 = 4_102_444_800_000;

/// A long, very compressible string: LZF-compressed in the file when rdbcompression is on.
fn compressible() -> Vec<u8> {
    b"ferrodis-compressible-".repeat(60)
}

fn run<T: redis::FromRedisValue>(con: &mut Connection, args: &[&[u8]]) -> T {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).expect("ascii command"));
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| {
        panic!(
            "{}: {e}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        )
    })
}

fn exec(con: &mut Connection, args: &[&[u8]]) {
    let _: redis::Value = run(con, args);
}

/// A command with many generated arguments.
fn exec_many(con: &mut Connection, head: &[&[u8]], rest: &[Vec<u8>]) {
    let mut args: Vec<&[u8]> = head.to_vec();
    args.extend(rest.iter().map(|a| a.as_slice()));
    exec(con, &args);
}

fn strs(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect()
}

/// Every type and encoding, spread over databases 0, 3 and 15, some keys volatile.
fn fill(con: &mut Connection) {
    let far = FAR_FUTURE_MS.to_string();
    let far = far.as_bytes();
    exec(con, &[b"SELECT", b"0"]);
    // Strings: int (8, 16, 32, 64 bit), embstr, raw, appended raw, binary, compressible.
    exec(con, &[b"SET", b"s:int8", b"-7"]);
    exec(con, &[b"SET", b"s:int16", b"1000"]);
    exec(con, &[b"SET", b"s:int32", b"-2147483648"]);
    exec(con, &[b"SET", b"s:int64", b"9223372036854775807"]);
    exec(con, &[b"SET", b"s:embstr", b"hello world"]);
    exec(con, &[b"SET", b"s:empty", b""]);
    exec(con, &[b"SET", b"s:leading-zero", b"007"]);
    exec(con, &[b"SET", b"s:raw", &[b'r'; 45]]);
    exec(con, &[b"SET", b"s:compressible", &compressible()]);
    let noise: Vec<u8> = (0..500u32).map(|i| (i * 7919 % 251) as u8).collect();
    exec(con, &[b"SET", b"s:noise", &noise]);
    exec(con, &[b"SET", b"s:append", b"abc"]);
    exec(con, &[b"APPEND", b"s:append", b"def"]);
    exec(con, &[b"SET", b"s:binary", b"\x00\xff\r\n\x01"]);
    exec(con, &[b"SET", b"s:volatile", b"v", b"PXAT", far]);
    exec(con, &[b"SET", b"12345", b"integer-looking key"]);
    exec(con, &[b"SET", &b"long key ".repeat(10), b"x"]);
    // Lists: one node, and many nodes of compressible listpacks.
    exec(
        con,
        &[
            b"RPUSH",
            b"l:small",
            b"a",
            b"1",
            b"-20000",
            b"",
            &[b'z'; 100],
        ],
    );
    exec_many(con, &[b"RPUSH", b"l:long"], &strs("list element ", 3000));
    exec(con, &[b"LPUSH", b"l:long", b"head"]);
    exec(con, &[b"PEXPIREAT", b"l:long", far]);

    exec(con, &[b"SELECT", b"3"]);
    // Hashes: listpack, and hashtable by size and by value length.
    exec(
        con,
        &[
            b"HSET", b"h:lp", b"f", b"v", b"n", b"12", b"neg", b"-300000", b"e", b"",
        ],
    );
    let mut fv = Vec::new();
    for i in 0..700 {
        fv.push(format!("field:{i}").into_bytes());
        fv.push(format!("value {i}").into_bytes());
    }
    exec_many(con, &[b"HSET", b"h:table"], &fv);
    exec(
        con,
        &[b"HSET", b"h:longval", b"f", &[b'x'; 100], b"g", b"1"],
    );
    exec(con, &[b"PEXPIREAT", b"h:longval", far]);
    // Sets: intsets of each width, hashtable by content and by size.
    exec(con, &[b"SADD", b"set:i16", b"1", b"-2", b"300"]);
    exec(con, &[b"SADD", b"set:i32", b"1", b"70000", b"-70000"]);
    exec(
        con,
        &[b"SADD", b"set:i64", b"1", b"5000000000", b"-5000000000"],
    );
    exec(
        con,
        &[b"SADD", b"set:strings", b"x", b"y", b"10", &[b'k'; 80]],
    );
    let ints: Vec<Vec<u8>> = (0..600).map(|i: i32| i.to_string().into_bytes()).collect();
    exec_many(con, &[b"SADD", b"set:many-ints"], &ints);
    exec(con, &[b"PEXPIREAT", b"set:i64", far]);

    exec(con, &[b"SELECT", b"15"]);
    // Sorted sets: listpack (integer, fractional and infinite scores), skiplist by size and
    // by member length.
    exec(
        con,
        &[
            b"ZADD", b"z:lp", b"1.5", b"a", b"-0", b"negzero", b"2", b"two", b"inf", b"top",
            b"-inf", b"bottom", b"0.1", b"tenth", b"1e300", b"huge", b"-3", b"7",
        ],
    );
    let mut sm = Vec::new();
    for i in 0..300 {
        sm.push(format!("{}", i as f64 * 0.25 - 30.0).into_bytes());
        sm.push(format!("member:{i}").into_bytes());
    }
    exec_many(con, &[b"ZADD", b"z:skiplist"], &sm);
    exec(
        con,
        &[
            b"ZADD",
            b"z:longmember",
            b"1",
            &[b'm'; 100],
            b"-0",
            b"z",
            b"inf",
            b"i",
            b"0.3",
            b"p",
        ],
    );
    exec(con, &[b"PEXPIREAT", b"z:skiplist", far]);
}

fn keys(con: &mut Connection) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = run(con, &[b"KEYS", b"*"]);
    k.sort();
    k
}

/// A key's content in a comparable form: hashtable-encoded hashes and all sets sorted
/// (their order is the table's), everything else in reply order.
fn content(con: &mut Connection, key: &[u8], kind: &str, encoding: &str) -> Vec<Vec<u8>> {
    match kind {
        "string" => vec![run(con, &[b"GET", key])],
        "list" => run(con, &[b"LRANGE", key, b"0", b"-1"]),
        "hash" => {
            let flat: Vec<Vec<u8>> = run(con, &[b"HGETALL", key]);
            if encoding == "listpack" {
                return flat;
            }
            let mut pairs: Vec<Vec<u8>> = flat
                .chunks(2)
                .map(|p| [&p[0][..], b"=", &p[1][..]].concat())
                .collect();
            pairs.sort();
            pairs
        }
        "set" => {
            let mut m: Vec<Vec<u8>> = run(con, &[b"SMEMBERS", key]);
            m.sort();
            m
        }
        "zset" => run(con, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]),
        other => panic!("unexpected type {other}"),
    }
}

/// The encoding a loaded string gets from its bytes alone (Redis's `tryObjectEncoding`): a
/// string that was "raw" after APPEND is "embstr" once reloaded, in Redis as here.
fn loaded_string_encoding(v: &[u8]) -> &'static str {
    let canonical_int = v.len() <= 20
        && std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_some_and(|n| n.to_string().as_bytes() == v);
    if canonical_int {
        "int"
    } else if v.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// Asserts both servers hold the same dataset, key by key.
fn assert_same_dataset(ferro: &mut Connection, redis: &mut Connection) {
    let mut total = 0;
    for db in 0..16 {
        let db = db.to_string();
        exec(ferro, &[b"SELECT", db.as_bytes()]);
        exec(redis, &[b"SELECT", db.as_bytes()]);
        let fk = keys(ferro);
        assert_eq!(fk, keys(redis), "keys of db {db}");
        total += fk.len();
        for key in &fk {
            let name = String::from_utf8_lossy(key);
            let q = |con: &mut Connection, args: &[&[u8]]| -> redis::Value { run(con, args) };
            for probe in [
                &[&b"TYPE"[..], key][..],
                &[b"PEXPIRETIME", key],
                &[b"DEBUG", b"DIGEST-VALUE", key],
            ] {
                assert_eq!(
                    q(ferro, probe),
                    q(redis, probe),
                    "{name}: {:?}",
                    String::from_utf8_lossy(probe[0])
                );
            }
            let kind: String = run(ferro, &[b"TYPE", key]);
            let enc: String = run(ferro, &[b"OBJECT", b"ENCODING", key]);
            let loaded_enc: String = run(redis, &[b"OBJECT", b"ENCODING", key]);
            let want_enc = if kind == "string" {
                let v: Vec<u8> = run(ferro, &[b"GET", key]);
                loaded_string_encoding(&v)
            } else {
                enc.as_str()
            };
            assert_eq!(loaded_enc, want_enc, "{name}: encoding");
            assert_eq!(
                content(ferro, key, &kind, &enc),
                content(redis, key, &kind, &enc),
                "{name}: content"
            );
        }
    }
    assert_eq!(total, 28, "every key filled is there");
    let fd: String = run(ferro, &[b"DEBUG", b"DIGEST"]);
    let rd: String = run(redis, &[b"DEBUG", b"DIGEST"]);
    assert_eq!(fd, rd, "DEBUG DIGEST");
    assert_ne!(fd, "0".repeat(40));
}

fn check_rdb(path: &Path) -> String {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb must be installed (it ships with redis-server)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb rejected {}:\n{text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Fills ferrodis (started with `args`), saves, and loads the file into redis-server.
/// Returns the file's bytes.
fn save_and_load_in_redis(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--enable-debug-command", "yes"];
    all.extend_from_slice(args);
    let ferro = Server::start(&all);
    let mut fc = ferro.client();
    fill(&mut fc);
    exec(&mut fc, &[b"SAVE"]);
    let file = ferro.dir().join("dump.rdb");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    check_rdb(&file);

    let dir = TempDir::new("rdb-save-load");
    std::fs::write(dir.path().join("dump.rdb"), &bytes).expect("copy dump.rdb");
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let redis = RedisServer::start(&[
        "--enable-debug-command",
        "yes",
        "--dir",
        &dir_arg,
        "--dbfilename",
        "dump.rdb",
    ]);
    let mut rc = redis.client();
    assert_same_dataset(&mut fc, &mut rc);
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn redis_loads_what_save_writes() {
    let bytes = save_and_load_in_redis(&[]);
    assert_eq!(&bytes[..9], b"REDIS0010");
    // The trailer is the CRC-64 of everything before it.
    let body = &bytes[..bytes.len() - 8];
    let mut crc = ferrodis::persistence::rdb::Crc64::new();
    crc.update(body);
    assert_eq!(bytes[bytes.len() - 8..], crc.value().to_le_bytes());
    // The long repetitive string went through LZF.
    assert!(!contains(&bytes, &compressible()));
}

#[test]
fn redis_loads_uncompressed_unchecksummed_save() {
    let bytes = save_and_load_in_redis(&["--rdbcompression", "no", "--rdbchecksum", "no"]);
    assert_eq!(
        bytes[bytes.len() - 9],
        0xff,
        "EOF opcode before the trailer"
    );
    assert_eq!(bytes[bytes.len() - 8..], [0u8; 8], "no checksum");
    assert!(contains(&bytes, &compressible()), "stored raw");
}

/// Skips one RDB string (as AUX fields hold them: raw or int-encoded).
fn skip_string(b: &[u8], p: &mut usize) {
    let first = b[*p];
    *p += 1;
    *p += match first >> 6 {
        0 => (first & 0x3f) as usize,
        1 => {
            *p += 1;
            (((first & 0x3f) as usize) << 8) | b[*p - 1] as usize
        }
        3 => match first & 0x3f {
            0 => 1,
            1 => 2,
            2 => 4,
            e => panic!("unexpected string encoding {e} in an AUX field"),
        },
        _ => panic!("unexpected length byte {first:#x} in an AUX field"),
    };
}

/// The part of a file after its AUX fields and before its checksum: what must be equal
/// when the data is (the AUX fields hold times and memory figures).
fn body(b: &[u8]) -> &[u8] {
    let mut p = 9;
    while b[p] == 0xfa {
        p += 1;
        skip_string(b, &mut p);
        skip_string(b, &mut p);
    }
    &b[p..b.len() - 8]
}

/// The AUX field names of a file, in order.
fn aux_names(b: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut p = 9;
    while b[p] == 0xfa {
        p += 1;
        let start = p;
        skip_string(b, &mut p);
        names.push(String::from_utf8_lossy(&b[start + 1..p]).into_owned());
        skip_string(b, &mut p);
    }
    names
}

/// With one key per database (so no table order is involved) and compression off (our LZF
/// output differs from liblzf's), SAVE writes exactly the bytes Redis's SAVE writes.
#[test]
fn save_matches_redis_byte_for_byte() {
    let far = FAR_FUTURE_MS.to_string();
    let noise: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let elems = strs("element ", 200);
    let script: Vec<Vec<Vec<u8>>> = vec![
        vec![
            b"SET".into(),
            b"k".into(),
            b"v".into(),
            b"PXAT".into(),
            far.clone().into(),
        ],
        vec![b"SELECT".into(), b"1".into()],
        vec![
            b"HSET".into(),
            b"h".into(),
            b"f".into(),
            b"1".into(),
            b"g".into(),
            b"text".into(),
        ],
        vec![b"SELECT".into(), b"2".into()],
        [vec![b"RPUSH".to_vec(), b"l".to_vec()], elems].concat(),
        vec![b"SELECT".into(), b"3".into()],
        vec![
            b"SADD".into(),
            b"s".into(),
            b"3".into(),
            b"-70000".into(),
            b"1".into(),
        ],
        vec![b"SELECT".into(), b"4".into()],
        vec![
            b"ZADD".into(),
            b"z".into(),
            b"1.5".into(),
            b"a".into(),
            b"-2".into(),
            b"b".into(),
            b"inf".into(),
            b"c".into(),
            b"0.1".into(),
            b"d".into(),
        ],
        vec![b"SELECT".into(), b"5".into()],
        vec![b"SET".into(), b"noise".into(), noise],
        vec![b"SELECT".into(), b"6".into()],
        vec![b"SET".into(), b"n".into(), b"123456".into()],
        vec![b"SELECT".into(), b"7".into()],
        vec![b"SET".into(), b"s".into(), vec![b'a'; 100]],
        vec![b"SAVE".into()],
    ];
    let args = ["--rdbcompression", "no"];
    let ferro = Server::start(&args);
    let redis = RedisServer::start(&args);
    let mut files = Vec::new();
    for srv in [&ferro, &redis] {
        let mut con = srv.client();
        for cmd in &script {
            let a: Vec<&[u8]> = cmd.iter().map(|x| x.as_slice()).collect();
            exec(&mut con, &a);
        }
        files.push(std::fs::read(srv.dir().join("dump.rdb")).expect("dump.rdb"));
    }
    assert_eq!(files[0][..9], files[1][..9]);
    assert_eq!(aux_names(&files[0]), aux_names(&files[1]));
    let (ours, theirs) = (body(&files[0]), body(&files[1]));
    if ours != theirs {
        let at = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
        panic!(
            "files differ at body offset {at} ({} vs {} bytes):\n ours  {:?}\n redis {:?}",
            ours.len(),
            theirs.len(),
            &ours[at.saturating_sub(8)..(at + 24).min(ours.len())],
            &theirs[at.saturating_sub(8)..(at + 24).min(theirs.len())]
        );
    }
}
