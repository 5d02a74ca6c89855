//! Differential comparison against the real redis-server: send the same command to both
//! servers, compare the replies (exactly, or by a `Check` where Redis's reply has no fixed
//! order or depends on the clock), and on a mismatch report the seed, step, command, both
//! replies and the commands that led there.

use std::collections::VecDeque;

use super::{parse_reply, show, show_cmd, RawConn, Resp};

/// How two replies are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Exact,
    /// Integers within this distance; negative answers (-1, -2) exactly.
    Tolerance(i64),
    /// An array compared as a multiset (KEYS).
    Unordered,
    /// SCAN: the cursor exactly, the keys as a multiset.
    Scan,
    /// Only whether the reply is nil (RANDOMKEY).
    NilOrNot,
}

pub struct Op {
    pub args: Vec<Vec<u8>>,
    pub check: Check,
}

pub fn op(args: Vec<Vec<u8>>) -> Op {
    Op {
        args,
        check: Check::Exact,
    }
}

/// Both servers and the last commands, for reporting.
pub struct Duo {
    pub seed: u64,
    pub step: u64,
    pub ferro: RawConn,
    pub redis: RawConn,
    pub history: VecDeque<String>,
    /// FERRODIS_DIFF_TRACE=1 prints every command and reply.
    pub trace: bool,
}

pub fn int_of(raw: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(raw.strip_prefix(b":")?.strip_suffix(b"\r\n")?).ok()?;
    s.parse().ok()
}

pub fn sorted_items(r: &Resp) -> Option<Vec<Vec<u8>>> {
    let Resp::Array(items) = r else {
        return None;
    };
    let mut v: Vec<Vec<u8>> = items
        .iter()
        .map(|i| match i {
            Resp::Bulk(b) => b.clone(),
            other => format!("{other:?}").into_bytes(),
        })
        .collect();
    v.sort();
    Some(v)
}

pub fn parsed(raw: &[u8]) -> Resp {
    parse_reply(raw)
        .ok()
        .flatten()
        .map(|(r, _)| r)
        .expect("a complete reply")
}

pub fn equivalent(check: Check, f: &[u8], r: &[u8]) -> bool {
    if f == r {
        return true;
    }
    match check {
        Check::Exact => false,
        Check::Tolerance(tol) => match (int_of(f), int_of(r)) {
            (Some(a), Some(b)) if a >= 0 && b >= 0 => (a - b).abs() <= tol,
            _ => false,
        },
        Check::Unordered => {
            let (a, b) = (parsed(f), parsed(r));
            sorted_items(&a).is_some() && sorted_items(&a) == sorted_items(&b)
        }
        Check::Scan => {
            let (a, b) = (parsed(f), parsed(r));
            match (a, b) {
                (Resp::Array(a), Resp::Array(b)) if a.len() == 2 && b.len() == 2 => {
                    a[0] == b[0]
                        && sorted_items(&a[1]).is_some()
                        && sorted_items(&a[1]) == sorted_items(&b[1])
                }
                _ => false,
            }
        }
        Check::NilOrNot => {
            let (a, b) = (parsed(f), parsed(r));
            a.is_nil() == b.is_nil() && !a.is_error() && !b.is_error()
        }
    }
}

impl Duo {
    /// Sends a command to both servers and compares the replies; panics on a mismatch.
    pub fn run(&mut self, o: &Op) -> Vec<u8> {
        let enc = super::encode(&o.args);
        self.ferro.send(&enc);
        self.redis.send(&enc);
        let cmd = show_cmd(&o.args);
        let r = match self.redis.try_read_raw() {
            Ok(Some(r)) => r,
            other => self.fail(&cmd, &format!("redis-server did not reply: {other:?}")),
        };
        let f = match self.ferro.try_read_raw() {
            Ok(Some(f)) => f,
            other => self.fail(
                &cmd,
                &format!(
                    "ferrodis did not reply: {other:?}\n  redis replied: {}",
                    show(&r)
                ),
            ),
        };
        if !equivalent(o.check, &f, &r) {
            self.fail(
                &cmd,
                &format!(
                    "replies differ ({:?})\n  ferrodis: {}\n  redis:    {}",
                    o.check,
                    show(&f),
                    show(&r)
                ),
            );
        }
        if self.trace {
            eprintln!("{} {} -> {}", self.step, cmd, show(&r));
        }
        if self.history.len() == 12 {
            self.history.pop_front();
        }
        self.history.push_back(cmd);
        r
    }

    pub fn run_args(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.run(&op(args.iter().map(|a| a.to_vec()).collect()))
    }

    pub fn fail(&self, cmd: &str, what: &str) -> ! {
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
}
