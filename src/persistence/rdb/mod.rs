//! The RDB file format, as Redis 7 reads and writes it.
//!
//! Layout of a file (and of a full-sync payload, which is the same bytes):
//!
//! ```text
//! "REDIS" <4 ascii digits: version>
//! (AUX <string key> <string value>)*            redis-ver, ctime, repl-id, ...
//! (FUNCTION2 <string>)*                          Redis functions (7.0+)
//! ( SELECTDB <len db>  [RESIZEDB <len size> <len expires>]
//!   ( [EXPIRETIME_MS <u64 LE> | EXPIRETIME <u32 LE>] [IDLE <len> | FREQ <u8>]
//!     <u8 type> <string key> <value of that type> )* )*
//! EOF  <u64 LE CRC-64 (Jones) of every preceding byte; 0 when rdbchecksum is no>
//! ```
//!
//! Lengths use Redis's variable encoding (`6bit`, `14bit`, `32bit`, `64bit`), and a length
//! whose top bits are `11` announces a specially encoded string instead (int8/16/32 or LZF).
//!
//! Submodules: [`decode`] (streaming reader, every version 1–11), [`encode`] (version 10
//! writer), [`lzf`] (the compression RDB strings use), [`ziplist`] and [`zipmap`] (legacy
//! encodings converted on load).

pub mod decode;
pub mod encode;
pub mod lzf;
pub mod ziplist;
pub mod zipmap;

use std::fmt;

use crate::db::Value;

/// The version we write: what Redis 7.0 writes.
pub const RDB_VERSION: u32 = 10;
/// The newest version we read (Redis 7.2).
pub const RDB_MAX_READ_VERSION: u32 = 11;

// Object types (rdb.h).
pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
pub const TYPE_STREAM_LISTPACKS_3: u8 = 21;

// Opcodes (rdb.h).
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

// Length encodings (top two bits of the first byte).
pub const LEN_6BIT: u8 = 0;
pub const LEN_14BIT: u8 = 1;
pub const LEN_32BIT: u8 = 0x80;
pub const LEN_64BIT: u8 = 0x81;
pub const ENCVAL: u8 = 3;

// Special string encodings (after an ENCVAL length byte).
pub const ENC_INT8: u8 = 0;
pub const ENC_INT16: u8 = 1;
pub const ENC_INT32: u8 = 2;
pub const ENC_LZF: u8 = 3;

// Quicklist 2 node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

/// Per-key metadata the file may carry besides the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjMeta {
    /// IDLE opcode: seconds since last access (written under an LRU maxmemory policy).
    pub idle_secs: Option<u64>,
    /// FREQ opcode: the LFU logarithmic counter (written under an LFU policy).
    pub lfu_freq: Option<u8>,
}

/// One key as read from a file.
#[derive(Debug)]
pub struct LoadedEntry {
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute expiry, Unix ms; 0: none.
    pub expire_at: u64,
    pub meta: ObjMeta,
}

/// One top-level item of a file, in file order.
#[derive(Debug)]
pub enum Item {
    Aux { key: Vec<u8>, value: Vec<u8> },
    SelectDb(u64),
    ResizeDb { db_size: u64, expires_size: u64 },
    Entry(LoadedEntry),
}

/// Limits that choose the in-memory encoding of loaded values (the same directives that
/// govern conversion at runtime: a listpack hash longer than hash-max-listpack-entries
/// becomes a hashtable on load, as in Redis).
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub hash: crate::db::hash::Limits,
    pub zset: crate::db::zset::Limits,
    pub set_max_intset_entries: u64,
    /// list-max-listpack-size.
    pub list_fill: i32,
    /// sanitize-dump-payload yes: validate every element of compact encodings up front.
    pub deep_sanitize: bool,
}

impl DecodeOptions {
    pub fn from_config(cfg: &crate::config::Config) -> DecodeOptions {
        DecodeOptions {
            hash: crate::db::hash::Limits::new(
                cfg.hash_max_listpack_entries,
                cfg.hash_max_listpack_value,
            ),
            zset: crate::db::zset::Limits::from_config(cfg),
            set_max_intset_entries: cfg.set_max_intset_entries,
            list_fill: cfg.list_max_listpack_size,
            deep_sanitize: cfg.sanitize_dump_payload.eq_ignore_ascii_case("yes"),
        }
    }
}

/// Options of the writer.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// rdbcompression: LZF-compress strings longer than 20 bytes when it saves space.
    pub compress: bool,
}

/// Why a file could not be read, and where.
#[derive(Debug)]
pub struct RdbError {
    /// Byte offset in the file (or stream) where the problem was found.
    pub offset: u64,
    pub kind: ErrorKind,
}

#[derive(Debug)]
pub enum ErrorKind {
    Io(std::io::Error),
    /// The input ended in the middle of an item.
    ShortRead,
    /// The file does not start with `REDIS`.
    BadSignature,
    /// A version we cannot read.
    BadVersion(u32),
    /// An object type or opcode that does not exist.
    UnknownType(u8),
    /// The CRC-64 trailer does not match the content.
    BadChecksum {
        expected: u64,
        computed: u64,
    },
    /// Content that violates the format (a length that lies, a malformed listpack...).
    Corrupt(String),
    /// Valid content this server does not support (functions, modules, streams).
    Unsupported(String),
}

impl RdbError {
    pub fn new(offset: u64, kind: ErrorKind) -> RdbError {
        RdbError { offset, kind }
    }
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "i/o error reading RDB at offset {}: {e}", self.offset),
            ErrorKind::ShortRead => write!(
                f,
                "Short read or OOM loading DB (at offset {}). Unrecoverable error, aborting now.",
                self.offset
            ),
            ErrorKind::BadSignature => write!(f, "Wrong signature trying to load DB from file"),
            ErrorKind::BadVersion(v) => write!(f, "Can't handle RDB format version {v}"),
            ErrorKind::UnknownType(t) => write!(
                f,
                "Internal error in RDB reading offset {}: Unknown RDB encoding type {t}",
                self.offset
            ),
            // Redis's wording: "expected" is the computed CRC, "got" the stored trailer.
            ErrorKind::BadChecksum { expected, computed } => write!(
                f,
                "Wrong RDB checksum expected: ({computed:x}) got ({expected:x}) at offset {}. Aborting now.",
                self.offset
            ),
            ErrorKind::Corrupt(why) => write!(
                f,
                "Internal error in RDB reading offset {}: {why}",
                self.offset
            ),
            ErrorKind::Unsupported(what) => write!(
                f,
                "Can't load RDB (offset {}): {what}",
                self.offset
            ),
        }
    }
}

impl std::error::Error for RdbError {}

/// Redis's CRC-64 (Jones polynomial, reflected), computed incrementally over a stream.
pub struct Crc64(crc_fast::Digest);

impl Crc64 {
    pub fn new() -> Crc64 {
        Crc64(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn value(&self) -> u64 {
        self.0.finalize()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

// Loading parses on one thread and inserts on the executor's: values cross threads.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<LoadedEntry>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_jones() {
        let mut c = Crc64::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.value(), 0xe9c6d914c4b8d9ca);
    }
}
