//! Pub/Sub and keyspace notifications.
//!
//! # Bookkeeping
//!
//! The server keeps channel -> subscribers, pattern -> subscribers and shard channel ->
//! subscribers, where a subscriber is the client's key in `Executor::clients` (its `slot`):
//! delivery writes straight into that client's output buffer and wakes its connection
//! through `notify`, exactly how MONITOR lines travel. Each subscribed client also has an
//! entry (by id) listing what it holds, so that a disconnect, which only knows the id, can
//! undo it; the client itself mirrors the three counts in `ClientSubs` for the RESP2
//! subscribed-mode check and CLIENT LIST.
//!
//! Patterns are kept in subscription order and matched against every published channel,
//! as Redis does (a PUBLISH costs O(subscribers + patterns)).
//!
//! # Keyspace notifications
//!
//! `notify_keyspace_event` is reached from `State` (writes, lazy and active expiry), where
//! the client table is out of reach, so the messages are queued and `flush_pending`
//! publishes them as soon as a caller that holds the clients gets control: right after the
//! write in `Ctx::modified`, after every command in `Executor::call`, after each batch and
//! after the cron's active expiry. Nothing is queued when no client subscribed to anything.
//!
//! # Slow subscribers
//!
//! A subscriber that does not read would make its output buffer grow without bound. Every
//! delivery checks client-output-buffer-limit for the pubsub class (hard limit, or soft
//! limit held for longer than its seconds) and closes the client when it is exceeded, as
//! Redis's `closeClientOnOutputBufferLimitReached` does; a closing client gets no more data.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use slab::Slab;

use super::client::{Client, ClientKind};
use super::state::{notify, State};
use super::Executor;
use crate::commands::CommandSpec;
use crate::config::obuf_class;

type Subscribers = HashMap<Bytes, Vec<usize>, ahash::RandomState>;
type NameSet = HashSet<Bytes, ahash::RandomState>;

/// What one subscribed client holds.
#[derive(Debug, Default)]
struct Subscriber {
    slot: usize,
    channels: NameSet,
    patterns: NameSet,
    shard: NameSet,
}

/// Server-wide channel and pattern subscriptions.
#[derive(Debug, Default)]
pub struct PubSubState {
    channels: Subscribers,
    /// In subscription order; each pattern appears once.
    patterns: Vec<(Bytes, Vec<usize>)>,
    shard: Subscribers,
    /// Subscribed clients by id.
    clients: HashMap<u64, Subscriber, ahash::RandomState>,
    /// Keyspace notifications waiting for `flush_pending`: (channel, message).
    pending: Vec<(Bytes, Bytes)>,
}

impl PubSubState {
    /// Channels with at least one subscriber (INFO pubsub_channels).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Distinct subscribed patterns (INFO pubsub_patterns, PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Shard channels with at least one subscriber (INFO pubsubshard_channels).
    pub fn shard_channel_count(&self) -> usize {
        self.shard.len()
    }

    /// Subscribers of a channel (PUBSUB NUMSUB) or shard channel (SHARDNUMSUB).
    pub fn subscribers(&self, kind: Kind, channel: &[u8]) -> usize {
        let map = match kind {
            Kind::Shard => &self.shard,
            _ => &self.channels,
        };
        map.get(channel).map_or(0, |v| v.len())
    }

    /// Channel (or shard channel) names matching `pattern` (all when None).
    pub fn channel_names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = match kind {
            Kind::Shard => &self.shard,
            _ => &self.channels,
        };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty()
    }
}

/// Per-client subscription counts (the subscriptions themselves live in `PubSubState`).
#[derive(Debug, Default)]
pub struct ClientSubs {
    pub channels: usize,
    pub patterns: usize,
    pub shard: usize,
    /// When the output buffer first went over the soft limit (Unix s; 0: it is not).
    soft_limit_since: u64,
}

impl ClientSubs {
    /// Channels plus patterns: the count in (P)SUBSCRIBE / (P)UNSUBSCRIBE replies.
    pub fn count(&self) -> usize {
        self.channels + self.patterns
    }

    /// Any subscription at all (Redis's CLIENT_PUBSUB flag).
    pub fn any(&self) -> bool {
        self.channels + self.patterns + self.shard > 0
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }

    /// The count reported with this kind's confirmations.
    fn count(self, subs: &ClientSubs) -> usize {
        match self {
            Kind::Shard => subs.shard,
            _ => subs.count(),
        }
    }
}

/// Whether the client holds any subscription (CLIENT LIST flag `P`, client type pubsub).
pub fn is_subscribed(client: &Client) -> bool {
    client.subs.any()
}

/// RESP2 subscribed mode: PING answers `["pong", <arg or "">]`.
pub fn resp2_subscribed(client: &Client) -> bool {
    client.out.resp == 2 && client.subs.any()
}

/// Writes one subscribe/unsubscribe confirmation. Like Redis's pushes these ignore CLIENT
/// REPLY OFF/SKIP.
fn confirm(client: &mut Client, word: &[u8], channel: Option<&[u8]>, count: usize) {
    let enabled = client.out.enabled;
    client.out.enabled = true;
    client.out.push(3);
    client.out.bulk(word);
    match channel {
        Some(c) => client.out.bulk(c),
        None => client.out.null(),
    }
    client.out.int(count as i64);
    client.out.enabled = enabled;
}

fn set_of(sub: &mut Subscriber, kind: Kind) -> &mut NameSet {
    match kind {
        Kind::Channel => &mut sub.channels,
        Kind::Pattern => &mut sub.patterns,
        Kind::Shard => &mut sub.shard,
    }
}

fn count_of(subs: &mut ClientSubs, kind: Kind) -> &mut usize {
    match kind {
        Kind::Channel => &mut subs.channels,
        Kind::Pattern => &mut subs.patterns,
        Kind::Shard => &mut subs.shard,
    }
}

/// Subscribes the client to `name` and writes the confirmation.
pub fn subscribe(state: &mut State, client: &mut Client, kind: Kind, name: &[u8]) {
    let ps = &mut state.pubsub;
    let sub = ps.clients.entry(client.id).or_default();
    sub.slot = client.slot;
    if !set_of(sub, kind).contains(name) {
        // Copied: a slice of the input buffer would pin the whole read chunk.
        let name = Bytes::copy_from_slice(name);
        set_of(sub, kind).insert(name.clone());
        match kind {
            Kind::Channel => ps.channels.entry(name).or_default().push(client.slot),
            Kind::Shard => ps.shard.entry(name).or_default().push(client.slot),
            Kind::Pattern => match ps.patterns.iter_mut().find(|(p, _)| p == &name) {
                Some((_, v)) => v.push(client.slot),
                None => ps.patterns.push((name, vec![client.slot])),
            },
        }
        *count_of(&mut client.subs, kind) += 1;
    }
    let count = kind.count(&client.subs);
    confirm(client, kind.subscribe_word(), Some(name), count);
}

/// Unsubscribes the client from `name`; with `reply`, writes the confirmation (also when the
/// client was not subscribed to it, as Redis does).
pub fn unsubscribe(state: &mut State, client: &mut Client, kind: Kind, name: &[u8], reply: bool) {
    let ps = &mut state.pubsub;
    let removed = match ps.clients.get_mut(&client.id) {
        Some(sub) => set_of(sub, kind).remove(name),
        None => false,
    };
    if removed {
        let slot = client.slot;
        match kind {
            Kind::Channel | Kind::Shard => {
                let map = if kind == Kind::Shard {
                    &mut ps.shard
                } else {
                    &mut ps.channels
                };
                if let Some(v) = map.get_mut(name) {
                    v.retain(|&s| s != slot);
                    if v.is_empty() {
                        map.remove(name);
                    }
                }
            }
            Kind::Pattern => {
                if let Some(i) = ps.patterns.iter().position(|(p, _)| p == name) {
                    ps.patterns[i].1.retain(|&s| s != slot);
                    if ps.patterns[i].1.is_empty() {
                        ps.patterns.remove(i);
                    }
                }
            }
        }
        *count_of(&mut client.subs, kind) -= 1;
        if !client.subs.any() {
            ps.clients.remove(&client.id);
        }
    }
    if reply {
        let count = kind.count(&client.subs);
        confirm(client, kind.unsubscribe_word(), Some(name), count);
    }
}

/// Unsubscribes the client from everything of `kind`; with `reply`, one confirmation per
/// name, or a single one with a null name when there was nothing to drop.
pub fn unsubscribe_all(state: &mut State, client: &mut Client, kind: Kind, reply: bool) {
    let names: Vec<Bytes> = match state.pubsub.clients.get_mut(&client.id) {
        Some(sub) => set_of(sub, kind).iter().cloned().collect(),
        None => Vec::new(),
    };
    if names.is_empty() {
        if reply {
            let count = kind.count(&client.subs);
            confirm(client, kind.unsubscribe_word(), None, count);
        }
        return;
    }
    for name in &names {
        unsubscribe(state, client, kind, name, reply);
    }
}

/// RESET: drops every subscription silently.
pub fn reset_client(state: &mut State, client: &mut Client) {
    if !client.subs.any() {
        return;
    }
    for kind in [Kind::Channel, Kind::Shard, Kind::Pattern] {
        unsubscribe_all(state, client, kind, false);
    }
    client.subs.soft_limit_since = 0;
}

/// A client disconnects.
pub fn remove_client(exec: &mut Executor, client_id: u64) {
    let ps = &mut exec.state.pubsub;
    let Some(sub) = ps.clients.remove(&client_id) else {
        return;
    };
    let slot = sub.slot;
    for (set, map) in [
        (&sub.channels, &mut ps.channels),
        (&sub.shard, &mut ps.shard),
    ] {
        for name in set {
            if let Some(v) = map.get_mut(name) {
                v.retain(|&s| s != slot);
                if v.is_empty() {
                    map.remove(name);
                }
            }
        }
    }
    if !sub.patterns.is_empty() {
        ps.patterns.retain_mut(|(p, v)| {
            if sub.patterns.contains(p) {
                v.retain(|&s| s != slot);
            }
            !v.is_empty()
        });
    }
}

/// In RESP2 subscribed mode only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET run;
/// writes the error and returns true when the command is refused.
#[inline]
pub fn rejects(client: &mut Client, spec: &'static CommandSpec, _argv: &[Bytes]) -> bool {
    if client.out.resp != 2 || !client.subs.any() {
        return false;
    }
    rejects_subscribed(client, spec)
}

/// `rejects` for a RESP2 client with subscriptions.
fn rejects_subscribed(client: &mut Client, spec: &'static CommandSpec) -> bool {
    if matches!(
        spec.full_name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    ) {
        return false;
    }
    client.out.err(&format!(
        "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        spec.full_name
    ));
    true
}

/// The client a subscriber slot names: another client in the table, or the caller, whose
/// slot is empty while its command runs.
fn target<'a>(
    clients: &'a mut Slab<Option<Client>>,
    caller: &'a mut Option<&mut Client>,
    slot: usize,
) -> Option<&'a mut Client> {
    match clients.get_mut(slot) {
        Some(Some(c)) => Some(c),
        Some(None) => caller.as_deref_mut().filter(|c| c.slot == slot),
        None => None,
    }
}

/// Writes a message push into a subscriber's output, enforces the pubsub output buffer
/// limit and wakes its connection (the caller's own output is written after its command).
fn deliver(
    state: &State,
    c: &mut Client,
    is_caller: bool,
    word: &[u8],
    pattern: Option<&[u8]>,
    channel: &[u8],
    msg: &[u8],
) {
    if c.close_asap {
        return;
    }
    let enabled = c.out.enabled;
    c.out.enabled = true;
    c.out.push(if pattern.is_some() { 4 } else { 3 });
    c.out.bulk(word);
    if let Some(p) = pattern {
        c.out.bulk(p);
    }
    c.out.bulk(channel);
    c.out.bulk(msg);
    c.out.enabled = enabled;
    if over_output_limit(state, c) {
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            c.info_line(state.now_ms)
        );
        c.close_asap = true;
        c.notify.notify_one();
    } else if !is_caller {
        c.notify.notify_one();
    }
}

/// Redis's `checkClientOutputBufferLimits` for a subscribed client: over the hard limit,
/// or over the soft limit for longer than its seconds.
fn over_output_limit(state: &State, c: &mut Client) -> bool {
    if c.kind != ClientKind::Normal {
        // Replication links have their own class and checks.
        return false;
    }
    let limit = &state.cfg.client_output_buffer_limit[obuf_class::PUBSUB];
    limit.reached(
        c.out.buf.len() as u64,
        &mut c.subs.soft_limit_since,
        state.now_ms / 1000,
    )
}

/// Publishes `msg` on `channel` (a shard channel with `Kind::Shard`); returns the number of
/// receivers. `caller` is the client running the command, if any (its slot is empty).
pub fn publish(
    state: &State,
    mut caller: Option<&mut Client>,
    clients: &mut Slab<Option<Client>>,
    kind: Kind,
    channel: &[u8],
    msg: &[u8],
) -> usize {
    let ps = &state.pubsub;
    let mut receivers = 0;
    let (map, word): (&Subscribers, &[u8]) = match kind {
        Kind::Shard => (&ps.shard, b"smessage"),
        _ => (&ps.channels, b"message"),
    };
    if let Some(slots) = map.get(channel) {
        for &slot in slots {
            let caller_slot = caller.as_ref().map(|c| c.slot);
            if let Some(c) = target(clients, &mut caller, slot) {
                deliver(
                    state,
                    c,
                    caller_slot == Some(slot),
                    word,
                    None,
                    channel,
                    msg,
                );
            }
            receivers += 1;
        }
    }
    if kind != Kind::Shard {
        for (pattern, slots) in &ps.patterns {
            if !crate::util::glob_match(pattern, channel, false) {
                continue;
            }
            for &slot in slots {
                let caller_slot = caller.as_ref().map(|c| c.slot);
                if let Some(c) = target(clients, &mut caller, slot) {
                    let is_caller = caller_slot == Some(slot);
                    deliver(
                        state,
                        c,
                        is_caller,
                        b"pmessage",
                        Some(pattern),
                        channel,
                        msg,
                    );
                }
                receivers += 1;
            }
        }
    }
    receivers
}

/// Fires a keyspace notification when notify-keyspace-events enables its class: queued,
/// delivered by `flush_pending`.
pub fn notify_keyspace_event(state: &mut State, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = state.cfg.notify_flags;
    if flags & class == 0 || state.pubsub.is_empty() {
        return;
    }
    let mut n = itoa::Buffer::new();
    let db = n.format(db).as_bytes();
    let channel = |prefix: &[u8], suffix: &[u8]| {
        let mut c = Vec::with_capacity(prefix.len() + db.len() + 3 + suffix.len());
        c.extend_from_slice(prefix);
        c.extend_from_slice(db);
        c.extend_from_slice(b"__:");
        c.extend_from_slice(suffix);
        Bytes::from(c)
    };
    if flags & notify::KEYSPACE != 0 {
        let ch = channel(b"__keyspace@", key);
        state
            .pubsub
            .pending
            .push((ch, Bytes::copy_from_slice(event.as_bytes())));
    }
    if flags & notify::KEYEVENT != 0 {
        let ch = channel(b"__keyevent@", event.as_bytes());
        state.pubsub.pending.push((ch, Bytes::copy_from_slice(key)));
    }
}

/// Delivers the queued keyspace notifications. `caller` is the client whose command is
/// running, if any.
#[inline]
pub fn flush_pending(
    state: &mut State,
    caller: Option<&mut Client>,
    clients: &mut Slab<Option<Client>>,
) {
    if !state.pubsub.pending.is_empty() {
        flush_pending_slow(state, caller, clients);
    }
}

fn flush_pending_slow(
    state: &mut State,
    mut caller: Option<&mut Client>,
    clients: &mut Slab<Option<Client>>,
) {
    let mut pending = std::mem::take(&mut state.pubsub.pending);
    for (channel, msg) in pending.drain(..) {
        publish(
            state,
            caller.as_deref_mut(),
            clients,
            Kind::Channel,
            &channel,
            &msg,
        );
    }
    // Keep the allocation for the next command.
    if state.pubsub.pending.is_empty() {
        state.pubsub.pending = pending;
    }
}

/// Delivers queued notifications outside any command (cron, end of a batch).
pub fn flush_pending_idle(exec: &mut Executor) {
    flush_pending(&mut exec.state, None, &mut exec.clients);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::rc::Rc;

    fn client(id: u64, slot: usize) -> Client {
        let mut c = Client::new(
            id,
            "127.0.0.1:1".into(),
            "127.0.0.1:6379".into(),
            false,
            Rc::new(tokio::sync::Notify::new()),
            0,
        );
        c.slot = slot;
        c
    }

    /// A table with `n` clients (ids 1..=n) at slots 0..n.
    fn table(n: usize) -> Slab<Option<Client>> {
        let mut s = Slab::new();
        for i in 0..n {
            let k = s.insert(None);
            s[k] = Some(client(i as u64 + 1, k));
        }
        s
    }

    fn out(clients: &mut Slab<Option<Client>>, slot: usize) -> String {
        let c = clients[slot].as_mut().expect("client");
        String::from_utf8_lossy(&c.out.buf.split()).into_owned()
    }

    #[test]
    fn subscribe_publish_unsubscribe() {
        let mut state = State::new(Config::default());
        let mut clients = table(2);
        let mut a = clients[0].take().expect("client");
        subscribe(&mut state, &mut a, Kind::Channel, b"ch");
        subscribe(&mut state, &mut a, Kind::Pattern, b"c*");
        subscribe(&mut state, &mut a, Kind::Channel, b"ch");
        assert_eq!(a.subs.count(), 2);
        clients[0] = Some(a);
        out(&mut clients, 0);
        let n = publish(&state, None, &mut clients, Kind::Channel, b"ch", b"hi");
        assert_eq!(n, 2);
        assert_eq!(
            out(&mut clients, 0),
            "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n\
             *4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            publish(&state, None, &mut clients, Kind::Shard, b"ch", b"x"),
            0
        );
        let mut a = clients[0].take().expect("client");
        unsubscribe_all(&mut state, &mut a, Kind::Channel, true);
        unsubscribe_all(&mut state, &mut a, Kind::Pattern, true);
        assert!(!a.subs.any());
        assert!(state.pubsub.clients.is_empty());
        assert!(state.pubsub.is_empty());
    }

    #[test]
    fn caller_receives_through_its_own_buffer() {
        let mut state = State::new(Config::default());
        let mut clients = table(1);
        let mut a = clients[0].take().expect("client");
        a.out.resp = 3;
        subscribe(&mut state, &mut a, Kind::Channel, b"ch");
        a.out.buf.clear();
        let n = publish(
            &state,
            Some(&mut a),
            &mut clients,
            Kind::Channel,
            b"ch",
            b"m",
        );
        assert_eq!(n, 1);
        assert_eq!(
            &a.out.buf[..],
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"
        );
    }

    #[test]
    fn disconnect_removes_everything() {
        let mut exec = Executor::new(Config::default());
        let mut a = client(7, 0);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            subscribe(&mut exec.state, &mut a, kind, b"x");
        }
        remove_client(&mut exec, 7);
        let ps = &exec.state.pubsub;
        assert!(ps.is_empty() && ps.shard.is_empty() && ps.clients.is_empty());
    }

    #[test]
    fn keyspace_events_follow_flags() {
        let mut state = State::new(Config::default());
        let mut clients = table(1);
        let mut a = clients[0].take().expect("client");
        subscribe(&mut state, &mut a, Kind::Pattern, b"__key*__:*");
        a.out.buf.clear();
        clients[0] = Some(a);
        notify_keyspace_event(&mut state, notify::STRING, "set", b"k", 0);
        assert!(state.pubsub.pending.is_empty(), "notifications are off");
        state.cfg.notify_flags = notify::KEYSPACE | notify::KEYEVENT | notify::STRING;
        notify_keyspace_event(&mut state, notify::GENERIC, "del", b"k", 0);
        assert!(state.pubsub.pending.is_empty(), "class not enabled");
        notify_keyspace_event(&mut state, notify::STRING, "set", b"k", 3);
        flush_pending(&mut state, None, &mut clients);
        assert_eq!(
            out(&mut clients, 0),
            "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$16\r\n__keyspace@3__:k\r\n$3\r\nset\r\n\
             *4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyevent@3__:set\r\n$1\r\nk\r\n"
        );
    }

    #[test]
    fn soft_limit_closes_only_when_held_longer_than_its_seconds() {
        let mut state = State::new(Config::default());
        let lim = &mut state.cfg.client_output_buffer_limit[obuf_class::PUBSUB];
        (lim.hard, lim.soft, lim.soft_seconds) = (0, 1000, 2);
        let mut clients = table(1);
        let mut a = clients[0].take().expect("client");
        subscribe(&mut state, &mut a, Kind::Channel, b"ch");
        clients[0] = Some(a);
        let big = vec![b'x'; 600];
        state.now_ms = 10_000;
        for _ in 0..3 {
            publish(&state, None, &mut clients, Kind::Channel, b"ch", &big);
        }
        assert!(!clients[0].as_ref().expect("client").close_asap);
        state.now_ms = 12_000;
        publish(&state, None, &mut clients, Kind::Channel, b"ch", &big);
        assert!(
            !clients[0].as_ref().expect("client").close_asap,
            "2 s is not more than 2 s"
        );
        // Draining under the soft limit resets the clock.
        out(&mut clients, 0);
        publish(&state, None, &mut clients, Kind::Channel, b"ch", b"small");
        state.now_ms = 20_000;
        for _ in 0..2 {
            publish(&state, None, &mut clients, Kind::Channel, b"ch", &big);
        }
        assert!(!clients[0].as_ref().expect("client").close_asap);
        state.now_ms = 23_000;
        publish(&state, None, &mut clients, Kind::Channel, b"ch", &big);
        assert!(clients[0].as_ref().expect("client").close_asap);
    }

    #[test]
    fn hard_limit_closes_the_subscriber() {
        let mut state = State::new(Config::default());
        state.cfg.client_output_buffer_limit[obuf_class::PUBSUB].hard = 1000;
        let mut clients = table(1);
        let mut a = clients[0].take().expect("client");
        subscribe(&mut state, &mut a, Kind::Channel, b"ch");
        clients[0] = Some(a);
        let big = vec![b'x'; 300];
        for _ in 0..10 {
            publish(&state, None, &mut clients, Kind::Channel, b"ch", &big);
        }
        let c = clients[0].as_ref().expect("client");
        assert!(c.close_asap);
        assert!(c.out.buf.len() < 1500, "no growth once closing");
    }
}
