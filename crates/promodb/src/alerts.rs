//! Alert rules over the promo data, their lifecycle, and delivery.
//!
//! A [`Rule`] is a query whose result rows are alert instances, keyed by the rule's key
//! columns (e.g. one instance per SKU). [`Alerts`] plans each rule once, re-runs it at
//! each [`Alerts::evaluate`] with the time the caller gives (event time, so replays and
//! tests are deterministic), and moves each (rule, key) through its lifecycle:
//!
//! ```text
//!   (row appears) -> pending --(held for `for`)--> firing --(row gone)--> resolved
//!                                                   |  ^ repeat every `repeat` while firing
//!                                                   +-- acknowledged (who, when): no more repeats
//! ```
//!
//! A pending instance whose row goes away before `for` elapses is dropped silently. Every
//! transition is an [`AlertEvent`], appended to the `alert_events` table (queryable with
//! SQL like any other) and handed to the [`AlertSink`]s whose route matches its owner and
//! severity.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> promodb::Result<()> {
//! use chrono::{Duration, TimeZone, Utc};
//! use promodb::PromoDb;
//! use promodb::alerts::{Alerts, Rule, Severity};
//! use promodb::ingest::InventorySnapshot;
//!
//! let db = PromoDb::in_memory()?;
//! let mut alerts = Alerts::new(&db)?;
//! alerts
//!     .add(
//!         Rule::sql("low stock", "SELECT sku_id, on_hand FROM current_stock WHERE on_hand < 100")
//!             .keyed_by(["sku_id"])
//!             .with_value("on_hand")
//!             .with_message("SKU {sku_id} is down to {on_hand} units")
//!             .with_severity(Severity::Critical)
//!             .with_owner("supply"),
//!     )
//!     .await?;
//! let t0 = Utc.with_ymd_and_hms(2026, 11, 11, 10, 0, 0).unwrap();
//! db.push(InventorySnapshot { ts: t0, sku_id: 7, warehouse: "hz".into(), on_hand: 40 })?;
//! let events = alerts.evaluate(t0).await?;
//! assert_eq!(events[0].message, "SKU 7 is down to 40 units");
//! let fired = db.sql("SELECT count(*) FROM alert_events WHERE transition = 'firing'").await?;
//! # Ok(()) }
//! ```

mod anomaly;
mod engine;
mod event_log;
mod rule;
mod rule_file;
mod runner;
mod sink;
mod webhook;

pub use anomaly::{Anomaly, AnomalyParams, Direction, Measure, PromoCalendar};
pub use engine::{Alerts, RuleStats};
pub use event_log::{AlertEvent, Transition};
pub use rule::{Rule, Severity};
pub use rule_file::RuleFile;
pub use runner::{AlertRunner, Clock, ManualClock, Schedule, SystemClock};
pub use sink::{AlertSink, CallbackSink, JsonLinesSink, Route};
pub use webhook::{WebhookConfig, WebhookSink};
