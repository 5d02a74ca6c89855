//! Differential test of the sorted set commands: seeded random command streams replayed
//! against the real redis-server and ferrodis, every reply compared byte for byte.
//!
//! The streams mix valid and invalid arguments (bad floats, bad ranges, option conflicts,
//! wrong arities), keys of other types (WRONGTYPE), missing keys, and both encodings: one
//! half of the seeds runs with tiny listpack limits so sets convert all the time, the other
//! with Redis's defaults and a key grown past 128 members. Halfway through each seed both
//! connections switch to RESP3 (HELLO 3), so doubles, nulls and WITHSCORES pairs are
//! checked in both protocols.
//!
//! Where Redis's reply is not determined by the data, the comparison is by shape:
//! ZRANDMEMBER (same length, except a count covering the whole set, which Redis returns in
//! a fixed order), and ZSCAN of a skiplist (cursors differ: a full iteration is run on
//! each server and the collected pairs compared as a multiset, ferrodis's without
//! duplicates). Lex-range commands only run on keys whose scores are all equal: on
//! unequal scores Redis's answer depends on its skiplist's random levels.
//!
//! Each seed ends by comparing every key's type, encoding and full contents.

mod common;

use common::diff::{int_of, parsed, Check, Duo, Op};
use common::{encode, show, show_cmd, start_both, RawConn, Resp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

const STEPS_PER_SEED: u64 = 3_000;

/// Sorted set keys (any scores).
const ZKEYS: &[&str] = &["z1", "z2", "z3", "big"];
/// Sorted set keys that only ever hold score 0 (lex commands).
const LEXKEYS: &[&str] = &["lex1", "lex2"];
/// Keys of other types, or never written.
const OTHER: &[&str] = &["str", "s1", "s2", "none"];

const MEMBERS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "aa",
    "ab",
    "1",
    "2",
    "10",
    "-3",
    "007",
    "0",
    "3.5",
    "",
    "hello world",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "a-member-that-is-longer-than-sixteen-bytes",
    "a-member-that-is-much-longer-than-the-default-sixty-four-byte-listpack-value-limit",
];

const SCORES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "1.5",
    "-2.5",
    "0.1",
    "1e300",
    "-1e300",
    "inf",
    "-inf",
    "+inf",
    "1e17",
    "4611686018427387904",
    "4611686018427387905",
    "9007199254740993",
    "0x10",
    "-0x1p-2",
    "1e-310",
    "-0",
    "+3",
    "3.0",
    "1E2",
    "123456789.123456789",
];

const BAD_SCORES: &[&str] = &[
    "abc", "nan", "", " 1", "1 ", "1e400", "1e-400", "1.5x", "(1", "--1",
];

const LEX: &[&str] = &[
    "-", "+", "[a", "(a", "[b", "(c", "[aa", "(e", "[j", "(z", "[", "(", "[1", "(10", "[0",
];

const BAD_LEX: &[&str] = &["a", "+x", "-a", "", "]a"];

struct Gen {
    rng: SmallRng,
    /// Whether ferrodis has set commands (sets are inputs of ZUNION and friends).
    sets: bool,
}

fn s(v: &str) -> String {
    v.to_string()
}

impl Gen {
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.rng.gen_range(0..v.len())]
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.gen_range(0..100) < percent
    }

    /// Mostly zset keys, sometimes lex keys, other types or missing keys.
    fn key(&mut self) -> String {
        match self.rng.gen_range(0..100) {
            0..=74 => s(self.pick(ZKEYS)),
            75..=84 => s(self.pick(LEXKEYS)),
            _ => s(self.pick(OTHER)),
        }
    }

    /// A destination for store commands: never a lex key (it would get other scores).
    fn dst(&mut self) -> String {
        if self.chance(85) {
            s(self.pick(ZKEYS))
        } else {
            s(self.pick(&["str", "none", "dst"]))
        }
    }

    /// A key for commands that set scores: never a lex key.
    fn wkey(&mut self) -> String {
        match self.rng.gen_range(0..100) {
            0..=84 => s(self.pick(ZKEYS)),
            _ => s(self.pick(OTHER)),
        }
    }

    /// Keys for lex-range commands: lex keys, a string, or a key nothing ever writes.
    fn lex_key(&mut self) -> String {
        if self.chance(90) {
            s(self.pick(LEXKEYS))
        } else {
            s(self.pick(&["strlex", "never"]))
        }
    }

    fn member(&mut self) -> String {
        if self.chance(15) {
            format!("m{}", self.rng.gen_range(0..40))
        } else {
            s(self.pick(MEMBERS))
        }
    }

    fn score(&mut self) -> String {
        match self.rng.gen_range(0..100) {
            0..=2 => s(self.pick(BAD_SCORES)),
            3..=30 => self.rng.gen_range(-20..20).to_string(),
            31..=40 => format!("{:.2}", self.rng.gen_range(-100.0..100.0f64)),
            _ => s(self.pick(SCORES)),
        }
    }

    fn int(&mut self, lo: i64, hi: i64) -> String {
        self.rng.gen_range(lo..=hi).to_string()
    }

    fn rank(&mut self) -> String {
        match self.rng.gen_range(0..20) {
            0 => s(self.pick(&["x", "1.5", "", "9223372036854775808"])),
            1 => s(self.pick(&["9223372036854775807", "-9223372036854775808"])),
            _ => self.int(-12, 12),
        }
    }

    fn score_bound(&mut self) -> String {
        match self.rng.gen_range(0..100) {
            0..=4 => s(self.pick(&["abc", "((1", "nan", "(nan", "1x", " ", "(", "", " 2", "0x"])),
            5..=14 => s(self.pick(&["-inf", "+inf", "(-inf", "(+inf", "inf", "-1e999"])),
            15..=44 => {
                let v = self.rng.gen_range(-10..10).to_string();
                if self.chance(40) {
                    format!("({v}")
                } else {
                    v
                }
            }
            _ => {
                let v = self.pick(SCORES);
                if self.chance(30) {
                    format!("({v}")
                } else {
                    s(v)
                }
            }
        }
    }

    fn lex_bound(&mut self) -> String {
        if self.chance(5) {
            s(self.pick(BAD_LEX))
        } else {
            s(self.pick(LEX))
        }
    }

    fn zadd_flags(&mut self, lex: bool) -> Vec<String> {
        let mut v = Vec::new();
        let pool: &[&str] = if lex {
            &["NX", "XX", "CH"]
        } else {
            &["NX", "XX", "GT", "LT", "CH", "INCR", "nx", "gt"]
        };
        let n = match self.rng.gen_range(0..10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        for _ in 0..n {
            v.push(s(self.pick(pool)));
        }
        v
    }

    /// A few input keys for the set algebra, sometimes including sets.
    fn inputs(&mut self) -> Vec<String> {
        let n = self.rng.gen_range(1..=3);
        (0..n)
            .map(|_| match self.rng.gen_range(0..10) {
                0 if self.sets => s(self.pick(&["s1", "s2"])),
                1 => s(self.pick(&["none", "str"])),
                2 => s(self.pick(LEXKEYS)),
                _ => s(self.pick(ZKEYS)),
            })
            .collect()
    }

    fn command(&mut self) -> Action {
        let exact = |args: Vec<String>| Action::Op(args, Check::Exact);
        let w = self.rng.gen_range(0..1000);
        match w {
            // ZADD (the workhorse)
            0..=199 => {
                let lex = self.chance(20);
                let key = if lex { self.lex_key() } else { self.wkey() };
                let mut a = vec![s("zadd"), key];
                a.extend(self.zadd_flags(lex));
                let pairs = self.rng.gen_range(1..=4);
                for _ in 0..pairs {
                    a.push(if lex { s("0") } else { self.score() });
                    a.push(self.member());
                }
                if self.chance(3) {
                    a.pop();
                }
                exact(a)
            }
            200..=219 => {
                // Grow "big" past the default listpack limit of 128 members.
                let mut a = vec![s("zadd"), s("big")];
                for _ in 0..20 {
                    a.push(self.rng.gen_range(-50..50).to_string());
                    a.push(format!("m{}", self.rng.gen_range(0..400)));
                }
                exact(a)
            }
            220..=249 => {
                let k = self.wkey();
                exact(vec![s("zincrby"), k, self.score(), self.member()])
            }
            250..=289 => {
                let mut a = vec![s("zrem"), self.key()];
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.member());
                }
                exact(a)
            }
            290..=299 => exact(vec![s("zcard"), self.key()]),
            300..=319 => exact(vec![s("zscore"), self.key(), self.member()]),
            320..=329 => {
                let mut a = vec![s("zmscore"), self.key()];
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.member());
                }
                exact(a)
            }
            330..=349 => {
                let c = if self.chance(50) { "zrank" } else { "zrevrank" };
                exact(vec![s(c), self.key(), self.member()])
            }
            350..=369 => exact(vec![
                s("zcount"),
                self.key(),
                self.score_bound(),
                self.score_bound(),
            ]),
            370..=379 => exact(vec![
                s("zlexcount"),
                self.lex_key(),
                self.lex_bound(),
                self.lex_bound(),
            ]),
            380..=449 => exact(self.zrange(false)),
            450..=469 => exact(self.zrange(true)),
            470..=489 => {
                let c = self.pick(&["zrangebyscore", "zrevrangebyscore"]);
                let mut a = vec![s(c), self.key(), self.score_bound(), self.score_bound()];
                if self.chance(40) {
                    a.push(s("WITHSCORES"));
                }
                if self.chance(30) {
                    a.extend([s("LIMIT"), self.int(-2, 5), self.int(-2, 5)]);
                }
                if self.chance(3) {
                    a.push(s("BYSCORE"));
                }
                exact(a)
            }
            490..=504 => {
                let c = self.pick(&["zrangebylex", "zrevrangebylex"]);
                let mut a = vec![s(c), self.lex_key(), self.lex_bound(), self.lex_bound()];
                if self.chance(30) {
                    a.extend([s("LIMIT"), self.int(-1, 4), self.int(-2, 4)]);
                }
                if self.chance(5) {
                    a.push(s("WITHSCORES"));
                }
                exact(a)
            }
            505..=519 => {
                let mut a = vec![s("zrevrange"), self.key(), self.rank(), self.rank()];
                if self.chance(40) {
                    a.push(s("withscores"));
                }
                if self.chance(3) {
                    a.push(s("REV"));
                }
                exact(a)
            }
            520..=534 => exact(vec![
                s("zremrangebyrank"),
                self.key(),
                self.rank(),
                self.rank(),
            ]),
            535..=549 => exact(vec![
                s("zremrangebyscore"),
                self.key(),
                self.score_bound(),
                self.score_bound(),
            ]),
            550..=559 => exact(vec![
                s("zremrangebylex"),
                self.lex_key(),
                self.lex_bound(),
                self.lex_bound(),
            ]),
            560..=599 => {
                let c = self.pick(&["zpopmin", "zpopmax"]);
                let mut a = vec![s(c), self.key()];
                match self.rng.gen_range(0..10) {
                    0..=3 => {}
                    4..=8 => a.push(self.int(-1, 4)),
                    _ => {
                        a.push(s(self.pick(&["x", "1", "0"])));
                        if self.chance(50) {
                            a.push(s("1"));
                        }
                    }
                }
                exact(a)
            }
            600..=629 => {
                let keys = self.inputs();
                let mut n = keys.len().to_string();
                if self.chance(5) {
                    n = s(self.pick(&["0", "-1", "x", "9"]));
                }
                let mut a = vec![s("zmpop"), n];
                a.extend(keys);
                a.push(s(self.pick(&["MIN", "MAX", "min", "max", "mid"])));
                if self.chance(50) {
                    a.extend([s("COUNT"), self.int(-1, 5)]);
                }
                if self.chance(5) {
                    a.extend([s("COUNT"), s("1")]);
                }
                exact(a)
            }
            630..=719 => exact(self.setop()),
            720..=744 => {
                let key = self.key();
                let mut a = vec![s("zrandmember"), key];
                if self.chance(80) {
                    a.push(match self.rng.gen_range(0..10) {
                        0 => s("0"),
                        1 => s("x"),
                        2 => s("5000000000000000000"),
                        3..=5 => self.int(-5, 5),
                        _ => self.int(1, 300),
                    });
                    if self.chance(50) {
                        a.push(s(self.pick(&[
                            "WITHSCORES",
                            "withscores",
                            "WITHSCORES",
                            "x",
                        ])));
                    }
                }
                Action::RandMember(a)
            }
            745..=769 => {
                let key = self.key();
                let mut a = vec![s("zscan"), key];
                if self.chance(5) {
                    a.push(s(self.pick(&["x", "1.5", "18446744073709551616"])));
                } else {
                    a.push(s("0"));
                }
                if self.chance(40) {
                    a.extend([
                        s("MATCH"),
                        s(self.pick(&["*", "a*", "m1*", "?", "[a-c]", "*o*"])),
                    ]);
                }
                if self.chance(40) {
                    a.extend([s("COUNT"), s(self.pick(&["1", "3", "100", "0", "x"]))]);
                }
                if self.chance(3) {
                    a.extend([s("TYPE"), s("zset")]);
                }
                Action::Scan(a)
            }
            770..=789 => exact(vec![s("object"), s("encoding"), self.key()]),
            790..=799 => exact(vec![s("type"), self.key()]),
            800..=809 => exact(vec![s("set"), s("str"), s("x")]),
            810..=819 if self.sets => {
                let mut a = vec![s("sadd"), s(self.pick(&["s1", "s2"]))];
                for _ in 0..self.rng.gen_range(1..=4) {
                    a.push(self.member());
                }
                exact(a)
            }
            820..=829 => exact(vec![s("del"), self.key()]),
            830..=849 => {
                // Wrong arities and unknown options.
                let c = self.pick(&[
                    "zadd",
                    "zincrby",
                    "zrem",
                    "zcard",
                    "zscore",
                    "zrank",
                    "zcount",
                    "zrange",
                    "zpopmin",
                    "zmpop",
                    "zunion",
                    "zinterstore",
                    "zscan",
                    "zrangestore",
                    "zintercard",
                ]);
                let mut a = vec![s(c)];
                for _ in 0..self.rng.gen_range(0..3) {
                    a.push(self.key());
                }
                exact(a)
            }
            _ => {
                // ZADD on lex keys with equal scores and lex reads, to keep them populated.
                let k = s(self.pick(LEXKEYS));
                let mut a = vec![s("zadd"), k];
                for _ in 0..3 {
                    a.push(s("0"));
                    a.push(self.member());
                }
                exact(a)
            }
        }
    }

    fn zrange(&mut self, store: bool) -> Vec<String> {
        let mut a = if store {
            vec![s("zrangestore"), self.dst()]
        } else {
            vec![s("zrange")]
        };
        let kind = self.rng.gen_range(0..10);
        let lex = kind >= 8;
        a.push(if lex { self.lex_key() } else { self.key() });
        match kind {
            0..=3 => {
                a.push(self.rank());
                a.push(self.rank());
            }
            4..=7 => {
                a.push(self.score_bound());
                a.push(self.score_bound());
                a.push(s("BYSCORE"));
            }
            _ => {
                a.push(self.lex_bound());
                a.push(self.lex_bound());
                a.push(s("BYLEX"));
            }
        }
        if self.chance(35) {
            a.push(s("REV"));
        }
        if self.chance(25) {
            a.extend([s("LIMIT"), self.int(-1, 4), self.int(-2, 5)]);
        }
        if !store && !lex && self.chance(40) {
            a.push(s("WITHSCORES"));
        }
        if self.chance(4) {
            a.push(s(self.pick(&[
                "WITHSCORES",
                "BYSCORE",
                "REV",
                "x",
                "LIMIT",
            ])));
        }
        // Options in another order now and then.
        if self.chance(20) && a.len() > 6 {
            let start = if store { 5 } else { 4 };
            let tail = a.split_off(start);
            let mut words: Vec<Vec<String>> = Vec::new();
            let mut i = 0;
            while i < tail.len() {
                if tail[i] == "LIMIT" && i + 2 < tail.len() {
                    words.push(tail[i..i + 3].to_vec());
                    i += 3;
                } else {
                    words.push(vec![tail[i].clone()]);
                    i += 1;
                }
            }
            words.reverse();
            a.extend(words.into_iter().flatten());
        }
        a
    }

    fn setop(&mut self) -> Vec<String> {
        let c = self.pick(&[
            "zunion",
            "zinter",
            "zdiff",
            "zunionstore",
            "zinterstore",
            "zdiffstore",
            "zintercard",
        ]);
        let store = c.ends_with("store");
        let mut a = vec![s(c)];
        if store {
            a.push(self.dst());
        }
        let keys = self.inputs();
        let n = keys.len();
        a.push(if self.chance(4) {
            s(self.pick(&["0", "-1", "x", "5"]))
        } else {
            n.to_string()
        });
        a.extend(keys);
        if self.chance(35) {
            a.push(s("WEIGHTS"));
            for _ in 0..n {
                a.push(if self.chance(5) {
                    s(self.pick(&["x", "nan", "inf", "-inf"]))
                } else {
                    s(self.pick(&["1", "2", "0", "-1", "0.5", "1e300"]))
                });
            }
        }
        if self.chance(35) {
            a.extend([
                s("AGGREGATE"),
                s(self.pick(&["SUM", "MIN", "MAX", "max", "avg"])),
            ]);
        }
        if self.chance(35) {
            a.push(s("WITHSCORES"));
        }
        if c == "zintercard" && self.chance(50) {
            a.extend([s("LIMIT"), self.int(-1, 3)]);
        }
        a
    }
}

enum Action {
    Op(Vec<String>, Check),
    RandMember(Vec<String>),
    Scan(Vec<String>),
}

fn bytes(args: &[String]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.clone().into_bytes()).collect()
}

/// Sends one command to both servers and returns both raw replies (redis first).
fn both(duo: &mut Duo, args: &[String]) -> (Vec<u8>, Vec<u8>) {
    let enc = encode(args);
    duo.ferro.send(&enc);
    duo.redis.send(&enc);
    let r = duo.redis.read_raw();
    let f = duo.ferro.read_raw();
    if duo.history.len() == 12 {
        duo.history.pop_front();
    }
    duo.history.push_back(show_cmd(args));
    (r, f)
}

fn top_len(r: &Resp) -> Option<usize> {
    match r {
        Resp::Array(a) | Resp::Set(a) => Some(a.len()),
        _ => None,
    }
}

/// ZRANDMEMBER: exact where Redis is deterministic, by shape elsewhere.
fn rand_member(duo: &mut Duo, args: &[String]) {
    let card = duo.run(&Op {
        args: bytes(&["zcard".to_string(), args[1].clone()]),
        check: Check::Exact,
    });
    let size = int_of(&card);
    let (r, f) = both(duo, args);
    if r == f {
        return;
    }
    let count = args.get(2).and_then(|c| c.parse::<i64>().ok());
    let deterministic = match (size, count) {
        (None, _) | (Some(0), _) => true,
        (Some(n), Some(c)) => c == 0 || c >= n,
        (Some(_), None) => args.len() > 2,
    };
    let (pr, pf) = (parsed(&r), parsed(&f));
    let same_shape = !pr.is_error()
        && !pf.is_error()
        && match (top_len(&pr), top_len(&pf)) {
            (Some(a), Some(b)) => a == b,
            (None, None) => pr.is_nil() == pf.is_nil(),
            _ => false,
        };
    if deterministic || !same_shape {
        let cmd = show_cmd(args);
        duo.fail(
            &cmd,
            &format!(
                "replies differ\n  ferrodis: {}\n  redis:    {}",
                show(&f),
                show(&r)
            ),
        );
    }
}

/// Runs a whole ZSCAN iteration on one server: the (member, score) pairs, or the first
/// error's raw bytes.
/// (member, score) pairs collected by a full ZSCAN.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn scan_all(c: &mut RawConn, args: &[String]) -> Result<Pairs, Vec<u8>> {
    let mut cursor = args[2].clone().into_bytes();
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let mut a: Vec<Vec<u8>> = bytes(args);
        a[2] = cursor.clone();
        let raw = c.cmd_raw(&a);
        let r = parsed(&raw);
        let Resp::Array(items) = r else {
            return Err(raw);
        };
        let (Some(Resp::Bulk(next)), Some(Resp::Array(kv))) = (items.first(), items.get(1)) else {
            return Err(raw);
        };
        for pair in kv.chunks(2) {
            let b = |x: &Resp| match x {
                Resp::Bulk(b) => b.clone(),
                other => format!("{other:?}").into_bytes(),
            };
            out.push((b(&pair[0]), pair.get(1).map(b).unwrap_or_default()));
        }
        if next == b"0" {
            return Ok(out);
        }
        cursor = next.clone();
    }
    Err(b"scan did not finish".to_vec())
}

fn scan(duo: &mut Duo, args: &[String]) {
    let cmd = show_cmd(args);
    if duo.history.len() == 12 {
        duo.history.pop_front();
    }
    duo.history.push_back(cmd.clone());
    let r = scan_all(&mut duo.redis, args);
    let f = scan_all(&mut duo.ferro, args);
    match (r, f) {
        (Err(r), Err(f)) if r == f => {}
        (Ok(mut r), Ok(mut f)) => {
            r.sort();
            let n = f.len();
            f.sort();
            f.dedup_by(|a, b| a.0 == b.0);
            if f.len() != n {
                duo.fail(&cmd, "ferrodis returned a member twice");
            }
            if r != f {
                duo.fail(
                    &cmd,
                    &format!("scans differ\n  ferrodis: {f:?}\n  redis:    {r:?}"),
                );
            }
        }
        (r, f) => duo.fail(
            &cmd,
            &format!("scans differ\n  ferrodis: {f:?}\n  redis:    {r:?}"),
        ),
    }
}

fn run_seed(seed: u64, small: bool) {
    let mut args = vec!["--enable-debug-command", "yes"];
    if small {
        args.extend([
            "--zset-max-listpack-entries",
            "6",
            "--zset-max-listpack-value",
            "12",
        ]);
    }
    let (ferro, redis) = start_both(&args);
    let steps = std::env::var("FERRODIS_DIFF_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS_PER_SEED);
    let mut duo = Duo {
        seed,
        step: 0,
        ferro: ferro.raw(),
        redis: redis.raw(),
        history: VecDeque::new(),
        trace: std::env::var_os("FERRODIS_DIFF_TRACE").is_some(),
    };
    // Sets are inputs of the set algebra once ferrodis has them.
    let probe = duo.ferro.cmd_raw(&["sadd", "s1", "a"]);
    let sets = !probe.starts_with(b"-");
    if sets {
        duo.redis.cmd_raw(&["sadd", "s1", "a"]);
    } else {
        duo.ferro.cmd_raw(&["del", "s1"]);
    }
    duo.run_args(&[b"set", b"str", b"x"]);
    duo.run_args(&[b"set", b"strlex", b"x"]);
    let mut g = Gen {
        rng: SmallRng::seed_from_u64(seed),
        sets,
    };
    for step in 0..steps {
        duo.step = step;
        if step == steps / 2 {
            duo.ferro.cmd_raw(&["hello", "3"]);
            duo.redis.cmd_raw(&["hello", "3"]);
        }
        match g.command() {
            Action::Op(a, check) => {
                duo.run(&Op {
                    args: bytes(&a),
                    check,
                });
            }
            Action::RandMember(a) => rand_member(&mut duo, &a),
            Action::Scan(a) => scan(&mut duo, &a),
        }
    }
    for k in ZKEYS.iter().chain(LEXKEYS).chain(OTHER).chain(&["dst"]) {
        let k = k.as_bytes();
        duo.run_args(&[b"type", k]);
        duo.run_args(&[b"object", b"encoding", k]);
        let t = duo
            .redis
            .cmd_raw(&["type", std::str::from_utf8(k).unwrap_or("")]);
        if t.windows(4).any(|w| w == b"zset") {
            duo.run_args(&[b"zrange", k, b"0", b"-1", b"withscores"]);
        }
    }
}

#[test]
fn zset_small_limits_seed_1() {
    run_seed(11, true);
}

#[test]
fn zset_small_limits_seed_2() {
    run_seed(22, true);
}

#[test]
fn zset_small_limits_seed_3() {
    run_seed(33, true);
}

#[test]
fn zset_default_limits_seed_1() {
    run_seed(44, false);
}

#[test]
fn zset_default_limits_seed_2() {
    run_seed(55, false);
}

/// Fixed scenarios where exact bytes matter most: score formatting in both protocols,
/// encodings at the thresholds, and the listpack's integer-stored scores.
#[test]
fn zset_score_formatting_and_encodings() {
    let (ferro, redis) = start_both(&[]);
    let mut cmds: Vec<Vec<&str>> = vec![
        vec![
            "zadd", "f", "0.1", "a", "1e300", "b", "-0", "c", "1e17", "d", "inf", "e",
        ],
        vec![
            "zadd",
            "f",
            "-inf",
            "g",
            "4611686018427387905",
            "h",
            "1.5e-7",
            "i",
            "0x1p-1074",
            "j",
        ],
        vec!["zrange", "f", "0", "-1", "withscores"],
        vec!["zscan", "f", "0"],
        vec!["zscore", "f", "c"],
        vec!["zincrby", "f", "0.2", "a"],
        vec!["zadd", "f", "incr", "-inf", "e"],
        vec!["zadd", "f", "incr", "1", "e"],
        vec!["object", "encoding", "f"],
        vec![
            "zadd",
            "sk",
            "-0",
            "x",
            "1",
            "a-member-that-is-much-longer-than-the-default-sixty-four-byte-listpack-value-limit",
        ],
        vec!["object", "encoding", "sk"],
        vec!["zscore", "sk", "x"],
        vec!["zunionstore", "u", "2", "f", "sk"],
        vec!["object", "encoding", "u"],
        vec!["zrangestore", "r", "sk", "0", "0"],
        vec!["object", "encoding", "r"],
        vec!["zmscore", "f", "a", "zz", "b"],
        vec!["zrandmember", "f", "20", "withscores"],
        vec!["zrandmember", "f", "-2", "withscores"],
        vec!["zpopmin", "f"],
        vec!["zpopmax", "f", "2"],
        vec!["zmpop", "2", "nokey", "f", "max", "count", "2"],
        vec!["zrange", "f", "0", "-1", "withscores"],
    ];
    // The same in RESP3.
    let resp3 = cmds.clone();
    cmds.push(vec!["flushall"]);
    cmds.push(vec!["hello", "3"]);
    cmds.extend(resp3);
    let refs: Vec<Vec<&str>> = cmds;
    let slices: Vec<&[&str]> = refs.iter().map(|v| v.as_slice()).collect();
    // ZRANDMEMBER with a negative count is random: compare shape via lengths only by
    // dropping it from the exact session.
    let slices: Vec<&[&str]> = slices
        .into_iter()
        .filter(|c| !(c[0] == "zrandmember" && c[2].starts_with('-')))
        .collect();
    common::compare_session(&ferro, &redis, &slices);
}

/// A set crossing 128 members converts; reads by rank stay O(log n) and agree with Redis.
#[test]
fn zset_large_skiplist_agrees() {
    let (ferro, redis) = start_both(&[]);
    let mut f = ferro.raw();
    let mut r = redis.raw();
    let mut rng = SmallRng::seed_from_u64(9);
    let mut check = |args: Vec<String>| {
        let a = f.cmd_raw(&args);
        let b = r.cmd_raw(&args);
        assert_eq!(show(&a), show(&b), "{}", show_cmd(&args));
    };
    for chunk in 0..40 {
        let mut a = vec![s("zadd"), s("L")];
        for _ in 0..100 {
            a.push(rng.gen_range(-1000..1000).to_string());
            a.push(format!("member:{}", rng.gen_range(0..3000)));
        }
        check(a);
        if chunk % 5 == 0 {
            check(vec![s("zremrangebyscore"), s("L"), s("(0"), s("10")]);
        }
    }
    check(vec![s("object"), s("encoding"), s("L")]);
    check(vec![s("zcard"), s("L")]);
    for _ in 0..200 {
        let m = format!("member:{}", rng.gen_range(0..3000));
        check(vec![s("zrank"), s("L"), m.clone()]);
        check(vec![s("zrevrank"), s("L"), m]);
        let a = rng.gen_range(-3000..3000).to_string();
        let b = rng.gen_range(-3000..3000).to_string();
        check(vec![
            s("zrange"),
            s("L"),
            a.clone(),
            b.clone(),
            s("withscores"),
        ]);
        check(vec![s("zcount"), s("L"), a.clone(), b.clone()]);
        check(vec![
            s("zrangebyscore"),
            s("L"),
            a,
            b,
            s("limit"),
            rng.gen_range(0..20).to_string(),
            rng.gen_range(0..20).to_string(),
        ]);
    }
    check(vec![s("zremrangebyrank"), s("L"), s("100"), s("-100")]);
    check(vec![s("zrange"), s("L"), s("0"), s("-1"), s("withscores")]);
    check(vec![s("zpopmax"), s("L"), s("50")]);
    check(vec![s("zrange"), s("L"), s("0"), s("-1"), s("withscores")]);
}

/// The keyspace events (and their order) of every write, as a subscriber sees them.
fn events(server: &common::Server, cmds: &[&[&str]]) -> Vec<String> {
    let mut sub = server.raw();
    sub.cmd_raw(&["psubscribe", "__key*__:*"]);
    sub.cmd_raw(&["subscribe", "done"]);
    let mut c = server.raw();
    c.cmd_raw(&["config", "set", "notify-keyspace-events", "KEA"]);
    for cmd in cmds {
        c.cmd_raw(cmd);
    }
    c.cmd_raw(&["publish", "done", "x"]);
    let mut out = Vec::new();
    loop {
        let raw = sub.read_raw();
        if let Resp::Array(items) = parsed(&raw) {
            if items.first() == Some(&Resp::Bulk(b"message".to_vec())) {
                break;
            }
        }
        out.push(show(&raw));
    }
    out
}

#[test]
fn zset_keyspace_events_match_redis() {
    let (ferro, redis) = start_both(&[]);
    let cmds: &[&[&str]] = &[
        &["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["zadd", "z", "1", "a"],
        &["zadd", "z", "xx", "5", "nope"],
        &["zadd", "z", "incr", "1", "a"],
        &["zincrby", "z", "2", "b"],
        &["zrem", "z", "nope"],
        &["zrem", "z", "a"],
        &["zremrangebyscore", "z", "100", "200"],
        &["zremrangebyscore", "z", "(3", "+inf"],
        &["zadd", "z", "0", "x", "0", "y", "5", "e"],
        &["zremrangebyrank", "z", "0", "0"],
        &["zremrangebylex", "z", "[y", "[y"],
        &["zpopmin", "z"],
        &["zpopmax", "z", "0"],
        &["zadd", "w", "1", "a", "2", "b"],
        &["zunionstore", "u", "2", "z", "w"],
        &["zinterstore", "u", "2", "z", "nokey"],
        &["zinterstore", "u", "2", "z", "nokey"],
        &["zdiffstore", "d", "1", "w"],
        &["set", "str", "x"],
        &["zrangestore", "str", "w", "0", "0"],
        &["zrangestore", "str", "nokey", "0", "-1"],
        &["zmpop", "2", "nokey", "w", "max", "count", "5"],
        &["zpopmax", "z", "10"],
        &["zrem", "d", "a", "b", "c"],
        &["zremrangebyrank", "u", "0", "-1"],
    ];
    let (f, r) = (events(&ferro, cmds), events(&redis, cmds));
    assert!(r.len() > 40, "{r:?}");
    assert_eq!(f, r);
}

/// Argument errors, in the order Redis checks them.
#[test]
fn zset_argument_errors_match_redis() {
    let (ferro, redis) = start_both(&[]);
    let cmds: &[&[&str]] = &[
        &["zadd", "k", "1", "a", "2", "b"],
        &["set", "str", "x"],
        &["zadd", "k", "nx"],
        &["zadd", "k", "1", "a", "2"],
        &["zadd", "k", "nx", "xx", "1", "a"],
        &["zadd", "k", "gt", "lt", "1", "a"],
        &["zadd", "k", "nx", "gt", "1", "a"],
        &["zadd", "k", "incr", "1", "a", "2", "b"],
        &["zadd", "k", "nx", "xx", "incr", "1", "a", "2", "b"],
        &["zadd", "k", "x", "a"],
        &["zadd", "str", "x", "a"],
        &["zadd", "str", "1", "a"],
        &["zadd", "none", "xx", "incr", "1", "a"],
        &["zadd", "none", "xx", "ch", "1", "a"],
        &["zadd", "k", "incr", "nx", "5", "a"],
        &["zadd", "k", "incr", "gt", "-5", "a"],
        &["zadd", "k", "ch", "gt", "5", "a", "0", "b", "3", "c"],
        &["zadd", "k", "inf", "inf"],
        &["zadd", "k", "incr", "-inf", "inf"],
        &["zincrby", "k", "nx", "a"],
        &["zincrby", "k", "x", "a"],
        &["zincrby", "k", "1e308", "a"],
        &["zincrby", "k", "1e308", "a"],
        &["zrange", "k", "0", "1", "limit", "0", "1"],
        &["zrange", "k", "0", "1", "limit", "0", "-1"],
        &["zrange", "k", "[a", "[b", "bylex", "withscores"],
        &["zrange", "k", "0", "1", "byscore", "bylex"],
        &["zrange", "k", "0", "1", "rev", "rev"],
        &["zrange", "k", "0", "1", "limit", "x", "1"],
        &["zrange", "k", "0", "1", "limit", "1"],
        &["zrange", "k", "x", "1"],
        &["zrange", "k", "a", "1", "byscore"],
        &["zrange", "k", "(", "1", "byscore"],
        &["zrange", "k", "a", "+", "bylex"],
        &["zrange", "str", "a", "+", "bylex"],
        &["zrange", "str", "0", "1"],
        &["zrangestore", "d", "k", "0", "-1", "withscores"],
        &["zrevrange", "k", "0", "-1", "rev"],
        &["zrangebyscore", "k", "-inf", "+inf", "byscore"],
        &[
            "zrangebyscore",
            "k",
            "-inf",
            "+inf",
            "limit",
            "1",
            "1",
            "withscores",
        ],
        &["zrevrangebylex", "k", "+", "-", "withscores"],
        &["zcount", "k", "x", "1"],
        &["zcount", "str", "0", "1"],
        &["zlexcount", "k", "x", "+"],
        &["zremrangebyrank", "k", "x", "1"],
        &["zremrangebyscore", "k", "x", "1"],
        &["zremrangebylex", "k", "x", "1"],
        &["zremrangebyscore", "str", "0", "1"],
        &["zunion", "0", "k"],
        &["zunion", "x", "k"],
        &["zunion", "3", "k"],
        &["zunion", "1", "k", "weights"],
        &["zunion", "1", "k", "weights", "x"],
        &["zunion", "1", "k", "aggregate"],
        &["zunion", "1", "k", "aggregate", "avg"],
        &["zunion", "2", "k", "str", "aggregate", "avg"],
        &["zdiff", "1", "k", "weights", "1"],
        &["zdiff", "1", "k", "aggregate", "sum"],
        &["zintercard", "1", "k", "withscores"],
        &["zintercard", "1", "k", "limit"],
        &["zintercard", "1", "k", "limit", "-1"],
        &["zintercard", "0", "k"],
        &["zunionstore", "d", "1", "k", "withscores"],
        &["zunionstore", "d", "-1", "k"],
        &["zpopmin", "k", "1", "2"],
        &["zpopmin", "k", "-1"],
        &["zpopmin", "str"],
        &["zmpop", "1", "k"],
        &["zmpop", "1", "k", "mid"],
        &["zmpop", "1", "k", "min", "count"],
        &["zmpop", "1", "k", "min", "count", "0"],
        &["zmpop", "1", "k", "min", "count", "1", "count", "1"],
        &["zmpop", "2", "str", "k", "min"],
        &["zmpop", "2", "none", "none2", "min"],
        &["zrandmember", "k", "1", "2"],
        &["zrandmember", "k", "x"],
        &["zrandmember", "k", "-4611686018427387905", "withscores"],
        &["zrandmember", "str", "1"],
        &["zrandmember", "none", "1"],
        &["zrandmember", "none"],
        &["zscan", "k", "x"],
        &["zscan", "k", "0", "count"],
        &["zscan", "k", "0", "count", "0"],
        &["zscan", "k", "0", "match"],
        &["zscan", "k", "0", "type", "zset"],
        &["zscan", "str", "0", "bogus"],
        &["zscan", "none", "0", "bogus"],
        &["zscore", "str", "a"],
        &["zmscore", "str", "a"],
        &["zmscore", "none", "a", "b"],
        &["zrank", "none", "a"],
        &["zrange", "k", "0", "-1", "withscores"],
    ];
    common::compare_session(&ferro, &redis, cmds);
}
