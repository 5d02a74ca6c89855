//! Loading RDB files written by older Redis versions, judged against the real Redis.
//!
//! tests/fixtures/rdb/gen_legacy.py writes one file per RDB version / encoding family
//! (versions 1 to 11: plain types, zipmaps, ziplists, intsets, quicklists, listpacks, both
//! kinds of expiry, checksums present, zeroed or absent). Each test copies one file into a
//! fresh directory for redis-server 7.0.15 and another for ferrodis, lets both load it at
//! startup, and compares every database: DBSIZE, every key's TYPE, content, OBJECT ENCODING,
//! absolute expiry and DEBUG DIGEST-VALUE, then DEBUG DIGEST. Keys named `expired:*` carry
//! an expiry in the past: a master drops them while loading, so neither server may have them.
//!
//! Redis 7.0 cannot read version 11 (Redis 7.2's format), so for `v11_set_listpack.rdb` the
//! reference server loads `v11_set_listpack.oracle.rdb`, the same data written as version 10.
//!
//! Every fixture is then loaded again by both servers with tiny encoding limits (so loading
//! converts listpacks, intsets and ziplists to tables where Redis does), and once more by
//! ferrodis with `sanitize-dump-payload yes` (deep validation of compact encodings), which
//! must accept it and give the same digest.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{RawConn, Resp, Server, TempDir};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rdb")
}

/// A server started on a private copy of an RDB file. The server is declared first so it
/// stops before its data directory is removed.
struct Loaded {
    server: Server,
    _data: TempDir,
}

fn load(redis: bool, file: &Path, extra: &[&str]) -> Loaded {
    let data = TempDir::new("rdb-legacy-data");
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("fixture file name");
    std::fs::copy(file, data.path().join(name))
        .unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
    let dir = data.path().to_string_lossy().into_owned();
    let mut args = vec![
        "--dir",
        dir.as_str(),
        "--dbfilename",
        name,
        "--enable-debug-command",
        "yes",
    ];
    args.extend_from_slice(extra);
    let server = if redis {
        common::RedisServer::start(&args)
    } else {
        Server::start(&args)
    };
    Loaded {
        server,
        _data: data,
    }
}

/// What one key looks like from the outside.
#[derive(Debug, PartialEq)]
struct KeyView {
    kind: String,
    encoding: String,
    /// GET / LRANGE / sorted SMEMBERS / HGETALL sorted by field / ZRANGE WITHSCORES.
    content: Vec<Vec<u8>>,
    /// PEXPIRETIME: -1 without expiry.
    expire_at: i64,
    digest: Vec<u8>,
}

fn bulk_items(r: &Resp) -> Vec<Vec<u8>> {
    r.array()
        .iter()
        .map(|i| match i {
            Resp::Bulk(b) => b.clone(),
            other => format!("{other:?}").into_bytes(),
        })
        .collect()
}

fn key_view(c: &mut RawConn, key: &[u8]) -> KeyView {
    let kind = c.cmd(&[b"TYPE".as_slice(), key]).text();
    let encoding = c.cmd(&[b"OBJECT".as_slice(), b"ENCODING", key]).text();
    let content = match kind.as_str() {
        "string" => match c.cmd(&[b"GET".as_slice(), key]) {
            Resp::Bulk(b) => vec![b],
            other => vec![format!("{other:?}").into_bytes()],
        },
        "list" => bulk_items(&c.cmd(&[b"LRANGE".as_slice(), key, b"0", b"-1"])),
        "set" => {
            let mut v = bulk_items(&c.cmd(&[b"SMEMBERS".as_slice(), key]));
            v.sort();
            v
        }
        "hash" => {
            let flat = bulk_items(&c.cmd(&[b"HGETALL".as_slice(), key]));
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = flat
                .chunks(2)
                .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
                .collect();
            pairs.sort();
            pairs.into_iter().flat_map(|(f, v)| [f, v]).collect()
        }
        "zset" => bulk_items(&c.cmd(&[b"ZRANGE".as_slice(), key, b"0", b"-1", b"WITHSCORES"])),
        _ => Vec::new(),
    };
    let expire_at = c.cmd(&[b"PEXPIRETIME".as_slice(), key]).int();
    let digest = c
        .cmd(&[b"DEBUG".as_slice(), b"DIGEST-VALUE", key])
        .array()
        .first()
        .and_then(|d| d.bytes().map(<[u8]>::to_vec))
        .unwrap_or_default();
    KeyView {
        kind,
        encoding,
        content,
        expire_at,
        digest,
    }
}

/// Every key of database `db`, by name.
fn db_view(c: &mut RawConn, db: usize) -> (i64, BTreeMap<Vec<u8>, KeyView>) {
    let sel = c.cmd(&["SELECT", db.to_string().as_str()]);
    assert_eq!(sel, Resp::Simple(b"OK".to_vec()), "SELECT {db}");
    let size = c.cmds("DBSIZE").int();
    let keys = bulk_items(&c.cmds("KEYS *"));
    let mut out = BTreeMap::new();
    for k in keys {
        let v = key_view(c, &k);
        out.insert(k, v);
    }
    (size, out)
}

fn show_key(k: &[u8]) -> String {
    common::show(k)
}

/// A short rendering of content for failure messages.
fn show_content(c: &[Vec<u8>]) -> String {
    let items: Vec<String> = c.iter().take(12).map(|i| common::show(i)).collect();
    let more = if c.len() > 12 {
        format!(" ... ({} items)", c.len())
    } else {
        String::new()
    };
    format!("[{}]{more}", items.join(", "))
}

/// Compares every database of the two servers; returns the differences found.
fn compare(redis: &Server, ferro: &Server) -> Vec<String> {
    let mut problems = Vec::new();
    let mut r = redis.raw();
    let mut f = ferro.raw();
    let mut total = 0;
    for db in 0..16 {
        let (rsize, rkeys) = db_view(&mut r, db);
        let (fsize, fkeys) = db_view(&mut f, db);
        total += rsize;
        if rsize != fsize {
            problems.push(format!("db{db}: DBSIZE redis {rsize}, ferrodis {fsize}"));
        }
        for (k, rv) in &rkeys {
            let Some(fv) = fkeys.get(k) else {
                problems.push(format!("db{db}: key {} missing in ferrodis", show_key(k)));
                continue;
            };
            let key = show_key(k);
            if rv.kind != fv.kind {
                problems.push(format!(
                    "db{db} {key}: TYPE redis {}, ferrodis {}",
                    rv.kind, fv.kind
                ));
                continue;
            }
            if rv.encoding != fv.encoding {
                problems.push(format!(
                    "db{db} {key}: OBJECT ENCODING redis {}, ferrodis {}",
                    rv.encoding, fv.encoding
                ));
            }
            if rv.content != fv.content {
                problems.push(format!(
                    "db{db} {key}: content differs\n  redis    {}\n  ferrodis {}",
                    show_content(&rv.content),
                    show_content(&fv.content)
                ));
            }
            let expiry_ok = if rv.expire_at < 0 || fv.expire_at < 0 {
                rv.expire_at == fv.expire_at
            } else {
                (rv.expire_at - fv.expire_at).abs() <= 1000
            };
            if !expiry_ok {
                problems.push(format!(
                    "db{db} {key}: PEXPIRETIME redis {}, ferrodis {}",
                    rv.expire_at, fv.expire_at
                ));
            }
            if rv.digest != fv.digest {
                problems.push(format!(
                    "db{db} {key}: DEBUG DIGEST-VALUE redis {}, ferrodis {}",
                    common::show(&rv.digest),
                    common::show(&fv.digest)
                ));
            }
        }
        for k in fkeys.keys() {
            if !rkeys.contains_key(k) {
                problems.push(format!(
                    "db{db}: key {} exists in ferrodis only",
                    show_key(k)
                ));
            }
        }
        for (who, keys) in [("redis", &rkeys), ("ferrodis", &fkeys)] {
            for k in keys.keys().filter(|k| k.starts_with(b"expired:")) {
                problems.push(format!(
                    "db{db}: {who} kept the already-expired key {}",
                    show_key(k)
                ));
            }
        }
    }
    assert!(total > 0, "the reference server loaded no keys at all");
    let rd = r.cmds("DEBUG DIGEST");
    let fd = f.cmds("DEBUG DIGEST");
    if rd != fd {
        problems.push(format!(
            "DEBUG DIGEST redis {}, ferrodis {}",
            rd.text(),
            fd.text()
        ));
    }
    problems
}

/// Encoding limits small enough that most compact values of the fixtures convert on load.
const SMALL_LIMITS: &[&str] = &[
    "--hash-max-listpack-entries",
    "4",
    "--hash-max-listpack-value",
    "8",
    "--zset-max-listpack-entries",
    "4",
    "--zset-max-listpack-value",
    "8",
    "--set-max-intset-entries",
    "4",
    "--list-max-listpack-size",
    "4",
];

fn check_fixture(name: &str) {
    let dir = fixtures_dir();
    let file = dir.join(name);
    let oracle = dir.join(name.replace(".rdb", ".oracle.rdb"));
    let oracle = if oracle.exists() {
        oracle
    } else {
        file.clone()
    };
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    assert!(
        bytes.windows(8).any(|w| w == b"expired:"),
        "{name}: every fixture should hold an already-expired key"
    );

    let redis = load(true, &oracle, &[]);
    let ferro = load(false, &file, &[]);
    let mut problems = compare(&redis.server, &ferro.server);

    // Tiny encoding limits: loading converts what the defaults keep compact, and must do
    // it exactly where Redis does.
    let redis_small = load(true, &oracle, SMALL_LIMITS);
    let ferro_small = load(false, &file, SMALL_LIMITS);
    for p in compare(&redis_small.server, &ferro_small.server) {
        problems.push(format!("with {}: {p}", SMALL_LIMITS.join(" ")));
    }
    drop((redis_small, ferro_small));

    // Deep sanitization must accept every valid file and load the same data.
    let deep = load(false, &file, &["--sanitize-dump-payload", "yes"]);
    let rd = redis.server.raw().cmds("DEBUG DIGEST");
    let dd = deep.server.raw().cmds("DEBUG DIGEST");
    if rd != dd {
        problems.push(format!(
            "with sanitize-dump-payload yes: DEBUG DIGEST redis {}, ferrodis {}",
            rd.text(),
            dd.text()
        ));
    }

    assert!(
        problems.is_empty(),
        "{name}: ferrodis loaded it differently from redis-server ({} differences):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

macro_rules! fixture_tests {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($file);
            }
        )*

        const FIXTURES: &[&str] = &[$($file),*];
    };
}

fixture_tests! {
    v1_plain_types => "v1_plain_types.rdb",
    v2_encoded_types => "v2_encoded_types.rdb",
    v3_expire_ms => "v3_expire_ms.rdb",
    v4_hash_ziplist => "v4_hash_ziplist.rdb",
    v5_checksum => "v5_checksum.rdb",
    v6_redis28 => "v6_redis28.rdb",
    v6_no_checksum => "v6_no_checksum.rdb",
    v7_quicklist => "v7_quicklist.rdb",
    v8_zset2 => "v8_zset2.rdb",
    v9_redis5 => "v9_redis5.rdb",
    v9_edge_cases => "v9_edge_cases.rdb",
    v9_empty_keys => "v9_empty_keys.rdb",
    v10_listpack => "v10_listpack.rdb",
    v11_set_listpack => "v11_set_listpack.rdb",
}

/// Every fixture file on disk has a test above (or is an oracle companion).
#[test]
fn every_fixture_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("read fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rdb") && !n.ends_with(".oracle.rdb"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// The committed files are exactly what the script writes (it is deterministic), so a
/// change to the script must come with regenerated files.
#[test]
fn fixtures_match_the_generator() {
    let out = TempDir::new("rdb-gen");
    let status = Command::new("python3")
        .arg(fixtures_dir().join("gen_legacy.py"))
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("python3 is needed to check the RDB fixtures: {e}"));
    assert!(status.success(), "gen_legacy.py failed: {status}");
    let mut generated = 0;
    for entry in std::fs::read_dir(out.path()).expect("read generated dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let fresh = std::fs::read(entry.path()).expect("read generated file");
        let committed = std::fs::read(fixtures_dir().join(&name))
            .unwrap_or_else(|e| panic!("{name} is generated but not committed: {e}"));
        assert!(
            fresh == committed,
            "{name} differs from what gen_legacy.py writes: rerun `python3 tests/fixtures/rdb/gen_legacy.py`"
        );
        generated += 1;
    }
    assert_eq!(
        generated,
        FIXTURES.len() + 1,
        "one oracle companion expected"
    );
}
