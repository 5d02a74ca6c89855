//! Pub/Sub and keyspace notifications against the real redis-server, byte for byte.
//!
//! Each scenario opens the same connections on ferrodis and on redis-server 7.0 (subscribers
//! and publishers), sends both the same commands and compares what every connection reads.
//! Redis answers a multi-channel UNSUBSCRIBE and PUBSUB CHANNELS in its dict's (random)
//! order, so those are compared as sets; everything else must be identical.

mod common;

use std::time::{Duration, Instant};

use common::{show, start_both, RawConn, Resp, Server};

/// The same connection opened on both servers.
struct Twin {
    f: RawConn,
    r: RawConn,
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

impl Twin {
    fn open(ferro: &Server, redis: &Server) -> Twin {
        Twin {
            f: ferro.raw(),
            r: redis.raw(),
        }
    }

    /// Sends the command to both and compares the next `n` replies (or pushes).
    fn run_n(&mut self, line: &str, n: usize) -> Vec<u8> {
        self.f.send_cmd(&words(line));
        self.r.send_cmd(&words(line));
        self.expect_n(line, n)
    }

    /// Sends the command to both and compares one reply.
    fn run(&mut self, line: &str) -> Vec<u8> {
        self.run_n(line, 1)
    }

    fn run_all(&mut self, lines: &[&str]) {
        for l in lines {
            self.run(l);
        }
    }

    /// Reads `n` replies from both and compares them.
    fn expect_n(&mut self, what: &str, n: usize) -> Vec<u8> {
        let (mut f, mut r) = (Vec::new(), Vec::new());
        for _ in 0..n {
            f.extend(self.f.read_raw());
            r.extend(self.r.read_raw());
        }
        assert!(
            f == r,
            "{what}\n  ferrodis: {}\n  redis:    {}",
            show(&f),
            show(&r)
        );
        f
    }

    /// Sends the command to both and compares `n` replies as a multiset (dict order).
    fn run_unordered(&mut self, line: &str, n: usize) {
        self.f.send_cmd(&words(line));
        self.r.send_cmd(&words(line));
        let read = |c: &mut RawConn| {
            let mut v: Vec<Vec<u8>> = (0..n).map(|_| c.read_raw()).collect();
            v.sort();
            v
        };
        let (f, r) = (read(&mut self.f), read(&mut self.r));
        assert_eq!(f.len(), r.len());
        // Counts in (un)subscribe confirmations depend on the order too: compare names.
        let names = |v: &[Vec<u8>]| -> Vec<Vec<u8>> {
            let mut names: Vec<Vec<u8>> = v
                .iter()
                .map(|raw| match common::diff::parsed(raw) {
                    Resp::Array(items) | Resp::Push(items) => {
                        items.get(1).and_then(|i| i.bytes()).unwrap_or(b"").to_vec()
                    }
                    other => panic!("{line}: not a push: {other:?}"),
                })
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&f), names(&r), "{line}");
    }

    /// Switches both to RESP3 (the HELLO replies differ in the client id).
    fn resp3(&mut self) {
        assert!(matches!(self.f.cmds("HELLO 3"), Resp::Map(_)));
        assert!(matches!(self.r.cmds("HELLO 3"), Resp::Map(_)));
    }
}

#[test]
fn confirmations_and_subscribed_mode_match_redis() {
    let (ferro, redis) = start_both(&[]);
    let mut c = Twin::open(&ferro, &redis);
    // Nothing to unsubscribe from: one confirmation with a null name each.
    c.run("UNSUBSCRIBE");
    c.run("PUNSUBSCRIBE");
    c.run("SUNSUBSCRIBE");
    c.run_n("UNSUBSCRIBE a b", 2);
    // Counts: channels + patterns together, shard channels apart.
    c.run_n("SUBSCRIBE a b a", 3);
    c.run_n("PSUBSCRIBE p* a?", 2);
    c.run_n("SSUBSCRIBE s1 s2", 2);
    // RESP2 subscribed mode.
    c.run_all(&[
        "PING",
        "PING hello",
        "PING a b",
        "GET a",
        "MULTI",
        "HELLO 3",
        "CLIENT LIST",
        "PUBLISH a x",
    ]);
    c.run("UNSUBSCRIBE b");
    c.run("PUNSUBSCRIBE p*");
    c.run("SUNSUBSCRIBE s2");
    c.run("SUNSUBSCRIBE s1");
    c.run("UNSUBSCRIBE a");
    c.run("PING");
    c.run("PUNSUBSCRIBE");
    // Out of subscribed mode again.
    c.run_all(&["PING", "SET a 1", "GET a"]);
    c.run_n("SUBSCRIBE x y z", 3);
    c.run_unordered("UNSUBSCRIBE", 3);
    c.run("GET a");

    // RESP3: confirmations are pushes and every command is allowed.
    c.resp3();
    c.run_n("SUBSCRIBE a b", 2);
    c.run_n("PSUBSCRIBE a*", 1);
    c.run_all(&["PING", "GET a", "ECHO hi", "PUBSUB NUMSUB a b c"]);
    // Publishing to oneself: the message comes before PUBLISH's reply.
    c.run_n("PUBLISH a self", 3);
    c.run("UNSUBSCRIBE nosuch");
    c.run("PUNSUBSCRIBE a*");
    c.run_unordered("UNSUBSCRIBE", 2);
    c.run("UNSUBSCRIBE");
    // Pushes ignore CLIENT REPLY OFF.
    c.run_n("CLIENT REPLY OFF", 0);
    c.run("SUBSCRIBE quiet");
    c.run("CLIENT REPLY ON");
}

#[test]
fn messages_reach_subscribers_in_both_protocols() {
    let (ferro, redis) = start_both(&[]);
    let mut s2 = Twin::open(&ferro, &redis);
    let mut s3 = Twin::open(&ferro, &redis);
    let mut p = Twin::open(&ferro, &redis);
    s3.resp3();
    s2.run_n("SUBSCRIBE news", 1);
    // One pattern per channel at most: Redis visits patterns in dict order.
    s2.run_n("PSUBSCRIBE n* o*", 2);
    s2.run_n("SSUBSCRIBE shard", 1);
    s3.run_n("SUBSCRIBE news other", 2);
    s3.run_n("PSUBSCRIBE ne?s", 1);

    // news: each subscriber gets the message, then the pmessage.
    assert_eq!(p.run("PUBLISH news hello"), b":4\r\n");
    s2.expect_n("s2 news", 2);
    s3.expect_n("s3 news", 2);
    assert_eq!(p.run("PUBLISH other x"), b":2\r\n");
    s2.expect_n("s2 other", 1);
    s3.expect_n("s3 other", 1);
    p.run("PUBLISH nobody x");
    s2.expect_n("s2 nobody", 1);
    // Shard channels are a separate namespace.
    p.run("PUBLISH shard x");
    assert_eq!(p.run("SPUBLISH shard sx"), b":1\r\n");
    s2.expect_n("s2 smessage", 1);
    p.run("SPUBLISH news x");
    // Binary-safe payloads and channels.
    let payload = "a\r\nb\x00c";
    for t in [&mut p.f, &mut p.r] {
        t.send_cmd(&["PUBLISH", "news", payload]);
    }
    p.expect_n("binary publish", 1);
    s2.expect_n("s2 binary", 2);
    s3.expect_n("s3 binary", 2);
    // An empty channel matches no pattern ending in `*` (Redis's stringmatch).
    for t in [&mut p.f, &mut p.r] {
        t.send_cmd(&["PUBLISH", "", "e"]);
    }
    p.expect_n("empty channel", 1);
    // Nothing else is pending: a final message arrives next on both.
    p.run("PUBLISH news end");
    s2.expect_n("s2 end", 2);
    s3.expect_n("s3 end", 2);
}

#[test]
fn pubsub_introspection_matches_redis() {
    let (ferro, redis) = start_both(&[]);
    let mut a = Twin::open(&ferro, &redis);
    let mut b = Twin::open(&ferro, &redis);
    let mut q = Twin::open(&ferro, &redis);
    a.run_n("SUBSCRIBE alpha beta", 2);
    b.run_n("SUBSCRIBE alpha", 1);
    b.run_n("PSUBSCRIBE a* b* a*", 3);
    a.run_n("PSUBSCRIBE a*", 1);
    a.run_n("SSUBSCRIBE s1", 1);
    q.run_all(&[
        "PUBSUB NUMSUB alpha beta gamma",
        "PUBSUB NUMSUB",
        "PUBSUB NUMPAT",
        "PUBSUB CHANNELS al*",
        "PUBSUB CHANNELS nomatch*",
        "PUBSUB SHARDCHANNELS",
        "PUBSUB SHARDCHANNELS s?",
        "PUBSUB SHARDNUMSUB s1 s2",
        "PUBSUB SHARDNUMSUB",
        "PUBSUB CHANNELS a b",
        "PUBSUB channels a b",
        "PUBSUB SHARDCHANNELS a b",
        "PUBSUB NUMPAT extra",
        "PUBSUB HELP",
        "PUBSUB help extra",
        "PUBSUB NOSUCH",
        "PUBSUB",
        "PUBLISH onlyone",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "SPUBLISH a",
        "COMMAND INFO subscribe ssubscribe sunsubscribe publish spublish pubsub|numsub",
        "COMMAND GETKEYS SSUBSCRIBE a b",
        "COMMAND GETKEYS SPUBLISH ch msg",
    ]);
    // All channels: dict order in Redis, so as sets.
    let sorted = |c: &mut RawConn| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = c
            .cmds("PUBSUB CHANNELS")
            .array()
            .iter()
            .map(|x| x.bytes().expect("bulk").to_vec())
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&mut q.f), sorted(&mut q.r));
    assert_eq!(sorted(&mut q.f), [b"alpha".to_vec(), b"beta".to_vec()]);
    let stats = |c: &mut RawConn| -> Vec<String> {
        c.cmds("INFO stats")
            .text()
            .lines()
            .filter(|l| l.starts_with("pubsub"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(stats(&mut q.f), stats(&mut q.r));
    assert_eq!(
        stats(&mut q.f),
        [
            "pubsub_channels:2",
            "pubsub_patterns:2",
            "pubsubshard_channels:1"
        ]
    );
    // RESP3 shapes of the introspection replies.
    q.resp3();
    q.run_all(&[
        "PUBSUB NUMSUB alpha",
        "PUBSUB NUMPAT",
        "PUBSUB CHANNELS al*",
        "PUBSUB SHARDNUMSUB s1",
    ]);
}

/// Polls `PUBSUB NUMSUB <channel>` until it reports `want` (disconnects are asynchronous).
fn wait_numsub(c: &mut RawConn, channel: &str, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = c.cmd(&["PUBSUB", "NUMSUB", channel]);
        if r.array()[1].int() == want {
            return;
        }
        assert!(Instant::now() < deadline, "NUMSUB {channel} stays {r:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn reset_quit_and_disconnect_drop_subscriptions() {
    let (ferro, redis) = start_both(&[]);
    let mut q = Twin::open(&ferro, &redis);
    let mut a = Twin::open(&ferro, &redis);
    a.run_n("SUBSCRIBE ch", 1);
    a.run_n("PSUBSCRIBE c*", 1);
    a.run("RESET");
    q.run_all(&["PUBSUB NUMSUB ch", "PUBSUB NUMPAT", "PUBLISH ch x"]);
    // RESET also leaves RESP3 and MULTI.
    a.resp3();
    a.run_n("SUBSCRIBE ch", 1);
    a.run_all(&["MULTI", "PING", "RESET", "EXEC", "PING"]);
    q.run_all(&["PUBSUB NUMSUB ch", "PUBLISH ch x"]);
    a.run_n("SUBSCRIBE ch", 1);
    a.run("QUIT");
    for c in [&mut q.f, &mut q.r] {
        wait_numsub(c, "ch", 0);
    }
    // A dropped connection.
    for (srv, c) in [(&ferro, &mut q.f), (&redis, &mut q.r)] {
        let mut s = srv.raw();
        s.cmds("SUBSCRIBE ch");
        s.cmds("SSUBSCRIBE sh");
        wait_numsub(c, "ch", 1);
        drop(s);
        wait_numsub(c, "ch", 0);
        assert_eq!(c.cmds("PUBLISH ch x").int(), 0);
        assert_eq!(c.cmds("SPUBLISH sh x").int(), 0);
        assert_eq!(c.cmds("PUBSUB SHARDCHANNELS").array().len(), 0);
    }
}

#[test]
fn keyspace_notifications_match_redis() {
    let (ferro, redis) = start_both(&["--enable-debug-command", "yes"]);
    let mut c = Twin::open(&ferro, &redis);
    let mut sub = Twin::open(&ferro, &redis);
    c.run("CONFIG SET notify-keyspace-events KEA");
    sub.run_n("PSUBSCRIBE __key*__:*", 1);
    sub.run_n("SUBSCRIBE end", 1);
    let script = [
        "SET a 1",
        "SET a 2 EX 100",
        "INCR a",
        "INCRBY a 2",
        "DECR a",
        "INCRBYFLOAT a 1.5",
        "APPEND a x",
        "SETRANGE a 0 yy",
        "GETSET a z",
        "GETDEL a",
        "SETNX b 1",
        "SETNX b 2",
        "SETEX c 100 v",
        "PSETEX d 100 v",
        "MSET e 1 f 2",
        "MSETNX g 1 h 2",
        "GETEX e EX 100",
        "GETEX e PERSIST",
        "EXPIRE f 100",
        "PEXPIRE f 100000",
        "EXPIREAT f 99999999999",
        "PERSIST f",
        "RENAME f ff",
        "RENAMENX ff fff",
        "COPY fff g2",
        "MOVE g2 1",
        "DEL fff b nosuch",
        "UNLINK c",
        "EXPIRE d 0",
        "SET j v PXAT 1",
        "SET i v KEEPTTL",
        "SET i v GET",
        "SET w 1",
        "EXPIRE w -1",
        "TOUCH a",
        "INCR counter",
        "MULTI",
        "SET m 1",
        "INCR m",
        "EXEC",
        "SWAPDB 0 1",
        "SWAPDB 0 1",
        "FLUSHDB",
    ];
    for line in script {
        c.run(line);
    }
    // Lazy expiry fires "expired" when the key is touched.
    c.run("DEBUG SET-ACTIVE-EXPIRE 0");
    c.run("SET lazy v PX 1");
    std::thread::sleep(Duration::from_millis(20));
    c.run("GET lazy");
    // Active expiry fires it on its own.
    c.run("DEBUG SET-ACTIVE-EXPIRE 1");
    c.run("SET active v PX 1");
    std::thread::sleep(Duration::from_millis(400));
    // Only some classes.
    c.run("CONFIG SET notify-keyspace-events Eg");
    c.run_all(&["SET x 1", "EXPIRE x 100", "DEL x"]);
    c.run("CONFIG SET notify-keyspace-events K$");
    c.run_all(&["SET x 1", "EXPIRE x 100", "DEL x"]);
    c.run("CONFIG SET notify-keyspace-events KEA");
    c.run("PUBLISH end .");
    // Read everything up to the `end` message on both, then compare.
    let mut streams = Vec::new();
    for conn in [&mut sub.f, &mut sub.r] {
        let mut all = Vec::new();
        loop {
            let raw = conn.read_raw();
            let done = common::diff::parsed(&raw).array()[0].bytes() == Some(b"message");
            all.extend(raw);
            if done {
                break;
            }
        }
        streams.push(all);
    }
    assert!(
        streams[0] == streams[1],
        "\n  ferrodis: {}\n  redis:    {}",
        show(&streams[0]),
        show(&streams[1])
    );
    assert!(streams[0].windows(7).any(|w| w == b"expired"));
}

#[test]
fn keyspace_notifications_to_a_resp3_self_subscriber_precede_the_reply() {
    let (ferro, redis) = start_both(&[]);
    let mut c = Twin::open(&ferro, &redis);
    c.run("CONFIG SET notify-keyspace-events KEA");
    c.resp3();
    c.run_n(
        "SUBSCRIBE __keyevent@0__:set __keyevent@0__:expire __keyevent@0__:del",
        3,
    );
    c.run_n("SET a 1", 2);
    c.run_n("SET b 1 EX 100", 3);
    c.run_n("DEL a b", 3);
    c.run_n("RENAME nosuch x", 1);
    c.run_all(&["MULTI", "SET a 2", "DEL a"]);
    c.run_n("EXEC", 3);
}

#[test]
fn client_list_and_kill_by_type_pubsub() {
    let (ferro, redis) = start_both(&[]);
    for srv in [&ferro, &redis] {
        let mut s = srv.raw();
        s.cmds("CLIENT SETNAME sub");
        s.cmds("SUBSCRIBE a b");
        s.read();
        s.cmds("PSUBSCRIBE p*");
        s.cmds("SSUBSCRIBE sh");
        let mut q = srv.raw();
        let list = q.cmds("CLIENT LIST TYPE pubsub").text();
        let line = list.lines().next().expect("one pubsub client");
        assert!(line.contains(" name=sub "), "{}: {line}", srv.flavor);
        assert!(
            line.contains(" flags=P db=0 sub=2 psub=1 ssub=1 multi=-1 "),
            "{}: {line}",
            srv.flavor
        );
        assert_eq!(q.cmds("CLIENT LIST TYPE normal").text().lines().count(), 1);
        assert_eq!(q.cmds("CLIENT KILL TYPE pubsub").int(), 1);
        let (_, closed) = s.read_until_close(Duration::from_secs(5));
        assert!(closed, "{}: the subscriber was killed", srv.flavor);
        wait_numsub(&mut q, "a", 0);
    }
}

#[test]
fn slow_subscriber_is_disconnected_at_the_output_limit() {
    let (ferro, redis) = start_both(&[]);
    let payload = "x".repeat(100_000);
    for srv in [&ferro, &redis] {
        let mut admin = srv.raw();
        let set = admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 0 0",
        ]);
        assert_eq!(set, Resp::Simple(b"OK".to_vec()), "{}", srv.flavor);
        let mut slow = srv.raw();
        slow.cmds("CLIENT SETNAME slow");
        slow.cmds("SUBSCRIBE ch");
        // The slow subscriber never reads again: its socket buffers fill, then the server's
        // output buffer grows until the limit closes it.
        let mut p = srv.raw();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = p.cmds("CLIENT LIST").text();
            if !list.contains(" name=slow ") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: slow subscriber still connected",
                srv.flavor
            );
            for _ in 0..10 {
                p.cmd(&["PUBLISH", "ch", &payload]);
            }
        }
        // The server is fine and the channel is gone.
        assert_eq!(p.cmds("PUBSUB NUMSUB ch").array()[1].int(), 0);
        assert_eq!(p.cmd(&["PUBLISH", "ch", "x"]).int(), 0);
        drop(slow);
    }
}
