//! Anomaly rules on synthetic series whose answer is known: a drop and a spike against
//! last year's curve, fired after two breaching minutes, with the direction in the alert,
//! and resolved once the series is back.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use promodb::PromoDb;
use promodb::alerts::{
    AlertEvent, Alerts, Anomaly, AnomalyParams, Measure, PromoCalendar, Rule, Transition,
};
use promodb::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use promodb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Last year's shape: a day curve that rises and falls.
fn last_year_count(minute: i64) -> i64 {
    100 + (50.0 * (minute as f64 / 40.0).sin()).round() as i64
}

/// `counts[m]` user events in minute m after `origin`, spread over the minute.
fn events(origin: DateTime<Utc>, counts: impl Iterator<Item = i64>) -> RecordBatch {
    let mut ts = Vec::new();
    for (minute, count) in counts.enumerate() {
        for i in 0..count {
            let at = origin
                + Duration::minutes(minute as i64)
                + Duration::milliseconds(i * 59_000 / count.max(1));
            ts.push(at.timestamp_micros());
        }
    }
    let rows = ts.len();
    let schema = Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("user_id", DataType::Int64, false),
        Field::new("event_type", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(Int64Array::from(vec![1; rows])),
            Arc::new(StringArray::from(vec!["view"; rows])),
        ],
    )
    .unwrap()
}

/// A database holding `minutes` of last year's curve as `last_year_user_events`.
fn with_last_year(minutes: i64) -> (PromoDb, PromoCalendar) {
    let calendar = PromoCalendar::new(start());
    let db = PromoDb::in_memory().unwrap();
    let history = events(calendar.last_year_start, (0..minutes).map(last_year_count));
    db.register_batches("last_year_user_events", vec![history])
        .unwrap();
    (db, calendar)
}

fn traffic_rule(calendar: PromoCalendar) -> Rule {
    let measure = Measure::new("user_events", "count(*)");
    Rule::anomaly(
        "traffic",
        Anomaly::curve(calendar, measure, "last_year_user_events").with_params(AnomalyParams {
            settle: 1,
            ..AnomalyParams::default()
        }),
    )
}

#[test]
fn a_drop_and_a_spike_against_last_years_curve_fire_and_resolve() {
    let (db, calendar) = with_last_year(300);
    // This year: twice last year's level (the rule scales to it), a drop to 30% over
    // minutes 150..170 and a spike to 3x over minutes 220..230.
    let this_year = |m: i64| {
        let factor = match m {
            150..170 => 0.6,
            220..230 => 6.0,
            _ => 2.0,
        };
        (last_year_count(m) as f64 * factor) as i64
    };
    let mut alerts = Alerts::new(&db).unwrap();
    block_on(alerts.add(traffic_rule(calendar))).unwrap();
    let mut transitions: Vec<(i64, Transition, String)> = Vec::new();
    for minute in 0..260 {
        db.append(
            "user_events",
            events(
                start() + Duration::minutes(minute),
                std::iter::once(this_year(minute)),
            ),
        )
        .unwrap();
        let tick = minute + 1;
        let evaluated: Vec<AlertEvent> =
            block_on(alerts.evaluate(start() + Duration::minutes(tick))).unwrap();
        for event in evaluated {
            if event.transition != Transition::Pending {
                transitions.push((tick, event.transition, event.message));
            }
        }
    }
    let summary: Vec<(i64, Transition, bool)> = transitions
        .iter()
        .map(|(tick, transition, message)| (*tick, *transition, message.contains("drop")))
        .collect();
    // Minute m is scored at tick m + 2 (1 minute for late rows); two breaching minutes
    // fire; 5 quiet ticks resolve.
    assert_eq!(
        summary,
        vec![
            (153, Transition::Firing, true),
            (176, Transition::Resolved, true),
            (223, Transition::Firing, false),
            (236, Transition::Resolved, false),
        ],
        "{transitions:#?}"
    );
    assert!(transitions[2].2.contains("spike"), "{}", transitions[2].2);
    assert!(
        transitions[0].2.starts_with("traffic: drop: "),
        "{}",
        transitions[0].2
    );
}

#[test]
fn nothing_fires_while_the_series_follows_last_years_curve_at_any_level() {
    let (db, calendar) = with_last_year(200);
    // Five times last year's level, with last year's shape: no alert, even at the steep
    // parts of the curve.
    db.append(
        "user_events",
        events(start(), (0..200).map(|m| 5 * last_year_count(m))),
    )
    .unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    block_on(alerts.add(traffic_rule(calendar))).unwrap();
    // One evaluation catches up on every minute closed so far.
    let events = block_on(alerts.evaluate(start() + Duration::minutes(200))).unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(alerts.firing().is_empty());
}

#[test]
fn a_rule_without_its_baseline_table_is_an_error_naming_it() {
    let db = PromoDb::in_memory().unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    let error = block_on(alerts.add(Rule::traffic_anomaly(PromoCalendar::new(start()))))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("traffic anomaly") && error.contains("last_year_user_events"),
        "{error}"
    );
    let bad = Rule::anomaly(
        "bad measure",
        Anomaly::curve(
            PromoCalendar::new(start()),
            Measure::new("user_events", "count(no_such_column)"),
            "user_events",
        ),
    );
    let error = block_on(alerts.add(bad)).unwrap_err().to_string();
    assert!(
        error.contains("bad measure") && error.contains("no_such_column"),
        "{error}"
    );
}
