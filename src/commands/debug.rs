//! DEBUG: the testing and inspection hooks Redis's own test suite and tools rely on.
//!
//! Implemented: HELP, SLEEP, DIGEST, DIGEST-VALUE, SET-ACTIVE-EXPIRE, OBJECT, POPULATE,
//! PROTOCOL, ERROR, LOG, CHANGE-REPL-ID. Like Redis, DEBUG is one command whose first
//! argument is dispatched here (it has no subcommand table), and a name or argument count
//! that matches nothing gets `unknown subcommand or wrong number of arguments`. Subsystems
//! add their own arms (RELOAD and LOADAOF belong with persistence).
//!
//! SLEEP blocks the whole server, on purpose: that is what tests use it for.

use crate::cmd;
use crate::commands::client::subcommand_syntax_error;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::db::digest;
use crate::db::Value;
use crate::executor::state::State;
use crate::util::{atoi, trim_leading_space};

pub static COMMANDS: &[CommandSpec] = &[cmd!(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED,
    0,
    0,
    0,
    debug,
    "server",
    "A container for debugging commands"
)];

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
    "HELP",
    "    Prints this help.",
];

fn debug(ctx: &mut Ctx) {
    let sub = ctx.argv[1].to_ascii_lowercase();
    let argc = ctx.argv.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => ctx.reply().help(HELP),
        (b"sleep", 3) => sleep(ctx),
        (b"digest", 2) => {
            let d = digest::dataset_digest(&ctx.state.dbs);
            ctx.reply().simple(&digest::to_hex(&d));
        }
        (b"digest-value", _) => digest_value(ctx),
        (b"set-active-expire", 3) => {
            ctx.state.active_expire_enabled = atoi(&ctx.argv[2]) != 0;
            ctx.reply().ok();
        }
        (b"object", 3) => object(ctx),
        (b"populate", 3..=5) => populate(ctx),
        (b"reload", _) => reload(ctx),
        (b"protocol", 3) => protocol(ctx),
        (b"error", 3) => {
            let msg = String::from_utf8_lossy(&ctx.argv[2]).into_owned();
            ctx.reply().error(&msg);
        }
        (b"log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&ctx.argv[2]));
            ctx.reply().ok();
        }
        (b"change-repl-id", 2) => {
            // Redis's changeReplicationId + clearReplicationId2.
            ctx.state.master_replid = State::random_hex40(&mut ctx.state.rng);
            ctx.state.master_replid2 = "0".repeat(40);
            ctx.reply().ok();
        }
        _ => subcommand_syntax_error(ctx),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, flush, load the file back (synchronously,
/// as Redis does).
fn reload(ctx: &mut Ctx) {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for a in &ctx.argv[2..] {
        if a.eq_ignore_ascii_case(b"merge") {
            merge = true;
        } else if a.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if a.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            ctx.reply()
                .err("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
            return;
        }
    }
    let path = std::path::PathBuf::from(&ctx.state.cfg.dbfilename);
    if save {
        crate::persistence::save::kill_bgsave(ctx.state);
        let result = crate::persistence::save::save_sync(ctx.state, &path);
        crate::persistence::save::record_sync_save(ctx.state, &result);
        if result.is_err() {
            ctx.reply().err("Error trying to save the dataset");
            return;
        }
    }
    if flush {
        ctx.state.signal_flush_db(None);
        for db in &mut ctx.state.dbs {
            db.clear();
        }
    }
    match crate::persistence::load::load_sync(ctx.state, &path, merge) {
        Ok(_) => {
            tracing::info!("DB reloaded by DEBUG RELOAD");
            ctx.reply().ok();
        }
        Err(e) => {
            tracing::warn!("{e}");
            ctx.reply()
                .err("Error trying to load the RDB dump, check server logs.");
        }
    }
}

/// C's `strtod` as DEBUG SLEEP uses it: the longest decimal prefix, 0 when there is none.
fn strtod_prefix(s: &[u8]) -> f64 {
    let s = trim_leading_space(s);
    let mut end = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let int_digits = s[end..].iter().take_while(|c| c.is_ascii_digit()).count();
    end += int_digits;
    let mut frac_digits = 0;
    if s.get(end) == Some(&b'.') {
        frac_digits = s[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if int_digits + frac_digits > 0 {
            end += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return 0.0;
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let mut e = end + 1;
        if matches!(s.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_digits = s[e..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits > 0 {
            end = e + exp_digits;
        }
    }
    std::str::from_utf8(&s[..end])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}

fn sleep(ctx: &mut Ctx) {
    let secs = strtod_prefix(&ctx.argv[2]);
    if secs > 0.0 && secs.is_finite() {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
    }
    ctx.reply().ok();
}

fn digest_value(ctx: &mut Ctx) {
    let db = ctx.client.db;
    let out = &mut ctx.client.out;
    out.array(ctx.argv.len() - 2);
    for key in &ctx.argv[2..] {
        // No lookup: a debug command sees logically expired keys too.
        let mut d = [0u8; 20];
        if let Some(e) = ctx.state.dbs[db].get(key) {
            digest::value_digest(&mut d, &e.value, e.expire_at != 0);
        }
        out.simple(&digest::to_hex(&d));
    }
}

/// Bytes Redis's `rdbSaveLen` uses for a length.
fn rdb_len_size(len: usize) -> usize {
    if len < 1 << 6 {
        1
    } else if len < 1 << 14 {
        2
    } else if len <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// RDB size of an integer saved as a string object: the compact int encodings for values
/// that fit 8/16/32 bits, else its decimal digits as a length-prefixed string.
fn rdb_int_size(n: i64) -> usize {
    if (i8::MIN as i64..=i8::MAX as i64).contains(&n) {
        2
    } else if (i16::MIN as i64..=i16::MAX as i64).contains(&n) {
        3
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
        5
    } else {
        let digits = itoa::Buffer::new().format(n).len();
        rdb_len_size(digits) + digits
    }
}

/// The RDB serialized length DEBUG OBJECT reports for a string value. Strings that look
/// like small integers use the int encodings; others are length + bytes. (LZF compression
/// of long compressible strings is not applied here, so those report their raw size.)
pub fn serialized_len(value: &Value) -> usize {
    match value {
        Value::Int(n) => rdb_int_size(*n),
        _ => {
            let Some(mut s) = value.as_str() else {
                return 0;
            };
            let bytes = s.bytes();
            if bytes.len() <= 11 {
                if let Some(n) = crate::util::parse_i64(bytes) {
                    return rdb_int_size(n);
                }
            }
            rdb_len_size(bytes.len()) + bytes.len()
        }
    }
}

/// Redis's OBJ_SHARED_REFCOUNT: small integers are shared objects there.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object(ctx: &mut Ctx) {
    let db = ctx.client.db;
    let Some(e) = ctx.state.dbs[db].get(&ctx.argv[2]) else {
        ctx.reply().err("no such key");
        return;
    };
    let refcount = match e.value {
        Value::Int(n) if (0..10_000).contains(&n) => SHARED_REFCOUNT,
        _ => 1,
    };
    let line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        &e.value as *const Value,
        refcount,
        e.value.encoding(),
        serialized_len(&e.value),
        e.lru,
        ctx.state.idle_seconds(e.lru)
    );
    ctx.reply().simple(&line);
}

/// DEBUG POPULATE count [prefix] [size]: creates `prefix:N` = `value:N` (zero-padded or
/// truncated to `size` bytes), skipping keys that exist. Not propagated.
fn populate(ctx: &mut Ctx) {
    let positive = |b: &[u8]| crate::util::parse_i64(b).filter(|n| *n >= 0);
    let Some(count) = positive(&ctx.argv[2]) else {
        ctx.reply().err("value is out of range, must be positive");
        return;
    };
    let mut size = 0usize;
    if ctx.argv.len() == 5 {
        match positive(&ctx.argv[4]) {
            Some(n) => size = n as usize,
            None => {
                ctx.reply().err("value is out of range, must be positive");
                return;
            }
        }
    }
    let prefix = if ctx.argv.len() >= 4 {
        ctx.argv[3].clone()
    } else {
        bytes::Bytes::from_static(b"key")
    };
    let lru = ctx.state.lru_clock();
    let mut key = Vec::with_capacity(prefix.len() + 21);
    let mut val = Vec::new();
    for j in 0..count as u64 {
        key.clear();
        key.extend_from_slice(&prefix);
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        if ctx.lookup_quiet(&key).is_some() {
            continue;
        }
        val.clear();
        val.extend_from_slice(b"value:");
        val.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        let value = if size == 0 {
            Value::string_no_int(&val)
        } else {
            val.resize(size, 0);
            Value::string_no_int(&val)
        };
        let db = ctx.client.db;
        ctx.state.dbs[db].insert_new(&key, value, 0, lru);
        ctx.state.signal_modified_key(db, &key);
    }
    ctx.reply().ok();
}

fn protocol(ctx: &mut Ctx) {
    let name = ctx.argv[2].to_ascii_lowercase();
    let resp3 = ctx.client.out.is_resp3();
    let out = &mut ctx.client.out;
    match name.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's literal test value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => {
            let n = b"1234567999999999999999999999999999999";
            if resp3 {
                out.raw(b"(");
                out.raw(n);
                out.raw(b"\r\n");
            } else {
                out.bulk(n);
            }
        }
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                out.err("RESP2 is not supported by this command");
                return;
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => out.err(
            "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b" -12abc"), -12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(strtod_prefix(b"0.5"), 0.5);
        assert_eq!(strtod_prefix(b"2s"), 2.0);
        assert_eq!(strtod_prefix(b".25"), 0.25);
        assert_eq!(strtod_prefix(b"1e-3x"), 0.001);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b"-"), 0.0);
        assert_eq!(strtod_prefix(b"3."), 3.0);
    }

    #[test]
    fn serialized_lengths_match_redis() {
        // Values from DEBUG OBJECT on redis-server 7.0.15.
        assert_eq!(serialized_len(&Value::from_bytes(b"bar")), 4);
        assert_eq!(serialized_len(&Value::from_bytes(b"100000")), 5);
        assert_eq!(serialized_len(&Value::from_bytes(b"-5")), 2);
        assert_eq!(serialized_len(&Value::from_bytes(b"12345678901")), 12);
        assert_eq!(serialized_len(&Value::from_bytes(b"12a")), 4);
        assert_eq!(serialized_len(&Value::string_no_int(b"123")), 2);
        let rnd: Vec<u8> = (0..100u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
        assert_eq!(serialized_len(&Value::from_bytes(&rnd)), 102);
    }
}
