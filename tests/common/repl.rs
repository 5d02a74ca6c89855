//! Helpers shared by the replication tests: offsets, digests, waiting for a replica to
//! catch up, comparing datasets, and pipelining generated writes.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

pub use super::digest;
use super::{encode, info_field, RawConn, Resp, Server};

/// How long a replica may take to catch up with its master.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

pub fn int_field(c: &mut RawConn, section: &str, field: &str) -> i64 {
    info_field(c, section, field)
        .parse()
        .expect("integer field")
}

/// Waits until `replica`'s link is up and it has applied everything `master` produced.
pub fn wait_in_sync(master: &mut RawConn, replica: &mut RawConn, replica_srv: &Server) {
    let mut last = (0, 0);
    let ok = (0..(SYNC_TIMEOUT.as_millis() / 50)).any(|_| {
        let up = info_field(replica, "replication", "master_link_status") == "up";
        let m = int_field(master, "replication", "master_repl_offset");
        let r = int_field(replica, "replication", "slave_repl_offset");
        last = (m, r);
        if up && m == r {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(
        ok,
        "replica on port {} not in sync (master offset {}, replica offset {}). Its log:\n{}",
        replica_srv.port(),
        last.0,
        last.1,
        replica_srv.log()
    );
}

/// All datasets are equal. An expiry on the master may delete a key with its DEL still in
/// flight when the offsets match, so digests are compared until they agree for a bounded
/// time (a real divergence never does); on failure the differing keys are listed.
pub fn assert_same_data(conns: &mut [&mut RawConn], when: &str) {
    let mut last = Vec::new();
    let ok = (0..100).any(|_| {
        last = conns.iter_mut().map(|c| digest(c)).collect::<Vec<_>>();
        if last.windows(2).all(|w| w[0] == w[1]) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    if !ok {
        let shown: Vec<String> = last.iter().map(Resp::text).collect();
        panic!(
            "datasets differ {when}: digests {shown:?}\n{}",
            describe_differences(conns)
        );
    }
}

/// Which keys differ between the first server and the others, database by database (for
/// failure messages).
fn describe_differences(conns: &mut [&mut RawConn]) -> String {
    let mut out = String::new();
    let snapshot = |c: &mut RawConn| {
        let mut all = std::collections::BTreeMap::new();
        for db in 0..16 {
            c.cmd(&["SELECT", &db.to_string()]);
            let Resp::Array(keys) = c.cmd(&["KEYS", "*"]) else {
                continue;
            };
            for k in keys {
                let key = k.text();
                let d = c.cmd(&["DEBUG", "DIGEST-VALUE", &key]);
                let shown = match c.cmd(&["TYPE", &key]).text().as_str() {
                    "string" => c.cmd(&["GET", &key]).text(),
                    other => format!(
                        "{other} {}",
                        d.array().first().map_or(String::new(), Resp::text)
                    ),
                };
                let ttl = c.cmd(&["PTTL", &key]);
                all.insert((db, key), (d, format!("{shown} pttl {ttl:?}")));
            }
        }
        c.cmd(&["SELECT", "0"]);
        all
    };
    let snaps: Vec<_> = conns.iter_mut().map(|c| snapshot(c)).collect();
    for (i, s) in snaps.iter().enumerate().skip(1) {
        for (k, v) in &snaps[0] {
            match s.get(k) {
                None => out.push_str(&format!("server {i} lacks db{} {:?} {}\n", k.0, k.1, v.1)),
                Some(w) if w.0 != v.0 => out.push_str(&format!(
                    "db{} {:?}: {} vs server {i} {}\n",
                    k.0, k.1, v.1, w.1
                )),
                _ => {}
            }
        }
        for (k, w) in s {
            if !snaps[0].contains_key(k) {
                out.push_str(&format!(
                    "only server {i} has db{} {:?} {}\n",
                    k.0, k.1, w.1
                ));
            }
        }
    }
    out
}

/// Writes of every type, as templates for `random_write`: `%x` is a random key named
/// `x<N>`, `#` the write's random number.
pub const EVERY_TYPE: &[&str] = &[
    "SET %s #",
    "INCRBYFLOAT %f 1.5",
    "APPEND %s xy",
    "LPUSH %l # a",
    "RPOP %l",
    "LMOVE %l %l LEFT RIGHT",
    "HSET %h %f #",
    "HINCRBY %h cnt 3",
    "SADD %t # m",
    "SPOP %t",
    "SREM %t m",
    "ZADD %z # %m",
    "ZINCRBY %z 2.5 %m",
    "ZPOPMIN %z",
    "EXPIRE %s 1000",
    "PEXPIRE %h 5",
    "DEL %s",
    "SETEX %s 100 #",
    "SET %s # PX 40",
    "HDEL %h %f",
    "SETRANGE %s 3 zz",
    "PFADD %p # x",
    "LTRIM %l 0 20",
    "SMOVE %t %t m",
    "ZREMRANGEBYRANK %z 0 0",
    "HINCRBYFLOAT %h fl 0.25",
    "GETDEL %s",
    "PERSIST %s",
    "SINTERSTORE %t %t %t",
    "ZUNIONSTORE %z 2 %z %z",
];

/// What `random_write` draws from.
pub struct WriteMix {
    /// Command templates (see `EVERY_TYPE`), drawn with equal odds.
    pub commands: &'static [&'static str],
    /// Keys are named `<prefix>0` to `<prefix><keys - 1>`.
    pub keys: i32,
    /// One write in `tx_one_in` is wrapped in MULTI/EXEC.
    pub tx_one_in: u32,
    pub tx: Tx,
}

/// The shape of a transaction around a random write.
pub enum Tx {
    /// MULTI, the write, INCR txcount, EXEC.
    WriteFirst,
    /// MULTI, INCR txcount, SADD txset <random>, the write, EXEC: effects no later write can
    /// mask come first, so a replica that loses the head of a transaction (a link cut inside
    /// it) keeps a visible difference.
    MarksFirst,
}

/// A random write from `mix`, in one of four databases (a SELECT first), sometimes inside
/// MULTI/EXEC.
pub fn random_write(rng: &mut SmallRng, mix: &WriteMix) -> Vec<Vec<String>> {
    let n = rng.gen_range(0..1000).to_string();
    let template = mix.commands[rng.gen_range(0..mix.commands.len() as i32) as usize];
    let one: Vec<String> = template
        .split(' ')
        .map(|w| match w.strip_prefix('%') {
            Some(prefix) => format!("{prefix}{}", rng.gen_range(0..mix.keys)),
            None if w == "#" => n.clone(),
            None => w.to_string(),
        })
        .collect();
    let db = rng.gen_range(0..4).to_string();
    let select = vec!["SELECT".to_string(), db];
    if !rng.gen_ratio(1, mix.tx_one_in) {
        return vec![select, one];
    }
    let multi = vec!["MULTI".to_string()];
    let exec = vec!["EXEC".to_string()];
    let incr = vec!["INCR".to_string(), "txcount".to_string()];
    match mix.tx {
        Tx::WriteFirst => vec![select, multi, one, incr, exec],
        Tx::MarksFirst => {
            let mark = rng.gen_range(0..100_000).to_string();
            let sadd = vec!["SADD".to_string(), "txset".to_string(), mark];
            vec![select, multi, incr, sadd, one, exec]
        }
    }
}

/// Pipelines `blocks` blocks of 100 random writes from `mix` (each a few commands),
/// draining the replies, which are not what these tests check.
pub fn pipeline_writes(c: &mut RawConn, rng: &mut SmallRng, blocks: usize, mix: &WriteMix) {
    for _ in 0..blocks {
        let mut sent = 0;
        let mut buf = Vec::new();
        for _ in 0..100 {
            for cmd in random_write(rng, mix) {
                buf.extend(encode(&cmd));
                sent += 1;
            }
        }
        c.send(&buf);
        for _ in 0..sent {
            c.read();
        }
    }
}
