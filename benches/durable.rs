//! cargo bench -p promodb-benches --bench durable
//!
//! The price of durability: 64 appends of 256 `orders` rows each, from 1 writer and from
//! 8 writers at once, in memory and on disk with each `Durability`. With `Immediate`
//! every append waits for an fsync; 8 concurrent writers share them (group commit).
//! Also the time to reopen (recover) a database of 1M persisted orders.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use promodb::PromoDb;
use promodb::arrow::array::RecordBatch;
use promodb::durable::Durability;
use promodb_benches::orders;

const APPENDS: usize = 64;
const ROWS_PER_APPEND: usize = 256;

fn append_from(db: &PromoDb, batches: &[RecordBatch], writers: usize) {
    std::thread::scope(|scope| {
        for writer in 0..writers {
            scope.spawn(move || {
                for batch in batches.iter().skip(writer).step_by(writers) {
                    db.append("orders", batch.clone()).expect("append");
                }
            });
        }
    });
}

fn bench_appends(c: &mut Criterion) {
    let batches = orders(APPENDS * ROWS_PER_APPEND, ROWS_PER_APPEND, 3);
    let mut group = c.benchmark_group("durable append");
    group.throughput(Throughput::Elements(APPENDS as u64));
    group.sample_size(10);
    let modes: [(&str, Option<Durability>); 4] = [
        ("in memory", None),
        ("None", Some(Durability::None)),
        (
            "Interval(100ms)",
            Some(Durability::Interval(Duration::from_millis(100))),
        ),
        ("Immediate", Some(Durability::Immediate)),
    ];
    for (name, durability) in modes {
        for writers in [1, 8] {
            group.bench_function(format!("{name}, {writers} writers"), |b| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().expect("tempdir");
                        let db = match durability {
                            Some(d) => PromoDb::builder().with_durability(d).open(dir.path()),
                            None => PromoDb::in_memory(),
                        }
                        .expect("open");
                        (dir, db)
                    },
                    |(dir, db)| {
                        append_from(&db, &batches, writers);
                        (dir, db)
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    group.finish();
}

fn bench_reopen(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = PromoDb::open(dir.path()).expect("open");
        db.append_all("orders", &orders(1 << 20, 8192, 5))
            .expect("append");
        db.checkpoint().expect("persist");
    }
    let mut group = c.benchmark_group("durable reopen");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1 << 20));
    group.bench_function("1M persisted orders", |b| {
        b.iter(|| PromoDb::open(dir.path()).expect("reopen"));
    });
    group.finish();
}

criterion_group!(benches, bench_appends, bench_reopen);
criterion_main!(benches);
