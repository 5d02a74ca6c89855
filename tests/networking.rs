//! Networking and connection-level behaviour: maxclients, requirepass/AUTH/HELLO AUTH, idle
//! timeout, unix sockets, bind addresses, protected mode, SIGTERM and SHUTDOWN.
//!
//! Every scenario is written against redis-server's documented command line, and where the
//! answer is observable bytes it runs on both servers and compares them.

mod common;

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{compare_session, start_both, RawConn, RedisServer, Resp, Server, Stream};

/// Opens a connection that has been accepted and registered (it answered PING).
fn registered(server: &Server) -> Option<RawConn> {
    let mut c = server.raw();
    match c.cmd(&["PING"]) {
        Resp::Simple(s) if s == b"PONG" => Some(c),
        _ => None,
    }
}

/// With `--maxclients 2`, two clients are served and the third gets Redis's error and is
/// closed. Returns what the third connection received.
fn third_client_bytes(server: &Server) -> (Vec<u8>, bool) {
    // The readiness probe's connection may not be unregistered yet: retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = registered(server);
        let b = registered(server);
        if let (Some(a), Some(b)) = (a, b) {
            let mut c = server.raw();
            let _ = c.try_send(b"PING\r\n");
            let out = c.read_until_close(Duration::from_secs(2));
            drop((a, b));
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{}: could not get two clients served with maxclients 2",
            server.flavor
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn maxclients_rejects_extra_clients_like_redis() {
    let (ferro, redis) = start_both(&["--maxclients", "2"]);
    let r = third_client_bytes(&redis);
    let f = third_client_bytes(&ferro);
    assert_eq!(r.0, b"-ERR max number of clients reached\r\n");
    assert!(r.1, "redis closes the rejected connection");
    assert_eq!(
        f,
        r,
        "ferrodis answered {} to the third client",
        common::show(&f.0)
    );
}

#[test]
fn requirepass_auth_and_hello_auth_like_redis() {
    let (ferro, redis) = start_both(&["--requirepass", "secret"]);
    compare_session(
        &ferro,
        &redis,
        &[
            &["GET", "a"],
            &["PING"],
            &["AUTH", "wrong"],
            &["AUTH", "default", "wrong"],
            &["AUTH", "a", "b", "c"],
            &["HELLO", "3"],
            &["HELLO", "3", "AUTH", "default", "wrong"],
            &["HELLO", "3", "AUTH", "default"],
            &["HELLO", "3", "AUTH", "default", "secret"],
            &["GET", "a"],
            &["HELLO", "2"],
            &["AUTH", "wrong"],
            &["GET", "a"],
            &["AUTH", "secret"],
            &["SET", "a", "1"],
            &["AUTH", "default", "secret"],
            &["GET", "a"],
        ],
    );
    // A fresh connection is unauthenticated again, and QUIT works without auth.
    compare_session(&ferro, &redis, &[&["GET", "a"], &["QUIT"]]);
}

#[test]
fn auth_without_requirepass_like_redis() {
    let (ferro, redis) = start_both(&[]);
    compare_session(
        &ferro,
        &redis,
        &[
            &["AUTH", "x"],
            &["AUTH", "default", "x"],
            &["AUTH", "default", ""],
            &["HELLO", "3", "AUTH", "default", "x"],
            &["HELLO", "2", "AUTH", "default", "whatever"],
            &["PING"],
        ],
    );
}

#[test]
fn requirepass_with_redis_rs_client() {
    // The redis crate's AUTH in the URL path works end to end.
    let server = Server::start(&["--requirepass", "pw"]);
    let client =
        redis::Client::open(format!("redis://:pw@127.0.0.1:{}/", server.port())).expect("url");
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(10))
        .expect("authenticated connection");
    let pong: String = redis::cmd("PING").query(&mut conn).expect("PING");
    assert_eq!(pong, "PONG");
    let mut anon = server.client();
    let err = redis::cmd("GET")
        .arg("x")
        .query::<Option<String>>(&mut anon)
        .expect_err("NOAUTH");
    assert_eq!(err.code(), Some("NOAUTH"));
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    for server in [
        Server::start(&["--timeout", "1"]),
        RedisServer::start(&["--timeout", "1"]),
    ] {
        let mut idle = server.raw();
        assert_eq!(idle.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
        // Redis checks idle clients in its cron: expect the close within a few seconds.
        let (bytes, closed) = idle.read_until_close(Duration::from_secs(8));
        assert!(closed, "{}: idle client not closed", server.flavor);
        assert!(bytes.is_empty(), "{}: sent {:?}", server.flavor, bytes);
        // An active client is kept.
        let mut busy = server.raw();
        for _ in 0..6 {
            assert_eq!(busy.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
            thread::sleep(Duration::from_millis(300));
        }
    }
}

#[test]
fn unixsocket_serves_clients() {
    let server = Server::start(&[
        "--unixsocket",
        "{dir}/ferrodis.sock",
        "--unixsocketperm",
        "700",
    ]);
    let path = server.unixsocket().expect("socket path").to_path_buf();
    let mode = std::fs::metadata(&path)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "unixsocketperm");
    let mut u = server.raw_unix();
    assert_eq!(
        u.cmd(&["SET", "k", "via-unix"]),
        Resp::Simple(b"OK".to_vec())
    );
    let mut t = server.raw();
    assert_eq!(t.cmd(&["GET", "k"]), Resp::Bulk(b"via-unix".to_vec()));
    let addr = match u.cmd(&["CLIENT", "INFO"]) {
        Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("CLIENT INFO: {other:?}"),
    };
    assert!(addr.contains("flags=U"), "unix client flags: {addr}");
}

#[test]
fn port_zero_with_unixsocket_only() {
    let mut server = Server::start(&["--port", "0", "--unixsocket", "{dir}/only.sock"]);
    let mut u = server.raw_unix();
    assert_eq!(u.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
    let st = server.terminate().expect("exits on SIGTERM");
    assert_eq!(st.code(), Some(0));
    assert!(
        !server.dir().join("only.sock").exists(),
        "the unix socket is removed on shutdown"
    );
}

fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn bind_to_ipv4_and_ipv6_loopback() {
    let server = Server::start(&["--bind", "127.0.0.1", "::1"]);
    let mut v4 = server.raw();
    assert_eq!(v4.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
    if ipv6_loopback_available() {
        let s = TcpStream::connect(("::1", server.port())).expect("connect [::1]");
        s.set_read_timeout(Some(common::IO_TIMEOUT))
            .expect("timeout");
        let mut v6 = RawConn::from_stream(Stream::Tcp(s));
        assert_eq!(v6.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
    } else {
        eprintln!("note: no IPv6 loopback on this machine; only 127.0.0.1 was checked");
    }
    // Bound to 127.0.0.1 only: ::1 is refused.
    let v4only = Server::start(&["--bind", "127.0.0.1"]);
    if ipv6_loopback_available() {
        assert!(TcpStream::connect(("::1", v4only.port())).is_err());
    }
}

#[test]
fn sigterm_exits_zero_with_ready_to_exit_log() {
    for mut server in [Server::start(&[]), RedisServer::start(&[])] {
        let mut c = server.raw();
        assert_eq!(c.cmd(&["SET", "k", "v"]), Resp::Simple(b"OK".to_vec()));
        let st = server
            .terminate()
            .unwrap_or_else(|| panic!("{} did not exit on SIGTERM", server.flavor));
        assert_eq!(st.code(), Some(0), "{} exit status", server.flavor);
        let log = server.log();
        assert!(
            log.contains("ready to exit"),
            "{}: no 'ready to exit' in the log:\n{log}",
            server.flavor
        );
        // The client sees the connection closed.
        let (_, closed) = c.read_until_close(Duration::from_secs(5));
        assert!(closed);
    }
}

#[test]
fn shutdown_command_like_redis() {
    for mut server in [Server::start(&[]), RedisServer::start(&[])] {
        let mut c = server.raw();
        assert_eq!(
            c.cmd(&["SHUTDOWN", "foo"]),
            Resp::Error(b"ERR syntax error".to_vec()),
            "{}",
            server.flavor
        );
        c.send(&common::encode(&["SHUTDOWN", "NOSAVE"]));
        // On success Redis sends nothing: the connection just closes.
        let (bytes, closed) = c.read_until_close(Duration::from_secs(10));
        assert!(closed, "{}: connection not closed", server.flavor);
        assert!(
            bytes.is_empty(),
            "{}: SHUTDOWN replied {}",
            server.flavor,
            common::show(&bytes)
        );
        let st = server
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{} still running after SHUTDOWN", server.flavor));
        assert_eq!(st.code(), Some(0), "{}", server.flavor);
        assert!(server.log().contains("ready to exit"), "{}", server.flavor);
    }
}

/// Runs a server inside a fresh network namespace that has a non-loopback address
/// (10.200.0.1 on its own `lo`), and connects from that address and from 127.0.0.1.
/// Returns the transcript, or None when namespaces cannot be created here.
fn protected_mode_transcript(bin: &str, extra: &[&str]) -> Option<String> {
    const SCRIPT: &str = r#"
set -u
BIN=$1; shift
P=6380
ip link set lo up || exit 97
ip addr add 10.200.0.1/32 dev lo || exit 97
"$BIN" --port $P --save "" "$@" > "$LOGFILE" 2>&1 &
pid=$!
for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null && break; sleep 0.05; done
exec 3<>/dev/tcp/10.200.0.1/$P
printf 'PING\r\n' >&3
timeout 1.5 cat <&3 2>/dev/null
echo "---"
exec 4<>/dev/tcp/127.0.0.1/$P
printf 'PING\r\n' >&4
timeout 2 head -c 7 <&4
kill $pid
wait $pid
"#;
    let dir = common::TempDir::new("netns");
    let out = Command::new("unshare")
        .arg("--net")
        .arg("bash")
        .arg("-c")
        .arg(SCRIPT)
        .arg("protected-mode")
        .arg(bin)
        .args(extra)
        .env("LOGFILE", dir.path().join("server.log"))
        .current_dir(dir.path())
        .output();
    match out {
        Ok(o)
            if o.status.code() != Some(97)
                && !String::from_utf8_lossy(&o.stderr).contains("unshare failed") =>
        {
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        }
        _ => None,
    }
}

#[test]
fn protected_mode_like_redis() {
    let redis_bin = "redis-server";
    let ferro_bin = common::FERRODIS_BIN;
    let scenarios: &[&[&str]] = &[
        &[],
        &["--protected-mode", "no"],
        &["--requirepass", "pw"],
        &["--bind", "10.200.0.1", "127.0.0.1"],
    ];
    for extra in scenarios {
        let Some(r) = protected_mode_transcript(redis_bin, extra) else {
            // Without the privilege to create a network namespace no non-loopback address
            // can be used safely; check what can be checked: loopback is served.
            eprintln!(
                "note: cannot create a network namespace; protected mode checked on loopback only"
            );
            let server = Server::start(&["--protected-mode", "yes"]);
            let mut c = server.raw();
            assert_eq!(c.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
            return;
        };
        let f = protected_mode_transcript(ferro_bin, extra).expect("namespace works");
        assert!(
            r.contains("---"),
            "unexpected redis transcript for {extra:?}: {r}"
        );
        assert_eq!(f, r, "protected mode with {extra:?}");
    }
}

#[test]
fn many_concurrent_clients() {
    let server = Server::start(&[]);
    let port = server.port();
    let handles: Vec<_> = (0..16)
        .map(|t| {
            thread::spawn(move || {
                let mut c = RawConn::connect(port);
                for i in 0..200 {
                    let r = c.cmd(&["INCR".to_string(), format!("c{}", t % 4)]);
                    assert!(matches!(r, Resp::Int(_)), "thread {t} step {i}: {r:?}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    let mut c = server.raw();
    let total: i64 = (0..4)
        .map(|i| match c.cmd(&["GET", &format!("c{i}")]) {
            Resp::Bulk(b) => String::from_utf8_lossy(&b).parse::<i64>().unwrap_or(0),
            _ => 0,
        })
        .sum();
    assert_eq!(total, 16 * 200);
}
