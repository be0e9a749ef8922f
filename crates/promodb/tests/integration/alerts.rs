//! The alert lifecycle, end to end: rules over live data, transitions at event times,
//! the `alert_events` table, and delivery to sinks.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use promodb::alerts::{
    AlertEvent, Alerts, CallbackSink, JsonLinesSink, Route, Rule, Severity, Transition,
};
use promodb::ingest::InventorySnapshot;
use promodb::{ErrorKind, PromoDb};

use crate::common::{assert_text_eq, query, table};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 10, 0, 0).unwrap() + Duration::minutes(minute)
}

fn stock(db: &PromoDb, minute: i64, sku_id: i64, on_hand: i64) {
    db.push(InventorySnapshot {
        ts: at(minute),
        sku_id,
        warehouse: "hangzhou".into(),
        on_hand,
    })
    .unwrap();
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn low_stock() -> Rule {
    Rule::sql(
        "low stock",
        "SELECT sku_id, on_hand FROM current_stock WHERE on_hand < 10",
    )
    .keyed_by(["sku_id"])
    .with_value("on_hand")
    .with_message("SKU {sku_id}: {on_hand} left")
    .with_for(Duration::minutes(2))
    .with_repeat(Duration::minutes(10))
    .with_owner("supply")
    .with_severity(Severity::Critical)
}

type Delivered = Arc<Mutex<Vec<AlertEvent>>>;

fn collecting_sink(alerts: &mut Alerts, route: Route) -> Delivered {
    let delivered: Delivered = Arc::default();
    let sink = Arc::clone(&delivered);
    alerts.add_sink(
        route,
        CallbackSink(move |e: &AlertEvent| {
            sink.lock().unwrap().push(e.clone());
            Ok(())
        }),
    );
    delivered
}

fn transitions(events: &[AlertEvent]) -> Vec<(String, Transition)> {
    events
        .iter()
        .map(|e| (e.key.clone(), e.transition))
        .collect()
}

#[test]
fn pending_firing_repeat_acknowledge_resolve() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    block_on(alerts.add(low_stock())).unwrap();
    let delivered = collecting_sink(&mut alerts, Route::owner("supply"));
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("alerts.jsonl");
    alerts.add_sink(Route::all(), JsonLinesSink::open(&jsonl).unwrap());

    stock(&db, 0, 7, 50);
    stock(&db, 0, 8, 5);
    let step =
        |alerts: &mut Alerts, minute| transitions(&block_on(alerts.evaluate(at(minute))).unwrap());
    let key = |k: &str, t| (k.to_string(), t);
    assert_eq!(step(&mut alerts, 0), vec![key("8", Transition::Pending)]);
    assert_eq!(step(&mut alerts, 1), vec![]);
    assert_eq!(step(&mut alerts, 2), vec![key("8", Transition::Firing)]);
    assert_eq!(
        alerts.firing(),
        vec![("low stock".to_string(), "8".to_string())]
    );
    assert_eq!(step(&mut alerts, 5), vec![], "deduplicated while firing");
    assert_eq!(step(&mut alerts, 12), vec![key("8", Transition::Repeat)]);

    let ack = alerts
        .acknowledge("low stock", "8", "li.wei", at(13))
        .unwrap();
    assert_eq!(ack.actor.as_deref(), Some("li.wei"));
    assert_eq!(
        step(&mut alerts, 30),
        vec![],
        "no repeats once acknowledged"
    );

    // Sku 7 drops too; sku 8 is restocked.
    stock(&db, 31, 7, 3);
    stock(&db, 31, 8, 200);
    assert_eq!(
        step(&mut alerts, 31),
        vec![
            key("8", Transition::Resolved),
            key("7", Transition::Pending)
        ]
    );
    // Sku 7 recovers before its 2 minutes: dropped without a word.
    stock(&db, 32, 7, 80);
    assert_eq!(step(&mut alerts, 32), vec![]);

    let notified: Vec<(String, Transition)> = transitions(&delivered.lock().unwrap());
    assert_eq!(
        notified,
        vec![
            key("8", Transition::Firing),
            key("8", Transition::Repeat),
            key("8", Transition::Resolved)
        ]
    );
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(
        lines.lines().next().unwrap().starts_with(
            "{\"ts\":\"2026-11-11T10:02:00Z\",\"rule\":\"low stock\",\"key\":\"8\",\"transition\":\"firing\",\"severity\":\"critical\",\"owner\":\"supply\",\"value\":5,\"message\":\"SKU 8: 5 left\""
        ),
        "{lines}"
    );

    // The closed loop after the promo: every transition is in SQL.
    assert_text_eq(
        "+----------------------+-----+--------------+-------+--------+
| ts                   | key | transition   | value | actor  |
+----------------------+-----+--------------+-------+--------+
| 2026-11-11T10:00:00Z | 8   | pending      | 5.0   |        |
| 2026-11-11T10:02:00Z | 8   | firing       | 5.0   |        |
| 2026-11-11T10:12:00Z | 8   | repeat       | 5.0   |        |
| 2026-11-11T10:13:00Z | 8   | acknowledged | 5.0   | li.wei |
| 2026-11-11T10:31:00Z | 7   | pending      | 3.0   |        |
| 2026-11-11T10:31:00Z | 8   | resolved     | 5.0   |        |
+----------------------+-----+--------------+-------+--------+",
        &table(
            &query(
                &db,
                "SELECT ts, key, transition, value, actor FROM alert_events ORDER BY ts, key",
            )
            .unwrap(),
        ),
    );
    let to_ack = query(
        &db,
        "SELECT CAST(date_part('epoch', max(ts) FILTER (WHERE transition = 'acknowledged')
                 - min(ts) FILTER (WHERE transition = 'firing')) AS BIGINT) AS secs
         FROM alert_events WHERE key = '8'",
    )
    .unwrap();
    assert!(table(&to_ack).contains("| 660  |"), "{}", table(&to_ack));
}

#[test]
fn sinks_get_only_what_their_route_matches() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    block_on(alerts.add(low_stock().with_for(Duration::zero()))).unwrap();
    block_on(alerts.add(
        Rule::sql("any stock", "SELECT sku_id FROM current_stock").with_severity(Severity::Info),
    ))
    .unwrap();
    let supply = collecting_sink(&mut alerts, Route::owner("supply"));
    let critical = collecting_sink(&mut alerts, Route::all().at_least(Severity::Critical));
    let marketing = collecting_sink(&mut alerts, Route::owner("marketing"));
    let everyone = collecting_sink(&mut alerts, Route::all());
    stock(&db, 0, 8, 5);
    block_on(alerts.evaluate(at(0))).unwrap();
    let rules = |d: &Delivered| -> Vec<String> {
        d.lock().unwrap().iter().map(|e| e.rule.clone()).collect()
    };
    assert_eq!(rules(&supply), vec!["low stock"]);
    assert_eq!(rules(&critical), vec!["low stock"]);
    assert!(rules(&marketing).is_empty());
    assert_eq!(rules(&everyone), vec!["low stock", "any stock"]);
}

#[test]
fn a_failing_sink_does_not_starve_the_others_and_the_event_is_kept() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    block_on(alerts.add(low_stock().with_for(Duration::zero()))).unwrap();
    alerts.add_sink(
        Route::all(),
        CallbackSink(|_: &AlertEvent| Err(promodb::Error::Internal("pager down".into()))),
    );
    let after = collecting_sink(&mut alerts, Route::all());
    stock(&db, 0, 8, 5);
    let err = block_on(alerts.evaluate(at(0))).unwrap_err();
    assert!(err.to_string().contains("pager down"), "{err}");
    assert_eq!(after.lock().unwrap().len(), 1);
    let kept = query(
        &db,
        "SELECT count(*) AS n FROM alert_events WHERE transition = 'firing'",
    )
    .unwrap();
    assert!(table(&kept).contains("| 1 |"), "{}", table(&kept));
}

#[test]
fn bad_rules_are_refused_with_the_rule_and_field_named() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    let err = block_on(alerts.add(Rule::sql("typo", "SELEC 1"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("alert rule 'typo'"), "{err}");
    let err = block_on(
        alerts
            .add(Rule::sql("keys", "SELECT sku_id FROM current_stock").keyed_by(["warehouse_id"])),
    )
    .unwrap_err();
    assert!(err.to_string().contains("key 'warehouse_id'"), "{err}");
    let err = block_on(alerts.add(
        Rule::sql("value", "SELECT sku_id, warehouse FROM current_stock").with_value("warehouse"),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("must be numeric"), "{err}");
    block_on(alerts.add(low_stock())).unwrap();
    let err = block_on(alerts.add(low_stock())).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(Alerts::new(&db).is_err(), "a second engine on one database");
}

#[test]
fn a_resolve_hold_keeps_a_flapping_alert_firing() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    block_on(
        alerts.add(
            low_stock()
                .with_for(Duration::zero())
                .with_resolve_after(Duration::minutes(10)),
        ),
    )
    .unwrap();
    let step = |alerts: &mut Alerts, minute| -> Vec<Transition> {
        block_on(alerts.evaluate(at(minute)))
            .unwrap()
            .iter()
            .map(|e| e.transition)
            .collect()
    };
    stock(&db, 0, 8, 5);
    assert_eq!(
        step(&mut alerts, 0),
        vec![Transition::Pending, Transition::Firing]
    );
    stock(&db, 1, 8, 12); // above the threshold for a moment
    assert_eq!(step(&mut alerts, 1), vec![]);
    stock(&db, 5, 8, 6); // back below: still the same alert, no new firing
    assert_eq!(step(&mut alerts, 5), vec![]);
    stock(&db, 6, 8, 50);
    assert_eq!(step(&mut alerts, 6), vec![]);
    assert_eq!(step(&mut alerts, 15), vec![], "9 minutes away");
    assert_eq!(step(&mut alerts, 16), vec![Transition::Resolved]);
}

#[test]
fn an_inhibited_rule_waits_while_its_cause_fires_and_for_the_hold_after() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    let low = |name: &str, sku: i64| {
        Rule::sql(
            name,
            format!("SELECT sku_id FROM current_stock WHERE on_hand < 10 AND sku_id = {sku}"),
        )
    };
    block_on(alerts.add(low("cause", 1))).unwrap();
    block_on(alerts.add(low("symptom", 2).inhibited_by(["cause"], Duration::minutes(30)))).unwrap();
    let firing = |events: Vec<AlertEvent>| -> Vec<String> {
        events
            .into_iter()
            .filter(|e| e.transition == Transition::Firing)
            .map(|e| e.rule)
            .collect()
    };
    stock(&db, 0, 1, 5);
    stock(&db, 0, 2, 5);
    // The cause fires; the symptom waits.
    assert_eq!(firing(block_on(alerts.evaluate(at(0))).unwrap()), ["cause"]);
    assert_eq!(
        firing(block_on(alerts.evaluate(at(5))).unwrap()),
        Vec::<String>::new()
    );
    // The cause resolves at minute 10: the symptom still waits for 30 minutes.
    stock(&db, 10, 1, 50);
    block_on(alerts.evaluate(at(10))).unwrap();
    assert_eq!(
        firing(block_on(alerts.evaluate(at(39))).unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        firing(block_on(alerts.evaluate(at(40))).unwrap()),
        ["symptom"]
    );
}
