//! Criterion benchmarks: the core alone (no-op kernel) and SPSC throughput
//! of each peer. `cargo bench -p ipcm-bench`; the side-by-side ratios come
//! from the `compare` binary.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipcm_bench::measure::spsc_throughput;
use ipcm_bench::noop::{core_fixture, write_read, write_read_by_id};
use ipcm_bench::peers::{Channel, Crossbeam, Flume, PacketPipe, PosixMq, StdSync};

fn core(c: &mut Criterion) {
    let mut group = c.benchmark_group("core write+read");
    for size in [0, 64, 4096] {
        let (ipcm, id, pipe) = core_fixture(size.max(1));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("handle", size), &size, |b, &size| {
            b.iter(|| write_read(&ipcm, &pipe, size));
        });
        group.bench_with_input(BenchmarkId::new("by id", size), &size, |b, &size| {
            b.iter(|| write_read_by_id(&ipcm, id, size));
        });
    }
    group.finish();
}

fn peers(c: &mut Criterion) {
    const MESSAGES: u64 = 10_000;
    let mut group = c.benchmark_group("spsc 64 B depth 64");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES));
    fn bench<C: Channel<64>>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        if C::open(64).is_err() {
            return;
        }
        group.bench_function(C::NAME, |b| {
            b.iter(|| spsc_throughput::<C, 64>(64, MESSAGES).expect("open"));
        });
    }
    bench::<Crossbeam>(&mut group);
    bench::<Flume>(&mut group);
    bench::<StdSync>(&mut group);
    bench::<PosixMq>(&mut group);
    bench::<PacketPipe>(&mut group);
    group.finish();
}

criterion_group!(benches, core, peers);
criterion_main!(benches);
