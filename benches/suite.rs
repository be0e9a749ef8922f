//! cargo bench -p promodb-benches --bench suite [-- FILTER]
//!
//! The war-room query suite of `benches/compare/suite/*.promodb.sql`, in process, over a
//! generated promo held in memory (1M user events and the tables that scale with it,
//! last year's tables and the targets; set PROMODB_SUITE_EVENTS to change the scale), so
//! that a regression in any suite query shows in `cargo bench`. The side-by-side
//! comparison with DuckDB and ClickHouse is `benches/compare/run.sh suite`.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use promodb::PromoDb;
use promodb_datagen::{PromoConfig, generate};

fn events() -> usize {
    std::env::var("PROMODB_SUITE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// (name, SQL) of every promodb query of the suite, in file order.
fn suite() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compare/suite");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("benches/compare/suite")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().ends_with(".promodb.sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".promodb.sql"))
                .unwrap_or_default()
                .to_string();
            (name, std::fs::read_to_string(&path).expect("suite query"))
        })
        .collect()
}

fn bench_suite(c: &mut Criterion) {
    let events = events();
    let promo = generate(&PromoConfig::new(events));
    let db = PromoDb::in_memory().expect("db");
    promo.load_into(&db).expect("load");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group(format!("suite at {events} events"));
    group.sample_size(10);
    for (name, sql) in suite() {
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(db.sql(&sql)).expect("suite query"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_suite);
criterion_main!(benches);
