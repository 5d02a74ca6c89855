//! The server: listeners, the accept loops, the cron task, signals and the shutdown sequence.
//!
//! Everything runs on one tokio current-thread runtime (see `executor` for why). Each
//! accepted socket gets a connection task (`connection::serve`); the cron task calls
//! `Executor::cron` `hz` times a second; the main future waits for SIGTERM/SIGINT or a
//! SHUTDOWN command and then runs the shutdown sequence: stop accepting, let every
//! connection flush what it has pending, run the shutdown hooks (later: the final save),
//! remove the pidfile and unix socket, exit 0.

pub mod connection;
pub mod log;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;

use crate::config::Config;
use crate::executor::Executor;

/// The text Redis 7.0 sends a non-loopback client in protected mode.
pub const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Startup failures, each with the message logged before exiting 1.
#[derive(Debug)]
pub enum StartError {
    Bind(String),
    Runtime(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind(m) => f.write_str(m),
            StartError::Runtime(e) => write!(f, "failed to start the runtime: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Binds every configured address. `-` before an address makes it optional, like Redis.
async fn bind_tcp(cfg: &Config) -> Result<Vec<TcpListener>, StartError> {
    let mut out = Vec::new();
    if cfg.port == 0 {
        return Ok(out);
    }
    for raw in &cfg.bind {
        let (optional, addr) = match raw.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, raw.as_str()),
        };
        let ip: IpAddr = match addr {
            "*" => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            "::*" => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            a => match a.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    if optional {
                        continue;
                    }
                    return Err(StartError::Bind(format!(
                        "Failed listening on port {} (tcp), aborting.",
                        cfg.port
                    )));
                }
            },
        };
        let sa = SocketAddr::new(ip, cfg.port);
        let sock = match ip {
            IpAddr::V4(_) => {
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            }
            IpAddr::V6(_) => {
                socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)
            }
        };
        let res = sock.and_then(|s| {
            s.set_reuse_address(true)?;
            if ip.is_ipv6() {
                s.set_only_v6(true)?;
            }
            s.set_nonblocking(true)?;
            s.bind(&sa.into())?;
            s.listen(cfg.tcp_backlog as i32)?;
            Ok(s)
        });
        match res {
            Ok(s) => {
                let l: std::net::TcpListener = s.into();
                out.push(TcpListener::from_std(l).map_err(|e| StartError::Bind(e.to_string()))?);
            }
            Err(e) => {
                if optional {
                    continue;
                }
                tracing::warn!(
                    "Warning: Could not create server TCP listening socket {}:{}: {}",
                    addr,
                    cfg.port,
                    e
                );
                return Err(StartError::Bind(format!(
                    "Failed listening on port {} (tcp), aborting.",
                    cfg.port
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(StartError::Bind(format!(
            "Failed listening on port {} (tcp), aborting.",
            cfg.port
        )));
    }
    Ok(out)
}

fn configure_tcp(sock: &tokio::net::TcpStream, keepalive: u64) {
    let _ = sock.set_nodelay(true);
    if keepalive > 0 {
        let s = socket2::SockRef::from(sock);
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive))
            .with_interval(Duration::from_secs((keepalive / 3).max(1)));
        let _ = s.set_tcp_keepalive(&ka);
    }
}

async fn accept_tcp(listener: TcpListener, exec: Rc<RefCell<Executor>>, shutdown: Rc<Notify>) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("Accepting client connection: {}", e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (keepalive, protected) = {
            let ex = exec.borrow();
            let cfg = &ex.state.cfg;
            (
                cfg.tcp_keepalive,
                cfg.protected_mode && cfg.requirepass.is_empty(),
            )
        };
        configure_tcp(&sock, keepalive);
        let local = sock.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
        if protected && !peer.ip().is_loopback() && !is_mapped_loopback(&peer.ip()) {
            use tokio::io::AsyncWriteExt;
            let mut sock = sock;
            tokio::task::spawn_local(async move {
                let _ = sock.write_all(PROTECTED_MODE_DENIED.as_bytes()).await;
            });
            continue;
        }
        let fd = fd_of(&sock);
        spawn_client(
            sock,
            fmt_addr(&peer),
            local,
            false,
            fd,
            exec.clone(),
            shutdown.clone(),
        );
    }
}

fn is_mapped_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        _ => false,
    }
}

#[cfg(unix)]
fn fd_of<T: std::os::unix::io::AsRawFd>(s: &T) -> i64 {
    s.as_raw_fd() as i64
}

fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("{}:{}", v6.ip(), v6.port()),
    }
}

async fn accept_unix(
    listener: UnixListener,
    path: String,
    exec: Rc<RefCell<Executor>>,
    shutdown: Rc<Notify>,
) {
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("Accepting client connection: {}", e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let fd = fd_of(&sock);
        spawn_client(
            sock,
            format!("{path}:0"),
            format!("{path}:0"),
            true,
            fd,
            exec.clone(),
            shutdown.clone(),
        );
    }
}

fn spawn_client<S>(
    sock: S,
    addr: String,
    laddr: String,
    unix: bool,
    fd: i64,
    exec: Rc<RefCell<Executor>>,
    shutdown: Rc<Notify>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let notify = Rc::new(Notify::new());
    let reg = exec
        .borrow_mut()
        .register(addr, laddr, unix, fd, notify.clone());
    match reg {
        Ok(key) => {
            tokio::task::spawn_local(connection::serve(sock, exec, key, notify, shutdown));
        }
        Err(msg) => {
            tokio::task::spawn_local(async move {
                use tokio::io::AsyncWriteExt;
                let mut sock = sock;
                let _ = sock.write_all(msg).await;
            });
        }
    }
}

thread_local! {
    /// The executor, for `before_sleep` (the runtime's park hook cannot capture an `Rc`).
    /// Set once in `serve_forever`; the runtime and the executor share this one thread.
    static EXECUTOR: RefCell<std::rc::Weak<RefCell<Executor>>> = const { RefCell::new(std::rc::Weak::new()) };
    /// Woken by `before_sleep` to make the runtime poll and run one more turn instead of
    /// parking (a task waits on it, see `serve_forever`).
    static RUN_AGAIN: Rc<Notify> = Rc::new(Notify::new());
}

/// Redis's `beforeSleep`: what must happen once every ready connection has run and before
/// the thread waits for more events. Called by the runtime right before it parks; never
/// while a task holds the executor (tasks release it before every await).
fn before_sleep() {
    let exec = EXECUTOR.with(|e| e.borrow().upgrade());
    let Some(exec) = exec else {
        return;
    };
    let Ok(mut ex) = exec.try_borrow_mut() else {
        return;
    };
    if crate::persistence::aof::before_sleep(&mut ex.state)
        == crate::persistence::aof::Sleep::RunAgain
    {
        // A ready task keeps the runtime from blocking: it polls for events, runs what is
        // ready, and comes back here.
        RUN_AGAIN.with(|n| n.notify_one());
    }
}

/// Runs the server until shutdown; returns the process exit code.
pub fn run(cfg: Config, config_file: Option<std::path::PathBuf>) -> Result<i32, StartError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(before_sleep)
        .build()
        .map_err(StartError::Runtime)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve_forever(cfg, config_file))
}

async fn serve_forever(
    cfg: Config,
    config_file: Option<std::path::PathBuf>,
) -> Result<i32, StartError> {
    let listeners = bind_tcp(&cfg).await?;
    let unix_path = cfg.unixsocket.clone();
    let unix = if unix_path.is_empty() {
        None
    } else {
        let _ = std::fs::remove_file(&unix_path);
        let l = UnixListener::bind(&unix_path)
            .map_err(|e| StartError::Bind(format!("Failed opening Unix socket: {e}")))?;
        if cfg.unixsocketperm != 0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                &unix_path,
                std::fs::Permissions::from_mode(cfg.unixsocketperm),
            );
        }
        Some(l)
    };
    let pidfile = cfg.pidfile.clone();
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            tracing::warn!("Failed to write PID file: {}", e);
        }
    }
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(cfg.port);
    let hz = cfg.hz.max(1);
    let exec = Rc::new(RefCell::new(Executor::new(cfg)));
    EXECUTOR.with(|e| *e.borrow_mut() = Rc::downgrade(&exec));
    let run_again = RUN_AGAIN.with(|n| n.clone());
    tokio::task::spawn_local(async move {
        loop {
            run_again.notified().await;
        }
    });
    {
        let mut ex = exec.borrow_mut();
        ex.state.tcp_port = port;
        ex.state.config_file = config_file;
        // replicaof in the config: a replica from the start (before the dataset loads).
        crate::replication::replica::init(&mut ex.state);
    }
    // The dataset: loaded in the background; a small file is in memory before anyone is
    // accepted (see `persistence::load`).
    let dbfile = std::path::PathBuf::from(&exec.borrow().state.cfg.dbfilename);
    let aof = exec.borrow().state.cfg.appendonly;
    if aof {
        // appendonly yes: the AOF is the dataset, loaded in the background like the RDB
        // (see persistence::aof::loader).
        if let Err(e) = crate::persistence::aof::start_async(&exec) {
            tracing::warn!("{e}");
            eprintln!("{e}");
            std::process::exit(1);
        }
        crate::persistence::load::wait_quiet_start(&exec).await;
    } else {
        match crate::persistence::load::start(&exec, &dbfile) {
            Ok(true) => crate::persistence::load::wait_quiet_start(&exec).await,
            Ok(false) => {}
            Err(e) => crate::persistence::load::fatal(&e),
        }
    }
    let shutdown_conns = Rc::new(Notify::new());
    let wake = exec.borrow().state.wake_server.clone();
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::task::spawn_local(accept_tcp(
            l,
            exec.clone(),
            shutdown_conns.clone(),
        )));
    }
    if let Some(l) = unix {
        tasks.push(tokio::task::spawn_local(accept_unix(
            l,
            unix_path.clone(),
            exec.clone(),
            shutdown_conns.clone(),
        )));
    }
    {
        let exec = exec.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut hz_now = hz;
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / hz_now as u64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let mut ex = exec.borrow_mut();
                ex.cron();
                let want = ex.state.cfg.hz.clamp(1, 500);
                drop(ex);
                if want != hz_now {
                    hz_now = want;
                    tick = tokio::time::interval(Duration::from_millis(1000 / hz_now as u64));
                }
            }
        }));
    }
    tracing::info!("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "Redis version={}, bits=64, commit=00000000, modified=0, pid={}, just started (ferrodis {})",
        crate::REDIS_VERSION,
        std::process::id(),
        crate::VERSION
    );
    tracing::info!(
        "Running mode=standalone, port={}. PID: {}",
        port,
        std::process::id()
    );
    tracing::info!("Server initialized");
    tracing::info!("Ready to accept connections tcp");

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(StartError::Runtime)?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(StartError::Runtime)?;
    tasks.push(tokio::task::spawn_local(crate::persistence::save::pump(
        exec.clone(),
    )));
    // The link to our master, while this server is a replica.
    tasks.push(tokio::task::spawn_local(crate::replication::replica::run(
        exec.clone(),
    )));
    loop {
        tokio::select! {
            _ = sigterm.recv() => {
                tracing::warn!("Received SIGTERM scheduling shutdown...");
            }
            _ = sigint.recv() => {
                tracing::warn!("Received SIGINT scheduling shutdown...");
            }
            _ = wake.notified() => {
                if exec.borrow().state.shutdown.is_none() {
                    continue;
                }
                tracing::warn!("User requested shutdown...");
            }
        }
        if crate::executor::shutdown::prepare_for_shutdown(&mut exec.borrow_mut()) {
            break;
        }
        exec.borrow_mut().state.shutdown = None;
        tracing::warn!(
            "SIGTERM received but errors trying to shut down the server, check the logs for more information"
        );
    }
    // Stop accepting, then let every connection flush and close.
    for t in &tasks {
        t.abort();
    }
    shutdown_conns.notify_waiters();
    // Give connection tasks a moment to write their last replies.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while !exec.borrow().clients.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if !unix_path.is_empty() {
        let _ = std::fs::remove_file(&unix_path);
    }
    // Like Redis, exit without freeing the dataset key by key: the process is going away.
    std::mem::forget(std::mem::take(&mut exec.borrow_mut().state.dbs));
    tracing::warn!("Redis is now ready to exit, bye bye...");
    Ok(0)
}
