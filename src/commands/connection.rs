//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.
//!
//! These change only the calling client's state (protocol version, selected database,
//! authentication, name), never the keyspace. AUTH, HELLO, QUIT and RESET carry NO_AUTH so
//! that the executor lets them through before a client has authenticated; everything else
//! is refused there with `-NOAUTH`.
//!
//! Authentication checks the `default` user against `requirepass` (an empty one means the
//! user has `nopass`, so any password is accepted); ACL users hook in at `authenticate`.

use crate::cmd;
use crate::commands::flags::*;
use crate::commands::{CommandSpec, Ctx};
use crate::executor::client::{ClientKind, ReplyMode};
use crate::executor::state::State;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "ping",
        -1,
        FAST | SENTINEL,
        0,
        0,
        0,
        ping,
        "connection",
        "Ping the server"
    ),
    cmd!(
        "echo",
        2,
        FAST | STALE | LOADING,
        0,
        0,
        0,
        echo,
        "connection",
        "Echo the given string"
    ),
    cmd!(
        "quit",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        0,
        0,
        0,
        quit,
        "connection",
        "Close the connection"
    ),
    cmd!(
        "select",
        2,
        LOADING | STALE | FAST,
        0,
        0,
        0,
        select,
        "connection",
        "Change the selected database for the current connection"
    ),
    cmd!(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        0,
        0,
        0,
        auth,
        "connection",
        "Authenticate to the server"
    ),
    cmd!(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        0,
        0,
        0,
        hello,
        "connection",
        "Handshake with Redis"
    ),
    cmd!(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        0,
        0,
        0,
        reset,
        "connection",
        "Reset the connection"
    ),
];

fn ping(ctx: &mut Ctx) {
    // RESP2 subscribed mode has no room for a plain reply: PING answers like a message.
    if ctx.argv.len() <= 2 && crate::executor::pubsub::resp2_subscribed(ctx.client) {
        let arg = ctx.argv.get(1).cloned().unwrap_or_default();
        let out = ctx.reply();
        out.array(2);
        out.bulk(b"pong");
        out.bulk(&arg);
        return;
    }
    match ctx.argv.len() {
        1 => ctx.reply().simple("PONG"),
        2 => {
            let a = ctx.argv[1].clone();
            ctx.reply().bulk(&a)
        }
        _ => ctx
            .reply()
            .err("wrong number of arguments for 'ping' command"),
    }
}

fn echo(ctx: &mut Ctx) {
    let a = ctx.argv[1].clone();
    ctx.reply().bulk(&a);
}

fn quit(ctx: &mut Ctx) {
    ctx.reply().ok();
    ctx.client.close_after_reply = true;
}

fn select(ctx: &mut Ctx) {
    // Redis parses a C int (getIntFromObjectOrReply), with its two distinct errors.
    let Some(id) = crate::util::parse_i64(&ctx.argv[1]) else {
        ctx.reply().err("value is not an integer or out of range");
        return;
    };
    if i32::try_from(id).is_err() {
        ctx.reply()
            .err("value is out of range, value must between -2147483648 and 2147483647");
        return;
    }
    if id < 0 || id as usize >= ctx.state.dbs.len() {
        ctx.reply().err("DB index is out of range");
        return;
    }
    ctx.client.db = id as usize;
    ctx.reply().ok();
}

/// Compares two secrets without an early exit on the first differing byte: both are hashed
/// first, so neither the content nor the length leaks through timing (as Redis's
/// `time_independent_strcmp` over SHA256 digests).
fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let ha = sha1_smol::Sha1::from(a).digest().bytes();
    let hb = sha1_smol::Sha1::from(b).digest().bytes();
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Whether `user`/`pass` are valid credentials. Only the `default` user exists until ACLs do:
/// with no requirepass it is `nopass` and accepts any password.
pub fn authenticate(state: &State, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    let required = state.cfg.requirepass.as_bytes();
    required.is_empty() || secrets_equal(required, pass)
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx) {
    let (user, pass) = match ctx.argv.len() {
        2 => {
            if ctx.state.cfg.requirepass.is_empty() {
                ctx.reply().err(
                    "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
                return;
            }
            (&b"default"[..], ctx.argv[1].clone())
        }
        3 => (&ctx.argv[1][..], ctx.argv[2].clone()),
        _ => {
            ctx.syntax_error();
            return;
        }
    };
    if authenticate(ctx.state, user, &pass) {
        ctx.client.authenticated = true;
        ctx.reply().ok();
    } else {
        ctx.reply().error(WRONGPASS);
    }
}

fn hello(ctx: &mut Ctx) {
    let mut ver = 0i64;
    let mut next = 1;
    if ctx.argv.len() >= 2 {
        match crate::util::parse_i64(&ctx.argv[1]) {
            Some(v) => ver = v,
            None => {
                ctx.reply()
                    .err("Protocol version is not an integer or out of range");
                return;
            }
        }
        next = 2;
        if !(2..=3).contains(&ver) {
            ctx.reply().error("NOPROTO unsupported protocol version");
            return;
        }
    }
    let mut creds = None;
    let mut name = None;
    let mut j = next;
    while j < ctx.argv.len() {
        let more = ctx.argv.len() - 1 - j;
        let opt = &ctx.argv[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            creds = Some((ctx.argv[j + 1].clone(), ctx.argv[j + 2].clone()));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            name = Some(ctx.argv[j + 1].clone());
            j += 2;
        } else {
            let opt = ctx.arg_str(j);
            ctx.reply()
                .err(&format!("Syntax error in HELLO option '{opt}'"));
            return;
        }
    }
    if let Some((user, pass)) = creds {
        if !authenticate(ctx.state, &user, &pass) {
            ctx.reply().error(WRONGPASS);
            return;
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        ctx.reply().error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
        return;
    }
    if let Some(name) = name {
        if !super::client::set_name(ctx, name) {
            return;
        }
    }
    if ver != 0 {
        ctx.client.out.resp = ver as u8;
    }
    let id = ctx.client.id as i64;
    let resp = ctx.client.out.resp as i64;
    let role = if ctx.state.is_master {
        "master"
    } else {
        "replica"
    };
    let out = ctx.reply();
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(resp);
    out.bulk(b"id");
    out.int(id);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(role.as_bytes());
    out.bulk(b"modules");
    out.array(0);
}

/// RESET: back to a fresh connection's state (Redis's `clearClientConnectionState`).
fn reset(ctx: &mut Ctx) {
    if ctx.client.kind != ClientKind::Normal {
        ctx.reply().err("can only reset normal client connections");
        return;
    }
    if ctx.client.monitor {
        let id = ctx.client.id;
        ctx.state.monitors.retain(|&m| m != id);
        ctx.client.monitor = false;
    }
    crate::executor::watch::reset_client(ctx.state, ctx.client);
    crate::executor::pubsub::reset_client(ctx.state, ctx.client);
    ctx.client.db = 0;
    ctx.client.out.resp = 2;
    ctx.client.authenticated = ctx.state.cfg.requirepass.is_empty();
    ctx.client.name = None;
    // A reply skipped by CLIENT REPLY SKIP stays skipped (Redis clears only the
    // "skip next" and "off" flags); the executor restores the mode after this command.
    if ctx.client.reply_mode != ReplyMode::SkipThis {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.client.out.enabled = true;
    }
    ctx.reply().simple("RESET");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_user_auth() {
        let mut cfg = crate::config::Config::default();
        let state = State::new(cfg.clone());
        assert!(authenticate(&state, b"default", b"anything"));
        assert!(!authenticate(&state, b"other", b"anything"));
        cfg.requirepass = "secret".into();
        let state = State::new(cfg);
        assert!(authenticate(&state, b"default", b"secret"));
        assert!(!authenticate(&state, b"default", b"secreT"));
        assert!(!authenticate(&state, b"default", b""));
    }

    #[test]
    fn secrets_compare() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
