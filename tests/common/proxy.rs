//! An in-test TCP proxy between a replica and its master, with faults on demand: cut every
//! connection (at once, or inside the data in flight), stall forwarding, cut a connection
//! after a number of bytes from the master, refuse new connections, and rename the replica's
//! PSYNC so that the master refuses it.
//!
//! `start` forwards each read whole. `start_in_random_pieces` forwards in pieces of random
//! sizes and carries out a requested cut or stall between pieces now and then: the receiver
//! is left with a prefix of the stream that ends anywhere (inside a command, inside a
//! MULTI ... EXEC), as TCP segmentation may leave it, rather than at the boundary of a burst
//! of the master's.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub struct Proxy {
    pub port: u16,
    ctl: Arc<ProxyCtl>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct ProxyCtl {
    random_pieces: bool,
    stop: AtomicBool,
    /// Forwarding holds in both directions (connections stay open; new ones are accepted
    /// but carry nothing).
    stalled: AtomicBool,
    /// A cut for a pump to carry out at a random point of the data it forwards.
    cut_requested: AtomicBool,
    /// Bumped by a cut: pumps of an older generation exit.
    generation: AtomicU64,
    /// Rewrite `PSYNC` into `PSYNX` on the way to the master.
    rename_psync: AtomicBool,
    /// Bytes from the master a connection may carry before it is cut (0: no limit); a cut
    /// makes the proxy refuse connections until `release`.
    budget: AtomicU64,
    refusing: AtomicBool,
    /// Connections cut because of the budget.
    budget_cuts: AtomicUsize,
    /// Connections accepted (and connected to the target) so far.
    accepted: AtomicUsize,
    /// Both sockets of every live connection, to shut them down on a cut.
    socks: Mutex<Vec<TcpStream>>,
}

impl ProxyCtl {
    fn cut_now(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for s in self.socks.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Proxy {
    /// A proxy to `127.0.0.1:target_port` forwarding each read whole.
    pub fn start(target_port: u16) -> Proxy {
        Proxy::launch(target_port, false)
    }

    /// A proxy forwarding in pieces of random sizes, so that faults land inside the data.
    pub fn start_in_random_pieces(target_port: u16) -> Proxy {
        Proxy::launch(target_port, true)
    }

    fn launch(target_port: u16, random_pieces: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let ctl = Arc::new(ProxyCtl {
            random_pieces,
            ..ProxyCtl::default()
        });
        let c = ctl.clone();
        let accept = std::thread::spawn(move || {
            while !c.stop.load(Ordering::SeqCst) {
                let Ok((down, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                if c.refusing.load(Ordering::SeqCst) {
                    let _ = down.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(up) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                c.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = down.set_nonblocking(false);
                let gen = c.generation.load(Ordering::SeqCst);
                {
                    let mut socks = c.socks.lock().expect("proxy lock");
                    for s in [&down, &up] {
                        if let Ok(s) = s.try_clone() {
                            socks.push(s);
                        }
                    }
                }
                for (i, (from, to)) in [(&down, &up), (&up, &down)].into_iter().enumerate() {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let c = c.clone();
                    let pipe = Pipe {
                        upstream: i == 0,
                        gen,
                        seed: gen * 2 + i as u64,
                    };
                    std::thread::spawn(move || pump(from, to, pipe, &c));
                }
            }
        });
        Proxy {
            port,
            ctl,
            accept: Some(accept),
        }
    }

    /// Cuts every connection (new ones are accepted): inside the data in flight if there is
    /// some within 200 ms (with random pieces), else right then.
    pub fn cut(&self) {
        let gen = self.ctl.generation.load(Ordering::SeqCst);
        self.ctl.cut_requested.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.ctl.generation.load(Ordering::SeqCst) == gen && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.ctl.cut_requested.swap(false, Ordering::SeqCst) {
            self.ctl.cut_now();
        }
    }

    /// Stops (or resumes) forwarding in both directions, connections staying open.
    pub fn set_stalled(&self, stalled: bool) {
        self.ctl.stalled.store(stalled, Ordering::SeqCst);
    }

    /// Rewrites the replica's PSYNC into an unknown command, so the master refuses it.
    pub fn rename_psync(&self) {
        self.ctl.rename_psync.store(true, Ordering::SeqCst);
    }

    /// Cuts each connection after `bytes` from the master, then refuses new ones.
    pub fn cut_after(&self, bytes: u64) {
        self.ctl.budget.store(bytes, Ordering::SeqCst);
    }

    /// Cuts every connection now and refuses new ones.
    pub fn cut_and_refuse(&self) {
        self.ctl.refusing.store(true, Ordering::SeqCst);
        self.ctl.cut_now();
    }

    /// Lets connections through again, without a byte limit.
    pub fn release(&self) {
        self.ctl.budget.store(0, Ordering::SeqCst);
        self.ctl.refusing.store(false, Ordering::SeqCst);
    }

    /// Connections cut by `cut_after`.
    pub fn budget_cuts(&self) -> usize {
        self.ctl.budget_cuts.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.ctl.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.ctl.stop.store(true, Ordering::SeqCst);
        self.ctl.cut_now();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// One direction of one connection.
struct Pipe {
    /// Replica to master (where PSYNC may be renamed); the other direction counts against
    /// the byte budget.
    upstream: bool,
    /// The generation the connection was accepted in.
    gen: u64,
    seed: u64,
}

/// Copies `from` to `to` until either side closes or the connection is cut; between pieces
/// carries out a requested cut or holds while stalled (with random pieces only now and then,
/// so that faults land at random points).
fn pump(mut from: TcpStream, mut to: TcpStream, pipe: Pipe, c: &ProxyCtl) {
    // Reads time out so that a cut or the proxy's end is noticed on an idle connection.
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut rng = SmallRng::seed_from_u64(pipe.seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut forwarded = 0u64;
    let alive =
        || c.generation.load(Ordering::SeqCst) == pipe.gen && !c.stop.load(Ordering::SeqCst);
    'copy: while alive() {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                continue
            }
            Err(_) => break,
        };
        if pipe.upstream && c.rename_psync.load(Ordering::SeqCst) {
            // The handshake writes each command whole: PSYNC never straddles two reads.
            if let Some(i) = buf[..n].windows(5).position(|w| w == b"PSYNC") {
                buf[i + 4] = b'X';
            }
        }
        let mut at = 0;
        while at < n {
            if !c.random_pieces || rng.gen_ratio(1, 6) {
                if c.cut_requested.swap(false, Ordering::SeqCst) {
                    c.cut_now();
                    break 'copy;
                }
                while c.stalled.load(Ordering::SeqCst) && alive() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            if !alive() {
                break 'copy;
            }
            let piece = if c.random_pieces {
                rng.gen_range(1..=512).min(n - at)
            } else {
                n - at
            };
            let budget = c.budget.load(Ordering::SeqCst);
            if !pipe.upstream && budget != 0 && forwarded + piece as u64 >= budget {
                let keep = (budget - forwarded) as usize;
                let _ = to.write_all(&buf[at..at + keep]);
                c.refusing.store(true, Ordering::SeqCst);
                c.budget_cuts.fetch_add(1, Ordering::SeqCst);
                break 'copy;
            }
            if to.write_all(&buf[at..at + piece]).is_err() {
                break 'copy;
            }
            at += piece;
            forwarded += piece as u64;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
