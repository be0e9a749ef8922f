//! Seeded synthetic promotions for promodb: a whole Double 11 in every canonical table,
//! with incidents and their ground-truth labels.
//!
//! One [`PromoConfig`] (scale in user events, seed) gives the same promo on every machine:
//!
//! - the promo opens at midnight with traffic in the first 10 minutes about 15x the day's
//!   average, then follows a day curve with a night trough and an evening peak;
//! - SKU popularity is Zipf-like over 8 categories and many brands, each SKU with list
//!   price, promo discount and unit cost;
//! - sessions run view -> click -> add_to_cart -> checkout -> pay with drop-off that
//!   depends on the channel (`live_stream`, `short_video`, `search`, `ads`, `organic`),
//!   with the mess of real logs: repeated steps, 1% duplicate events, equal timestamps,
//!   3% NULL channels and late arrivals (rows are in arrival order, not `ts` order);
//! - payments fail 3% of the time and are retried; refunds, tickets and shipments follow
//!   orders; ad spend per minute, channel and campaign follows the sessions it bought;
//! - inventory snapshots every 5 minutes per (sku, warehouse) fall as orders come in,
//!   and hot SKUs sell out;
//! - last year's promo (same shape, 70% of the level, no incidents) and hourly targets
//!   (last year's hourly GMV and orders plus 20%) come with it, for comparisons;
//! - the [`incidents`] are injected and labelled.
//!
//! ```
//! use promodb_datagen::{PromoConfig, generate};
//! use promodb::schema::Table;
//!
//! let promo = generate(&PromoConfig::new(20_000).with_seed(7));
//! assert!(promo.rows(Table::Orders) > 0);
//! assert_eq!(promo.incidents().len(), 4);
//! ```

mod after_sale;
mod catalog;
mod curve;
pub mod incidents;
mod marketing;
mod output;
mod replay;
mod rng;
mod shopping;
mod stock;
mod table_writer;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use promodb::PromoDb;
use promodb::arrow::array::{
    AsArray, Decimal128Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use promodb::arrow::datatypes::{
    DataType, Decimal128Type, Field, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use promodb::schema::Table;

pub use incidents::{Incident, IncidentKind, IncidentSet};
pub use output::OutputFormat;
pub use replay::{Replay, ReplayTick};

use catalog::{CATEGORIES, Catalog};
use curve::TrafficCurve;
use incidents::{IncidentPlan, STOCK_OUT_RANK};
use rng::Rng;
use shopping::{Market, expected_per_session};
use stock::StockLedger;
use table_writer::TableWriter;

/// What promo to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct PromoConfig {
    /// About how many `user_events` rows (within a few percent); every other table
    /// scales with it.
    pub events: usize,
    /// The seed: the same seed gives the same promo.
    pub seed: u64,
    /// When the promo opens (midnight of its day).
    pub start: DateTime<Utc>,
    /// How long it lasts.
    pub hours: u32,
    /// Which incidents to inject.
    pub incidents: IncidentSet,
    /// Whether to generate last year's promo and the hourly targets.
    pub last_year: bool,
}

impl PromoConfig {
    /// A 24-hour Double 11 of 2026 with about `events` user events, seed 42, the default
    /// incidents and last year's promo.
    pub fn new(events: usize) -> Self {
        PromoConfig {
            events,
            seed: 42,
            start: Utc
                .with_ymd_and_hms(2026, 11, 11, 0, 0, 0)
                .single()
                .expect("valid date"),
            hours: 24,
            incidents: IncidentSet::Default,
            last_year: true,
        }
    }

    /// With another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// With another set of incidents.
    pub fn with_incidents(mut self, incidents: IncidentSet) -> Self {
        self.incidents = incidents;
        self
    }

    /// With or without last year's promo and the targets.
    pub fn with_last_year(mut self, last_year: bool) -> Self {
        self.last_year = last_year;
        self
    }

    /// Opening at another time, lasting `hours` (at least 1).
    pub fn with_period(mut self, start: DateTime<Utc>, hours: u32) -> Self {
        self.start = start;
        self.hours = hours.max(1);
        self
    }

    /// When the promo ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::hours(i64::from(self.hours))
    }
}

/// Level of last year's promo against this year's.
pub const LAST_YEAR_LEVEL: f64 = 0.7;
/// Targets are last year's hourly figures times this.
pub const TARGET_GROWTH: f64 = 1.2;

/// A canonical table of a generated promo: its rows in arrival order, and when each
/// arrives (microseconds since the epoch).
#[derive(Debug, Clone)]
pub struct GeneratedTable {
    /// Which table.
    pub table: Table,
    /// Every row, in arrival order.
    pub batch: RecordBatch,
    /// Arrival time of each row, non-decreasing.
    pub arrival: Vec<i64>,
}

/// A generated promotion.
#[derive(Debug, Clone)]
pub struct Promo {
    config: PromoConfig,
    tables: Vec<GeneratedTable>,
    last_year: Vec<GeneratedTable>,
    targets: Option<RecordBatch>,
    incidents: Vec<Incident>,
}

/// Generates the promo of `config`.
pub fn generate(config: &PromoConfig) -> Promo {
    generate_with_progress(config, &mut |_, _| {})
}

/// Like [`generate`], reporting progress as (stage, fraction done of that stage).
pub fn generate_with_progress(config: &PromoConfig, progress: &mut dyn FnMut(&str, f64)) -> Promo {
    let mut rng = Rng::new(config.seed);
    let start = config.start.timestamp_micros();
    let minutes = config.hours as usize * 60;
    let plan = IncidentPlan::new(config.incidents, start, minutes);
    let this_year = simulate_year(
        config.events,
        start,
        minutes,
        &plan,
        0,
        &mut rng.fork(),
        &mut |f| progress("this year", f),
    );
    let mut tables = this_year.tables;
    let mut incidents = labels(&plan, config, this_year.stock_out);

    let (last_year, targets) = if config.last_year {
        let ly_start = (config.start - Duration::days(365)).timestamp_micros();
        let ly_events = (config.events as f64 * LAST_YEAR_LEVEL) as usize;
        let clean = IncidentPlan::default();
        let year = simulate_year(
            ly_events,
            ly_start,
            minutes,
            &clean,
            1 << 40,
            &mut rng.fork(),
            &mut |f| progress("last year", f),
        );
        let targets = targets(&year.tables, ly_start, start, config.hours);
        let keep = [Table::UserEvents, Table::Orders, Table::Payments];
        let last_year = year
            .tables
            .into_iter()
            .filter(|t| keep.contains(&t.table))
            .collect();
        (last_year, Some(targets))
    } else {
        (Vec::new(), None)
    };
    tables.sort_by_key(|t| t.table as usize);
    incidents.sort_by_key(|i| i.start);
    Promo {
        config: config.clone(),
        tables,
        last_year,
        targets,
        incidents,
    }
}

struct Year {
    tables: Vec<GeneratedTable>,
    stock_out: Option<(i64, i64)>,
}

fn simulate_year(
    events: usize,
    start: i64,
    minutes: usize,
    plan: &IncidentPlan,
    id_base: i64,
    rng: &mut Rng,
    progress: &mut dyn FnMut(f64),
) -> Year {
    let (events_per_session, units_per_session) = expected_per_session();
    let sessions = ((events as f64 / events_per_session).round() as usize).max(1);
    let catalog = Catalog::new((events / 2_000).clamp(50, 5_000), &mut rng.fork());
    let curve = TrafficCurve::new(minutes);
    let initial = initial_stock(
        &catalog,
        sessions as f64 * units_per_session,
        plan.stock_out,
        &mut rng.fork(),
    );
    let mut ledger = StockLedger::new(&catalog, &initial);
    let market = Market {
        start,
        curve: &curve,
        catalog: &catalog,
        incidents: plan,
        users: (sessions as u64 / 3).max(50),
        id_base,
    };
    let shopping = shopping::simulate(&market, sessions, &mut ledger, &mut rng.fork(), progress);
    let end = start + minutes as i64 * 60_000_000;
    let stock_out = plan
        .stock_out
        .then(|| {
            ledger
                .sold_out_at(STOCK_OUT_RANK)
                .map(|at| (catalog.skus[STOCK_OUT_RANK].id, at))
        })
        .flatten();
    let mut after = rng.fork();
    let writers = vec![
        skus(&catalog),
        shopping.user_events,
        after_sale::refunds(&shopping.lines, &catalog, &mut after),
        after_sale::tickets(
            &shopping.lines,
            shopping.sessions,
            start,
            minutes,
            id_base,
            &mut after,
        ),
        after_sale::shipments(&shopping.lines, &mut after),
        marketing::ad_spend(&shopping.paid_sessions, start, &mut after),
        ledger.snapshots(&catalog, start, end),
        shopping.orders,
        shopping.payments,
    ];
    let tables = writers
        .into_iter()
        .map(|writer| {
            let table = writer.table();
            let (batch, arrival) = writer.finish();
            GeneratedTable {
                table,
                batch,
                arrival,
            }
        })
        .collect();
    Year { tables, stock_out }
}

/// Units in stock per SKU at the opening: expected demand times a cover. The top 20 SKUs
/// get 0.6-2x (some sell out), the incident SKU 0.45x, the rest 1.5-4x.
fn initial_stock(
    catalog: &Catalog,
    expected_units: f64,
    stock_out: bool,
    rng: &mut Rng,
) -> Vec<i64> {
    (0..catalog.skus.len())
        .map(|rank| {
            let demand = expected_units * catalog.popularity(rank);
            let cover = if stock_out && rank == STOCK_OUT_RANK {
                0.45
            } else if rank < 20 {
                0.6 + 1.4 * rng.unit()
            } else {
                1.5 + 2.5 * rng.unit()
            };
            ((demand * cover).round() as i64).max(5)
        })
        .collect()
}

fn skus(catalog: &Catalog) -> TableWriter {
    let mut out = TableWriter::new(Table::Skus);
    for sku in &catalog.skus {
        out.row(0)
            .int(Some(sku.id))
            .text(Some(&sku.name))
            .text(Some(CATEGORIES[sku.category].0))
            .text(Some(&sku.brand))
            .money(Some(sku.list_price_cents))
            .money(Some(sku.unit_cost_cents));
    }
    out
}

fn labels(
    plan: &IncidentPlan,
    config: &PromoConfig,
    stock_out: Option<(i64, i64)>,
) -> Vec<Incident> {
    let time = |micros: i64| Utc.timestamp_micros(micros).single().expect("in range");
    let mut out = Vec::new();
    let mut add = |kind, key: Option<&str>, window: incidents::Window| {
        out.push(Incident {
            kind,
            key: key.map(str::to_string),
            start: time(window.start),
            end: time(window.end),
        });
    };
    if let Some(w) = plan.payment_outage {
        add(
            IncidentKind::PaymentOutage,
            Some(shopping::METHODS[incidents::OUTAGE_METHOD]),
            w,
        );
    }
    if let Some(w) = plan.conversion_collapse {
        add(
            IncidentKind::ConversionCollapse,
            Some(shopping::CHANNELS[incidents::COLLAPSE_CHANNEL]),
            w,
        );
    }
    if let Some(w) = plan.traffic_drop {
        add(IncidentKind::TrafficDrop, None, w);
    }
    if let Some((sku_id, at)) = stock_out {
        out.push(Incident {
            kind: IncidentKind::StockOut,
            key: Some(sku_id.to_string()),
            start: time(at),
            end: config.end(),
        });
    }
    out
}

/// Hourly targets for this year: last year's GMV and orders per hour of the promo, times
/// [`TARGET_GROWTH`].
fn targets(last_year: &[GeneratedTable], ly_start: i64, start: i64, hours: u32) -> RecordBatch {
    let orders = last_year
        .iter()
        .find(|t| t.table == Table::Orders)
        .expect("last year has orders");
    let hour = 3_600_000_000i64;
    let mut gmv = vec![0i128; hours as usize];
    let mut order_ids: Vec<Vec<i64>> = vec![Vec::new(); hours as usize];
    let batch = &orders.batch;
    let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    let ids = batch.column(1).as_primitive::<Int64Type>();
    let amounts = batch.column(6).as_primitive::<Decimal128Type>();
    for row in 0..batch.num_rows() {
        let h = ((ts.value(row) - ly_start) / hour) as usize;
        if h < gmv.len() {
            gmv[h] += amounts.value(row);
            order_ids[h].push(ids.value(row));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "hour",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("gmv_target", DataType::Decimal128(18, 2), false),
        Field::new("orders_target", DataType::Int64, false),
    ]));
    let hours_ts: Vec<i64> = (0..hours as i64).map(|h| start + h * hour).collect();
    let gmv_target: Vec<i128> = gmv
        .iter()
        .map(|g| (*g as f64 * TARGET_GROWTH).round() as i128)
        .collect();
    let orders_target: Vec<i64> = order_ids
        .iter_mut()
        .map(|ids| {
            ids.sort_unstable();
            ids.dedup();
            (ids.len() as f64 * TARGET_GROWTH).round() as i64
        })
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMicrosecondArray::from(hours_ts).with_timezone("UTC")),
            Arc::new(
                Decimal128Array::from(gmv_target)
                    .with_precision_and_scale(18, 2)
                    .expect("money type"),
            ),
            Arc::new(Int64Array::from(orders_target)),
        ],
    )
    .expect("targets batch")
}

impl Promo {
    /// The configuration it was generated from.
    pub fn config(&self) -> &PromoConfig {
        &self.config
    }

    /// A canonical table of this year's promo.
    pub fn table(&self, table: Table) -> &GeneratedTable {
        &self.tables[table as usize]
    }

    /// Rows of a canonical table.
    pub fn rows(&self, table: Table) -> usize {
        self.table(table).batch.num_rows()
    }

    /// A table's rows in batches of at most `batch_rows` (zero-copy slices).
    pub fn batches(&self, table: Table, batch_rows: usize) -> Vec<RecordBatch> {
        slices(&self.table(table).batch, batch_rows)
    }

    /// Last year's `user_events`, `orders` or `payments`, if generated.
    pub fn last_year(&self, table: Table) -> Option<&GeneratedTable> {
        self.last_year.iter().find(|t| t.table == table)
    }

    /// Hourly targets (`hour`, `gmv_target`, `orders_target`), if generated.
    pub fn targets(&self) -> Option<&RecordBatch> {
        self.targets.as_ref()
    }

    /// The ground-truth labels of the injected incidents, by start time.
    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// Loads everything into `db` at once: the canonical tables, and (if generated) last
    /// year's tables as `last_year_user_events`, `last_year_orders`, `last_year_payments`
    /// and the targets as `targets`. Returns the canonical rows loaded.
    pub fn load_into(&self, db: &PromoDb) -> promodb::Result<usize> {
        let mut rows = 0;
        for table in Table::ALL {
            rows += db.append_all(table.name(), &self.batches(table, LOAD_BATCH_ROWS))?;
        }
        self.register_comparisons(db)?;
        Ok(rows)
    }

    /// Registers last year's tables and the targets in `db` (see [`Promo::load_into`]).
    pub fn register_comparisons(&self, db: &PromoDb) -> promodb::Result<()> {
        for generated in &self.last_year {
            let name = format!("last_year_{}", generated.table.name());
            db.register_batches(&name, slices(&generated.batch, LOAD_BATCH_ROWS))?;
        }
        if let Some(targets) = &self.targets {
            db.register_batches("targets", vec![targets.clone()])?;
        }
        Ok(())
    }
}

/// Rows per batch when loading: big enough to scan fast, small enough to spread over
/// partitions.
const LOAD_BATCH_ROWS: usize = 65_536;

fn slices(batch: &RecordBatch, batch_rows: usize) -> Vec<RecordBatch> {
    let batch_rows = batch_rows.max(1);
    (0..batch.num_rows())
        .step_by(batch_rows)
        .map(|offset| batch.slice(offset, batch_rows.min(batch.num_rows() - offset)))
        .collect()
}
