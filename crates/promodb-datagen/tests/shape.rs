//! The generated promo looks like a real Double 11: these tests check its shape through
//! SQL over a database it was loaded into, and that it is the same for the same seed.

use std::sync::OnceLock;

use promodb::PromoDb;
use promodb::arrow::array::{AsArray, RecordBatch};
use promodb::arrow::datatypes::{Float64Type, Int64Type};
use promodb::schema::Table;
use promodb_datagen::{IncidentKind, IncidentSet, OutputFormat, Promo, PromoConfig, generate};

const EVENTS: usize = 200_000;

fn promo() -> &'static Promo {
    static PROMO: OnceLock<Promo> = OnceLock::new();
    PROMO.get_or_init(|| generate(&PromoConfig::new(EVENTS).with_seed(11)))
}

fn db() -> &'static PromoDb {
    static DB: OnceLock<PromoDb> = OnceLock::new();
    DB.get_or_init(|| {
        let db = PromoDb::in_memory().expect("db");
        promo().load_into(&db).expect("every table conforms");
        db
    })
}

fn query(sql: &str) -> Vec<RecordBatch> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(db().sql(sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The single number a query returns, as f64.
fn number(sql: &str) -> f64 {
    let batches = query(sql);
    let column = batches[0].column(0);
    if let Some(a) = column.as_primitive_opt::<Float64Type>() {
        a.value(0)
    } else {
        column.as_primitive::<Int64Type>().value(0) as f64
    }
}

#[test]
fn the_same_seed_gives_the_same_promo_and_another_seed_another() {
    let config = PromoConfig::new(20_000).with_seed(3);
    let (a, b) = (generate(&config), generate(&config));
    for table in Table::ALL {
        assert_eq!(a.table(table).batch, b.table(table).batch, "{table}");
        assert_eq!(a.table(table).arrival, b.table(table).arrival, "{table}");
    }
    assert_eq!(a.incidents(), b.incidents());
    assert_eq!(a.targets(), b.targets());
    let c = generate(&config.with_seed(4));
    assert_ne!(
        a.table(Table::UserEvents).batch,
        c.table(Table::UserEvents).batch
    );
}

#[test]
fn the_scale_is_the_number_of_user_events_and_every_table_has_rows() {
    let events = promo().rows(Table::UserEvents) as f64;
    assert!(
        (events / EVENTS as f64 - 1.0).abs() < 0.05,
        "{events} user events"
    );
    for table in Table::ALL {
        assert!(promo().rows(table) > 0, "{table} is empty");
        assert_eq!(
            db().row_count(table.name()).unwrap(),
            promo().rows(table),
            "{table}"
        );
    }
}

#[test]
fn the_opening_ten_minutes_carry_about_fifteen_times_the_average_traffic() {
    let ratio = number(
        "SELECT CAST(count(*) FILTER (WHERE ts < TIMESTAMP '2026-11-11T00:10:00Z') AS DOUBLE) / 10
              / (CAST(count(*) AS DOUBLE) / 1440) FROM user_events",
    );
    // The traffic drop incident removes a little; sessions spill past the 10th minute.
    assert!((11.0..17.0).contains(&ratio), "opening/average = {ratio}");
    // An evening peak over a night trough.
    let evening_over_night = number(
        "SELECT CAST(count(*) FILTER (WHERE extract(hour FROM ts) = 21) AS DOUBLE)
              / count(*) FILTER (WHERE extract(hour FROM ts) = 4) FROM user_events",
    );
    assert!(evening_over_night > 4.0, "21h / 4h = {evening_over_night}");
}

#[test]
fn a_few_skus_take_a_large_share_of_sales() {
    let head_share = number(
        "WITH per_sku AS (SELECT sku_id, sum(qty) AS units FROM orders GROUP BY sku_id),
              ranked AS (SELECT units, row_number() OVER (ORDER BY units DESC) AS r FROM per_sku)
         SELECT CAST(sum(units) FILTER (WHERE r <= (SELECT count(*) FROM skus) / 10) AS DOUBLE)
                / sum(units) FROM ranked",
    );
    assert!(
        head_share > 0.5,
        "top 10% of SKUs sell {head_share} of units"
    );
}

#[test]
fn the_funnel_drops_off_step_by_step_and_channels_differ() {
    let batches = query(
        "SELECT count(DISTINCT user_id) FILTER (WHERE event_type = 'view'),
                count(DISTINCT user_id) FILTER (WHERE event_type = 'click'),
                count(DISTINCT user_id) FILTER (WHERE event_type = 'add_to_cart'),
                count(DISTINCT user_id) FILTER (WHERE event_type = 'checkout'),
                count(DISTINCT user_id) FILTER (WHERE event_type = 'pay')
         FROM user_events",
    );
    let steps: Vec<i64> = (0..5)
        .map(|i| batches[0].column(i).as_primitive::<Int64Type>().value(0))
        .collect();
    assert!(steps.windows(2).all(|w| w[0] > w[1]), "funnel {steps:?}");
    let live = number("SELECT roas FROM channel_performance WHERE channel = 'live_stream'");
    let ads = number("SELECT roas FROM channel_performance WHERE channel = 'ads'");
    assert!(live > 2.0 * ads, "ROAS live_stream {live} vs ads {ads}");
}

#[test]
fn the_logs_are_messy_like_real_ones() {
    let duplicates = number(
        "SELECT count(*) FROM (SELECT ts, user_id, event_type FROM user_events
         GROUP BY ts, user_id, session_id, event_type, sku_id, channel HAVING count(*) > 1)",
    );
    assert!(duplicates > 0.0, "no duplicate events");
    let null_channels = number("SELECT count(*) FROM user_events WHERE channel IS NULL");
    assert!(null_channels > 0.0, "no NULL channels");
    let repeated = number(
        "SELECT count(*) FROM (SELECT session_id FROM user_events WHERE event_type = 'add_to_cart'
         AND session_id IS NOT NULL GROUP BY session_id HAVING count(DISTINCT ts) > 1)",
    );
    assert!(repeated > 0.0, "no repeated steps");
    // Rows come in arrival order, so ts goes backwards now and then.
    let events = &promo().table(Table::UserEvents).batch;
    let ts = events
        .column(0)
        .as_primitive::<promodb::arrow::datatypes::TimestampMicrosecondType>();
    let backwards = ts.values().windows(2).filter(|w| w[1] < w[0]).count();
    assert!(backwards > 0, "no late arrivals");
    let failed = number(
        "SELECT CAST(count(*) FILTER (WHERE status = 'failed') AS DOUBLE) / count(*) FROM payments",
    );
    assert!(
        (0.02..0.08).contains(&failed),
        "payment failure rate {failed}"
    );
}

#[test]
fn hot_skus_sell_out_and_the_labelled_one_does_when_labelled() {
    let sold_out = number("SELECT count(*) FROM stock_risk WHERE on_hand <= 0");
    assert!(sold_out >= 2.0, "{sold_out} SKUs sold out");
    let label = promo()
        .incidents()
        .iter()
        .find(|i| i.kind == IncidentKind::StockOut)
        .expect("a stock-out label");
    let sku = label.key.as_deref().unwrap();
    // At the labelled moment the SKU's stock is gone, and the last snapshot before it
    // still had some.
    let at = label.start.format("%Y-%m-%dT%H:%M:%S%.6fZ");
    let left_before = number(&format!(
        "SELECT CAST(sum(on_hand) AS BIGINT) FROM inventory WHERE sku_id = {sku}
           AND ts = (SELECT max(ts) FROM inventory WHERE ts < TIMESTAMP '{at}')"
    ));
    assert!(left_before > 0.0, "sku {sku} had {left_before} before {at}");
    let sold_after = number(&format!(
        "SELECT count(*) FROM orders WHERE sku_id = {sku} AND ts > TIMESTAMP '{at}'"
    ));
    assert_eq!(sold_after, 0.0, "sku {sku} sold after running out at {at}");
}

#[test]
fn incidents_leave_their_mark_where_labelled() {
    let labels = promo().incidents();
    let kinds: Vec<IncidentKind> = labels.iter().map(|i| i.kind).collect();
    for kind in [
        IncidentKind::PaymentOutage,
        IncidentKind::StockOut,
        IncidentKind::ConversionCollapse,
        IncidentKind::TrafficDrop,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    let window = |kind| {
        let i = labels.iter().find(|i| i.kind == kind).unwrap();
        (
            i.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            i.end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    let (s, e) = window(IncidentKind::PaymentOutage);
    let failure = |range: &str| {
        number(&format!(
            "SELECT CAST(count(*) FILTER (WHERE status = 'failed') AS DOUBLE) / count(*)
             FROM payments WHERE method = 'wechat' AND {range}"
        ))
    };
    let inside = failure(&format!("ts >= TIMESTAMP '{s}' AND ts < TIMESTAMP '{e}'"));
    let outside = failure(&format!("(ts < TIMESTAMP '{s}' OR ts >= TIMESTAMP '{e}')"));
    assert!(
        inside > 0.6 && outside < 0.1,
        "wechat failures {inside} in, {outside} out"
    );

    let (s, e) = window(IncidentKind::TrafficDrop);
    let during = number(&format!(
        "SELECT CAST(count(*) AS DOUBLE) FROM user_events WHERE event_type = 'view'
           AND ts >= TIMESTAMP '{s}' AND ts < TIMESTAMP '{e}'"
    ));
    let hour_before = number(&format!(
        "SELECT CAST(count(*) AS DOUBLE) FROM user_events WHERE event_type = 'view'
           AND ts >= TIMESTAMP '{s}' - (TIMESTAMP '{e}' - TIMESTAMP '{s}') AND ts < TIMESTAMP '{s}'"
    ));
    assert!(
        during < 0.6 * hour_before,
        "views {during} during the drop vs {hour_before} before"
    );

    let (s, e) = window(IncidentKind::ConversionCollapse);
    let ads = |range: &str| {
        let carts = number(&format!(
            "SELECT CAST(count(*) FILTER (WHERE event_type = 'add_to_cart') AS DOUBLE)
                    / count(*) FILTER (WHERE event_type = 'click')
             FROM user_events WHERE channel = 'ads' AND {range}"
        ));
        let cost = number(&format!(
            "SELECT CAST(sum(cost) AS DOUBLE) FROM ad_spend WHERE channel = 'ads' AND {range}"
        ));
        (carts, cost)
    };
    let (carts_in, cost_in) = ads(&format!("ts >= TIMESTAMP '{s}' AND ts < TIMESTAMP '{e}'"));
    let (carts_before, _) = ads(&format!("ts < TIMESTAMP '{s}'"));
    assert!(
        carts_in < 0.3 * carts_before,
        "ads cart rate {carts_in} vs {carts_before}"
    );
    assert!(cost_in > 0.0, "spend stopped during the collapse");
}

#[test]
fn last_year_and_targets_are_there_for_comparisons() {
    let ly = number("SELECT CAST(sum(amount) AS DOUBLE) FROM last_year_orders");
    let now = number("SELECT CAST(sum(amount) AS DOUBLE) FROM orders");
    assert!(
        (0.5..0.9).contains(&(ly / now)),
        "last year / this year = {}",
        ly / now
    );
    let hours = number("SELECT count(*) FROM targets");
    assert_eq!(hours, 24.0);
    let first = number("SELECT CAST(extract(year FROM min(ts)) AS BIGINT) FROM last_year_orders");
    assert_eq!(first, 2025.0);
}

#[test]
fn a_clean_promo_has_no_incidents() {
    let promo = generate(&PromoConfig::new(5_000).with_incidents(IncidentSet::None));
    assert!(promo.incidents().is_empty());
}

#[test]
fn written_files_load_back_row_for_row() {
    let promo = generate(&PromoConfig::new(5_000).with_seed(5));
    for format in [OutputFormat::Parquet, OutputFormat::Csv] {
        let dir = tempfile::tempdir().unwrap();
        let files = promo.write_dir(dir.path(), format).unwrap();
        assert!(files.iter().any(|f| f.ends_with("incidents.csv")));
        let db = PromoDb::in_memory().unwrap();
        for table in Table::ALL {
            let ext = if format == OutputFormat::Parquet {
                "parquet"
            } else {
                "csv"
            };
            let path = dir.path().join(format!("{}.{ext}", table.name()));
            let report = db.load(table.name(), path.to_str().unwrap()).unwrap();
            assert_eq!(report.rows, promo.rows(table), "{table} as {format:?}");
            let loaded = db.snapshot(table.name()).unwrap();
            let batches: Vec<RecordBatch> = loaded
                .segments()
                .iter()
                .map(|s| s.batch().clone())
                .collect();
            let loaded =
                promodb::arrow::compute::concat_batches(&table.arrow_schema(), &batches).unwrap();
            assert_eq!(loaded, promo.table(table).batch, "{table} as {format:?}");
        }
    }
}
