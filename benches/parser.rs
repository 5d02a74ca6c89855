//! Request parser benchmarks.
//!
//! - `pipeline16`: a read holding 16 small commands (the shape redis-benchmark -P 16 sends),
//!   parsed into one reusable batch.
//! - `bulk_in_16k_reads`: a 1 MB and a 10 MB SET value arriving in 16 KB reads, the buffer
//!   grown the way the connection grows it. The throughput (bytes/s) of the two sizes must
//!   be about the same: parse cost is linear in the input, not quadratic in the reads.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrodis::protocol::{Batch, ParserLimits, RequestParser};

const READ: usize = 16 * 1024;

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn pipeline16(c: &mut Criterion) {
    let mut input = Vec::new();
    for i in 0..16 {
        let key = format!("key:{:012}", i * 7919);
        if i % 2 == 0 {
            input.extend(encode(&[b"SET", key.as_bytes(), b"xxxxxxxxxxxxxxxx"]));
        } else {
            input.extend(encode(&[b"GET", key.as_bytes()]));
        }
    }
    let limits = ParserLimits::default();
    let mut group = c.benchmark_group("parser");
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipeline16", |b| {
        let mut parser = RequestParser::new();
        let mut batch = Batch::new();
        let mut buf = BytesMut::with_capacity(READ);
        b.iter(|| {
            buf.extend_from_slice(&input);
            parser
                .parse(&mut buf, &mut batch, &limits)
                .expect("valid input");
            assert_eq!(batch.len(), 16);
            black_box(batch.command(15));
            batch.clear();
        });
    });
    group.finish();
}

/// Parses one SET with a `len`-byte value delivered in 16 KB reads.
fn parse_chunked(frame: &[u8], limits: &ParserLimits) -> usize {
    let mut parser = RequestParser::new();
    let mut batch = Batch::new();
    let mut buf = BytesMut::with_capacity(READ);
    for chunk in frame.chunks(READ) {
        if buf.capacity() - buf.len() < READ / 2 {
            buf.reserve(READ);
        }
        buf.extend_from_slice(chunk);
        parser
            .parse(&mut buf, &mut batch, limits)
            .expect("valid input");
    }
    assert_eq!(batch.len(), 1);
    batch.command(0)[2].len()
}

fn bulk_in_16k_reads(c: &mut Criterion) {
    let limits = ParserLimits::default();
    let mut group = c.benchmark_group("bulk_in_16k_reads");
    group.sample_size(20);
    for mb in [1usize, 10] {
        let len = mb * 1024 * 1024;
        let value = vec![b'v'; len];
        let frame = encode(&[b"SET", b"big", &value]);
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{mb}MB")),
            &frame,
            |b, f| {
                b.iter(|| black_box(parse_chunked(f, &limits)));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, pipeline16, bulk_in_16k_reads);
criterion_main!(benches);
