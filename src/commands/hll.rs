//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! The representation lives in `db::hll`; this file is Redis 7.0's command layer on top of
//! it, including its side effects: every command that touches an HLL first turns the
//! string into its "raw" encoding (Redis's `dbUnshareStringValue`), and a single-key
//! PFCOUNT that recomputes the cached cardinality writes it back into the string, counts as
//! a change (dirty, WATCH) and is propagated as itself, although PFCOUNT is not flagged as
//! a write, so that replicas hold the same bytes.

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::keys::notify_new;
use crate::commands::{spec, CommandSpec, Ctx, WRONGTYPE};
use crate::db::hll::{self, INVALID_HLL_ERR, NOT_HLL_ERR, REGISTERS};
use crate::db::Value;
use crate::executor::state::notify;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    spec!("pfadd", -2, WRITE | DENYOOM | FAST, [1, 1, 1], pfadd, "hyperloglog", "2.8.9",
        "Adds the specified elements to the specified HyperLogLog.",
        "O(1) to add every element."),
    spec!("pfcount", -2, READONLY, [1, -1, 1], pfcount, "hyperloglog", "2.8.9",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."),
    spec!("pfmerge", -2, WRITE | DENYOOM, [1, -1, 1], pfmerge, "hyperloglog", "2.8.9",
        "Merge N different HyperLogLogs into a single one.",
        "O(N) to merge N HyperLogLogs, but with high constant times."),
    spec!("pfdebug", 3, WRITE | DENYOOM | ADMIN, [2, 2, 1], pfdebug, "hyperloglog", "2.8.9",
        "Internal commands for debugging HyperLogLog values", "N/A"),
    spec!("pfselftest", 1, ADMIN, [0, 0, 0], pfselftest, "hyperloglog", "2.8.9",
        "An internal command for testing HyperLogLog values", "N/A"),
];

/// What a key holds, from an HLL command's point of view.
enum Check {
    Hll,
    /// Not a string at all: the generic WRONGTYPE error.
    WrongType,
    /// A string that is not a valid HLL (int-encoded strings never are).
    NotHll,
}

fn check(v: &Value) -> Check {
    match v {
        Value::Int(_) => Check::NotHll,
        _ => match v.as_str() {
            None => Check::WrongType,
            Some(mut s) => {
                if hll::is_valid(s.bytes()) {
                    Check::Hll
                } else {
                    Check::NotHll
                }
            }
        },
    }
}

/// Replies with the error for a failed check; true if the value is an HLL.
fn check_or_reply(ctx: &mut Ctx, c: Check) -> bool {
    match c {
        Check::Hll => return true,
        Check::WrongType => ctx.reply().error(WRONGTYPE),
        Check::NotHll => ctx.reply().error(NOT_HLL_ERR),
    }
    false
}

/// The HLL string at `key` in its growable form (the key was checked to be an HLL).
fn hll_buf<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c mut Vec<u8>> {
    ctx.db().get_value_mut(key).and_then(|v| v.make_raw())
}

/// Creates an empty sparse HLL at `key` (known to be absent), with the "new" event.
fn create(ctx: &mut Ctx, key: &[u8]) {
    let lru = ctx.state.lru_clock();
    ctx.db()
        .insert_new(key, Value::Raw(Box::new(hll::new_sparse())), 0, lru);
    let db = ctx.db_index();
    notify_new(ctx, db, key);
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    let argv = ctx.argv;
    let sparse_max = ctx.state.cfg.hll_sparse_max_bytes;
    let mut updated = 0u64;
    match ctx.lookup_write(&key).map(|v| check(v)) {
        None => {
            create(ctx, &key);
            updated += 1;
        }
        Some(c) => {
            if !check_or_reply(ctx, c) {
                return;
            }
        }
    }
    let Some(buf) = hll_buf(ctx, &key) else {
        return;
    };
    let mut corrupt = false;
    for ele in &argv[2..] {
        match hll::add(buf, ele, sparse_max) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(_) => {
                corrupt = true;
                break;
            }
        }
    }
    if corrupt {
        ctx.reply().error(INVALID_HLL_ERR);
        return;
    }
    if updated > 0 {
        hll::invalidate_cache(buf);
        ctx.modified(&key, notify::STRING, "pfadd");
        // Redis counts one change per updated register (plus the creation).
        ctx.state.dirty += updated - 1;
    }
    ctx.reply().int((updated > 0) as i64);
}

/// Folds the HLLs at `keys` into `max`; replies with the error and returns None on failure,
/// else whether any of them was dense.
fn merge_keys(ctx: &mut Ctx, keys: &[Bytes], max: &mut [u8]) -> Option<bool> {
    let mut use_dense = false;
    for key in keys {
        let res = match ctx.lookup_read(key) {
            None => continue,
            Some(v) => match check(v) {
                Check::Hll => {
                    let mut s = v.as_str()?;
                    let s = s.bytes();
                    use_dense |= s[4] == hll::DENSE;
                    Ok(hll::merge_into(max, s).is_ok())
                }
                other => Err(other),
            },
        };
        match res {
            Ok(true) => {}
            Ok(false) => {
                ctx.reply().error(INVALID_HLL_ERR);
                return None;
            }
            Err(c) => {
                check_or_reply(ctx, c);
                return None;
            }
        }
    }
    Some(use_dense)
}

/// PFCOUNT key [key ...]
fn pfcount(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() > 2 {
        // The cardinality of the union, computed on a one-byte-per-register array.
        let mut max = [0u8; REGISTERS];
        if merge_keys(ctx, &argv[1..], &mut max).is_none() {
            return;
        }
        ctx.reply().int(hll::count_raw(&max) as i64);
        return;
    }
    let key = &argv[1];
    let c = match ctx.lookup_read(key) {
        None => {
            ctx.reply().int(0);
            return;
        }
        Some(v) => check(v),
    };
    if !check_or_reply(ctx, c) {
        return;
    }
    let Some(buf) = hll_buf(ctx, key) else {
        return;
    };
    if let Some(card) = hll::cached_card(buf) {
        ctx.reply().int(card as i64);
        return;
    }
    match hll::count(buf) {
        Err(_) => ctx.reply().error(INVALID_HLL_ERR),
        Ok(card) => {
            hll::set_cached_card(buf, card);
            // The cache is part of the string: a change replicas must see.
            let db = ctx.db_index();
            ctx.state.signal_modified_key(db, key);
            ctx.state.dirty += 1;
            ctx.propagate(argv);
            ctx.reply().int(card as i64);
        }
    }
}

/// PFMERGE destkey [sourcekey ...]
fn pfmerge(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let sparse_max = ctx.state.cfg.hll_sparse_max_bytes;
    let mut max = [0u8; REGISTERS];
    // The destination is also the first source, so it is checked here too.
    let Some(use_dense) = merge_keys(ctx, &argv[1..], &mut max) else {
        return;
    };
    let key = &argv[1];
    if ctx.lookup_write(key).is_none() {
        create(ctx, key);
    }
    let Some(buf) = hll_buf(ctx, key) else {
        return;
    };
    if use_dense && hll::sparse_to_dense(buf).is_err() {
        ctx.reply().error(INVALID_HLL_ERR);
        return;
    }
    for (j, &m) in max.iter().enumerate() {
        if m != 0 {
            // Like Redis, a failure here (impossible after the checks above) is ignored.
            let _ = hll::set_register(buf, j, m, sparse_max);
        }
    }
    hll::invalidate_cache(buf);
    // A mass-add: Redis reports it as a "pfadd" event.
    ctx.modified(key, notify::STRING, "pfadd");
    ctx.reply().ok();
}

/// PFDEBUG <GETREG|DECODE|ENCODING|TODENSE> key
fn pfdebug(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[2];
    let c = match ctx.lookup_write(key) {
        None => {
            ctx.reply().err("The specified key does not exist");
            return;
        }
        Some(v) => check(v),
    };
    if !check_or_reply(ctx, c) {
        return;
    }
    let sub = argv[1].to_ascii_lowercase();
    let Some(buf) = hll_buf(ctx, key) else {
        return;
    };
    match sub.as_slice() {
        b"getreg" => {
            if buf[4] == hll::SPARSE {
                if hll::sparse_to_dense(buf).is_err() {
                    ctx.reply().error(INVALID_HLL_ERR);
                    return;
                }
                // The encoding changed: propagate so replicas convert too.
                ctx.state.dirty += 1;
            }
            let regs: Vec<u8> = match hll_buf(ctx, key) {
                Some(b) => (0..REGISTERS)
                    .map(|i| hll::dense_get(&b[hll::HDR_SIZE..], i))
                    .collect(),
                None => return,
            };
            let out = ctx.reply();
            out.array(REGISTERS);
            for r in regs {
                out.int(r as i64);
            }
        }
        b"decode" => {
            if buf[4] != hll::SPARSE {
                ctx.reply().err("HLL encoding is not sparse");
                return;
            }
            let text = hll::decode_sparse(buf);
            ctx.reply().bulk(text.as_bytes());
        }
        b"encoding" => {
            let name = if buf[4] == hll::DENSE {
                "dense"
            } else {
                "sparse"
            };
            ctx.reply().simple(name);
        }
        b"todense" => {
            let mut conv = false;
            if buf[4] == hll::SPARSE {
                if hll::sparse_to_dense(buf).is_err() {
                    ctx.reply().error(INVALID_HLL_ERR);
                    return;
                }
                conv = true;
                ctx.state.dirty += 1;
            }
            ctx.reply().int(conv as i64);
        }
        _ => {
            let mut msg = b"ERR Unknown PFDEBUG subcommand '".to_vec();
            msg.extend_from_slice(&argv[1]);
            msg.push(b'\'');
            ctx.reply().error_bytes(&msg);
        }
    }
}

/// PFSELFTEST: checks register access and that the sparse and dense encodings agree and
/// stay within the expected error, like Redis's (with fewer elements, to stay quick).
fn pfselftest(ctx: &mut Ctx) {
    match selftest(ctx.state.cfg.hll_sparse_max_bytes) {
        Ok(()) => ctx.reply().ok(),
        Err(msg) => ctx.reply().error(&msg),
    }
}

fn selftest(sparse_max: u64) -> Result<(), String> {
    // A small xorshift generator: the test needs variety, not quality.
    let mut seed: u64 = crate::util::now_us() | 1;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut regs = vec![0u8; hll::DENSE_SIZE - hll::HDR_SIZE];
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..10 {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (rand() & 63) as u8;
            hll::dense_set(&mut regs, i, *b);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = hll::dense_get(&regs, i);
            if v != b {
                return Err(format!("TESTFAILED Register {i} should be {b} but is {v}"));
            }
        }
    }
    let mut dense = hll::new_sparse();
    hll::sparse_to_dense(&mut dense).map_err(|_| "TESTFAILED corrupt".to_string())?;
    let mut sparse = hll::new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let base = rand();
    let mut checkpoint: u64 = 1;
    for j in 1..=100_000u64 {
        let ele = (j ^ base).to_le_bytes();
        let _ = hll::add(&mut dense, &ele, sparse_max);
        let _ = hll::add(&mut sparse, &ele, sparse_max);
        if j != checkpoint {
            continue;
        }
        if j < sparse_max / 2 && sparse[4] != hll::SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let (cd, cs) = (hll::count(&dense), hll::count(&sparse));
        if cd != cs {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let card = cd.unwrap_or(0);
        let abserr = (checkpoint as i64 - card as i64).unsigned_abs();
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::executor::Executor;
    use crate::protocol::Batch;
    use std::rc::Rc;

    /// Runs commands through the real dispatch path; returns the propagated stream with the
    /// leading SELECT dropped, one command per line, arguments space-separated.
    fn propagated(cmds: &[&[&str]]) -> Vec<String> {
        let mut exec = Executor::new(Config::default());
        exec.state.propagation.enabled = true;
        let c = exec
            .register(
                "127.0.0.1:1".into(),
                "127.0.0.1:6379".into(),
                false,
                -1,
                Rc::new(tokio::sync::Notify::new()),
            )
            .expect("room for a client");
        let mut batch = Batch::new();
        for cmd in cmds {
            batch.push(cmd.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())));
        }
        exec.refresh_clock();
        exec.execute(c, &mut batch);
        let raw = exec.state.propagation.take();
        // Decode the RESP arrays into readable lines.
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut lines = text.split("\r\n").peekable();
        let mut out = Vec::new();
        while let Some(l) = lines.next() {
            let Some(n) = l.strip_prefix('*') else {
                continue;
            };
            let n: usize = n.parse().unwrap_or(0);
            let mut args = Vec::new();
            for _ in 0..n {
                lines.next();
                args.push(lines.next().unwrap_or("").to_string());
            }
            out.push(args.join(" "));
        }
        out.retain(|l| !l.starts_with("SELECT"));
        out
    }

    #[test]
    fn propagation_of_bits_hll_and_sort() {
        let got = propagated(&[
            &["PFADD", "h", "a", "b"],
            &["PFADD", "h", "a"],
            &["PFCOUNT", "h"],
            &["PFCOUNT", "h"],
            &["PFCOUNT", "h", "x"],
            &["SETBIT", "b", "7", "1"],
            &["SETBIT", "b", "7", "1"],
            &["SETBIT", "b", "6", "0"],
            &["BITFIELD", "b", "GET", "u8", "0"],
            &["BITFIELD", "b", "INCRBY", "u8", "0", "1"],
            &["BITOP", "NOT", "d", "b"],
            &["BITOP", "AND", "e", "missing"],
            &["RPUSH", "l", "2", "1"],
            &["SORT", "l"],
            &["SORT", "l", "STORE", "s"],
            &["SORT_RO", "l"],
        ]);
        assert_eq!(
            got,
            [
                "PFADD h a b",
                "PFCOUNT h",
                "SETBIT b 7 1",
                "BITFIELD b INCRBY u8 0 1",
                "BITOP NOT d b",
                "RPUSH l 2 1",
                "SORT l STORE s",
            ]
        );
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(selftest(3000), Ok(()));
    }

    #[test]
    fn check_kinds() {
        assert!(matches!(check(&Value::Int(5)), Check::NotHll));
        assert!(matches!(check(&Value::from_bytes(b"hello")), Check::NotHll));
        let v = Value::Raw(Box::new(hll::new_sparse()));
        assert!(matches!(check(&v), Check::Hll));
        let l = Value::List(Box::default());
        assert!(matches!(check(&l), Check::WrongType));
    }
}
