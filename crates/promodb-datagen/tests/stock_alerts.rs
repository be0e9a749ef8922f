//! The stock-out forecast rule on a replayed promo: it must warn before hot SKUs run out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use promodb::PromoDb;
use promodb::alerts::{Alerts, Rule, Transition};
use promodb_datagen::{IncidentKind, PromoConfig, Replay, generate};

#[test]
fn the_labelled_stock_out_is_forecast_at_least_30_minutes_ahead() {
    let promo = generate(
        &PromoConfig::new(200_000)
            .with_seed(11)
            .with_last_year(false),
    );
    let db = PromoDb::in_memory().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut alerts = Alerts::new(&db).unwrap();
    runtime
        .block_on(alerts.add(Rule::stock_out_forecast(Duration::minutes(60))))
        .unwrap();
    let mut first_warning: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut replay = Replay::new(&promo, &db).unwrap();
    replay
        .run_until(promo.config().end(), Duration::minutes(5), None, |tick| {
            for event in runtime.block_on(alerts.evaluate(tick.clock))? {
                if event.transition == Transition::Firing {
                    first_warning.entry(event.key).or_insert(event.at);
                }
            }
            Ok(())
        })
        .unwrap();
    let label = promo
        .incidents()
        .iter()
        .find(|i| i.kind == IncidentKind::StockOut)
        .expect("a stock-out label");
    let sku = label.key.clone().unwrap();
    let warned = first_warning
        .get(&sku)
        .copied()
        .expect("the SKU was never forecast to run out");
    let lead = label.start - warned;
    assert!(
        lead >= Duration::minutes(30),
        "warned {} min before sku {sku} ran out at {}",
        lead.num_minutes(),
        label.start
    );
}
