//! cargo bench -p promodb-benches --bench query
//!
//! Over 10M rows held in memory (set PROMODB_BENCH_ROWS to change the count):
//! - `SELECT channel, count(*), sum(amount) FROM orders GROUP BY channel`;
//! - a 4-step `window_funnel` (view -> add_to_cart -> checkout -> pay, 30 minutes) per
//!   user over `user_events` of 500k users, counted per level.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promodb::PromoDb;
use promodb_benches::{orders, user_events};

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

const FUNNEL_PER_LEVEL: &str = "SELECT level, count(*) AS users FROM (\
    SELECT user_id, window_funnel(INTERVAL '30 minutes', ts, event_type = 'view', \
    event_type = 'add_to_cart', event_type = 'checkout', event_type = 'pay') AS level \
    FROM user_events GROUP BY user_id) GROUP BY level";

fn bench_window_funnel(c: &mut Criterion) {
    let rows = rows();
    let db = PromoDb::in_memory().expect("db");
    db.append_all("user_events", &user_events(rows, 8192, 7))
        .expect("append");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("query");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    group.bench_function(format!("window_funnel per level over {rows} events"), |b| {
        b.iter(|| runtime.block_on(db.sql(FUNNEL_PER_LEVEL)).expect("query"))
    });
    group.finish();
}

criterion_group!(benches, bench_group_by, bench_window_funnel);
criterion_main!(benches);
