//! Helpers for unit tests that drive the real dispatch path: an executor with one client and
//! the propagation stream enabled, a runner returning the client's replies and the stream,
//! and the RESP encoding of an expected stream entry.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::{propagate, Executor};
use crate::config::Config;
use crate::protocol::Batch;

/// An executor with the propagation stream enabled and one registered client (its slot).
pub fn setup() -> (Executor, usize) {
    let mut exec = Executor::new(Config::default());
    exec.state.propagation.enabled = true;
    let key = exec
        .register(
            "127.0.0.1:1".into(),
            "127.0.0.1:6379".into(),
            false,
            -1,
            Rc::new(Notify::new()),
        )
        .expect("room for a client");
    (exec, key)
}

/// Runs one batch for client `key`; returns (its replies, the propagated stream).
pub fn run(exec: &mut Executor, key: usize, cmds: &[&[&str]]) -> (String, String) {
    let mut batch = Batch::new();
    for c in cmds {
        batch.push(c.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())));
    }
    exec.refresh_clock();
    exec.execute(key, &mut batch);
    let mut out = BytesMut::new();
    exec.take_output(key, &mut out);
    let stream = exec.state.propagation.take();
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&stream).into_owned(),
    )
}

/// The RESP encoding of one command, as the stream carries it.
pub fn resp(args: &[&str]) -> String {
    let mut b = BytesMut::new();
    propagate::encode(&mut b, args);
    String::from_utf8_lossy(&b).into_owned()
}
