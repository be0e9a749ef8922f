//! The promo war room's anomaly rules, calibrated on generated promos (docs/alerts.md).

use super::definition::{Anomaly, AnomalyParams, Direction, Measure, PromoCalendar};
use crate::alerts::{Rule, Severity};

impl Rule {
    /// `traffic anomaly`: user events per minute against last year's promo
    /// (`last_year_user_events`), spikes and drops; scored 2 minutes after the minute
    /// (late events), over 1 minute (2 or 5 when thin, at least 20 events expected).
    /// Critical, owned by `ops`.
    pub fn traffic_anomaly(calendar: PromoCalendar) -> Rule {
        let measure = Measure::new("user_events", "count(*)");
        let anomaly =
            Anomaly::curve(calendar, measure, "last_year_user_events").with_params(AnomalyParams {
                interval: 1,
                longer: vec![2, 5],
                settle: 1,
                min_volume: 20.0,
                ..AnomalyParams::default()
            });
        Rule::anomaly("traffic anomaly", anomaly)
            .with_severity(Severity::Critical)
            .with_owner("ops")
    }

    /// `orders anomaly`: distinct orders per 5 minutes (10, 15 when thin) against last
    /// year's (`last_year_orders`), spikes and drops. Warning, owned by `ops`; inhibited
    /// by the traffic and payment rules (and the next two as well).
    pub fn orders_anomaly(calendar: PromoCalendar) -> Rule {
        let measure = Measure::new("orders", "count(DISTINCT order_id)");
        let anomaly =
            Anomaly::curve(calendar, measure, "last_year_orders").with_params(orders_params());
        Rule::anomaly("orders anomaly", anomaly)
            .with_owner("ops")
            .inhibited_by(CAUSES, cause_hold())
    }

    /// `gmv drop`: GMV per 5 minutes against last year's, in orders of each year's
    /// average order value (so that a few big baskets do not look significant); drops
    /// only. Critical, owned by `ops`.
    pub fn gmv_drop(calendar: PromoCalendar) -> Rule {
        let measure = Measure::new("orders", "sum(amount)");
        let anomaly = Anomaly::curve(calendar, measure, "last_year_orders")
            .per_unit("count(DISTINCT order_id)")
            .with_params(AnomalyParams {
                direction: Direction::Drop,
                ..orders_params()
            });
        Rule::anomaly("gmv drop", anomaly)
            .with_severity(Severity::Critical)
            .with_owner("ops")
            .inhibited_by(CAUSES, cause_hold())
    }

    /// `channel orders anomaly`: distinct orders per attributed channel per 5 minutes
    /// against last year's total times the channel's share. Warning, owned by `marketing`.
    pub fn channel_orders_anomaly(calendar: PromoCalendar) -> Rule {
        let measure = Measure::new("orders", "count(DISTINCT order_id)").per("channel");
        let anomaly =
            Anomaly::curve(calendar, measure, "last_year_orders").with_params(orders_params());
        Rule::anomaly("channel orders anomaly", anomaly)
            .with_owner("marketing")
            .inhibited_by(CAUSES, cause_hold())
    }

    /// `payment success drop`: successful payment attempts per method per 2 minutes (5,
    /// 10, 20 when thin) against attempts times the trailing success rate, with last
    /// year's rate (`last_year_payments`) as a prior. Critical, owned by `payments`.
    pub fn payment_success_drop(calendar: PromoCalendar) -> Rule {
        let successes =
            Measure::new("payments", "count(*) FILTER (WHERE status = 'success')").per("method");
        let anomaly = Anomaly::success_rate(
            calendar,
            successes,
            "count(*)",
            Some("last_year_payments".to_string()),
        )
        .with_params(AnomalyParams {
            interval: 2,
            longer: vec![5, 10, 20],
            min_volume: 5.0,
            direction: Direction::Drop,
            ..AnomalyParams::default()
        });
        Rule::anomaly("payment success drop", anomaly)
            .with_severity(Severity::Critical)
            .with_owner("payments")
    }

    /// `ad conversion drop` (efficiency): sessions adding to cart per paid click
    /// (`ad_spend`) of each channel against its own rate over the 4 hours before, while
    /// its spend goes on: ad money burning without converting. Warning, owned by
    /// `marketing`.
    pub fn ad_conversion_drop(calendar: PromoCalendar) -> Rule {
        let carts = Measure::new("user_events", "count(DISTINCT session_id)")
            .per("channel")
            .filter("event_type = 'add_to_cart'");
        let clicks = Measure::new("ad_spend", "sum(clicks)").per("channel");
        let anomaly = Anomaly::conversion(calendar, carts, clicks, "sum(cost)");
        Rule::anomaly("ad conversion drop", anomaly).with_owner("marketing")
    }

    /// The six rules above, the war room's default anomaly and efficiency set, causes
    /// first (each evaluation runs rules in order, so a cause fires before the
    /// consequences it inhibits). They read last year's tables `last_year_user_events`,
    /// `last_year_orders` and `last_year_payments` (e.g. registered with
    /// `PromoDb::register_parquet`).
    pub fn promo_anomalies(calendar: PromoCalendar) -> Vec<Rule> {
        vec![
            Rule::traffic_anomaly(calendar),
            Rule::payment_success_drop(calendar),
            Rule::orders_anomaly(calendar),
            Rule::gmv_drop(calendar),
            Rule::channel_orders_anomaly(calendar),
            Rule::ad_conversion_drop(calendar),
        ]
    }
}

/// The rules whose alerts explain an orders or GMV anomaly: traffic fell, or payments
/// failed. Orders rules stay quiet while these fire and for 30 minutes after.
const CAUSES: [&str; 2] = ["traffic anomaly", "payment success drop"];

fn cause_hold() -> chrono::Duration {
    chrono::Duration::minutes(30)
}

fn orders_params() -> AnomalyParams {
    AnomalyParams {
        interval: 5,
        longer: vec![10, 15],
        min_volume: 10.0,
        ..AnomalyParams::default()
    }
}
