//! The command form of an AOF base (`<appendfilename>.<n>.base.aof`, written when
//! `aof-use-rdb-preamble no`): the dataset as the commands that rebuild it, in Redis 7.0's
//! `rewriteAppendOnlyFileRio` shape, so that Redis loads it and `redis-check-aof` accepts it.
//!
//! Per database a `SELECT <db>`, then per key: `SET` for a string; `RPUSH`, `SADD`, `ZADD`
//! (score as `%.17g`) and `HMSET` for the collections, at most `ITEMS_PER_CMD` elements per
//! command (Redis's AOF_REWRITE_ITEMS_PER_CMD); then `PEXPIREAT <ms>` for a key with a TTL.
//! With `aof-timestamp-enabled` the file starts with a `#TS:` annotation, as Redis's does.
//!
//! The encoder is the fork-free snapshot's serializer for a rewrite in this form (see
//! `save::start_to_file_with`): [`serialize_entry`] turns one entry into its commands and
//! [`frame`] writes the `SELECT` the snapshot frames each database's output with, so the file
//! is produced by the same walk and pre-mutation hook as an RDB base. A key's commands are
//! emitted in one piece, and the `SELECT` before any key of another database, so the order in
//! which the walk and the hook visit keys does not matter.

use std::io::{self, Write};

use crate::db::elem::Elem;
use crate::db::{Entry, Value};
use crate::executor::state::State;
use crate::persistence::snapshot::{SnapshotOptions, CHUNK};

/// Elements per variadic command (Redis's AOF_REWRITE_ITEMS_PER_CMD).
pub const ITEMS_PER_CMD: usize = 64;

fn count(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    count(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn bulk_int(out: &mut Vec<u8>, n: i64) {
    bulk(out, itoa::Buffer::new().format(n).as_bytes());
}

fn bulk_elem(out: &mut Vec<u8>, e: &Elem) {
    match *e {
        Elem::Bytes(b) => bulk(out, b),
        Elem::Int(n) => bulk_int(out, n),
    }
}

/// The header of a variadic command for the next batch of at most `ITEMS_PER_CMD` of the
/// `left` elements (each `per_item` arguments).
fn batch_header(out: &mut Vec<u8>, name: &[u8], key: &[u8], left: usize, per_item: usize) {
    count(out, b'*', 2 + left.min(ITEMS_PER_CMD) * per_item);
    bulk(out, name);
    bulk(out, key);
}

/// A score as Redis's rewrite writes it (`%.17g`: "inf" and "-inf" for the infinities).
fn score_text(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    crate::protocol::reply::format_g17(score)
}

/// Emits `items` as `name key item...` commands of at most `ITEMS_PER_CMD` items.
fn variadic<I, F>(
    out: &mut Vec<u8>,
    name: &[u8],
    key: &[u8],
    len: usize,
    per_item: usize,
    items: I,
    mut emit: F,
) where
    I: Iterator,
    F: FnMut(&mut Vec<u8>, I::Item),
{
    let mut left = len;
    let mut in_cmd = 0;
    for item in items {
        if in_cmd == 0 {
            batch_header(out, name, key, left, per_item);
        }
        emit(out, item);
        left = left.saturating_sub(1);
        in_cmd += 1;
        if in_cmd == ITEMS_PER_CMD {
            in_cmd = 0;
        }
    }
}

/// One entry as the commands that rebuild it (the snapshot's serializer for a command-form
/// base; the options only matter to the RDB form).
pub fn serialize_entry(out: &mut Vec<u8>, e: &Entry, _opts: &SnapshotOptions) {
    write_entry(out, e.key.as_bytes(), &e.value, e.expire_at);
}

/// The commands for `key` holding `value`, expiring at `expire_at` (Unix ms, 0: never).
pub fn write_entry(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_at: u64) {
    match value {
        Value::List(l) => variadic(out, b"RPUSH", key, l.len(), 1, l.iter(), |o, e| {
            bulk_elem(o, &e)
        }),
        Value::Set(s) => variadic(out, b"SADD", key, s.len(), 1, s.iter(), |o, e| {
            bulk_elem(o, &e)
        }),
        Value::ZSet(z) => variadic(out, b"ZADD", key, z.len(), 2, z.iter(), |o, (m, score)| {
            bulk(o, score_text(score).as_bytes());
            bulk_elem(o, &m);
        }),
        Value::Hash(h) => variadic(out, b"HMSET", key, h.len(), 2, h.iter(), |o, (f, v)| {
            bulk_elem(o, &f);
            bulk_elem(o, &v);
        }),
        other => {
            // A string (every other variant is one of its encodings).
            let Some(mut s) = other.as_str() else {
                return;
            };
            out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
            bulk(out, key);
            bulk(out, s.bytes());
        }
    }
    if expire_at != 0 {
        out.extend_from_slice(b"*3\r\n$9\r\nPEXPIREAT\r\n");
        bulk(out, key);
        bulk_int(out, expire_at as i64);
    }
}

/// The snapshot's database framing in command form: `SELECT <db>`.
pub fn frame(out: &mut Vec<u8>, db: u64, _size: u64, _expires: u64, _resize: bool) {
    out.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n");
    bulk_int(out, db as i64);
}

/// What a command-form base starts with: the `#TS:` annotation when timestamps are on
/// (Redis's rewrite writes one first), then `extra` (the replication annotation).
pub fn header(state: &State, extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if state.cfg.aof_timestamp_enabled {
        out.extend_from_slice(format!("#TS:{}\r\n", crate::util::now_ms() / 1000).as_bytes());
    }
    out.extend_from_slice(extra);
    out
}

/// Writes the whole dataset in command form after `head`, on this thread (a base created
/// at startup).
pub fn write_all(state: &State, out: &mut impl Write, head: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK * 2);
    buf.extend_from_slice(head);
    for db in &state.dbs {
        if db.is_empty() {
            continue;
        }
        frame(&mut buf, db.id as u64, 0, 0, false);
        let mut err = None;
        db.dict().for_each(|e| {
            if err.is_some() {
                return;
            }
            write_entry(&mut buf, e.key.as_bytes(), &e.value, e.expire_at);
            if buf.len() >= CHUNK {
                if let Err(e) = out.write_all(&buf) {
                    err = Some(e);
                }
                buf.clear();
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    out.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::test_support::{resp, run, setup};

    fn encode_key(exec: &crate::executor::Executor, key: &str) -> String {
        let e = exec.state.dbs[0].get(key.as_bytes()).expect("key exists");
        let mut out = Vec::new();
        write_entry(&mut out, e.key.as_bytes(), &e.value, e.expire_at);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_type_in_redis_rewrite_form() {
        let (mut exec, c) = setup();
        run(
            &mut exec,
            c,
            &[
                &["SET", "s", "hello"],
                &["SET", "n", "12345"],
                &["RPUSH", "l", "a", "1", "b"],
                &["SADD", "is", "3", "1", "2"],
                &["ZADD", "z", "1.5", "a", "-inf", "b", "3", "c"],
                &["HSET", "h", "f", "v"],
                &["SET", "t", "v"],
                &["PEXPIREAT", "t", "99999999999999"],
            ],
        );
        assert_eq!(encode_key(&exec, "s"), resp(&["SET", "s", "hello"]));
        assert_eq!(encode_key(&exec, "n"), resp(&["SET", "n", "12345"]));
        assert_eq!(encode_key(&exec, "l"), resp(&["RPUSH", "l", "a", "1", "b"]));
        assert_eq!(
            encode_key(&exec, "is"),
            resp(&["SADD", "is", "1", "2", "3"])
        );
        assert_eq!(
            encode_key(&exec, "z"),
            resp(&["ZADD", "z", "-inf", "b", "1.5", "a", "3", "c"])
        );
        assert_eq!(encode_key(&exec, "h"), resp(&["HMSET", "h", "f", "v"]));
        assert_eq!(
            encode_key(&exec, "t"),
            resp(&["SET", "t", "v"]) + &resp(&["PEXPIREAT", "t", "99999999999999"])
        );
    }

    #[test]
    fn large_collections_are_split_in_batches_of_64() {
        let (mut exec, c) = setup();
        let items: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
        let mut cmd: Vec<&str> = vec!["RPUSH", "big"];
        cmd.extend(items.iter().map(String::as_str));
        run(&mut exec, c, &[&cmd]);
        let text = encode_key(&exec, "big");
        let mut expect = String::new();
        for chunk in items.chunks(ITEMS_PER_CMD) {
            let mut args = vec!["RPUSH", "big"];
            args.extend(chunk.iter().map(String::as_str));
            expect += &resp(&args);
        }
        assert_eq!(text, expect);
    }

    #[test]
    fn frame_selects_the_database() {
        let mut out = Vec::new();
        frame(&mut out, 12, 5, 0, true);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n");
    }
}
