//! cargo bench -p promodb-benches --bench alert_latency [-- SECONDS]
//!
//! From the append of a triggering event to the sink call, while ingesting 100k user
//! events per second: a writer appends 1,000-row `user_events` batches every 10 ms
//! (stamped with the wall clock), another pushes one big order every 50 ms, and an
//! `AlertRunner` (evaluation after appends, 20 ms debounce) runs a war-room rule set:
//! big orders, traffic in the last minute, payment success in the last 5 minutes, the
//! stock-out forecast. The sink records when each big order's `firing` arrives. Prints
//! the latency percentiles, the ingest rate reached, and each rule's evaluation count
//! and mean cost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use promodb::PromoDb;
use promodb::alerts::{AlertEvent, Alerts, CallbackSink, Route, Rule, Schedule, SystemClock};
use promodb::arrow::array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use promodb::ingest::Order;
use promodb_benches::user_events;

const EVENTS_PER_SECOND: usize = 100_000;
const BATCH_ROWS: usize = 1_000;
const ORDER_EVERY: Duration = Duration::from_millis(50);

/// The batch with every `ts` set to now.
fn stamped(batch: &RecordBatch) -> RecordBatch {
    let now = Utc::now().timestamp_micros();
    let ts: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![now; batch.num_rows()]).with_timezone("UTC"));
    let mut columns = batch.columns().to_vec();
    columns[0] = ts;
    RecordBatch::try_new(batch.schema(), columns).expect("stamped batch")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(20);
    let db = PromoDb::in_memory().expect("db");
    let mut alerts = Alerts::new(&db).expect("alerts");
    let rules = [
        Rule::sql(
            "big order",
            "SELECT order_id, amount FROM orders WHERE amount > 50000",
        )
        .keyed_by(["order_id"]),
        Rule::sql(
            "traffic",
            "SELECT count(*) AS events FROM user_events \
             WHERE ts > now() - INTERVAL '1 minute' HAVING count(*) < 1000",
        ),
        Rule::sql(
            "payment success",
            "SELECT method, avg(CASE WHEN status = 'success' THEN 1.0 ELSE 0.0 END) AS rate \
             FROM payments WHERE ts > now() - INTERVAL '5 minutes' \
             GROUP BY method HAVING avg(CASE WHEN status = 'success' THEN 1.0 ELSE 0.0 END) < 0.8",
        )
        .keyed_by(["method"]),
        Rule::stock_out_forecast(chrono::Duration::minutes(30)),
    ];
    for rule in rules {
        alerts.add(rule).await.expect("rule");
    }
    let pushed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    {
        let (pushed, latencies) = (Arc::clone(&pushed), Arc::clone(&latencies));
        alerts.add_sink(
            Route::all(),
            CallbackSink(move |event: &AlertEvent| {
                if event.rule == "big order" && event.transition.name() == "firing" {
                    let at = pushed.lock().unwrap().get(&event.key).copied();
                    if let Some(at) = at {
                        latencies.lock().unwrap().push(at.elapsed());
                    }
                }
                Ok(())
            }),
        );
    }
    let runner = alerts
        .start(
            Arc::new(SystemClock),
            Schedule {
                every: Some(Duration::from_secs(10)),
                after_appends: true,
                debounce: Duration::from_millis(20),
            },
        )
        .expect("runner");

    let templates = user_events(200 * BATCH_ROWS, BATCH_ROWS, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let ingest = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let interval = Duration::from_secs_f64(BATCH_ROWS as f64 / EVENTS_PER_SECOND as f64);
            let mut next = Instant::now();
            let mut rows = 0usize;
            for batch in templates.iter().cycle() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                db.append("user_events", stamped(batch)).expect("append");
                rows += batch.num_rows();
                next += interval;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            rows
        })
    };
    let mut order_id = 0i64;
    while started.elapsed() < Duration::from_secs(seconds) {
        order_id += 1;
        pushed
            .lock()
            .unwrap()
            .insert(order_id.to_string(), Instant::now());
        db.push(Order {
            ts: Utc::now(),
            order_id,
            user_id: order_id,
            sku_id: 1,
            qty: 1,
            unit_price: None,
            amount: "99999.00".parse().expect("money"),
            channel: Some("live_stream".to_string()),
            campaign_id: None,
            region: None,
        })
        .expect("push");
        tokio::time::sleep(ORDER_EVERY).await;
    }
    stop.store(true, Ordering::SeqCst);
    let rows = ingest.join().expect("ingest thread");
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let stats = runner.stats();
    let errors = runner.take_errors();
    drop(runner);

    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    println!(
        "ingested {rows} user events in {:.1} s ({:.0} events/s); {order_id} triggering orders, {} alerts delivered",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        latencies.len()
    );
    if !latencies.is_empty() {
        println!(
            "append -> sink latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.9).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().expect("non-empty").as_secs_f64() * 1e3,
        );
    }
    for (rule, stat) in stats {
        println!(
            "rule {rule:>20}: {:>5} evaluations, mean {:.2} ms",
            stat.evaluations,
            stat.total_time.as_secs_f64() * 1e3 / stat.evaluations.max(1) as f64
        );
    }
    for error in errors {
        println!("error: {error}");
    }
}
