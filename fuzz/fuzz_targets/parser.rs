//! Fuzz target for the request parser: arbitrary bytes, delivered in arbitrary chunk
//! splits, must never panic; and chunking must not change what is parsed.
//!
//! The first bytes of the input choose the chunk sizes, the rest is the stream. The stream
//! is parsed twice, in one piece and in chunks. A read boundary may legitimately turn an
//! over-long line into a "too big" error early (Redis behaves the same), so the property is:
//! the commands parsed from chunks are a prefix of those parsed in one piece, and equal to
//! them when the chunked parse hit no error.

#![no_main]

use bytes::BytesMut;
use ferrodis::protocol::{Batch, ParserLimits, RequestParser};
use libfuzzer_sys::fuzz_target;

type Commands = Vec<Vec<Vec<u8>>>;

fn collect(batch: &Batch) -> Commands {
    (0..batch.len())
        .map(|i| batch.command(i).iter().map(|a| a.to_vec()).collect())
        .collect()
}

/// Parses `chunks` in order, stopping at the first error like a connection does.
fn parse<'a>(chunks: impl Iterator<Item = &'a [u8]>, limits: &ParserLimits) -> (Commands, bool) {
    let mut parser = RequestParser::new();
    let mut batch = Batch::new();
    let mut buf = BytesMut::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if parser.parse(&mut buf, &mut batch, limits).is_err() {
            return (collect(&batch), true);
        }
    }
    (collect(&batch), false)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let ctl_len = (data[0] as usize % 8) + 1;
    if data.len() <= ctl_len {
        return;
    }
    let (ctl, input) = data[1..].split_at(ctl_len - 1);
    // Small limits reach the size checks with small inputs; both auth modes are exercised.
    let limits = ParserLimits {
        max_bulk_len: Some(1 + (data[0] as usize) * 64),
        auth_required: data[0] & 1 == 1,
    };

    let (whole, _) = parse(std::iter::once(input), &limits);

    let mut chunks = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let size = ctl.get(i % ctl.len().max(1)).map_or(1, |&b| b as usize + 1);
        let end = (at + size).min(input.len());
        chunks.push(&input[at..end]);
        at = end;
        i += 1;
    }
    let (chunked, chunked_err) = parse(chunks.into_iter(), &limits);

    assert!(
        whole.starts_with(&chunked),
        "chunked parse produced commands the whole parse did not"
    );
    if !chunked_err {
        assert_eq!(whole, chunked, "chunking changed the parsed commands");
    }
});
