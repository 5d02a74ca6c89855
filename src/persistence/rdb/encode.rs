//! The RDB writer: version 10 files, byte for byte what Redis 7.0 writes for the same data.
//!
//! Byte compatibility matters beyond "redis-server can load it": replicas receive this
//! stream as a full sync, `redis-check-rdb` and third-party tools parse it, and DUMP payloads
//! share the value encoding. So every choice below mirrors a function of Redis's `rdb.c`:
//!
//! - Strings (`rdbSaveRawString`): a string of at most 11 bytes that is the canonical form of
//!   an integer fitting 32 bits is written as an int8/16/32; otherwise, with rdbcompression
//!   on and more than 20 bytes, LZF-compressed when that saves at least 4 bytes; otherwise
//!   raw (length + bytes). Keys, hash fields, set members and the listpack/intset blobs all
//!   go through this same function, so long blobs are compressed too. Our LZF compressor is
//!   not liblzf, so compressed payloads may differ from Redis's byte-wise (both decode to
//!   the same bytes); everything else is identical.
//! - Lengths (`rdbSaveLen`): 6-bit, 14-bit, then 32- or 64-bit big-endian.
//! - A key (`rdbSaveKeyValuePair`): `EXPIRETIME_MS <i64 LE>` when it has an expiry, `IDLE
//!   <len>` / `FREQ <u8>` when the caller passes them (Redis writes them under an LRU / LFU
//!   maxmemory policy), the type byte, the key, the value.
//! - Values (`rdbSaveObject`): lists as `QUICKLIST_2` (node count, then per node the
//!   container `PACKED` and the node's listpack bytes); hashes, sorted sets and intsets as
//!   their compact blob verbatim when in that encoding; hashtable hashes and sets as a count
//!   and their elements in table order; skiplist sorted sets as a count and (member,
//!   little-endian binary double) pairs from the highest rank down, as Redis walks its
//!   skiplist from the tail (it makes loading append at the head).
//!
//! # Allocation
//!
//! The snapshot calls [`write_entry`] once per key, so nothing here allocates per entry:
//! output goes to the caller's buffer, integers are formatted on the stack, and LZF output
//! goes to a per-thread scratch buffer (`LZF_SCRATCH`) that is reused across calls (and
//! released when a very large string left it oversized, so one 500 MB value does not pin
//! 500 MB for the life of the thread).

use std::cell::RefCell;

use super::{lzf, EncodeOptions, ObjMeta};
use super::{
    ENCVAL, ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF, LEN_14BIT, LEN_32BIT, LEN_64BIT, LEN_6BIT,
    OPCODE_AUX, OPCODE_EOF, OPCODE_EXPIRETIME_MS, OPCODE_FREQ, OPCODE_IDLE, OPCODE_RESIZEDB,
    OPCODE_SELECTDB, QUICKLIST_NODE_PACKED, RDB_VERSION, TYPE_HASH, TYPE_HASH_LISTPACK,
    TYPE_LIST_QUICKLIST_2, TYPE_SET, TYPE_SET_INTSET, TYPE_STRING, TYPE_ZSET_2, TYPE_ZSET_LISTPACK,
};
use crate::db::hash::Hash;
use crate::db::set::Set;
use crate::db::{Elem, Value};
use crate::util::parse_i64;

/// Redis only tries LZF above this length ("under 20 bytes it's unable to compress even
/// aaaaaaaaaaaaaaaaaa").
const LZF_MIN_LEN: usize = 20;
/// Redis only keeps a compressed form that saves at least this many bytes.
const LZF_MIN_SAVING: usize = 4;
/// Strings longer than this are never tried as integers (`rdbSaveRawString`).
const INT_TRY_MAX_LEN: usize = 11;
/// The scratch buffer is dropped after use when it grew beyond this.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    /// LZF output for one string at a time (see the module doc).
    static LZF_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The value of an AUX field. Redis formats integer fields as decimal text and writes them
/// through the string writer, which stores those that fit 32 bits as int-encoded strings
/// (`rdbSaveAuxFieldStrInt`); `Int` does exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuxValue<'a> {
    Str(&'a [u8]),
    Int(i64),
}

/// Replication info a master (or a replica) records in its files (`rdbSaveInfo`), so that
/// a restarted server can continue a replication stream with a partial resync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplAux<'a> {
    /// The database selected in the replication stream (`repl-stream-db`).
    pub stream_db: i64,
    /// The 40-character replication id (`repl-id`).
    pub id: &'a [u8],
    /// The replication offset (`repl-offset`).
    pub offset: i64,
}

/// The AUX fields Redis 7.0 writes (`rdbSaveInfoAuxFields`), in its order: `redis-ver`,
/// `redis-bits`, `ctime` (Unix seconds), `used-mem`, then `repl-stream-db`, `repl-id`,
/// `repl-offset` only when `repl` is given (Redis gives them when the server is part of a
/// replication setup: a master with a backlog, or a replica), and `aof-base` (1 only for the
/// RDB preamble of an AOF file).
pub fn standard_aux<'a>(
    ctime_secs: i64,
    used_mem: u64,
    repl: Option<ReplAux<'a>>,
    aof_base: bool,
) -> Vec<(&'static str, AuxValue<'a>)> {
    let mut aux = Vec::with_capacity(8);
    aux.push(("redis-ver", AuxValue::Str(crate::REDIS_VERSION.as_bytes())));
    aux.push(("redis-bits", AuxValue::Int(usize::BITS as i64)));
    aux.push(("ctime", AuxValue::Int(ctime_secs)));
    aux.push((
        "used-mem",
        AuxValue::Int(i64::try_from(used_mem).unwrap_or(i64::MAX)),
    ));
    if let Some(r) = repl {
        aux.push(("repl-stream-db", AuxValue::Int(r.stream_db)));
        aux.push(("repl-id", AuxValue::Str(r.id)));
        aux.push(("repl-offset", AuxValue::Int(r.offset)));
    }
    aux.push(("aof-base", AuxValue::Int(aof_base as i64)));
    aux
}

/// Writes the `REDIS0010` signature and the AUX fields, compressing long aux strings as
/// Redis's default `rdbcompression yes` does (see [`write_header_with`]).
pub fn write_header(out: &mut Vec<u8>, aux: &[(&str, AuxValue<'_>)]) {
    write_header_with(out, aux, EncodeOptions { compress: true });
}

/// [`write_header`] with explicit options: aux strings go through the same string writer
/// as keys, so with `rdbcompression no` a (compressible) `repl-id` is written raw.
pub fn write_header_with(out: &mut Vec<u8>, aux: &[(&str, AuxValue<'_>)], opts: EncodeOptions) {
    out.extend_from_slice(b"REDIS");
    let mut v = RDB_VERSION;
    let mut digits = [b'0'; 4];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits);
    for (key, value) in aux {
        out.push(OPCODE_AUX);
        encode_string(out, key.as_bytes(), opts);
        match value {
            AuxValue::Str(s) => encode_string(out, s, opts),
            AuxValue::Int(n) => encode_int(out, *n),
        }
    }
}

/// `SELECTDB <db>` then `RESIZEDB <keys> <keys with an expiry>`, which Redis writes before
/// the keys of every non-empty database.
pub fn write_select_db(out: &mut Vec<u8>, db: u64, db_size: u64, expires_size: u64) {
    out.push(OPCODE_SELECTDB);
    encode_length(out, db);
    out.push(OPCODE_RESIZEDB);
    encode_length(out, db_size);
    encode_length(out, expires_size);
}

/// One key: optional expiry (absolute Unix ms; 0 means none), optional IDLE/FREQ, the type
/// byte, the key and the value.
pub fn write_entry(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_at_ms: u64,
    meta: ObjMeta,
    opts: EncodeOptions,
) {
    if expire_at_ms != 0 {
        out.push(OPCODE_EXPIRETIME_MS);
        out.extend_from_slice(&expire_at_ms.to_le_bytes());
    }
    if let Some(idle) = meta.idle_secs {
        out.push(OPCODE_IDLE);
        encode_length(out, idle);
    }
    if let Some(freq) = meta.lfu_freq {
        out.push(OPCODE_FREQ);
        out.push(freq);
    }
    write_object_type(out, value);
    encode_string(out, key, opts);
    write_object(out, value, opts);
}

/// The EOF opcode. The caller appends the 8-byte little-endian CRC-64 of everything before
/// it (including this byte), or 8 zero bytes when rdbchecksum is off; see [`write_trailer`].
pub fn write_eof(out: &mut Vec<u8>) {
    out.push(OPCODE_EOF);
}

/// The checksum trailer after [`write_eof`]: the CRC-64 little-endian, or zeros for `None`
/// (`rdbchecksum no`: loaders skip the check when the stored value is 0).
pub fn write_trailer(out: &mut Vec<u8>, crc: Option<u64>) {
    out.extend_from_slice(&crc.unwrap_or(0).to_le_bytes());
}

/// The type byte of a value in its current encoding (`rdbSaveObjectType`). With
/// [`write_object`] this is also the body of a DUMP payload.
pub fn write_object_type(out: &mut Vec<u8>, value: &Value) {
    out.push(object_type(value));
}

/// The RDB type byte for a value's encoding.
pub fn object_type(value: &Value) -> u8 {
    match value {
        Value::Int(_) | Value::Inline { .. } | Value::Boxed(_) | Value::Raw(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Hash(Hash::Listpack(_)) => TYPE_HASH_LISTPACK,
        Value::Hash(Hash::Table(_)) => TYPE_HASH,
        Value::Set(Set::Intset(_)) => TYPE_SET_INTSET,
        Value::Set(Set::Table(_)) => TYPE_SET,
        Value::ZSet(z) if z.is_listpack() => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
    }
}

/// A value's body in its current encoding (`rdbSaveObject`).
pub fn write_object(out: &mut Vec<u8>, value: &Value, opts: EncodeOptions) {
    match value {
        Value::Int(n) => encode_int(out, *n),
        Value::Inline { len, buf } => encode_string(out, &buf[..*len as usize], opts),
        Value::Boxed(b) => encode_string(out, b, opts),
        Value::Raw(v) => encode_string(out, v, opts),
        Value::List(l) => {
            encode_length(out, l.nodes().len() as u64);
            for node in l.nodes() {
                encode_length(out, QUICKLIST_NODE_PACKED);
                encode_string(out, node.as_bytes(), opts);
            }
        }
        Value::Hash(Hash::Listpack(lp)) => encode_string(out, lp.as_bytes(), opts),
        Value::Hash(h) => {
            encode_length(out, h.len() as u64);
            for (field, val) in h.iter() {
                encode_elem(out, field, opts);
                encode_elem(out, val, opts);
            }
        }
        Value::Set(Set::Intset(s)) => encode_string(out, s.as_bytes(), opts),
        Value::Set(s) => {
            encode_length(out, s.len() as u64);
            for m in s.iter() {
                encode_elem(out, m, opts);
            }
        }
        Value::ZSet(z) => match z.listpack() {
            Some(lp) => encode_string(out, lp.as_bytes(), opts),
            None => {
                encode_length(out, z.len() as u64);
                for (member, score) in z.iter_rev() {
                    encode_elem(out, member, opts);
                    out.extend_from_slice(&score.to_le_bytes());
                }
            }
        },
    }
}

/// Redis's `rdbSaveLen`: the shortest of 6-bit, 14-bit, 32-bit and 64-bit (big-endian)
/// length encodings.
pub fn encode_length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push((LEN_6BIT << 6) | n as u8);
    } else if n < 1 << 14 {
        out.push((LEN_14BIT << 6) | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Redis's `rdbSaveRawString`: int-encoded, LZF-compressed or raw (see the module doc).
pub fn encode_string(out: &mut Vec<u8>, bytes: &[u8], opts: EncodeOptions) {
    if bytes.len() <= INT_TRY_MAX_LEN {
        if let Some(n) = parse_i64(bytes) {
            if encode_small_int(out, n) {
                return;
            }
        }
    }
    if opts.compress && bytes.len() > LZF_MIN_LEN && encode_lzf(out, bytes) {
        return;
    }
    encode_length(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Redis's `rdbSaveLongLongAsStringObject`: an integer as int8/16/32 when it fits, else as
/// its decimal text (at most 20 bytes, so never compressed).
pub fn encode_int(out: &mut Vec<u8>, n: i64) {
    if !encode_small_int(out, n) {
        let mut buf = itoa::Buffer::new();
        let s = buf.format(n).as_bytes();
        encode_length(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// A collection element: integers (listpack or intset members) as [`encode_int`], which
/// writes what `rdbSaveRawString` would for their decimal text.
fn encode_elem(out: &mut Vec<u8>, e: Elem<'_>, opts: EncodeOptions) {
    match e {
        Elem::Bytes(b) => encode_string(out, b, opts),
        Elem::Int(n) => encode_int(out, n),
    }
}

/// Redis's `rdbEncodeInteger`: false when `n` needs more than 32 bits.
fn encode_small_int(out: &mut Vec<u8>, n: i64) -> bool {
    const TAG: u8 = ENCVAL << 6;
    if let Ok(v) = i8::try_from(n) {
        out.extend_from_slice(&[TAG | ENC_INT8, v as u8]);
    } else if let Ok(v) = i16::try_from(n) {
        out.push(TAG | ENC_INT16);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(n) {
        out.push(TAG | ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Redis's `rdbSaveLzfStringObject`: writes `ENC_LZF <compressed len> <original len>
/// <payload>` and returns true when compression saves at least 4 bytes; otherwise writes
/// nothing and returns false.
fn encode_lzf(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    LZF_SCRATCH.with(|cell| {
        // Not re-entrant, so the borrow cannot fail; fall back to raw rather than panic.
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            return false;
        };
        let max_out = bytes.len() - LZF_MIN_SAVING;
        scratch.reserve(bytes.len());
        let ok = lzf::compress(bytes, max_out, &mut scratch) && !scratch.is_empty();
        if ok {
            out.push((ENCVAL << 6) | ENC_LZF);
            encode_length(out, scratch.len() as u64);
            encode_length(out, bytes.len() as u64);
            out.extend_from_slice(&scratch);
        }
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPRESS: EncodeOptions = EncodeOptions { compress: true };
    const PLAIN: EncodeOptions = EncodeOptions { compress: false };

    fn len_bytes(n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        encode_length(&mut v, n);
        v
    }

    fn str_bytes(s: &[u8], opts: EncodeOptions) -> Vec<u8> {
        let mut v = Vec::new();
        encode_string(&mut v, s, opts);
        v
    }

    #[test]
    fn lengths_use_the_shortest_form() {
        assert_eq!(len_bytes(0), [0x00]);
        assert_eq!(len_bytes(63), [0x3f]);
        assert_eq!(len_bytes(64), [0x40, 0x40]);
        assert_eq!(len_bytes(16383), [0x7f, 0xff]);
        assert_eq!(len_bytes(16384), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(len_bytes(u32::MAX as u64), [0x80, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(len_bytes(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn strings_int_encode_like_redis() {
        assert_eq!(str_bytes(b"0", PLAIN), [0xc0, 0]);
        assert_eq!(str_bytes(b"-128", PLAIN), [0xc0, 0x80]);
        assert_eq!(str_bytes(b"128", PLAIN), [0xc1, 0x80, 0]);
        assert_eq!(str_bytes(b"-32769", PLAIN), [0xc2, 0xff, 0x7f, 0xff, 0xff]);
        assert_eq!(str_bytes(b"-2147483648", PLAIN), [0xc2, 0, 0, 0, 0x80]);
        // Out of 32-bit range, non-canonical, or too long: raw.
        assert_eq!(str_bytes(b"2147483648", PLAIN)[0], 10);
        assert_eq!(str_bytes(b"007", PLAIN), b"\x03007");
        assert_eq!(str_bytes(b"-0", PLAIN), b"\x02-0");
        assert_eq!(str_bytes(b"+1", PLAIN), b"\x02+1");
        assert_eq!(str_bytes(b" 1", PLAIN), b"\x02 1");
        assert_eq!(str_bytes(b"", PLAIN), [0]);
        let mut v = Vec::new();
        encode_int(&mut v, 1 << 40);
        assert_eq!(v, b"\x0d1099511627776");
        v.clear();
        encode_int(&mut v, -5);
        assert_eq!(v, [0xc0, 0xfb]);
    }

    #[test]
    fn lzf_only_when_long_and_worth_it() {
        // 20 bytes: never tried.
        assert_eq!(str_bytes(&[b'a'; 20], COMPRESS)[0], 20);
        // 21 repetitive bytes: compressed.
        let c = str_bytes(&[b'a'; 21], COMPRESS);
        assert_eq!(c[0], 0xc3);
        let clen = c[1] as usize;
        assert_eq!(c[2], 21);
        assert_eq!(c.len(), 3 + clen);
        assert!(clen <= 17);
        assert_eq!(lzf::decompress(&c[3..], 21).unwrap(), vec![b'a'; 21]);
        // Off: raw.
        assert_eq!(str_bytes(&[b'a'; 21], PLAIN)[0], 21);
        // Incompressible: raw.
        let noise: Vec<u8> = (0..100u32).map(|i| (i * 7919 % 251) as u8).collect();
        let n = str_bytes(&noise, COMPRESS);
        assert_eq!(&n[..2], [0x40, 100]);
    }

    #[test]
    fn header_matches_redis_dump() {
        // The start of a dump.rdb written by redis-server 7.0.15 (no replication).
        let expected: &[u8] = b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfa\x0aredis-bits\xc0\x40\
            \xfa\x05ctime\xc2\xf6\x58\x01\x6b\xfa\x08used-mem\xc2\x78\x55\x0e\x00\
            \xfa\x08aof-base\xc0\x00";
        let mut out = Vec::new();
        write_header(&mut out, &standard_aux(0x6b0158f6, 0x000e5578, None, false));
        assert_eq!(out, expected);
    }

    // -----------------------------------------------------------------------------------
    // Against the real redis-server 7.0.15 and redis-check-rdb.
    // -----------------------------------------------------------------------------------

    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::time::{Duration, Instant};

    use crate::db::digest;
    use crate::db::list::{End, List};
    use crate::db::{hash, zset, Db, ValueType};
    use crate::persistence::rdb::Crc64;

    /// This module's servers use ports 7452..7499.
    static NEXT_PORT: AtomicU16 = AtomicU16::new(7452);

    /// A private directory, removed on drop.
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Tmp {
            static SEQ: AtomicU16 = AtomicU16::new(0);
            let p = std::env::temp_dir().join(format!(
                "ferrodis-rdb-encode-{tag}-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A redis-server child process, killed on drop.
    struct Redis {
        child: Child,
        con: redis::Connection,
        log: PathBuf,
    }

    impl Redis {
        /// Starts redis-server in `dir` (loading `dir/dump.rdb` if present) with `args`.
        fn start(dir: &Path, args: &[&str]) -> Redis {
            let mut last = String::new();
            for _ in 0..3 {
                let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
                assert!(port < 7500, "out of test ports");
                // A port someone else holds would connect us to their server.
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                    continue;
                }
                let log = dir.join(format!("redis-{port}.log"));
                let child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                    .args(["--enable-debug-command", "yes"])
                    .arg("--dir")
                    .arg(dir)
                    .args(["--dbfilename", "dump.rdb", "--logfile"])
                    .arg(&log)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server must be installed (apt-get install redis-server)");
                match Redis::connect(child, port, log.clone()) {
                    Ok(r) => return r,
                    Err(mut child) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        last = std::fs::read_to_string(&log).unwrap_or_default();
                    }
                }
            }
            panic!("redis-server did not start:\n{last}");
        }

        /// Waits for the server to answer PING; gives the child back if it does not.
        fn connect(mut child: Child, port: u16, log: PathBuf) -> Result<Redis, Child> {
            let deadline = Instant::now() + Duration::from_secs(10);
            let url = format!("redis://127.0.0.1:{port}/");
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    return Err(child);
                }
                if let Ok(mut con) =
                    redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
                {
                    if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                        return Ok(Redis { child, con, log });
                    }
                }
                if Instant::now() > deadline {
                    return Err(child);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        fn cmd<T: redis::FromRedisValue>(&mut self, args: &[&[u8]]) -> T {
            let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
            for a in &args[1..] {
                c.arg(*a);
            }
            c.query(&mut self.con).unwrap_or_else(|e| {
                panic!(
                    "{:?}: {e}\nlog:\n{}",
                    String::from_utf8_lossy(args[0]),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            })
        }
    }

    impl Drop for Redis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn check_rdb(path: &Path) {
        let out = Command::new("redis-check-rdb")
            .arg(path)
            .output()
            .expect("redis-check-rdb must be installed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("RDB looks OK"),
            "redis-check-rdb rejected the file:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A whole file from databases, as the snapshot writes it.
    fn write_file(dbs: &[Db], opts: EncodeOptions, checksum: bool, meta: ObjMeta) -> Vec<u8> {
        let mut out = Vec::new();
        write_header_with(
            &mut out,
            &standard_aux(1_700_000_000, 1 << 20, None, false),
            opts,
        );
        for (i, db) in dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            write_select_db(
                &mut out,
                i as u64,
                db.len() as u64,
                db.expires_count() as u64,
            );
            db.dict().for_each(|e| {
                write_entry(
                    &mut out,
                    e.key.as_bytes(),
                    &e.value,
                    e.expire_at,
                    meta,
                    opts,
                );
            });
        }
        write_eof(&mut out);
        let crc = checksum.then(|| {
            let mut c = Crc64::new();
            c.update(&out);
            c.value()
        });
        write_trailer(&mut out, crc);
        out
    }

    /// redis-server's built-in defaults (without a redis.conf, hash-max-listpack-entries
    /// is 512, not the 128 of the sample config).
    const HASH_LIM: hash::Limits = hash::Limits {
        max_entries: 512,
        max_value: 64,
    };
    const ZSET_LIM: zset::Limits = zset::Limits {
        entries: 128,
        value: 64,
    };

    fn list_of(items: &[&[u8]]) -> Value {
        let mut l = List::new(-2);
        for i in items {
            l.push(i, End::Tail);
        }
        Value::List(Box::new(l))
    }

    fn hash_of(pairs: &[(&[u8], &[u8])], lim: hash::Limits) -> Value {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.convert_for_args([*f, *v].into_iter(), lim);
            h.set(f, v, lim);
        }
        Value::Hash(h)
    }

    fn set_of(members: &[&[u8]], max_intset: u64) -> Value {
        let mut s = Set::new_for(members[0]);
        for m in members {
            s.add(m, max_intset);
        }
        Value::Set(s)
    }

    fn zset_of(pairs: &[(f64, &[u8])], lim: zset::Limits) -> Value {
        let mut z = zset::ZSet::new_for(pairs[0].1.len(), &lim);
        for (score, m) in pairs {
            z.add(*score, m, 0, &lim);
        }
        Value::ZSet(Box::new(z))
    }

    fn numbered(prefix: &str, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{prefix}{i}").into_bytes())
            .collect()
    }

    fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
        v.iter().map(|x| x.as_slice()).collect()
    }

    /// Keys of every type and encoding, spread over databases 0, 1 and 9, some with expiries.
    fn sample_dbs() -> Vec<Db> {
        let mut dbs: Vec<Db> = (0..16).map(Db::new).collect();
        let future = 4_102_444_800_000u64; // 2100-01-01
        let long_text = b"The quick brown fox jumps over the lazy dog. ".repeat(30);
        let noise: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut raw = Value::from_bytes(b"grown");
        raw.make_raw().unwrap().extend_from_slice(b" by append");
        let many = numbered("member-", 300);
        let ints_wide: Vec<Vec<u8>> = (0..20i64)
            .map(|i| (i * 1_000_000_007).to_string().into_bytes())
            .collect();
        let long_elems: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("element number {i}").into_bytes())
            .collect();
        let field_vals: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
            .map(|i| {
                (
                    format!("field:{i}").into_bytes(),
                    format!("value {i}").into_bytes(),
                )
            })
            .collect();

        let d0 = &mut dbs[0];
        d0.insert_new(b"str:int", Value::from_bytes(b"12345"), 0, 0);
        d0.insert_new(b"str:neg", Value::from_bytes(b"-7"), 0, 0);
        d0.insert_new(b"str:i64", Value::from_bytes(b"-9223372036854775808"), 0, 0);
        d0.insert_new(b"str:big", Value::from_bytes(b"1099511627776"), future, 0);
        d0.insert_new(b"str:embstr", Value::from_bytes(b"hello"), 0, 0);
        d0.insert_new(b"str:empty", Value::from_bytes(b""), 0, 0);
        d0.insert_new(b"str:44", Value::from_bytes(&[b'q'; 44]), 0, 0);
        d0.insert_new(b"str:lzf", Value::from_bytes(&long_text), future + 1, 0);
        d0.insert_new(b"str:noise", Value::from_bytes(&noise), 0, 0);
        d0.insert_new(b"str:raw", raw, 0, 0);
        d0.insert_new(b"str:binary", Value::from_bytes(b"\x00\xff\r\n"), 0, 0);
        d0.insert_new(b"str:notint", Value::string_no_int(b"0042"), 0, 0);
        d0.insert_new(b"123", Value::from_bytes(b"integer-looking key"), 0, 0);
        d0.insert_new(
            b"a key long enough to be compressed: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            Value::from_bytes(b"v"),
            0,
            0,
        );
        d0.insert_new(
            b"list:small",
            list_of(&[b"a", b"12", b"-3", b"", &[b'z'; 70]]),
            0,
            0,
        );
        d0.insert_new(b"list:long", list_of(&refs(&long_elems)), future, 0);
        d0.insert_new(
            b"hash:lp",
            hash_of(
                &[
                    (b"f1", b"v1"),
                    (b"n", b"42"),
                    (b"neg", b"-100000"),
                    (b"e", b""),
                ],
                HASH_LIM,
            ),
            0,
            0,
        );
        let fv: Vec<(&[u8], &[u8])> = field_vals
            .iter()
            .map(|(f, v)| (f.as_slice(), v.as_slice()))
            .collect();
        d0.insert_new(b"hash:table", hash_of(&fv, HASH_LIM), 0, 0);
        d0.insert_new(
            b"hash:table-longval",
            hash_of(
                &[(b"f", b"short"), (b"big", &[b'x'; 100]), (b"7", b"8")],
                HASH_LIM,
            ),
            future,
            0,
        );

        let d1 = &mut dbs[1];
        d1.insert_new(b"set:int16", set_of(&[b"1", b"-2", b"300"], 512), 0, 0);
        d1.insert_new(
            b"set:int32",
            set_of(&[b"1", b"70000", b"-70000"], 512),
            0,
            0,
        );
        d1.insert_new(b"set:int64", set_of(&refs(&ints_wide), 512), future, 0);
        d1.insert_new(
            b"set:table",
            set_of(&[b"x", b"y", b"10", &[b'k'; 80]], 512),
            0,
            0,
        );
        d1.insert_new(b"set:big", set_of(&refs(&many), 512), 0, 0);
        let big_ints: Vec<Vec<u8>> = (0..600).map(|i: i32| i.to_string().into_bytes()).collect();
        d1.insert_new(b"set:many-ints", set_of(&refs(&big_ints), 512), 0, 0);
        d1.insert_new(b"str:in-db1", Value::from_bytes(b"db one"), 0, 0);

        let d9 = &mut dbs[9];
        d9.insert_new(
            b"zset:lp",
            zset_of(
                &[
                    (1.5, b"a"),
                    (-0.0, b"negzero"),
                    (2.0, b"two"),
                    (f64::INFINITY, b"inf"),
                    (f64::NEG_INFINITY, b"-inf"),
                    (0.1, b"tenth"),
                    (1e300, b"huge"),
                    (-3.0, b"7"),
                ],
                ZSET_LIM,
            ),
            0,
            0,
        );
        let zpairs: Vec<(f64, &[u8])> = many
            .iter()
            .enumerate()
            .map(|(i, m)| ((i as f64) * 0.5 - 20.0, m.as_slice()))
            .collect();
        d9.insert_new(b"zset:skiplist", zset_of(&zpairs, ZSET_LIM), future, 0);
        d9.insert_new(
            b"zset:skiplist-longmember",
            zset_of(
                &[
                    (1.0, &[b'm'; 100]),
                    (-0.0, b"z"),
                    (f64::INFINITY, b"i"),
                    (0.3, b"p"),
                    (5.0, b"12"),
                ],
                ZSET_LIM,
            ),
            0,
            0,
        );
        dbs
    }

    /// A value's elements as Redis would reply them, in the order that must match.
    fn our_content(v: &Value) -> Vec<Vec<u8>> {
        let b = |e: Elem<'_>| e.to_bytes().into_owned();
        match v {
            Value::List(l) => l.iter().map(b).collect(),
            Value::Hash(h) => {
                let mut pairs: Vec<Vec<u8>> = Vec::new();
                for (f, val) in h.iter() {
                    pairs.push(b(f));
                    pairs.push(b(val));
                }
                pairs
            }
            Value::Set(s) => {
                let mut m: Vec<Vec<u8>> = s.iter().map(b).collect();
                m.sort();
                m
            }
            Value::ZSet(z) => z
                .iter()
                .flat_map(|(m, s)| [b(m), crate::protocol::reply::format_double(s).into_bytes()])
                .collect(),
            _ => vec![v.to_vec().unwrap()],
        }
    }

    /// Pairs of a flat field/value list, sorted (hashtable order is not comparable).
    fn sorted_pairs(flat: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut p: Vec<_> = flat
            .chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect();
        p.sort();
        p
    }

    /// Checks every key of `dbs` in `r`: type, encoding, content, expiry, digests.
    fn assert_same_dataset(r: &mut Redis, dbs: &[Db]) {
        for (i, db) in dbs.iter().enumerate() {
            let _: () = r.cmd(&[b"SELECT", i.to_string().as_bytes()]);
            let n: usize = r.cmd(&[b"DBSIZE"]);
            assert_eq!(n, db.len(), "db {i} size");
            db.dict().for_each(|e| {
                let key = e.key.as_bytes();
                let name = String::from_utf8_lossy(key).into_owned();
                let t: String = r.cmd(&[b"TYPE", key]);
                assert_eq!(t, e.value.value_type().name(), "{name}: type");
                let enc: String = r.cmd(&[b"OBJECT", b"ENCODING", key]);
                let want_enc = match e.value.value_type() {
                    // Loading picks a string's encoding from its bytes.
                    ValueType::String => Value::from_bytes(&e.value.to_vec().unwrap()).encoding(),
                    _ => e.value.encoding(),
                };
                assert_eq!(enc, want_enc, "{name}: encoding");
                let ours = our_content(&e.value);
                match e.value.value_type() {
                    ValueType::String => {
                        let got: Vec<u8> = r.cmd(&[b"GET", key]);
                        assert_eq!(vec![got], ours, "{name}");
                    }
                    ValueType::List => {
                        let got: Vec<Vec<u8>> = r.cmd(&[b"LRANGE", key, b"0", b"-1"]);
                        assert_eq!(got, ours, "{name}");
                    }
                    ValueType::Hash => {
                        let got: Vec<Vec<u8>> = r.cmd(&[b"HGETALL", key]);
                        if e.value.encoding() == "listpack" {
                            assert_eq!(got, ours, "{name}: listpack order");
                        } else {
                            assert_eq!(sorted_pairs(&got), sorted_pairs(&ours), "{name}");
                        }
                    }
                    ValueType::Set => {
                        let mut got: Vec<Vec<u8>> = r.cmd(&[b"SMEMBERS", key]);
                        got.sort();
                        assert_eq!(got, ours, "{name}");
                    }
                    ValueType::ZSet => {
                        let got: Vec<Vec<u8>> =
                            r.cmd(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]);
                        assert_eq!(got.len(), ours.len(), "{name}");
                        for (g, o) in got.chunks(2).zip(ours.chunks(2)) {
                            assert_eq!(g[0], o[0], "{name}: member order");
                            let gs: f64 = String::from_utf8_lossy(&g[1]).parse().unwrap();
                            let os: f64 = String::from_utf8_lossy(&o[1]).parse().unwrap();
                            assert_eq!(gs.to_bits(), os.to_bits(), "{name}: score of {:?}", g[0]);
                        }
                    }
                    ValueType::Stream => unreachable!(),
                }
                let at: i64 = r.cmd(&[b"PEXPIRETIME", key]);
                let want_at = if e.expire_at == 0 {
                    -1
                } else {
                    e.expire_at as i64
                };
                assert_eq!(at, want_at, "{name}: expiry");
                let got: Vec<String> = r.cmd(&[b"DEBUG", b"DIGEST-VALUE", key]);
                let mut d = [0u8; 20];
                digest::value_digest(&mut d, &e.value, e.expire_at != 0);
                assert_eq!(got, vec![digest::to_hex(&d)], "{name}: digest");
            });
        }
        let got: String = r.cmd(&[b"DEBUG", b"DIGEST"]);
        assert_eq!(
            got,
            digest::to_hex(&digest::dataset_digest(dbs)),
            "dataset digest"
        );
    }

    #[test]
    fn sample_has_every_encoding() {
        let dbs = sample_dbs();
        let mut seen = std::collections::BTreeSet::new();
        for db in &dbs {
            db.dict().for_each(|e| {
                seen.insert((object_type(&e.value), e.value.encoding()));
            });
        }
        let want = [
            (TYPE_STRING, "int"),
            (TYPE_STRING, "embstr"),
            (TYPE_STRING, "raw"),
            (TYPE_LIST_QUICKLIST_2, "quicklist"),
            (TYPE_HASH_LISTPACK, "listpack"),
            (TYPE_HASH, "hashtable"),
            (TYPE_SET_INTSET, "intset"),
            (TYPE_SET, "hashtable"),
            (TYPE_ZSET_LISTPACK, "listpack"),
            (TYPE_ZSET_2, "skiplist"),
        ];
        for w in want {
            assert!(seen.contains(&w), "sample lacks {w:?}; has {seen:?}");
        }
        let Value::List(l) = &dbs[0].get(b"list:long").unwrap().value else {
            panic!()
        };
        assert!(l.nodes().len() > 2, "the long list must span several nodes");
    }

    fn roundtrip_through_redis(opts: EncodeOptions, checksum: bool) {
        let dbs = sample_dbs();
        let bytes = write_file(&dbs, opts, checksum, ObjMeta::default());
        if !checksum {
            assert_eq!(bytes[bytes.len() - 8..], [0u8; 8]);
        }
        // No LZF payload at all when compression is off; some when on.
        let tmp = Tmp::new("roundtrip");
        let path = tmp.0.join("dump.rdb");
        std::fs::write(&path, &bytes).unwrap();
        check_rdb(&path);
        let mut r = Redis::start(&tmp.0, &[]);
        assert_same_dataset(&mut r, &dbs);
    }

    #[test]
    fn redis_loads_every_type_compressed_with_checksum() {
        roundtrip_through_redis(COMPRESS, true);
    }

    #[test]
    fn redis_loads_every_type_uncompressed_without_checksum() {
        roundtrip_through_redis(PLAIN, false);
    }

    #[test]
    fn lzf_used_only_when_enabled() {
        let mut v = Value::from_bytes(&b"abc".repeat(100));
        let mut on = Vec::new();
        write_object(&mut on, &v, COMPRESS);
        assert_eq!(on[0], 0xc3);
        let mut off = Vec::new();
        write_object(&mut off, &v, PLAIN);
        assert_eq!(&off[..3], [0x41, 0x2c, b'a']);
        v = list_of(&[&b"abc".repeat(100)]);
        on.clear();
        write_object(&mut on, &v, COMPRESS);
        // node count 1, container PACKED, then an LZF blob.
        assert_eq!(&on[..3], [1, 2, 0xc3]);
    }

    /// Equality of long byte strings, reporting where they diverge.
    fn assert_same_bytes(mine: &[u8], theirs: &[u8], what: &str) {
        if mine != theirs {
            let at = mine.iter().zip(theirs).take_while(|(a, b)| a == b).count();
            let show = |b: &[u8]| format!("{:?}", &b[at.saturating_sub(8)..(at + 24).min(b.len())]);
            panic!(
                "{what}: {} vs {} bytes (ours vs redis), first difference at {at}:\n ours  {}\n redis {}",
                mine.len(),
                theirs.len(),
                show(mine),
                show(theirs)
            );
        }
    }

    /// Our DUMP-shaped bytes (type + value) equal what Redis's DUMP holds before its
    /// version and checksum footer, for values built by the same operations.
    #[test]
    fn values_are_byte_identical_to_redis_dump() {
        let tmp = Tmp::new("dump");
        let mut r = Redis::start(&tmp.0, &["--rdbcompression", "no"]);
        // One node: our quicklist's node boundaries differ from Redis 7.0.15's (which
        // budgets 8 bytes per element instead of its exact size), so multi-node lists
        // are compared through loading only.
        let long_elems = numbered("element-", 500);
        let many = numbered("m", 5);
        let cases: Vec<(Vec<Vec<u8>>, Value)> = vec![
            (
                vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()],
                Value::from_bytes(b"v"),
            ),
            (
                vec![b"SET".into(), b"k".into(), b"-40000".into()],
                Value::from_bytes(b"-40000"),
            ),
            (
                vec![b"SET".into(), b"k".into(), b"99999999999".into()],
                Value::from_bytes(b"99999999999"),
            ),
            (
                vec![b"SET".into(), b"k".into(), vec![b'a'; 300]],
                Value::from_bytes(&[b'a'; 300]),
            ),
            (
                {
                    let mut c = vec![b"RPUSH".to_vec(), b"k".to_vec()];
                    c.extend(long_elems.iter().cloned());
                    c
                },
                list_of(&refs(&long_elems)),
            ),
            (
                vec![
                    b"RPUSH".into(),
                    b"k".into(),
                    b"1".into(),
                    b"x".into(),
                    b"-99999".into(),
                    vec![b'y'; 100],
                ],
                list_of(&[b"1", b"x", b"-99999", &[b'y'; 100]]),
            ),
            (
                vec![
                    b"HSET".into(),
                    b"k".into(),
                    b"f".into(),
                    b"1".into(),
                    b"g".into(),
                    b"hello".into(),
                ],
                hash_of(&[(b"f", b"1"), (b"g", b"hello")], HASH_LIM),
            ),
            (
                vec![
                    b"SADD".into(),
                    b"k".into(),
                    b"5".into(),
                    b"-3".into(),
                    b"100000".into(),
                ],
                set_of(&[b"5", b"-3", b"100000"], 512),
            ),
            (
                vec![
                    b"ZADD".into(),
                    b"k".into(),
                    b"1.5".into(),
                    b"a".into(),
                    b"-2".into(),
                    b"b".into(),
                    b"inf".into(),
                    b"c".into(),
                ],
                zset_of(
                    &[(1.5, b"a"), (-2.0, b"b"), (f64::INFINITY, b"c")],
                    ZSET_LIM,
                ),
            ),
        ];
        for (cmd, ours) in &cases {
            let _: () = r.cmd(&[b"DEL", b"k"]);
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
            let _: redis::Value = r.cmd(&args);
            let dump: Vec<u8> = r.cmd(&[b"DUMP", b"k"]);
            let mut mine = Vec::new();
            write_object_type(&mut mine, ours);
            write_object(&mut mine, ours, PLAIN);
            assert_same_bytes(
                &mine,
                &dump[..dump.len() - 10],
                &String::from_utf8_lossy(&cmd[0]),
            );
        }
        // Single-element tables, and a skiplist (whose order is defined), with the
        // compact encodings disabled.
        for (name, value) in [
            ("hash-max-listpack-entries", "0"),
            ("set-max-intset-entries", "0"),
            ("zset-max-listpack-entries", "0"),
        ] {
            let _: () = r.cmd(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]);
        }
        let no_lp_hash = hash::Limits {
            max_entries: 0,
            max_value: 64,
        };
        let no_lp_zset = zset::Limits {
            entries: 0,
            value: 64,
        };
        let zs: Vec<(f64, &[u8])> = many
            .iter()
            .enumerate()
            .map(|(i, m)| (i as f64 - 1.25, m.as_slice()))
            .collect();
        let mut zcmd: Vec<Vec<u8>> = vec![b"ZADD".into(), b"k".into()];
        for (s, m) in &zs {
            zcmd.push(s.to_string().into_bytes());
            zcmd.push(m.to_vec());
        }
        let cases: Vec<(Vec<Vec<u8>>, Value)> = vec![
            (
                vec![b"HSET".into(), b"k".into(), b"field".into(), b"12".into()],
                hash_of(&[(b"field", b"12")], no_lp_hash),
            ),
            (
                vec![b"SADD".into(), b"k".into(), b"member".into()],
                set_of(&[b"member"], 0),
            ),
            (zcmd, zset_of(&zs, no_lp_zset)),
        ];
        for (cmd, ours) in &cases {
            let _: () = r.cmd(&[b"DEL", b"k"]);
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
            let _: redis::Value = r.cmd(&args);
            let enc: String = r.cmd(&[b"OBJECT", b"ENCODING", b"k"]);
            assert_eq!(enc, ours.encoding());
            let dump: Vec<u8> = r.cmd(&[b"DUMP", b"k"]);
            let mut mine = Vec::new();
            write_object_type(&mut mine, ours);
            write_object(&mut mine, ours, PLAIN);
            assert_same_bytes(&mine, &dump[..dump.len() - 10], ours.encoding());
        }
    }

    /// Compressed payloads differ from liblzf's byte-wise, so check that Redis accepts ours:
    /// RESTORE a DUMP payload we built and compare the digest.
    #[test]
    fn redis_restores_our_compressed_payloads() {
        let tmp = Tmp::new("restore");
        let mut r = Redis::start(&tmp.0, &[]);
        let long = numbered("some repetitive element ", 3000);
        let values = [
            Value::from_bytes(&b"0123456789".repeat(50)),
            list_of(&refs(&long)),
            set_of(&refs(&numbered("", 400)), 512),
            hash_of(
                &[(b"f", &b"abcd".repeat(15)), (b"g", &b"abcd".repeat(15))],
                HASH_LIM,
            ),
        ];
        for v in &values {
            let mut payload = Vec::new();
            write_object_type(&mut payload, v);
            write_object(&mut payload, v, COMPRESS);
            assert!(payload.contains(&0xc3));
            payload.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
            let mut c = Crc64::new();
            c.update(&payload);
            payload.extend_from_slice(&c.value().to_le_bytes());
            let _: () = r.cmd(&[b"RESTORE", b"k", b"0", &payload, b"REPLACE"]);
            let got: Vec<String> = r.cmd(&[b"DEBUG", b"DIGEST-VALUE", b"k"]);
            let mut d = [0u8; 20];
            digest::value_digest(&mut d, v, false);
            assert_eq!(got, vec![digest::to_hex(&d)], "{}", v.encoding());
        }
    }

    /// A minimal reader for the AUX strings at the start of a Redis file.
    fn read_aux_string(b: &[u8], p: &mut usize) -> Vec<u8> {
        let first = b[*p];
        *p += 1;
        match first >> 6 {
            3 => {
                let (n, w) = match first & 0x3f {
                    0 => (b[*p] as i8 as i64, 1),
                    1 => (i16::from_le_bytes([b[*p], b[*p + 1]]) as i64, 2),
                    2 => (
                        i32::from_le_bytes(b[*p..*p + 4].try_into().unwrap()) as i64,
                        4,
                    ),
                    e => panic!("unexpected encoding {e} in aux"),
                };
                *p += w;
                n.to_string().into_bytes()
            }
            0 => {
                let n = (first & 0x3f) as usize;
                *p += n;
                b[*p - n..*p].to_vec()
            }
            t => panic!("unexpected length type {t} in aux"),
        }
    }

    /// The whole file equals redis-server's own dump.rdb for the same data (keys whose
    /// encoding has no iteration-order freedom, one per database).
    #[test]
    fn file_is_byte_identical_to_redis_save() {
        let tmp = Tmp::new("save");
        let mut r = Redis::start(&tmp.0, &[]);
        let at = 4_102_444_800_123u64;
        let _: () = r.cmd(&[b"SET", b"k", b"v", b"PXAT", at.to_string().as_bytes()]);
        let _: () = r.cmd(&[b"SELECT", b"3"]);
        let _: () = r.cmd(&[b"HSET", b"h", b"field", b"value", b"n", b"7"]);
        let _: () = r.cmd(&[b"SELECT", b"12"]);
        let _: () = r.cmd(&[b"RPUSH", b"l", b"a", b"b", &b"x".repeat(40)]);
        let _: () = r.cmd(&[b"SAVE"]);
        let theirs = std::fs::read(tmp.0.join("dump.rdb")).unwrap();

        let mut p = 9;
        let mut ctime = 0;
        let mut used_mem = 0;
        while theirs[p] == OPCODE_AUX {
            p += 1;
            let k = read_aux_string(&theirs, &mut p);
            let v = read_aux_string(&theirs, &mut p);
            let num = || String::from_utf8_lossy(&v).parse::<i64>().unwrap();
            match k.as_slice() {
                b"ctime" => ctime = num(),
                b"used-mem" => used_mem = num() as u64,
                _ => {}
            }
        }
        let mut mine = Vec::new();
        write_header(&mut mine, &standard_aux(ctime, used_mem, None, false));
        write_select_db(&mut mine, 0, 1, 1);
        write_entry(
            &mut mine,
            b"k",
            &Value::from_bytes(b"v"),
            at,
            ObjMeta::default(),
            COMPRESS,
        );
        write_select_db(&mut mine, 3, 1, 0);
        let h = hash_of(&[(b"field", b"value"), (b"n", b"7")], HASH_LIM);
        write_entry(&mut mine, b"h", &h, 0, ObjMeta::default(), COMPRESS);
        write_select_db(&mut mine, 12, 1, 0);
        let l = list_of(&[b"a", b"b", &b"x".repeat(40)]);
        write_entry(&mut mine, b"l", &l, 0, ObjMeta::default(), COMPRESS);
        write_eof(&mut mine);
        let mut c = Crc64::new();
        c.update(&mine);
        write_trailer(&mut mine, Some(c.value()));
        assert_eq!(mine, theirs);
    }

    /// IDLE and FREQ reach Redis's LRU clock and LFU counter.
    #[test]
    fn idle_and_freq_are_loaded() {
        let mut dbs: Vec<Db> = (0..16).map(Db::new).collect();
        dbs[0].insert_new(b"k", Value::from_bytes(b"v"), 0, 0);
        let tmp = Tmp::new("idle");
        let idle = ObjMeta {
            idle_secs: Some(5000),
            lfu_freq: None,
        };
        let bytes = write_file(&dbs, COMPRESS, true, idle);
        assert!(bytes.windows(3).any(|w| w == [OPCODE_IDLE, 0x53, 0x88]));
        std::fs::write(tmp.0.join("dump.rdb"), &bytes).unwrap();
        check_rdb(&tmp.0.join("dump.rdb"));
        let mut r = Redis::start(&tmp.0, &[]);
        let secs: u64 = r.cmd(&[b"OBJECT", b"IDLETIME", b"k"]);
        assert!((5000..5010).contains(&secs), "{secs}");
        drop(r);

        let freq = ObjMeta {
            idle_secs: None,
            lfu_freq: Some(200),
        };
        let bytes = write_file(&dbs, COMPRESS, true, freq);
        std::fs::write(tmp.0.join("dump.rdb"), &bytes).unwrap();
        check_rdb(&tmp.0.join("dump.rdb"));
        let mut r = Redis::start(&tmp.0, &["--maxmemory-policy", "allkeys-lfu"]);
        let f: u64 = r.cmd(&[b"OBJECT", b"FREQ", b"k"]);
        assert_eq!(f, 200);
    }
}
