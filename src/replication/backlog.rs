//! The replication backlog: the last `repl-backlog-size` bytes of the replication stream, so
//! a replica that lost its link can continue from its offset (PSYNC `+CONTINUE`) instead of
//! taking a full sync.
//!
//! # Design
//!
//! A ring buffer of fixed capacity addressed by stream offsets. Redis numbers stream bytes
//! from 1: the byte at offset `o` is the `o`-th byte ever propagated, and a replica that has
//! applied everything up to `o` asks for `o + 1`. The backlog holds the bytes with offsets
//! `first ..= end`, where `end` is the master's replication offset and `first = end - histlen
//! + 1`; appending advances `end` and, once the ring is full, `first`. A request for offset
//! `p` can be served iff `first <= p <= end + 1` (`end + 1` means "nothing missed").
//!
//! Bounds: memory is exactly the configured size once full (allocated lazily as the stream
//! grows, so a small stream costs little); an append costs a copy of its bytes; serving a
//! partial resync copies at most the backlog's length.

/// The ring buffer.
#[derive(Debug)]
pub struct Backlog {
    buf: Vec<u8>,
    /// Configured capacity (repl-backlog-size); `buf` grows up to it.
    size: usize,
    /// Index in `buf` where the next byte goes once `buf` is full.
    pos: usize,
    /// Bytes of history held (<= size).
    histlen: usize,
    /// Stream offset of the last byte appended (the master's replication offset).
    end: u64,
}

impl Backlog {
    /// An empty backlog whose next byte will have offset `end + 1`.
    pub fn new(size: usize, end: u64) -> Backlog {
        Backlog {
            buf: Vec::new(),
            size: size.max(1),
            pos: 0,
            histlen: 0,
            end,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Offset of the oldest byte held (repl_backlog_first_byte_offset); `end + 1` when empty.
    pub fn first_offset(&self) -> u64 {
        self.end + 1 - self.histlen as u64
    }

    pub fn end_offset(&self) -> u64 {
        self.end
    }

    /// Appends stream bytes.
    pub fn append(&mut self, mut data: &[u8]) {
        self.end += data.len() as u64;
        if data.len() > self.size {
            data = &data[data.len() - self.size..];
        }
        // Still growing towards the configured size.
        if self.buf.len() < self.size {
            let room = self.size - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            self.histlen += n;
            data = &data[n..];
            self.pos = self.buf.len() % self.size;
        }
        while !data.is_empty() {
            let n = (self.size - self.pos).min(data.len());
            self.buf[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            self.pos = (self.pos + n) % self.size;
            self.histlen = (self.histlen + n).min(self.size);
            data = &data[n..];
        }
    }

    /// Changes the capacity (CONFIG SET repl-backlog-size): keeps the newest bytes that fit.
    pub fn resize(&mut self, size: usize) {
        let keep = self.copy_from(
            self.first_offset()
                .max((self.end + 1).saturating_sub(size.max(1) as u64)),
        );
        let end = self.end;
        *self = Backlog::new(size, end - keep.as_ref().map_or(0, |k| k.len() as u64));
        if let Some(k) = keep {
            self.append(&k);
        }
    }

    /// The bytes from offset `from` to the end, if the backlog holds them all.
    pub fn copy_from(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.first_offset() || from > self.end + 1 {
            return None;
        }
        let skip = (from - self.first_offset()) as usize;
        let len = self.histlen - skip;
        let mut out = Vec::with_capacity(len);
        // Index of the oldest byte in `buf`.
        let start = if self.buf.len() < self.size {
            0
        } else {
            self.pos
        };
        let begin = (start + skip) % self.buf.len().max(1);
        let first = (self.buf.len() - begin).min(len);
        out.extend_from_slice(&self.buf[begin..begin + first]);
        out.extend_from_slice(&self.buf[..len - first]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn serves_exactly_the_retained_history() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for size in [1usize, 7, 64, 1000] {
            let mut b = Backlog::new(size, 100);
            let mut all: Vec<u8> = Vec::new();
            for _ in 0..200 {
                let n = rng.gen_range(0..size * 2 + 3);
                let data: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                b.append(&data);
                all.extend_from_slice(&data);
                let end = 100 + all.len() as u64;
                assert_eq!(b.end_offset(), end);
                assert_eq!(b.histlen(), all.len().min(size));
                let first = b.first_offset();
                assert_eq!(first, end + 1 - b.histlen() as u64);
                // Everything from `first` on is served exactly; before it, nothing.
                for from in [first, first + b.histlen() as u64 / 2, end + 1] {
                    let got = b.copy_from(from).unwrap();
                    let idx = (from - 101) as usize;
                    assert_eq!(got, &all[idx..]);
                }
                if first > 101 {
                    assert!(b.copy_from(first - 1).is_none());
                }
                assert!(b.copy_from(end + 2).is_none());
            }
            b.resize(size / 2 + 1);
            let first = b.first_offset();
            let idx = (first - 101) as usize;
            assert_eq!(b.copy_from(first).unwrap(), &all[idx..]);
        }
    }
}
