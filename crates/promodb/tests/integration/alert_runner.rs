//! Alerts evaluated in the background: after appends to the tables a rule reads, and on
//! a schedule, with a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use promodb::PromoDb;
use promodb::alerts::{
    AlertEvent, Alerts, CallbackSink, Clock, ManualClock, Route, Rule, Schedule,
};
use promodb::ingest::{Order, UserEvent};
use promodb::schema::Table;

const WAIT: Duration = Duration::from_secs(30);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 10, 0, 0).unwrap()
}

fn order(order_id: i64, amount: &str) -> Order {
    Order {
        ts: t0(),
        order_id,
        user_id: order_id,
        sku_id: 7,
        qty: 1,
        unit_price: None,
        amount: amount.parse().unwrap(),
        channel: Some("search".to_string()),
        campaign_id: None,
        region: None,
    }
}

fn page_view(user_id: i64) -> UserEvent {
    UserEvent {
        ts: t0(),
        user_id,
        session_id: None,
        event_type: "view".to_string(),
        sku_id: None,
        channel: None,
    }
}

type Received = Arc<Mutex<Vec<AlertEvent>>>;

async fn engine(db: &PromoDb) -> (Alerts, Received) {
    let mut alerts = Alerts::new(db).unwrap();
    alerts
        .add(
            Rule::sql(
                "big order",
                "SELECT order_id, amount FROM orders WHERE amount > 1000",
            )
            .keyed_by(["order_id"])
            .with_value("amount"),
        )
        .await
        .unwrap();
    alerts
        .add(Rule::sql(
            "stock",
            "SELECT sku_id FROM stock_risk WHERE minutes_to_stockout < 30",
        ))
        .await
        .unwrap();
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    alerts.add_sink(
        Route::all(),
        CallbackSink(move |event: &AlertEvent| {
            sink.lock().unwrap().push(event.clone());
            Ok(())
        }),
    );
    (alerts, received)
}

fn evaluations_of(stats: &[(String, promodb::alerts::RuleStats)], rule: &str) -> u64 {
    stats
        .iter()
        .find(|(name, _)| name == rule)
        .unwrap()
        .1
        .evaluations
}

#[tokio::test]
async fn a_rule_knows_the_tables_it_reads_through_views() {
    let db = PromoDb::in_memory().unwrap();
    let (mut alerts, _) = engine(&db).await;
    alerts
        .add(Rule::sql("constant", "SELECT 1 AS one"))
        .await
        .unwrap();
    alerts
        .add(Rule::sql(
            "subquery",
            "SELECT channel FROM channel_performance WHERE channel IN (SELECT channel FROM user_events)",
        ))
        .await
        .unwrap();
    assert_eq!(alerts.tables_read("big order"), Some(&[Table::Orders][..]));
    assert_eq!(
        alerts.tables_read("stock"),
        Some(&[Table::Orders, Table::Inventory][..])
    );
    assert_eq!(alerts.tables_read("constant"), Some(&[][..]));
    // channel_performance reads ad_spend, orders and skus (for cogs); the subquery
    // user_events.
    let mut subquery = alerts.tables_read("subquery").unwrap().to_vec();
    subquery.sort_by_key(|t| t.name());
    assert_eq!(
        subquery,
        [
            Table::AdSpend,
            Table::Orders,
            Table::Skus,
            Table::UserEvents
        ]
    );
}

#[tokio::test]
async fn appends_trigger_the_rules_that_read_their_table_and_only_those() {
    let db = PromoDb::in_memory().unwrap();
    let (alerts, received) = engine(&db).await;
    let schedule = Schedule {
        every: None,
        after_appends: true,
        debounce: Duration::from_millis(5),
    };
    let runner = alerts
        .start(Arc::new(ManualClock::new(t0())), schedule)
        .unwrap();
    assert!(runner.wait_past(0, WAIT), "the evaluation at start");

    let before = runner.evaluations();
    db.push(page_view(1)).unwrap();
    assert!(runner.wait_past(before, WAIT));
    let stats = runner.stats();
    // user_events feeds neither rule: each ran once, at start.
    assert_eq!(evaluations_of(&stats, "big order"), 1);
    assert_eq!(evaluations_of(&stats, "stock"), 1);

    let before = runner.evaluations();
    db.push(order(42, "5000.00")).unwrap();
    assert!(runner.wait_past(before, WAIT));
    let stats = runner.stats();
    assert!(evaluations_of(&stats, "big order") >= 2);
    assert!(
        evaluations_of(&stats, "stock") >= 2,
        "stock_risk reads orders"
    );
    let firing: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.transition.name() == "firing")
        .map(|e| format!("{} {} {:?}", e.rule, e.key, e.value))
        .collect();
    assert_eq!(firing, ["big order 42 Some(5000.0)"]);
    assert!(runner.take_errors().is_empty());
}

#[tokio::test]
async fn the_schedule_moves_instances_along_in_event_time() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    alerts
        .add(
            Rule::sql(
                "big order",
                "SELECT order_id FROM orders WHERE amount > 1000",
            )
            .with_for(chrono::Duration::minutes(2)),
        )
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let schedule = Schedule {
        every: Some(Duration::from_millis(20)),
        after_appends: false,
        debounce: Duration::ZERO,
    };
    let runner = alerts.start(Arc::clone(&clock) as _, schedule).unwrap();
    db.push(order(7, "2000.00")).unwrap();
    let seen = runner.evaluations();
    assert!(runner.wait_past(seen + 1, WAIT));
    assert!(
        runner.firing().is_empty(),
        "pending for 2 minutes of event time"
    );
    clock.set(t0() + chrono::Duration::minutes(3));
    let seen = runner.evaluations();
    assert!(runner.wait_past(seen + 1, WAIT));
    assert_eq!(
        runner.firing(),
        [("big order".to_string(), "7".to_string())]
    );

    let ack = runner
        .acknowledge("big order", "7", "li.wei", clock.now())
        .unwrap();
    assert_eq!(ack.actor.as_deref(), Some("li.wei"));
    let mut alerts = runner.stop();
    // The engine goes on by hand after the runner stops.
    assert!(
        alerts
            .evaluate(t0() + chrono::Duration::minutes(4))
            .await
            .unwrap()
            .is_empty()
    );
}
