//! Pub/Sub commands: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN- forms, PUBLISH,
//! SPUBLISH and the PUBSUB introspection container.
//!
//! Subscriptions and delivery live in `executor::pubsub`; these handlers parse arguments
//! and shape the replies. Confirmations and messages are pushes (`>` in RESP3, arrays in
//! RESP2). PUBLISH is propagated to replicas like Redis's `forceCommandPropagation`, so
//! their subscribers see the message too.

use crate::commands::flags::*;
use crate::commands::{container_handler, spec, CommandSpec, Ctx};
use crate::executor::pubsub::{self, Kind};
use crate::executor::watch;
use crate::subcmd;

#[rustfmt::skip]
pub static COMMANDS: &[CommandSpec] = &[
    spec!("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, [0, 0, 0], subscribe,
        "pubsub", "2.0.0", "Listen for messages published to the given channels",
        "O(N) where N is the number of channels to subscribe to."),
    spec!("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, [0, 0, 0], psubscribe,
        "pubsub", "2.0.0", "Listen for messages published to channels matching the given patterns",
        "O(N) where N is the number of patterns the client is already subscribed to."),
    spec!("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, [1, -1, 1], ssubscribe,
        "pubsub", "7.0.0", "Listen for messages published to the given shard channels",
        "O(N) where N is the number of shard channels to subscribe to."),
    spec!("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, [0, 0, 0], unsubscribe,
        "pubsub", "2.0.0", "Stop listening for messages posted to the given channels",
        "O(N) where N is the number of clients already subscribed to a channel."),
    spec!("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, [0, 0, 0], punsubscribe,
        "pubsub", "2.0.0", "Stop listening for messages posted to channels matching the given patterns",
        "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client)."),
    spec!("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, [1, -1, 1], sunsubscribe,
        "pubsub", "7.0.0", "Stop listening for messages posted to the given shard channels",
        "O(N) where N is the number of clients already subscribed to a shard channel."),
    spec!("publish", 3, PUBSUB | LOADING | STALE | FAST, [0, 0, 0], publish,
        "pubsub", "2.0.0", "Post a message to a channel",
        "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."),
    spec!("spublish", 3, PUBSUB | LOADING | STALE | FAST, [1, 1, 1], spublish,
        "pubsub", "7.0.0", "Post a message to a shard channel",
        "O(N) where N is the number of clients subscribed to the receiving shard channel."),
    CommandSpec {
        name: "pubsub",
        full_name: "pubsub",
        arity: -2,
        flags: 0,
        first_key: 0,
        last_key: 0,
        step: 0,
        handler: container_handler,
        group: "pubsub",
        summary: "A container for Pub/Sub commands",
        since: "2.8.0",
        complexity: "Depends on subcommand.",
        subcommands: SUBCOMMANDS,
    },
];

#[rustfmt::skip]
static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        since: "2.8.0",
        complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
        ..subcmd!("pubsub|channels", "channels", -2, PUBSUB | LOADING | STALE, channels,
            "pubsub", "List active channels")
    },
    CommandSpec {
        since: "2.8.0",
        complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        ..subcmd!("pubsub|numsub", "numsub", -2, PUBSUB | LOADING | STALE, numsub,
            "pubsub", "Get the count of subscribers for channels")
    },
    CommandSpec {
        since: "2.8.0",
        complexity: "O(1)",
        ..subcmd!("pubsub|numpat", "numpat", 2, PUBSUB | LOADING | STALE, numpat,
            "pubsub", "Get the count of unique patterns pattern subscriptions")
    },
    CommandSpec {
        since: "7.0.0",
        complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
        ..subcmd!("pubsub|shardchannels", "shardchannels", -2, PUBSUB | LOADING | STALE,
            shardchannels, "pubsub", "List active shard channels")
    },
    CommandSpec {
        since: "7.0.0",
        complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
        ..subcmd!("pubsub|shardnumsub", "shardnumsub", -2, PUBSUB | LOADING | STALE,
            shardnumsub, "pubsub", "Get the count of subscribers for shard channels")
    },
    CommandSpec {
        since: "6.2.0",
        complexity: "O(1)",
        ..subcmd!("pubsub|help", "help", 2, LOADING | STALE, help,
            "pubsub", "Show helpful text about the different subcommands")
    },
];

fn subscribe_each(ctx: &mut Ctx, kind: Kind) {
    for name in &ctx.argv[1..] {
        pubsub::subscribe(ctx.state, ctx.client, kind, name);
    }
}

fn unsubscribe_each(ctx: &mut Ctx, kind: Kind) {
    if ctx.argv.len() == 1 {
        pubsub::unsubscribe_all(ctx.state, ctx.client, kind, true);
    } else {
        for name in &ctx.argv[1..] {
            pubsub::unsubscribe(ctx.state, ctx.client, kind, name, true);
        }
    }
}

fn subscribe(ctx: &mut Ctx) {
    subscribe_each(ctx, Kind::Channel);
}

fn psubscribe(ctx: &mut Ctx) {
    subscribe_each(ctx, Kind::Pattern);
}

fn ssubscribe(ctx: &mut Ctx) {
    // Unlike SUBSCRIBE, Redis has no MULTI exception here: inside EXEC (a "deny blocking"
    // context) it is refused.
    if watch::in_exec(ctx.client) {
        ctx.reply()
            .err("SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
        return;
    }
    subscribe_each(ctx, Kind::Shard);
}

fn unsubscribe(ctx: &mut Ctx) {
    unsubscribe_each(ctx, Kind::Channel);
}

fn punsubscribe(ctx: &mut Ctx) {
    unsubscribe_each(ctx, Kind::Pattern);
}

fn sunsubscribe(ctx: &mut Ctx) {
    unsubscribe_each(ctx, Kind::Shard);
}

fn publish_kind(ctx: &mut Ctx, kind: Kind) {
    let receivers = pubsub::publish(
        ctx.state,
        Some(&mut *ctx.client),
        ctx.clients,
        kind,
        &ctx.argv[1],
        &ctx.argv[2],
    );
    // Replicas deliver it to their own subscribers.
    ctx.propagate(ctx.argv);
    ctx.reply().int(receivers as i64);
}

fn publish(ctx: &mut Ctx) {
    publish_kind(ctx, Kind::Channel);
}

fn spublish(ctx: &mut Ctx) {
    publish_kind(ctx, Kind::Shard);
}

fn channel_list(ctx: &mut Ctx, kind: Kind) {
    if ctx.argv.len() > 3 {
        crate::commands::client::subcommand_syntax_error(ctx);
        return;
    }
    let pattern = ctx.argv.get(2).cloned();
    let names = ctx.state.pubsub.channel_names(kind, pattern.as_deref());
    ctx.reply().bulk_array(names.iter());
}

fn channels(ctx: &mut Ctx) {
    channel_list(ctx, Kind::Channel);
}

fn shardchannels(ctx: &mut Ctx) {
    channel_list(ctx, Kind::Shard);
}

fn count_list(ctx: &mut Ctx, kind: Kind) {
    let names = &ctx.argv[2..];
    let out = &mut ctx.client.out;
    out.array(names.len() * 2);
    for name in names {
        out.bulk(name);
        out.int(ctx.state.pubsub.subscribers(kind, name) as i64);
    }
}

fn numsub(ctx: &mut Ctx) {
    count_list(ctx, Kind::Channel);
}

fn shardnumsub(ctx: &mut Ctx) {
    count_list(ctx, Kind::Shard);
}

fn numpat(ctx: &mut Ctx) {
    let n = ctx.state.pubsub.pattern_count();
    ctx.reply().int(n as i64);
}

fn help(ctx: &mut Ctx) {
    ctx.reply().help(&[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ]);
}
