//! cargo bench -p promodb-benches --bench ingest
//!
//! Append throughput: 8192-row `user_events` batches (canonical types, and plain Utf8
//! strings as most producers send them), and typed `orders` rows pushed one at a time.

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use promodb::PromoDb;
use promodb::arrow::array::RecordBatch;
use promodb::arrow::compute::cast;
use promodb::arrow::datatypes::{DataType, Field, Schema};
use promodb::ingest::Order;
use promodb::schema::Money;
use promodb_benches::{PROMO_START_MICROS, user_events};
use std::sync::Arc;

const ROWS: usize = 1 << 20;

/// The same batches with every Utf8View column as Utf8.
fn as_utf8(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    batches
        .iter()
        .map(|batch| {
            let schema = batch.schema();
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Utf8View => Field::new(f.name(), DataType::Utf8, f.is_nullable()),
                    _ => f.as_ref().clone(),
                })
                .collect();
            let columns = batch
                .columns()
                .iter()
                .zip(&fields)
                .map(|(c, f)| cast(c, f.data_type()).expect("cast"))
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
        })
        .collect()
}

fn bench_batch_append(c: &mut Criterion) {
    let canonical = user_events(ROWS, 8192, 7);
    let utf8 = as_utf8(&canonical);
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    for (name, batches) in [("canonical", &canonical), ("utf8 strings", &utf8)] {
        group.bench_function(format!("append user_events 8192-row batches {name}"), |b| {
            b.iter_batched(
                || PromoDb::in_memory().expect("db"),
                |db| {
                    for batch in batches.iter() {
                        db.append("user_events", batch.clone()).expect("append");
                    }
                    db
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn bench_typed_push(c: &mut Criterion) {
    const PUSHED: usize = 200_000;
    let amount = Money::from_cents(19_990).expect("money");
    let rows: Vec<Order> = (0..PUSHED as i64)
        .map(|i| Order {
            ts: Utc
                .timestamp_micros(PROMO_START_MICROS + i * 1_000)
                .unwrap(),
            order_id: i,
            user_id: i % 50_000,
            sku_id: i % 1_000,
            qty: 1,
            unit_price: Some(amount),
            amount,
            channel: Some(["live_stream", "search", "ads"][(i % 3) as usize].to_string()),
            campaign_id: Some(i % 20),
            region: None,
        })
        .collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(PUSHED as u64));
    group.sample_size(20);
    group.bench_function("push orders typed rows", |b| {
        b.iter_batched(
            || (PromoDb::in_memory().expect("db"), rows.clone()),
            |(db, rows)| {
                for row in rows {
                    db.push(row).expect("push");
                }
                db
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_batch_append, bench_typed_push);
criterion_main!(benches);
