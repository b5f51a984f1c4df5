//! `DotDecoder` throughput on a realistic 8 MiB message body, side by side with a plain
//! `memchr` newline count over the same bytes: the practical limit for anything that has
//! to look at every line start.
//!
//! Run: `cargo bench -p pop3-proto --bench dot_decoder`. After the criterion report it
//! prints the ratio of the two means.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use pop3_proto::{DotDecoder, DotEncoder};

const SIZE: usize = 8 * 1024 * 1024;
/// How the bytes arrive from a socket.
const READ: usize = 16 * 1024;

/// A plausible message: headers, a text part with quoted lines and the odd line starting
/// with a dot, and a base64 attachment in 76-character lines. Dot-stuffed and terminated.
fn wire_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(SIZE + 1024);
    body.extend_from_slice(
        b"Received: from mx.example.org by pop.example.com; Tue, 25 Nov 2026 10:00:00 +0000\r\n\
          From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: quarterly figures\r\n\
          MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    let text = [
        &b"Hi Alice, here are the figures we talked about on Monday, as promised.\r\n"[..],
        b"> On Monday you wrote: could you send the spreadsheet before Friday?\r\n",
        b".. and a line that starts with a dot, stuffed on the wire\r\n",
        b"\r\n",
    ];
    for i in 0..2000 {
        body.extend_from_slice(text[i % text.len()]);
    }
    body.extend_from_slice(b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x2545_f491_u32;
    while body.len() < SIZE - 100 {
        for _ in 0..76 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            body.push(alphabet[(state % 64) as usize]);
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--b1--\r\n");
    let mut wire = Vec::with_capacity(body.len() + 4096);
    DotEncoder::encode_all(&body, &mut wire);
    wire
}

/// Decodes the whole body as a client would: the bytes become visible one 16 KiB read at
/// a time, and every unstuffed run is handed out.
fn decode(wire: &[u8]) -> usize {
    let mut decoder = DotDecoder::new();
    let (mut pos, mut visible, mut out) = (0, READ.min(wire.len()), 0);
    loop {
        let step = decoder.decode(&wire[pos..visible]);
        out += black_box(step.data).len();
        pos += step.consumed;
        if step.finished {
            return out;
        }
        if step.consumed == 0 {
            if visible == wire.len() {
                return out;
            }
            visible = (visible + READ).min(wire.len());
        }
    }
}

fn newline_count(wire: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', wire).count()
}

fn bench(c: &mut Criterion) {
    let wire = wire_body();
    assert!(
        decode(&wire) > SIZE - 200_000,
        "the decoder must see the whole body"
    );
    let mut group = c.benchmark_group("dot_8MiB");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.measurement_time(Duration::from_secs(5));
    group.bench_with_input(
        BenchmarkId::new("DotDecoder", "16KiB reads"),
        &wire,
        |b, w| {
            b.iter(|| decode(black_box(w)));
        },
    );
    group.bench_with_input(
        BenchmarkId::new("memchr_newlines", "whole buffer"),
        &wire,
        |b, w| {
            b.iter(|| newline_count(black_box(w)));
        },
    );
    group.finish();
}

/// Reads criterion's mean estimate (nanoseconds) for one benchmark.
fn mean_ns(function: &str, parameter: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| {
        // Benches run from the package directory; the workspace target is one level up.
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_owned()
    });
    let path = format!("{dir}/criterion/dot_8MiB/{function}/{parameter}/new/estimates.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    #[allow(clippy::cast_precision_loss)] // 8 MiB is exact in an f64
    let wire_len = wire_body().len() as f64;
    match (
        mean_ns("DotDecoder", "16KiB reads"),
        mean_ns("memchr_newlines", "whole buffer"),
    ) {
        (Some(decoder), Some(count)) => {
            let gib = |ns: f64| wire_len / ns; // bytes per ns == GB/s
            println!(
                "DotDecoder {:.2} GB/s, memchr newline count {:.2} GB/s: DotDecoder takes {:.2}x \
                 the time of the newline count",
                gib(decoder),
                gib(count),
                decoder / count
            );
        }
        _ => println!("(ratio unavailable: criterion estimates not found)"),
    }
}
