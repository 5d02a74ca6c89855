//! Differential test for hashes and sets: random commands replayed against the real
//! redis-server and ferrodis, comparing replies.
//!
//! Fixed seeds, a few thousand commands per family each, on fresh server pairs; half of the
//! seeds run with tiny `hash-max-listpack-entries` / `set-max-intset-entries` so encoding
//! conversions happen all the time. Every reply is compared byte for byte, except:
//!
//! - Where Redis gives no order: a hashtable-encoded hash or set. The test asks both servers
//!   `OBJECT ENCODING` first (and compares that exactly); for listpack hashes and intset
//!   sets the order is deterministic (insertion order / ascending) and compared exactly. The
//!   results of SUNION/SDIFF are built as fresh sets, so they are ordered exactly when they
//!   are all integers and small enough to stay an intset.
//! - HSCAN/SSCAN over a hashtable: cursors depend on hash functions, so each server is
//!   scanned to completion and the collected members are compared as sets.
//! - Random picks (HRANDFIELD, SRANDMEMBER): same reply shape and size, every pick a real
//!   member (and value), distinct when Redis promises distinct.
//! - SPOP: the same shape; ferrodis's popped members must have been members and be gone;
//!   then both servers are reset to Redis's remaining members so they stay in step.
//!
//! Protocol switches (HELLO 2/3) are part of the random stream so RESP3 shapes (maps, sets,
//! nested HRANDFIELD pairs) are compared too. A mismatch panics with the seed, step,
//! command, both replies and the preceding commands.

mod common;

use std::collections::{HashSet, VecDeque};

use common::{parse_reply, show, show_cmd, start_both, RawConn, Resp, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const STEPS_PER_FAMILY: u64 = 2500;

const HASH_KEYS: &[&[u8]] = &[b"h0", b"h1", b"h2", b"h3"];
const SET_KEYS: &[&[u8]] = &[b"s0", b"s1", b"s2", b"s3", b"s4"];
/// Holds a string for the whole run: every hash/set command against it is WRONGTYPE.
const STR_KEY: &[u8] = b"str";
const MISSING: &[u8] = b"nokey";

const FIELDS: &[&str] = &[
    "f0",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "f6",
    "f7",
    "f8",
    "f9",
    "1",
    "-5",
    "100000",
    "",
    "07",
    "f\x00\x01",
];

const VALUES: &[&str] = &[
    "v",
    "",
    "0",
    "12",
    "-3",
    "3.5",
    "1e3",
    "9223372036854775807",
    "abc",
    "inf",
    "-0",
    "07",
    "1.10",
    "hello world",
];

const MEMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "-1",
    "-40000",
    "100000",
    "5000000000",
    "-9223372036854775808",
    "a",
    "b",
    "c",
    "",
    "07",
    "+3",
    "x y",
];

const INCRS: &[&str] = &[
    "1",
    "-1",
    "5",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "1.5",
    "",
];

const FLOAT_INCRS: &[&str] = &[
    "1.5", "-0.25", "0.1", "3", "1e308", "-1e308", "x", "inf", "-inf", "nan", "5e-3", "", "0x10",
    "1.0e2",
];

const PATTERNS: &[&str] = &["*", "f*", "?", "f[0-4]", "*1*", "a", "[", "\\*"];

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// How a command's replies are compared.
#[derive(Clone, Debug)]
enum Cmp {
    Exact,
    /// The whole contents of a hash: HGETALL / HKEYS / HVALS (`pairs`: HGETALL).
    HashWhole {
        key: Vec<u8>,
        pairs: bool,
    },
    /// SMEMBERS / SINTER over `keys`: exact when all existing ones are intsets.
    SetWhole {
        keys: Vec<Vec<u8>>,
    },
    /// SUNION / SDIFF: exact when the result can be an intset.
    BuiltSet,
    HScan {
        key: Vec<u8>,
    },
    SScan {
        key: Vec<u8>,
    },
    HRand {
        key: Vec<u8>,
    },
    SRand {
        key: Vec<u8>,
    },
    SPop {
        key: Vec<u8>,
    },
}

struct Runner {
    seed: u64,
    step: u64,
    ferro: RawConn,
    redis: RawConn,
    history: VecDeque<String>,
    resp3: bool,
    max_intset: usize,
    /// What the run exercised (printed at the end, to keep the test honest): error
    /// replies by first word, and encodings seen.
    seen: std::collections::BTreeMap<String, u64>,
}

fn parsed(raw: &[u8]) -> Resp {
    parse_reply(raw)
        .ok()
        .flatten()
        .map(|(r, _)| r)
        .expect("a complete reply")
}

/// The bulk strings of an array, set or map reply, flattened.
fn flat(r: &Resp) -> Option<Vec<Vec<u8>>> {
    let items: Vec<&Resp> = match r {
        Resp::Array(a) | Resp::Set(a) => a.iter().collect(),
        Resp::Map(m) => m.iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return None,
    };
    let mut out = Vec::new();
    for i in items {
        match i {
            Resp::Bulk(b) => out.push(b.clone()),
            Resp::Array(inner) => out.extend(flat(&Resp::Array(inner.clone()))?),
            _ => return None,
        }
    }
    Some(out)
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// Pairs of a flat field/value list, sorted.
fn sorted_pairs(v: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut p: Vec<(Vec<u8>, Vec<u8>)> = v
        .chunks(2)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect();
    p.sort();
    p
}

/// Same reply type (array/set/map/bulk/nil...) and, for aggregates, the same length.
fn same_shape(a: &Resp, b: &Resp) -> bool {
    match (a, b) {
        (Resp::Array(x), Resp::Array(y)) | (Resp::Set(x), Resp::Set(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
        }
        (Resp::Map(x), Resp::Map(y)) => x.len() == y.len(),
        (Resp::Bulk(_), Resp::Bulk(_)) => true,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn is_canonical_int(m: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(m) else {
        return false;
    };
    match s.parse::<i64>() {
        Ok(v) => v.to_string() == s,
        Err(_) => false,
    }
}

impl Runner {
    fn fail(&self, cmd: &str, what: &str) -> ! {
        let hist: Vec<String> = self.history.iter().map(|h| format!("    {h}")).collect();
        panic!(
            "differential mismatch: seed {} step {}\n  command: {}\n  {}\n  preceding commands (oldest first):\n{}",
            self.seed,
            self.step,
            cmd,
            what,
            hist.join("\n")
        );
    }

    /// The servers' write counters (`rdb_changes_since_last_save`, Redis's `dirty`) must
    /// agree: commands count changes the way Redis does (per field, per member...).
    fn compare_dirty(&mut self) {
        let get = |c: &mut RawConn| -> String {
            let info = c.cmd(&["INFO", "persistence"]);
            let text = match &info {
                Resp::Bulk(t) | Resp::Verbatim(_, t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            };
            text.lines()
                .find(|l| l.starts_with("rdb_changes_since_last_save:"))
                .unwrap_or("")
                .to_string()
        };
        let (f, r) = (get(&mut self.ferro), get(&mut self.redis));
        if f != r {
            self.fail(
                "INFO persistence",
                &format!("dirty differs: ferrodis {f}, redis {r}"),
            );
        }
    }

    fn remember(&mut self, cmd: String) {
        if self.history.len() == 16 {
            self.history.pop_front();
        }
        self.history.push_back(cmd);
    }

    /// Sends to both; returns (ferrodis, redis) raw replies.
    fn both(&mut self, args: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let cmd = show_cmd(args);
        let enc = common::encode(args);
        self.ferro.send(&enc);
        self.redis.send(&enc);
        let r = match self.redis.try_read_raw() {
            Ok(Some(r)) => r,
            other => self.fail(&cmd, &format!("redis-server did not reply: {other:?}")),
        };
        let f = match self.ferro.try_read_raw() {
            Ok(Some(f)) => f,
            other => self.fail(&cmd, &format!("ferrodis did not reply: {other:?}")),
        };
        self.remember(cmd);
        if let Resp::Error(e) = parsed(&r) {
            let word = String::from_utf8_lossy(&e).into_owned();
            *self.seen.entry(format!("error {word}")).or_default() += 1;
        }
        (f, r)
    }

    fn differ(&self, args: &[Vec<u8>], how: &str, f: &[u8], r: &[u8]) -> ! {
        self.fail(
            &show_cmd(args),
            &format!(
                "replies differ ({how})\n  ferrodis: {}\n  redis:    {}",
                show(f),
                show(r)
            ),
        )
    }

    /// Sends to both and requires identical replies; returns Redis's.
    fn exact(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let (f, r) = self.both(args);
        if f != r {
            self.differ(args, "exact", &f, &r);
        }
        r
    }

    fn encoding(&mut self, key: &[u8]) -> Vec<u8> {
        let r = self.exact(&[b("OBJECT"), b("ENCODING"), key.to_vec()]);
        let e = match parsed(&r) {
            Resp::Bulk(e) => e,
            _ => Vec::new(),
        };
        *self
            .seen
            .entry(format!("encoding {}", String::from_utf8_lossy(&e)))
            .or_default() += 1;
        e
    }

    fn redis_items(&mut self, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
        flat(&self.redis.cmd(args)).unwrap_or_default()
    }

    fn run(&mut self, args: Vec<Vec<u8>>, cmp: Cmp) {
        match cmp {
            Cmp::Exact => {
                self.exact(&args);
            }
            Cmp::HashWhole { key, pairs } => {
                let enc = self.encoding(&key);
                let (f, r) = self.both(&args);
                if f == r {
                    return;
                }
                if enc == b"listpack" {
                    self.differ(&args, "listpack order", &f, &r);
                }
                let (pf, pr) = (parsed(&f), parsed(&r));
                let ok = match (flat(&pf), flat(&pr)) {
                    (Some(a), Some(b)) if pairs => {
                        same_shape(&pf, &pr) && sorted_pairs(&a) == sorted_pairs(&b)
                    }
                    (Some(a), Some(b)) => same_shape(&pf, &pr) && sorted(a) == sorted(b),
                    _ => false,
                };
                if !ok {
                    self.differ(&args, "unordered", &f, &r);
                }
            }
            Cmp::SetWhole { keys } => {
                let mut all_intset = true;
                for k in &keys {
                    let e = self.encoding(k);
                    if !e.is_empty() && e != b"intset" {
                        all_intset = false;
                    }
                }
                let (f, r) = self.both(&args);
                if f == r {
                    return;
                }
                if all_intset {
                    self.differ(&args, "intset order", &f, &r);
                }
                self.unordered(&args, &f, &r);
            }
            Cmp::BuiltSet => {
                let (f, r) = self.both(&args);
                if f == r {
                    return;
                }
                let pr = parsed(&r);
                if let Some(items) = flat(&pr) {
                    if items.len() <= self.max_intset && items.iter().all(|m| is_canonical_int(m)) {
                        self.differ(&args, "result is an intset: ascending order", &f, &r);
                    }
                }
                self.unordered(&args, &f, &r);
            }
            Cmp::HScan { key } => self.scan(args, key, true),
            Cmp::SScan { key } => self.scan(args, key, false),
            Cmp::HRand { key } => self.hrand(args, key),
            Cmp::SRand { key } => self.srand(args, key),
            Cmp::SPop { key } => self.spop(args, key),
        }
    }

    fn unordered(&self, args: &[Vec<u8>], f: &[u8], r: &[u8]) {
        let (pf, pr) = (parsed(f), parsed(r));
        let ok = same_shape(&pf, &pr)
            && flat(&pf)
                .zip(flat(&pr))
                .is_some_and(|(a, b)| sorted(a) == sorted(b));
        if !ok {
            self.differ(args, "unordered", f, r);
        }
    }

    /// HSCAN/SSCAN: exact for compact encodings (returned whole); a full iteration on each
    /// server compared as sets for hashtables.
    fn scan(&mut self, args: Vec<Vec<u8>>, key: Vec<u8>, hash: bool) {
        let enc = self.encoding(&key);
        if enc != b"hashtable" {
            self.exact(&args);
            return;
        }
        let collect = |conn: &mut RawConn| -> Result<Vec<Vec<u8>>, Vec<u8>> {
            let mut cursor = b("0");
            let mut items = Vec::new();
            for _ in 0..100_000 {
                let mut a = args.clone();
                a[2] = cursor.clone();
                let raw = conn.cmd_raw(&a);
                let Resp::Array(parts) = parsed(&raw) else {
                    return Err(raw);
                };
                let (Some(Resp::Bulk(c)), Some(list)) = (parts.first(), parts.get(1)) else {
                    return Err(raw);
                };
                items.extend(flat(list).unwrap_or_default());
                if c.as_slice() == b"0" {
                    break;
                }
                cursor = c.clone();
            }
            Ok(items)
        };
        let (f, r) = (collect(&mut self.ferro), collect(&mut self.redis));
        self.remember(format!("{} (full scan)", show_cmd(&args)));
        match (f, r) {
            (Ok(f), Ok(r)) => {
                // A full scan may repeat members; compare the distinct ones.
                let same = if hash {
                    let fs: HashSet<(Vec<u8>, Vec<u8>)> = sorted_pairs(&f).into_iter().collect();
                    let rs: HashSet<(Vec<u8>, Vec<u8>)> = sorted_pairs(&r).into_iter().collect();
                    fs == rs
                } else {
                    let fs: HashSet<Vec<u8>> = f.into_iter().collect();
                    let rs: HashSet<Vec<u8>> = r.into_iter().collect();
                    fs == rs
                };
                if !same {
                    self.fail(&show_cmd(&args), "full scans returned different members");
                }
            }
            (f, r) => {
                let (f, r) = (f.err().unwrap_or_default(), r.err().unwrap_or_default());
                if f != r {
                    self.differ(&args, "scan error", &f, &r);
                }
            }
        }
    }

    fn hrand(&mut self, args: Vec<Vec<u8>>, key: Vec<u8>) {
        let enc = self.encoding(&key);
        let content = sorted_pairs(&self.redis_items(&[b("HGETALL"), key.clone()]));
        let (f, r) = self.both(&args);
        if f == r {
            return;
        }
        let (pf, pr) = (parsed(&f), parsed(&r));
        if pr.is_error() || pf.is_error() || !same_shape(&pf, &pr) {
            self.differ(&args, "shape", &f, &r);
        }
        let count = args
            .get(2)
            .map(|c| String::from_utf8_lossy(c).parse::<i64>().unwrap_or(0));
        let withvalues = args.len() == 4;
        let picks = match &pf {
            Resp::Bulk(field) => vec![field.clone()],
            other => flat(other).unwrap_or_default(),
        };
        let fields: HashSet<&Vec<u8>> = content.iter().map(|(k, _)| k).collect();
        let step = if withvalues { 2 } else { 1 };
        let mut seen = HashSet::new();
        for c in picks.chunks(step) {
            let ok = if withvalues {
                content.binary_search(&(c[0].clone(), c[1].clone())).is_ok()
            } else {
                fields.contains(&c[0])
            };
            if !ok {
                self.differ(&args, "pick is not a member", &f, &r);
            }
            if count.is_some_and(|n| n > 0) && !seen.insert(c[0].clone()) {
                self.differ(&args, "repeated pick", &f, &r);
            }
        }
        // Asking for the whole hash returns it in iteration order.
        if count.is_some_and(|n| n > 0 && n as usize >= content.len()) && enc == b"listpack" {
            self.differ(&args, "whole listpack hash", &f, &r);
        }
    }

    fn srand(&mut self, args: Vec<Vec<u8>>, key: Vec<u8>) {
        let enc = self.encoding(&key);
        let members: HashSet<Vec<u8>> = self
            .redis_items(&[b("SMEMBERS"), key.clone()])
            .into_iter()
            .collect();
        let (f, r) = self.both(&args);
        if f == r {
            return;
        }
        let (pf, pr) = (parsed(&f), parsed(&r));
        if pr.is_error() || pf.is_error() || !same_shape(&pf, &pr) {
            self.differ(&args, "shape", &f, &r);
        }
        let count = args
            .get(2)
            .map(|c| String::from_utf8_lossy(c).parse::<i64>().unwrap_or(0));
        let picks = match &pf {
            Resp::Bulk(m) => vec![m.clone()],
            other => flat(other).unwrap_or_default(),
        };
        let mut seen = HashSet::new();
        for m in &picks {
            if !members.contains(m) {
                self.differ(&args, "pick is not a member", &f, &r);
            }
            if count.is_some_and(|n| n > 0) && !seen.insert(m.clone()) {
                self.differ(&args, "repeated pick", &f, &r);
            }
        }
        if count.is_some_and(|n| n > 0 && n as usize >= members.len()) && enc == b"intset" {
            self.differ(&args, "whole intset", &f, &r);
        }
    }

    fn spop(&mut self, args: Vec<Vec<u8>>, key: Vec<u8>) {
        let enc = self.encoding(&key);
        let before: HashSet<Vec<u8>> = self
            .redis_items(&[b("SMEMBERS"), key.clone()])
            .into_iter()
            .collect();
        let (f, r) = self.both(&args);
        let (pf, pr) = (parsed(&f), parsed(&r));
        if pr.is_error() || pf.is_error() || pr.is_nil() || pf.is_nil() || f == r {
            if f != r {
                self.differ(&args, "exact", &f, &r);
            }
        } else {
            if !same_shape(&pf, &pr) {
                self.differ(&args, "shape", &f, &r);
            }
            let popped = match &pf {
                Resp::Bulk(m) => vec![m.clone()],
                other => flat(other).unwrap_or_default(),
            };
            let whole = popped.len() == before.len();
            if whole && enc == b"intset" {
                self.differ(&args, "whole intset pop", &f, &r);
            }
            let mut expect = before.clone();
            for m in &popped {
                if !expect.remove(m) {
                    self.differ(&args, "popped a non-member (or twice)", &f, &r);
                }
            }
            let left: HashSet<Vec<u8>> = flat(&self.ferro.cmd(&[b("SMEMBERS"), key.clone()]))
                .unwrap_or_default()
                .into_iter()
                .collect();
            if left != expect {
                self.fail(&show_cmd(&args), "ferrodis's remaining members are wrong");
            }
            // When most of a hashtable set is popped, Redis rebuilds the survivors as a new
            // set, which is an intset if they are all (few) integers.
            let size = before.len();
            let count = popped.len();
            let rebuilt = args.len() == 3 && count < size && (size - count) * 5 <= count;
            if rebuilt && enc == b"hashtable" {
                *self
                    .seen
                    .entry("spop rebuilds a hashtable set".into())
                    .or_default() += 1;
            }
            let expect_enc: &[u8] = if enc == b"intset"
                || (rebuilt
                    && left.len() <= self.max_intset
                    && left.iter().all(|m| is_canonical_int(m)))
            {
                b"intset"
            } else if left.is_empty() {
                b""
            } else {
                b"hashtable"
            };
            let got = self.ferro.cmd(&[b("OBJECT"), b("ENCODING"), key.clone()]);
            let got = got.bytes().unwrap_or_default().to_vec();
            if got != expect_enc {
                self.fail(
                    &show_cmd(&args),
                    &format!(
                        "ferrodis's encoding after SPOP: {:?}, expected {:?}",
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(expect_enc)
                    ),
                );
            }
        }
        // Resynchronise: both servers get Redis's remaining members.
        let remaining = self.redis_items(&[b("SMEMBERS"), key.clone()]);
        self.ferro.cmd(&[b("DEL"), key.clone()]);
        self.redis.cmd(&[b("DEL"), key.clone()]);
        if !remaining.is_empty() {
            let mut sadd = vec![b("SADD"), key.clone()];
            sadd.extend(remaining);
            self.exact(&sadd);
        }
    }
}

struct Gen {
    rng: SmallRng,
}

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.gen_range(0..from.len())]
    }

    fn long(&mut self, c: u8) -> Vec<u8> {
        let n = self.rng.gen_range(60..80);
        vec![c; n]
    }

    fn field(&mut self) -> Vec<u8> {
        if self.rng.gen_ratio(1, 150) {
            self.long(b'F')
        } else {
            b(self.pick(FIELDS))
        }
    }

    fn value(&mut self) -> Vec<u8> {
        if self.rng.gen_ratio(1, 100) {
            self.long(b'V')
        } else {
            b(self.pick(VALUES))
        }
    }

    fn member(&mut self) -> Vec<u8> {
        if self.rng.gen_ratio(1, 200) {
            self.long(b'M')
        } else if self.rng.gen_ratio(1, 30) {
            b(self.pick(&MEMBERS[16..]))
        } else if self.rng.gen_ratio(1, 6) {
            // A wider spread of integers so intsets grow past small limits.
            self.rng.gen_range(-300..300i64).to_string().into_bytes()
        } else {
            b(self.pick(&MEMBERS[..16]))
        }
    }

    fn hash_key(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..40) {
            0 => STR_KEY.to_vec(),
            1 => MISSING.to_vec(),
            2 => SET_KEYS[0].to_vec(),
            _ => HASH_KEYS[self.rng.gen_range(0..HASH_KEYS.len())].to_vec(),
        }
    }

    fn set_key(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..40) {
            0 => STR_KEY.to_vec(),
            1 => MISSING.to_vec(),
            2 => HASH_KEYS[0].to_vec(),
            _ => SET_KEYS[self.rng.gen_range(0..SET_KEYS.len())].to_vec(),
        }
    }

    fn count(&mut self) -> Vec<u8> {
        match self.rng.gen_range(0..12) {
            0 => b("0"),
            1 => b("x"),
            2 => b("-9223372036854775808"),
            3 => b("1"),
            4 => b("-1"),
            5 => b("100"),
            6 => self.rng.gen_range(-12..0i64).to_string().into_bytes(),
            _ => self.rng.gen_range(2..12i64).to_string().into_bytes(),
        }
    }

    fn scan_opts(&mut self, args: &mut Vec<Vec<u8>>) {
        for _ in 0..self.rng.gen_range(0..3) {
            match self.rng.gen_range(0..8) {
                0 => args.extend([b("COUNT"), b("0")]),
                1 => args.extend([b("COUNT"), b("x")]),
                2 => args.push(b("MATCH")),
                3 => args.extend([b("TYPE"), b("hash")]),
                4 | 5 => args.extend([b("MATCH"), b(self.pick(PATTERNS))]),
                _ => args.extend([
                    b("count"),
                    self.rng.gen_range(1..20i64).to_string().into_bytes(),
                ]),
            }
        }
    }

    fn hash_cmd(&mut self) -> (Vec<Vec<u8>>, Cmp) {
        let key = self.hash_key();
        let k = key.clone();
        let exact = Cmp::Exact;
        let r = self.rng.gen_range(0..100);
        let cmd: (Vec<Vec<u8>>, Cmp) = match r {
            0..=17 => {
                let name = if self.rng.gen_ratio(1, 5) {
                    "HMSET"
                } else {
                    "HSET"
                };
                let mut a = vec![b(name), k];
                for _ in 0..self.rng.gen_range(1..5) {
                    a.push(self.field());
                    a.push(self.value());
                }
                if self.rng.gen_ratio(1, 30) {
                    a.pop();
                }
                (a, exact)
            }
            18..=21 => (vec![b("HSETNX"), k, self.field(), self.value()], exact),
            22..=27 => (vec![b("HGET"), k, self.field()], exact),
            28..=30 => {
                let mut a = vec![b("HMGET"), k];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.push(self.field());
                }
                (a, exact)
            }
            31..=38 => {
                let mut a = vec![b("HDEL"), k];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.push(self.field());
                }
                (a, exact)
            }
            39..=41 => (vec![b("HLEN"), k], exact),
            42..=44 => (vec![b("HSTRLEN"), k, self.field()], exact),
            45..=47 => (vec![b("HEXISTS"), k, self.field()], exact),
            48..=50 => (vec![b("HKEYS"), k], Cmp::HashWhole { key, pairs: false }),
            51..=53 => (vec![b("HVALS"), k], Cmp::HashWhole { key, pairs: false }),
            54..=58 => (vec![b("HGETALL"), k], Cmp::HashWhole { key, pairs: true }),
            59..=65 => (
                vec![b("HINCRBY"), k, self.field(), b(self.pick(INCRS))],
                exact,
            ),
            66..=71 => (
                vec![
                    b("HINCRBYFLOAT"),
                    k,
                    self.field(),
                    b(self.pick(FLOAT_INCRS)),
                ],
                exact,
            ),
            72..=81 => {
                let mut a = vec![b("HRANDFIELD"), k];
                if self.rng.gen_ratio(3, 4) {
                    a.push(self.count());
                    match self.rng.gen_range(0..10) {
                        0..=4 => a.push(b("WITHVALUES")),
                        5 => a.push(b("withvalue")),
                        6 => a.extend([b("WITHVALUES"), b("x")]),
                        _ => {}
                    }
                }
                (a, Cmp::HRand { key })
            }
            82..=88 => {
                let cursor = if self.rng.gen_ratio(1, 10) {
                    b("abc")
                } else {
                    b("0")
                };
                let mut a = vec![b("HSCAN"), k, cursor];
                self.scan_opts(&mut a);
                (a, Cmp::HScan { key })
            }
            89..=90 => (vec![b("HGET"), k], exact),
            91 => (vec![b("HSET"), k, self.field()], exact),
            92..=93 => (vec![b("DEL"), k], exact),
            94 => (vec![b("TYPE"), k], exact),
            95 => (vec![b("EXISTS"), k], exact),
            _ => (vec![b("OBJECT"), b("ENCODING"), k], exact),
        };
        cmd
    }

    fn some_set_keys(&mut self) -> Vec<Vec<u8>> {
        let n = self.rng.gen_range(1..4);
        self.set_keys(n)
    }

    fn set_keys(&mut self, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.set_key()).collect()
    }

    fn set_cmd(&mut self) -> (Vec<Vec<u8>>, Cmp) {
        let key = self.set_key();
        let k = key.clone();
        let exact = Cmp::Exact;
        match self.rng.gen_range(0..100) {
            0..=19 => {
                let mut a = vec![b("SADD"), k];
                for _ in 0..self.rng.gen_range(1..6) {
                    a.push(self.member());
                }
                (a, exact)
            }
            20..=29 => {
                let mut a = vec![b("SREM"), k];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.push(self.member());
                }
                (a, exact)
            }
            30..=32 => (vec![b("SCARD"), k], exact),
            33..=36 => (vec![b("SISMEMBER"), k, self.member()], exact),
            37..=39 => {
                let mut a = vec![b("SMISMEMBER"), k];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.push(self.member());
                }
                (a, exact)
            }
            40..=45 => (vec![b("SMEMBERS"), k], Cmp::SetWhole { keys: vec![key] }),
            46..=51 => {
                let mut a = vec![b("SRANDMEMBER"), k];
                if self.rng.gen_ratio(3, 4) {
                    a.push(self.count());
                }
                if self.rng.gen_ratio(1, 20) {
                    a.push(b("x"));
                }
                (a, Cmp::SRand { key })
            }
            52..=57 => {
                let mut a = vec![b("SPOP"), k];
                if self.rng.gen_ratio(2, 3) {
                    a.push(self.count());
                }
                if self.rng.gen_ratio(1, 20) {
                    a.push(b("x"));
                }
                (a, Cmp::SPop { key })
            }
            58..=63 => (vec![b("SMOVE"), k, self.set_key(), self.member()], exact),
            64..=68 => {
                let keys = self.some_set_keys();
                let mut a = vec![b("SINTER")];
                a.extend(keys.iter().cloned());
                (a, Cmp::SetWhole { keys })
            }
            69..=71 => {
                let n = self.rng.gen_range(1..4);
                let keys = self.set_keys(n);
                let num = match self.rng.gen_range(0..10) {
                    0 => b("0"),
                    1 => b("x"),
                    2 => (n + 1).to_string().into_bytes(),
                    _ => n.to_string().into_bytes(),
                };
                let mut a = vec![b("SINTERCARD"), num];
                a.extend(keys);
                match self.rng.gen_range(0..6) {
                    0 => a.extend([
                        b("LIMIT"),
                        self.rng.gen_range(0..4i64).to_string().into_bytes(),
                    ]),
                    1 => a.extend([b("LIMIT"), b("-1")]),
                    2 => a.push(b("LIMIT")),
                    3 => a.push(b("foo")),
                    _ => {}
                }
                (a, exact)
            }
            72..=75 => {
                let mut a = vec![b("SINTERSTORE"), k];
                a.extend(self.some_set_keys());
                (a, exact)
            }
            76..=80 => {
                let mut a = vec![b("SUNION")];
                a.extend(self.some_set_keys());
                (a, Cmp::BuiltSet)
            }
            81..=83 => {
                let mut a = vec![b("SUNIONSTORE"), k];
                a.extend(self.some_set_keys());
                (a, exact)
            }
            84..=88 => {
                let mut a = vec![b("SDIFF")];
                a.extend(self.some_set_keys());
                (a, Cmp::BuiltSet)
            }
            89..=91 => {
                let mut a = vec![b("SDIFFSTORE"), k];
                a.extend(self.some_set_keys());
                (a, exact)
            }
            92..=96 => {
                let cursor = if self.rng.gen_ratio(1, 10) {
                    b("-x")
                } else {
                    b("0")
                };
                let mut a = vec![b("SSCAN"), k, cursor];
                self.scan_opts(&mut a);
                (a, Cmp::SScan { key })
            }
            97..=98 => (vec![b("DEL"), k], exact),
            _ => (vec![b("OBJECT"), b("ENCODING"), k], exact),
        }
    }
}

/// Reads each subscriber's keyspace notifications up to a marker and compares the two
/// streams message by message.
fn compare_notifications(run: &mut Runner, subs: &mut [RawConn; 2]) {
    run.ferro.cmd(&["PUBLISH", "__keyspace@9__:zz-end", "end"]);
    run.redis.cmd(&["PUBLISH", "__keyspace@9__:zz-end", "end"]);
    let mut streams: Vec<Vec<Resp>> = Vec::new();
    for s in subs.iter_mut() {
        let mut msgs = Vec::new();
        loop {
            let m = s.read();
            let items = m.array().to_vec();
            if items.get(2) == Some(&Resp::Bulk(b("__keyspace@9__:zz-end"))) {
                break;
            }
            msgs.push(m);
        }
        streams.push(msgs);
    }
    let (f, r) = (&streams[0], &streams[1]);
    for i in 0..f.len().max(r.len()) {
        if f.get(i) != r.get(i) {
            panic!(
                "seed {}: keyspace notification {i} of {} differs\n  ferrodis: {:?}\n  redis:    {:?}\n  redis before: {:?}",
                run.seed,
                r.len(),
                f.get(i),
                r.get(i),
                &r[i.saturating_sub(4)..i]
            );
        }
    }
    *run.seen.entry("keyspace notifications".into()).or_default() += r.len() as u64;
}

/// Runs one seed on a fresh pair of servers.
fn run_seed(seed: u64, small_limits: bool) {
    let args: &[&str] = if small_limits {
        &[
            "--hash-max-listpack-entries",
            "6",
            "--hash-max-listpack-value",
            "16",
            "--set-max-intset-entries",
            "6",
        ]
    } else {
        &[]
    };
    let (ferro_srv, redis_srv): (Server, Server) = start_both(args);
    let mut run = Runner {
        seed,
        step: 0,
        ferro: ferro_srv.raw(),
        redis: redis_srv.raw(),
        history: VecDeque::new(),
        resp3: false,
        max_intset: if small_limits { 6 } else { 512 },
        seen: Default::default(),
    };
    let mut gen = Gen {
        rng: SmallRng::seed_from_u64(seed),
    };
    // Keyspace notifications (all classes, "new" included) are compared at the end: their
    // names and order are part of the behaviour.
    run.exact(&[
        b("CONFIG"),
        b("SET"),
        b("notify-keyspace-events"),
        b("KEAn"),
    ]);
    let mut subs = [ferro_srv.raw(), redis_srv.raw()];
    for s in &mut subs {
        s.cmd(&["PSUBSCRIBE", "__key*"]);
    }
    run.exact(&[b("SET"), STR_KEY.to_vec(), b("text")]);
    for family in 0..2 {
        for _ in 0..STEPS_PER_FAMILY {
            run.step += 1;
            if gen.rng.gen_ratio(1, 150) {
                // Switch protocols; HELLO replies carry the client id, so only check both
                // accepted it.
                run.resp3 = !run.resp3;
                let v = if run.resp3 { "3" } else { "2" };
                let (f, r) = run.both(&[b("HELLO"), b(v)]);
                if parsed(&f).is_error() || parsed(&r).is_error() {
                    run.differ(&[b("HELLO"), b(v)], "hello", &f, &r);
                }
                continue;
            }
            run.compare_dirty();
            let (args, cmp) = if family == 0 {
                gen.hash_cmd()
            } else {
                gen.set_cmd()
            };
            run.run(args, cmp);
        }
        // Settle: every key's type, encoding and contents agree.
        let keys: Vec<&[u8]> = HASH_KEYS.iter().chain(SET_KEYS).copied().collect();
        for k in keys {
            run.exact(&[b("TYPE"), k.to_vec()]);
            run.encoding(k);
            let ty = run.redis_items(&[b("TYPE"), k.to_vec()]);
            let _ = ty;
            run.run(
                vec![b("HGETALL"), k.to_vec()],
                Cmp::HashWhole {
                    key: k.to_vec(),
                    pairs: true,
                },
            );
            run.run(
                vec![b("SMEMBERS"), k.to_vec()],
                Cmp::SetWhole {
                    keys: vec![k.to_vec()],
                },
            );
        }
    }
    run.exact(&[b("DBSIZE")]);
    compare_notifications(&mut run, &mut subs);
    eprintln!("seed {seed}: {} steps", run.step);
    for (what, n) in &run.seen {
        eprintln!("  {n:6} {what}");
    }
}

#[test]
fn hashes_and_sets_default_limits() {
    for seed in [1, 2] {
        run_seed(seed, false);
    }
}

#[test]
fn hashes_and_sets_small_limits() {
    for seed in [3, 4] {
        run_seed(seed, true);
    }
}

/// A RESP3 client subscribed to its own keyspace events sees events and replies
/// interleaved; the interleaving (an event before or after the reply of the command that
/// caused it) must be Redis's.
#[test]
fn notifications_interleave_with_replies_like_redis() {
    let (ferro_srv, redis_srv) = start_both(&["--notify-keyspace-events", "KEAn"]);
    let script: &[&[&str]] = &[
        &["PSUBSCRIBE", "__keyevent@0__:*"],
        &["HSET", "h", "a", "1", "b", "2"],
        &["HSET", "h", "a", "3"],
        &["HSETNX", "h", "c", "1"],
        &["HSETNX", "h", "c", "1"],
        &["HDEL", "h", "a", "b", "c"],
        &["HINCRBY", "h2", "f", "1"],
        &["HINCRBYFLOAT", "h2", "f", "1.5"],
        &["HDEL", "h2", "f"],
        &["SADD", "s", "1", "2", "3"],
        &["SADD", "s", "1"],
        &["SREM", "s", "1"],
        &["SMOVE", "s", "t", "2"],
        &["SMOVE", "s", "t", "3"],
        &["SADD", "t", "3"],
        &["SMOVE", "t", "t", "3"],
        &["SADD", "x", "3"],
        &["SMOVE", "x", "t", "3"],
        &["SINTERSTORE", "d", "t", "nokey"],
        &["SUNIONSTORE", "d", "t"],
        &["SUNIONSTORE", "d", "t"],
        &["SDIFFSTORE", "d", "t", "t"],
        &["SINTERSTORE", "d", "t"],
        &["SDIFFSTORE", "d", "nokey"],
        &["SPOP", "t", "5"],
        &["SADD", "u", "1"],
        &["SPOP", "u"],
        &["SADD", "v", "a", "b"],
        &["SPOP", "v", "0"],
        &["SREM", "v", "a", "b"],
        &["PING"],
    ];
    let mut streams = Vec::new();
    for srv in [&ferro_srv, &redis_srv] {
        let mut c = srv.raw();
        c.cmd(&["HELLO", "3"]);
        for cmd in script {
            c.send_cmd(cmd);
        }
        let mut got = Vec::new();
        while !got.ends_with(b"+PONG\r\n") {
            got.extend(c.read_raw());
        }
        streams.push(got);
    }
    // Compare line by line so a mismatch points at the first differing reply or event.
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .split("\r\n")
            .map(str::to_string)
            .collect()
    };
    let (f, r) = (lines(&streams[0]), lines(&streams[1]));
    for i in 0..f.len().max(r.len()) {
        assert_eq!(
            f.get(i),
            r.get(i),
            "line {i} differs (ferrodis left, redis right); redis before: {:?}",
            &r[i.saturating_sub(12)..i.min(r.len())]
        );
    }
}
