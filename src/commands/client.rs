//! CLIENT: introspection and control of connections (ID, SETNAME, GETNAME, LIST, INFO, KILL,
//! PAUSE, UNPAUSE, REPLY, NO-EVICT, SETINFO, UNBLOCK, TRACKING stubs, HELP).
//!
//! The calling client is `ctx.client`; every other connection is in `ctx.clients`. Killing
//! another client only flags it (`close_asap`) and wakes its connection task, which then
//! drops the socket; killing oneself replies first (`close_after_reply`), as Redis does.
//!
//! CLIENT PAUSE stores a deadline and a kind in `State::pause`; the executor holds back the
//! commands of paused clients (all of them, or only writes) and leaves them in the client's
//! batch, and the clients flagged `paused` are woken when the pause ends or is lifted.

use bytes::Bytes;
use slab::Slab;

use crate::commands::flags::*;
use crate::commands::{container_handler, CommandSpec, Ctx};
use crate::executor::client::{Client, ClientKind, ReplyMode};
use crate::executor::state::PauseKind;
use crate::subcmd;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "client",
    full_name: "client",
    arity: -2,
    flags: SENTINEL,
    first_key: 0,
    last_key: 0,
    step: 0,
    handler: container_handler,
    group: "connection",
    summary: "A container for client connection commands",
    since: "2.4.0",
    complexity: "Depends on subcommand.",
    subcommands: SUBCOMMANDS,
}];

const CONN: u32 = NOSCRIPT | LOADING | STALE | SENTINEL;

static SUBCOMMANDS: &[CommandSpec] = &[
    subcmd!(
        "client|id",
        "id",
        2,
        CONN,
        id,
        "connection",
        "Returns the client ID for the current connection"
    ),
    subcmd!(
        "client|setname",
        "setname",
        3,
        CONN,
        setname,
        "connection",
        "Set the current connection name"
    ),
    subcmd!(
        "client|getname",
        "getname",
        2,
        CONN,
        getname,
        "connection",
        "Get the current connection name"
    ),
    subcmd!(
        "client|list",
        "list",
        -2,
        ADMIN | CONN,
        list,
        "connection",
        "Get the list of client connections"
    ),
    subcmd!(
        "client|info",
        "info",
        2,
        CONN,
        info,
        "connection",
        "Returns information about the current client connection."
    ),
    subcmd!(
        "client|kill",
        "kill",
        -3,
        ADMIN | CONN,
        kill,
        "connection",
        "Kill the connection of a client"
    ),
    subcmd!(
        "client|pause",
        "pause",
        -3,
        ADMIN | CONN,
        pause,
        "connection",
        "Stop processing commands from clients for some time"
    ),
    subcmd!(
        "client|unpause",
        "unpause",
        2,
        ADMIN | CONN,
        unpause,
        "connection",
        "Resume processing of clients that were paused"
    ),
    subcmd!(
        "client|reply",
        "reply",
        3,
        CONN,
        reply,
        "connection",
        "Instruct the server whether to reply to commands"
    ),
    subcmd!(
        "client|no-evict",
        "no-evict",
        3,
        ADMIN | CONN,
        no_evict,
        "connection",
        "Set client eviction mode for the current connection"
    ),
    CommandSpec {
        name: "setinfo",
        full_name: "client|setinfo",
        arity: 4,
        flags: CONN,
        first_key: 0,
        last_key: 0,
        step: 0,
        handler: setinfo,
        group: "connection",
        summary: "Set client or connection specific info",
        since: "7.2.0",
        complexity: "O(1)",
        subcommands: &[],
    },
    subcmd!(
        "client|unblock",
        "unblock",
        -3,
        ADMIN | CONN,
        unblock,
        "connection",
        "Unblock a client blocked in a blocking command from a different connection"
    ),
    subcmd!(
        "client|tracking",
        "tracking",
        -3,
        CONN,
        tracking,
        "connection",
        "Enable or disable server assisted client side caching support"
    ),
    subcmd!(
        "client|trackinginfo",
        "trackinginfo",
        2,
        CONN,
        trackinginfo,
        "connection",
        "Return information about server assisted client side caching for the current connection"
    ),
    subcmd!(
        "client|caching",
        "caching",
        3,
        CONN,
        caching,
        "connection",
        "Instruct the server about tracking or not keys in the next request"
    ),
    subcmd!(
        "client|getredir",
        "getredir",
        2,
        CONN,
        getredir,
        "connection",
        "Get tracking notifications redirection client ID if any"
    ),
    subcmd!(
        "client|help",
        "help",
        2,
        LOADING | STALE | SENTINEL,
        help,
        "connection",
        "Show helpful text about the different subcommands"
    ),
];

const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// Redis's `addReplySubcommandSyntaxError`, for subcommands whose arity is open-ended but
/// whose argument count is wrong.
pub fn subcommand_syntax_error(ctx: &mut Ctx) {
    let sub: String = ctx.arg_str(1).chars().take(128).collect();
    let cmd = ctx.arg_str(0).to_uppercase();
    ctx.reply().err(&format!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."
    ));
}

/// Client names (and library names) must be printable ASCII without spaces, so that a
/// CLIENT LIST line can always be split on spaces. The empty name is allowed: it clears.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Sets (or, with an empty name, clears) the caller's name; on an invalid name replies with
/// Redis's error and returns false.
pub fn set_name(ctx: &mut Ctx, name: Bytes) -> bool {
    if !valid_client_name(&name) {
        ctx.reply()
            .err("Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    ctx.client.name = if name.is_empty() { None } else { Some(name) };
    true
}

/// CLIENT LIST / KILL TYPE classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

impl ClientType {
    /// Redis's `getClientTypeByName` ("slave" is the old name of "replica").
    pub fn from_name(name: &[u8]) -> Option<ClientType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"normal" => ClientType::Normal,
            b"slave" | b"replica" => ClientType::Replica,
            b"pubsub" => ClientType::PubSub,
            b"master" => ClientType::Master,
            _ => return None,
        })
    }

    /// Redis's `getClientType`: a MONITOR client counts as normal. Pub/sub mode is decided
    /// by the subscriptions the client holds; until the client tracks any, nobody is in it.
    pub fn of(c: &Client) -> ClientType {
        match c.kind {
            ClientKind::Master => ClientType::Master,
            ClientKind::Replica if !c.monitor => ClientType::Replica,
            _ if crate::executor::pubsub::is_subscribed(c) => ClientType::PubSub,
            _ => ClientType::Normal,
        }
    }
}

/// Wakes every client whose commands were held back by CLIENT PAUSE, so that their
/// connections hand the pending batch to the executor again.
pub fn wake_paused(clients: &mut Slab<Option<Client>>) {
    for (_, slot) in clients.iter_mut() {
        if let Some(c) = slot {
            if c.paused {
                c.paused = false;
                c.notify.notify_one();
            }
        }
    }
}

fn id(ctx: &mut Ctx) {
    let id = ctx.client.id as i64;
    ctx.reply().int(id);
}

fn setname(ctx: &mut Ctx) {
    let name = ctx.argv[2].clone();
    if set_name(ctx, name) {
        ctx.reply().ok();
    }
}

fn getname(ctx: &mut Ctx) {
    match ctx.client.name.clone() {
        Some(n) => ctx.reply().bulk(&n),
        None => ctx.reply().null(),
    }
}

/// Every client including the caller, in connection order (ids increase with time).
fn all_clients<'c>(caller: &'c Client, others: &'c Slab<Option<Client>>) -> Vec<&'c Client> {
    let mut v: Vec<&Client> = others.iter().filter_map(|(_, s)| s.as_ref()).collect();
    v.push(caller);
    v.sort_unstable_by_key(|c| c.id);
    v
}

fn list(ctx: &mut Ctx) {
    let now = crate::util::now_ms();
    let mut text = String::new();
    let argc = ctx.argv.len();
    if argc == 4 && ctx.argv[2].eq_ignore_ascii_case(b"type") {
        let Some(t) = ClientType::from_name(&ctx.argv[3]) else {
            let name = ctx.arg_str(3);
            ctx.reply().err(&format!("Unknown client type '{name}'"));
            return;
        };
        for c in all_clients(ctx.client, ctx.clients) {
            if ClientType::of(c) == t {
                text.push_str(&c.info_line(now));
                text.push('\n');
            }
        }
    } else if argc > 3 && ctx.argv[2].eq_ignore_ascii_case(b"id") {
        let mut ids = Vec::with_capacity(argc - 3);
        for a in &ctx.argv[3..] {
            match crate::util::parse_i64(a) {
                Some(id) => ids.push(id),
                None => {
                    ctx.reply().err("Invalid client ID");
                    return;
                }
            }
        }
        let clients = all_clients(ctx.client, ctx.clients);
        for id in ids {
            if let Some(c) = clients.iter().find(|c| c.id as i64 == id) {
                text.push_str(&c.info_line(now));
                text.push('\n');
            }
        }
    } else if argc != 2 {
        ctx.syntax_error();
        return;
    } else {
        for c in all_clients(ctx.client, ctx.clients) {
            text.push_str(&c.info_line(now));
            text.push('\n');
        }
    }
    ctx.reply().verbatim(text.as_bytes());
}

fn info(ctx: &mut Ctx) {
    let mut line = ctx.client.info_line(crate::util::now_ms());
    line.push('\n');
    ctx.reply().verbatim(line.as_bytes());
}

/// CLIENT KILL's filters; a `None` field matches everything.
#[derive(Default)]
struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    kind: Option<ClientType>,
    id: Option<u64>,
    max_age_secs: Option<u64>,
    skip_me: bool,
}

impl KillFilter {
    fn matches(&self, c: &Client, now_ms: u64) -> bool {
        self.addr
            .as_ref()
            .is_none_or(|a| a[..] == *c.addr.as_bytes())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| a[..] == *c.laddr.as_bytes())
            && self.kind.is_none_or(|t| ClientType::of(c) == t)
            && self.id.is_none_or(|id| c.id == id)
            && self
                .max_age_secs
                .is_none_or(|max| now_ms.saturating_sub(c.created_ms) / 1000 > max)
    }
}

/// Parses the filter form (`CLIENT KILL <option> <value> ...`); on error the reply is sent.
fn parse_kill_filter(ctx: &mut Ctx) -> Option<KillFilter> {
    let mut f = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    let argv = ctx.argv;
    let mut i = 2;
    while i < argv.len() {
        let opt = &argv[i];
        let Some(val) = argv.get(i + 1) else {
            ctx.syntax_error();
            return None;
        };
        if opt.eq_ignore_ascii_case(b"id") {
            match crate::util::parse_i64(val) {
                Some(n) if n >= 1 => f.id = Some(n as u64),
                _ => {
                    ctx.reply().err("client-id should be greater than 0");
                    return None;
                }
            }
        } else if opt.eq_ignore_ascii_case(b"type") {
            match ClientType::from_name(val) {
                Some(t) => f.kind = Some(t),
                None => {
                    let name = String::from_utf8_lossy(val).into_owned();
                    ctx.reply().err(&format!("Unknown client type '{name}'"));
                    return None;
                }
            }
        } else if opt.eq_ignore_ascii_case(b"addr") {
            f.addr = Some(val.clone());
        } else if opt.eq_ignore_ascii_case(b"laddr") {
            f.laddr = Some(val.clone());
        } else if opt.eq_ignore_ascii_case(b"user") {
            // Every connection is authenticated as `default` until ACL users exist.
            if &val[..] != b"default" {
                let name = String::from_utf8_lossy(val).into_owned();
                ctx.reply().err(&format!("No such user '{name}'"));
                return None;
            }
        } else if opt.eq_ignore_ascii_case(b"skipme") {
            if val.eq_ignore_ascii_case(b"yes") {
                f.skip_me = true;
            } else if val.eq_ignore_ascii_case(b"no") {
                f.skip_me = false;
            } else {
                ctx.syntax_error();
                return None;
            }
        } else if opt.eq_ignore_ascii_case(b"maxage") {
            match crate::util::parse_i64(val) {
                Some(n) if n >= 0 => f.max_age_secs = Some(n as u64),
                _ => {
                    ctx.reply().err("value is not an integer or out of range");
                    return None;
                }
            }
        } else {
            ctx.syntax_error();
            return None;
        }
        i += 2;
    }
    Some(f)
}

fn kill(ctx: &mut Ctx) {
    let old_form = ctx.argv.len() == 3;
    let filter = if old_form {
        // CLIENT KILL <ip:port>: may kill the caller itself.
        KillFilter {
            addr: Some(ctx.argv[2].clone()),
            skip_me: false,
            ..KillFilter::default()
        }
    } else {
        match parse_kill_filter(ctx) {
            Some(f) => f,
            None => return,
        }
    };
    let now = crate::util::now_ms();
    let mut killed = 0i64;
    for (_, slot) in ctx.clients.iter_mut() {
        if let Some(c) = slot {
            if filter.matches(c, now) {
                c.close_asap = true;
                c.notify.notify_one();
                killed += 1;
            }
        }
    }
    let close_self = !filter.skip_me && filter.matches(ctx.client, now);
    if close_self {
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            ctx.reply().err("No such client");
        } else {
            ctx.reply().ok();
        }
    } else {
        ctx.reply().int(killed);
    }
    // Flag the caller only after its reply is queued, so that it still gets it.
    if close_self {
        ctx.client.close_after_reply = true;
    }
}

fn pause(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    if argc > 4 {
        subcommand_syntax_error(ctx);
        return;
    }
    let mut kind = PauseKind::All;
    if argc == 4 {
        if ctx.argv[3].eq_ignore_ascii_case(b"write") {
            kind = PauseKind::Write;
        } else if !ctx.argv[3].eq_ignore_ascii_case(b"all") {
            ctx.reply().err("CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    let Some(ms) = crate::util::parse_i64(&ctx.argv[2]) else {
        ctx.reply().err("timeout is not an integer or out of range");
        return;
    };
    if ms < 0 {
        ctx.reply().err("timeout is negative");
        return;
    }
    let now = crate::util::now_ms();
    let Some(until) = now.checked_add(ms as u64).filter(|u| *u <= i64::MAX as u64) else {
        ctx.reply().err("timeout is out of range");
        return;
    };
    // Like Redis's pauseClients: a new pause never shortens or weakens the current one.
    let (until, kind) = match ctx.state.pause {
        Some((cur_until, cur_kind)) if cur_until > now => (
            until.max(cur_until),
            if cur_kind == PauseKind::All {
                PauseKind::All
            } else {
                kind
            },
        ),
        _ => (until, kind),
    };
    ctx.state.pause = Some((until, kind));
    ctx.reply().ok();
}

fn unpause(ctx: &mut Ctx) {
    ctx.state.pause = None;
    wake_paused(ctx.clients);
    ctx.reply().ok();
}

fn reply(ctx: &mut Ctx) {
    let mode = &ctx.argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.client.out.enabled = true;
        ctx.reply().ok();
    } else if mode.eq_ignore_ascii_case(b"off") {
        ctx.client.reply_mode = ReplyMode::Off;
        ctx.client.out.enabled = false;
    } else if mode.eq_ignore_ascii_case(b"skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        ctx.syntax_error();
    }
}

fn no_evict(ctx: &mut Ctx) {
    let v = &ctx.argv[2];
    if v.eq_ignore_ascii_case(b"on") {
        ctx.client.no_evict = true;
        ctx.reply().ok();
    } else if v.eq_ignore_ascii_case(b"off") {
        ctx.client.no_evict = false;
        ctx.reply().ok();
    } else {
        ctx.syntax_error();
    }
}

/// CLIENT SETINFO LIB-NAME|LIB-VER <value> (what Redis 7.2 added and client libraries send
/// on connect).
fn setinfo(ctx: &mut Ctx) {
    let attr = ctx.argv[2].to_ascii_lowercase();
    let val = ctx.argv[3].clone();
    let field = match attr.as_slice() {
        b"lib-name" => "lib-name",
        b"lib-ver" => "lib-ver",
        _ => {
            let a = ctx.arg_str(2);
            ctx.reply().err(&format!("Unrecognized option '{a}'"));
            return;
        }
    };
    if !valid_client_name(&val) {
        ctx.reply().err(&format!(
            "{field} cannot contain spaces, newlines or special characters."
        ));
        return;
    }
    let v = if val.is_empty() { None } else { Some(val) };
    if field == "lib-name" {
        ctx.client.lib_name = v;
    } else {
        ctx.client.lib_ver = v;
    }
    ctx.reply().ok();
}

fn unblock(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    if argc > 4 {
        subcommand_syntax_error(ctx);
        return;
    }
    if argc == 4
        && !ctx.argv[3].eq_ignore_ascii_case(b"timeout")
        && !ctx.argv[3].eq_ignore_ascii_case(b"error")
    {
        ctx.reply()
            .err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        return;
    }
    let Some(id) = ctx.int_arg(2) else {
        return;
    };
    let error = argc == 4 && ctx.argv[3].eq_ignore_ascii_case(b"error");
    let done = u64::try_from(id).is_ok_and(|id| {
        crate::executor::blocking::unblock_client(ctx.state, ctx.clients, id, error)
    });
    ctx.reply().int(done as i64);
}

fn tracking(ctx: &mut Ctx) {
    let mode = &ctx.argv[2];
    if mode.eq_ignore_ascii_case(b"off") {
        ctx.reply().ok();
    } else if mode.eq_ignore_ascii_case(b"on") {
        ctx.reply()
            .err("client-side caching (CLIENT TRACKING) is not supported by this server");
    } else {
        ctx.syntax_error();
    }
}

fn trackinginfo(ctx: &mut Ctx) {
    let out = ctx.reply();
    out.map(3);
    out.bulk(b"flags");
    out.set(1);
    out.bulk(b"off");
    out.bulk(b"redirect");
    out.int(-1);
    out.bulk(b"prefixes");
    out.array(0);
}

fn caching(ctx: &mut Ctx) {
    ctx.reply().err(
        "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
    );
}

fn getredir(ctx: &mut Ctx) {
    ctx.reply().int(-1);
}

fn help(ctx: &mut Ctx) {
    ctx.reply().help(HELP);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_client_name(b"my-app_1"));
        assert!(valid_client_name(b""));
        assert!(!valid_client_name(b"a b"));
        assert!(!valid_client_name(b"a\nb"));
        assert!(!valid_client_name("é".as_bytes()));
    }

    #[test]
    fn type_names() {
        assert_eq!(ClientType::from_name(b"SLAVE"), Some(ClientType::Replica));
        assert_eq!(ClientType::from_name(b"replica"), Some(ClientType::Replica));
        assert_eq!(ClientType::from_name(b"pubsub"), Some(ClientType::PubSub));
        assert_eq!(ClientType::from_name(b"foo"), None);
    }
}
