//! Differential test of the list commands: random LPUSH ... LMPOP (and the blocking pops in
//! their non-blocking outcomes) replayed against the real redis-server and ferrodis, every
//! reply compared byte for byte.
//!
//! Each seed runs on a fresh pair of servers with its own list-max-listpack-size, so node
//! splitting, merging and the element-count fill are all exercised (long pushes grow lists
//! to hundreds of elements, and the occasional 5 KB element overflows a node on its own).
//! One seed speaks RESP3. Arguments mix valid values with the invalid ones whose error
//! text Redis checks (non-integers, out-of-range counts, zero ranks, bad directions, extra
//! arguments), and a string key and a hash-free key space make WRONGTYPE common.
//!
//! Blocking commands only run where they cannot block on both servers for long: inside
//! MULTI/EXEC (where they must behave like their non-blocking form) or with a 10 ms
//! timeout. The run ends with the contents, types and encodings of every key and DEBUG
//! DIGEST.

mod common;

use common::diff::{op, Duo, Op};
use common::{start_both, RawConn};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

const STEPS_PER_SEED: u64 = 3000;

/// List keys, plus "str" which is made a string at the start (WRONGTYPE).
const KEYS: &[&str] = &["l1", "l2", "l3", "{t}a", "{t}b", "str"];

const ELEMENTS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "1",
    "2",
    "-3",
    "100",
    "0",
    "01",
    "-0",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "3.5",
    "",
    "x y",
    "a-longer-element-that-takes-more-than-sixty-four-bytes-in-its-listpack-entry-encoding",
];

const BAD_INTS: &[&str] = &[
    "abc",
    "1.5",
    "",
    " 1",
    "9223372036854775808",
    "-9223372036854775809",
    "9223372036854775807",
    "-9223372036854775808",
    "+1",
];

struct Gen {
    rng: SmallRng,
}

impl Gen {
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.rng.gen_range(0..v.len())]
    }

    fn key(&mut self) -> String {
        self.pick(KEYS).to_string()
    }

    fn element(&mut self) -> String {
        match self.rng.gen_range(0..200) {
            0 => "y".repeat(5000),
            1..=20 => self.rng.gen_range(0..400).to_string(),
            _ => self.pick(ELEMENTS).to_string(),
        }
    }

    fn elements(&mut self, max: usize) -> Vec<String> {
        (0..self.rng.gen_range(1..=max))
            .map(|_| self.element())
            .collect()
    }

    /// A small index or count, sometimes an invalid or extreme one.
    fn int(&mut self, lo: i64, hi: i64) -> String {
        if self.rng.gen_ratio(1, 25) {
            self.pick(BAD_INTS).to_string()
        } else {
            self.rng.gen_range(lo..=hi).to_string()
        }
    }

    fn side(&mut self) -> String {
        match self.rng.gen_range(0..41) {
            0 => "up".into(),
            1..=20 => "left".into(),
            21..=38 => "RIGHT".into(),
            _ => "Left".into(),
        }
    }

    fn timeout(&mut self) -> String {
        match self.rng.gen_range(0..20) {
            0 => "-1".into(),
            1 => "abc".into(),
            2 => "inf".into(),
            _ => "0.01".into(),
        }
    }

    /// `numkeys key... side [COUNT n]` for LMPOP/BLMPOP.
    fn mpop_tail(&mut self) -> Vec<String> {
        let n = self.rng.gen_range(1..=3);
        let mut a = vec![match self.rng.gen_range(0..30) {
            0 => "0".into(),
            1 => "-1".into(),
            2 => "x".into(),
            3 => "9".into(),
            _ => n.to_string(),
        }];
        for _ in 0..n {
            a.push(self.key());
        }
        a.push(self.side());
        match self.rng.gen_range(0..8) {
            0..=3 => {}
            4 => {
                a.push("COUNT".into());
                a.push(self.int(-1, 3));
            }
            5 => {
                a.push("count".into());
                a.push(self.int(1, 5));
                if self.rng.gen_bool(0.3) {
                    a.push("COUNT".into());
                    a.push("1".into());
                }
            }
            6 => a.push("COUNT".into()),
            _ => {
                a.push("COUNT".into());
                a.push(self.int(1, 50));
            }
        }
        a
    }

    fn lpos(&mut self, k: String) -> Vec<String> {
        let mut a = vec!["lpos".into(), k, self.element()];
        for _ in 0..self.rng.gen_range(0..3) {
            match self.rng.gen_range(0..7) {
                0 | 1 => {
                    a.push("RANK".into());
                    a.push(match self.rng.gen_range(0..12) {
                        0 => "0".into(),
                        1 => "-9223372036854775808".into(),
                        _ => self.int(-3, 3),
                    });
                }
                2 | 3 => {
                    a.push("COUNT".into());
                    a.push(self.int(-1, 4));
                }
                4 | 5 => {
                    a.push("MAXLEN".into());
                    a.push(self.int(-1, 20));
                }
                _ => a.push("BOGUS".into()),
            }
        }
        a
    }

    /// A blocking command that cannot wait long (see the module doc).
    fn blocking(&mut self, k: String, k2: String) -> Vec<String> {
        match self.rng.gen_range(0..5) {
            0 => vec!["blpop".into(), k, k2, self.timeout()],
            1 => vec!["brpop".into(), k, self.timeout()],
            2 => vec![
                "blmove".into(),
                k,
                k2,
                self.side(),
                self.side(),
                self.timeout(),
            ],
            3 => vec!["brpoplpush".into(), k, k2, self.timeout()],
            _ => {
                let mut a = vec!["blmpop".into(), self.timeout()];
                a.extend(self.mpop_tail());
                a
            }
        }
    }

    /// One random command, or a MULTI ... EXEC group.
    fn commands(&mut self) -> Vec<Vec<String>> {
        let k = self.key();
        let k2 = self.key();
        let one: Vec<String> = match self.rng.gen_range(0..100) {
            0..=13 => {
                let cmd = if self.rng.gen_bool(0.5) {
                    "lpush"
                } else {
                    "rpush"
                };
                let mut a = vec![cmd.into(), k];
                // Now and then a long push, so lists grow past a node.
                let max = if self.rng.gen_ratio(1, 6) { 80 } else { 6 };
                a.extend(self.elements(max));
                a
            }
            14..=16 => {
                let cmd = if self.rng.gen_bool(0.5) {
                    "lpushx"
                } else {
                    "rpushx"
                };
                let mut a = vec![cmd.into(), k];
                a.extend(self.elements(3));
                a
            }
            17..=24 => {
                let cmd = if self.rng.gen_bool(0.5) {
                    "lpop"
                } else {
                    "rpop"
                };
                match self.rng.gen_range(0..10) {
                    0..=4 => vec![cmd.into(), k],
                    5..=8 => vec![cmd.into(), k, self.int(-1, 6)],
                    _ => vec![cmd.into(), k, "1".into(), "2".into()],
                }
            }
            25..=27 => vec!["llen".into(), k],
            28..=35 => vec!["lrange".into(), k, self.int(-12, 12), self.int(-12, 12)],
            36..=40 => vec!["lindex".into(), k, self.int(-200, 200)],
            41..=44 => vec!["lset".into(), k, self.int(-200, 200), self.element()],
            45..=49 => vec![
                "linsert".into(),
                k,
                match self.rng.gen_range(0..21) {
                    0 => "middle".into(),
                    1..=10 => "BEFORE".into(),
                    _ => "after".into(),
                },
                self.element(),
                self.element(),
            ],
            50..=54 => vec!["lrem".into(), k, self.int(-3, 3), self.element()],
            55..=57 => vec!["ltrim".into(), k, self.int(-15, 15), self.int(-15, 15)],
            58..=64 => self.lpos(k),
            65..=69 => vec!["lmove".into(), k, k2, self.side(), self.side()],
            70..=71 => vec!["rpoplpush".into(), k, k2],
            72..=75 => {
                let mut a = vec!["lmpop".into()];
                a.extend(self.mpop_tail());
                a
            }
            76 => vec!["del".into(), k],
            77 => vec!["lrange".into(), k, self.int(-300, 300), self.int(-300, 300)],
            78 => vec!["type".into(), k],
            79 => vec!["object".into(), "encoding".into(), k],
            80..=85 => {
                // Blocking commands inside a transaction never block.
                let mut group = vec![vec!["multi".to_string()]];
                for _ in 0..self.rng.gen_range(1..=3) {
                    let (a, b) = (self.key(), self.key());
                    group.push(self.blocking(a, b));
                }
                group.push(vec!["exec".to_string()]);
                return group;
            }
            86..=89 => self.blocking(k, k2),
            90..=92 => vec!["lrange".into(), k, "0".into(), "-1".into()],
            _ => vec!["exists".into(), k],
        };
        vec![one]
    }
}

fn to_op(args: &[String]) -> Op {
    op(args.iter().map(|a| a.as_bytes().to_vec()).collect())
}

/// Switches a connection to RESP3, discarding the HELLO reply (its client id differs).
fn hello3(c: &mut RawConn) {
    c.send_cmd(&["HELLO", "3"]);
    c.read_raw();
}

fn run_seed(seed: u64, fill: &str, resp3: bool) {
    let args = [
        "--enable-debug-command",
        "yes",
        "--list-max-listpack-size",
        fill,
    ];
    let (ferro, redis) = start_both(&args);
    let steps = std::env::var("FERRODIS_DIFF_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS_PER_SEED);
    let (mut f, mut r) = (ferro.raw(), redis.raw());
    if resp3 {
        hello3(&mut f);
        hello3(&mut r);
    }
    let mut duo = Duo {
        seed,
        step: 0,
        ferro: f,
        redis: r,
        history: VecDeque::new(),
        trace: std::env::var_os("FERRODIS_DIFF_TRACE").is_some(),
    };
    duo.run_args(&[b"set", b"str", b"a string"]);
    let mut g = Gen {
        rng: SmallRng::seed_from_u64(seed),
    };
    for step in 0..steps {
        duo.step = step;
        for cmd in g.commands() {
            duo.run(&to_op(&cmd));
        }
    }
    for k in KEYS {
        let k = k.as_bytes();
        duo.run_args(&[b"type", k]);
        duo.run_args(&[b"object", b"encoding", k]);
        duo.run_args(&[b"lrange", k, b"0", b"-1"]);
    }
    duo.run_args(&[b"debug", b"digest"]);
}

#[test]
fn list_seed_1_default_fill() {
    run_seed(1, "-2", false);
}

#[test]
fn list_seed_2_small_count_fill() {
    run_seed(2, "4", false);
}

#[test]
fn list_seed_3_small_byte_fill_resp3() {
    run_seed(3, "-1", true);
}

#[test]
fn list_seed_4_one_per_node() {
    run_seed(4, "1", false);
}
