//! Acknowledged writes against SIGKILL with the AOF, with real processes and many connections.
//!
//! `appendfsync always` is a group commit (`persistence::aof::reply_gate`): replies wait on
//! the connections until one fsync, when the runtime is about to park, covers every byte
//! written so far. These tests check the
//! promise from the client's side: after a SIGKILL and a restart, every write any client saw
//! acknowledged is there, and so is every value any reader was shown (a read must not reveal
//! a write the disk does not hold). With `everysec`, a SIGKILL keeps what reached write(2)
//! (the page cache survives the process), so what can be lost is what the server had not
//! written yet: writes postponed behind a slow fsync, for at most two seconds (Redis's rule).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::aof::{incr_writer, start_aof};
use common::{RawConn, Resp, Server};

const WRITERS: usize = 6;
const READERS: usize = 2;

fn start(dir: Option<&str>, fsync: &str) -> Server {
    start_aof(dir, &["--appendfsync", fsync])
}

fn bulk_int(r: &[u8]) -> Option<i64> {
    // $<len>\r\n<digits>\r\n
    let rest = r.strip_prefix(b"$")?;
    let i = rest.iter().position(|&b| b == b'\n')?;
    std::str::from_utf8(rest[i + 1..].strip_suffix(b"\r\n")?)
        .ok()?
        .parse()
        .ok()
}

/// A reader GETting every writer's counter in turn; returns the highest value it was shown
/// for each counter.
fn reader(port: u16, stop: Arc<AtomicBool>) -> JoinHandle<Vec<i64>> {
    std::thread::spawn(move || {
        let mut c = RawConn::connect(port);
        c.set_timeout(Duration::from_secs(10));
        let mut seen = vec![0i64; WRITERS];
        while !stop.load(Ordering::Relaxed) {
            for (w, max) in seen.iter_mut().enumerate() {
                let key = format!("counter:{w}");
                let cmd = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
                if c.try_send(cmd.as_bytes()).is_err() {
                    return seen;
                }
                match c.try_read_raw() {
                    Ok(Some(r)) => {
                        if let Some(n) = bulk_int(&r) {
                            *max = (*max).max(n);
                        }
                    }
                    _ => return seen,
                }
            }
        }
        seen
    })
}

fn restored(s: &Server, w: usize) -> i64 {
    match s.raw().cmds(&format!("GET counter:{w}")) {
        Resp::Bulk(v) => String::from_utf8_lossy(&v).parse().unwrap(),
        Resp::NilBulk => 0,
        other => panic!("GET counter:{w}: {other:?}"),
    }
}

#[test]
fn always_keeps_every_acknowledged_and_every_shown_write_across_sigkills() {
    let first = start(None, "always");
    let dir = first.dir().to_string_lossy().into_owned();
    let mut servers = vec![first];
    let mut total_acked = 0usize;
    for round in 0..3u64 {
        let s = servers.last_mut().unwrap();
        let port = s.port();
        let stop = Arc::new(AtomicBool::new(false));
        // Pipelines of 1 and 8: both the one-command and the batched paths wait for the fsync.
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| incr_writer(port, format!("counter:{w}"), if w % 2 == 0 { 1 } else { 8 }))
            .collect();
        let readers: Vec<_> = (0..READERS).map(|_| reader(port, stop.clone())).collect();
        std::thread::sleep(Duration::from_millis(400 + round * 150));
        s.sigkill();
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<i64> = writers
            .into_iter()
            .map(|h| {
                let acks = h.join().unwrap();
                total_acked += acks.len();
                acks.last().map_or(0, |a| a.0)
            })
            .collect();
        let shown: Vec<Vec<i64>> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        let b = start(Some(&dir), "always");
        for (w, &a) in acked.iter().enumerate() {
            let got = restored(&b, w);
            assert!(
                got >= a,
                "round {round}: counter:{w} acknowledged {a}, restored {got}"
            );
            for seen in &shown {
                assert!(
                    got >= seen[w],
                    "round {round}: counter:{w} shown {} to a reader, restored {got}",
                    seen[w]
                );
            }
        }
        servers.push(b);
    }
    assert!(
        total_acked > 1000,
        "the writers made progress ({total_acked} acks)"
    );
}

#[test]
fn everysec_loses_at_most_what_was_not_written_for_two_seconds() {
    let first = start(None, "everysec");
    let dir = first.dir().to_string_lossy().into_owned();
    let mut servers = vec![first];
    for round in 0..3u64 {
        let s = servers.last_mut().unwrap();
        let port = s.port();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| incr_writer(port, format!("counter:{w}"), 16))
            .collect();
        std::thread::sleep(Duration::from_millis(1500 + round * 300));
        let killed_at = Instant::now();
        s.sigkill();
        let acks: Vec<Vec<(i64, Instant)>> =
            writers.into_iter().map(|h| h.join().unwrap()).collect();
        let b = start(Some(&dir), "everysec");
        for (w, acks) in acks.iter().enumerate() {
            let got = restored(&b, w);
            // Every write acknowledged more than two seconds before the kill is there; the
            // counter is monotonic, so the first missing acknowledged value tells when the
            // loss starts.
            if let Some(&(n, at)) = acks.iter().find(|(n, _)| *n > got) {
                let before_kill = killed_at.saturating_duration_since(at);
                assert!(
                    before_kill <= Duration::from_secs(2),
                    "round {round}: counter:{w} lost {n} (acknowledged {before_kill:?} before the kill), restored {got}"
                );
            }
            let last = acks.last().map_or(0, |a| a.0);
            assert!(last > 0, "counter:{w} made progress");
            // Nothing beyond what was acknowledged or in flight.
            assert!(
                got <= last + 16,
                "counter:{w}: restored {got}, last acknowledged {last}"
            );
        }
        servers.push(b);
    }
}
