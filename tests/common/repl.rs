//! Helpers shared by the replication tests: offsets, digests, waiting for a replica to
//! catch up, comparing datasets, and pipelining generated writes.

use std::time::Duration;

use rand::rngs::SmallRng;

use super::{encode, info_field, RawConn, Resp, Server};

/// How long a replica may take to catch up with its master.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

pub fn int_field(c: &mut RawConn, section: &str, field: &str) -> i64 {
    info_field(c, section, field)
        .parse()
        .expect("integer field")
}

pub fn digest(c: &mut RawConn) -> Resp {
    c.cmd(&["DEBUG", "DIGEST"])
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

/// Pipelines `blocks` blocks of 100 generated writes (each a few commands), draining the
/// replies, which are not what these tests check.
pub fn pipeline_writes(
    c: &mut RawConn,
    rng: &mut SmallRng,
    blocks: usize,
    gen: fn(&mut SmallRng) -> Vec<Vec<String>>,
) {
    for _ in 0..blocks {
        let mut sent = 0;
        let mut buf = Vec::new();
        for _ in 0..100 {
            for cmd in gen(rng) {
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
