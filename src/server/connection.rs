//! One connection: read, parse a batch, hand it to the executor, write the replies.
//!
//! The loop keeps Redis's per-event shape: each read is parsed into as many complete
//! commands as it holds, the whole batch runs in one executor borrow, and everything the
//! batch produced is written with one `write` call. Output produced for this client by
//! others (MONITOR lines, later pub/sub and unblocking) arrives through `Notify`.
//! A client that keeps more than client-query-buffer-limit unparsed bytes is closed, as Redis
//! closes it; a protocol error is answered with Redis's message, then the connection closes.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use crate::executor::{blocking, After, Executor};
use crate::protocol::{Batch, RequestParser};

/// Bytes asked of the kernel per read (Redis's PROTO_IOBUF_LEN).
const READ_CHUNK: usize = 16 * 1024;

/// Serves one accepted connection until it closes.
pub async fn serve<S>(
    mut sock: S,
    exec: Rc<RefCell<Executor>>,
    key: usize,
    notify: Rc<Notify>,
    shutdown: Rc<Notify>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut outbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new();
    let mut batch = Batch::new();
    loop {
        // A client blocked with a timeout (BLPOP ...) wakes at its own deadline, so timeouts
        // have millisecond precision whatever `hz` is.
        let block_timer = blocking::timer_deadline(&exec.borrow(), key);
        tokio::select! {
            biased;
            r = read_some(&mut sock, &mut inbuf) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut ex = exec.borrow_mut();
                let limits = ex.parser_limits(key);
                let res = parser.parse(&mut inbuf, &mut batch, &limits);
                ex.note_input(key, n, inbuf.len());
                if !batch.is_empty() {
                    ex.execute(key, &mut batch);
                }
                if let Err(e) = res {
                    ex.protocol_error(key, &e.0);
                } else if inbuf.len() > ex.query_buffer_limit() {
                    tracing::warn!("Closing client that reached max query buffer length (qbuf={})", inbuf.len());
                    ex.state.stats.client_query_buffer_limit_disconnections += 1;
                    break;
                }
            }
            _ = notify.notified() => {
                // Woken at the end of a CLIENT PAUSE, or when a blocked client was served,
                // timed out or unblocked: run the commands it held back.
                if !batch.is_empty() {
                    let mut ex = exec.borrow_mut();
                    ex.refresh_clock();
                    ex.execute(key, &mut batch);
                }
            }
            _ = tokio::time::sleep(block_timer.unwrap_or_default()), if block_timer.is_some() => {
                let mut ex = exec.borrow_mut();
                ex.refresh_clock();
                blocking::timeout_if_due(&mut ex, key);
                if !batch.is_empty() {
                    ex.execute(key, &mut batch);
                }
            }
            _ = shutdown.notified() => {
                // Flush what is pending, then go.
                let after = exec.borrow_mut().take_output(key, &mut outbuf);
                if after != After::CloseNow && !outbuf.is_empty() {
                    let _ = sock.write_all(&outbuf).await;
                }
                break;
            }
        }
        let after = exec.borrow_mut().take_output(key, &mut outbuf);
        if after == After::CloseNow {
            break;
        }
        if !outbuf.is_empty() {
            // appendfsync always: nothing leaves before the AOF bytes it may reflect are on
            // disk. The fsync comes when the runtime is about to park, once every connection
            // with input ready has run (one fsync for them all, see `aof::reply_gate`).
            let gate = crate::persistence::aof::reply_gate(&exec.borrow().state);
            if let Some((mut synced, target)) = gate {
                // An error means the writer is gone, and its drop synced what it held.
                let _ = synced.wait_for(|&n| n >= target).await;
            }
            // A peer that does not read would park this write forever; meanwhile the server
            // may decide to drop the client (output buffer limits, CLIENT KILL).
            let mut woken = false;
            let written = tokio::select! {
                r = sock.write_all(&outbuf) => r.is_ok(),
                _ = closed_meanwhile(&exec, key, &notify, &mut woken) => false,
            };
            if woken {
                // Output arrived during the write: hand the wake-up back to the loop.
                notify.notify_one();
            }
            if !written {
                break;
            }
            outbuf.clear();
            // Do not let one huge reply pin a huge buffer for the connection's lifetime.
            if outbuf.capacity() > 4 * 1024 * 1024 {
                outbuf = BytesMut::with_capacity(READ_CHUNK);
            }
        }
        if after == After::Close {
            let _ = sock.flush().await;
            break;
        }
    }
    let _ = sock.shutdown().await;
    exec.borrow_mut().unregister(key);
}

/// Resolves once the executor marked the client to be closed now; every other wake-up
/// received meanwhile is recorded in `woken`.
async fn closed_meanwhile(exec: &RefCell<Executor>, key: usize, notify: &Notify, woken: &mut bool) {
    loop {
        notify.notified().await;
        if exec.borrow().closing_now(key) {
            return;
        }
        *woken = true;
    }
}

async fn read_some<S: AsyncRead + Unpin>(
    sock: &mut S,
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    sock.read_buf(buf).await
}
