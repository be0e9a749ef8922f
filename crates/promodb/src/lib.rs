//! promodb: an embedded analytics engine for e-commerce promotions.
//!
//! It keeps the facts of a promotion (orders, user events, ad spend, inventory, payments,
//! refunds, tickets, shipments) in Arrow tables with a fixed canonical schema
//! ([`schema`]), takes live appends from many threads, and answers DataFusion SQL over
//! them with zero lag: a query sees every append that returned before it started.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> promodb::Result<()> {
//! use promodb::{PromoDb, ingest::Order};
//!
//! let db = PromoDb::in_memory()?;
//! for (i, channel) in ["live_stream", "search", "live_stream"].into_iter().enumerate() {
//!     db.push(Order {
//!         ts: "2026-11-11T00:00:05Z".parse().unwrap(),
//!         order_id: i as i64,
//!         user_id: 100 + i as i64,
//!         sku_id: 7,
//!         qty: 1,
//!         unit_price: None,
//!         amount: "99.50".parse()?,
//!         channel: Some(channel.to_string()),
//!         campaign_id: None,
//!         region: None,
//!     })?;
//! }
//! let batches = db
//!     .sql("SELECT channel, count(*) AS orders, sum(amount) AS gmv FROM orders GROUP BY channel ORDER BY channel")
//!     .await?;
//! let table = promodb::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
//! assert!(table.contains("| live_stream | 2      | 199.00 |"), "{table}");
//! # Ok(()) }
//! ```
//!
//! Key types: [`PromoDb`] (the handle), [`PromoDbBuilder`] (settings), [`Error`] (every
//! failure), [`ingest::Row`] (typed rows), [`schema::conform`] (batch conversion).
#![deny(missing_docs)]

pub mod alerts;
mod builder;
mod db;
pub mod durable;
mod error;
pub mod functions;
pub mod ingest;
mod prefetch;
pub mod query;
pub mod schema;
pub mod storage;
#[cfg(test)]
mod test_random;
pub mod views;

pub use builder::PromoDbBuilder;
pub use db::PromoDb;
pub use error::{Error, ErrorKind, Result};

/// The DataFusion crate promodb is built on.
pub use datafusion;
/// The Arrow crate promodb is built on, for building batches without a version clash.
pub use datafusion::arrow;
