//! cargo bench -p promodb-benches --bench query
//!
//! `SELECT channel, count(*), sum(amount) FROM orders GROUP BY channel` over 10M orders
//! held in memory (set PROMODB_BENCH_ROWS to change the count).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promodb::PromoDb;
use promodb_benches::orders;

fn rows() -> usize {
    std::env::var("PROMODB_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn bench_group_by(c: &mut Criterion) {
    let rows = rows();
    let db = PromoDb::in_memory().expect("db");
    db.append_all("orders", &orders(rows, 8192, 11))
        .expect("append");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sql = "SELECT channel, count(*), sum(amount) FROM orders GROUP BY channel";
    let mut group = c.benchmark_group("query");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    group.bench_function(format!("group by channel over {rows} orders"), |b| {
        b.iter(|| runtime.block_on(db.sql(sql)).expect("query"))
    });
    group.finish();
}

criterion_group!(benches, bench_group_by);
criterion_main!(benches);
