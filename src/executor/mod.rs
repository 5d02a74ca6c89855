//! The executor: the one owner of the keyspace, running every command.
//!
//! # Design
//!
//! Redis runs commands on one thread so that a command sees the dataset at rest and no key
//! needs a lock; ferrodis keeps that contract. The server runs a tokio *current-thread*
//! runtime (see `server`): connection tasks read from their sockets, parse every complete
//! command of a read into a `Batch` and hand the batch to `Executor::execute`. The executor
//! lives in an `Rc<RefCell<_>>` on that thread and is only ever borrowed between `.await`
//! points, so a borrow can never be contended: there is no lock and no cross-thread hop on
//! the command path, and a pipeline of thousands of commands costs one read, one borrow and
//! one write. (On a 2-core machine this beats a dedicated executor thread fed through a
//! channel: the benchmark client needs the other core, and every channel hop is a wake-up.)
//!
//! Replies are encoded straight into the client's output buffer (`Reply`); the connection
//! swaps that buffer out after the batch and writes it with one syscall.
//!
//! For every command `execute` does what Redis's `processCommand` + `call` do, in order:
//! lookup (unknown command error), arity, authentication, then the call; after it, stats
//! (commandstats, errorstats, slowlog), MONITOR feed, and propagation of writes in execution
//! order (the command's argv, or the rewritten form the handler chose via `Ctx::propagate`).
//! Later stages hook in here: MULTI queuing and pub/sub context checks (data-types issue),
//! -LOADING (persistence), -READONLY/-MASTERDOWN (replication).
//!
//! Time-driven work runs in `cron`, called `hz` times a second from a task on the same
//! thread: the active expiry cycle, incremental rehashing, client timeouts and stats samples.
//! Snapshots and replication streams will also run as tasks on this thread, interleaving
//! bounded steps with command batches.

pub mod blocking;
pub mod client;
pub mod clock;
pub mod evict;
pub mod expire;
pub mod propagate;
pub mod pubsub;
pub mod shutdown;
pub mod state;
#[cfg(test)]
pub mod test_support;
pub mod watch;

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use slab::Slab;
use tokio::sync::Notify;

use crate::commands::{self, flags, CommandSpec, Ctx};
use crate::config::Config;
use crate::protocol::{Batch, ParserLimits};
use client::{Client, ReplyMode};
use state::{SlowlogEntry, State};

/// What the connection must do after flushing output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Keep serving.
    Continue,
    /// Write what is pending, then close.
    Close,
    /// Close now, without writing.
    CloseNow,
}

pub struct Executor {
    pub state: State,
    /// Unix time: anchored when input is read, ticked after every command, so a command's
    /// start is the previous one's end and costs no clock read (see `clock`).
    clock: clock::Clock,
    /// Slot `None` only while that client's command runs.
    pub clients: Slab<Option<Client>>,
}

impl Executor {
    pub fn new(cfg: Config) -> Executor {
        Executor {
            clock: clock::Clock::new(),
            state: State::new(cfg),
            clients: Slab::new(),
        }
    }

    /// Registers a new connection. Err(reply bytes) when maxclients is reached.
    pub fn register(
        &mut self,
        addr: String,
        laddr: String,
        unix: bool,
        fd: i64,
        notify: Rc<Notify>,
    ) -> Result<usize, &'static [u8]> {
        self.state.stats.total_connections_received += 1;
        if self.clients.len() as u64 >= self.state.cfg.maxclients {
            self.state.stats.rejected_connections += 1;
            return Err(b"-ERR max number of clients reached\r\n");
        }
        let id = self.state.next_client_id;
        self.state.next_client_id += 1;
        let now = crate::util::now_ms();
        let mut c = Client::new(id, addr, laddr, unix, notify, now);
        c.fd = fd;
        c.slot = self.clients.vacant_key();
        c.authenticated = self.state.cfg.requirepass.is_empty();
        Ok(self.clients.insert(Some(c)))
    }

    pub fn unregister(&mut self, key: usize) {
        if let Some(Some(mut c)) = self.clients.try_remove(key) {
            self.state.monitors.retain(|&m| m != c.id);
            watch::remove_client(&mut self.state, &mut c);
            blocking::remove_client(self, c.id);
            pubsub::remove_client(self, c.id);
            crate::replication::master::remove_client(self, c.id);
        }
    }

    /// Parser limits for this client's next read.
    pub fn parser_limits(&self, key: usize) -> ParserLimits {
        // A missing client (already unregistered) gets the strictest limits.
        let authenticated = matches!(self.clients.get(key), Some(Some(c)) if c.authenticated);
        ParserLimits {
            max_bulk_len: Some(self.state.cfg.proto_max_bulk_len as usize),
            auth_required: !authenticated,
        }
    }

    /// The query buffer limit (client-query-buffer-limit).
    pub fn query_buffer_limit(&self) -> usize {
        self.state.cfg.client_query_buffer_limit as usize
    }

    /// Accounts bytes read from a client.
    pub fn note_input(&mut self, key: usize, bytes: usize, buffered: usize) {
        self.state.stats.total_net_input_bytes += bytes as u64;
        self.state.stats.total_reads_processed += 1;
        let now = self.clock.anchor() / 1000;
        self.state.now_ms = now;
        if let Some(Some(c)) = self.clients.get_mut(key) {
            c.qbuf = buffered;
            c.last_interaction_ms = now;
        }
    }

    /// Reads the clock (for batches that do not follow a read, e.g. a client released from
    /// CLIENT PAUSE).
    pub fn refresh_clock(&mut self) {
        self.state.now_ms = self.clock.anchor() / 1000;
    }

    /// Replies with a protocol error and marks the client to close after the reply.
    pub fn protocol_error(&mut self, key: usize, msg: &str) {
        if let Some(Some(c)) = self.clients.get_mut(key) {
            c.out.enabled = true;
            c.out.error(msg);
            c.close_after_reply = true;
            tracing::debug!(
                "Protocol error ({}) from client: id={} addr={}",
                msg,
                c.id,
                c.addr
            );
        }
    }

    /// Whether the client is to be closed without writing more (`close_asap`).
    pub fn closing_now(&self, key: usize) -> bool {
        matches!(self.clients.get(key), Some(Some(c)) if c.close_asap)
    }

    /// Swaps the client's pending output into `buf` (which must be empty) and says what
    /// to do after writing it.
    pub fn take_output(&mut self, key: usize, buf: &mut BytesMut) -> After {
        let Some(Some(c)) = self.clients.get_mut(key) else {
            return After::CloseNow;
        };
        if c.close_asap {
            return After::CloseNow;
        }
        std::mem::swap(&mut c.out.buf, buf);
        self.state.stats.total_net_output_bytes += buf.len() as u64;
        if !buf.is_empty() {
            self.state.stats.total_writes_processed += 1;
        }
        if c.close_after_reply {
            After::Close
        } else {
            After::Continue
        }
    }

    /// Executes the batch's commands in order, then clears it. Stops early when the client
    /// is to be closed (QUIT, KILL); the rest of the batch is dropped as Redis drops it.
    /// Commands held back by CLIENT PAUSE are left in the batch (see `is_paused_for`).
    pub fn execute(&mut self, key: usize, batch: &mut Batch) {
        let Some(slot) = self.clients.get_mut(key) else {
            return;
        };
        // A blocked client runs nothing until it is served, times out or is unblocked:
        // what it sends meanwhile accumulates in the batch.
        if slot.as_ref().is_some_and(blocking::is_blocked) {
            return;
        }
        let Some(mut client) = slot.take() else {
            return;
        };
        // `state.now_ms` was refreshed when the input was read (`note_input`).
        client.last_interaction_ms = self.state.now_ms;
        // Commands held back by CLIENT PAUSE stay in the batch, in order; the connection
        // hands the batch back when the client is woken at the end of the pause.
        let mut held = None;
        for i in 0..batch.len() {
            if client.close_after_reply || client.close_asap {
                break;
            }
            let argv = batch.command(i);
            if self.state.pause.is_some() && self.is_paused_for(&client, argv) {
                held = Some(i);
                break;
            }
            self.execute_one(&mut client, argv);
            if blocking::is_blocked(&client) {
                // The rest of the batch waits until the client is served or times out.
                held = Some(i + 1);
                break;
            }
        }
        client.paused = held.is_some();
        match held {
            Some(done) => batch.consume(done),
            None => batch.clear(),
        }
        self.clients[key] = Some(client);
        // Writes of this batch may have made keys ready for blocked clients.
        blocking::serve_ready(self);
        // Keyspace notifications not delivered yet (e.g. from serving blocked clients).
        pubsub::flush_pending_idle(self);
        // What the batch propagated goes to the backlog and the replicas.
        crate::replication::master::feed(self);
        // appendfsync always: the batch's writes are on disk before its replies leave.
        crate::persistence::aof::after_batch(&mut self.state);
    }

    /// Whether CLIENT PAUSE holds this command back (Redis 7.0 semantics): with ALL every
    /// command waits, with WRITE those that may write or replicate. Replicas and the master
    /// link are never paused, and commands that will be rejected anyway (unknown, wrong
    /// arity, not authenticated) are let through to get their error now.
    fn is_paused_for(&mut self, client: &Client, argv: &[Bytes]) -> bool {
        let Some((until, kind)) = self.state.pause else {
            return false;
        };
        if crate::util::now_ms() >= until {
            // Ended since the last cron tick: release the held clients now, in order.
            self.state.pause = None;
            commands::client::wake_paused(&mut self.clients);
            return false;
        }
        if client.kind != client::ClientKind::Normal {
            return false;
        }
        let Some(mut spec) = commands::lookup(&argv[0]) else {
            return false;
        };
        if !spec.subcommands.is_empty() && argv.len() >= 2 {
            match commands::lookup_sub(spec, &argv[1]) {
                Some(sub) => spec = sub,
                None => return false,
            }
        }
        if !spec.arity_ok(argv.len()) || (!client.authenticated && !spec.has(flags::NO_AUTH)) {
            return false;
        }
        match kind {
            state::PauseKind::All => true,
            state::PauseKind::Write => {
                spec.has(flags::WRITE)
                    || spec.has(flags::MAY_REPLICATE)
                    // EXEC of a transaction that queued writes.
                    || (spec.full_name == "exec"
                        && watch::queued_flags(client) & (flags::WRITE | flags::MAY_REPLICATE)
                            != 0)
            }
        }
    }

    fn execute_one(&mut self, client: &mut Client, argv: &[Bytes]) {
        // CLIENT REPLY SKIP applies to the command after it.
        match client.reply_mode {
            ReplyMode::Skip => {
                client.reply_mode = ReplyMode::SkipThis;
                client.out.enabled = false;
            }
            ReplyMode::SkipThis => {
                client.reply_mode = ReplyMode::On;
                client.out.enabled = true;
            }
            _ => {}
        }
        // Cross-protocol scripting guard: an HTTP request's "POST" or "Host:" line closes the
        // connection at once, discarding pending replies, as Redis's processCommand does.
        if argv[0].eq_ignore_ascii_case(b"host:") || argv[0].eq_ignore_ascii_case(b"post") {
            self.security_warning(client);
            return;
        }
        let spec = match self.resolve(client, argv) {
            Some(spec) => spec,
            None => {
                self.after_reject(client);
                return;
            }
        };
        if spec.has(flags::PROTECTED) && !self.protected_allowed(client, spec) {
            let st = self.state.stats.commands.stat_mut(spec.full_name);
            st.rejected_calls += 1;
            self.after_reject(client);
            return;
        }
        if !client.authenticated && !spec.has(flags::NO_AUTH) {
            client.out.error("NOAUTH Authentication required.");
            self.after_reject(client);
            return;
        }
        // Commands flagged no-multi are refused inside MULTI.
        if watch::rejects(client, spec) {
            self.after_reject(client);
            return;
        }
        // maxmemory: evict first; refuse the command with -OOM if memory stays too high.
        if !evict::admit(self, client, spec) {
            self.after_reject(client);
            return;
        }
        // A failed BGSAVE (stop-writes-on-bgsave-error) or an unwritable AOF: writes and
        // PING get -MISCONF; our master's commands are obeyed (Redis's obey_client).
        if (spec.has(flags::WRITE) || spec.full_name == "ping")
            && client.kind != client::ClientKind::Master
        {
            if let Some(msg) = crate::persistence::save::disk_error(&self.state) {
                client.out.error(&msg);
                self.after_reject(client);
                return;
            }
        }
        // min-replicas-to-write: writes need enough replicas with a small enough lag.
        // (The option's value is tested first: the check is a call into replication.)
        if spec.has(flags::WRITE)
            && self.state.cfg.min_replicas_to_write != 0
            && client.kind != client::ClientKind::Master
            && !crate::replication::master::enough_good_replicas(&self.state)
        {
            client
                .out
                .error("NOREPLICAS Not enough good replicas to write.");
            self.after_reject(client);
            return;
        }
        // The replica-only checks below can refuse nothing on a master without a link to a
        // master of its own, the usual case: skip their calls into replication.
        let replica = !self.state.is_master || self.state.repl.link.is_some();
        // A read-only replica refuses writes from anyone but its master (-READONLY).
        if replica && crate::replication::replica::rejects_write(&self.state, client, spec) {
            self.after_reject(client);
            return;
        }
        // Subscribed-mode restrictions (RESP2).
        if pubsub::rejects(client, spec, argv) {
            self.after_reject(client);
            return;
        }
        // A replica whose link is down and that must not serve stale data (-MASTERDOWN).
        if replica && crate::replication::replica::rejects_stale(&self.state, client, spec) {
            self.after_reject(client);
            return;
        }
        // While the dataset loads only commands flagged `loading` run.
        if self.state.rdb.loading.is_some() && !spec.has(flags::LOADING) {
            client
                .out
                .error("LOADING Redis is loading the dataset in memory");
            self.after_reject(client);
            return;
        }
        // A replica's async load (swapdb) serves the old data, except to no-async-loading
        // commands.
        if replica && crate::replication::replica::rejects_async_loading(&self.state, client, spec)
        {
            self.after_reject(client);
            return;
        }
        // Transactions: inside MULTI, commands are queued instead of run (`watch` hook here).
        if !watch::queue_command(client, spec, argv) {
            self.call(client, spec, argv);
        }
        if client.reply_mode == ReplyMode::SkipThis {
            client.reply_mode = ReplyMode::On;
            client.out.enabled = true;
        }
    }

    /// DEBUG and MODULE run only when enable-debug-command / enable-module-command allow it
    /// (`yes`, or `local` for loopback and unix socket clients); otherwise replies Redis's
    /// error and returns false.
    fn protected_allowed(&self, client: &mut Client, spec: &CommandSpec) -> bool {
        let (name, option, setting) = if spec.full_name == "module" {
            (
                "MODULE",
                "enable-module-command",
                &self.state.cfg.enable_module_command,
            )
        } else {
            (
                "DEBUG",
                "enable-debug-command",
                &self.state.cfg.enable_debug_command,
            )
        };
        let ip = client.addr.rsplit_once(':').map_or("", |(ip, _)| ip);
        let local = client.unix || ip == "127.0.0.1" || ip == "::1";
        if Config::protected_action_allowed(setting, local) {
            return true;
        }
        client.out.err(&format!(
            "{name} command not allowed. If the {option} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
        ));
        false
    }

    /// Finds the spec for argv (descending into subcommands) and checks arity; on failure
    /// the error is already in the client's output.
    fn resolve(&mut self, client: &mut Client, argv: &[Bytes]) -> Option<&'static CommandSpec> {
        // Clients mostly repeat one command: compare with the last one before hashing.
        let cached = client.last_spec.filter(|s| {
            // A subcommand's spec (`config|get`, named "get") must not answer for GET.
            // Spec names are lowercase: only the argument needs folding.
            s.subcommands.is_empty()
                && s.name.len() == s.full_name.len()
                && argv[0].len() == s.name.len()
                && argv[0]
                    .iter()
                    .zip(s.name.as_bytes())
                    .all(|(a, n)| a.to_ascii_lowercase() == *n)
        });
        let Some(spec) = cached.or_else(|| commands::lookup(&argv[0])) else {
            // Byte-exact with Redis's "%.128s" formatting: C strings stop at a NUL byte.
            let mut msg = b"ERR unknown command '".to_vec();
            msg.extend_from_slice(c_prefix(&argv[0], 128));
            msg.extend_from_slice(b"', with args beginning with: ");
            let mut args: Vec<u8> = Vec::new();
            for a in &argv[1..] {
                if args.len() >= 128 {
                    break;
                }
                let room = 128 - args.len();
                args.push(b'\'');
                args.extend_from_slice(c_prefix(a, room));
                args.extend_from_slice(b"' ");
            }
            msg.extend_from_slice(&args);
            client.out.error_bytes(&msg);
            return None;
        };
        if !spec.subcommands.is_empty() && argv.len() >= 2 {
            let Some(sub) = commands::lookup_sub(spec, &argv[1]) else {
                let mut msg = b"ERR unknown subcommand '".to_vec();
                msg.extend_from_slice(c_prefix(&argv[1], 128));
                msg.extend_from_slice(b"'. Try ");
                msg.extend_from_slice(&c_prefix(&argv[0], usize::MAX).to_ascii_uppercase());
                msg.extend_from_slice(b" HELP.");
                client.out.error_bytes(&msg);
                return None;
            };
            if !sub.arity_ok(argv.len()) {
                client.out.err(&format!(
                    "wrong number of arguments for '{}' command",
                    sub.full_name
                ));
                return None;
            }
            return Some(sub);
        }
        if !spec.arity_ok(argv.len()) {
            client.out.err(&format!(
                "wrong number of arguments for '{}' command",
                spec.full_name
            ));
            return None;
        }
        Some(spec)
    }

    fn security_warning(&mut self, client: &mut Client) {
        // Logged at most once a minute so that the warning cannot become a log flood.
        let now = self.state.now_ms;
        if now.saturating_sub(self.state.last_security_warning_ms) >= 60_000 {
            self.state.last_security_warning_ms = now;
            tracing::warn!("Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted.");
        }
        client.close_asap = true;
    }

    fn after_reject(&mut self, client: &mut Client) {
        // A command rejected inside MULTI makes EXEC fail with EXECABORT.
        watch::flag_transaction(client);
        for code in client.out.errors.drain(..) {
            self.state.stats.total_error_replies += 1;
            *self.state.stats.errors.entry(code).or_default() += 1;
        }
    }

    /// Runs one resolved command with all its bookkeeping (Redis's `call`).
    pub fn call(&mut self, client: &mut Client, spec: &'static CommandSpec, argv: &[Bytes]) {
        let dirty_before = self.state.dirty;
        // The command's time (expiry decisions inside the command use it) and the start of
        // its duration: the previous command's end, or the time the batch's input was read.
        let start_us = self.clock.now_us();
        self.state.now_ms = start_us / 1000;
        client.last_cmd = spec.full_name;
        client.last_spec = Some(spec);
        let propagated = {
            let mut ctx = Ctx {
                state: &mut self.state,
                client,
                clients: &mut self.clients,
                argv,
                spec,
                propagated: false,
            };
            (spec.handler)(&mut ctx);
            pubsub::flush_pending(ctx.state, Some(&mut *ctx.client), ctx.clients);
            ctx.propagated
        };
        // EXEC validated its transaction: run the queue, each command through `call`.
        if watch::exec_pending(client) {
            watch::run_exec(self, client);
        }
        // The end of one command is the start of the next: one cheap tick per command.
        let end_us = self.clock.tick();
        let usec = end_us.saturating_sub(start_us);
        let dirty = self.state.dirty > dirty_before;
        if dirty && !propagated && spec.has(flags::WRITE) {
            self.state.propagate(client.db, argv);
        }
        let offset_before = self.state.propagation.offset;
        self.state.propagation.flush_pending();
        if self.state.propagation.offset != offset_before {
            // WAIT waits for the replicas to acknowledge this client's last write.
            client.woff = self.state.propagation.offset;
        }
        let st = self.state.stats.commands.stat_mut(spec.full_name);
        st.calls += 1;
        st.usec += usec;
        if !client.out.errors.is_empty() {
            st.failed_calls += 1;
            for code in client.out.errors.drain(..) {
                self.state.stats.total_error_replies += 1;
                *self.state.stats.errors.entry(code).or_default() += 1;
            }
        }
        self.state.stats.total_commands_processed += 1;
        if !spec.has(flags::SKIP_SLOWLOG) {
            self.slowlog_push(client, argv, usec);
        }
        if !self.state.monitors.is_empty()
            && !spec.has(flags::SKIP_MONITOR)
            && !spec.has(flags::ADMIN)
        {
            self.feed_monitors(client, argv);
        }
    }

    fn slowlog_push(&mut self, client: &Client, argv: &[Bytes], usec: u64) {
        let threshold = self.state.cfg.slowlog_log_slower_than;
        if threshold < 0 || usec < threshold as u64 {
            return;
        }
        // Redis keeps at most 32 arguments, each at most 128 bytes.
        let mut kept: Vec<Bytes> = Vec::new();
        for (i, a) in argv.iter().enumerate() {
            if i == 31 && argv.len() > 32 {
                kept.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    argv.len() - 31
                )));
                break;
            }
            if a.len() > 128 {
                let mut v = a[..128].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                kept.push(Bytes::from(v));
            } else {
                kept.push(a.clone());
            }
        }
        let id = self.state.slowlog_next_id;
        self.state.slowlog_next_id += 1;
        self.state.slowlog.push_front(SlowlogEntry {
            id,
            time: self.state.now_ms / 1000,
            duration_us: usec,
            argv: kept,
            peer: client.addr.clone(),
            name: client
                .name
                .as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default(),
        });
        while self.state.slowlog.len() as u64 > self.state.cfg.slowlog_max_len {
            self.state.slowlog.pop_back();
        }
    }

    /// Sends a MONITOR line for this command to every monitoring client.
    fn feed_monitors(&mut self, client: &Client, argv: &[Bytes]) {
        let now = crate::util::now_us();
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now / 1_000_000,
            now % 1_000_000,
            client.db,
            if client.unix {
                format!("unix:{}", client.addr)
            } else {
                client.addr.clone()
            }
        );
        for a in argv {
            line.push_str(" \"");
            line.push_str(&repr(a));
            line.push('"');
        }
        line.push_str("\r\n");
        let ids = self.state.monitors.clone();
        for (_, slot) in self.clients.iter_mut() {
            if let Some(m) = slot {
                if ids.contains(&m.id) {
                    let enabled = m.out.enabled;
                    m.out.enabled = true;
                    m.out.raw(line.as_bytes());
                    m.out.enabled = enabled;
                    m.notify.notify_one();
                }
            }
        }
    }

    /// Periodic work, `hz` times a second.
    pub fn cron(&mut self) {
        self.refresh_clock();
        let now = self.state.now_ms;
        self.state.stats.sample(now);
        // used_memory_peak: sampled here like Redis's serverCron (INFO also samples).
        let used = crate::alloc::allocated() as u64;
        if used > self.state.memory_peak {
            self.state.memory_peak = used;
        }
        blocking::timeouts(self);
        evict::cron(self);
        if self.state.is_master && self.state.active_expire_enabled {
            expire::active_expire_cycle(&mut self.state);
            pubsub::flush_pending_idle(self);
        }
        crate::persistence::save::cron(&mut self.state);
        crate::replication::master::cron(self);
        crate::replication::master::feed(self);
        crate::persistence::aof::cron(&mut self.state);
        let budget = std::time::Duration::from_micros(1000);
        for db in &mut self.state.dbs {
            db.cron_resize(budget);
        }
        let timeout = self.state.cfg.timeout;
        if timeout > 0 {
            for (_, slot) in self.clients.iter_mut() {
                if let Some(c) = slot {
                    // Blocked clients wait as long as their command says (Redis exempts
                    // them from the idle timeout too).
                    if c.kind == client::ClientKind::Normal
                        && !c.monitor
                        && !blocking::is_blocked(c)
                        && now.saturating_sub(c.last_interaction_ms) > timeout * 1000
                    {
                        tracing::debug!("Closing idle client");
                        c.close_asap = true;
                        c.notify.notify_one();
                    }
                }
            }
        }
        if let Some((until, _)) = self.state.pause {
            if now >= until {
                self.state.pause = None;
                commands::client::wake_paused(&mut self.clients);
            }
        }
    }
}

/// The bytes C's `%.<max>s` prints: up to the first NUL, at most `max`.
fn c_prefix(b: &[u8], max: usize) -> &[u8] {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    &b[..end.min(max)]
}

/// Redis's `sdscatrepr`: printable bytes as-is, quotes and backslashes escaped, others \xHH.
pub fn repr(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::test_support::{resp, run, setup};

    /// The propagated stream of one batch.
    fn stream_of(exec: &mut Executor, key: usize, cmds: &[&[&str]]) -> String {
        run(exec, key, cmds).1
    }

    use super::*;

    #[test]
    fn spec_names_are_lowercase() {
        // `resolve`'s cache folds only the argument's case.
        for spec in commands::table().values() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            for sub in spec.subcommands {
                assert_eq!(sub.name, sub.name.to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn commandstats_count_repeated_and_mixed_commands() {
        let (mut exec, c) = setup();
        run(
            &mut exec,
            c,
            &[
                &["GET", "a"],
                &["get", "b"],
                &["SET", "a", "1"],
                &["GET", "a"],
            ],
        );
        let stats = &exec.state.stats.commands;
        assert_eq!(stats["get"].calls, 3);
        assert_eq!(stats["set"].calls, 1);
        assert_eq!(stats.iter().filter(|(n, _)| *n == "get").count(), 1);
        exec.state.stats.commands.clear();
        run(&mut exec, c, &[&["GET", "a"]]);
        assert_eq!(exec.state.stats.commands["get"].calls, 1);
    }

    #[test]
    fn writes_reach_the_stream_in_order_with_select() {
        let (mut exec, c) = setup();
        let s = stream_of(
            &mut exec,
            c,
            &[
                &["SET", "a", "1"],
                &["GET", "a"],
                &["SELECT", "2"],
                &["INCR", "n"],
                &["DEL", "missing"],
            ],
        );
        let expected = [
            resp(&["SELECT", "0"]),
            resp(&["SET", "a", "1"]),
            resp(&["SELECT", "2"]),
            resp(&["INCR", "n"]),
        ]
        .concat();
        // Reads and no-op writes (DEL of a missing key) are not propagated.
        assert_eq!(s, expected);
    }

    #[test]
    fn relative_and_nondeterministic_writes_are_rewritten() {
        let (mut exec, c) = setup();
        let s = stream_of(
            &mut exec,
            c,
            &[
                &["SET", "k", "v", "EX", "100"],
                &["INCRBYFLOAT", "f", "1.5"],
            ],
        );
        assert!(
            s.contains("$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n"),
            "{s}"
        );
        assert!(s.ends_with(&resp(&["SET", "f", "1.5", "KEEPTTL"])), "{s}");
        let s = stream_of(&mut exec, c, &[&["EXPIRE", "k", "50"]]);
        assert!(s.starts_with("*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n"), "{s}");
    }

    #[test]
    fn lazy_expiry_propagates_del_and_groups_with_the_write() {
        let (mut exec, c) = setup();
        stream_of(&mut exec, c, &[&["SET", "k", "v"]]);
        // Expire it in the past directly, bypassing commands (no propagation for this step).
        exec.state.dbs[0].set_expire(b"k", 1);
        // A read that finds it expired propagates just the DEL.
        let s = stream_of(&mut exec, c, &[&["GET", "k"]]);
        assert_eq!(s, resp(&["DEL", "k"]));
        // A write that lazily expires a key emits DEL and itself atomically.
        stream_of(&mut exec, c, &[&["SET", "j", "v"]]);
        exec.state.dbs[0].set_expire(b"j", 1);
        let s = stream_of(&mut exec, c, &[&["APPEND", "j", "x"]]);
        let expected = [
            resp(&["MULTI"]),
            resp(&["DEL", "j"]),
            resp(&["APPEND", "j", "x"]),
            resp(&["EXEC"]),
        ]
        .concat();
        assert_eq!(s, expected);
    }

    #[test]
    fn replica_hides_expired_keys_without_deleting() {
        let (mut exec, c) = setup();
        stream_of(&mut exec, c, &[&["SET", "k", "v"]]);
        exec.state.dbs[0].set_expire(b"k", 1);
        exec.state.is_master = false;
        let mut batch = Batch::new();
        batch.push([Bytes::from_static(b"GET"), Bytes::from_static(b"k")]);
        exec.refresh_clock();
        exec.execute(c, &mut batch);
        let mut out = BytesMut::new();
        exec.take_output(c, &mut out);
        assert!(out.ends_with(b"$-1\r\n"), "expired key is hidden: {out:?}");
        assert!(
            exec.state.dbs[0].contains(b"k"),
            "a replica keeps it until the master's DEL"
        );
        assert!(exec.state.propagation.take().is_empty());
    }

    #[test]
    fn active_expiry_propagates_del() {
        let (mut exec, c) = setup();
        stream_of(&mut exec, c, &[&["SET", "k", "v"]]);
        exec.state.dbs[0].set_expire(b"k", 1);
        expire::active_expire_cycle(&mut exec.state);
        assert_eq!(
            String::from_utf8_lossy(&exec.state.propagation.take()),
            resp(&["DEL", "k"])
        );
        assert!(!exec.state.dbs[0].contains(b"k"));
    }
}
