//! CONFIG GET, SET, REWRITE, RESETSTAT, HELP.
//!
//! GET and SET walk the directive table (`config::table`); REWRITE is
//! `config::rewrite`. SET is all-or-nothing like Redis 7.0's: every name is checked first
//! (unknown, immutable, protected, duplicate), then all values are set on the live
//! `Config` (the first bad value restores the old config), then the side effects of the
//! changed directives run once each (chdir for `dir`, the log level...); if one of those
//! fails the old config is restored and the side effects that already ran are run again
//! for the old values.

use std::collections::HashSet;

use crate::commands::flags::*;
use crate::commands::{container_handler, CommandSpec, Ctx};
use crate::config::table::{self, flags as cflags, Apply, Directive, SetCtx, TABLE};
use crate::config::Config;
use crate::subcmd;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "config",
    full_name: "config",
    arity: -2,
    flags: 0,
    first_key: 0,
    last_key: 0,
    step: 0,
    handler: container_handler,
    group: "server",
    summary: "A container for server configuration commands",
    since: "2.0.0",
    complexity: "Depends on subcommand.",
    subcommands: SUBCOMMANDS,
}];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        since: "2.0.0",
        complexity: "O(N) when N is the number of configuration parameters provided",
        ..subcmd!(
            "config|get",
            "get",
            -3,
            ADMIN | NOSCRIPT | LOADING | STALE,
            config_get,
            "server",
            "Get the values of configuration parameters"
        )
    },
    CommandSpec {
        since: "2.0.0",
        complexity: "O(N) when N is the number of configuration parameters provided",
        ..subcmd!(
            "config|set",
            "set",
            -4,
            ADMIN | NOSCRIPT | LOADING | STALE,
            config_set,
            "server",
            "Set configuration parameters to the given values"
        )
    },
    CommandSpec {
        since: "2.8.0",
        complexity: "O(1)",
        ..subcmd!(
            "config|rewrite",
            "rewrite",
            2,
            ADMIN | NOSCRIPT | LOADING | STALE,
            config_rewrite,
            "server",
            "Rewrite the configuration file with the in memory configuration"
        )
    },
    CommandSpec {
        since: "2.0.0",
        complexity: "O(1)",
        ..subcmd!(
            "config|resetstat",
            "resetstat",
            2,
            ADMIN | NOSCRIPT | LOADING | STALE,
            config_resetstat,
            "server",
            "Reset the stats returned by INFO"
        )
    },
    CommandSpec {
        since: "5.0.0",
        complexity: "O(1)",
        ..subcmd!(
            "config|help",
            "help",
            2,
            LOADING | STALE,
            config_help,
            "server",
            "Show helpful text about the different subcommands"
        )
    },
];

fn config_get(ctx: &mut Ctx) {
    // (name as shown, directive); names are deduplicated case-insensitively, the first
    // spelling wins, as Redis's matches dict does.
    let mut matches: Vec<(String, &'static Directive)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let argv = ctx.argv;
    for pat in &argv[2..] {
        if !pat.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            // An exact name: found even if hidden, shown as the client spelled it.
            if let Some(d) = table::lookup(pat) {
                let name = String::from_utf8_lossy(pat).into_owned();
                if seen.insert(name.to_ascii_lowercase()) {
                    matches.push((name, d));
                }
            }
            continue;
        }
        for d in TABLE.iter().filter(|d| !d.has(cflags::HIDDEN)) {
            for name in std::iter::once(d.name).chain(d.alias) {
                if crate::util::glob_match(pat, name.as_bytes(), true)
                    && seen.insert(name.to_string())
                {
                    matches.push((name.to_string(), d));
                }
            }
        }
    }
    let cfg = &ctx.state.cfg;
    let values: Vec<String> = matches.iter().map(|(_, d)| table::get(d, cfg)).collect();
    let out = ctx.reply();
    out.map(matches.len());
    for ((name, _), value) in matches.iter().zip(values) {
        out.bulk(name.as_bytes());
        out.bulk(value.as_bytes());
    }
}

/// Whether the client connects from this machine (unix socket or loopback), for
/// `enable-protected-configs local`.
fn client_is_local(ctx: &Ctx) -> bool {
    if ctx.client.unix {
        return true;
    }
    let ip = ctx
        .client
        .addr
        .rsplit_once(':')
        .map(|(ip, _)| ip)
        .unwrap_or("");
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn config_set(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() % 2 == 1 {
        ctx.syntax_error();
        return;
    }
    let local = client_is_local(ctx);
    // Resolve every name first; the first problem found is the one reported.
    let mut chosen: Vec<(&'static Directive, &'static str, usize)> = Vec::new();
    for i in (2..argv.len()).step_by(2) {
        let raw = &argv[i];
        let Some((d, name)) = table::lookup_name(raw) else {
            let name = String::from_utf8_lossy(raw).into_owned();
            ctx.reply().err(&format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
            return;
        };
        let problem = if d.has(cflags::IMMUTABLE) {
            Some("can't set immutable config")
        } else if d.has(cflags::PROTECTED)
            && !Config::protected_action_allowed(&ctx.state.cfg.enable_protected_configs, local)
        {
            Some("can't set protected config")
        } else if chosen.iter().any(|(_, n, _)| *n == name) {
            Some("duplicate parameter")
        } else {
            None
        };
        if let Some(p) = problem {
            let name = String::from_utf8_lossy(raw).into_owned();
            ctx.reply().err(&format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {p}"
            ));
            return;
        }
        chosen.push((d, name, i + 1));
    }

    // Set every value; remember which directives actually changed.
    let backup = ctx.state.cfg.clone();
    let mut set_ctx = SetCtx::runtime();
    let mut changed: Vec<(&'static Directive, &'static str)> = Vec::new();
    for &(d, name, vi) in &chosen {
        let value = String::from_utf8_lossy(&argv[vi]).into_owned();
        let args: Vec<String> = if d.multi_arg() {
            value.split(' ').map(String::from).collect()
        } else {
            vec![value]
        };
        let before = table::get(d, &ctx.state.cfg);
        if let Err(e) = table::set(d, &mut ctx.state.cfg, &args, &mut set_ctx) {
            ctx.state.cfg = backup;
            ctx.reply().err(&format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {e}"
            ));
            return;
        }
        if table::get(d, &ctx.state.cfg) != before {
            changed.push((d, name));
        }
    }

    // Run each side effect once, in order.
    let mut applied: Vec<Apply> = Vec::new();
    for &(d, name) in &changed {
        if d.apply == Apply::None || applied.contains(&d.apply) {
            continue;
        }
        if let Err(e) = apply(ctx, d.apply) {
            tracing::warn!(
                "Failed applying new configuration. Possibly related to new {} setting. Restoring previous settings.",
                name
            );
            ctx.state.cfg = backup;
            for &a in &applied {
                if let Err(e) = apply(ctx, a) {
                    tracing::warn!("Failed applying restored failed CONFIG SET command: {}", e);
                }
            }
            ctx.reply().err(&format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {e}"
            ));
            return;
        }
        applied.push(d.apply);
    }
    ctx.reply().ok();
}

/// Makes the server follow a changed directive.
fn apply(ctx: &mut Ctx, what: Apply) -> Result<(), String> {
    let cfg = &mut ctx.state.cfg;
    match what {
        Apply::None => Ok(()),
        Apply::Hz => {
            // A hint: accepted out of range, then clamped (the cron reads it every tick).
            cfg.hz = cfg.hz.clamp(1, 500);
            Ok(())
        }
        Apply::LogLevel => {
            crate::server::log::set_level(cfg.loglevel);
            Ok(())
        }
        Apply::Dir => std::env::set_current_dir(&cfg.dir).map_err(|e| table::strerror(&e)),
        Apply::RequirePass => {
            // With no password every connection is authenticated, including the ones that
            // connected while a password was required. Setting a password leaves current
            // connections authenticated, as in Redis.
            if cfg.requirepass.is_empty() {
                ctx.client.authenticated = true;
                for (_, slot) in ctx.clients.iter_mut() {
                    if let Some(c) = slot {
                        c.authenticated = true;
                    }
                }
            }
            Ok(())
        }
        // The listeners are created once at startup; moving them at runtime is not
        // supported, so the change is refused (and rolled back) with Redis's errors.
        Apply::Port => {
            tracing::warn!("Changing the listening port at runtime is not supported; restart the server with the new port");
            Err("Unable to listen on this port. Check server logs.".into())
        }
        Apply::Bind => {
            tracing::warn!("Changing the bind addresses at runtime is not supported; restart the server with the new addresses");
            Err("Failed to bind to specified addresses.".into())
        }
        Apply::AppendOnly => {
            let in_exec = crate::executor::watch::in_exec(ctx.client);
            crate::persistence::aof::runtime::apply(ctx.state, in_exec)
        }
    }
}

fn config_rewrite(ctx: &mut Ctx) {
    let Some(path) = ctx.state.config_file.clone() else {
        ctx.reply()
            .err("The server is running without a config file");
        return;
    };
    match crate::config::rewrite::rewrite(&ctx.state.cfg, &path) {
        Ok(()) => {
            tracing::warn!("CONFIG REWRITE executed with success.");
            ctx.reply().ok();
        }
        Err(e) => {
            let msg = table::strerror(&e);
            tracing::warn!("CONFIG REWRITE failed: {}", msg);
            ctx.reply().err(&format!("Rewriting config file: {msg}"));
        }
    }
}

fn config_resetstat(ctx: &mut Ctx) {
    ctx.state.stats.reset();
    ctx.reply().ok();
}

fn config_help(ctx: &mut Ctx) {
    ctx.reply().help(&[
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ]);
}
